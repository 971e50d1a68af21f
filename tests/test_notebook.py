"""Notebooks: the script in a real Jupyter kernel (nbclient + ipykernel), as a learner uses it: %run again and
again, sweeps included, main() as a library, and a %run that fails on an edited constant."""
import os

import numpy as np
import pytest

from conftest import SCRIPT, edited_script, run_with_flags

pytestmark = pytest.mark.slow


def notebook_cells(out, broken):
    return [
        f"import gc, signal, sys\nsys.path.insert(0, {os.path.dirname(SCRIPT)!r})\nfrozen = gc.get_freeze_count()",
        f"%run {SCRIPT} --epochs 3 --out {out}/run",
        f"%run {SCRIPT} --epochs 3 --out {out}/run-again",
        f"%run {SCRIPT} --seeds 1 2 --epochs 2 --out {out}/sweep",
        f"%run {SCRIPT} --seeds 1 2 --epochs 2 --out {out}/sweep-again",
        f"import train_sin_lstm\ntrain_sin_lstm.main(['--epochs', '2', '--no-show', '--out', {str(out / 'main')!r}])",
        f"%run {broken}",
        f"train_sin_lstm.EPOCHS, train_sin_lstm.OUT_DIR = 2, {str(out / 'defaults')!r}\n"
        "print('status', train_sin_lstm.main())  # no arguments: the defaults, not the kernel's command line",
        f"train_sin_lstm.NOISE, train_sin_lstm.EPOCHS = 0.3, 5  # constants edited in the session\n"
        f"print('sweep', train_sin_lstm.main(['--seeds', '773', '--no-show', '--out', {str(out / 'noisy-sweep')!r}]))\n"
        f"print('single', train_sin_lstm.main(['--no-show', '--out', {str(out / 'noisy-run')!r}]))\n"
        "train_sin_lstm.NOISE, train_sin_lstm.EPOCHS = 0.05, 301",
        "import matplotlib.pyplot as plt\n"
        "print('open figures:', plt.get_fignums(), 'newly frozen:', gc.get_freeze_count() - frozen,\n"
        "      'blocked:', sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])),\n"
        "      'SIGINT:', signal.getsignal(signal.SIGINT) is signal.default_int_handler)",
    ]


def test_a_notebook_runs_the_script_again_and_again_and_stays_interruptible(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    broken = edited_script(tmp_path, "HIDDEN_SIZE = 45", "HIDDEN_SIZE = fourty")  # a learner's typo
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(code) for code in notebook_cells(tmp_path, broken)]
    notebook.cells[6].metadata["tags"] = ["raises-exception"]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()

    def images(cell):
        return sum("image/png" in output.get("data", {}) for output in cell.outputs)

    def text(cell):
        return "".join(output.get("text", "") for output in cell.outputs if output["output_type"] == "stream")

    setup, run, run_again, sweep, sweep_again, main, failed, defaults, noisy, state = notebook.cells
    for cell in (run, run_again):
        assert images(cell) == 2  # loss and waveform, each once
        assert "| epoch 3 / 3" in text(cell) and "wrote " in text(cell)
        shown = [output for output in cell.outputs if output["output_type"] == "display_data"]
        assert all("image/png" in output["data"] for output in shown)  # no bare "<Figure size ...>"
    for cell in (sweep, sweep_again):
        assert images(cell) == 1 and "seed 2: loss" in text(cell), cell.outputs
    assert images(main) == 0 and "final loss" in text(main)
    assert any(output.get("ename") == "NameError" for output in failed.outputs)
    assert "status 0" in text(defaults) and "| epoch 2 / 2" in text(defaults), defaults.outputs
    assert {"results.npz", "loss.png", "waveform.png"} <= set(os.listdir(tmp_path / "defaults"))
    assert "sweep 0" in text(noisy) and "single 0" in text(noisy), noisy.outputs
    swept, single = np.load(tmp_path / "noisy-sweep" / "sweep.npz"), np.load(tmp_path / "noisy-run" / "results.npz")
    assert float(swept["settings/noise"]) == float(single["settings/noise"]) == 0.3  # what was trained, recorded
    assert float(swept["final_loss"][0]) == pytest.approx(float(single["final_loss"]), rel=1e-6)  # a spawned worker
    assert float(single["final_loss"]) != pytest.approx(run_with_flags("--epochs", 5).loss[-1], rel=1e-3)
    assert "DeprecationWarning" not in str(notebook.cells)
    assert text(state).strip() == "open figures: [] newly frozen: 0 blocked: [] SIGINT: True"
    assert {"results.npz", "loss.png", "waveform.png"} <= set(os.listdir(tmp_path / "run-again"))
    assert {"sweep.csv", "sweep.npz", "sweep.png"} <= set(os.listdir(tmp_path / "sweep-again"))
