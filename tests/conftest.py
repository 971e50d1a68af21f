import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "train_sin_lstm.py")
sys.path.insert(0, ROOT)
import train_sin_lstm  # noqa: E402,F401
from threadpoolctl import threadpool_limits  # noqa: E402

# The script's runs use one BLAS thread (it sets that before NumPy loads); NumPy may have loaded before it did
# here (pytest plugins import it), and the number of threads changes the last bits of the sums.
threadpool_limits(1)

# A terminal starts the script with Ctrl-C at its default.  A shell starts a job in the background (`pytest &`,
# a benchmark tool) with SIGINT ignored, which every process started from here would inherit and the script
# would keep ignored (as it keeps nohup's HUP): the tests' processes get the terminal's default back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: needs real signals, a fresh interpreter or a Jupyter kernel")


def headless_env(**extra):
    """The environment of a machine with no display: no DISPLAY, no MPLBACKEND."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}
    return dict(env, **extra)


@pytest.fixture
def run_main(tmp_path, capsys):
    """main(flags) in this process, writing into tmp_path/results: (status, stdout, stderr)."""
    def run(*flags):
        flags = [str(flag) for flag in flags]
        if "--out" not in flags:
            flags += ["--out", str(tmp_path / "results")]
        status = train_sin_lstm.main(flags + ["--no-show"])
        out, err = capsys.readouterr()
        return status, out, err
    return run


def start_script(*flags, script=SCRIPT, env=None, **kwargs):
    """The script as a user starts it, headless: a running process with pipes."""
    return subprocess.Popen([sys.executable, str(script), *map(str, flags)], env=env or headless_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def run_script(*flags, timeout=120, **kwargs):
    """The script run to its end as a user runs it: the finished process, with stdout and stderr."""
    process = start_script(*flags, **kwargs)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def rmse_against_the_sine(prediction, x):
    """The root-mean-square error of prediction against sin(x), computed here rather than by the script."""
    return np.sqrt(np.mean((prediction - np.sin(x)) ** 2))


def run_with_flags(*flags):
    """One experiment in this process, with the settings these flags give."""
    s = train_sin_lstm.parse([str(flag) for flag in flags])
    return train_sin_lstm.run(s, s.seed)


def wait_until(condition, timeout=30, what="the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def edited_script(folder, *edits):
    """A copy of the script in folder with, for each pair old, new of edits, its first `old` replaced by `new`
    (old must be there)."""
    with open(SCRIPT) as f:
        text = f.read()
    for old, new in zip(edits[::2], edits[1::2]):
        assert old in text
        text = text.replace(old, new, 1)
    path = folder / "edited.py"
    path.write_text(text)
    return path


def break_gradient(monkeypatch, layer, index, factor):
    """Make layer.backward return its parameter gradient number `index` times `factor`: a wrong gradient."""
    backward = layer.backward

    def wrong_backward(self, *args):
        result = backward(self, *args)
        self.grads[index] *= factor
        return result

    monkeypatch.setattr(layer, "backward", wrong_backward)
