"""The original program's numbers (fixtures/reference.npz, made by fixtures/make_reference.py from the
original program itself).

Tolerances as the project's parity check: 1e-5 on the per-epoch loss, 1e-4 on the closed-loop prediction.
The original computes partly in float64 where this script stays in float32, hence not 0.
"""
import os

import numpy as np
import pytest

import train_sin_lstm as m
from conftest import run_with_flags

REFERENCE = np.load(os.path.join(os.path.dirname(__file__), "fixtures", "reference.npz"))
CASES = sorted({key.split(".")[0] for key in REFERENCE.files})


def assert_same_numbers(r, case):
    loss, prediction = REFERENCE[f"{case}.loss"], REFERENCE[f"{case}.prediction"]
    assert r.status == "done"
    assert r.loss.shape == loss.shape
    assert np.max(np.abs(r.loss - loss)) <= 1e-5
    assert r.prediction.shape == prediction.shape
    assert np.max(np.abs(r.prediction - prediction)) <= 1e-4


@pytest.mark.parametrize("case", CASES)
def test_same_numbers_as_the_original(case):
    assert_same_numbers(run_with_flags(*str(REFERENCE[f"{case}.flags"]).split()), case)


def test_the_books_time_lstm_gives_the_originals_numbers_too(monkeypatch):
    """With FAST_LSTM = False the model is the book's TimeLSTM, LSTM layers step by step."""
    monkeypatch.setattr(m, "FAST_LSTM", False)
    r = run_with_flags(*str(REFERENCE["other_settings.flags"]).split())
    assert type(r.model.recurrent_layers[0]) is m.TimeLSTM and isinstance(r.model.recurrent_layers[0].layers[0], m.LSTM)
    assert_same_numbers(r, "other_settings")
    monkeypatch.setattr(m, "FAST_LSTM", True)
    assert type(run_with_flags("--epochs", 1).model.recurrent_layers[0]) is m.FastTimeLSTM


def test_prediction_starts_from_the_clean_sine():
    r = run_with_flags("--epochs", 2, "--time-size", 7)
    np.testing.assert_array_equal(r.prediction[:7], r.clean[:7])
    assert len(r.prediction) == m.N_POINTS


def test_same_seed_same_arrays_other_seed_other_arrays():
    first, again = run_with_flags("--epochs", 15), run_with_flags("--epochs", 15)
    for key in ("loss", "prediction", "noisy"):
        np.testing.assert_array_equal(getattr(first, key), getattr(again, key))
    other = run_with_flags("--epochs", 15, "--seed", 326)
    assert not np.array_equal(first.noisy, other.noisy)
    assert not np.array_equal(first.loss, other.loss)


class OneLayerByHand:
    """The model as the script built it before it could stack layers: the book's TimeLSTM, TimeAffine and the
    loss, nothing else; its weights drawn in the original's order."""

    def __init__(self, rng, H):
        self.layers = [m.TimeLSTM((rng.randn(1, 4 * H) / np.sqrt(1)).astype(np.float32),
                                  (rng.randn(H, 4 * H) / np.sqrt(H)).astype(np.float32),
                                  np.zeros(4 * H, dtype=np.float32), stateful=True),
                       m.TimeAffine((rng.randn(H, 1) / np.sqrt(H)).astype(np.float32), np.zeros(1, np.float32))]
        self.loss_layer = m.TimeMSELoss(True)
        self.params = [param for layer in self.layers for param in layer.params]
        self.grads = [grad for layer in self.layers for grad in layer.grads]

    def predict(self, xs):
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts):
        return self.loss_layer.forward(self.predict(xs), ts)

    def backward(self, dout=1):
        dout = self.loss_layer.backward(dout)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)


def test_one_layer_and_no_dropout_is_the_single_layer_model_digit_for_digit():
    """--layers 1 --dropout 0 (the defaults) trains exactly the model above, in this same environment: the same
    loss and prediction to the last bit (an extra random draw anywhere in training would change the next
    epoch's shuffle), and a model that draws its weights and nothing more."""
    s = m.parse(["--epochs", "30", "--layers", "1", "--dropout", "0"])
    r = m.run(s, s.seed)
    rng = np.random.RandomState(s.seed)
    x, clean = m.sample_sine(s)
    noisy = clean + s.noise * rng.randn(s.n_points)
    xs, ts = m.make_windows(noisy, s.time_size)
    model = OneLayerByHand(rng, s.hidden_size)
    losses, status = m.train(model, m.SGD(s.lr), xs, ts, rng, s)
    np.testing.assert_array_equal(r.loss, losses)
    prediction = m.generate(model, clean[:s.time_size], s.n_points, s.batch_size)
    np.testing.assert_array_equal(r.prediction, prediction)
    script_rng, _, _, _, built = m.data_and_model(s, s.seed)
    hand_rng = np.random.RandomState(s.seed)
    hand_rng.randn(s.n_points), hand_rng.randn(1, 4 * 45), hand_rng.randn(45, 4 * 45), hand_rng.randn(45, 1)
    assert script_rng.randn() == hand_rng.randn()  # the model drew its weights and nothing more
    assert [type(layer) for layer in built.layers] == [m.TimeLSTM, m.TimeAffine] and built.drop_layers == []
