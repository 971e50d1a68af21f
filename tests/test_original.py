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
    assert type(r.model.recurrent) is m.TimeLSTM and isinstance(r.model.recurrent.layers[0], m.LSTM)
    assert_same_numbers(r, "other_settings")
    monkeypatch.setattr(m, "FAST_LSTM", True)
    assert type(run_with_flags("--epochs", 1).model.recurrent) is m.FastTimeLSTM


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
