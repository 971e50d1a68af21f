import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "train_sin_lstm.py")
sys.path.insert(0, ROOT)
import train_sin_lstm  # noqa: E402,F401  first, so that NumPy loads with the script's BLAS settings, as in a run


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
