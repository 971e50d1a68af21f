"""What a demanding newcomer broke: big sweeps, short loss curves, Ctrl-C at odd moments, a full disk,
library use, --future in sweeps, and smaller things.  Each test failed on the code before the fix."""
import csv
import gc
import os
import resource
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import train_sin_lstm as m
from conftest import SCRIPT, headless_env, run_with_flags


def settings(*flags):
    s = m.parse_args([str(flag) for flag in flags] + ["--no-show"])
    m.check_settings(s)
    return s


def fake_runs(n, length=m.N_POINTS):
    x = np.linspace(m.X_MIN, m.X_MAX, m.N_POINTS)
    x = np.concatenate((x, x[-1] + (x[1] - x[0]) * np.arange(1, length - m.N_POINTS + 1)))
    return [{"x": x, "clean": np.sin(x), "prediction": np.sin(x) + 0.01 * k, "seed": k, "rmse": 0.01 * k}
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
    m.Output(str(tmp_path), m.SWEEP_FILES).figure("sweep.png", fig)
    assert os.path.getsize(tmp_path / "sweep.png") > 0


def test_a_sweep_of_many_seeds_runs_through(run_script, tmp_path):
    done = run_script("--seeds", *range(1, 26), "--epochs", 1, "--quiet")
    assert done.returncode == 0, done.stderr
    assert os.path.exists(tmp_path / "results" / "sweep.png")


@pytest.mark.parametrize("losses", [[0.67], [0.67, 0.25], []])
def test_a_short_loss_curve_is_visible_on_a_sensible_axis(losses):
    fig = m.plot_loss(settings(), np.array(losses))
    ax = fig.axes[0]
    line = ax.get_lines()[0]
    low, high = ax.get_xlim()
    assert 0 < low <= 1 and high >= max(len(losses), 1)  # no negative epochs
    ticks = [tick for tick in ax.get_xticks() if low <= tick <= high]
    assert ticks and all(tick == int(tick) for tick in ticks)  # whole epochs
    if losses:
        assert line.get_marker() == "o" and ax.get_yscale() == "log" and "(log scale)" in ax.get_title()
    else:
        assert "(log scale)" not in ax.get_title() and ax.get_yscale() == "linear"
        assert "no epoch finished" in [text.get_text() for text in ax.texts]


def test_ctrl_c_after_training_but_before_the_figures_still_ends_the_run(tmp_path):
    process = subprocess.Popen([sys.executable, SCRIPT, "--epochs", "30", "--out", tmp_path], env=headless_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("| epoch 30 / 30"):
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err == "interrupted after training: everything is saved, nothing shown\n"
    assert str(np.load(tmp_path / "results.npz")["status"]) == "done"
    assert {"loss.png", "waveform.png"} <= set(os.listdir(tmp_path))


@pytest.mark.parametrize("delay", [0.15, 0.3, 0.6])
def test_ctrl_c_while_starting_up_ends_the_run_in_one_line(tmp_path, delay):
    process = subprocess.Popen([sys.executable, SCRIPT, "--epochs", "30", "--out", tmp_path], env=headless_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and err.startswith("interrupted")


def test_a_full_disk_gives_one_line_naming_the_file(tmp_path):
    def small_files():  # as `ulimit -f 60`: no file may grow past 60 KiB (results.npz ~52, waveform.png ~68)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60 * 1024, 60 * 1024))

    done = subprocess.run([sys.executable, SCRIPT, "--epochs", "3", "--future", "200", "--out", tmp_path],
                          env=headless_env(), capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"train_sin_lstm.py: error: could not write {tmp_path}/")
    assert "(File too large)" in lines[0] and f"wrote {tmp_path}/results.npz, {tmp_path}/loss.png" in lines[0]
    assert not [name for name in os.listdir(tmp_path) if ".tmp" in name]


def test_used_as_a_library_it_leaves_the_process_as_it_found_it(tmp_path):
    import matplotlib.pyplot as plt
    handlers = {signum: signal.getsignal(signum) for signum in m.STOP_SIGNALS}
    frozen = gc.get_freeze_count()
    assert m.main(["--epochs", "2", "--out", str(tmp_path / "a")]) == 0
    assert gc.get_freeze_count() == frozen
    assert plt.get_fignums() == []
    assert {signum: signal.getsignal(signum) for signum in m.STOP_SIGNALS} == handlers


def test_an_interrupted_sweep_then_another_in_one_process(tmp_path):
    import matplotlib.pyplot as plt
    timer = threading.Timer(3, os.kill, (os.getpid(), signal.SIGINT))  # a real Ctrl-C, to this process
    timer.start()
    try:
        assert m.main(["--seeds", "1", "2", "--epochs", "100000", "--out", str(tmp_path / "a")]) == 130
    finally:
        timer.cancel()
    assert m.main(["--seeds", "1", "2", "--epochs", "2", "--out", str(tmp_path / "b")]) == 0
    assert plt.get_fignums() == []


def test_main_works_from_another_thread(tmp_path):
    results = []
    thread = threading.Thread(target=lambda: results.append(m.main(["--epochs", "2", "--out", str(tmp_path)])))
    thread.start()
    thread.join(120)
    assert results == [0]
    assert str(np.load(tmp_path / "results.npz")["status"]) == "done"


def test_no_fork_warning_in_a_process_with_threads(tmp_path):
    code = ("import threading, sys, time; sys.path.insert(0, %r); import train_sin_lstm as m\n"
            "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
            "sys.exit(m.main(['--epochs', '2', '--out', %r]))" % (os.path.dirname(SCRIPT), str(tmp_path)))
    # Python 3.12+ warns "This process (pid=...) is multi-threaded, use of fork() may lead to deadlocks ..."
    done = subprocess.run([sys.executable, "-W", "always:This process:DeprecationWarning", "-c", code],
                          env=headless_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "multi-threaded, use of fork()" not in done.stderr


def test_a_sweep_with_future_steps_reports_their_rmse(run_script, tmp_path):
    done = run_script("--seeds", 1, 2, "--epochs", 3, "--future", 20)
    assert done.returncode == 0, done.stderr
    singles = [run_with_flags("--seed", seed, "--epochs", 3, "--future", 20) for seed in (1, 2)]
    with open(tmp_path / "results" / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(row["future_rmse"]) for row in rows] == pytest.approx([r["future_rmse"] for r in singles])
    np.testing.assert_array_equal(np.load(tmp_path / "results" / "sweep.npz")["future_rmse"],
                                  [r["future_rmse"] for r in singles])
    assert "future RMSE" in done.stdout
    fig = m.plot_sweep(settings("--future", 20), fake_runs(2, m.N_POINTS + 20))
    assert "end of the data" in legend_labels(fig)


def test_a_one_sample_warm_up_is_drawn_and_named_in_the_singular():
    s = settings("--time-size", 1, "--epochs", 2)
    r = dict(m.run(s, s.seed))
    fig = m.plot_waveform(s, r)
    warm_up = next(line for line in fig.axes[0].get_lines() if line.get_label().startswith("warm-up"))
    assert warm_up.get_label() == "warm-up: 1 clean sample given" and warm_up.get_marker() == "o"


def test_the_y_label_is_not_clipped(tmp_path):
    from matplotlib.image import imread
    fig = m.plot_loss(settings(), np.array([1.5e25, 3e27, 1e30]))  # wide tick labels
    m.Output(str(tmp_path), m.RUN_FILES).figure("loss.png", fig)
    image = imread(tmp_path / "loss.png")
    assert (image[:, :3, :3] == 1).all()  # the image's left edge is background: nothing cut there
    assert (image[:, :40, :3] < 0.5).any()  # and the y label is there


def test_a_diverging_loss_is_printed_readably(capsys):
    report = m.progress_printer(5, time.perf_counter())
    report(1, 0.6737)
    report(5, 1.234567e25)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("| loss 0.673700") and lines[1].endswith("| loss 1.235e+25")


def test_a_quiet_sweep_prints_no_progress(run_script):
    done = run_script("--seeds", 1, 2, "--epochs", 2, "--quiet")
    assert done.returncode == 0 and "training" not in done.stdout and "seed 1:" not in done.stdout


def test_gradcheck_says_how_long_it_will_take_and_reports_as_it_goes(run_script):
    process = subprocess.Popen([sys.executable, SCRIPT, "--gradcheck", "--hidden-size", "250"],
                               env=headless_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        process.stdout.readline()
        estimate = process.stdout.readline()
        assert "forward passes: about" in estimate and "Ctrl-C stops it" in estimate
        process.stdout.readline()
        assert process.stdout.readline().startswith("LSTM Wx")  # a row as soon as its parameter is checked
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err == "interrupted; nothing written\n"
