"""--grid: every combination of settings over seeds, each row the single run with those flags; refusals."""
import csv
import os

import numpy as np
import pytest

from conftest import run_with_flags


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_grid_rows_are_single_runs_and_the_summary_is_the_csvs(run_script, tmp_path):
    done = run_script("--grid", "hidden-size=4,6", "stateful=true,false", "--seeds", 1, 2, "--epochs", 3, "--quiet")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "results"
    assert {"grid.csv", "grid.npz", "grid.png"} <= set(os.listdir(folder))
    rows = read_csv(folder / "grid.csv")
    assert list(rows[0]) == ["hidden_size", "stateful", "seed", "final_loss", "rmse", "status"]
    assert len(rows) == 8
    arrays = np.load(folder / "grid.npz")
    for k, row in enumerate(rows):
        flags = ["--hidden-size", row["hidden_size"], "--seed", row["seed"], "--epochs", 3]
        single = run_with_flags(*flags, *(["--stateless"] if row["stateful"] == "false" else []))
        assert float(row["final_loss"]) == pytest.approx(single["final_loss"], rel=1e-5)
        assert float(row["rmse"]) == pytest.approx(single["rmse"], rel=1e-5)
        np.testing.assert_array_equal(arrays["prediction"][k], single["prediction"])
    # the summary's figures, computed again from the CSV
    for hidden in ("4", "6"):
        for stateful in ("true", "false"):
            group = [row for row in rows if row["hidden_size"] == hidden and row["stateful"] == stateful]
            rmse = np.array([float(row["rmse"]) for row in group])
            line = next(line for line in done.stdout.splitlines()
                        if line.startswith(f"hidden_size={hidden} stateful={stateful} "))
            assert f"{rmse.mean():.4f} +- {rmse.std():<6.4f}" in line
    assert "the settings differ by" in done.stdout


def test_default_seeds_and_flag_values_that_the_flags_accept(run_script, tmp_path):
    done = run_script("--grid", "lr=0.008,0.02", "loss=many-to-one,many-to-many", "--epochs", 2, "--quiet")
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "results" / "grid.csv")
    assert sorted({row["seed"] for row in rows}) == ["138", "326", "512", "773"]
    assert {row["lr"] for row in rows} == {"0.008", "0.02"}
    assert {row["loss"] for row in rows} == {"many-to-one", "many-to-many"}
    row = next(row for row in rows if row["lr"] == "0.02" and row["loss"] == "many-to-many")
    single = run_with_flags("--lr", row["lr"], "--loss", row["loss"], "--seed", row["seed"], "--epochs", 2)
    assert float(row["rmse"]) == pytest.approx(single["rmse"], rel=1e-5)


REFUSED = [
    (["width=3"], "--grid width=3: unknown setting 'width'"),
    (["hidden-size"], "--grid hidden-size: give the values as hidden-size=V1,V2,..."),
    (["hidden-size=4,"], "--grid hidden-size=4,: give the values as"),
    (["hidden-size=0,45"], "--grid combination hidden-size=0: --hidden-size (HIDDEN_SIZE) = 0: must be"),
    (["lr=0.1,fast"], "--grid lr=0.1,fast: 'fast' is not a number"),
    (["stateful=yes"], "--grid stateful=yes: 'yes' is not true or false"),
    (["max-grad=0.5,-1"], "--grid combination max-grad=-1.0: --max-grad (MAX_GRAD) = -1.0"),
    (["batch-size=5,10", "time-size=8"], "--grid combination batch-size=5 time-size=8: --batch-size 5 with "
                                         "--time-size 8: an epoch takes 19 minibatches"),
]


@pytest.mark.parametrize("grid, message", REFUSED, ids=[" ".join(g) for g, _ in REFUSED])
def test_a_grid_that_cannot_work_is_refused_before_training(run_script, tmp_path, grid, message):
    done = run_script("--grid", *grid)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr
    assert os.listdir(tmp_path) == []
