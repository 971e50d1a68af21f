"""Every backward pass against central differences, in float64.

numerical_gradient and relative_error are the script's own (the same check as --gradcheck); the first
tests show that they measure what they claim.  Tolerance: the script's GRADIENT_TOLERANCE, 1e-6.
"""
import numpy as np
import pytest

import train_sin_lstm as m
from conftest import break_gradient

TOL = m.GRADIENT_TOLERANCE
N, T, D, H = 3, 5, 2, 4  # D > 1 and N != H so that a transposed product cannot go unnoticed


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


@pytest.mark.parametrize("arrives", ["every step", "last step only"])
def test_time_lstm(rng, arrives):
    xs = rng.randn(N, T, D)
    Wx, Wh, b = rng.randn(D, 4 * H), rng.randn(H, 4 * H) * 0.5, rng.randn(4 * H)
    h0, c0 = rng.randn(N, H), rng.randn(N, H)
    layer = m.TimeLSTM(Wx, Wh, b, stateful=True)
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


def test_time_lstm_is_lstm_steps_in_sequence(rng):
    """TimeLSTM's faster arrangement computes exactly what T LSTM layers compute."""
    xs, dhs = rng.randn(N, T, D), rng.randn(N, T, H)
    Wx, Wh, b = rng.randn(D, 4 * H), rng.randn(H, 4 * H), rng.randn(4 * H)
    h0, c0 = rng.randn(N, H), rng.randn(N, H)
    time_lstm = m.TimeLSTM(Wx, Wh, b, stateful=True)
    time_lstm.set_state(h0, c0)
    hs = time_lstm.forward(xs)
    dxs = time_lstm.backward(dhs)

    steps = [m.LSTM(Wx, Wh, b) for _ in range(T)]
    h, c, expected_hs = h0, c0, []
    for t, step in enumerate(steps):
        h, c = step.forward(xs[:, t], h, c)
        expected_hs.append(h)
    dh, dc, expected_dxs, expected_grads = 0, 0, [None] * T, [0, 0, 0]
    for t in reversed(range(T)):
        expected_dxs[t], dh, dc = steps[t].backward(dhs[:, t] + dh, dc)
        expected_grads = [total + grad for total, grad in zip(expected_grads, steps[t].grads)]

    np.testing.assert_allclose(hs, np.stack(expected_hs, axis=1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(time_lstm.h, h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(time_lstm.c, c, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dxs, np.stack(expected_dxs, axis=1), rtol=0, atol=1e-12)
    for got, want in zip(time_lstm.grads, expected_grads):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_time_lstm_stateful_carries_state_and_stateless_does_not(rng):
    Wx, Wh, b = rng.randn(D, 4 * H), rng.randn(H, 4 * H), rng.randn(4 * H)
    xs = rng.randn(N, T, D)
    stateful, stateless = m.TimeLSTM(Wx, Wh, b, stateful=True), m.TimeLSTM(Wx, Wh, b, stateful=False)
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


@pytest.mark.parametrize("loss", m.LOSSES)
@pytest.mark.parametrize("stateful", [True, False])
def test_whole_model(rng, loss, stateful):
    model = m.SimpleRnnlm(rng, hidden_size=H, stateful=stateful, many_to_one=loss == "many-to-one",
                          dtype=np.float64)
    xs, ts = rng.randn(N, T, 1), rng.randn(N, T, 1)
    h0, c0 = rng.randn(N, H), rng.randn(N, H)
    errors = m.model_gradient_errors(model, xs, ts, h0, c0)
    assert len(errors) == len(model.params) == len(m.PARAM_NAMES)
    assert max(errors) <= TOL, dict(zip(m.PARAM_NAMES, errors))


def test_whole_model_check_catches_a_wrong_gradient(rng, monkeypatch):
    """The check used by --gradcheck fails when a backward pass is wrong (here: dWh off by 1%)."""
    break_gradient(monkeypatch, m.TimeLSTM, 1, 1.01)
    model = m.SimpleRnnlm(rng, hidden_size=H, dtype=np.float64)
    errors = m.model_gradient_errors(model, rng.randn(N, T, 1), rng.randn(N, T, 1))
    assert errors[1] > TOL and max(errors[:1] + errors[2:]) <= TOL
