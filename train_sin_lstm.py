#!/usr/bin/env python3
"""Train an LSTM on a noisy sine wave in plain NumPy, then let it draw the wave on its own.

A faithful port of a learner's program built from *Deep Learning from Scratch 2* (the book): the RNNLM
training code of chapter 5 turned into sine-wave regression with the LSTM layers of chapter 6.  It keeps
that program's numbers.  Where each piece of the book is:

    sigmoid          common/functions.py     sigmoid, in one line
    SGD              common/optimizer.py     SGD
    clip_grads       common/util.py          clip_grads: all gradients scaled together to a norm of at most G
    TimeAffine       common/time_layers.py   TimeAffine
    TimeMSELoss      common/time_layers.py   in place of TimeSoftmaxWithLoss: squared error, last step or all
    LSTM             common/time_layers.py   LSTM, one time step, with its gate equations and derivatives
    TimeLSTM         common/time_layers.py   TimeLSTM: T LSTM layers, forward in order, backward in reverse
    FastTimeLSTM     (not in the book)       the same numbers as TimeLSTM, arranged for speed; the default
    SimpleRnnlm      ch05/simple_rnnlm.py    SimpleRnnlm without its embedding, the LSTM of ch06/rnnlm.py
    train            ch05/train_custom_loop.py   the custom training loop: shuffle, minibatches, SGD
    run              the whole story of one run, in the order of that loop, then the closed-loop prediction

Shapes are named as in the book: N batch, T time steps, D input size, H hidden size.  Read from the top to
the divider "Tooling"; what follows it (settings checks, files, figures, processes and signals, sweeps, the
command line) serves the run but is not part of the story.

    python train_sin_lstm.py              # train, predict, save results/ and show the figures
    python train_sin_lstm.py --help       # every setting
"""
import signal

# Run as a script, Ctrl-C, TERM and HUP are held while the libraries load, for main() to act on them.
HELD_SIGNALS = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]
if __name__ == "__main__" and hasattr(signal, "pthread_sigmask"):
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

# Set before NumPy loads.  The matrices here are tiny, so BLAS threads cannot help: they would only
# spin on the core that a second process (training while the first one loads matplotlib) needs.
os.environ.update({name: os.environ.get(name, "1")
                   for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
import numpy as np  # noqa: E402

# ----------------------------------------------------------------------------------------------------------
# Settings.  The defaults are the original program's; command-line flags override them.
# ----------------------------------------------------------------------------------------------------------
SEED = 773             # the original author tried 773, 326, 512 and 138
BATCH_SIZE = 10        # windows per minibatch
TIME_SIZE = 10         # steps per window = truncated-BPTT length
HIDDEN_SIZE = 45       # LSTM units
LEARNING_RATE = 0.008  # plain SGD
EPOCHS = 301
LOSS = "many-to-one"   # or "many-to-many": score every step, the original's commented-out variant
STATEFUL = True        # carry the LSTM's state from one minibatch to the next, and into prediction
FUTURE = 0             # closed-loop steps to generate past the end of the data
MAX_GRAD = None        # the book's gradient clipping: a largest norm for all gradients together (None: off)
SNAPSHOTS = 0          # closed-loop predictions taken during training, to watch the model learn (0: none)

N_POINTS = 101         # samples of the sine over [X_MIN, X_MAX]
X_MIN, X_MAX = -2 * math.pi, 2 * math.pi
NOISE = 0.05           # standard deviation of the Gaussian noise added to the training series

ANIMATION_FRAMES = 30  # snapshots for --animate when --snapshots is not given
FAST_LSTM = True       # the model's LSTM: FastTimeLSTM (same numbers, about twice as fast) or the book's TimeLSTM
OUT_DIR = "results"    # where figures and arrays are written
GPU = False            # kept from the original; this script runs on the CPU only

LOSSES = ("many-to-one", "many-to-many")
MAX_HIDDEN_SIZE, MAX_FUTURE, MAX_SNAPSHOTS = 4096, 10000, 10000  # beyond these a run takes too much memory or time to be useful


# ----------------------------------------------------------------------------------------------------------
# Layers, as in the book: each has lists params and grads and a forward/backward pair, and computes in
# the dtype of its parameters (float32 for training, float64 for gradient checks).
# ----------------------------------------------------------------------------------------------------------
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class SGD:
    """Stochastic gradient descent: p <- p - lr * dL/dp, in place."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for param, grad in zip(params, grads):
            param -= self.lr * grad


def clip_grads(grads, max_norm):
    """Scale all gradients together, in place, when their joint L2 norm exceeds max_norm:
    every gradient times max_norm / (norm + 1e-6), as the book's trainer does with max_grad."""
    norm = np.sqrt(sum(np.sum(grad ** 2) for grad in grads))
    rate = max_norm / (norm + 1e-6)
    if rate < 1:
        for grad in grads:
            grad *= rate


class TimeAffine:
    """y = x W + b at every time step: (N, T, H) -> (N, T, O)."""

    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        N, T, H = x.shape
        W, b = self.params
        self.x = x
        return (np.dot(x.reshape(N * T, H), W) + b).reshape(N, T, -1)

    def backward(self, dout):
        N, T, H = self.x.shape
        W, b = self.params
        dout = dout.reshape(N * T, -1)  # (N*T, O)
        self.grads[0][...] = np.dot(self.x.reshape(N * T, H).T, dout)
        self.grads[1][...] = dout.sum(axis=0)
        return np.dot(dout, W.T).reshape(N, T, H)


class TimeMSELoss:
    """L = 0.5 * sum((y - t)^2) / N over the last step (many-to-one) or over all T steps (many-to-many).

    backward(dout) returns dL/dy * dout = (y - t) * dout / N on the scored steps and 0 elsewhere.
    """

    def __init__(self, many_to_one=True):
        self.many_to_one = many_to_one
        self.err = None

    def forward(self, ys, ts):
        N = ys.shape[0]
        self.err = ys - ts                              # (N, T, 1)
        if self.many_to_one:
            self.err[:, :-1] = 0
            return 0.5 * np.sum(self.err[:, -1] ** 2) / N
        return 0.5 * np.sum(self.err ** 2) / N

    def backward(self, dout=1):
        N = self.err.shape[0]
        return self.err * dout / N


class LSTM:
    """One LSTM time step for a batch of N sequences, input size D, hidden size H.

    Forward.  A = x Wx + h_prev Wh + b has shape (N, 4H): four blocks of H columns, in the order
    f, g, i, o (forget gate, candidate, input gate, output gate):

        f = sigmoid(A_f)    g = tanh(A_g)    i = sigmoid(A_i)    o = sigmoid(A_o)
        c_next = f * c_prev + g * i
        h_next = o * tanh(c_next)

    Backward.  Given dh_next and dc_next, the gradients of the loss arriving at h_next and c_next,
    and the slopes sigmoid'(A) = s (1 - s), tanh'(A) = 1 - tanh(A)^2:

        ds   = dc_next + dh_next * o * (1 - tanh(c_next)^2)     all that reaches c_next
        dc_prev = ds * f
        dA_f = ds * c_prev           * f (1 - f)
        dA_g = ds * i                * (1 - g^2)
        dA_i = ds * g                * i (1 - i)
        dA_o = dh_next * tanh(c_next) * o (1 - o)
        dWx = x^T dA    dWh = h_prev^T dA    db = dA summed over the batch
        dx  = dA Wx^T   dh_prev = dA Wh^T
    """

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        Wx, Wh, b = self.params
        H = Wh.shape[0]
        A = np.dot(x, Wx) + np.dot(h_prev, Wh) + b      # (N, 4H)
        f = sigmoid(A[:, :H])
        g = np.tanh(A[:, H:2 * H])
        i = sigmoid(A[:, 2 * H:3 * H])
        o = sigmoid(A[:, 3 * H:])
        c_next = f * c_prev + g * i
        h_next = o * np.tanh(c_next)
        self.cache = (x, h_prev, c_prev, f, g, i, o, c_next)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        Wx, Wh, b = self.params
        x, h_prev, c_prev, f, g, i, o, c_next = self.cache
        tanh_c = np.tanh(c_next)
        ds = dc_next + dh_next * o * (1 - tanh_c ** 2)
        dA_f = ds * c_prev * f * (1 - f)
        dA_g = ds * i * (1 - g ** 2)
        dA_i = ds * g * i * (1 - i)
        dA_o = dh_next * tanh_c * o * (1 - o)
        dA = np.hstack((dA_f, dA_g, dA_i, dA_o))        # (N, 4H)
        self.grads[0][...] = np.dot(x.T, dA)
        self.grads[1][...] = np.dot(h_prev.T, dA)
        self.grads[2][...] = dA.sum(axis=0)
        return np.dot(dA, Wx.T), np.dot(dA, Wh.T), ds * f   # dx, dh_prev, dc_prev


class TimeLSTM:
    """The LSTM step run over T steps: xs (N, T, D) -> hs (N, T, H).

    forward makes one LSTM layer per step, all sharing the parameters, and runs them in order; backward runs
    them in reverse, each step's dh being what arrives from the output at t plus what step t+1 sends back,
    and sums their weight gradients.  With stateful=True the last h and c of one call are the first of the
    next (set_state and reset_state change them); the gradient still stops at each call's first step
    (truncated BPTT).
    """

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = None
        self.h, self.c = None, None
        self.stateful = stateful

    def forward(self, xs):
        Wx, Wh, b = self.params
        N, T, D = xs.shape
        H = Wh.shape[0]
        self.layers = []
        hs = np.empty((N, T, H), dtype=Wh.dtype)
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype=Wh.dtype)
        if not self.stateful or self.c is None:
            self.c = np.zeros((N, H), dtype=Wh.dtype)
        for t in range(T):
            layer = LSTM(*self.params)
            self.h, self.c = layer.forward(xs[:, t, :], self.h, self.c)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        Wx, Wh, b = self.params
        N, T, H = dhs.shape
        D = Wx.shape[0]
        dxs = np.empty((N, T, D), dtype=dhs.dtype)
        dh, dc = 0, 0
        grads = [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh, dc = layer.backward(dhs[:, t, :] + dh, dc)
            dxs[:, t, :] = dx
            for k, grad in enumerate(layer.grads):
                grads[k] += grad
        for k, grad in enumerate(grads):
            self.grads[k][...] = grad
        return dxs

    def set_state(self, h, c=None):
        self.h, self.c = h, c

    def reset_state(self):
        self.h, self.c = None, None

    def last_step(self):
        """f, g, i, o, c and h of the last forward pass's last step, (N, H) each (not in the book)."""
        x, h_prev, c_prev, f, g, i, o, c_next = self.layers[-1].cache
        return f, g, i, o, c_next, self.h


class FastTimeLSTM(TimeLSTM):
    """TimeLSTM's numbers, about twice as fast (the tests hold the two equal, values and gradients).

    What it rearranges:
    - arrays are time-major and transposed: h_t is (H, N) and the gates of step t are (4, H, N), so each
      gate is a contiguous block, on which NumPy is about twice as fast as on the column blocks of (N, 4H);
    - what does not depend on the previous step (x Wx, the gates' local derivatives, the weight gradients)
      is computed for all T steps at once; only the recurrence runs step by step;
    - the gates are computed in place, in one buffer, to make fewer temporary arrays.
    """

    def forward(self, xs):
        Wx, Wh, b = self.params
        N, T, D = xs.shape
        H = Wh.shape[0]
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype=Wh.dtype)
        if not self.stateful or self.c is None:
            self.c = np.zeros((N, H), dtype=Wh.dtype)

        xs = xs.transpose(1, 0, 2).reshape(T * N, D)    # rows in (t, n) order
        xWx = np.dot(xs, Wx).reshape(T, N, 4, H).transpose(0, 2, 3, 1).copy()  # (T, 4, H, N), all steps
        bias = b.reshape(4, H, 1)
        WhT = Wh.T
        gates = np.empty((T, 4, H, N), dtype=Wh.dtype)  # f, g, i, o of every step
        gate_rows = gates.reshape(T, 4 * H, N)          # the same memory, as np.dot's output
        h, c = self.h.T, self.c.T                       # (H, N)
        hs, cs, tanh_cs = [h], [c], []                  # h and c entering each step, then the last
        for t in range(T):
            a = gates[t]                                # A, then the gates, in place
            np.dot(WhT, h, out=gate_rows[t])            # A = Wh^T h_prev + Wx^T x + b
            a += xWx[t]
            a += bias
            tanh_g = np.tanh(a[1])
            sigmoid_in_place(a)                         # one call for f, i, o (and g, restored next)
            a[1] = tanh_g
            f, g, i, o = a
            c = f * c + g * i
            tanh_c = np.tanh(c)
            h = o * tanh_c
            hs.append(h)
            cs.append(c)
            tanh_cs.append(tanh_c)
        self.h, self.c = h.T, c.T
        self.cache = (xs, hs, cs, gates, tanh_cs)
        return np.array(hs[1:]).transpose(2, 0, 1)   # np.array of a list: a faster np.stack

    def backward(self, dhs):
        Wx, Wh, b = self.params
        xs, hs, cs, gates, tanh_cs = self.cache
        N, T, H = dhs.shape
        dhs = dhs.transpose(1, 2, 0)                    # (T, H, N)
        f, g, i, o = gates.transpose(1, 0, 2, 3).copy()  # (T, H, N) each, contiguous: faster below
        c_prev, tanh_c = np.array(cs[:T]), np.array(tanh_cs)  # (T, H, N)
        # LSTM.backward's dA lines without their ds (or dh): the local factors, for all steps at once
        factors = np.array((c_prev * f * (1 - f), i * (1 - g ** 2), g * i * (1 - i), tanh_c * o * (1 - o)))
        dh_dc = o * (1 - tanh_c ** 2)                   # d h_t / d c_t
        dA = np.empty_like(gates)
        dA_rows = dA.reshape(T, 4 * H, N)
        dh, dc = dhs[T - 1], 0                          # nothing arrives from beyond the last step
        for t in reversed(range(T)):
            ds = dh * dh_dc[t] + dc
            np.multiply(ds, factors[:3, t], out=dA[t, :3])
            np.multiply(dh, factors[3, t], out=dA[t, 3])
            if t > 0:                                   # truncated BPTT: nothing flows past step 0
                dc = ds * f[t]
                dh = dhs[t - 1] + np.dot(Wh, dA_rows[t])  # from the output at t-1 and from step t
        # The weight gradients are sums over the steps and the batch: one product each, on rows (t, n).
        dA = dA_rows.transpose(0, 2, 1).reshape(T * N, 4 * H)
        hs_prev = np.array(hs[:T]).transpose(0, 2, 1).reshape(T * N, H)
        self.grads[0][...] = np.dot(xs.T, dA)
        self.grads[1][...] = np.dot(hs_prev.T, dA)
        self.grads[2][...] = dA.sum(axis=0)
        return np.dot(dA, Wx.T).reshape(T, N, -1).transpose(1, 0, 2)

    def last_step(self):
        xs, hs, cs, gates, tanh_cs = self.cache
        return (*(gate.T for gate in gates[-1]), self.c, self.h)


def sigmoid_in_place(a):
    """a <- sigmoid(a), without temporary arrays."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.divide(1, a, out=a)


class SimpleRnnlm:
    """The book's SimpleRnnlm turned regressor: TimeLSTM -> TimeAffine -> TimeMSELoss (no embedding).

    Parameters are drawn from rng in the original's order: LSTM Wx, LSTM Wh, Affine W.  The LSTM layer is
    FastTimeLSTM, or the book's TimeLSTM when FAST_LSTM is False.
    """

    def __init__(self, rng, input_size=1, hidden_size=HIDDEN_SIZE, output_size=1, stateful=True,
                 many_to_one=True, dtype=np.float32):
        D, H, O = input_size, hidden_size, output_size
        lstm_Wx = (rng.randn(D, 4 * H) / np.sqrt(D)).astype(dtype)
        lstm_Wh = (rng.randn(H, 4 * H) / np.sqrt(H)).astype(dtype)
        lstm_b = np.zeros(4 * H, dtype=dtype)
        affine_W = (rng.randn(H, O) / np.sqrt(H)).astype(dtype)
        affine_b = np.zeros(O, dtype=dtype)

        time_lstm = FastTimeLSTM if FAST_LSTM else TimeLSTM
        self.lstm_layer = time_lstm(lstm_Wx, lstm_Wh, lstm_b, stateful=stateful)
        self.layers = [self.lstm_layer, TimeAffine(affine_W, affine_b)]
        self.loss_layer = TimeMSELoss(many_to_one)
        self.params, self.grads = [], []
        for layer in self.layers:
            self.params += layer.params
            self.grads += layer.grads

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
        return dout


PARAM_NAMES = ["LSTM Wx", "LSTM Wh", "LSTM b", "Affine W", "Affine b"]  # the order of model.params


# ----------------------------------------------------------------------------------------------------------
# Data: a noisy sine, cut into overlapping windows.  The model sees samples 0..T-1 of a window and is
# asked, at every step, for the next sample.
# ----------------------------------------------------------------------------------------------------------
def make_series(rng):
    """Return x, the clean sine at x, and the noisy training series (the first draw from rng)."""
    x = np.linspace(X_MIN, X_MAX, N_POINTS)
    clean = np.sin(x)
    noisy = clean + NOISE * rng.randn(N_POINTS)
    return x, clean, noisy


def make_windows(series, time_size):
    """Cut series into windows of time_size steps with targets one step ahead.

    Returns xs and ts of shape (n_windows, T, 1), float32, where n_windows = len(series) - 1 - T,
    xs[k, j] = series[k + j] and ts[k, j] = series[k + j + 1].
    """
    inputs, targets = series[:-1], series[1:]
    starts = np.arange(len(inputs) - time_size)
    index = starts[:, None] + np.arange(time_size)  # (n_windows, T)
    return (inputs[index][:, :, None].astype(np.float32),
            targets[index][:, :, None].astype(np.float32))


# ----------------------------------------------------------------------------------------------------------
# Training: chapter 5's custom training loop.  Every epoch shuffles the windows and walks through them in
# minibatches of consecutive shuffled windows.  The LSTM stays stateful across those unrelated
# minibatches, as in the original.
# ----------------------------------------------------------------------------------------------------------
def train(model, optimizer, xs, ts, rng, epochs, batch_size, n_batches, grad_scale, max_grad=None,
          report=None, should_stop=None):
    """Train in place; return (losses, status).

    losses[e] is epoch e+1's sum of its n_batches minibatch losses (the figure the original records and
    plots).  status is "done", "diverged" (a minibatch loss stopped being finite; that epoch is not in
    losses) or "interrupted" (should_stop() turned true; the unfinished epoch is not in losses).
    grad_scale multiplies the loss gradient fed to backward; max_grad, if given, clips the gradients.
    """
    losses = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(xs))
        epoch_loss = 0  # summed in the model's dtype, as the original does
        for k in range(n_batches):
            batch = order[k * batch_size:(k + 1) * batch_size]
            loss = model.forward(xs[batch], ts[batch])
            if not math.isfinite(loss):
                return losses, "diverged"
            model.backward(grad_scale)
            if max_grad is not None:
                clip_grads(model.grads, max_grad)
            optimizer.update(model.params, model.grads)
            epoch_loss += loss
            if should_stop is not None and should_stop():
                return losses, "interrupted"
        losses.append(float(epoch_loss))
        if report is not None:
            report(epoch, float(epoch_loss))
    return losses, "done"


# ----------------------------------------------------------------------------------------------------------
# Prediction: closed loop.  Start from time_size samples of the clean sine; each new sample is the model's
# output for the last time_size samples, the model feeding on its own outputs from then on.
# ----------------------------------------------------------------------------------------------------------
def generate(model, start, length, batch_size, gates=None):
    """Return a series of `length` values: `start`, then the model's own continuation.

    As in the original, the window is copied into every row of a batch of batch_size (the model's state
    has that many rows) and row 0's output at the last step is the next value.  With gates, a dict, the
    LSTM's f, g, i, o, c and h at that step in row 0 are appended to its lists, one (H,) array per point.
    """
    T = len(start)
    series = np.zeros(length)
    series[:T] = start
    window = np.empty((batch_size, T, 1), dtype=model.params[0].dtype)
    for j in range(length - T):
        window[:] = series[j:j + T, None]
        series[j + T] = model.predict(window)[0, -1, 0]
        if gates is not None:
            for name, value in zip(GATE_NAMES, model.lstm_layer.last_step()):
                gates.setdefault(name, []).append(value[0])
    return series


GATE_NAMES = ("gate_f", "gate_g", "gate_i", "gate_o", "cell", "hidden")


def generate_keeping_state(model, start, length, batch_size):
    """generate(), then the LSTM's state put back: a look at the model in training that changes nothing."""
    h, c = model.lstm_layer.h, model.lstm_layer.c
    series = generate(model, start, length, batch_size)
    model.lstm_layer.set_state(h, c)
    return series


def snapshot_epochs(count, epochs):
    """count distinct epochs from 1 to epochs, roughly geometric (the fast early part is seen), the last
    included; every epoch when count >= epochs."""
    if count >= epochs:
        return list(range(1, epochs + 1))
    chosen = []
    for k in range(count):
        target = round(epochs ** (k / (count - 1))) if count > 1 else epochs
        chosen.append(max(target, chosen[-1] + 1 if chosen else 1))
    for k in reversed(range(count)):  # pushed past the end: pull back, keeping them distinct
        chosen[k] = min(chosen[k], epochs - (count - 1 - k))
    return chosen


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2))) if len(a) else float("nan")


# ----------------------------------------------------------------------------------------------------------
# One run, the whole story: data, model, the training loop, the closed-loop prediction.
# ----------------------------------------------------------------------------------------------------------
def run(settings, seed, report=None, should_stop=None):
    """One experiment, in the order of the original program.  Returns a dict of results."""
    s = settings
    rng = np.random.RandomState(seed)       # one stream: the noise, then the weights, then the shuffling
    x, clean, noisy = make_series(rng)
    xs, ts = make_windows(noisy, s.time_size)
    model = SimpleRnnlm(rng, hidden_size=s.hidden_size, stateful=s.stateful,
                        many_to_one=s.loss == "many-to-one")
    optimizer = SGD(s.lr)

    # The original's two quirks, kept because its numbers depend on them:
    n_batches = (N_POINTS - 1) // s.batch_size - 1  # 100 // 10 - 1 = 9 minibatches an epoch, not 10
    # its many-to-one backward leaves out the 1/N its loss divides by: the SGD step is batch_size times
    # the loss's gradient
    grad_scale = s.batch_size if s.loss == "many-to-one" else 1

    x_future = X_MAX + (X_MAX - X_MIN) / (N_POINTS - 1) * np.arange(1, s.future + 1)
    x_all = np.concatenate((x, x_future))
    clean_all = np.concatenate((clean, np.sin(x_future)))
    start = clean[:s.time_size]             # the warm-up of the closed-loop prediction

    # Snapshots (--snapshots, --animate): after chosen epochs, the prediction the model would make if training
    # stopped there, taken without changing training (the state is put back; no random number is drawn).
    wanted = snapshot_epochs(s.snapshots or (ANIMATION_FRAMES if s.animate else 0), s.epochs)
    snapshots = []

    def after_epoch(epoch, loss):
        if epoch in wanted:
            snapshots.append(generate_keeping_state(model, start, len(x_all), s.batch_size))
        if report is not None:
            report(epoch, loss)

    started = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected and reported instead
        losses, status = train(model, optimizer, xs, ts, rng, s.epochs, s.batch_size, n_batches, grad_scale,
                               s.max_grad, after_epoch, should_stop)
        layer, H = model.lstm_layer, s.hidden_size
        carried = s.stateful and layer.h is not None
        h0 = layer.h.copy() if carried else np.zeros((s.batch_size, H), np.float32)  # prediction starts here
        c0 = layer.c.copy() if carried else np.zeros((s.batch_size, H), np.float32)
        gates = {} if s.gates else None
        if status == "diverged":
            prediction = np.full(len(x_all), np.nan)
        else:
            prediction = generate(model, start, len(x_all), s.batch_size, gates)
    T = s.time_size
    return {
        "loss": np.array(losses),
        "prediction": prediction,
        "x": x_all,
        "clean": clean_all,
        "noisy": noisy,
        "final_loss": losses[-1] if losses else float("nan"),
        "rmse": rmse(prediction[T:N_POINTS], clean[T:]),
        "future_rmse": rmse(prediction[N_POINTS:], clean_all[N_POINTS:]),
        "seconds": time.perf_counter() - started,
        "status": status,
        "seed": seed,
        # the trained model, as the book's save_params, and the state the prediction starts from
        **dict(zip(("lstm_Wx", "lstm_Wh", "lstm_b", "affine_W", "affine_b"), model.params)),
        "prediction_h0": h0,
        "prediction_c0": c0,
        **({"snapshot_epochs": np.array(wanted[:len(snapshots)]), "snapshots": np.array(snapshots)}
           if wanted else {}),
        **{name: np.array(values) for name, values in (gates or {}).items()},
    }


# ----------------------------------------------------------------------------------------------------------
# Gradient check: backward against central differences, in float64.  --gradcheck shows it; the tests use it.
# ----------------------------------------------------------------------------------------------------------
def numerical_gradient(f, x, eps=1e-5):
    """dF/dx by central differences (f(x + eps) - f(x - eps)) / 2 eps, one entry of x at a time.

    f takes no arguments and reads x, which is changed in place and restored.
    """
    grad = np.zeros_like(x)
    flat, flat_grad = x.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat, x), "x must be contiguous"
    for k in range(flat.size):
        kept = flat[k]
        flat[k] = kept + eps
        f_plus = f()
        flat[k] = kept - eps
        f_minus = f()
        flat[k] = kept
        flat_grad[k] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """max |a - b| over the array, relative to the largest magnitude in either (0 when both are 0)."""
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else 0.0


def model_gradient_errors(model, xs, ts, h0=None, c0=None, report=None):
    """Relative error of backward's gradient of the loss for each of model.params (see relative_error).

    Every evaluation starts the LSTM from the state (h0, c0) (zeros when None).  report(k, error), if given,
    is called as soon as parameter k is checked.
    """
    def loss():
        model.lstm_layer.set_state(h0, c0)
        return model.forward(xs, ts)

    loss()
    model.backward()
    analytic = [grad.copy() for grad in model.grads]
    errors = []
    for k, (param, grad) in enumerate(zip(model.params, analytic)):
        errors.append(relative_error(grad, numerical_gradient(loss, param)))
        if report is not None:
            report(k, errors[-1])
    return errors


GRADIENT_TOLERANCE = 1e-6  # largest relative error a checked gradient may have


def gradient_check(s):
    """Check every parameter's gradient of the model these settings build; print a table; exit status."""
    rng = np.random.RandomState(s.seed)     # the run's data and initial weights, in float64
    _, _, noisy = make_series(rng)
    xs, ts = (array.astype(np.float64) for array in make_windows(noisy, s.time_size))
    model = SimpleRnnlm(rng, hidden_size=s.hidden_size, stateful=s.stateful,
                        many_to_one=s.loss == "many-to-one", dtype=np.float64)
    B = s.batch_size
    h0 = c0 = None
    if s.stateful:  # check from a carried-in state, as in training: the one other windows leave
        model.predict(xs[-B:])
        h0, c0 = model.lstm_layer.h.copy(), model.lstm_layer.c.copy()
    print(f"gradient check: float64, central differences, batch {B}, time size {s.time_size}, "
          f"hidden size {s.hidden_size}, {s.loss}, {'stateful' if s.stateful else 'stateless'}")
    started = time.perf_counter()
    model.forward(xs[:B], ts[:B])
    evaluations = 2 * sum(param.size for param in model.params)  # two forward passes per parameter
    seconds = evaluations * (time.perf_counter() - started)
    print(f"{evaluations} forward passes: about {duration_text(seconds)}"
          f"{' (Ctrl-C stops it; a smaller --hidden-size is quicker)' if seconds > 600 else ''}", flush=True)

    def report(k, error):
        verdict = "ok" if error <= GRADIENT_TOLERANCE else "WRONG"
        print(f"{PARAM_NAMES[k]:<10} {str(model.params[k].shape):>10} {error:>15.2e}  {verdict}", flush=True)

    print(f"{'parameter':<10} {'shape':>10} {'max rel. error':>15}")
    errors = model_gradient_errors(model, xs[:B], ts[:B], h0, c0, report)
    bad = sum(error > GRADIENT_TOLERANCE for error in errors)
    print(f"{len(errors) - bad} of {len(errors)} within {GRADIENT_TOLERANCE:g}")
    return 1 if bad else 0


def duration_text(seconds):
    """12 s, 7 min, 3.5 h, 2.1 days."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.2g} {unit}"
    return f"{seconds:.0f} s"


# ==========================================================================================================
# Tooling.  The story ends above.  What follows serves a run: settings checks, files, figures, worker
# processes and signals, sweeps, the command line.
# ==========================================================================================================

# ----------------------------------------------------------------------------------------------------------
# Settings check: every setting, from a flag or from the constants above, before any work starts.
# ----------------------------------------------------------------------------------------------------------
class SettingError(Exception):
    """A setting that cannot work; the message names it, its value and what would work."""


def ranges_text(numbers):
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10'."""
    parts, start = [], None
    for k, n in enumerate(numbers):
        start = n if start is None else start
        if k + 1 == len(numbers) or numbers[k + 1] != n + 1:
            parts.append(str(n) if n == start else f"{start}-{n}")
            start = None
    return ", ".join(parts)


def check_whole(name, value, low, high=None, why=""):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
            high is not None and value > high):
        limits = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise SettingError(f"{name} = {value!r}: must be a whole number {limits}{why}")


def check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise SettingError(f"{name} = {value!r}: must be a finite number above 0")


def minibatches_per_epoch(batch_size):
    """The original's count, as run() computes it: (N_POINTS - 1) // batch_size - 1."""
    return (N_POINTS - 1) // batch_size - 1


def windows_needed(batch_size):
    return batch_size * minibatches_per_epoch(batch_size)


def check_settings(s):
    """Raise SettingError for the first setting in s (or among the constants) that cannot work."""
    if GPU:
        raise SettingError("GPU = True: this script runs on the CPU only; set GPU = False")
    if not (isinstance(N_POINTS, int) and N_POINTS >= 3):
        raise SettingError(f"N_POINTS = {N_POINTS!r}: must be a whole number of at least 3")
    if not (isinstance(NOISE, (int, float)) and 0 <= NOISE < math.inf):
        raise SettingError(f"NOISE = {NOISE!r}: must be a finite number of at least 0")
    if not (isinstance(X_MIN, (int, float)) and isinstance(X_MAX, (int, float))
            and -math.inf < X_MIN < X_MAX < math.inf):
        raise SettingError(f"X_MIN, X_MAX = {X_MIN!r}, {X_MAX!r}: must be finite with X_MIN < X_MAX")
    for seed in [s.seed] + list(s.seeds or []):
        check_whole("--seed (SEED)", seed, 0, 2 ** 32 - 1, " (NumPy's seeds)")
    check_whole("--epochs (EPOCHS)", s.epochs, 1)
    n_inputs = N_POINTS - 1
    check_whole("--batch-size (BATCH_SIZE)", s.batch_size, 1, n_inputs // 2,
                f" (a larger one leaves no minibatch in an epoch of {n_inputs} inputs)")
    check_whole("--time-size (TIME_SIZE)", s.time_size, 1, n_inputs - 1)
    check_whole("--hidden-size (HIDDEN_SIZE)", s.hidden_size, 1, MAX_HIDDEN_SIZE)
    check_positive("--lr (LEARNING_RATE)", s.lr)
    if s.max_grad is not None:
        check_positive("--max-grad (MAX_GRAD)", s.max_grad)
    check_whole("--future (FUTURE)", s.future, 0, MAX_FUTURE)
    check_whole("--snapshots (SNAPSHOTS)", s.snapshots, 0, MAX_SNAPSHOTS)
    if s.loss not in LOSSES:
        raise SettingError(f"--loss (LOSS) = {s.loss!r}: must be one of {', '.join(LOSSES)}")
    if not isinstance(s.stateful, bool):
        raise SettingError(f"STATEFUL = {s.stateful!r}: must be True or False")
    if not isinstance(FAST_LSTM, bool):
        raise SettingError(f"FAST_LSTM = {FAST_LSTM!r}: must be True or False")

    B, T = s.batch_size, s.time_size
    n_windows = n_inputs - T
    if windows_needed(B) > n_windows:
        longest = n_inputs - windows_needed(B)
        batches = [b for b in range(1, n_inputs // 2 + 1) if windows_needed(b) <= n_windows]
        advice = f"use --time-size {longest} or less"
        if batches:
            advice += f", or with --time-size {T} a batch size in {ranges_text(batches)}"
        raise SettingError(
            f"--batch-size {B} with --time-size {T}: an epoch takes "
            f"{minibatches_per_epoch(B)} minibatches x {B} = {windows_needed(B)} windows, "
            f"but {n_inputs} inputs give only {n_windows} windows of {T} steps; {advice}")
    grid_settings(s)  # every combination of --grid, checked as these settings


def check_matplotlib():
    """A run draws its figures with matplotlib: say so before training if it is missing."""
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except ImportError:
        found = False
    if not found:
        raise SettingError("matplotlib is not installed, and a run draws its figures with it: "
                           "pip install -r requirements.txt (--gradcheck works without it)")


def prepare_out_dir(path):
    """Create the output folder and make sure a file can be written there, before any training."""
    probe = os.path.join(path, f".write-test-{os.getpid()}")
    try:
        os.makedirs(path, exist_ok=True)
        open(probe, "wb").close()
        os.remove(probe)
    except OSError as e:
        raise SettingError(f"--out {path}: cannot write there ({e.strerror or e})") from None


# ----------------------------------------------------------------------------------------------------------
# Output.  Each kind of run owns a fixed set of file names in --out and writes or removes every one of them,
# so that the folder never shows files of two runs of the same kind.  Each file is written to a temporary
# name and renamed over the old one, so that a failed or interrupted write never leaves a broken file.
# ----------------------------------------------------------------------------------------------------------
RUN_FILES = ("results.npz", "loss.png", "waveform.png", "learning.png", "learning.gif", "gates.png")
SWEEP_FILES = ("sweep.csv", "sweep.npz", "sweep.png")
GRID_FILES = ("grid.csv", "grid.npz", "grid.png")


class WriteError(Exception):
    """A file that could not be written; the message names it, the reason and what was written before."""


class Output:
    """The files of one run in folder, of the kind whose file names are `owned`.

    plan(names) removes the owned files that this run will not write (an earlier run's); then each write
    goes through write(), which keeps the list of what was written.
    """

    def __init__(self, folder, owned):
        self.folder, self.owned = folder, owned
        self.planned, self.written, self.removed = [], [], []

    def path(self, name):
        return os.path.join(self.folder, name)

    def plan(self, names):
        self.planned = list(names)
        for name in self.owned:
            if name not in self.planned and os.path.exists(self.path(name)):
                os.remove(self.path(name))
                self.removed.append(name)

    def write(self, name, write):
        """Call write(f) on a new temporary file beside the file `name`, then rename it to `name`."""
        path = self.path(name)
        root, extension = os.path.splitext(path)
        tmp = f"{root}.{os.getpid()}.tmp{extension}"  # the extension kept: Pillow reads the format from it
        try:
            with open(tmp, "wb") as f:
                write(f)
            os.replace(tmp, path)
        except BaseException as e:
            if os.path.exists(tmp):
                os.remove(tmp)
            if isinstance(e, OSError):
                raise WriteError(f"could not write {path} ({e.strerror or e}); "
                                 f"{self.written_text() or 'nothing written'}") from None
            raise
        self.written.append(name)

    def arrays(self, name, arrays):
        """An .npz of the arrays, with `files`: the names of the files this run writes."""
        self.write(name, lambda f: np.savez(f, files=np.array(self.planned), **arrays))

    def figure(self, name, fig):
        self.write(name, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight", pad_inches=0.15))

    def animation(self, name, fig, draw_frame, frames):
        """A GIF of frames, each drawn by draw_frame(k), with matplotlib's Pillow writer."""
        from matplotlib.animation import PillowWriter

        def write(f):
            writer = PillowWriter(fps=4)
            with writer.saving(fig, f.name, dpi=80):  # Pillow writes the temporary file by its name
                for k in range(frames):
                    draw_frame(k)
                    writer.grab_frame()
        self.write(name, write)

    def text(self, name, text):
        self.write(name, lambda f: f.write(text.encode()))

    def written_text(self):
        """'wrote results/a, results/b; removed results/c (an earlier run's)', or '' when nothing happened."""
        parts = []
        if self.written:
            parts.append("wrote " + ", ".join(map(self.path, self.written)))
        if self.removed:
            parts.append("removed " + ", ".join(map(self.path, self.removed)) + " (an earlier run's)")
        return "; ".join(parts)


# ----------------------------------------------------------------------------------------------------------
# Figures.  Made with pyplot only when they are to be shown (pyplot keeps them until closed); otherwise as
# plain matplotlib Figures, which touch no global state.
# ----------------------------------------------------------------------------------------------------------
FILE_BACKENDS = ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template")  # backends that can only write files
LEGEND_ENTRIES = 12  # a sweep with more models labels only the best and the worst


def load_matplotlib(show):
    """Import what the figures need (a quarter of a second or more: done while the models train)."""
    if show:
        import matplotlib.pyplot  # noqa: F401
    else:
        import matplotlib.figure  # noqa: F401


def new_figure(show, title, size):
    """A figure of size (inches); through pyplot, in a window called title, when it is to be shown."""
    if show:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=size)
        fig.canvas.manager.set_window_title(title)
        return fig
    from matplotlib.figure import Figure
    return Figure(figsize=size)


def show_figures(figures):
    """Windows with a GUI backend (the run waits until they are closed); in a notebook, whose backend shows
    figures without a GUI, the cell output; with a backend that only writes files, nothing."""
    import matplotlib.pyplot as plt
    if figures[0].canvas.required_interactive_framework or plt.get_backend().lower() not in FILE_BACKENDS:
        plt.show()


def close_figures(figures):
    """Close the figures that pyplot holds, and no other."""
    for fig in figures:
        if fig.canvas.manager is not None:
            import matplotlib.pyplot as plt
            plt.close(fig)


def settings_text(s, seed=True):
    return ((f"seed {s.seed}, " if seed else "") +
            f"batch {s.batch_size}, time size {s.time_size}, hidden {s.hidden_size}, lr {s.lr:g}, "
            f"{s.loss}, {'stateful' if s.stateful else 'stateless'}"
            + (f", max-grad {s.max_grad:g}" if s.max_grad is not None else ""))


def loss_text(loss):
    """A loss for people: six decimals, or four significant digits when it is huge (diverging)."""
    return f"{loss:.6f}" if abs(loss) < 1e4 else f"{loss:.4g}"


def log_scale(axis, minor_labels=True):
    """A log axis labelled with plain numbers (much cheaper to draw than 10^k), the minor ticks at 2, 3, 5."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    axis.axes.set_xscale("log") if axis is axis.axes.xaxis else axis.axes.set_yscale("log")
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "235" else "")
                             if minor_labels else NullFormatter())


def plot_loss(s, losses):
    from matplotlib.ticker import MaxNLocator
    fig = new_figure(s.show, "Training loss", (7, 4.5))
    ax = fig.subplots()
    epochs = np.arange(1, len(losses) + 1)
    few = len(losses) <= 30
    ax.plot(epochs, losses, color="tab:blue", marker="o" if few else None, ms=4)
    log = len(losses) > 0 and bool(np.all(losses > 0))
    if log:
        log_scale(ax.yaxis)
    if few:
        ax.set_xlim(0.5, max(len(losses), 1) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if not len(losses):
        ax.text(0.5, 0.5, "no epoch finished", transform=ax.transAxes, ha="center", va="center")
        ax.set_yticks([])
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (sum of the epoch's minibatch losses)")
    ax.set_title(f"Training loss{' (log scale)' if log else ''}\n{settings_text(s)}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def plot_waveform(s, r):
    x, T, end = r["x"], s.time_size, N_POINTS
    fig = new_figure(s.show, "Closed-loop prediction", (9, 5))
    ax = fig.subplots()
    ax.plot(x, r["clean"], color="0.6", lw=1.5, label="clean sine")
    ax.plot(x[:end], r["noisy"], ".", color="tab:blue", ms=4, label="noisy training series")
    ax.plot(x[:T], r["prediction"][:T], color="tab:green", lw=4, alpha=0.6, marker="o", ms=7,
            label=f"warm-up: {T} clean sample{'s' if T > 1 else ''} given")
    ax.plot(x[T - 1:end], r["prediction"][T - 1:end], color="tab:red", lw=1.5,
            label=f"generated (closed loop), RMSE {r['rmse']:.4f}")
    if len(x) > end:
        ax.plot(x[end - 1:], r["prediction"][end - 1:], color="tab:red", lw=1.5, ls="--",
                label=f"generated past the data ({len(x) - end} steps), RMSE {r['future_rmse']:.4f}")
    finish_wave_plot(ax, x, f"Closed-loop prediction\n{settings_text(s)}", legend_columns=3)
    return fig


def plot_sweep(s, runs):
    """Every model's prediction over the clean sine: one legend entry each for a dozen models or fewer;
    past that, coloured by RMSE on a scale, the best and the worst named."""
    import matplotlib
    x = runs[0]["x"]
    fig = new_figure(s.show, "Closed-loop predictions, one model per seed", (9, 6))
    ax = fig.subplots()
    ax.plot(x, runs[0]["clean"], color="black", lw=2.5, label="clean sine")
    ranked = sorted((r for r in runs if np.isfinite(r["rmse"])), key=lambda r: r["rmse"])
    if len(runs) <= LEGEND_ENTRIES:
        colors = matplotlib.colormaps["tab20" if len(runs) > 10 else "tab10"].colors
        for r, color in zip(runs, colors):
            ax.plot(x, r["prediction"], color=color, lw=1, label=f"seed {r['seed']}: RMSE {r['rmse']:.3f}")
    elif ranked:
        cmap = matplotlib.colormaps["viridis"]
        norm = matplotlib.colors.Normalize(ranked[0]["rmse"], ranked[-1]["rmse"])
        for r in reversed(ranked):  # the best drawn last, on top
            ax.plot(x, r["prediction"], color=cmap(norm(r["rmse"])), lw=0.8, alpha=0.7)
        for r, word in ((ranked[0], "best"), (ranked[-1], "worst")):
            ax.plot(x, r["prediction"], color=cmap(norm(r["rmse"])), lw=2,
                    label=f"{word}: seed {r['seed']}, RMSE {r['rmse']:.3f}")
        fig.colorbar(matplotlib.cm.ScalarMappable(norm, cmap), ax=ax, label="closed-loop RMSE", pad=0.01)
    ax.axvline(x[s.time_size - 1], color="0.3", lw=0.8, ls=":", label="end of the warm-up")
    title = f"Closed-loop predictions, {len(runs)} models, one per seed\n{settings_text(s, seed=False)}"
    finish_wave_plot(ax, x, title, legend_columns=4)
    return fig


def plot_learning(s, r):
    """The snapshots over the clean sine, early to late on a colour ramp, beside the loss curve with the
    snapshot epochs marked."""
    import matplotlib
    x, epochs, snapshots = r["x"], r["snapshot_epochs"], r["snapshots"]
    fig = new_figure(s.show, "The prediction as training goes", (13, 5))
    wave, loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    cmap = matplotlib.colormaps["viridis"]
    colors = [cmap(k / max(len(epochs) - 1, 1)) for k in range(len(epochs))]
    wave.plot(x, r["clean"], color="black", lw=2.5, label="clean sine")
    labelled = set(np.linspace(0, len(epochs) - 1, min(len(epochs), 8)).round().astype(int))
    for k, (epoch, series) in enumerate(zip(epochs, snapshots)):
        wave.plot(x, series, color=colors[k], lw=1.2, label=f"epoch {epoch}" if k in labelled else None)
    wave.axvline(x[s.time_size - 1], color="0.3", lw=0.8, ls=":", label="end of the warm-up")
    wave.set_ylim(-2, 2)
    wave.set_xlabel("x (radians)")
    wave.set_ylabel("sin(x)")
    wave.set_title(f"Closed-loop prediction after {len(epochs)} epochs of training, early (purple) to late "
                   f"(yellow)\n{settings_text(s)}", fontsize=10)
    wave.grid(True, alpha=0.3)
    wave.legend(fontsize=8, ncol=2, loc="lower left")
    finished = np.arange(1, len(r["loss"]) + 1)
    loss.plot(finished, r["loss"], color="tab:blue")
    taken = epochs[epochs <= len(r["loss"])]
    loss.scatter(taken, r["loss"][taken - 1], color=[colors[k] for k in range(len(taken))], zorder=3, s=25,
                 edgecolor="black", lw=0.5, label="snapshots")
    if len(r["loss"]) and np.all(r["loss"] > 0):
        log_scale(loss.xaxis, minor_labels=False)
        log_scale(loss.yaxis)
    loss.set_xlabel("epoch (log scale)")
    loss.set_ylabel("loss (sum of the epoch's minibatch losses)")
    loss.set_title("Training loss, snapshots marked", fontsize=10)
    loss.grid(True, which="both", alpha=0.3)
    loss.legend(fontsize=8)
    return fig


def animate_learning(s, r):
    """(figure, draw_frame(k), frames) for learning.gif: frame k is snapshot k against the clean sine and the
    noisy data, beside the loss curve up to its epoch."""
    from matplotlib.figure import Figure
    x, epochs, snapshots, T = r["x"], r["snapshot_epochs"], r["snapshots"], s.time_size
    fig = Figure(figsize=(10, 4))
    wave, loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    wave.plot(x, r["clean"], color="0.6", lw=1.5, label="clean sine")
    wave.plot(x[:N_POINTS], r["noisy"], ".", color="tab:blue", ms=3, label="noisy training series")
    line, = wave.plot(x, snapshots[0], color="tab:red", lw=1.5, label="closed-loop prediction")
    wave.set_ylim(-2, 2)
    wave.set_xlabel("x (radians)")
    wave.legend(fontsize=7, loc="lower left")
    wave.grid(True, alpha=0.3)
    curve, = loss.plot([], [], color="tab:blue")
    loss.set_xlim(1, max(len(r["loss"]), 2))
    if len(r["loss"]) and np.all(r["loss"] > 0):
        log_scale(loss.yaxis)
        loss.set_ylim(r["loss"].min() / 1.2, r["loss"].max() * 1.2)
    loss.set_xlabel("epoch")
    loss.set_title("training loss", fontsize=9)
    loss.grid(True, which="both", alpha=0.3)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.13, top=0.88, wspace=0.25)

    def draw_frame(k):
        epoch = epochs[k]
        line.set_ydata(snapshots[k])
        curve.set_data(np.arange(1, epoch + 1), r["loss"][:epoch])
        wave.set_title(f"epoch {epoch} of {s.epochs}: closed-loop RMSE "
                       f"{rmse(snapshots[k][T:N_POINTS], r['clean'][T:N_POINTS]):.4f}", fontsize=10)
    return fig, draw_frame, len(epochs)


def plot_gates(s, r):
    """The generated wave on top; under it, on the same x, the cell state and each gate over the units
    (row 0 of the batch, last step of each window), units ordered by the phase of their cell state."""
    T = s.time_size
    x = r["x"][T:]
    cell = r["cell"]                                   # (generated points, H)
    wave_part = cell - cell.mean(axis=0)
    spectrum = np.fft.rfft(wave_part, axis=0)          # each unit's cell state as a sum of waves
    strongest = np.argmax(np.abs(spectrum[1:]).sum(axis=1)) + 1
    order = np.argsort(np.angle(spectrum[strongest]))  # by the phase of the strongest common wave
    rows = [("cell state c", cell, "RdBu_r", None), ("forget gate f", r["gate_f"], "viridis", (0, 1)),
            ("candidate g", r["gate_g"], "RdBu_r", (-1, 1)), ("input gate i", r["gate_i"], "viridis", (0, 1)),
            ("output gate o", r["gate_o"], "viridis", (0, 1))]
    fig = new_figure(s.show, "The LSTM's gates while it generates", (10, 12))
    axes = fig.subplots(len(rows) + 1, 1, sharex=True, gridspec_kw={"hspace": 0.25})
    axes[0].plot(r["x"], r["clean"], color="0.6", lw=1.5, label="clean sine")
    axes[0].plot(x, r["prediction"][T:], color="tab:red", lw=1.5, label="generated")
    axes[0].set_xlim(x[0], x[-1])
    axes[0].set_ylabel("sin(x)")
    axes[0].legend(fontsize=8, loc="upper right")
    axes[0].set_title(f"The LSTM while it generates the wave: row 0 of the batch, last step of each window; "
                      f"units sorted by the phase of their cell state\n{settings_text(s)}", fontsize=10)
    step = x[1] - x[0] if len(x) > 1 else 1
    for ax, (name, values, cmap, limits) in zip(axes[1:], rows):
        if limits is None:
            bound = float(np.abs(values).max()) or 1
            limits = (-bound, bound)
        image = ax.imshow(values[:, order].T, aspect="auto", cmap=cmap, vmin=limits[0], vmax=limits[1],
                          origin="lower", interpolation="nearest",
                          extent=(x[0] - step / 2, x[-1] + step / 2, -0.5, values.shape[1] - 0.5))
        ax.set_ylabel(f"{name}\nunit")
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.03)
    fig.colorbar(image, ax=axes[0], pad=0.01, fraction=0.03).ax.set_visible(False)  # aligned with the rest
    axes[-1].set_xlabel("x (radians)")
    return fig


def plot_grid(s, table, columns):
    """For each setting of the grid every seed's RMSE as a point and the mean +- std as a bar, the setting of
    the script's defaults marked; with two or more varied settings, grouped and coloured by the last one."""
    import matplotlib
    settings = list(dict.fromkeys(zip(*(table[column].tolist() for column in columns))))
    settings.sort(key=lambda setting: setting[-1:] if len(columns) > 1 else ())  # grouped by the last
    defaults = tuple(flag_text(getattr(s, column)) for column in columns)
    fig = new_figure(s.show, "Closed-loop RMSE for each setting", (max(7, 1 + 1.3 * len(settings)), 5))
    ax = fig.subplots()
    colors = matplotlib.colormaps["tab10"].colors
    groups = list(dict.fromkeys(setting[-1] for setting in settings))
    for k, setting in enumerate(settings):
        rows = finished_rows(table, columns, setting)
        color = colors[groups.index(setting[-1]) % len(colors)] if len(columns) > 1 else "tab:blue"
        rmses = table["rmse"][rows]
        ax.plot(np.full(len(rmses), k), rmses, "o", color=color, alpha=0.45, ms=5)
        if len(rmses):
            ax.errorbar(k + 0.18, rmses.mean(), rmses.std(), fmt="D", color=color, capsize=4, ms=6)
        if setting == defaults:
            ax.annotate("default", (k, 1), xycoords=("data", "axes fraction"), xytext=(0, -12),
                        textcoords="offset points", ha="center", fontsize=8, fontweight="bold")
    ax.set_xticks(range(len(settings)))
    ax.set_xticklabels(["\n".join(f"{c}={v}" for c, v in zip(columns, setting)) for setting in settings],
                       fontsize=8)
    ax.set_xlim(-0.6, len(settings) - 0.4)
    ax.set_ylabel("closed-loop RMSE against the clean sine")
    ax.set_title(f"Each seed's RMSE (dots) and their mean +- std (diamond), {len(set(table['seed'].tolist()))} "
                 f"seeds a setting\nthe rest as: {settings_text(s, seed=False)}", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def finish_wave_plot(ax, x, title, legend_columns):
    """Label a plot of series against x, mark the end of the data, and put the legend in rows under it."""
    if len(x) > N_POINTS:
        ax.axvline(x[N_POINTS - 1], color="0.3", lw=0.8, ls="-.", label="end of the data")
    ax.set_xlabel("x (radians)")
    ax.set_ylabel("sin(x)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=legend_columns, fontsize=8, frameon=False)


# ----------------------------------------------------------------------------------------------------------
# Runs: where the models train, and how a run stops.
# ----------------------------------------------------------------------------------------------------------
# Each model trains in a worker process while this one loads matplotlib; a sweep trains as many at once as
# there are cores.  Workers send their progress and results through a pipe; this process prints them, so
# the lines appear where the run was started (a terminal or a notebook cell).  Where no worker can be
# started (no working semaphores or no processes: some containers, serverless hosts, Pyodide), the models
# train here, one after another, with the same numbers.
#
# Ctrl-C, TERM and HUP do not end the process where they find it: they are recorded, training stops at the
# end of its minibatch, the run saves what it has and exits with 128 + the signal number.  A worker whose
# parent is gone, however it ended, stops at the end of its minibatch and exits without reporting.
STOP_SIGNALS = dict(zip(HELD_SIGNALS, ("interrupted", "terminated", "hung up")))  # Windows has no SIGHUP


class StopSignals:
    """Records the first stop signal of a run, for training to check after every minibatch.

    As a context manager it installs itself as the handler of STOP_SIGNALS and puts the previous handlers
    back; Python allows handlers only in the main thread, so elsewhere it installs nothing.
    """

    def __init__(self):
        self.signum = None
        self.event = None  # a multiprocessing Event, for the workers to see the signal too
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = {signum: signal.signal(signum, self.record) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def record(self, signum, frame=None):
        self.signum = self.signum or signum
        if self.event is not None:
            self.event.set()

    def requested(self):
        return self.signum is not None

    def word(self):
        return STOP_SIGNALS[self.signum]

    def exit_status(self):
        return 128 + self.signum


def worker_context():
    """multiprocessing's default start method, except fork where other threads run (a notebook's kernel):
    forking them is unsafe, and Python 3.12 warns about it."""
    import multiprocessing
    if multiprocessing.get_start_method() == "fork" and threading.active_count() > 1:
        return multiprocessing.get_context("spawn")
    return multiprocessing.get_context()


def worker(conn, s, seed, stop_event, progress):
    """Train one model in a worker process: send ("epoch", epoch, loss) as it goes, then ("done", results)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)  # the main process decides when to stop, through stop_event
    parent = os.getppid()

    def orphaned():
        return os.getppid() != parent

    def report(epoch, loss):
        conn.send(("epoch", epoch, loss, time.perf_counter()))  # the clock every process shares

    try:
        r = run(s, seed, report if progress else None, lambda: stop_event.is_set() or orphaned())
        if not orphaned():
            conn.send(("done", r))
    except BrokenPipeError:  # the main process is gone
        pass


def train_models(s, jobs, stop, on_epoch=None, on_done=None):
    """Train one model per job (settings, seed); return {job's index: results} for the jobs that started.

    on_epoch(epoch, loss) follows a single model's training, on_done(r) is called as each model finishes.
    Once stop.requested(), models under way stop at the end of their minibatch and none more start.
    s gives quiet and show.
    """
    try:
        context = worker_context()
        stop.event = context.Event()
    except (OSError, ImportError, NotImplementedError) as e:
        if not s.quiet:
            print(f"training in this process: no worker processes here ({e})", flush=True)
        return train_here(s, jobs, stop, on_epoch, on_done)
    from multiprocessing.connection import wait

    pending, running, done, loaded = list(enumerate(jobs)), {}, {}, False
    try:
        while pending or running:
            while pending and len(running) < (os.cpu_count() or 1) and not stop.requested():
                k, (settings, seed) = pending.pop(0)
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(target=worker, daemon=True,
                                          args=(sender, settings, seed, stop.event, on_epoch is not None))
                process.start()
                sender.close()
                running[receiver] = k, process
            if not loaded:
                load_matplotlib(s.show)  # while the first models train
                loaded = True
            if stop.requested():
                pending.clear()
            if not running:
                continue
            for receiver in wait(list(running)):
                k, process = running[receiver]
                try:
                    kind, *message = receiver.recv()
                except EOFError:
                    raise RuntimeError(f"the worker training seed {jobs[k][1]} ended without its results "
                                       f"(exit code {process.join() or process.exitcode})") from None
                if kind == "epoch":
                    on_epoch(*message)
                    continue
                done[k] = message[0]
                del running[receiver]
                receiver.close()
                process.join()
                if on_done is not None:
                    on_done(done[k])
    finally:
        for receiver, (k, process) in running.items():
            process.terminate()
    return dict(sorted(done.items()))


def train_here(s, jobs, stop, on_epoch, on_done):
    """train_models in this process, one model after another."""
    done = {}
    for k, (settings, seed) in enumerate(jobs):
        if stop.requested():
            break
        done[k] = run(settings, seed, on_epoch, stop.requested)
        if on_done is not None:
            on_done(done[k])
    load_matplotlib(s.show)
    return done


def progress_printer(epochs, started):
    """report(epoch, loss[, when]) printing about ten lines a run, the first and the last epoch included;
    when is the perf_counter() of the epoch's end (default: now)."""
    every = max(1, epochs // 10)
    width = len(str(epochs))

    def report(epoch, loss, when=None):
        if epoch == 1 or epoch % every == 0 or epoch == epochs:
            print(f"| epoch {epoch:{width}d} / {epochs} | time {(when or time.perf_counter()) - started:6.2f} s "
                  f"| loss {loss_text(loss)}", flush=True)
    return report


def smaller_lr_hint(s):
    return f"try a smaller learning rate than --lr {s.lr:g} (the default is {LEARNING_RATE:g})"


def stopped_text(stop, epochs_done=None):
    """The line for a run stopped by a signal."""
    if epochs_done is None:
        return f"{stop.word()} after training: everything is saved, nothing shown"
    return f"{stop.word()} in epoch {epochs_done + 1}: saved the model as it stands"


def train_once(s, stop):
    started = time.perf_counter()
    out = Output(s.out, RUN_FILES)
    report = None if s.quiet else progress_printer(s.epochs, started)
    runs = train_models(s, [(s, s.seed)], stop, on_epoch=report)
    if not runs:
        print(f"{stop.word()} before training started; nothing written", file=sys.stderr)
        return stop.exit_status()
    r = runs[0]
    figures = []
    try:
        save_run(s, r, out, figures)
        epochs_done = len(r["loss"])
        if epochs_done:
            print(f"final loss {r['final_loss']:.6g} (epoch {epochs_done})")
        if r["status"] != "diverged":
            print(f"closed-loop RMSE against the clean sine over the {N_POINTS - s.time_size} generated "
                  f"points: {r['rmse']:.4f}")
            if s.future:
                print(f"  and over the {s.future} points past the data: {r['future_rmse']:.4f}")
        print(f"time {time.perf_counter() - started:.2f} s; {out.written_text()}")
        if r["status"] == "diverged":
            print(f"training diverged: the loss stopped being finite in epoch {epochs_done + 1}; "
                  f"{smaller_lr_hint(s)}", file=sys.stderr)
            return 1
        if stop.requested():
            print(stopped_text(stop, epochs_done if r["status"] == "interrupted" else None), file=sys.stderr)
            return stop.exit_status()
        if s.show:
            show_figures(figures)
        if stop.requested():  # while the windows were open
            print(f"{stop.word()}: figures closed", file=sys.stderr)
            return stop.exit_status()
        return 0
    finally:
        close_figures(figures)


def save_run(s, r, out, figures):
    """Write results.npz, loss.png and, unless the run diverged, waveform.png; append the figures to figures
    as they are made (the caller closes them, whatever happens)."""
    drawn = r["status"] != "diverged"
    snapshots = "snapshots" in r and len(r["snapshots"]) > 0
    out.plan(["results.npz", "loss.png"] + ["waveform.png"] * drawn + ["learning.png"] * snapshots +
             ["learning.gif"] * (snapshots and s.animate) + ["gates.png"] * (drawn and s.gates))
    out.arrays("results.npz", dict(r, **saved_settings(s)))
    figures.append(plot_loss(s, r["loss"]))
    out.figure("loss.png", figures[-1])
    if drawn:
        figures.append(plot_waveform(s, r))
        out.figure("waveform.png", figures[-1])
    if snapshots:
        figures.append(plot_learning(s, r))
        out.figure("learning.png", figures[-1])
    if snapshots and s.animate:
        out.animation("learning.gif", *animate_learning(s, r))
    if drawn and s.gates:
        figures.append(plot_gates(s, r))
        out.figure("gates.png", figures[-1])


def saved_settings(s):
    settings = {key: getattr(s, key) for key in
                ("epochs", "batch_size", "time_size", "hidden_size", "lr", "stateful", "future")}
    settings["loss_function"] = s.loss  # "loss" is the curve
    settings["max_grad"] = np.nan if s.max_grad is None else s.max_grad  # nan: no clipping
    return settings


def sweep(s, stop):
    """Train one model per seed for each setting of --grid (without it, the one setting of the flags: a
    --seeds sweep); print a table, save a figure and the table's data."""
    grid = grid_settings(s)
    seeds = list(dict.fromkeys(s.seeds or GRID_SEEDS))
    jobs = [(settings, seed) for _, settings in grid for seed in seeds]
    out = Output(s.out, GRID_FILES if s.grid else SWEEP_FILES)
    if not s.quiet:
        print(f"training {len(jobs)} models: {settings_text(s, seed=False)}" +
              (f", {len(grid)} settings x {len(seeds)} seeds" if s.grid else ""), flush=True)

    def finished(r):
        if not s.quiet:
            print(f"  seed {r['seed']}: loss {r['final_loss']:.6g}, RMSE {r['rmse']:.4f}", flush=True)

    done = train_models(s, jobs, stop, on_done=finished)
    if not done:
        print(f"{stop.word()} before any model finished; nothing written", file=sys.stderr)
        return stop.exit_status()
    runs = list(done.values())

    varied = [name.replace("-", "_") for name in grid[0][0]]  # as the flags, with underscores
    table = {column: np.array([flag_text(grid[k // len(seeds)][0][name]) for k in done])
             for name, column in zip(grid[0][0], varied)}
    table["seed"] = np.array([r["seed"] for r in runs])
    table["final_loss"] = np.array([r["final_loss"] for r in runs])
    table["rmse"] = np.array([r["rmse"] for r in runs])
    if s.future:
        table["future_rmse"] = np.array([r["future_rmse"] for r in runs])
    table["status"] = np.array([r["status"] for r in runs])
    if s.grid:
        print_grid_summary(table, varied)
    else:
        print_sweep_table(table)

    kind = "grid" if s.grid else "sweep"
    out.plan(out.owned)
    columns = list(table)
    rows = [",".join(columns)] + [",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row)
                                  for row in zip(*(table[c].tolist() for c in columns))]
    out.text(f"{kind}.csv", "\n".join(rows) + "\n")
    out.arrays(f"{kind}.npz", dict(table, x=runs[0]["x"], clean=runs[0]["clean"],
                                   prediction=np.array([r["prediction"] for r in runs])))
    figures = [plot_grid(s, table, varied) if s.grid else plot_sweep(s, runs)]
    try:
        out.figure(f"{kind}.png", figures[0])
        print(out.written_text())
        interrupted = len(runs) < len(jobs) or any(r["status"] == "interrupted" for r in runs)
        diverged = sum(r["status"] == "diverged" for r in runs)
        if stop.requested():
            print(f"{stop.word()}: {len(runs)} of {len(jobs)} models saved, some of them unfinished"
                  if interrupted else stopped_text(stop), file=sys.stderr)
            return stop.exit_status()
        if diverged:
            print(f"{diverged} of {len(jobs)} models diverged (their loss stopped being finite); "
                  f"{smaller_lr_hint(s)}", file=sys.stderr)
        if s.show and not diverged:
            show_figures(figures)
        return 1 if diverged else 0
    finally:
        close_figures(figures)


SWEEP_COLUMNS = {"final_loss": ("final loss", 11, ".6g"), "rmse": ("RMSE", 8, ".4f"),
                 "future_rmse": ("future RMSE", 12, ".4f")}  # heading, width, format


def print_sweep_table(table):
    """The table, then mean, std, min and max over the models that finished training."""
    columns = [name for name in SWEEP_COLUMNS if name in table]

    def row(label, values):
        return f"{label:>10}" + "".join(f" {value:>{SWEEP_COLUMNS[name][1]}{SWEEP_COLUMNS[name][2]}}"
                                        for name, value in zip(columns, values))

    print("\n" + f"{'seed':>10}" + "".join(f" {SWEEP_COLUMNS[name][0]:>{SWEEP_COLUMNS[name][1]}}"
                                           for name in columns))
    for k, seed in enumerate(table["seed"]):
        status = table["status"][k]
        print(row(seed, [table[name][k] for name in columns]) + ("" if status == "done" else f"  {status}"))
    finished = table["status"] == "done"
    if finished.any():
        for label, stat in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max)):
            print(row(label, [stat(table[name][finished]) for name in columns]))


def finished_rows(table, columns, setting):
    """The rows of the table whose model finished training with these values of the varied columns."""
    return (table["status"] == "done") & np.logical_and.reduce([table[c] == v for c, v in zip(columns, setting)])


def print_grid_summary(table, names):
    """Per setting, mean +- std over its seeds of the final loss and the RMSE; then whether the settings
    differ by more than the seeds do."""
    settings = list(dict.fromkeys(zip(*(table[name].tolist() for name in names))))
    width = max(len(" ".join(f"{n}={v}" for n, v in zip(names, setting))) for setting in settings)
    print(f"\n{'setting':<{width}} {'final loss (mean +- std)':>26} {'RMSE (mean +- std)':>20} {'seeds':>6}")
    means, errors = [], []
    for setting in settings:
        rows = finished_rows(table, names, setting)
        loss, error = table["final_loss"][rows], table["rmse"][rows]
        label = " ".join(f"{n}={v}" for n, v in zip(names, setting))
        if not rows.any():
            print(f"{label:<{width}} {'(no model finished)':>26}")
            continue
        print(f"{label:<{width}} {loss.mean():>14.4g} +- {loss.std():<8.2g} {error.mean():>10.4f} +- "
              f"{error.std():<6.4f} {rows.sum():>6}")
        means.append(error.mean())
        errors.append(error.std() / np.sqrt(rows.sum()))
    if len(means) > 1:
        spread, noise = float(np.std(means)), float(np.mean(errors))
        verdict = ("the settings differ by more than the seeds do" if spread > 2 * noise else
                   "the settings differ by no more than the seeds do: with these seeds, they cannot be told apart")
        print(f"RMSE: the settings' means spread by {spread:.4f} (std over settings); the seeds alone move a mean "
              f"by about {noise:.4f} (std over seeds / sqrt(seeds)): {verdict}")


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------
PROG = "train_sin_lstm.py"


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        """One line on stderr and exit status 2, instead of the usage text."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def whole_number(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


GRID_SEEDS = (773, 326, 512, 138)  # the original author's, for a grid without --seeds


def true_false(text):
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
    return text.lower() == "true"


def loss_name(text):
    if text not in LOSSES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LOSSES)}")
    return text


GRID_NAMES = {"epochs": whole_number, "batch-size": whole_number, "time-size": whole_number,
              "hidden-size": whole_number, "lr": number, "loss": loss_name, "max-grad": number,
              "stateful": true_false}  # setting: the function that reads one of its values


def flag_text(value):
    """A grid value as its flag would take it."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def grid_settings(s):
    """[(varied values {name: value}, settings)] for every combination of --grid, each checked; a plain
    --seeds sweep is the grid of one setting, s itself, with nothing varied."""
    if not s.grid:
        return [({}, s)]
    values = {}
    for item in s.grid:
        name, _, texts = item.partition("=")
        if name not in GRID_NAMES:
            raise SettingError(f"--grid {item}: unknown setting {name!r}; one of {', '.join(GRID_NAMES)}")
        if not texts or "" in texts.split(","):
            raise SettingError(f"--grid {item}: give the values as {name}=V1,V2,...")
        try:
            values[name] = list(dict.fromkeys(GRID_NAMES[name](text) for text in texts.split(",")))
        except argparse.ArgumentTypeError as e:
            raise SettingError(f"--grid {item}: {e}") from None
    grid = []
    for combination in itertools.product(*values.values()):
        varied = dict(zip(values, combination))
        settings = argparse.Namespace(**dict(vars(s), grid=None, seeds=None))
        for name, value in varied.items():
            setattr(settings, name.replace("-", "_"), value)
        try:
            check_settings(settings)
        except SettingError as e:
            label = " ".join(f"{n}={flag_text(v)}" for n, v in varied.items())
            raise SettingError(f"--grid combination {label}: {e}") from None
        grid.append((varied, settings))
    return grid


def parse_args(argv=None):
    p = ArgumentParser(prog=PROG, description="Train an LSTM on a noisy sine wave (NumPy only), let it "
                       "generate the wave closed-loop, and plot both.  Defaults: the constants at the top.")
    p.add_argument("--seed", type=whole_number, default=SEED,
                   help="seeds the noise, the weights and the shuffling (default %(default)s)")
    p.add_argument("--epochs", type=whole_number, default=EPOCHS, help="(default %(default)s)")
    p.add_argument("--batch-size", type=whole_number, default=BATCH_SIZE,
                   help="windows per minibatch (default %(default)s)")
    p.add_argument("--time-size", type=whole_number, default=TIME_SIZE,
                   help="steps per window, the BPTT length (default %(default)s)")
    p.add_argument("--hidden-size", type=whole_number, default=HIDDEN_SIZE,
                   help="LSTM units (default %(default)s)")
    p.add_argument("--lr", type=number, default=LEARNING_RATE, help="SGD learning rate (default %(default)s)")
    p.add_argument("--loss", choices=LOSSES, default=LOSS,
                   help="score the last step of each window or every step (default %(default)s)")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--stateless", dest="stateful", action="store_false", default=STATEFUL,
                       help="start every forward pass from zero state")
    state.add_argument("--stateful", dest="stateful", action="store_true", default=STATEFUL,
                       help="carry the state across minibatches and into prediction "
                            f"({'the default' if STATEFUL else 'not the default'})")
    p.add_argument("--max-grad", type=number, default=MAX_GRAD, metavar="G",
                   help="clip the gradients to a joint L2 norm of at most G, as the book's trainer "
                        f"(default: {'off' if MAX_GRAD is None else MAX_GRAD})")
    p.add_argument("--future", type=whole_number, default=FUTURE,
                   help="closed-loop steps to generate past the end of the data (default %(default)s)")
    p.add_argument("--snapshots", type=whole_number, default=SNAPSHOTS, metavar="K",
                   help="take the closed-loop prediction at K epochs during training: learning.png "
                        "(default %(default)s)")
    p.add_argument("--animate", action="store_true",
                   help=f"learning.gif, a frame per snapshot ({ANIMATION_FRAMES} without --snapshots)")
    p.add_argument("--gates", action="store_true",
                   help="record the LSTM's gates while it generates the wave: gates.png")
    p.add_argument("--seeds", type=whole_number, nargs="+", metavar="S",
                   help="train one model per seed and compare them: sweep.png, sweep.csv, sweep.npz")
    p.add_argument("--grid", nargs="+", metavar="NAME=V1,V2",
                   help="train every combination of these values of settings (" + ", ".join(GRID_NAMES) +
                        "), each with every seed of --seeds (default: " + " ".join(map(str, GRID_SEEDS)) +
                        "): grid.png, grid.csv, grid.npz")
    p.add_argument("--gradcheck", action="store_true",
                   help="check the model's gradients against central differences instead of training")
    p.add_argument("--out", default=OUT_DIR, help="folder for the figures and arrays (default %(default)s)")
    p.add_argument("--no-show", dest="show", action="store_false", help="only save the figures")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p.parse_args(argv)


def main(argv=None):
    try:
        with StopSignals() as stop:
            if __name__ == "__main__" and hasattr(signal, "pthread_sigmask"):
                signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)  # held since the top of the file
            s = parse_args(argv)
            check_settings(s)
            if not s.gradcheck:
                check_matplotlib()
                prepare_out_dir(s.out)
                return sweep(s, stop) if s.seeds or s.grid else train_once(s, stop)
        if stop.requested():
            print(f"{stop.word()} before the gradient check started", file=sys.stderr)
            return stop.exit_status()
        return gradient_check(s)  # outside the handlers: Ctrl-C (KeyboardInterrupt) stops it at once
    except SettingError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except WriteError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before training (the settings check) or during --gradcheck
        print("interrupted; nothing written", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    status = main()
    if sys.argv[0] in getattr(sys, "orig_argv", ()):  # this file is the program, not %run in a kernel:
        gc.freeze()  # it ends now; spare the interpreter a walk through matplotlib's objects (about 10 %)
    sys.exit(status)
