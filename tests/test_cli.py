"""The script as a user runs it: files written, bad settings, divergence, Ctrl-C, nothing half-written."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import train_sin_lstm as m
from conftest import SCRIPT, edited_script, headless_env


def test_importing_runs_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import train_sin_lstm"], cwd=tmp_path, capture_output=True,
                          text=True, env=dict(headless_env(), PYTHONPATH=os.path.dirname(SCRIPT)))
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
    assert os.listdir(tmp_path) == []


def test_headless_run_writes_the_three_files(run_script, tmp_path):
    done = run_script("--epochs", 3)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    names = {"results.npz", "loss.png", "waveform.png"}
    assert set(os.listdir(tmp_path / "results")) == names
    for name in names:
        assert f"results/{name}" in done.stdout
    with open(tmp_path / "results" / "loss.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    r = np.load(tmp_path / "results" / "results.npz")
    assert r["loss"].shape == (3,)
    assert r["prediction"].shape == (m.N_POINTS,)
    assert np.isfinite(r["prediction"]).all()
    # the summary's figures are the saved ones
    assert f"final loss {float(r['final_loss']):.6g}" in done.stdout
    assert f"RMSE against the clean sine over the 91 generated points: {float(r['rmse']):.4f}" in done.stdout


def test_progress_lines_and_quiet(run_script):
    lines = [line for line in run_script("--epochs", 25).stdout.splitlines() if line.startswith("| epoch")]
    assert [line.split()[2] for line in lines] == ["1", "2", "4", "6", "8", "10", "12", "14", "16", "18",
                                                   "20", "22", "24", "25"]
    assert "| epoch" not in run_script("--epochs", 25, "--quiet").stdout


BAD_SETTINGS = [
    (["--batch-size", "0"], "--batch-size (BATCH_SIZE) = 0: must be a whole number from 1 to 50"),
    (["--batch-size", "51"], "from 1 to 50 (a larger one leaves no minibatch in an epoch of 100 inputs)"),
    (["--batch-size", "ten"], "argument --batch-size: 'ten' is not a whole number"),
    (["--time-size", "0"], "--time-size (TIME_SIZE) = 0: must be a whole number from 1 to 99"),
    (["--time-size", "11"], "--batch-size 10 with --time-size 11: an epoch takes 9 minibatches x 10 = 90 "
                            "windows, but 100 inputs give only 89 windows of 11 steps; use --time-size 10 or "
                            "less, or with --time-size 11 a batch size in"),
    (["--batch-size", "5", "--time-size", "8"], "takes 19 minibatches x 5 = 95 windows, but 100 inputs give "
                                                "only 92 windows of 8 steps; use --time-size 5 or less"),
    (["--hidden-size", "0"], "--hidden-size (HIDDEN_SIZE) = 0: must be a whole number from 1 to 4096"),
    (["--hidden-size", "5000"], "--hidden-size (HIDDEN_SIZE) = 5000: must be a whole number from 1 to 4096"),
    (["--hidden-size", "4.5"], "argument --hidden-size: '4.5' is not a whole number"),
    (["--lr", "0"], "--lr (LEARNING_RATE) = 0.0: must be a finite number above 0"),
    (["--lr", "-0.1"], "--lr (LEARNING_RATE) = -0.1: must be a finite number above 0"),
    (["--lr", "nan"], "--lr (LEARNING_RATE) = nan: must be a finite number above 0"),
    (["--lr", "inf"], "--lr (LEARNING_RATE) = inf: must be a finite number above 0"),
    (["--lr", "fast"], "argument --lr: 'fast' is not a number"),
    (["--epochs", "0"], "--epochs (EPOCHS) = 0: must be a whole number of at least 1"),
    (["--seed", "-1"], "--seed (SEED) = -1: must be a whole number from 0 to 4294967295"),
    (["--seed", "4294967296"], "--seed (SEED) = 4294967296: must be a whole number from 0 to 4294967295"),
    (["--seeds", "1", "-5"], "--seed (SEED) = -5"),
    (["--future", "-1"], "--future (FUTURE) = -1: must be a whole number from 0 to 10000"),
    (["--max-grad", "0"], "--max-grad (MAX_GRAD) = 0.0: must be a finite number above 0"),
    (["--max-grad", "inf"], "--max-grad (MAX_GRAD) = inf: must be a finite number above 0"),
    (["--max-grad", "big"], "argument --max-grad: 'big' is not a number"),
    (["--loss", "many"], "argument --loss: invalid choice: 'many'"),
]


@pytest.mark.parametrize("flags, message", BAD_SETTINGS, ids=[" ".join(f) for f, _ in BAD_SETTINGS])
def test_bad_setting_one_line_exit_2_nothing_written(run_script, tmp_path, flags, message):
    done = run_script(*flags)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("train_sin_lstm.py: error: ")
    assert message in done.stderr
    assert os.listdir(tmp_path) == []


def test_unwritable_out_is_caught_before_training(run_script, tmp_path):
    (tmp_path / "a_file").write_text("")
    done = run_script("--out", tmp_path / "a_file" / "results")
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert "--out" in done.stderr and "cannot write there" in done.stderr
    assert "| epoch" not in done.stdout


@pytest.mark.parametrize("edit, message", [
    (("BATCH_SIZE = 10", "BATCH_SIZE = 0"), "--batch-size (BATCH_SIZE) = 0"),
    (("LEARNING_RATE = 0.008", "LEARNING_RATE = -0.008"), "--lr (LEARNING_RATE) = -0.008"),
    (("EPOCHS = 301", "EPOCHS = 301.5"), "--epochs (EPOCHS) = 301.5: must be a whole number"),
    (("NOISE = 0.05", "NOISE = -1"), "NOISE = -1"),
    (("GPU = False", "GPU = True"), "GPU = True: this script runs on the CPU only"),
    (("FAST_LSTM = True", "FAST_LSTM = 1"), "FAST_LSTM = 1: must be True or False"),
])
def test_bad_constant_at_the_top_is_caught(run_script, tmp_path, edit, message):
    done = run_script(script=edited_script(tmp_path, *edit))
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["edited.py"]


def test_divergence_stops_says_so_and_keeps_the_loss(run_script, tmp_path):
    done = run_script("--lr", 1, "--epochs", 50)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr          # no NumPy overflow warnings either
    assert "training diverged" in lines[0] and "epoch 2" in lines[0] and "smaller learning rate" in lines[0]
    r = np.load(tmp_path / "results" / "results.npz")
    assert r["loss"].shape == (1,) and str(r["status"]) == "diverged"
    assert os.path.exists(tmp_path / "results" / "loss.png")


def test_a_sweep_with_diverging_models_says_so(run_script, tmp_path):
    done = run_script("--seeds", 1, 2, "--lr", 100, "--epochs", 3)
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["2 of 2 models diverged (their loss stopped being finite); try a "
                                        "smaller learning rate than --lr 100 (the default is 0.008)"]
    assert "diverged" in done.stdout and os.path.exists(tmp_path / "results" / "sweep.csv")


def test_ctrl_c_stops_cleanly_and_saves_the_model_as_it_stands(tmp_path):
    process = subprocess.Popen([sys.executable, SCRIPT, "--epochs", "100000", "--out", tmp_path],
                               env=headless_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().split()[:3] == ["|", "epoch", "1"]  # training is under way
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted in epoch" in err and len(err.splitlines()) == 1
    r = np.load(tmp_path / "results.npz")
    assert str(r["status"]) == "interrupted" and 0 < len(r["loss"]) < 100000
    assert np.isfinite(r["prediction"]).all()
    assert {"loss.png", "waveform.png"} <= set(os.listdir(tmp_path))
    assert f"(epoch {len(r['loss'])})" in out


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "results.npz"
    path.write_bytes(b"the good old file")

    def write_half_then_fail(f):
        f.write(b"half of a new ")
        raise OSError(28, "No space left on device")

    out = m.Output(str(tmp_path), m.RUN_FILES)
    with pytest.raises(m.WriteError, match="could not write .*results.npz .No space left on device.; nothing"):
        out.write("results.npz", write_half_then_fail)
    assert path.read_bytes() == b"the good old file"
    assert os.listdir(tmp_path) == ["results.npz"]
    out.write("results.npz", lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["results.npz"]


NO_MATPLOTLIB = '''\
import sys


class HideMatplotlib:
    """An interpreter without matplotlib: importing it fails as for a package that is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "matplotlib":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, HideMatplotlib())
'''


def test_without_matplotlib_a_run_stops_up_front_and_gradcheck_works(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_MATPLOTLIB)
    env = dict(headless_env(), PYTHONPATH=str(tmp_path / "site"))
    assert subprocess.run([sys.executable, "-c", "import matplotlib"], env=env).returncode != 0
    done = subprocess.run([sys.executable, SCRIPT, "--out", tmp_path / "out"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["train_sin_lstm.py: error: matplotlib is not installed, and a run draws "
                                        "its figures with it: pip install -r requirements.txt (--gradcheck works "
                                        "without it)"]
    assert not os.path.exists(tmp_path / "out")
    done = subprocess.run([sys.executable, SCRIPT, "--gradcheck", "--hidden-size", "4", "--batch-size", "5",
                           "--time-size", "5"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "5 of 5 within" in done.stdout
