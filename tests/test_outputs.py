"""A results folder never mixes two runs: each kind of run writes or removes every file of its own set."""
import os

import numpy as np

import train_sin_lstm as m


def names(folder):
    return set(os.listdir(folder))


def files_recorded(path):
    return set(np.load(path)["files"].tolist())


def test_a_diverged_run_after_a_good_one_leaves_no_old_waveform(run_script, tmp_path):
    assert run_script("--epochs", 3).returncode == 0
    assert "waveform.png" in names(tmp_path / "results")
    done = run_script("--epochs", 3, "--lr", 1)
    assert done.returncode == 1
    assert names(tmp_path / "results") == {"results.npz", "loss.png"}
    assert "removed results/waveform.png (an earlier run's)" in done.stdout
    assert files_recorded(tmp_path / "results" / "results.npz") == {"results.npz", "loss.png"}


def test_a_plain_run_removes_the_optional_figures_of_an_earlier_run(run_script, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    optional = {"learning.png", "learning.gif", "gates.png"}
    for name in optional | {"notes.txt", "sweep.csv"}:
        (folder / name).write_text("from an earlier run, or the user's")
    done = run_script("--epochs", 3)
    assert done.returncode == 0, done.stderr
    assert names(folder) == {"results.npz", "loss.png", "waveform.png", "notes.txt", "sweep.csv"}
    removed = next(line for line in done.stdout.splitlines() if "removed" in line)
    assert all(f"results/{name}" in removed for name in optional)
    assert files_recorded(folder / "results.npz") == {"results.npz", "loss.png", "waveform.png"}


def test_a_sweep_after_a_single_run_keeps_the_single_runs_files(run_script, tmp_path):
    assert run_script("--epochs", 3).returncode == 0
    before = {name: (tmp_path / "results" / name).read_bytes() for name in names(tmp_path / "results")}
    done = run_script("--seeds", 1, 2, "--epochs", 2)
    assert done.returncode == 0, done.stderr
    assert names(tmp_path / "results") == set(before) | set(m.SWEEP_FILES)
    assert all((tmp_path / "results" / name).read_bytes() == data for name, data in before.items())
    assert "removed" not in done.stdout
    assert files_recorded(tmp_path / "results" / "sweep.npz") == set(m.SWEEP_FILES)


def test_a_refused_run_touches_nothing(run_script, tmp_path):
    assert run_script("--epochs", 3).returncode == 0
    before = names(tmp_path / "results")
    assert run_script("--lr", 0).returncode == 2
    assert names(tmp_path / "results") == before
