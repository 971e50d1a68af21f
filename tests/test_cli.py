"""The command line: what a run prints and writes, and every refusal (one line, exit 2, nothing written).

main(argv) is called in this process; a subprocess only where the process is the point (a newcomer's
first run, importing, an interpreter without matplotlib, a debugger on the terminal)."""
import importlib.util
import io
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import train_sin_lstm as m
from conftest import SCRIPT, edited_script, headless_env, run_script


@pytest.mark.slow
def test_a_newcomers_run_writes_the_three_files_and_says_so(tmp_path):
    done = run_script("--epochs", 3, cwd=tmp_path)  # no --no-show, no display, no MPLBACKEND
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    names = {"results.npz", "loss.png", "waveform.png"}
    assert set(os.listdir(tmp_path / "results")) == names
    for name in names:
        assert f"results/{name}" in done.stdout
    with open(tmp_path / "results" / "loss.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    r = np.load(tmp_path / "results" / "results.npz")
    assert f"final loss {float(r['final_loss']):.6g}" in done.stdout
    assert f"RMSE against the clean sine over the 91 generated points: {float(r['rmse']):.4f}" in done.stdout


@pytest.mark.slow
def test_importing_runs_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import train_sin_lstm"], cwd=tmp_path, capture_output=True,
                          text=True, env=headless_env(PYTHONPATH=os.path.dirname(SCRIPT)))
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
    assert os.listdir(tmp_path) == []


def test_progress_lines_and_quiet(run_main):
    lines = [line for line in run_main("--epochs", 25)[1].splitlines() if line.startswith("| epoch")]
    assert [line.split()[2] for line in lines] == ["1", "2", "4", "6", "8", "10", "12", "14", "16", "18",
                                                   "20", "22", "24", "25"]
    assert "| epoch" not in run_main("--epochs", 2, "--quiet")[1]


def test_help_and_bad_flags_return_a_status_instead_of_raising(capsys):
    assert m.main(["--help"]) == 0
    out = capsys.readouterr().out
    for setting in m.SETTINGS:
        assert not setting.flag or setting.flag in out
    assert m.main(["--lr", "x"]) == 2
    assert capsys.readouterr().err == "train_sin_lstm.py: error: argument --lr: 'x' is not a number (see --help)\n"


BAD_SETTINGS = [
    (["--batch-size", "0"], "--batch-size (BATCH_SIZE) = 0: must be a whole number from 1 to 50"),
    (["--batch-size", "51"], "from 1 to 50 (a larger one leaves no minibatch in an epoch)"),
    (["--batch-size", "ten"], "argument --batch-size: 'ten' is not a whole number"),
    (["--time-size", "0"], "--time-size (TIME_SIZE) = 0: must be a whole number from 1 to 66 (66 needs --batch-size "
                           "34; each batch size allows its own largest)"),
    (["--time-size", "67", "--batch-size", "34"], "--time-size (TIME_SIZE) = 67: must be a whole number from 1 to 66"),
    (["--jobs", "0", "--seeds", "1", "2"], "--jobs 0: must be a whole number of at least 1"),
    (["--jobs", "two", "--seeds", "1", "2"], "argument --jobs: 'two' is not a whole number"),
    (["--jobs", "2"], "--jobs is for --seeds or --grid: a single run trains one model, here"),
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
    (["--seeds", "1", "-5"], "--seeds -5: must be a whole number from 0 to 4294967295"),
    (["--future", "-1"], "--future (FUTURE) = -1: must be a whole number from 0 to 10000"),
    (["--max-grad", "0"], "--max-grad (MAX_GRAD) = 0.0: must be a finite number above 0"),
    (["--max-grad", "inf"], "--max-grad (MAX_GRAD) = inf: must be a finite number above 0"),
    (["--max-grad", "big"], "argument --max-grad: 'big' is not a number or none"),
    (["--loss", "many"], "argument --loss: 'many' is not one of many-to-one, many-to-many"),
    (["--cell", "transformer"], "argument --cell: 'transformer' is not one of lstm, rnn, gru"),
    (["--optimizer", "lion"], "argument --optimizer: 'lion' is not one of sgd, momentum, adagrad, rmsprop, adam"),
    (["--grid", "cell=rnn,xl"], "--grid cell=rnn,xl: 'xl' is not one of lstm, rnn, gru"),
    (["--layers", "0"], "--layers (LAYERS) = 0: must be a whole number from 1 to 10"),
    (["--layers", "two"], "argument --layers: 'two' is not a whole number"),
    (["--dropout", "1"], "--dropout (DROPOUT) = 1.0: must be a finite number of at least 0 and below 1"),
    (["--dropout", "-0.1"], "--dropout (DROPOUT) = -0.1: must be a finite number of at least 0 and below 1"),
    (["--dropout", "half"], "argument --dropout: 'half' is not a number"),
    (["--grid", "dropout=0,1"], "--grid combination dropout=1: --dropout (DROPOUT) = 1.0: must be a finite number"),
    (["--snapshots", "-1"], "--snapshots (SNAPSHOTS) = -1: must be a whole number from 0"),
    (["--snapshots", "x"], "argument --snapshots: 'x' is not a whole number"),
    (["--stateful", "--stateless"], "argument --stateless: not allowed with argument --stateful"),
    (["--seeds", "1", "2", "--gates"], "--gates is for a single run, not with --seeds"),
    (["--grid", "lr=0.1,0.2", "--snapshots", "3"], "--snapshots is for a single run, not with --grid"),
    (["--seeds", "1", "--gradcheck"], "--gradcheck is for a single run, not with --seeds"),
    (["--seed", "5", "--grid", "lr=0.1,0.2"], "--seed is for a single run, not with --grid (give the seeds in"),
    (["--seeds", "5", "5"], "--seeds 5 5: a seed given twice trains the same model twice"),
    (["--grid", "lr=0.1", "--grid", "lr=0.2"], "--grid lr=0.2: lr is named twice; give all its values at once"),
]


@pytest.mark.parametrize("seeds", [(), (-1,), (1, 1)])
def test_bad_grid_seeds_at_the_top_are_caught_before_a_grid(run_main, tmp_path, monkeypatch, seeds):
    monkeypatch.setattr(m, "GRID_SEEDS", seeds)
    status, out, err = run_main("--grid", "lr=0.01,0.02", "--epochs", 1)
    assert status == 2 and out == "" and not (tmp_path / "results").exists()
    assert err.splitlines() == [f"train_sin_lstm.py: error: GRID_SEEDS = {seeds!r}: must be distinct seeds, whole "
                                "numbers from 0 to 2**32 - 1"]


@pytest.mark.parametrize("flags, message", BAD_SETTINGS, ids=[" ".join(f) for f, _ in BAD_SETTINGS])
def test_bad_setting_one_line_exit_2_nothing_written(run_main, tmp_path, flags, message):
    status, out, err = run_main(*flags)
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("train_sin_lstm.py: error: ")
    assert message in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("constant, value, message", [
    ("BATCH_SIZE", 0, "--batch-size (BATCH_SIZE) = 0"),
    ("LEARNING_RATE", -0.008, "--lr (LEARNING_RATE) = -0.008"),
    ("EPOCHS", 301.5, "--epochs (EPOCHS) = 301.5: must be a whole number"),
    ("STATEFUL", 1, "--stateful (STATEFUL) = 1: must be true or false"),
    ("LOSS", "all", "--loss (LOSS) = 'all': must be one of many-to-one, many-to-many"),
    ("NOISE", -1, "NOISE = -1: must be a finite number from 0 to 100 (the sine's amplitude is 1)"),
    ("NOISE", 1e308, "NOISE = 1e+308: must be a finite number from 0 to 100"),
    ("X_MAX", -10, "X_MAX = -10: must be a finite number above -6.28319 and at most 1e+06 (X_MIN)"),
    ("X_MIN", -1e308, "X_MIN = -1e+308: must be a finite number from -1e+06 to 1e+06"),
    ("N_POINTS", 2, "N_POINTS = 2: must be a whole number from 3 to 100000"),
    ("ANIMATION_FRAMES", 0, "ANIMATION_FRAMES = 0: must be a whole number from 1 to 10000"),
    ("GPU", True, "GPU = True: must be False: this script runs on the CPU only"),
    ("FAST_LSTM", 1, "--fast (FAST_LSTM) = 1: must be true or false"),
    ("EPOCHS", True, "--epochs (EPOCHS) = True: must be a whole number"),  # True is 1 to Python, not to a learner
    ("GPU", 0, "GPU = 0: must be False"),
])
def test_bad_constant_at_the_top_is_caught(run_main, tmp_path, monkeypatch, constant, value, message):
    monkeypatch.setattr(m, constant, value)
    status, out, err = run_main()
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and message in err, err
    assert os.listdir(tmp_path) == []


def test_an_empty_out_dir_at_the_top_is_caught(monkeypatch, capsys):
    monkeypatch.setattr(m, "OUT_DIR", "")
    assert m.main(["--epochs", "1", "--no-show"]) == 2
    assert capsys.readouterr().err == "train_sin_lstm.py: error: --out (OUT_DIR) = '': must be a name\n"


def test_the_longest_window_any_batch_size_allows_trains_and_help_names_it(run_main, capsys):
    status, out, err = run_main("--time-size", 66, "--batch-size", 34, "--epochs", 1, "--quiet")
    assert status == 0, err
    assert m.main(["--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(TIME_SIZE, default 10); a whole number from 1 to 66 (66 needs --batch-size 34;" in help_text
    assert "(HIDDEN_SIZE, default 45); a whole number from 1 to 4096" in help_text


@pytest.mark.parametrize("out, message", [
    ("a_file/results", "cannot write there (Not a directory)"),
    ("a_file", "that is a file; give a folder"),
    ("/proc", "cannot write there"),  # a folder that exists, not writable
    ("a_link", "that is a link to nowhere, which does not exist; give a folder"),
    ("a_pipe", "that is neither a file nor a folder (a pipe, a socket or a device); give a folder")])
def test_an_output_folder_that_cannot_be_one_is_refused_before_training(run_main, tmp_path, out, message):
    (tmp_path / "a_file").write_text("")
    os.symlink("nowhere", tmp_path / "a_link")
    os.mkfifo(tmp_path / "a_pipe")
    status, out, err = run_main("--out", tmp_path / out)
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert "--out" in err and message in err, err


@pytest.mark.parametrize("backend, message", [
    ("nonsense", "MPLBACKEND=nonsense: Key backend: 'nonsense' is not a valid value for backend"),
    ("module://no_such_backend", "MPLBACKEND=module://no_such_backend: there is no such module")])
def test_a_backend_matplotlib_cannot_use_is_refused_before_training(tmp_path, backend, message):
    done = run_script("--epochs", 1, "--out", tmp_path / "r", env=headless_env(MPLBACKEND=backend))
    assert done.returncode == 2 and done.stdout == "" and not (tmp_path / "r").exists()
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr


def test_out_dir_at_the_top_may_start_from_the_home_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(m, "OUT_DIR", "~/runs")
    monkeypatch.chdir(tmp_path)
    assert m.main(["--epochs", "1", "--quiet", "--no-show"]) == 0
    assert os.listdir(tmp_path / "home" / "runs") and not os.path.exists(tmp_path / "~")


def test_a_second_run_into_a_folder_in_use_is_refused_before_it_writes(run_main, tmp_path):
    """Another run writing into the folder right now (a real process holding it): refused, naming it."""
    folder = tmp_path / "results"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], "
                               "os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        status, out, err = run_main("--epochs", 1)
    finally:
        holder.kill()
        holder.wait()
    assert status == 2 and out == "" and os.listdir(folder) == []
    assert err == (f"train_sin_lstm.py: error: --out {folder}: another run is writing there (process {holder.pid}); "
                   "wait for it to end, or give another --out\n")
    assert run_main("--epochs", 1)[0] == 0  # once it is gone, the folder is free


@pytest.mark.parametrize("folder_owner", [0, 4242], ids=["root's folder", "the file owner's folder"])
def test_another_users_file_in_a_sticky_folder_is_refused_before_training(run_main, tmp_path, monkeypatch,
                                                                          folder_owner):
    """As /tmp: a shared folder with the sticky bit, where another user's loss.png stands; this run (a user
    who owns neither the folder nor the file) could not replace it."""
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o1777)
    (folder / "loss.png").write_text("another user's")
    if os.geteuid() != 0:
        pytest.skip("needs root, to make a file another user's")
    os.chown(folder / "loss.png", 4242, 4242)
    os.chown(folder, folder_owner, folder_owner)
    monkeypatch.setattr(m.os, "geteuid", lambda: 4343)  # this run's user
    status, out, err = run_main("--epochs", 1, "--out", folder)
    assert status == 2 and out == "" and os.listdir(folder) == ["loss.png"]
    assert err == (f"train_sin_lstm.py: error: --out {folder}: loss.png is another user's, and the folder's sticky "
                   "bit lets only its owner replace or remove it; give another --out\n")


@pytest.mark.parametrize("flags, entry", [([], "learning.png"), ([], "results.npz"),
                                          (["--seeds", 1, 2], "sweep.png"), (["--grid", "lr=0.01,0.02"], "grid.csv")])
def test_a_folder_in_the_place_of_a_file_the_run_owns_is_refused_before_training(run_main, tmp_path, flags, entry):
    (tmp_path / "results" / entry).mkdir(parents=True)  # a run would replace or remove a file of that name
    status, out, err = run_main("--epochs", 2, *flags)
    assert status == 2 and out == ""
    assert err == (f"train_sin_lstm.py: error: --out {tmp_path}/results: {entry} is a folder, in the place of a "
                   "file this run writes or removes; move it away or give another --out\n")
    assert os.listdir(tmp_path / "results") == [entry]


@pytest.mark.parametrize("lr, epoch", [(1, 2), (0.25, 2)])  # 0.25: the loss overflows to inf, not nan
def test_divergence_stops_says_so_and_keeps_the_loss(run_main, tmp_path, lr, epoch):
    status, out, err = run_main("--lr", lr, "--epochs", 50, "--gates")
    assert status == 1
    assert err.splitlines() == [f"training diverged: the loss stopped being finite in epoch {epoch}; try a smaller "
                                f"learning rate than --lr {lr:g} (the default is 0.008)"]  # no NumPy warnings either
    r = np.load(tmp_path / "results" / "results.npz")
    assert r["loss"].shape == (epoch - 1,) and np.isfinite(r["loss"]).all() and str(r["status"]) == "diverged"
    assert f"final loss {r['loss'][-1]:.6g} (epoch {epoch - 1})" in out and "RMSE" not in out
    assert set(os.listdir(tmp_path / "results")) == {"results.npz", "loss.png"}  # no gates of a model that diverged
    assert "gate_f" not in r.files


NO_MATPLOTLIB = '''\
import sys


class HideMatplotlib:
    """An interpreter without matplotlib: importing it fails as for a package that is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "matplotlib":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, HideMatplotlib())
'''


@pytest.mark.slow
def test_without_matplotlib_a_run_stops_up_front_and_gradcheck_works(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_MATPLOTLIB)
    env = headless_env(PYTHONPATH=str(tmp_path / "site"))
    assert subprocess.run([sys.executable, "-c", "import matplotlib"], env=env).returncode != 0
    done = run_script("--out", tmp_path / "out", env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["train_sin_lstm.py: error: matplotlib is not installed, and a run draws "
                                        "its figures with it: pip install -r requirements.txt (--gradcheck works "
                                        "without it)"]
    assert not os.path.exists(tmp_path / "out")
    done = run_script("--gradcheck", "--hidden-size", "4", "--batch-size", "5", "--time-size", "5", env=env)
    assert done.returncode == 0 and "5 of 5 within" in done.stdout


@pytest.mark.slow
def test_a_breakpoint_in_the_story_stops_in_pdb_and_the_run_then_finishes(tmp_path):
    """As a learner does: breakpoint() in train(), look at a variable, continue."""
    script = edited_script(tmp_path, "        epoch_loss = 0  #", "        breakpoint()\n        epoch_loss = 0  #")
    process = subprocess.Popen([sys.executable, str(script), "--epochs", "2", "--no-show", "--out", tmp_path / "r"],
                               env=headless_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    out, err = process.communicate("p epoch, len(order)\nc\np epoch\nc\n", timeout=120)
    assert process.returncode == 0, err
    assert "(Pdb) (1, 90)" in out and "(Pdb) 2" in out
    assert "final loss" in out and (tmp_path / "r" / "results.npz").exists()


@pytest.mark.slow
@pytest.mark.parametrize("flags, stops", [([], 2), (["--fast"], 0)])
def test_with_the_defaults_a_breakpoint_in_the_books_lstm_backward_stops_at_every_step(tmp_path, flags, stops):
    """As a learner steps through the book's LSTM: breakpoint() in LSTM.backward, the default settings.  One
    minibatch of two time steps: it stops twice, with that step's arrays, then the run finishes.  --fast
    trains with FastTimeLSTM instead: no stop."""
    script = edited_script(tmp_path, "        ds = dc_next", "        breakpoint()\n        ds = dc_next")
    process = subprocess.Popen([sys.executable, str(script), "--epochs", "1", "--batch-size", "50", "--time-size",
                                "2", "--no-show", "--out", tmp_path / "r", *flags], env=headless_env(),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate("p dh_next.shape\nc\np dh_next.shape\nc\n", timeout=120)
    assert process.returncode == 0, err
    assert out.count("(Pdb) (50, 45)") == stops and "final loss" in out


@pytest.mark.slow
def test_an_edit_to_the_books_lstm_forward_changes_the_run(tmp_path):
    """A learner's first experiment: another activation for the candidate g.  The default run trains with the
    edited class; --fast does not (FastTimeLSTM has its own arithmetic)."""
    path = edited_script(tmp_path, "        g = np.tanh(A[:, H:2 * H])", "        g = np.sin(A[:, H:2 * H])")
    spec = importlib.util.spec_from_file_location("edited_train_sin_lstm", path)
    edited = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(edited)

    def losses(module, *flags):
        s = module.parse(["--epochs", "3", *flags])
        return module.run(s, s.seed).loss
    assert not np.allclose(losses(edited), losses(m), rtol=1e-3)
    np.testing.assert_allclose(losses(edited, "--fast"), losses(m), rtol=1e-5)


@pytest.mark.slow
def test_an_error_in_the_story_is_one_traceback_naming_it(tmp_path):
    script = edited_script(tmp_path, "        epoch_loss = 0  #", "        epoch_loss = undefined_name  #")
    done = run_script("--epochs", "2", "--out", tmp_path / "r", script=script)
    assert done.returncode == 1
    assert done.stderr.count("Traceback") == 1 and "NameError: name 'undefined_name'" in done.stderr
    assert "in train" in done.stderr


def test_the_readme_names_every_setting_and_the_commands_the_tests_use():
    with open(os.path.join(os.path.dirname(SCRIPT), "README.md")) as f:
        readme = f.read()
    for setting in m.SETTINGS:
        assert f"`{setting.constant}`" in readme and (not setting.flag or f"`{setting.flag}" in readme), setting.name
    assert "python -m pytest -q tests" in readme and "../" not in readme


def test_a_single_run_constant_with_a_sweep_is_refused(run_main, tmp_path, monkeypatch):
    monkeypatch.setattr(m, "GATES", True)
    status, out, err = run_main("--seeds", 1, 2)
    assert status == 2 and out == "" and not (tmp_path / "results").exists()
    assert err == "train_sin_lstm.py: error: SNAPSHOTS, ANIMATE and GATES are for a single run, not with --seeds\n"


def test_a_file_that_cannot_be_written_exits_1_with_one_line(run_main, tmp_path, monkeypatch):
    def full_disk(self, name, fig):
        raise m.WriteError(f"could not write {self.path(name)} (No space left on device); {self.written_text()}")
    monkeypatch.setattr(m.Output, "figure", full_disk)
    status, out, err = run_main("--epochs", 2, "--quiet")
    assert status == 1
    assert err.splitlines() == [f"train_sin_lstm.py: error: could not write {tmp_path}/results/loss.png (No space "
                                f"left on device); wrote {tmp_path}/results/results.npz"]


def test_an_earlier_runs_file_that_cannot_be_removed_costs_one_line_and_not_the_model(run_main, tmp_path,
                                                                                        monkeypatch):
    """As in a shared folder with the sticky bit (/tmp), where another user's learning.png stays."""
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "learning.png").write_text("another user's")
    remove = os.remove

    def not_permitted(path):
        if os.path.basename(path) == "learning.png":
            raise PermissionError(1, "Operation not permitted")
        remove(path)
    monkeypatch.setattr(m.os, "remove", not_permitted)
    status, out, err = run_main("--epochs", 2, "--quiet")
    monkeypatch.undo()
    assert status == 1
    assert err.splitlines() == [f"train_sin_lstm.py: error: could not remove {folder}/learning.png, an earlier "
                                f"run's (Operation not permitted); wrote {folder}/results.npz"]
    assert len(np.load(folder / "results.npz")["loss"]) == 2 and "lstm_Wx" in np.load(folder / "results.npz")


def test_ctrl_c_during_the_gradient_check_exits_130_with_nothing_written(run_main, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(m, "numerical_gradient", interrupted)
    status, out, err = run_main("--gradcheck", "--hidden-size", 3)
    assert status == 130 and err == "interrupted; nothing written\n"


def test_the_first_stop_names_the_stop_and_its_exit_status(capsys):
    stop = m.StopSignals()
    assert not stop.should_stop()
    stop.record(signal.SIGINT)
    stop.record(signal.SIGTERM)
    stop.stop_with("stopped in the debugger", 1)
    assert stop.should_stop()
    assert stop.said(" in epoch 3: saved") == 130 and capsys.readouterr().err == "interrupted in epoch 3: saved\n"


def test_main_without_arguments_takes_the_defaults_not_the_processs_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py", "-f", "/tmp/kernel.json"])  # as in a notebook
    monkeypatch.setattr(m, "EPOCHS", 1)
    monkeypatch.setattr(m, "OUT_DIR", str(tmp_path))
    assert m.main() == 0
    assert "| epoch 1 / 1" in capsys.readouterr().out and (tmp_path / "results.npz").exists()


def test_the_stop_handlers_leave_a_signal_ignored_that_was_ignored_before():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts a program
    try:
        with m.StopSignals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the others are the run's
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.parametrize("snapshots, epochs, said", [
    (1, 3, "interrupted during the snapshot after the last epoch (3): saved the trained model (no prediction made)"),
    (2, 9, "interrupted during the snapshot after epoch 1: saved the model as it stands (no prediction made)")])
def test_a_stop_during_a_snapshot_says_where_it_stopped(tmp_path, monkeypatch, capsys, snapshots, epochs, said):
    """The stop comes as a snapshot's prediction begins: of the last epoch (the run then makes no prediction)
    or of the first (training stops there: the model saved is the first epoch's)."""
    stop = m.StopSignals()
    real_generate = m.generate

    def generate(*args, **kwargs):  # the first call is the first snapshot's
        stop.record(signal.SIGINT)
        return real_generate(*args, **kwargs)
    monkeypatch.setattr(m, "generate", generate)
    s = m.parse([str(word) for word in ("--epochs", epochs, "--snapshots", snapshots, "--quiet", "--no-show",
                                        "--out", tmp_path)])
    assert m.single_run(s, stop) == 130
    assert capsys.readouterr().err == said + "\n"
    r = np.load(tmp_path / "results.npz")
    assert len(r["loss"]) == (3 if epochs == 3 else 1) and "waveform.png" not in r["files"]
    if epochs == 9:  # the weights are the first epoch's: no minibatch of the second was trained
        one_epoch = m.run(m.parse(["--epochs", "1"]), 773)
        np.testing.assert_array_equal(r["lstm_Wx"], one_epoch.model.params[0])


def test_q_in_the_debugger_stops_the_run_as_ctrl_c_does(tmp_path, monkeypatch, capsys):
    """breakpoint() in LSTM.backward, then q: the run stops at the end of that minibatch and saves the model,
    with one line and exit 1, instead of a BdbQuit traceback and an empty folder; breakpoint() stops no more."""
    path = edited_script(tmp_path, "        ds = dc_next", "        breakpoint()\n        ds = dc_next")
    spec = importlib.util.spec_from_file_location("edited_train_sin_lstm", path)
    edited = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(edited)
    monkeypatch.setattr(sys, "stdin", io.StringIO("p dh_next.shape\nq\n"))  # what the learner types
    monkeypatch.delenv("PYTHONBREAKPOINT", raising=False)
    out_dir = tmp_path / "results"
    status = edited.main(["--epochs", "3", "--no-show", "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert status == 1 and err == ("stopped in the debugger in epoch 1: saved the model as it stands (no prediction "
                                   "made)\n")
    assert out.count("(Pdb) ") == 2 and "(10, 45)" in out  # one stop of the debugger: the first step back
    r = np.load(out_dir / "results.npz")
    assert str(r["status"]) == "interrupted" and len(r["loss"]) == 0 and "lstm_Wx" in r
    assert sys.breakpointhook is sys.__breakpointhook__  # put back after the run


@pytest.mark.slow
def test_q_in_the_debugger_as_a_learner_types_it_in_a_run_and_in_the_gradient_check(tmp_path):
    script = edited_script(tmp_path, "        ds = dc_next", "        breakpoint()\n        ds = dc_next")
    for flags, said in ((["--epochs", "3", "--no-show", "--out", tmp_path / "r"], "stopped in the debugger in epoch 1: "
                         "saved the model as it stands (no prediction made)\n"),
                        (["--gradcheck", "--hidden-size", "3"], "stopped in the debugger; nothing written\n")):
        process = subprocess.Popen([sys.executable, str(script), *map(str, flags)], env=headless_env(),
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = process.communicate("q\n", timeout=120)
        assert process.returncode == 1 and err == said, err
    assert str(np.load(tmp_path / "r" / "results.npz")["status"]) == "interrupted"


@pytest.mark.slow
def test_an_error_line_to_a_closed_stderr_keeps_its_exit_status(tmp_path):
    """As `python train_sin_lstm.py --epochs 0 2>&1 >/dev/null | (exec 0<&-)`: no one reads the error."""
    read, write = os.pipe()
    os.close(read)
    process = subprocess.Popen([sys.executable, SCRIPT, "--epochs", "0", "--out", str(tmp_path)],
                               env=headless_env(), stdout=subprocess.DEVNULL, stderr=write)
    os.close(write)
    assert process.wait(timeout=60) == 2


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_under_stdout_does_not_cost_the_run(tmp_path):
    with open("/dev/full", "w") as full:
        process = subprocess.run([sys.executable, SCRIPT, "--epochs", "3", "--out", str(tmp_path)],
                                 env=headless_env(), stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert process.returncode == 0 and "Traceback" not in process.stderr, process.stderr
    assert os.path.exists(tmp_path / "results.npz") and os.path.exists(tmp_path / "waveform.png")


@pytest.mark.slow
def test_a_sweep_from_a_program_read_from_stdin_with_threads_trains_in_its_process(tmp_path):
    """spawn (chosen when threads run) would rerun the main program's file, and <stdin> is none."""
    program = (f"import sys, threading, time; sys.path.insert(0, {os.path.dirname(SCRIPT)!r}); "
               "import train_sin_lstm as m\n"
               "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
               f"sys.exit(m.main(['--seeds', '1', '2', '--epochs', '2', '--quiet', '--out', {str(tmp_path)!r}]))\n")
    done = subprocess.run([sys.executable, "-"], input=program, env=headless_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "training in this process: <stdin> is no file a worker process could rerun" in done.stdout
    assert list(np.load(tmp_path / "sweep.npz")["status"]) == ["done", "done"]


@pytest.mark.slow
@pytest.mark.parametrize("name, status, word", [("SIGTERM", 143, "terminated"), ("SIGHUP", 129, "hung up"),
                                                ("SIGINT", 130, "interrupted")])
def test_a_stop_signal_during_the_gradient_check_ends_it_with_one_line(name, status, word):
    process = subprocess.Popen([sys.executable, SCRIPT, "--gradcheck", "--hidden-size", "64"], env=headless_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("parameter"):  # the check is under way
            break
    process.send_signal(getattr(signal, name))
    out, err = process.communicate(timeout=60)
    assert process.returncode == status and err == f"{word}; nothing written\n"


def test_an_error_line_that_cannot_be_written_keeps_its_exit_status(monkeypatch):
    """A stderr on a full disk (or a closed pipe): the refusal still returns 2, nothing raised."""
    class Full:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

        def fileno(self):
            raise OSError(9, "no file")
    monkeypatch.setattr(sys, "stderr", Full())
    assert m.main(["--epochs", "0"]) == 2


def test_a_stop_signal_ends_the_gradient_check_where_it_is(monkeypatch, capsys):
    """A real TERM to this process, in the middle of the check: one line, 143, no parameter after it checked."""
    checked = []
    numerical_gradient = m.numerical_gradient

    def terminated_midway(f, x, eps=1e-5):
        checked.append(x.shape)
        if len(checked) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return numerical_gradient(f, x, eps)
    monkeypatch.setattr(m, "numerical_gradient", terminated_midway)
    assert m.main(["--gradcheck", "--hidden-size", "3"]) == 143
    assert capsys.readouterr().err == "terminated; nothing written\n" and len(checked) == 2
