"""A run's results: what results.npz holds, the constants and their flags, --future, snapshots and gates.

Each optional output must leave training as it is, and what is saved must be enough to recompute the
prediction and the gates with a forward pass of the test's own."""
import numpy as np
import pytest

import train_sin_lstm as m
from conftest import rmse_against_the_sine, run_with_flags


@pytest.mark.parametrize("constant, value, flags", [
    ("LOSS", "many-to-many", ["--loss", "many-to-many"]),
    ("STATEFUL", False, ["--stateless"]),
    ("HIDDEN_SIZE", 12, ["--hidden-size", "12"]),
])
def test_a_constant_at_the_top_equals_its_flag(run_main, tmp_path, monkeypatch, constant, value, flags):
    monkeypatch.setattr(m, constant, value)
    assert run_main("--epochs", 5, "--quiet")[0] == 0
    r = np.load(tmp_path / "results" / "results.npz")
    monkeypatch.undo()
    expected = run_with_flags("--epochs", 5, *flags)
    np.testing.assert_array_equal(r["loss"], expected.loss)
    np.testing.assert_array_equal(r["prediction"], expected.prediction)
    assert not np.array_equal(r["loss"], run_with_flags("--epochs", 5).loss)


def test_results_npz_records_every_setting(run_main, tmp_path):
    assert run_main("--epochs", 3, "--lr", 0.01, "--max-grad", 2, "--quiet")[0] == 0
    r = np.load(tmp_path / "results" / "results.npz")
    for setting in m.SETTINGS:
        assert f"settings/{setting.name}" in r.files, setting.name
    settings = {key[len("settings/"):]: r[key] for key in r.files if key.startswith("settings/")}
    assert int(settings["epochs"]) == 3 and float(settings["lr"]) == 0.01 and float(settings["max_grad"]) == 2
    assert str(settings["loss_function"]) == "many-to-one" and bool(settings["stateful"])
    assert int(settings["seed"]) == 773 and np.isnan(r["future_rmse"])  # no --future: no score, not a perfect one
    assert r["loss"].shape == (3,) and float(r["final_loss"]) == r["loss"][-1]


def test_future_steps_continue_without_changing_the_first_101():
    r = run_with_flags("--future", 30, "--epochs", 10)
    assert r.prediction.shape == (m.N_POINTS + 30,)
    np.testing.assert_array_equal(r.prediction[:m.N_POINTS], run_with_flags("--epochs", 10).prediction)
    step = r.x[1] - r.x[0]
    np.testing.assert_allclose(r.x[m.N_POINTS:], 2 * np.pi + step * np.arange(1, 31))
    np.testing.assert_allclose(r.clean, np.sin(r.x))


def test_snapshot_epochs_are_spread_distinct_and_end_at_the_last():
    assert m.snapshot_epochs(6, 301) == [1, 3, 10, 31, 96, 301]
    assert m.snapshot_epochs(5, 5) == m.snapshot_epochs(9, 5) == [1, 2, 3, 4, 5]
    for count, epochs in ((30, 301), (29, 30), (2, 2), (1, 7)):
        chosen = m.snapshot_epochs(count, epochs)
        assert len(chosen) == count and chosen[-1] == epochs and chosen == sorted(set(chosen))
        assert chosen[0] == (1 if count > 1 else epochs)


def watched(*flags):
    """The settings of these flags, and run() with the snapshots and the gates taken as a single run takes them."""
    s = m.parse([str(flag) for flag in flags])
    snapshots, gates = m.Snapshots(s), m.Gates()
    r = m.run(s, s.seed, snapshots, after_step=gates)
    r.snapshots, r.gates, r.gradient_flows = snapshots, gates.arrays(), {}
    return s, r


def watched_run(*flags):
    """What results.npz holds of watched(*flags), the settings as settings/NAME."""
    s, r = watched(*flags)
    return dict(m.run_arrays(s, r, []), **{f"settings/{name}": getattr(s, name) for name in m.SETTING})


def test_each_snapshot_is_the_prediction_of_a_run_that_stopped_there_and_training_is_unchanged():
    r = watched_run("--epochs", 20, "--snapshots", 4)
    plain = run_with_flags("--epochs", 20)
    np.testing.assert_array_equal(r["loss"], plain.loss)
    np.testing.assert_array_equal(r["prediction"], plain.prediction)
    assert r["snapshot_epochs"].tolist() == m.snapshot_epochs(4, 20)
    for epoch, snapshot in zip(r["snapshot_epochs"], r["snapshots"]):
        np.testing.assert_array_equal(snapshot, run_with_flags("--epochs", epoch).prediction)


@pytest.mark.parametrize("flags", [["--stateless"], ["--loss", "many-to-many", "--future", 12]])
def test_snapshots_and_gates_change_nothing_in_the_variants(flags):
    r = watched_run("--epochs", 6, "--snapshots", 6, "--gates", *flags)
    plain = run_with_flags("--epochs", 6, *flags)
    np.testing.assert_array_equal(r["loss"], plain.loss)
    np.testing.assert_array_equal(r["prediction"], plain.prediction)
    np.testing.assert_array_equal(r["snapshots"][-1], plain.prediction)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


GATE_NAMES = ("gate_f", "gate_g", "gate_i", "gate_o", "cell", "hidden")


def recompute(arrays, time_size, batch_size, stateful):
    """The closed-loop prediction and row 0's gates, from the saved weights and start state, in float64."""
    Wx, Wh, b = (arrays[k].astype(np.float64) for k in ("lstm_Wx", "lstm_Wh", "lstm_b"))
    W, b_out = arrays["affine_W"].astype(np.float64), arrays["affine_b"].astype(np.float64)
    H = Wh.shape[0]
    series = arrays["prediction"][:time_size].astype(np.float64).tolist()
    h, c = arrays["prediction_h0"].astype(np.float64), arrays["prediction_c0"].astype(np.float64)
    gates = {name: [] for name in GATE_NAMES}
    for j in range(len(arrays["prediction"]) - time_size):
        if not stateful:
            h, c = np.zeros((batch_size, H)), np.zeros((batch_size, H))
        window = np.float32(series[j:j + time_size])  # the model reads its inputs in float32
        for t in range(time_size):
            A = np.outer(np.full(batch_size, window[t]), Wx[0]) + h @ Wh + b
            f, g, i, o = (sigmoid(A[:, :H]), np.tanh(A[:, H:2 * H]), sigmoid(A[:, 2 * H:3 * H]),
                          sigmoid(A[:, 3 * H:]))
            c = f * c + g * i
            h = o * np.tanh(c)
        for name, value in zip(GATE_NAMES, (f, g, i, o, c, h)):
            gates[name].append(value[0])
        series.append(float((h @ W + b_out)[0, 0]))
    return np.array(series), {name: np.array(values) for name, values in gates.items()}


@pytest.mark.parametrize("flags, stateful", [([], True), (["--stateless"], False),
                                              (["--loss", "many-to-many", "--time-size", "7"], True)])
def test_the_saved_model_and_state_recompute_the_prediction_and_the_gates(flags, stateful):
    arrays = watched_run("--epochs", 8, "--gates", "--hidden-size", 12, *flags)  # what results.npz holds
    time_size = int(arrays["settings/time_size"])
    assert arrays["prediction_h0"].shape == arrays["prediction_c0"].shape == (10, 12)
    if not stateful:
        assert not arrays["prediction_h0"].any() and not arrays["prediction_c0"].any()
    series, gates = recompute(arrays, time_size, int(arrays["settings/batch_size"]), stateful)
    np.testing.assert_allclose(series, arrays["prediction"], atol=1e-5)
    for name in GATE_NAMES:
        assert arrays[name].shape == (m.N_POINTS - time_size, 12)
        np.testing.assert_allclose(arrays[name], gates[name], atol=1e-5)


def loss_panel_has_a_curve(gif):
    """The right part of the current frame (the loss panel) holds pixels of the curve's blue."""
    pixels = np.asarray(gif.convert("RGB"))[:, int(gif.width * 0.65):].astype(int)
    return bool(((pixels[..., 2] > 150) & (pixels[..., 0] < 80)).any())


def test_animate_writes_a_gif_with_a_frame_per_snapshot_and_says_how_far_it_is(run_main, tmp_path, monkeypatch):
    from PIL import Image
    monkeypatch.setattr(m, "ANIMATION_FRAMES", 20)  # as a learner edits it; 20 frames and more say how far it is
    status, out, err = run_main("--epochs", 21, "--animate", "--gates")
    assert status == 0, err
    assert "learning.gif: frame 1 of 20" in out and "learning.gif: frame 19 of 20" in out
    folder = tmp_path / "results"
    with Image.open(folder / "learning.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 20
        durations = []
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info["duration"])
        assert durations == [250] * 20  # four frames a second, as the README says
        gif.seek(0)
        assert loss_panel_has_a_curve(gif)  # the first frame's loss panel is not empty
    assert {"learning.png", "learning.gif", "gates.png"} <= set(p.name for p in folder.iterdir())
    assert np.load(folder / "results.npz")["snapshots"].shape == (20, m.N_POINTS)


def test_a_one_epoch_gif_shows_its_one_loss(run_main, tmp_path):
    from PIL import Image
    assert run_main("--epochs", 1, "--animate", "--quiet")[0] == 0
    with Image.open(tmp_path / "results" / "learning.gif") as gif:
        assert gif.n_frames == 1 and loss_panel_has_a_curve(gif)


def test_the_watching_figures_say_what_they_show():
    s, r = watched("--no-show", "--epochs", "8", "--snapshots", "5", "--gates", "--hidden-size", "1", "--future", "20")
    learning = m.plot_learning(s, r)
    wave, loss = learning.axes
    assert wave.get_title().startswith("The closed-loop prediction at 5 snapshots during 8 epochs of training")
    assert "end of the data" in [text.get_text() for text in wave.get_legend().get_texts()]
    learning.canvas.draw()
    labels = [label.get_text() for label in loss.get_xticklabels(which="both") if label.get_text()]
    assert len(labels) >= 3, labels  # 1, 2, 3, 5: not 1 alone
    gates = m.plot_gates(s, r)
    assert "end of the data" in [text.get_text() for text in gates.axes[0].get_legend().get_texts()]
    gates.canvas.draw()
    for ax in gates.axes[1:6]:
        low, high = ax.get_ylim()
        assert all(tick == int(tick) for tick in ax.get_yticks() if low <= tick <= high)  # units are whole
    assert "epochs=8" in gates.axes[0].get_title()
    one = m.plot_learning(*watched("--no-show", "--epochs", "1", "--snapshots", "3"))
    assert "at 1 snapshot during 1 epoch of training" in one.axes[0].get_title()  # singular, one epoch
    assert one.axes[1].get_yscale() == "linear"  # one loss: no log axis of meaningless decades


@pytest.mark.parametrize("cell, gates", [("rnn", ["hidden"]), ("gru", ["gate_z", "gate_r", "candidate", "hidden"])])
def test_the_other_cells_save_their_weights_their_state_and_their_gates(run_main, tmp_path, cell, gates):
    status, out, err = run_main("--cell", cell, "--epochs", 3, "--gates", "--gradient-flow", "--hidden-size", 8,
                                "--quiet")
    assert status == 0, err
    arrays = np.load(tmp_path / "results" / "results.npz")
    k = {"rnn": 1, "gru": 3}[cell]
    assert arrays[f"{cell}_Wx"].shape == (1, k * 8) and arrays[f"{cell}_Wh"].shape == (8, k * 8)
    assert "lstm_Wx" not in arrays.files and "prediction_c0" not in arrays.files
    assert arrays["prediction_h0"].shape == (10, 8) and str(arrays["settings/cell"]) == cell
    for name in gates:
        assert arrays[name].shape == (m.N_POINTS - 10, 8)
    assert arrays["gradient_flow"].shape == arrays["gradient_flow_initial"].shape == (100,)
    assert {"gates.png", "gradient_flow.png"} <= {p.name for p in (tmp_path / "results").iterdir()}
    s = m.parse(["--cell", cell, "--hidden-size", "8"])
    initial = m.data_and_model(s, s.seed)  # the initial weights, drawn again
    np.testing.assert_allclose(arrays["gradient_flow_initial"], m.gradient_flow(s, initial[4].params, initial[1]))


@pytest.mark.parametrize("flags", [[], ["--future", 7, "--time-size", 4]])
def test_the_printed_and_saved_rmse_is_the_saved_predictions_against_the_clean_sine(run_main, tmp_path, flags):
    status, out, err = run_main("--epochs", 4, "--quiet", *flags)
    assert status == 0, err
    r = np.load(tmp_path / "results" / "results.npz")
    T, end = int(r["settings/time_size"]), m.N_POINTS
    rmse = rmse_against_the_sine(r["prediction"][T:end], r["x"][T:end])
    assert float(r["rmse"]) == pytest.approx(rmse, rel=1e-12)
    assert f"over the {end - T} generated points: {rmse:.4f}" in out
    if flags:
        future = rmse_against_the_sine(r["prediction"][end:], r["x"][end:])
        assert len(r["prediction"]) == end + 7 and float(r["future_rmse"]) == pytest.approx(future, rel=1e-12)
        assert f"over the 7 points past the data: {future:.4f}" in out
    else:
        assert np.isnan(r["future_rmse"]) and "past the data" not in out


def test_the_gradient_check_starts_from_the_state_training_carries_in(monkeypatch, capsys):
    """Stateful, the check runs from the state the batch before leaves (h0, c0 not zero), as training does."""
    seen, check = [], m.model_gradient_errors

    def watched_check(model, xs, ts, h0, c0, report):
        seen.append((h0, c0))
        return check(model, xs, ts, h0, c0, report)
    monkeypatch.setattr(m, "model_gradient_errors", watched_check)
    s = m.parse(["--gradcheck", "--hidden-size", "3", "--batch-size", "5", "--time-size", "4"])
    assert m.gradient_check(s) == 0
    (h0, c0), = seen
    rng, noisy, xs, ts, model = m.data_and_model(s, s.seed, np.float64)
    model.predict(xs[-5:])  # the windows before the checked ones
    np.testing.assert_array_equal(h0, model.recurrent.h)
    np.testing.assert_array_equal(c0, model.recurrent.c)
    assert np.abs(h0).min() > 0
    assert "5 of 5 within 1e-06" in capsys.readouterr().out


def test_a_stop_ends_training_at_its_minibatch_and_the_prediction_at_its_point():
    s = m.parse(["--epochs", "5"])
    full = m.run(s, s.seed)
    minibatches = []

    def after_20_minibatches():  # two epochs of 9, and 2 minibatches of the third
        minibatches.append(1)
        return len(minibatches) > 20
    stopped = m.run(s, s.seed, should_stop=after_20_minibatches)
    assert stopped.status == "interrupted" and stopped.loss.tolist() == full.loss[:2].tolist()
    assert np.isnan(stopped.prediction[10:]).all()  # no prediction after a stop in training
    points = []
    cut = m.run(s, s.seed, should_stop=lambda: len(points) >= 7, after_step=lambda model: points.append(1))
    assert cut.status == "done" and cut.loss.tolist() == full.loss.tolist()
    np.testing.assert_array_equal(cut.prediction[:17], full.prediction[:17])
    assert np.isnan(cut.prediction[17:]).all()  # stopped after 7 generated points


def test_the_gradient_flow_runs_over_the_whole_series_of_any_length(run_main, tmp_path, monkeypatch):
    monkeypatch.setattr(m, "N_POINTS", 51)  # edited at the top
    status, out, err = run_main("--epochs", 2, "--gradient-flow", "--quiet")
    assert status == 0, err
    arrays = np.load(tmp_path / "results" / "results.npz")
    assert arrays["gradient_flow"].shape == arrays["gradient_flow_initial"].shape == (50,)
