"""Stopping: real signals to a real process.  Ctrl-C, TERM and HUP save what there is (exit 128 + the
signal, one line); no worker outlives its run, however the run ends; a host without semaphores trains in
one process."""
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import train_sin_lstm as m
from conftest import SCRIPT, headless_env, run_script, run_with_flags, start_script, wait_until

pytestmark = pytest.mark.slow


def read_until(process, start):
    """Read stdout until a line starts with start; return it."""
    for line in process.stdout:
        if line.startswith(start):
            return line
    raise AssertionError(f"the run ended before printing {start!r}")


def children(pid):
    """The pids of pid's child processes (Linux's /proc)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return found


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for_training(process, workers):
    """Until that many workers of the sweep have trained for a while (a fifth of a second of CPU each)."""
    read_until(process, "training ")
    wait_until(lambda: len(children(process.pid)) >= workers and
               all(cpu_ticks(pid) >= 20 for pid in children(process.pid)), 60, "the workers to train")
    return children(process.pid)


@pytest.mark.parametrize("name, status, word", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated"),
                                                ("SIGHUP", 129, "hung up")])
def test_a_stop_signal_saves_the_model_as_it_stands(tmp_path, name, status, word):
    process = start_script("--epochs", 100000, "--out", tmp_path)
    read_until(process, "| epoch")  # training is under way
    process.send_signal(getattr(signal, name))
    out, err = process.communicate(timeout=60)
    assert process.returncode == status
    assert err.startswith(f"{word} in epoch ") and err.endswith(": saved the model as it stands (no prediction made)\n")
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    r = np.load(tmp_path / "results.npz")
    assert str(r["status"]) == "interrupted" and 0 < len(r["loss"]) < 100000
    assert np.isnan(r["prediction"][10:]).all() and r["lstm_Wh"].shape == (45, 180)  # the model, to predict with
    assert set(os.listdir(tmp_path)) == {"results.npz", "loss.png"}
    assert f"(epoch {len(r['loss'])})" in out


def test_ctrl_c_after_training_still_ends_the_run_with_everything_saved(tmp_path):
    """Ctrl-C as the last epoch is printed: it lands in the short prediction or in the saving after it."""
    process = start_script("--epochs", 30, "--out", tmp_path)
    read_until(process, "| epoch 30 / 30")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and len(err.splitlines()) == 1
    r = np.load(tmp_path / "results.npz")
    generated = int(np.isfinite(r["prediction"]).sum()) - 10
    if generated == 91:
        assert err == "interrupted after training: everything is saved, nothing shown\n"
    else:
        assert err == (f"interrupted during the closed-loop prediction, after {generated} of 91 points: saved the "
                       "trained model and the points so far\n")
    assert str(r["status"]) == "done"
    assert "loss.png" in os.listdir(tmp_path) and ("waveform.png" in os.listdir(tmp_path)) == (generated > 0)


def test_a_stop_while_the_gif_is_written_leaves_it_out_and_everything_else_saved(tmp_path):
    """The figures after the GIF are still drawn, and an earlier run's copies of them replaced, not removed."""
    for name in ("learning.gif", "gates.png", "gradient_flow.png"):
        (tmp_path / name).write_text("an earlier run's")  # must not pass for this run's
    process = start_script("--epochs", 20, "--snapshots", 20, "--animate", "--gates", "--gradient-flow", "--quiet",
                           "--fast", "--out", tmp_path)
    wait_until(lambda: any(name.startswith(".learning.gif.") for name in os.listdir(tmp_path)), 120,
               "the GIF's writing")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 143
    assert err == "terminated after training: all but learning.gif is saved, nothing shown\n"
    written = {"results.npz", "loss.png", "waveform.png", "learning.png", "gates.png", "gradient_flow.png"}
    assert set(os.listdir(tmp_path)) == written
    for name in written - {"results.npz"}:
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
    assert set(np.load(tmp_path / "results.npz")["files"].tolist()) == written


def test_ctrl_c_as_the_figures_are_drawn_ends_the_run_without_drawing_the_gif(tmp_path):
    """Ctrl-C as the figures are about to be drawn: they take a second or so, and so would the GIF's 20 frames
    (300 take seven); the run ends with the figures, the GIF left out, not a frame of it drawn."""
    process = start_script("--epochs", 20, "--snapshots", 20, "--animate", "--fast", "--out", tmp_path)
    read_until(process, "closed-loop RMSE")  # printed as the files begin to be written
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    seconds = time.monotonic() - started
    assert process.returncode == 130
    assert err == "interrupted after training: all but learning.gif is saved, nothing shown\n"
    assert "learning.gif: frame" not in out and "learning.gif" not in os.listdir(tmp_path)
    assert seconds < 5, f"the run went on for {seconds:.1f} s after Ctrl-C"
    assert len(np.load(tmp_path / "results.npz")["snapshot_epochs"]) == 20  # the snapshots are kept


def send(process, signum, to):
    """signum to the process alone, or to its whole process group as a terminal sends Ctrl-C (the process must
    have been started in a session of its own: start_new_session=True)."""
    if to == "the group":
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)


@pytest.mark.parametrize("to", ["the process", "the group"])
def test_a_stop_during_the_prediction_ends_it_there_and_saves_the_points_so_far(tmp_path, to):
    process = start_script("--hidden-size", 256, "--epochs", 1, "--future", 10000, "--out", tmp_path,
                           start_new_session=True)
    read_until(process, "| epoch 1 / 1")  # training is over; the prediction of 10091 points takes a minute
    time.sleep(0.3)
    started = time.monotonic()
    send(process, signal.SIGINT, to)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and time.monotonic() - started < 15
    assert err.startswith("interrupted during the closed-loop prediction, after ") and len(err.splitlines()) == 1
    r = np.load(tmp_path / "results.npz")
    generated = int(np.isfinite(r["prediction"]).sum()) - 10
    assert 0 < generated < m.N_POINTS - 10 + 10000 and f"after {generated} of 10091 points" in err
    assert str(r["status"]) == "done" and np.isnan(r["future_rmse"])  # trained; the future not all drawn: no score


def pending(pid):
    """The signals sent to pid that none of its threads has taken yet (Linux's /proc: ShdPnd and SigPnd)."""
    mask = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/status") as f:
            for line in f:
                if line.startswith(("ShdPnd:", "SigPnd:")):
                    mask |= int(line.split()[1], 16)
    return {signum for signum in signal.valid_signals() if mask >> (signum - 1) & 1}


def test_the_first_of_two_stop_signals_names_the_stop_and_its_exit_status(tmp_path):
    """Ctrl-C, and a kill a moment later: the stop is the Ctrl-C.  (Not at the same instant: a signal that
    comes before the first one's Python handler has run its first line is handled inside it, before it.)"""
    process = start_script("--epochs", 100000, "--out", tmp_path, start_new_session=True)
    read_until(process, "| epoch")
    send(process, signal.SIGINT, "the group")
    wait_until(lambda: signal.SIGINT not in pending(process.pid), 10, "the process to take the SIGINT")
    time.sleep(0.2)  # and to run its handler
    send(process, signal.SIGTERM, "the process")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.startswith("interrupted in epoch "), err
    assert str(np.load(tmp_path / "results.npz")["status"]) == "interrupted"


def test_a_stop_with_no_one_reading_stderr_still_exits_with_the_signals_status(tmp_path):
    process = start_script("--epochs", 100000, "--out", tmp_path)
    read_until(process, "| epoch")
    process.stderr.close()  # as `2>&1 | head -1`: the reader of the stop's line is gone
    process.send_signal(signal.SIGINT)
    process.stdout.read()
    assert process.wait(timeout=60) == 130
    assert str(np.load(tmp_path / "results.npz")["status"]) == "interrupted"


def test_ctrl_c_during_training_keeps_the_snapshots_taken_and_leaves_the_gif_out(tmp_path):
    process = start_script("--epochs", 1000, "--snapshots", 20, "--animate", "--fast", "--out", tmp_path,
                           start_new_session=True)
    read_until(process, "| epoch  100 / 1000")  # 13 of the 20 snapshots taken by then
    send(process, signal.SIGINT, "the group")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.endswith(": saved the model as it stands (no prediction made); learning.gif left out\n"), err
    r = np.load(tmp_path / "results.npz")
    assert set(r["files"].tolist()) == {"results.npz", "loss.png", "learning.png"} == set(os.listdir(tmp_path))
    assert 0 < len(r["snapshot_epochs"]) == len(r["snapshots"]) < 20
    wrote = next(line for line in out.splitlines() if "wrote " in line)
    assert wrote.count("results.npz") == 1 and "learning.png" in wrote


@pytest.mark.parametrize("to", ["the process", "the group"])
def test_a_stop_during_a_sweep_saves_every_model(tmp_path, to):
    process = start_script("--seeds", 1, 2, 3, "--epochs", 100000, "--out", tmp_path, start_new_session=True)
    wait_for_training(process, 2)
    send(process, signal.SIGTERM if to == "the process" else signal.SIGINT, to)
    out, err = process.communicate(timeout=60)
    assert process.returncode == (143 if to == "the process" else 130)
    assert err.startswith("terminated: " if to == "the process" else "interrupted: ") and len(err.splitlines()) == 1, err
    assert sum(" interrupted in epoch " in line for line in out.splitlines()) == 2  # the two that were training
    assert {"sweep.csv", "sweep.npz", "sweep.png"} <= set(os.listdir(tmp_path))
    assert set(np.load(tmp_path / "sweep.npz")["status"]) == {"interrupted"}


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_worker_killed_as_by_the_oom_killer_costs_only_its_model(tmp_path):
    process = start_script("--seeds", 1, 2, 3, "--epochs", 150, "--fast", "--out", tmp_path)
    workers = wait_for_training(process, 2)
    os.kill(workers[0], signal.SIGKILL)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 1 and "Traceback" not in err, err
    assert err.splitlines() == ["1 of 3 models failed (their worker process died); the others are saved"]
    assert "failed, its worker process ended (exit code -9) before sending its model" in out
    sweep = np.load(tmp_path / "sweep.npz")
    assert sorted(sweep["status"].tolist()) == ["done", "done", "failed"]
    done = sweep["status"] == "done"
    assert np.isfinite(sweep["prediction"][done]).all() and np.isnan(sweep["prediction"][~done]).all()
    assert {"sweep.csv", "sweep.png"} <= set(os.listdir(tmp_path))
    assert not children(process.pid)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize("moment", ["while training", "while the workers send results no one reads"])
def test_no_worker_outlives_a_killed_sweep(tmp_path, moment):
    epochs = 100000 if moment == "while training" else 3
    process = start_script("--seeds", 1, 2, "--epochs", epochs, "--future", 5000, "--fast", "--out", tmp_path)
    workers = wait_for_training(process, 2)
    if moment != "while training":
        process.send_signal(signal.SIGSTOP)  # as a debugger or a loaded machine: no one reads the results
        ticks = {}

        def idle():  # every worker done training and blocked: its CPU time no longer moves
            now = {pid: cpu_ticks(pid) for pid in workers}
            still, ticks[0] = ticks.get(0) == now, now
            return still
        wait_until(lambda: idle() or threading.Event().wait(0.5), 60, "the workers to finish training")
    process.kill()
    process.wait()
    wait_until(lambda: not any(alive(pid) for pid in workers), 10, "the workers to exit")
    assert not [name for name in os.listdir(tmp_path) if not name.startswith(".")]


NO_SEMAPHORES = '''\
import _multiprocessing


class SemLock(_multiprocessing.SemLock):
    """What a host without POSIX semaphores gives: the type exists, creating one fails (no object is made)."""

    def __new__(cls, *args, **kwargs):
        raise OSError(38, "Function not implemented")


_multiprocessing.SemLock = SemLock
'''


@pytest.fixture
def no_semaphores(tmp_path):
    """The environment of an interpreter that cannot create semaphores (a sitecustomize on PYTHONPATH)."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(NO_SEMAPHORES)
    env = headless_env(PYTHONPATH=str(folder))
    check = subprocess.run([sys.executable, "-c", "import multiprocessing; multiprocessing.Event()"], env=env,
                           capture_output=True, text=True)
    assert "Function not implemented" in check.stderr  # the interpreter really lacks them
    return env


def test_without_semaphores_a_sweep_trains_in_one_process_with_the_same_numbers(tmp_path, no_semaphores):
    done = run_script("--seeds", 1, 2, "--epochs", 5, "--out", tmp_path, env=no_semaphores)
    assert done.returncode == 0, done.stderr
    assert sum("training in this process" in line for line in done.stdout.splitlines()) == 1
    sweep = np.load(tmp_path / "sweep.npz")
    for k, seed in enumerate((1, 2)):
        np.testing.assert_array_equal(sweep["prediction"][k], run_with_flags("--seed", seed, "--epochs", 5).prediction)


def test_without_semaphores_term_still_saves_a_sweep(tmp_path, no_semaphores):
    process = start_script("--seeds", 1, 2, "--epochs", 100000, "--out", tmp_path, env=no_semaphores)
    read_until(process, "training in this process")
    ticks = cpu_ticks(process.pid)
    wait_until(lambda: cpu_ticks(process.pid) >= ticks + 30, 60, "the first model to train")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143 and err.startswith("terminated: the results of 1 of 2 models saved (their losses and "
                                                        "predictions; a sweep keeps no weights)"), err
    assert list(np.load(tmp_path / "sweep.npz")["status"]) == ["interrupted"]


def test_an_interrupted_sweep_then_another_in_one_process(tmp_path, capsys):
    import matplotlib.pyplot as plt
    handlers = {signum: signal.getsignal(signum) for signum in m.STOP_WORDS}
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))  # a real Ctrl-C, to this process
    timer.start()
    try:
        assert m.main(["--seeds", "1", "2", "--epochs", "100000", "--no-show", "--out", str(tmp_path / "a")]) == 130
    finally:
        timer.cancel()
    assert m.main(["--seeds", "1", "2", "--epochs", "2", "--out", str(tmp_path / "b")]) == 0
    assert plt.get_fignums() == []
    assert {signum: signal.getsignal(signum) for signum in m.STOP_WORDS} == handlers


def test_main_works_from_another_thread(tmp_path, capsys):
    results = []
    thread = threading.Thread(target=lambda: results.append(m.main(["--epochs", "2", "--out", str(tmp_path)])))
    thread.start()
    thread.join(120)
    assert results == [0]
    assert str(np.load(tmp_path / "results.npz")["status"]) == "done"


def test_no_fork_warning_in_a_process_with_threads(tmp_path):
    code = ("import threading, sys, time; sys.path.insert(0, %r); import train_sin_lstm as m\n"
            "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
            "sys.exit(m.main(['--seeds', '1', '2', '--epochs', '2', '--out', %r]))"
            % (os.path.dirname(SCRIPT), str(tmp_path)))
    # Python 3.12+ warns "This process (pid=...) is multi-threaded, use of fork() may lead to deadlocks ..."
    done = subprocess.run([sys.executable, "-W", "always:This process:DeprecationWarning", "-c", code],
                          env=headless_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "multi-threaded, use of fork()" not in done.stderr


def test_a_stop_signal_ignored_by_whoever_started_the_run_stays_ignored(tmp_path):
    """As under `nohup` (HUP ignored): closing the terminal does not stop the run; TERM still does."""
    process = start_script("--epochs", 100000, "--out", tmp_path,
                           preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    read_until(process, "| epoch")
    process.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert process.poll() is None  # still training
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143 and err.startswith("terminated in epoch "), err

