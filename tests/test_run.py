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


@pytest.mark.parametrize("flags", [["--stateless"], ["--loss", "many-to-many", "--future", 12],
                                   ["--layers", 2, "--dropout", 0.2], ["--layers", 2, "--cell", "gru", "--fast"]])
def test_snapshots_and_gates_change_nothing_in_the_variants(flags):
    r = watched_run("--epochs", 6, "--snapshots", 6, "--gates", *flags)
    plain = run_with_flags("--epochs", 6, *flags)
    np.testing.assert_array_equal(r["loss"], plain.loss)
    np.testing.assert_array_equal(r["prediction"], plain.prediction)
    np.testing.assert_array_equal(r["snapshots"][-1], plain.prediction)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


GATE_NAMES = ("gate_f", "gate_g", "gate_i", "gate_o", "cell", "hidden")


def recompute(arrays, time_size, batch_size, stateful, layers):
    """The closed-loop prediction and row 0's gates of every layer, from the saved weights and start state, in
    float64, with no dropout."""
    def saved(name, k):  # layer k's array
        return arrays[name if layers == 1 else f"layer{k}/{name}"].astype(np.float64)
    weights = [[saved(name, k) for name in ("lstm_Wx", "lstm_Wh", "lstm_b")] for k in range(1, layers + 1)]
    W, b_out = arrays["affine_W"].astype(np.float64), arrays["affine_b"].astype(np.float64)
    H = weights[0][1].shape[0]
    series = arrays["prediction"][:time_size].astype(np.float64).tolist()
    h = [saved("prediction_h0", k) for k in range(1, layers + 1)]
    c = [saved("prediction_c0", k) for k in range(1, layers + 1)]
    gates = {(name, k): [] for name in GATE_NAMES for k in range(layers)}
    for j in range(len(arrays["prediction"]) - time_size):
        if not stateful:
            h, c = [np.zeros((batch_size, H)) for _ in h], [np.zeros((batch_size, H)) for _ in c]
        window = np.float32(series[j:j + time_size])  # the model reads its inputs in float32
        for t in range(time_size):
            below = np.full((batch_size, 1), window[t])
            for k, (Wx, Wh, b) in enumerate(weights):
                A = below @ Wx + h[k] @ Wh + b
                f, g, i, o = (sigmoid(A[:, :H]), np.tanh(A[:, H:2 * H]), sigmoid(A[:, 2 * H:3 * H]),
                              sigmoid(A[:, 3 * H:]))
                c[k] = f * c[k] + g * i
                h[k] = o * np.tanh(c[k])
                below = h[k]
                if t == time_size - 1:
                    for name, value in zip(GATE_NAMES, (f, g, i, o, c[k], h[k])):
                        gates[name, k].append(value[0])
        series.append(float((h[-1] @ W + b_out)[0, 0]))
    return np.array(series), {key: np.array(values) for key, values in gates.items()}


@pytest.mark.parametrize("flags, stateful, layers", [([], True, 1), (["--stateless"], False, 1),
                                                     (["--loss", "many-to-many", "--time-size", "7"], True, 1),
                                                     (["--layers", "2", "--dropout", "0.3"], True, 2)])
def test_the_saved_model_and_state_recompute_the_prediction_and_the_gates(flags, stateful, layers):
    """Of every layer; the prediction of a model trained with dropout made without it."""
    arrays = watched_run("--epochs", 8, "--gates", "--hidden-size", 12, *flags)  # what results.npz holds
    time_size = int(arrays["settings/time_size"])
    layer = "" if layers == 1 else "layer2/"
    assert arrays[layer + "prediction_h0"].shape == arrays[layer + "prediction_c0"].shape == (10, 12)
    if not stateful:
        assert not arrays["prediction_h0"].any() and not arrays["prediction_c0"].any()
    series, gates = recompute(arrays, time_size, int(arrays["settings/batch_size"]), stateful, layers)
    np.testing.assert_allclose(series, arrays["prediction"], atol=1e-5)
    for name in GATE_NAMES:
        for k in range(layers):
            saved = arrays[name if layers == 1 else f"layer{k + 1}/{name}"]
            assert saved.shape == (m.N_POINTS - time_size, 12)
            np.testing.assert_allclose(saved, gates[name, k], atol=1e-5)


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
    h_norms, c_norms = m.gradient_flow(s, initial[4].params, initial[1])
    np.testing.assert_allclose(arrays["gradient_flow_initial"], h_norms[0])
    assert c_norms is None and "gradient_flow_c" not in arrays  # no cell state


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

    def watched_check(model, xs, ts, state, report):
        seen.append(state)
        return check(model, xs, ts, state, report)
    monkeypatch.setattr(m, "model_gradient_errors", watched_check)
    s = m.parse(["--gradcheck", "--hidden-size", "3", "--batch-size", "5", "--time-size", "4", "--layers", "2"])
    assert m.gradient_check(s) == 0
    state, = seen
    rng, noisy, xs, ts, model = m.data_and_model(s, s.seed, np.float64)
    model.predict(xs[-5:])  # the windows before the checked ones
    assert len(state) == len(model.recurrent_layers) == 2
    for (h0, c0), layer in zip(state, model.recurrent_layers):
        np.testing.assert_array_equal(h0, layer.h)
        np.testing.assert_array_equal(c0, layer.c)
        assert np.abs(h0).min() > 0
    assert "8 of 8 within 1e-06" in capsys.readouterr().out


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


def test_a_stacked_run_saves_every_layers_arrays_under_its_layers_name(run_main, tmp_path):
    status, out, err = run_main("--layers", 2, "--dropout", 0.3, "--epochs", 2, "--gates", "--gradient-flow",
                                "--hidden-size", 8, "--quiet")
    assert status == 0, err
    arrays = np.load(tmp_path / "results" / "results.npz")
    assert arrays["layer1/lstm_Wx"].shape == (1, 32) and arrays["layer2/lstm_Wx"].shape == (8, 32)
    assert arrays["layer2/lstm_Wh"].shape == (8, 32) and arrays["affine_W"].shape == (8, 1)
    for k in (1, 2):
        assert arrays[f"layer{k}/prediction_h0"].shape == arrays[f"layer{k}/prediction_c0"].shape == (10, 8)
        assert arrays[f"layer{k}/gate_f"].shape == (m.N_POINTS - 10, 8)
        for name in ("gradient_flow", "gradient_flow_initial", "gradient_flow_c", "gradient_flow_c_initial"):
            assert arrays[f"layer{k}/{name}"].shape == (100,)
    assert not {"lstm_Wx", "prediction_h0", "gate_f", "gradient_flow"} & set(arrays.files)
    assert int(arrays["settings/layers"]) == 2 and float(arrays["settings/dropout"]) == 0.3


@pytest.mark.parametrize("flags, scored", [([], 9), (["--loss", "many-to-many"], 9), (["--time-size", 5], 9),
                                           (["--batch-size", 20, "--time-size", 20], 4)])
def test_the_noise_floor_is_the_loss_of_the_clean_sine_on_the_noisy_targets(flags, scored):
    """0.5 (sin - noisy)^2 over the scored steps of a window, divided by N, summed over an epoch's minibatches:
    computed here window by window from the saved series.  With every window used in an epoch, it is what
    an epoch would cost a model that predicted sin exactly."""
    s = m.parse([str(flag) for flag in flags])
    r = m.run(m.parse([str(flag) for flag in flags] + ["--epochs", "1"]), s.seed)
    windows = m.N_POINTS - 1 - s.time_size
    costs = []
    for k in range(windows):
        steps = range(k + 1, k + 1 + s.time_size)  # the targets of window k: noisy[k + 1 .. k + T]
        scored_steps = [steps[-1]] if s.loss_function == "many-to-one" else list(steps)
        costs.append(sum(0.5 * (np.sin(r.x[j]) - r.noisy[j]) ** 2 for j in scored_steps) / s.batch_size)
    assert m.minibatches_per_epoch(s.n_points, s.batch_size) == scored
    assert m.noise_floor(s, r.noisy) == pytest.approx(scored * s.batch_size * np.mean(costs), rel=1e-5)
