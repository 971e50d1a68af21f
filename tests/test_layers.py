"""Layers and gradients: every backward pass against central differences, in float64; the fast LSTM
against the book's.

numerical_gradient and relative_error are the script's own (the same check as --gradcheck); the first
tests show that they measure what they claim.  Tolerance: the script's GRADIENT_TOLERANCE, 1e-6.
"""
from types import SimpleNamespace

import numpy as np
import pytest

import train_sin_lstm as m
from conftest import break_gradient

TOL = m.GRADIENT_TOLERANCE
N, T, D, H = 3, 5, 2, 4  # D > 1 and N != H so that a transposed product cannot go unnoticed
LOSSES = m.SETTING["loss_function"].type


def blocks(time_layer):
    """How many blocks of H columns the weights of this Time layer have."""
    return 4 if issubclass(time_layer, m.TimeLSTM) else m.BLOCKS["gru" if time_layer is m.TimeGRU else "rnn"]


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def check(f, arrays, analytic):
    """Assert backward's gradients equal f's central differences for each named array."""
    for name, array in arrays.items():
        error = m.relative_error(analytic[name], m.numerical_gradient(f, array))
        assert error <= TOL, f"{name}: relative error {error:.2e}"


def test_numerical_gradient_of_a_known_function(rng):
    x = rng.randn(3, 4)
    numeric = m.numerical_gradient(lambda: np.sum(x ** 3 + np.sin(x)), x)
    assert m.relative_error(numeric, 3 * x ** 2 + np.cos(x)) <= TOL


def test_relative_error_sees_a_small_mistake(rng):
    a = rng.randn(10)
    b = a.copy()
    b[3] += 1e-4 * np.max(np.abs(a))
    assert m.relative_error(a, b) > TOL
    assert m.relative_error(a, a) == 0


def test_time_affine(rng):
    x, W, b = rng.randn(N, T, H), rng.randn(H, 2), rng.randn(2)
    layer = m.TimeAffine(W, b)
    weights = rng.randn(N, T, 2)  # loss = sum(y * weights): its gradient at y is `weights`

    def loss():
        return np.sum(layer.forward(x) * weights)

    loss()
    dx = layer.backward(weights)
    check(loss, {"x": x, "W": W, "b": b}, {"x": dx, "W": layer.grads[0], "b": layer.grads[1]})


def test_lstm_step(rng):
    x, h_prev, c_prev = rng.randn(N, D), rng.randn(N, H), rng.randn(N, H)
    Wx, Wh, b = rng.randn(D, 4 * H), rng.randn(H, 4 * H), rng.randn(4 * H)
    layer = m.LSTM(Wx, Wh, b)
    wh, wc = rng.randn(N, H), rng.randn(N, H)  # the loss reads both outputs: h_next and c_next

    def loss():
        h_next, c_next = layer.forward(x, h_prev, c_prev)
        return np.sum(h_next * wh) + np.sum(c_next * wc)

    loss()
    dx, dh_prev, dc_prev = layer.backward(wh, wc)
    check(loss, {"x": x, "h_prev": h_prev, "c_prev": c_prev, "Wx": Wx, "Wh": Wh, "b": b},
          {"x": dx, "h_prev": dh_prev, "c_prev": dc_prev, "Wx": layer.grads[0], "Wh": layer.grads[1],
           "b": layer.grads[2]})


TIME_LSTMS = [m.TimeLSTM, m.FastTimeLSTM]


@pytest.mark.parametrize("cell, k", [(m.RNN, 1), (m.GRU, 3)], ids=["RNN", "GRU"])
def test_rnn_and_gru_steps(rng, cell, k):
    x, h_prev = rng.randn(N, D), rng.randn(N, H)
    Wx, Wh, b = rng.randn(D, k * H), rng.randn(H, k * H), rng.randn(k * H)
    layer = cell(Wx, Wh, b)
    wh = rng.randn(N, H)

    def loss():
        return np.sum(layer.forward(x, h_prev) * wh)

    loss()
    dx, dh_prev = layer.backward(wh)
    check(loss, {"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "b": b},
          {"x": dx, "h_prev": dh_prev, "Wx": layer.grads[0], "Wh": layer.grads[1], "b": layer.grads[2]})


@pytest.mark.parametrize("time_layer", [m.TimeRNN, m.TimeGRU], ids=lambda c: c.__name__)
@pytest.mark.parametrize("arrives", ["every step", "last step only"])
def test_time_rnn_and_time_gru(rng, arrives, time_layer):
    k = blocks(time_layer)
    xs, Wx, Wh, b = rng.randn(N, T, D), rng.randn(D, k * H), rng.randn(H, k * H) * 0.5, rng.randn(k * H)
    h0 = rng.randn(N, H)
    layer = time_layer(Wx, Wh, b, stateful=True)
    weights = rng.randn(N, T, H)
    if arrives == "last step only":
        weights[:, :-1] = 0

    def loss():
        layer.set_state(h0)
        return np.sum(layer.forward(xs) * weights)

    loss()
    dxs = layer.backward(weights)
    check(loss, {"xs": xs, "Wx": Wx, "Wh": Wh, "b": b},
          {"xs": dxs, "Wx": layer.grads[0], "Wh": layer.grads[1], "b": layer.grads[2]})
    assert len(layer.layers) == T and all(isinstance(step, time_layer.cell) for step in layer.layers)


def test_the_gru_is_the_books_equations(rng):
    x, h_prev = rng.randn(N, D), rng.randn(N, H)
    Wx, Wh, b = rng.randn(D, 3 * H), rng.randn(H, 3 * H), rng.randn(3 * H)
    z = 1 / (1 + np.exp(-(x @ Wx[:, :H] + h_prev @ Wh[:, :H] + b[:H])))
    r = 1 / (1 + np.exp(-(x @ Wx[:, H:2 * H] + h_prev @ Wh[:, H:2 * H] + b[H:2 * H])))
    h_hat = np.tanh(x @ Wx[:, 2 * H:] + (r * h_prev) @ Wh[:, 2 * H:] + b[2 * H:])
    np.testing.assert_allclose(m.GRU(Wx, Wh, b).forward(x, h_prev), (1 - z) * h_prev + z * h_hat, rtol=1e-12)


@pytest.mark.parametrize("time_lstm", TIME_LSTMS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("arrives", ["every step", "last step only"])
def test_time_lstm(rng, arrives, time_lstm):
    xs = rng.randn(N, T, D)
    Wx, Wh, b = rng.randn(D, 4 * H), rng.randn(H, 4 * H) * 0.5, rng.randn(4 * H)
    h0, c0 = rng.randn(N, H), rng.randn(N, H)
    layer = time_lstm(Wx, Wh, b, stateful=True)
    weights = rng.randn(N, T, H)
    if arrives == "last step only":
        weights[:, :-1] = 0

    def loss():
        layer.set_state(h0, c0)  # every evaluation from the same carried-in state
        return np.sum(layer.forward(xs) * weights)

    loss()
    dxs = layer.backward(weights)
    check(loss, {"xs": xs, "Wx": Wx, "Wh": Wh, "b": b},
          {"xs": dxs, "Wx": layer.grads[0], "Wh": layer.grads[1], "b": layer.grads[2]})


def test_fast_time_lstm_equals_the_books_time_lstm(rng):
    """FastTimeLSTM's arrangement computes exactly what the book's TimeLSTM (T LSTM layers) computes:
    outputs, carried state, dxs, every weight gradient and the last step's gates, in float64."""
    xs, dhs = rng.randn(N, T, D), rng.randn(N, T, H)
    Wx, Wh, b = rng.randn(D, 4 * H), rng.randn(H, 4 * H), rng.randn(4 * H)
    h0, c0 = rng.randn(N, H), rng.randn(N, H)
    book, fast = m.TimeLSTM(Wx, Wh, b, stateful=True), m.FastTimeLSTM(Wx, Wh, b, stateful=True)
    results = []
    for layer in (book, fast):
        layer.set_state(h0, c0)
        hs = layer.forward(xs)
        gates = m.Gates()
        gates(SimpleNamespace(recurrent_layers=[layer]))  # what --gates keeps of the last step, row 0
        last = gates.arrays()
        results.append((hs, layer.h, layer.c, *(last[k] for k in sorted(last)), layer.backward(dhs),
                        *[grad.copy() for grad in layer.grads]))
    assert len(book.layers) == T and all(isinstance(layer, m.LSTM) for layer in book.layers)
    for expected, got in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_books_time_lstm_is_lstm_steps_in_sequence(rng):
    xs = rng.randn(N, T, D)
    Wx, Wh, b = rng.randn(D, 4 * H), rng.randn(H, 4 * H), rng.randn(4 * H)
    hs = m.TimeLSTM(Wx, Wh, b).forward(xs)
    h, c = np.zeros((N, H)), np.zeros((N, H))
    for t in range(T):
        h, c = m.LSTM(Wx, Wh, b).forward(xs[:, t], h, c)
        np.testing.assert_array_equal(hs[:, t], h)


@pytest.mark.parametrize("time_lstm", TIME_LSTMS, ids=lambda c: c.__name__)
def test_time_lstm_stateful_carries_state_and_stateless_does_not(rng, time_lstm):
    Wx, Wh, b = rng.randn(D, 4 * H), rng.randn(H, 4 * H), rng.randn(4 * H)
    xs = rng.randn(N, T, D)
    stateful, stateless = time_lstm(Wx, Wh, b, stateful=True), time_lstm(Wx, Wh, b, stateful=False)
    first = stateful.forward(xs)
    np.testing.assert_array_equal(stateless.forward(xs), first)
    np.testing.assert_array_equal(stateless.forward(xs), first)   # starts from zeros again
    assert not np.allclose(stateful.forward(xs), first)           # starts from the last state
    stateful.reset_state()
    np.testing.assert_array_equal(stateful.forward(xs), first)


@pytest.mark.parametrize("many_to_one", [True, False])
def test_mse_loss(rng, many_to_one):
    ys, ts = rng.randn(N, T, 1), rng.randn(N, T, 1)
    layer = m.TimeMSELoss(many_to_one)

    def loss():
        return layer.forward(ys, ts)

    scored = ys[:, -1:] - ts[:, -1:] if many_to_one else ys - ts
    assert loss() == pytest.approx(0.5 * np.sum(scored ** 2) / N, rel=1e-12)
    check(loss, {"ys": ys}, {"ys": layer.backward()})


ALL_TIME_LAYERS = TIME_LSTMS + [m.TimeRNN, m.TimeGRU]


@pytest.mark.parametrize("time_layer", ALL_TIME_LAYERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("stateful", [True, False])
@pytest.mark.parametrize("layers, dropout", [(1, 0.0), (2, 0.5)], ids=["1 layer", "2 layers, dropout"])
def test_whole_model(rng, loss, stateful, time_layer, layers, dropout):
    """Every parameter of every layer against central differences, from a carried-in state, the dropout masks
    held fixed by the check."""
    model = m.SimpleRnnlm(rng, time_layer, blocks(time_layer), 1, H, 1, layers, dropout, stateful=stateful,
                          many_to_one=loss == "many-to-one", dtype=np.float64)
    xs, ts = rng.randn(N, T, 1), rng.randn(N, T, 1)
    lstm = issubclass(time_layer, m.TimeLSTM)
    state = [(rng.randn(N, H), rng.randn(N, H)) if lstm else (rng.randn(N, H),) for _ in range(layers)]
    errors = m.model_gradient_errors(model, xs, ts, state)
    assert len(errors) == len(model.params) == 3 * layers + 2
    assert max(errors) <= TOL, errors
    if dropout:  # the masks were really there: the same loss with none differs
        fixed = model.forward(xs, ts)
        assert not np.isclose(model.forward(xs, ts, train_flg=False), fixed)


@pytest.mark.parametrize("time_layer", ALL_TIME_LAYERS, ids=lambda c: c.__name__)
def test_whole_model_check_catches_a_wrong_gradient(rng, monkeypatch, time_layer):
    """The check used by --gradcheck fails when a backward pass is wrong (here: dWh off by 1%)."""
    break_gradient(monkeypatch, time_layer, 1, 1.01)
    model = m.SimpleRnnlm(rng, time_layer, blocks(time_layer), 1, H, 1, dtype=np.float64)
    errors = m.model_gradient_errors(model, rng.randn(N, T, 1), rng.randn(N, T, 1))
    assert errors[1] > TOL and max(errors[:1] + errors[2:]) <= TOL


def test_clip_grads_against_a_hand_computation(rng):
    grads = [rng.randn(3, 4), rng.randn(5), rng.randn(2, 2)]
    norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads))  # by hand: every entry squared, summed, root
    clipped = [g.copy() for g in grads]
    m.clip_grads(clipped, norm / 4)
    scale = (norm / 4) / (norm + 1e-6)
    for got, g in zip(clipped, grads):
        np.testing.assert_allclose(got, g * scale, rtol=1e-12)
    assert np.sqrt(sum(np.sum(g * g) for g in clipped)) == pytest.approx(norm / 4, rel=1e-6)
    unclipped = [g.copy() for g in grads]
    m.clip_grads(unclipped, norm * 2)  # under the bound: untouched
    for got, g in zip(unclipped, grads):
        np.testing.assert_array_equal(got, g)


@pytest.mark.parametrize("flags, names", [
    ([], ["lstm_Wx", "lstm_Wh", "lstm_b", "affine_W", "affine_b"]),
    (["--layers", 2, "--dropout", 0.5, "--cell", "gru"], ["layer1/gru_Wx", "layer1/gru_Wh", "layer1/gru_b",
                                                          "layer2/gru_Wx", "layer2/gru_Wh", "layer2/gru_b",
                                                          "affine_W", "affine_b"])])
def test_gradcheck_reports_every_parameter(run_main, tmp_path, flags, names):
    status, out, err = run_main("--gradcheck", "--hidden-size", 6, "--batch-size", 5, "--time-size", 5, *flags)
    assert status == 0, err
    for name in names:
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert line.split()[-1] == "ok" and float(line.split()[-2]) <= 1e-6
    assert f"{len(names)} of {len(names)} within 1e-06" in out
    s = m.parse(["--hidden-size", "6", *map(str, flags)])
    n_params = sum(param.size for param in m.data_and_model(s, 773)[4].params)
    assert f"{2 * n_params} forward passes: about " in out  # two for each entry of each parameter
    assert not (tmp_path / "results").exists()


def test_gradcheck_fails_on_a_wrong_gradient(monkeypatch, run_main):
    break_gradient(monkeypatch, m.TimeAffine, 1, 0.5)
    status, out, err = run_main("--gradcheck", "--hidden-size", "4", "--stateless", "--loss", "many-to-many")
    assert status == 1
    assert "affine_b" in out and "WRONG" in out and "4 of 5 within" in out


def test_gradcheck_covers_every_cell(run_main):
    for cell in ("rnn", "gru"):
        status, out, err = run_main("--gradcheck", "--cell", cell, "--hidden-size", 5, "--batch-size", 5,
                                    "--time-size", 5)
        assert status == 0 and "5 of 5 within 1e-06" in out and f"cell={cell}" in out


GRADS = [np.array([[0.5, -1.0]]), np.array([-0.25, 2.0])]


def two_updates(optimizer):
    params = [np.array([[1.0, 2.0]]), np.array([3.0, -4.0])]
    for step in range(2):
        optimizer.update(params, [grad * (step + 1) for grad in GRADS])  # the second step's gradient doubled
    return params


@pytest.mark.parametrize("name", ["momentum", "adagrad", "rmsprop", "adam"])
def test_each_optimizer_against_a_hand_computation_of_two_steps(name):
    lr, g1, g2 = 0.1, GRADS, [grad * 2 for grad in GRADS]
    start = [np.array([[1.0, 2.0]]), np.array([3.0, -4.0])]
    expected = []
    for p, a, b in zip(start, g1, g2):
        if name == "momentum":               # v1 = -lr g1; v2 = 0.9 v1 - lr g2
            v1 = -lr * a
            expected.append(p + v1 + (0.9 * v1 - lr * b))
        elif name == "adagrad":              # h accumulates squares
            p1 = p - lr * a / (np.sqrt(a * a) + 1e-7)
            expected.append(p1 - lr * b / (np.sqrt(a * a + b * b) + 1e-7))
        elif name == "rmsprop":              # h decays by 0.99
            h1 = 0.01 * a * a
            h2 = 0.99 * h1 + 0.01 * b * b
            expected.append(p - lr * a / (np.sqrt(h1) + 1e-7) - lr * b / (np.sqrt(h2) + 1e-7))
        else:                                # m, v moving averages; the book's bias correction in the step
            m1, v1 = 0.1 * a, 0.001 * a * a
            m2, v2 = m1 + 0.1 * (b - m1), v1 + 0.001 * (b * b - v1)
            step1 = lr * np.sqrt(1 - 0.999) / (1 - 0.9) * m1 / (np.sqrt(v1) + 1e-7)
            step2 = lr * np.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2) * m2 / (np.sqrt(v2) + 1e-7)
            expected.append(p - step1 - step2)
    for got, want in zip(two_updates(m.OPTIMIZERS[name](lr)), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "rnn", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_gradient_flow_is_the_gradient_at_each_hidden_and_cell_state(cell, layers):
    """||dl/dh_t|| of every layer, and for the LSTM ||dl/dc_t||, from the script's backward pass against central
    differences of l with respect to a perturbation of that layer's h_t (or c_t, before h_t is made of it), in
    a forward pass of the test's own, step by step, in float64."""
    s = m.parse(["--cell", cell, "--hidden-size", "6", "--layers", str(layers)])
    rng, noisy, xs, ts, model = m.data_and_model(s, 3, np.float64)
    h_flow, c_flow = m.gradient_flow(s, model.params, noisy[:31])  # 30 steps, then the target
    assert h_flow.shape == (layers, 30) and (c_flow is None) == (cell != "lstm")
    step_class = m.TIME_LAYERS[cell].cell if cell != "lstm" else m.LSTM
    W, b_out = model.params[-2:]

    def loss_with(layer, t0, variable, delta):
        h, c = [np.zeros((1, 6)) for _ in range(layers)], [np.zeros((1, 6)) for _ in range(layers)]
        for t in range(30):
            below = np.array([[noisy[t]]])
            for k in range(layers):
                step = step_class(*model.params[3 * k:3 * k + 3])
                if cell == "lstm":
                    h[k], c[k] = step.forward(below, h[k], c[k])
                    if (k, t, variable) == (layer, t0, "c"):
                        c[k] = c[k] + delta
                        h[k] = step.cache[6] * np.tanh(c[k])  # h = o * tanh(c), of the perturbed c
                else:
                    h[k] = step.forward(below, h[k])
                if (k, t, variable) == (layer, t0, "h"):
                    h[k] = h[k] + delta
                below = h[k]
        return 0.5 * float((below @ W + b_out)[0, 0] - noisy[30]) ** 2

    for layer in range(layers):
        for variable, flow in (("h", h_flow), ("c", c_flow)):
            for t0 in (29, 26, 20, 12) if flow is not None else ():
                delta = np.zeros((1, 6))
                numeric = m.numerical_gradient(lambda: loss_with(layer, t0, variable, delta), delta)
                assert flow[layer, t0] == pytest.approx(np.linalg.norm(numeric), rel=1e-6), (layer, variable, t0)
    assert h_flow[-1, 29] > h_flow[-1, 12] > 0


def test_time_dropout_keeps_a_fraction_scaled_up_in_training_and_nothing_changes_at_prediction():
    layer = m.TimeDropout(np.random.RandomState(5), 0.25)
    xs = np.ones((40, 10, 25))
    ys = layer.forward(xs)
    assert set(np.unique(ys)) == {0.0, 1 / 0.75}  # dropped, or kept and divided by 1 - p
    assert abs(np.mean(ys == 0) - 0.25) < 0.02 and abs(ys.mean() - 1) < 0.03  # 10,000 draws: within 3 sigma
    dout = np.random.RandomState(6).randn(*xs.shape)
    np.testing.assert_array_equal(layer.backward(dout), dout * ys)  # the gradient through the same mask
    layer.train_flg = False
    assert layer.forward(xs) is xs


@pytest.mark.parametrize("time_layer", ALL_TIME_LAYERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_the_stacked_model_is_the_single_layer_classes_composed(rng, time_layer, dropout):
    """Three layers: each recurrent layer reads the hidden states of the one below, a TimeDropout after each
    in training (the masks it drew), none at prediction; the affine layer on the top layer's output."""
    model = m.SimpleRnnlm(rng, time_layer, blocks(time_layer), 1, H, 1, 3, dropout, stateful=False,
                          dtype=np.float64)
    xs = rng.randn(N, T, 1)
    by_hand = [time_layer(*model.params[3 * k:3 * k + 3]) for k in range(3)] + [m.TimeAffine(*model.params[-2:])]
    for train_flg in (True, False):
        ys = model.predict(xs, train_flg)
        hs = xs
        for k, layer in enumerate(by_hand):
            hs = layer.forward(hs)
            if dropout and train_flg and k < 3:
                hs = hs * model.drop_layers[k].mask
        np.testing.assert_array_equal(ys, hs)
    assert len(model.drop_layers) == (3 if dropout else 0)
    assert [param.shape[0] for param in model.params[0:9:3]] == [1, H, H]  # Wx: the input, then the h below
