import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "train_sin_lstm.py")
sys.path.insert(0, ROOT)
import train_sin_lstm  # noqa: E402,F401
from threadpoolctl import threadpool_limits  # noqa: E402

# The script's runs use one BLAS thread (it sets that before NumPy loads); NumPy may have loaded before it did
# here (pytest plugins import it), and the number of threads changes the last bits of the sums.
threadpool_limits(1)


def headless_env():
    """The environment of a machine with no display: no DISPLAY, no MPLBACKEND."""
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}


@pytest.fixture
def run_script(tmp_path):
    """Run train_sin_lstm.py with flags, as a user would, in a temporary folder; return the finished process."""
    def run(*flags, script=SCRIPT, timeout=120):
        return subprocess.run([sys.executable, script, *map(str, flags)], cwd=tmp_path, env=headless_env(),
                              capture_output=True, text=True, timeout=timeout)
    return run


def run_with_flags(*flags):
    """One experiment in this process, with the settings these flags give."""
    s = train_sin_lstm.parse_args([str(flag) for flag in flags])
    train_sin_lstm.check_settings(s)
    return train_sin_lstm.run(s, s.seed)


def edited_script(folder, old, new):
    """A copy of the script in folder with its first `old` replaced by `new` (old must be there)."""
    with open(SCRIPT) as f:
        text = f.read()
    assert old in text
    path = folder / "edited.py"
    path.write_text(text.replace(old, new, 1))
    return path


def break_gradient(monkeypatch, layer, index, factor):
    """Make layer.backward return its parameter gradient number `index` times `factor`: a wrong gradient."""
    backward = layer.backward

    def wrong_backward(self, dout):
        dx = backward(self, dout)
        self.grads[index] *= factor
        return dx

    monkeypatch.setattr(layer, "backward", wrong_backward)
