"""Where and how a run happens: signals to a real process, a host without semaphores, a Jupyter kernel."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import SCRIPT, headless_env, run_with_flags


def start(*flags, env=None):
    return subprocess.Popen([sys.executable, SCRIPT, *map(str, flags)], env=env or headless_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_training(process, sweep=False):
    """Read stdout until training is under way: a progress line, or a sweep's first line and a second."""
    while True:
        line = process.stdout.readline()
        assert line, "the run ended before training"
        if sweep and line.startswith("training ") and " models" in line:
            time.sleep(1)
            return
        if line.startswith("| epoch"):
            return


@pytest.mark.parametrize("name, status", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_term_and_hup_save_the_model_like_ctrl_c(tmp_path, name, status):
    process = start("--epochs", 100000, "--out", tmp_path)
    wait_for_training(process)
    process.send_signal(getattr(signal, name))
    out, err = process.communicate(timeout=30)
    assert process.returncode == status
    word = {"SIGTERM": "terminated", "SIGHUP": "hung up"}[name]
    assert err.startswith(f"{word} in epoch ") and err.endswith(": saved the model as it stands\n")
    assert len(err.splitlines()) == 1, err
    r = np.load(tmp_path / "results.npz")
    assert str(r["status"]) == "interrupted" and 0 < len(r["loss"]) < 100000
    assert np.isfinite(r["prediction"]).all()
    assert {"loss.png", "waveform.png"} <= set(os.listdir(tmp_path))


def test_term_during_a_sweep_saves_every_model(tmp_path):
    process = start("--seeds", 1, 2, 3, "--epochs", 100000, "--out", tmp_path)
    wait_for_training(process, sweep=True)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 143
    assert err.startswith("terminated: ") and len(err.splitlines()) == 1, err
    assert {"sweep.csv", "sweep.npz", "sweep.png"} <= set(os.listdir(tmp_path))
    assert set(np.load(tmp_path / "sweep.npz")["status"]) == {"interrupted"}


def processes_naming(text):
    """The pids of the processes whose command line contains text (Linux's /proc)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_no_process_outlives_a_killed_run(tmp_path):
    out = tmp_path / "killed-run"
    process = start("--seeds", 1, 2, "--epochs", 100000, "--out", out)
    wait_for_training(process, sweep=True)
    assert len(processes_naming(str(out))) >= 2  # the main process and its workers (forked: same command)
    process.kill()
    process.wait()
    deadline = time.monotonic() + 5
    while processes_naming(str(out)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_naming(str(out)) == []
    assert os.listdir(out) == []  # the workers did not try to report


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
    env = dict(headless_env(), PYTHONPATH=str(folder))
    check = subprocess.run([sys.executable, "-c", "import multiprocessing; multiprocessing.Event()"], env=env,
                           capture_output=True, text=True)
    assert "Function not implemented" in check.stderr  # the interpreter really lacks them
    return env


def run_without_semaphores(env, *flags):
    return subprocess.run([sys.executable, SCRIPT, *map(str, flags)], env=env, capture_output=True, text=True,
                          timeout=120)


def test_without_semaphores_it_trains_in_one_process_with_the_same_numbers(tmp_path, no_semaphores):
    done = run_without_semaphores(no_semaphores, "--epochs", 20, "--out", tmp_path / "a")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert sum("in this process" in line for line in done.stdout.splitlines()) == 1
    r, expected = np.load(tmp_path / "a" / "results.npz"), run_with_flags("--epochs", 20)
    np.testing.assert_array_equal(r["loss"], expected["loss"])
    np.testing.assert_array_equal(r["prediction"], expected["prediction"])

    done = run_without_semaphores(no_semaphores, "--seeds", 1, 2, "--epochs", 5, "--out", tmp_path / "b")
    assert done.returncode == 0, done.stderr
    sweep = np.load(tmp_path / "b" / "sweep.npz")
    for k, seed in enumerate((1, 2)):
        expected = run_with_flags("--seed", seed, "--epochs", 5)
        np.testing.assert_array_equal(sweep["prediction"][k], expected["prediction"])


def test_without_semaphores_term_still_saves(tmp_path, no_semaphores):
    process = start("--epochs", 100000, "--out", tmp_path, env=no_semaphores)
    wait_for_training(process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 143 and "terminated in epoch" in err and len(err.splitlines()) == 1
    assert str(np.load(tmp_path / "results.npz")["status"]) == "interrupted"


def notebook_cells(method, out):
    """A notebook that runs the script four ways under a start method, then lists pyplot's open figures."""
    return [
        f"import gc, multiprocessing, sys\nmultiprocessing.set_start_method({method!r}, force=True)\n"
        f"sys.path.insert(0, {os.path.dirname(SCRIPT)!r})\nfrozen = gc.get_freeze_count()",
        f"%run {SCRIPT} --epochs 3 --out {out}/run",
        f"import train_sin_lstm\ntrain_sin_lstm.main(['--epochs', '3', '--out', {str(out / 'main')!r}])",
        f"train_sin_lstm.main(['--seeds', '1', '2', '--epochs', '2', '--out', {str(out / 'sweep')!r}])",
        f"train_sin_lstm.main(['--epochs', '2', '--no-show', '--out', {str(out / 'no-show')!r}])",
        "import matplotlib.pyplot as plt\n"
        "print('open figures:', plt.get_fignums(), 'newly frozen:', gc.get_freeze_count() - frozen)",
    ]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_notebook_shows_the_figures_in_its_cells(tmp_path, method):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(code) for code in notebook_cells(method, tmp_path)]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()

    def images(cell):
        return sum("image/png" in output.get("data", {}) for output in cell.outputs)

    def text(cell):
        return "".join(output.get("text", "") for output in cell.outputs if output["output_type"] == "stream")

    setup, run, main, sweep, no_show, figures = notebook.cells
    assert images(run) == 2 and images(main) == 2  # loss and waveform, each once
    assert images(sweep) == 1 and images(no_show) == 0
    for cell in (run, main):
        assert "| epoch 3 / 3" in text(cell) and "wrote " in text(cell)
        shown = [output for output in cell.outputs if output["output_type"] == "display_data"]
        assert all("image/png" in output["data"] for output in shown)  # no bare "<Figure size ...>"
    assert "seed 2: loss" in text(sweep)
    assert "DeprecationWarning" not in str(notebook.cells)
    assert text(figures).strip() == "open figures: [] newly frozen: 0"  # the kernel left as it was
    assert {"results.npz", "loss.png", "waveform.png"} <= set(os.listdir(tmp_path / "run"))
