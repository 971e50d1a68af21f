"""Files and figures: a results folder never mixes two runs, writes are atomic, figures are readable."""
import importlib.util
import os
import resource
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import train_sin_lstm as m
from conftest import SCRIPT, edited_script, headless_env, rmse_against_the_sine

RUN_NAMES = [name for name, _, _ in m.RUN_FILES]


def names(folder):
    return set(os.listdir(folder))


def files_recorded(path):
    return set(np.load(path)["files"].tolist())


def test_a_diverged_run_after_a_good_one_leaves_no_old_waveform(run_main, tmp_path):
    folder = tmp_path / "results"
    assert run_main("--epochs", 3)[0] == 0
    assert "waveform.png" in names(folder)
    status, out, err = run_main("--epochs", 3, "--lr", 1)
    assert status == 1
    assert names(folder) == {"results.npz", "loss.png"}
    assert f"removed {folder}/waveform.png (an earlier run's)" in out
    assert files_recorded(folder / "results.npz") == {"results.npz", "loss.png"}


def test_a_plain_run_removes_the_optional_figures_and_temporary_files_of_an_earlier_run(run_main, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    optional = {"learning.png", "learning.gif", "gates.png"}
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    living = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    left_behind = {f".learning.gif.{gone.stdout.strip()}.tmp.gif", f".results.npz.{gone.stdout.strip()}.tmp.npz"}
    writing = f".results.npz.{living.pid}.tmp.npz"  # another run's, writing into the same folder right now
    try:
        for name in optional | left_behind | {"notes.txt", "sweep.csv", writing}:
            (folder / name).write_text("from an earlier run, or the user's")
        status, out, err = run_main("--epochs", 3)
    finally:
        living.kill()
        living.wait()
    assert status == 0, err
    assert names(folder) == {"results.npz", "loss.png", "waveform.png", "notes.txt", "sweep.csv", writing}
    removed = next(line for line in out.splitlines() if "removed" in line)
    assert all(f"{folder}/{name}" in removed for name in optional)
    assert files_recorded(folder / "results.npz") == {"results.npz", "loss.png", "waveform.png"}


@pytest.mark.parametrize("folder", ["res[1]", "a*b?"])
def test_a_killed_runs_temporary_file_is_removed_whatever_the_folder_is_called(run_main, tmp_path, folder):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / folder).mkdir()
    (tmp_path / folder / f".loss.png.{gone.stdout.strip()}.tmp.png").write_text("half a figure")
    status, out, err = run_main("--epochs", 2, "--out", tmp_path / folder)
    assert status == 0, err
    assert names(tmp_path / folder) == {"results.npz", "loss.png", "waveform.png"}


def test_a_sweep_after_a_single_run_keeps_the_single_runs_files(run_main, tmp_path):
    folder = tmp_path / "results"
    assert run_main("--epochs", 3)[0] == 0
    before = {name: (folder / name).read_bytes() for name in names(folder)}
    status, out, err = run_main("--seeds", 1, 2, "--epochs", 2)
    assert status == 0, err
    assert names(folder) == set(before) | {"sweep.csv", "sweep.npz", "sweep.png"}
    assert all((folder / name).read_bytes() == data for name, data in before.items())
    assert "removed" not in out


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "results.npz"
    path.write_bytes(b"the good old file")

    def write_half_then_fail(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half of a new ")
        raise OSError(28, "No space left on device")

    out = m.Output(str(tmp_path), RUN_NAMES)
    with pytest.raises(m.WriteError, match="could not write .*results.npz .No space left on device.; nothing"):
        out.write("results.npz", write_half_then_fail)
    assert path.read_bytes() == b"the good old file"
    assert os.listdir(tmp_path) == ["results.npz"]
    out.write("results.npz", lambda tmp: open(tmp, "wb").write(b"new"))
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["results.npz"]
    umask = os.umask(0o22)
    os.umask(umask)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~umask)  # as any new file, not 0o600


@pytest.mark.slow
@pytest.mark.parametrize("flags, first_line", [([], "| epoch  1 / 40"), (["--quiet"], "final loss")])
def test_a_reader_that_leaves_early_does_not_cost_the_run_its_files(tmp_path, flags, first_line):
    """python train_sin_lstm.py | head -2, with Python's usual buffered output: the pipe closes while the run
    trains (or, with --quiet, before its last line); it carries on, saves, and exits 0 with nothing on stderr."""
    env = {k: v for k, v in headless_env().items() if k != "PYTHONUNBUFFERED"}
    process = subprocess.Popen([sys.executable, SCRIPT, "--epochs", "40", "--no-show", "--out", tmp_path, *flags],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = [process.stdout.readline() for _ in range(2)]
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 0 and err == "", err
    assert first[0].startswith(first_line)
    assert names(tmp_path) == {"results.npz", "loss.png", "waveform.png"}
    assert len(np.load(tmp_path / "results.npz")["loss"]) == 40


@pytest.mark.slow
def test_a_full_disk_gives_one_line_naming_the_file(tmp_path):
    def small_files():  # as `ulimit -f 60`: no file may grow past 60 KiB (results.npz ~55, waveform.png ~75)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60 * 1024, 60 * 1024))

    done = subprocess.run([sys.executable, SCRIPT, "--epochs", "3", "--future", "200", "--out", tmp_path],
                          env=headless_env(), capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"train_sin_lstm.py: error: could not write {tmp_path}/")
    assert "(File too large)" in lines[0] and f"wrote {tmp_path}/results.npz, {tmp_path}/loss.png" in lines[0]
    assert not [name for name in os.listdir(tmp_path) if ".tmp" in name]
    r = np.load(tmp_path / "results.npz")
    assert set(r["files"].tolist()) == {"results.npz", "loss.png"} == set(os.listdir(tmp_path))  # what was written
    assert f"final loss {float(r['final_loss']):.6g}" in done.stdout and f"{float(r['rmse']):.4f}" in done.stdout


def settings(*flags):
    s = m.parse([str(flag) for flag in flags] + ["--no-show"])
    return s


NOISY = m.data_and_model(settings(), 773)[1]  # the default run's training series


def fake_runs(n, length=m.N_POINTS):
    x, clean = m.sample_sine(settings(), length - m.N_POINTS)
    return [SimpleNamespace(x=x, clean=clean, prediction=clean + 0.01 * k, seed=k, rmse=0.01 * k, status="done")
            for k in range(n)]


def legend_labels(fig):
    return [text.get_text() for text in fig.axes[0].get_legend().get_texts()]


@pytest.mark.parametrize("n", [3, 20, 91])
def test_a_sweep_figure_of_any_size_is_readable(tmp_path, n):
    fig = m.plot_sweep(settings(), fake_runs(n))
    labels = legend_labels(fig)
    assert len(labels) <= m.LEGEND_ENTRIES + 3  # the models, the clean sine, the warm-up's end
    if n > m.LEGEND_ENTRIES:
        assert any(label.startswith("best: seed 0") for label in labels)
        assert any(label.startswith(f"worst: seed {n - 1}") for label in labels)
        assert len(fig.axes) == 2  # the colour scale
    m.Output(str(tmp_path), ["sweep.png"]).figure("sweep.png", fig)
    assert os.path.getsize(tmp_path / "sweep.png") > 0


def test_a_sweep_figure_marks_the_end_of_the_data_and_the_unfinished_models():
    runs = fake_runs(2, m.N_POINTS + 20)
    runs[1].status = "interrupted"
    fig = m.plot_sweep(settings("--future", 20), runs)
    assert "end of the data" in legend_labels(fig) and "seed 1: interrupted, no prediction" in legend_labels(fig)
    assert "seed 0: RMSE 0.000" in legend_labels(fig)
    assert "(1 of them did not finish: no prediction)" in fig.axes[0].get_title()


@pytest.mark.parametrize("losses", [[0.67], [0.67, 0.25], [0.67, 0.067], [0.67, 0.02], []])
def test_a_short_loss_curve_is_visible_on_a_sensible_axis(losses):
    fig = m.plot_loss(settings(), SimpleNamespace(loss=np.array(losses), seed=773, status="done", noisy=NOISY))
    ax = fig.axes[0]
    line = ax.get_lines()[0]
    low, high = ax.get_xlim()
    assert 0 < low <= 1 and high >= max(len(losses), 1)  # no negative epochs
    ticks = [tick for tick in ax.get_xticks() if low <= tick <= high]
    assert ticks and all(tick == int(tick) for tick in ticks)  # whole epochs
    log = len(losses) > 1 and max(losses) >= 10 * min(losses)  # a log axis only where it spans a decade
    assert (ax.get_yscale() == "log") == log and ("log scale" in ax.get_ylabel()) == log
    if losses:
        assert line.get_marker() == "o"
    else:
        assert "no epoch finished" in [text.get_text() for text in ax.texts]


def test_a_one_sample_warm_up_is_drawn_and_named_in_the_singular():
    s = settings("--time-size", 1, "--epochs", 2)
    fig = m.plot_waveform(s, m.run(s, s.seed))
    warm_up = next(line for line in fig.axes[0].get_lines() if line.get_label().startswith("warm-up"))
    assert warm_up.get_label() == "warm-up: 1 clean sample given" and warm_up.get_marker() == "o"


def test_the_y_label_and_the_legend_are_inside_the_image(tmp_path):
    from matplotlib.image import imread
    s = settings("--epochs", 2)
    r = SimpleNamespace(loss=np.array([1.5e25, 3e27, 1e30]), seed=773, status="done", noisy=NOISY)  # wide ticks
    m.Output(str(tmp_path), ["loss.png"]).figure("loss.png", m.plot_loss(s, r))
    image = imread(tmp_path / "loss.png")
    assert (image[:, :3, :3] == 1).all()  # the image's left edge is background: nothing cut there
    assert (image[:, :40, :3] < 0.5).any()  # and the y label is there
    fig = m.plot_waveform(s, m.run(s, s.seed))
    m.Output(str(tmp_path), ["waveform.png"]).figure("waveform.png", fig)
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    assert legend.y0 >= 0 and legend.x0 >= 0 and legend.x1 <= fig.bbox.x1  # the legend under the axes, whole
    assert legend.y1 < fig.axes[0].get_window_extent().y0


def test_the_longest_loss_label_is_inside_the_image(tmp_path):
    """With dropout and a log scale the y label is at its longest; it once ran past the image's top and bottom."""
    from matplotlib.image import imread
    s = settings("--epochs", 2, "--dropout", 0.3)
    r = SimpleNamespace(loss=np.array([1.5, 0.3, 0.01]), seed=773, status="done", noisy=NOISY)
    fig = m.plot_loss(s, r)
    m.Output(str(tmp_path), ["loss.png"]).figure("loss.png", fig)
    label = fig.axes[0].yaxis.label.get_window_extent()
    assert 0 <= label.x0 and 0 <= label.y0 and label.y1 <= fig.bbox.y1
    assert (imread(tmp_path / "loss.png")[:, :3, :3] == 1).all()  # nothing cut at the left edge


def test_every_title_fits_in_its_figure_above_its_axes_however_long_the_settings():
    """Titles are wrapped to the room over their axes: long setting values once pushed loss.png's title (a
    7-inch figure) past the image's right edge."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    s = settings("--epochs", 2, "--loss", "many-to-many", "--optimizer", "momentum", "--max-grad", 0.25, "--future",
                 1000, "--stateless", "--hidden-size", 100, "--lr", 0.0125, "--snapshots", 2, "--gates",
                 "--gradient-flow", "--seed", 4294967295)
    gates = m.Gates()
    r = m.run(s, s.seed, after_step=gates)
    r.gradient_flows = {name: np.ones(100) for name in ("gradient_flow", "gradient_flow_initial", "gradient_flow_c",
                                                        "gradient_flow_c_initial")}
    r.snapshots, r.gates = SimpleNamespace(taken=[1, 2], series=[r.prediction] * 2), gates.arrays()
    figures = [make(s, r) for name, _, make in m.RUN_FILES if name.endswith(".png")]
    rows = [dict(hidden_size=h, lr=lr, seed=seed, rmse=0.3, future_rmse=0.5, status="done") for h in (10, 45)
            for lr in (0.008, 0.02) for seed in m.GRID_SEEDS]
    figures += [m.plot_sweep(s, fake_runs(3, len(r.x))), m.plot_grid(s, rows, ["hidden_size", "lr"])]
    for fig in figures:
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        for ax in (ax for ax in fig.axes if ax.get_title()):
            title, top = ax.title.get_window_extent(renderer), ax.get_window_extent(renderer).y1
            assert 0 <= title.x0 and title.x1 <= fig.bbox.x1 and top <= title.y0 and title.y1 <= fig.bbox.y1, \
                ax.get_title()
        for text in fig.texts:  # a suptitle
            box = text.get_window_extent(renderer)
            assert 0 <= box.x0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1, text.get_text()
            assert all(box.y0 >= ax.get_window_extent(renderer).y1 for ax in fig.axes), text.get_text()


def test_a_diverging_loss_is_printed_readably(capsys):
    report = m.progress_printer(5, 0)
    report(1, 0.6737)
    report(5, 1.234567e25)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("| loss 0.673700") and lines[1].endswith("| loss 1.235e+25")


def test_every_npz_holds_numbers_or_plain_strings_and_the_settings_apart_from_the_arrays(run_main, tmp_path):
    """Every .npz loads with allow_pickle=False; no array takes a setting's name (settings/NAME): with --gates
    on an LSTM, `cell` is the recorded cell state and settings/cell the setting."""
    assert run_main("--epochs", 3, "--gates", "--gradient-flow", "--snapshots", 2, "--quiet", "--out",
                    tmp_path / "run")[0] == 0
    assert run_main("--grid", "max-grad=none,0.25", "future=0,3", "--seeds", 1, "--epochs", 2, "--quiet",
                    "--out", tmp_path / "grid")[0] == 0
    assert run_main("--seeds", 1, 2, "--epochs", 2, "--quiet", "--out", tmp_path / "sweep")[0] == 0
    for path, varied in ((tmp_path / "run" / "results.npz", set()), (tmp_path / "grid" / "grid.npz",
                         {"max_grad", "future", "seed"}), (tmp_path / "sweep" / "sweep.npz", {"seed"})):
        with np.load(path, allow_pickle=False) as arrays:
            for key in arrays.files:
                assert arrays[key].dtype.kind in "biufU", (path.name, key, arrays[key].dtype)
            settings = {key[len("settings/"):] for key in arrays.files if key.startswith("settings/")}
            assert settings == set(m.SETTING) - varied  # what a sweep varied is in its columns, not a setting
            assert varied <= set(arrays.files)
    run = np.load(tmp_path / "run" / "results.npz")
    assert str(run["settings/cell"]) == "lstm" and run["cell"].shape == (m.N_POINTS - 10, 45)
    grid = np.load(tmp_path / "grid" / "grid.npz")
    assert np.isnan(grid["max_grad"]).sum() == 2 and set(grid["max_grad"][~np.isnan(grid["max_grad"])]) == {0.25}


def test_a_grid_over_future_writes_its_three_files_with_every_prediction(run_main, tmp_path):
    status, out, err = run_main("--grid", "future=0,3", "--seeds", 1, "--epochs", 2, "--quiet")
    assert status == 0, err
    folder = tmp_path / "results"
    assert {"grid.csv", "grid.npz", "grid.png"} <= names(folder)
    arrays = np.load(folder / "grid.npz")
    assert arrays["prediction"].shape == (2, m.N_POINTS + 3) and arrays["x"].shape == (m.N_POINTS + 3,)
    short, long = arrays["prediction"][list(arrays["future"]).index(0)], arrays["prediction"][list(arrays["future"]).index(3)]
    assert np.isnan(short[m.N_POINTS:]).all() and np.isfinite(long).all()
    assert np.isnan(arrays["future_rmse"][list(arrays["future"]).index(0)])  # no future: no score, not 0
    with open(folder / "grid.csv") as f:
        assert "future_rmse" in f.readline()


def test_the_loss_figure_of_an_unfinished_run_says_why():
    s = settings("--lr", 1)
    for status, words in (("diverged", "the loss stopped being finite"), ("interrupted", "training was stopped")):
        fig = m.plot_loss(s, SimpleNamespace(loss=np.array([0.7]), seed=773, status=status, noisy=NOISY))
        assert f"{status} in epoch 2: {words}" in [text.get_text() for text in fig.axes[0].texts]


def test_ten_sweep_models_get_ten_distinct_colours_and_eleven_a_colour_scale():
    lines = [line for line in m.plot_sweep(settings(), fake_runs(10)).axes[0].get_lines() if "seed" in line.get_label()]
    assert len({line.get_color() for line in lines}) == 10
    assert len(m.plot_sweep(settings(), fake_runs(11)).axes) == 2  # the RMSE colour bar


def test_the_cell_state_is_coloured_to_where_most_of_it_is():
    s = settings("--epochs", 5, "--gates")
    gates = m.Gates()
    r = m.run(s, s.seed, after_step=gates)
    r.gates = gates.arrays()
    r.gates["cell"][0, 0] = 50  # one outlier must not wash out the rest
    fig = m.plot_gates(s, r)
    image = next(ax for ax in fig.axes if ax.get_ylabel().startswith("cell state")).images[0]
    assert image.get_clim()[1] == pytest.approx(np.percentile(np.abs(r.gates["cell"]), 98))


def test_a_failed_write_or_a_stop_while_writing_leaves_no_temporary_file(tmp_path):
    out = m.Output(str(tmp_path), ["learning.gif"])

    def stopped(path):
        open(path, "w").write("half a GIF")
        raise m.Stopped
    with pytest.raises(m.Stopped):
        out.write("learning.gif", stopped)
    assert names(tmp_path) == set() and out.written == []


def test_a_run_lists_each_file_once_and_its_final_loss_is_the_last_epochs(run_main, tmp_path):
    status, out, err = run_main("--epochs", 10, "--lr", 0.1, "--hidden-size", 8, "--quiet")
    assert status == 0, err
    wrote = next(line for line in out.splitlines() if "wrote " in line)
    assert wrote.count("results.npz") == 1
    r = np.load(tmp_path / "results" / "results.npz")
    assert sorted(r["files"].tolist()) == sorted(set(r["files"].tolist())) == sorted(names(tmp_path / "results"))
    assert float(r["final_loss"]) == r["loss"][-1] != r["loss"].min()  # this curve's last epoch is not its best
    assert f"final loss {r['loss'][-1]:.6g} (epoch 10)" in out


def test_a_run_stopped_before_its_first_snapshot_writes_no_empty_figures(tmp_path, capsys):
    """A stop in the first epoch: no snapshot, no gates, no gradient flow was made, so none of their figures."""
    s = settings("--epochs", 3, "--snapshots", 2, "--gates", "--gradient-flow", "--quiet", "--out", tmp_path)
    stop = m.StopSignals()
    stop.record(m.signal.SIGINT)  # as if Ctrl-C came at once
    assert m.single_run(s, stop) == 130
    assert names(tmp_path) == {"results.npz", "loss.png"}
    assert capsys.readouterr().err == "interrupted in epoch 1: saved the model as it stands (no prediction made)\n"


def test_a_failed_sweep_model_is_named_as_failed():
    s = settings()
    runs = fake_runs(2) + [m.failed_model(s, 5, -9)]
    assert "seed 5: failed, no prediction" in legend_labels(m.plot_sweep(s, runs))


@pytest.mark.parametrize("flags", [[], ["--future", 7]], ids=["", "--future 7"])
def test_the_waveforms_legend_gives_the_rmse_of_the_drawn_prediction(flags):
    s = settings("--epochs", 4, *flags)
    r = m.run(s, s.seed)
    T, end = s.time_size, s.n_points
    labels = legend_labels(m.plot_waveform(s, r))
    rmse = rmse_against_the_sine(r.prediction[T:end], r.x[T:end])
    assert f"generated (closed loop), RMSE {rmse:.4f}" in labels
    if flags:
        future = rmse_against_the_sine(r.prediction[end:], r.x[end:])
        assert f"generated past the data (7 steps), RMSE {future:.4f}" in labels


def test_a_dangling_link_and_an_unremovable_stale_temporary_do_not_cost_the_run(run_main, tmp_path):
    """An earlier run's gates.png as a link to nowhere is removed like a file; a folder named as a killed run's
    temporary file cannot be removed and is left, without a traceback."""
    folder = tmp_path / "results"
    folder.mkdir()
    os.symlink(tmp_path / "nowhere", folder / "gates.png")
    (folder / ".learning.png.99999999.tmp.png").mkdir()  # no process has that id
    status, out, err = run_main("--epochs", 2, "--quiet")
    assert status == 0 and err == "", err
    assert names(folder) == {"results.npz", "loss.png", "waveform.png", ".learning.png.99999999.tmp.png"}
    assert f"removed {folder}/gates.png (an earlier run's)" in out


def test_a_stop_as_the_figures_are_drawn_leaves_the_gif_out_and_draws_every_other(tmp_path, monkeypatch, capsys):
    """A stop while learning.png is written, just before the GIF: no frame of the GIF is drawn, the figures after
    it are; an earlier run's GIF is removed, its gates.png replaced."""
    for name in ("learning.gif", "gates.png"):
        (tmp_path / name).write_text("an earlier run's")
    s = settings("--epochs", 3, "--snapshots", 3, "--animate", "--gates", "--gradient-flow", "--quiet", "--out", tmp_path)
    stop = m.StopSignals()
    write = m.Output.write

    def write_and_stop(self, name, make):
        if name == "learning.png":
            stop.record(m.signal.SIGTERM)
        write(self, name, make)
    monkeypatch.setattr(m.Output, "write", write_and_stop)
    assert m.single_run(s, stop) == 143
    assert capsys.readouterr().err == "terminated after training: all but learning.gif is saved, nothing shown\n"
    written = {"results.npz", "loss.png", "waveform.png", "learning.png", "gates.png", "gradient_flow.png"}
    assert names(tmp_path) == written == files_recorded(tmp_path / "results.npz")
    assert (tmp_path / "gates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_figure_that_fails_to_draw_costs_only_itself(tmp_path, monkeypatch, capsys):
    def broken(s, r):
        raise ValueError("a figure's own bug")
    monkeypatch.setattr(m, "RUN_FILES", [(name, when, broken if name == "gates.png" else make)
                                         for name, when, make in m.RUN_FILES])
    (tmp_path / "gates.png").write_text("an earlier run's")
    s = settings("--epochs", 2, "--gates", "--gradient-flow", "--quiet", "--out", tmp_path)
    assert m.single_run(s, m.StopSignals()) == 1
    assert capsys.readouterr().err == "gates.png left out: it could not be drawn (ValueError: a figure's own bug)\n"
    written = {"results.npz", "loss.png", "waveform.png", "gradient_flow.png"}
    assert names(tmp_path) == written == files_recorded(tmp_path / "results.npz")
    assert "gate_f" in np.load(tmp_path / "results.npz")


def import_edited(tmp_path, *edits):
    """The script with these edits (see edited_script), imported as a module of its own."""
    path = edited_script(tmp_path, *edits)
    spec = importlib.util.spec_from_file_location("edited_train_sin_lstm", path)
    edited = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(edited)
    return edited


CACHE = "        self.cache = (x, h_prev, c_prev, f, g, i, o, c_next)\n"
UNPACKED = "        x, h_prev, c_prev, f, g, i, o, c_next = self.cache\n"


@pytest.mark.parametrize("cache, unpacked, recorded", [
    ("(x, h_prev, c_prev, f, g, i, o, c_next, A)", "x, h_prev, c_prev, f, g, i, o, c_next, A", True),
    ("(A, x, h_prev, c_prev, f, g, i, o, c_next)", "A, x, h_prev, c_prev, f, g, i, o, c_next", False),
    ("(x, h_prev, c_prev, f, g, i, o)", "x, h_prev, c_prev, f, g, i, o", False)],
    ids=["a value appended", "a value put first", "c_next left out"])
def test_a_learners_edit_to_the_lstms_cache_costs_no_file_but_gates_png(tmp_path, capsys, cache, unpacked, recorded):
    """A learner keeps another value in LSTM.forward's cache (and unpacks it in backward; c_next recomputed
    there when left out): the gates are read by their places, and checked against the equations."""
    backward = UNPACKED.replace("x, h_prev, c_prev, f, g, i, o, c_next", unpacked)
    if "c_next" not in unpacked:
        backward += "        c_next = f * c_prev + g * i\n"
    edited = import_edited(tmp_path, CACHE, CACHE.replace("(x, h_prev, c_prev, f, g, i, o, c_next)", cache),
                           UNPACKED, backward)
    out = tmp_path / "results"
    status = edited.main(["--epochs", "2", "--gates", "--quiet", "--no-show", "--out", str(out)])
    err = capsys.readouterr().err
    assert names(out) == {"results.npz", "loss.png", "waveform.png"} | ({"gates.png"} if recorded else set())
    if recorded:
        assert status == 0 and err == ""
        s = settings("--epochs", 2)
        gates = m.Gates()
        m.run(s, s.seed, after_step=gates)
        for name, values in gates.arrays().items():
            np.testing.assert_array_equal(np.load(out / "results.npz")[name], values)
    else:
        assert status == 1 and err.startswith("gates.png left out: the gates could not be read from the LSTM: its "
                                              "last step's cache does not hold them where the book's does")
        assert len(err.splitlines()) == 1 and "gate_f" not in np.load(out / "results.npz")


@pytest.mark.parametrize("noise, label", [(0.05, "training series: the sine + noise of std 0.05"),
                                          (0, "training series: the sine, no noise")])
def test_the_training_series_is_called_noisy_only_when_it_is(monkeypatch, noise, label):
    monkeypatch.setattr(m, "NOISE", noise)
    s = settings("--epochs", 1)
    r = m.run(s, s.seed)
    assert label in legend_labels(m.plot_waveform(s, r))


def test_the_loss_figures_draw_the_noise_floor_and_none_without_noise(monkeypatch):
    s = settings("--epochs", 3, "--snapshots", 2)
    r = m.run(s, s.seed, m.Snapshots(s))
    r.snapshots = SimpleNamespace(taken=[1, 3], series=[r.prediction] * 2)
    floor = m.noise_floor(s, r.noisy)
    for fig in (m.plot_loss(s, r), m.plot_learning(s, r)):
        ax = fig.axes[-1]  # learning.png: its loss panel
        lines = [line for line in ax.get_lines() if line.get_label().startswith("noise floor")]
        assert len(lines) == 1 and lines[0].get_ydata()[0] == floor and f"{floor:.3g}" in lines[0].get_label()
        low, high = ax.get_ylim()
        assert low < floor < high
    monkeypatch.setattr(m, "NOISE", 0)
    s = settings("--epochs", 3)
    fig = m.plot_loss(s, m.run(s, s.seed))
    assert not [line for line in fig.axes[0].get_lines() if line.get_label().startswith("noise floor")]


def test_a_sweep_with_the_gradient_flow_draws_each_settings_curve_on_one_axes(run_main, tmp_path):
    status, out, err = run_main("--grid", "cell=rnn,lstm", "--seeds", 1, 2, "--epochs", 2, "--hidden-size", 6,
                                "--gradient-flow", "--quiet")
    assert status == 0, err
    folder = tmp_path / "results"
    assert names(folder) == {"grid.csv", "grid.npz", "grid.png", "grid_gradient_flow.png"}
    grid = np.load(folder / "grid.npz")
    assert grid["gradient_flow"].shape == grid["gradient_flow_c"].shape == (4, 100)
    lstm = grid["cell"] == "lstm"
    assert np.isfinite(grid["gradient_flow_c"][lstm]).all() and np.isnan(grid["gradient_flow_c"][~lstm]).all()
    s = m.parse(["--cell", "rnn", "--seed", "1", "--epochs", "2", "--hidden-size", "6"])
    r = m.run(s, 1)
    np.testing.assert_allclose(grid["gradient_flow"][list(grid["seed"]).index(1)],
                               m.gradient_flow(s, r.model.params, r.noisy)[0][0])  # rows in the CSV's order
    status, out, err = run_main("--grid", "cell=rnn,lstm", "--seeds", 1, 2, "--epochs", 2, "--hidden-size", 6,
                                "--quiet")
    assert status == 0 and "grid_gradient_flow.png" not in names(folder)  # an earlier run's, removed


def test_a_grid_over_layers_keeps_each_models_top_layers_gradient_flow(run_main, tmp_path):
    status, out, err = run_main("--grid", "layers=1,2", "--seeds", 1, "--epochs", 2, "--hidden-size", 6,
                                "--gradient-flow", "--quiet")
    assert status == 0, err
    grid = np.load(tmp_path / "results" / "grid.npz")
    for row, layers in enumerate(grid["layers"]):
        s = m.parse(["--layers", str(layers), "--seed", "1", "--epochs", "2", "--hidden-size", "6"])
        r = m.run(s, 1)
        h_norms, c_norms = m.gradient_flow(s, r.model.params, r.noisy)
        np.testing.assert_allclose(grid["gradient_flow"][row], h_norms[-1])  # the top layer's
        np.testing.assert_allclose(grid["gradient_flow_c"][row], c_norms[-1])


def test_a_stop_in_the_prediction_keeps_the_trained_models_gradient_flow(tmp_path, monkeypatch, capsys):
    """Training finished, the stop came as the model generated: its gradient flow is still measured and drawn."""
    stop = m.StopSignals()
    s = settings("--epochs", 2, "--gradient-flow", "--quiet", "--out", tmp_path)
    real_generate = m.generate

    def generate(*args, **kwargs):  # the stop comes as the prediction begins
        stop.record(m.signal.SIGTERM)
        return real_generate(*args, **kwargs)
    monkeypatch.setattr(m, "generate", generate)
    assert m.single_run(s, stop) == 143
    assert "gradient_flow.png" in names(tmp_path) and "gradient_flow_c" in np.load(tmp_path / "results.npz")


@pytest.mark.parametrize("flags, words", [(["--dropout", 0.3], "loss (sum of the epoch's minibatch losses, dropout on)"),
                                          ([], "loss (sum of the epoch's minibatch losses)")])
def test_a_loss_with_dropout_says_it_was_measured_with_the_dropout_on(flags, words, run_main):
    s = settings("--epochs", 2, *flags)
    r = m.run(s, s.seed)
    assert m.plot_loss(s, r).axes[0].get_ylabel().startswith(words)
    out = run_main("--epochs", 2, *flags)[1]
    assert ("(epoch 2, dropout on)" in out) == bool(flags)


def test_the_printed_noise_floor_says_when_it_is_an_average(run_main):
    assert "noise floor 0.01074, the loss of the clean sine itself\n" in run_main("--epochs", 1)[1]
    out = run_main("--epochs", 1, "--batch-size", 11)[1]  # 8 minibatches of 11: 88 of the 90 windows an epoch
    assert "the loss of the clean sine itself, on average (an epoch draws 88 of the 90 windows)" in out


def test_the_gradient_flow_of_a_cell_without_a_cell_state_names_one_line_style():
    s = settings("--cell", "gru", "--epochs", 1)
    r = m.run(s, s.seed)
    r.gradient_flows = m.gradient_flows(s, r)
    assert m.plot_gradient_flow(s, r).axes[0].get_ylabel() == "||dl/dh_t||, log scale"


@pytest.mark.parametrize("flags, label", [([], "the loss of the clean sine"),
                                          (["--batch-size", 11], "the loss of the clean sine (on average)")])
def test_the_noise_floors_legend_says_when_it_is_an_average(flags, label):
    s = settings("--epochs", 2, *flags)  # batch size 11: an epoch draws 88 of the 90 windows
    r = m.run(s, s.seed)
    labels = [text.get_text() for text in m.plot_loss(s, r).axes[0].get_legend().get_texts()]
    assert [text for text in labels if text.startswith("noise floor")][0].endswith(label)
