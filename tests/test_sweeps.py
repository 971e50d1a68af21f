"""Sweeps and grids: every model is the single run with its flags; the tables are computed from them; what
cannot work is refused before training."""
import csv

import numpy as np
import pytest

import train_sin_lstm as m
from conftest import run_with_flags


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_a_seed_sweep_equals_single_runs(run_main, tmp_path):
    status, out, err = run_main("--seeds", 773, 326, 512, "--epochs", 12)
    assert status == 0, err
    singles = {seed: run_with_flags("--seed", seed, "--epochs", 12) for seed in (773, 326, 512)}
    rows = read_csv(tmp_path / "results" / "sweep.csv")
    assert [int(row["seed"]) for row in rows] == [773, 326, 512]
    for row in rows:
        single = singles[int(row["seed"])]
        assert float(row["final_loss"]) == pytest.approx(single.loss[-1], rel=1e-5)
        assert float(row["rmse"]) == pytest.approx(single.rmse, rel=1e-5)
        assert f"{row['seed']:>10} {single.loss[-1]:>11.6g} {single.rmse:>8.4f}" in out
        assert f"seed {row['seed']}: loss {single.loss[-1]:.6g}, RMSE {single.rmse:.4f}" in out
    arrays = np.load(tmp_path / "results" / "sweep.npz")
    for k, seed in enumerate((773, 326, 512)):
        np.testing.assert_array_equal(arrays["prediction"][k], singles[seed].prediction)
    assert int(arrays["settings/epochs"]) == 12 and float(arrays["settings/lr"]) == 0.008  # the fixed settings are recorded
    rmses = [singles[seed].rmse for seed in (773, 326, 512)]
    assert f"{'mean':>10} " in out and f"{np.mean(rmses):>8.4f}" in out and f"{np.std(rmses):>8.4f}" in out
    assert (tmp_path / "results" / "sweep.png").exists()
    assert out.startswith("training 3 models: epochs=12, ") and "1 setting x 3 seeds" in out
    assert "\ntime " in out
    assert {row["epochs_done"] for row in rows} == {"12"} and {row["status"] for row in rows} == {"done"}


def test_grid_rows_are_single_runs_and_the_summary_is_the_csvs(run_main, tmp_path):
    status, out, err = run_main("--grid", "hidden-size=4,6", "stateful=true,false", "--seeds", 1, 2,
                                "--epochs", 3, "--future", 5)
    assert status == 0, err
    folder = tmp_path / "results"
    rows = read_csv(folder / "grid.csv")
    assert list(rows[0])[:9] == ["hidden_size", "stateful", "seed", "final_loss", "rmse", "future_rmse", "status",
                                 "epochs_done", "noise_floor"]
    assert len(rows) == 8
    for setting in m.SETTINGS:  # a file alone says what made it
        assert setting.name in rows[0], setting.name
    assert {row["epochs"] for row in rows} == {"3"} and {row["max_grad"] for row in rows} == {"none"}
    arrays = np.load(folder / "grid.npz")
    assert arrays["hidden_size"].dtype.kind == "i" and arrays["stateful"].dtype.kind == "b"
    for k, row in enumerate(rows):
        flags = ["--hidden-size", row["hidden_size"], "--seed", row["seed"], "--epochs", 3, "--future", 5]
        single = run_with_flags(*flags, *(["--stateless"] if row["stateful"] == "false" else []))
        assert float(row["final_loss"]) == pytest.approx(single.loss[-1], rel=1e-5)
        assert float(row["rmse"]) == pytest.approx(single.rmse, rel=1e-5)
        assert float(row["noise_floor"]) == pytest.approx(m.noise_floor(m.parse([]), single.noisy), rel=1e-5)
        np.testing.assert_array_equal(arrays["prediction"][k], single.prediction)
        assert f"hidden_size={row['hidden_size']} stateful={row['stateful']} seed {row['seed']}: loss" in out
    for hidden in ("4", "6"):
        for stateful in ("true", "false"):
            group = [row for row in rows if row["hidden_size"] == hidden and row["stateful"] == stateful]
            rmse, future = (np.array([float(row[key]) for row in group]) for key in ("rmse", "future_rmse"))
            line = next(line for line in out.splitlines() if line.startswith(f"hidden_size={hidden} stateful={stateful} "))
            assert f"{rmse.mean():.4f} +- {rmse.std():<6.4f}" in line
            assert f"{future.mean():.4f} +- {future.std():<6.4f}" in line
    assert "the settings differ by" in out
    assert "; hidden_size=4,6; stateful=true,false; 4 settings x 2 seeds" in out.splitlines()[0]
    assert "lr=0.008" in out.splitlines()[0] and "hidden_size=45" not in out.splitlines()[0]


def test_default_seeds_and_both_spellings_of_a_name(run_main, tmp_path):
    status, out, err = run_main("--grid", "lr=0.008,0.02", "loss_function=many-to-one,many-to-many",
                                "--epochs", 2, "--quiet")
    assert status == 0, err
    rows = read_csv(tmp_path / "results" / "grid.csv")
    assert sorted({row["seed"] for row in rows}) == ["138", "326", "512", "773"]
    assert {row["lr"] for row in rows} == {"0.008", "0.02"}
    assert {row["loss_function"] for row in rows} == {"many-to-one", "many-to-many"}
    row = next(row for row in rows if row["lr"] == "0.02" and row["loss_function"] == "many-to-many")
    single = run_with_flags("--lr", row["lr"], "--loss", "many-to-many", "--seed", row["seed"], "--epochs", 2)
    assert float(row["rmse"]) == pytest.approx(single.rmse, rel=1e-5)
    arrays = np.load(tmp_path / "results" / "grid.npz")
    assert len(arrays["rmse"][arrays["lr"] == 0.02]) == 8  # numbers stored as numbers


def test_max_grad_none_is_a_grid_value(run_main, tmp_path):
    status, out, err = run_main("--grid", "max-grad=none,0.05", "--seeds", 3, "--epochs", 4, "--quiet")
    assert status == 0, err
    rows = read_csv(tmp_path / "results" / "grid.csv")
    assert [row["max_grad"] for row in rows] == ["0.05", "none"] or [row["max_grad"] for row in rows] == ["none", "0.05"]
    clipped = next(row for row in rows if row["max_grad"] == "0.05")
    plain = next(row for row in rows if row["max_grad"] == "none")
    assert float(plain["rmse"]) == pytest.approx(run_with_flags("--seed", 3, "--epochs", 4).rmse, rel=1e-5)
    assert float(clipped["rmse"]) == pytest.approx(
        run_with_flags("--seed", 3, "--epochs", 4, "--max-grad", 0.05).rmse, rel=1e-5)


def test_diverging_models_are_named_with_their_learning_rate(run_main, tmp_path):
    status, out, err = run_main("--grid", "lr=0.008,100", "--seeds", 1, 2, "--epochs", 3)
    assert status == 1
    assert err.splitlines() == ["2 of 4 models diverged (their loss stopped being finite); try a smaller "
                                "learning rate than --lr 100 (the default is 0.008)"]
    assert "lr=100 seed 1: diverged in epoch " in out
    assert (tmp_path / "results" / "grid.csv").exists()


def test_a_quiet_sweep_prints_only_its_table(run_main):
    status, out, err = run_main("--seeds", 1, 2, "--epochs", 2, "--quiet")
    assert status == 0 and "training" not in out and "seed 1:" not in out and "mean" in out


REFUSED = [
    (["width=3"], "--grid width=3: unknown setting 'width'"),
    (["hidden-size"], "--grid hidden-size: give the values as hidden-size=V1,V2,..."),
    (["hidden-size=4,"], "--grid hidden-size=4,: give the values as"),
    (["hidden-size=0,45"], "--grid combination hidden_size=0: --hidden-size (HIDDEN_SIZE) = 0: must be"),
    (["lr=0.1,fast"], "--grid lr=0.1,fast: 'fast' is not a number"),
    (["stateful=yes"], "--grid stateful=yes: 'yes' is not true or false"),
    (["max-grad=0.5,-1"], "--grid combination max_grad=-1: --max-grad (MAX_GRAD) = -1.0"),
    (["batch-size=5,10", "time-size=8"], "--grid combination batch_size=5 time_size=8: --batch-size 5 with "
                                         "--time-size 8: an epoch takes 19 minibatches"),
    (["lr=0.01", "lr=0.02"], "--grid lr=0.02: lr is named twice"),
    (["seed=1,2"], "--grid seed=1,2: unknown setting 'seed'"),
]


@pytest.mark.parametrize("grid, message", REFUSED, ids=[" ".join(g) for g, _ in REFUSED])
def test_a_grid_that_cannot_work_is_refused_before_training(run_main, tmp_path, grid, message):
    status, out, err = run_main("--grid", *grid)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "results").exists()


def summary_rows(spec):
    """Table rows of a grid over lr: {lr: [(rmse, status), ...]}."""
    return [dict(lr=lr, seed=k, final_loss=0.02, rmse=rmse, future_rmse=np.nan, status=status, epochs_done=5)
            for lr, models in spec.items() for k, (rmse, status) in enumerate(models)]


def test_a_setting_with_one_finished_seed_stays_out_of_the_verdict(capsys):
    rows = summary_rows({0.008: [(0.1, "done"), (0.3, "done")], 0.02: [(0.5, "done"), (0.7, "done")],
                         0.05: [(9.0, "done"), (0.0, "diverged")]})
    m.print_summary(rows, ["lr"], future=False)
    out = capsys.readouterr().out
    assert f"spread by {np.std([0.2, 0.6]):.4f}" in out  # the means of the two settings with two seeds
    assert next(line for line in out.splitlines() if line.startswith("lr=0.05")).split()[-1] == "1"


def test_the_grid_figure_sorts_numbers_marks_the_defaults_and_says_what_it_leaves_out():
    rows = summary_rows({100.0: [(0.2, "done")], 5.0: [(0.3, "done"), (0.1, "interrupted")], 10.0: [(0.4, "done")],
                         0.008: [(0.5, "done")], 1000.0: [(np.nan, "diverged")]})
    s = m.parse(["--no-show", "--lr", "0.02"])
    fig = m.plot_grid(s, rows, ["lr"])
    ax = fig.axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["lr=0.008", "lr=5", "lr=10", "lr=100", "lr=1000"]
    shaded = [patch for patch in ax.patches if patch.get_x() < 0.5]  # the script's default, lr 0.008, first
    assert len(ax.patches) == 1 and shaded
    title = " ".join(ax.get_title().split())  # on whatever lines it wraps to
    assert "1 model diverged, left out; 1 model interrupted, left out" in title
    assert ax.get_legend() is None  # one varied setting: no colours to explain; what is left out is in the title
    assert [text.get_position()[0] for text in ax.texts if "no model" in text.get_text()] == [4]  # lr=1000's column
    dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert sum(len(line.get_xdata()) for line in dots) == 4  # the unfinished models are not drawn


def test_the_grid_figures_error_bars_stay_inside_their_axes_and_the_future_rmse_is_shown_under():
    """A grid where a setting's RMSEs spread wider than their mean (as --stateless gives), with --future: each
    mean +- std bar ends inside its axes, and the RMSE past the data has axes of its own."""
    rows = summary_rows({0.008: [(0.05, "done"), (0.9, "done"), (0.06, "done")], 0.02: [(0.4, "done"), (0.5, "done")]})
    for row in rows:
        row["future_rmse"] = 2 * row["rmse"]
    fig = m.plot_grid(m.parse(["--no-show"]), rows, ["lr"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["closed-loop RMSE", "RMSE past the data"]
    for ax, key in zip(fig.axes, ("rmse", "future_rmse")):
        low, high = ax.get_ylim()
        for lr in (0.008, 0.02):
            values = np.array([row[key] for row in rows if row["lr"] == lr])
            assert low < values.mean() - values.std() and values.mean() + values.std() < high, (key, lr)
        bars = [line for line in ax.get_lines() if line.get_marker() == "D"]
        assert [line.get_ydata()[0] for line in bars] == pytest.approx(
            [np.mean([row[key] for row in rows if row["lr"] == lr]) for lr in (0.008, 0.02)])


def test_a_grid_of_64_settings_makes_a_figure_of_sensible_size():
    rows = summary_rows({lr: [(0.1, "done")] for lr in np.arange(1, 65) / 1000})
    fig = m.plot_grid(m.parse(["--no-show"]), rows, ["lr"])
    width, height = fig.get_size_inches() * fig.dpi
    assert width <= 1600 and height <= 1800  # rows of settings, readable at the image's own size


def test_grid_labels_of_three_long_settings_do_not_run_into_each_other():
    rows = [dict(loss_function=loss, stateful=stateful, optimizer=optimizer, seed=1, final_loss=0.1, rmse=0.2,
                 future_rmse=np.nan, status="done", epochs_done=3) for loss in ("many-to-one", "many-to-many") for stateful in (True, False)
            for optimizer in ("sgd", "rmsprop")]
    fig = m.plot_grid(m.parse(["--no-show"]), rows, ["loss_function", "stateful", "optimizer"])
    fig.canvas.draw()
    boxes = [label.get_window_extent() for label in fig.axes[0].get_xticklabels()]
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:]))
    assert all(box.y0 >= 0 for box in boxes)  # and inside the image


def test_the_verdict_needs_the_settings_to_spread_more_than_twice_the_seeds_noise(capsys):
    # two settings, two seeds each: means 0.2 and 0.4 (spread 0.1, above the noise 0.1/sqrt(2), not twice it)
    m.print_summary(summary_rows({0.008: [(0.1, "done"), (0.3, "done")], 0.02: [(0.3, "done"), (0.5, "done")]}),
                    ["lr"], future=False)
    out = capsys.readouterr().out
    assert "spread by 0.1000" in out and "by about 0.0707" in out and "cannot be told apart" in out
    m.print_summary(summary_rows({0.008: [(0.1, "done"), (0.11, "done")], 0.02: [(0.5, "done"), (0.51, "done")]}),
                    ["lr"], future=False)
    assert "the settings differ by more than the seeds do" in capsys.readouterr().out


def test_a_sweeps_statistics_are_over_its_finished_models(capsys):
    rows = [dict(seed=k, final_loss=0.1 * (k + 1), rmse=0.2 * (k + 1), status=status, epochs_done=5)
            for k, status in enumerate(["done", "done", "diverged"])]
    rows[2].update(final_loss=np.nan, rmse=np.nan)
    m.print_summary(rows, [], future=False)
    mean = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["mean"]).split()
    assert float(mean[1]) == pytest.approx(0.15) and float(mean[2]) == pytest.approx(0.3)


def test_a_grid_value_given_twice_is_trained_once_and_a_grid_over_future_scores_it(run_main, tmp_path):
    status, out, err = run_main("--grid", "future=0,3,3", "--seeds", 1, "--epochs", 1, "--quiet")
    assert status == 0, err
    assert len(read_csv(tmp_path / "results" / "grid.csv")) == 2
    assert "future RMSE (mean +- std)" in out  # no --future flag, but the grid predicts past the data


def test_a_sweep_trains_no_more_models_at_once_than_it_may():
    """With one worker the models train one after another: when a model ends, no other is running."""
    import multiprocessing
    s = m.parse(["--epochs", "30"])
    running_at_each_end = []
    m.train_models([(s, 773), (s, 326), (s, 512)], m.StopSignals(),
                   lambda k, r: running_at_each_end.append(len(multiprocessing.active_children())), 1)
    assert running_at_each_end == [0, 0, 0]


@pytest.mark.parametrize("cores, flags, workers", [(1, [], 1), (3, [], 3), (None, [], 1), (3, ["--jobs", 1], 1),
                                                   (1, ["--jobs", 5], 5)])
def test_a_sweep_runs_a_worker_per_core_or_as_many_as_jobs_says(run_main, monkeypatch, cores, flags, workers):
    asked = []
    monkeypatch.setattr(m.os, "cpu_count", lambda: cores)  # None: Python cannot tell

    def train_models(jobs, stop, on_done, n):  # what the sweep asks for; then a stop before any model ends
        asked.append(n)
        stop.record(m.signal.SIGINT)
        return {}
    monkeypatch.setattr(m, "train_models", train_models)
    assert run_main("--seeds", 1, 2, *flags)[0] == 130
    assert asked == [workers]
