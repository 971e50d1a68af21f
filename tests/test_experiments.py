"""The flags beyond the original: loss and state variants, seed sweeps, future steps, --gradcheck.

The variants' numbers against the original program are in test_reproduction.py; here, the flags and
the constants at the top reach them, and the sweep and future runs are what single runs say.
"""
import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import train_sin_lstm as m
from conftest import SCRIPT, break_gradient, edited_script, headless_env, run_with_flags


@pytest.mark.parametrize("edit, flags", [
    (("LOSS = \"many-to-one\"", "LOSS = \"many-to-many\""), ["--loss", "many-to-many"]),
    (("STATEFUL = True", "STATEFUL = False"), ["--stateless"]),
])
def test_constant_at_the_top_equals_its_flag(run_script, tmp_path, edit, flags):
    done = run_script("--epochs", 5, "--quiet", script=edited_script(tmp_path, *edit))
    assert done.returncode == 0, done.stderr
    r = np.load(tmp_path / "results" / "results.npz")
    expected = run_with_flags("--epochs", 5, *flags)
    np.testing.assert_array_equal(r["loss"], expected["loss"])
    np.testing.assert_array_equal(r["prediction"], expected["prediction"])
    assert not np.array_equal(r["loss"], run_with_flags("--epochs", 5)["loss"])


def test_seed_sweep_equals_single_runs(run_script, tmp_path):
    done = run_script("--seeds", 773, 326, 512, "--epochs", 12)
    assert done.returncode == 0, done.stderr
    singles = {seed: run_with_flags("--seed", seed, "--epochs", 12) for seed in (773, 326, 512)}
    with open(tmp_path / "results" / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["seed"]) for row in rows] == [773, 326, 512]
    for row in rows:
        single = singles[int(row["seed"])]
        assert float(row["final_loss"]) == pytest.approx(single["final_loss"], rel=1e-5)
        assert float(row["rmse"]) == pytest.approx(single["rmse"], rel=1e-5)
        assert f"{row['seed']:>10} {single['final_loss']:>11.6g} {single['rmse']:>8.4f}" in done.stdout
    arrays = np.load(tmp_path / "results" / "sweep.npz")
    for k, seed in enumerate((773, 326, 512)):
        np.testing.assert_array_equal(arrays["prediction"][k], singles[seed]["prediction"])
    rmses = [singles[seed]["rmse"] for seed in (773, 326, 512)]
    assert f"{'mean':>10} " in done.stdout and f"{np.mean(rmses):>8.4f}" in done.stdout
    assert f"{np.std(rmses):>8.4f}" in done.stdout
    assert os.path.exists(tmp_path / "results" / "sweep.png")


def test_future_steps_continue_without_changing_the_first_101(run_script, tmp_path):
    done = run_script("--future", 30, "--epochs", 10)
    assert done.returncode == 0, done.stderr
    r = np.load(tmp_path / "results" / "results.npz")
    assert r["prediction"].shape == (m.N_POINTS + 30,)
    np.testing.assert_array_equal(r["prediction"][:m.N_POINTS], run_with_flags("--epochs", 10)["prediction"])
    step = r["x"][1] - r["x"][0]
    np.testing.assert_allclose(r["x"][m.N_POINTS:], 2 * np.pi + step * np.arange(1, 31))
    np.testing.assert_allclose(r["clean"], np.sin(r["x"]))
    assert "and over the 30 points past the data" in done.stdout


def test_gradcheck_reports_every_parameter(run_script, tmp_path):
    done = run_script("--gradcheck", "--hidden-size", 6, "--batch-size", 5, "--time-size", 5)
    assert done.returncode == 0, done.stderr
    for name in m.PARAM_NAMES:
        line = next(line for line in done.stdout.splitlines() if line.startswith(name))
        assert line.split()[-1] == "ok" and float(line.split()[-2]) <= 1e-6
    assert "5 of 5 within 1e-06" in done.stdout
    assert os.listdir(tmp_path) == []


def test_gradcheck_fails_on_a_wrong_gradient(monkeypatch, capsys):
    break_gradient(monkeypatch, m.TimeAffine, 1, 0.5)
    assert m.main(["--gradcheck", "--hidden-size", "4", "--stateless", "--loss", "many-to-many"]) == 1
    out = capsys.readouterr().out
    assert "Affine b" in out and "WRONG" in out and "4 of 5 within" in out


def test_ctrl_c_during_a_sweep_saves_the_models_as_they_stand(tmp_path):
    process = subprocess.Popen([sys.executable, SCRIPT, "--seeds", "1", "2", "--epochs", "100000", "--out",
                                tmp_path], env=headless_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().startswith("training 2 models")
    time.sleep(1)  # the workers are under way
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in err and err.startswith("interrupted: 2 of 2 models saved")
    with open(tmp_path / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["status"] for row in rows] == ["interrupted", "interrupted"]
