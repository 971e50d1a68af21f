#!/usr/bin/env python3
"""Train an LSTM on a noisy sine wave in plain NumPy, then let it draw the wave on its own.

A faithful port of a learner's program built from *Deep Learning from Scratch 2* (the book): the RNNLM
training code of chapter 5 turned into sine-wave regression with the LSTM layers of chapter 6.  It keeps
that program's numbers.  Where each piece of the book is:

    sigmoid, SGD     common/functions.py, common/optimizer.py
    clip_grads       common/util.py          all gradients scaled together to a norm of at most G
    TimeAffine       common/time_layers.py
    TimeMSELoss      (TimeSoftmaxWithLoss)   squared error, of the last step or of every step
    TimeDropout      common/time_layers.py   inverted dropout, in training only
    LSTM, TimeLSTM   common/time_layers.py   one step with its gate equations; T steps, backward in reverse
    SimpleRnnlm      ch05/simple_rnnlm.py    without its embedding, given its recurrent layer; stacked with
                     ch06/better_rnnlm.py    dropout as the book's improved model, when asked
    train            ch05/train_custom_loop.py   minibatches, forward, backward, update (the shuffling and the
                                             state carried across shuffled windows are the original program's)
    run              one run's whole story: data, model, training, the closed-loop prediction

Shapes are named as in the book: N batch, T time steps, D input size, H hidden size.  In the equations,
juxtaposition (x Wx) is a matrix product and * is elementwise.  Read from the top to the divider "Tooling":
that is the code that trains, so an edit to LSTM.forward or a breakpoint() in LSTM.backward takes effect.
What follows the divider (a faster TimeLSTM for --fast, the settings and the command line, files, figures,
sweeps) serves the run but is not part of the story.

    python train_sin_lstm.py              # train, predict, save results/ and show the figures
    python train_sin_lstm.py --help       # every setting
"""
import math
import os
import time
from types import SimpleNamespace

# Set before NumPy loads: the matrices here are tiny, and BLAS threads would only slow them down.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
import numpy as np  # noqa: E402

# ----------------------------------------------------------------------------------------------------------
# Settings.  The defaults are the original program's; edit one and run again, or override it with its flag
# (python train_sin_lstm.py --help lists them).  They are read once, when a run starts.
# ----------------------------------------------------------------------------------------------------------
SEED = 773             # the original author tried 773, 326, 512 and 138
EPOCHS = 301
BATCH_SIZE = 10        # windows per minibatch
TIME_SIZE = 10         # steps per window = truncated-BPTT length
HIDDEN_SIZE = 45       # LSTM units
LAYERS = 1             # recurrent layers stacked, each reading the hidden states of the one below (chapter 6)
DROPOUT = 0.0          # the book's TimeDropout after each recurrent layer, in training: the fraction dropped
LEARNING_RATE = 0.008  # the lr of whichever optimizer trains (the book's own defaults: 0.01, Adam 0.001)
CELL = "lstm"          # the recurrent cell: the book's "lstm", "rnn" (chapter 5) or "gru"
OPTIMIZER = "sgd"      # the book's "sgd", "momentum", "adagrad", "rmsprop" or "adam", each given LEARNING_RATE
LOSS = "many-to-one"   # or "many-to-many": score every step, the original's commented-out variant
STATEFUL = True        # carry the LSTM's state from one minibatch to the next, and into prediction
MAX_GRAD = None        # the book's gradient clipping: a largest norm for all gradients together (None: off)
FUTURE = 0             # closed-loop steps to generate past the end of the data
SNAPSHOTS = 0          # closed-loop predictions taken during training, to watch the model learn
ANIMATE = False        # learning.gif: a frame per snapshot (ANIMATION_FRAMES when SNAPSHOTS is 0)
GATES = False          # record the LSTM's gates while it generates: gates.png
GRADIENT_FLOW = False  # how far back through time the gradient reaches, before and after training

N_POINTS = 101         # samples of the sine over [X_MIN, X_MAX]
X_MIN, X_MAX = -2 * math.pi, 2 * math.pi
NOISE = 0.05           # standard deviation of the Gaussian noise added to the training series

FAST_LSTM = False      # True (--fast): FastTimeLSTM, after the divider: the same numbers to rounding, faster
OUT_DIR = "results"    # where figures and arrays are written
GPU = False            # kept from the original; this script runs on the CPU only
ANIMATION_FRAMES = 30
GRID_SEEDS = (773, 326, 512, 138)  # the original author's seeds, for --grid without --seeds


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


class Momentum:
    """v <- momentum v - lr dL/dp;  p <- p + v."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        self.v = self.v or [np.zeros_like(param) for param in params]
        for param, grad, v in zip(params, grads, self.v):
            v *= self.momentum
            v -= self.lr * grad
            param += v


class AdaGrad:
    """h <- h + (dL/dp)^2;  p <- p - lr dL/dp / (sqrt(h) + 1e-7): each parameter's steps shrink as it moves."""

    def __init__(self, lr=0.01):
        self.lr, self.h = lr, None

    def update(self, params, grads):
        self.h = self.h or [np.zeros_like(param) for param in params]
        for param, grad, h in zip(params, grads, self.h):
            h += grad * grad
            param -= self.lr * grad / (np.sqrt(h) + 1e-7)


class RMSprop(AdaGrad):
    """AdaGrad with a memory that fades: h <- decay h + (1 - decay) (dL/dp)^2."""

    def __init__(self, lr=0.01, decay_rate=0.99):
        super().__init__(lr)
        self.decay_rate = decay_rate

    def update(self, params, grads):
        self.h = self.h or [np.zeros_like(param) for param in params]
        for param, grad, h in zip(params, grads, self.h):
            h *= self.decay_rate
            h += (1 - self.decay_rate) * grad * grad
            param -= self.lr * grad / (np.sqrt(h) + 1e-7)


class Adam:
    """Momentum and RMSprop together, bias-corrected in the step: at update t,
    m <- m + (1 - beta1)(dL/dp - m);  v <- v + (1 - beta2)((dL/dp)^2 - v);
    p <- p - lr sqrt(1 - beta2^t) / (1 - beta1^t) m / (sqrt(v) + 1e-7)."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2, self.iter, self.m, self.v = lr, beta1, beta2, 0, None, None

    def update(self, params, grads):
        self.m = self.m or [np.zeros_like(param) for param in params]
        self.v = self.v or [np.zeros_like(param) for param in params]
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for param, grad, m, v in zip(params, grads, self.m, self.v):
            m += (1 - self.beta1) * (grad - m)
            v += (1 - self.beta2) * (grad ** 2 - v)
            param -= lr_t * m / (np.sqrt(v) + 1e-7)


def clip_grads(grads, max_norm):
    """When the joint L2 norm of all gradients exceeds max_norm, multiply each by max_norm / (norm + 1e-6)."""
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


class TimeDropout:
    """Inverted dropout at every time step, in training (train_flg) only: each value is kept with probability
    1 - p and then divided by 1 - p, so that its expected value is the same as at prediction, where nothing is
    dropped.  backward passes the gradient through the same mask.  The mask comes from rng, the run's own random
    stream (the book draws from NumPy's global one), so that a seed gives the same run."""

    def __init__(self, rng, dropout_ratio=0.5):
        self.params, self.grads = [], []
        self.rng, self.dropout_ratio = rng, dropout_ratio
        self.mask = None
        self.train_flg = True

    def forward(self, xs):
        if self.train_flg:
            flg = self.rng.rand(*xs.shape) > self.dropout_ratio
            scale = 1 / (1.0 - self.dropout_ratio)
            self.mask = flg.astype(xs.dtype) * scale
            return xs * self.mask
        return xs

    def backward(self, dout):
        return dout * self.mask


class LSTM:
    """One LSTM time step for a batch of N sequences, input size D, hidden size H.

    Forward (juxtaposition is a matrix product, * elementwise).  A = x Wx + h_prev Wh + b has shape (N, 4H):
    four blocks of H columns, in the order f, g, i, o (forget gate, candidate, input gate, output gate):

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


class RNN:
    """One step of the book's plain RNN (chapter 5), for a batch of N, input size D, hidden size H:

        h_next = tanh(h_prev Wh + x Wx + b)                       Wx (D, H), Wh (H, H), b (H,)

    Backward, given dh_next: dA = dh_next * (1 - h_next^2), then dWx = x^T dA, dWh = h_prev^T dA,
    db = dA summed over the batch, dx = dA Wx^T, dh_prev = dA Wh^T.  Every step back multiplies the
    gradient by Wh^T and by tanh's slope, at most 1: it shrinks (or grows, with a large Wh) step by step.
    """

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        h_next = np.tanh(np.dot(h_prev, Wh) + np.dot(x, Wx) + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, b = self.params
        x, h_prev, h_next = self.cache
        dA = dh_next * (1 - h_next ** 2)
        self.grads[0][...] = np.dot(x.T, dA)
        self.grads[1][...] = np.dot(h_prev.T, dA)
        self.grads[2][...] = dA.sum(axis=0)
        return np.dot(dA, Wx.T), np.dot(dA, Wh.T)   # dx, dh_prev


class GRU:
    """One GRU step, as in the book (common/time_layers.py).  Wx (D, 3H), Wh (H, 3H) and b (3H,) hold three
    blocks of H columns: z (update gate), r (reset gate) and h~ (candidate):

        z = sigmoid(x Wx_z + h_prev Wh_z + b_z)      r = sigmoid(x Wx_r + h_prev Wh_r + b_r)
        h~ = tanh(x Wx_h + (r * h_prev) Wh_h + b_h)
        h_next = (1 - z) * h_prev + z * h~

    Backward, given dh_next:
        dA_h = dh_next * z * (1 - h~^2)                dWx_h = x^T dA_h    dWh_h = (r * h_prev)^T dA_h
        drh  = dA_h Wh_h^T                             the gradient at r * h_prev
        dA_z = dh_next * (h~ - h_prev) * z (1 - z)     dA_r = drh * h_prev * r (1 - r)
        dh_prev = dh_next * (1 - z) + drh * r + dA_z Wh_z^T + dA_r Wh_r^T
        dWx = x^T [dA_z dA_r dA_h]    db = their sum over the batch    dx = [dA_z dA_r dA_h] Wx^T
    The path dh_next * (1 - z) is the GRU's shortcut: where z is near 0 the gradient passes a step unchanged.
    """

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        H = Wh.shape[0]
        xWx = np.dot(x, Wx)                             # (N, 3H)
        z = sigmoid(xWx[:, :H] + np.dot(h_prev, Wh[:, :H]) + b[:H])
        r = sigmoid(xWx[:, H:2 * H] + np.dot(h_prev, Wh[:, H:2 * H]) + b[H:2 * H])
        h_hat = np.tanh(xWx[:, 2 * H:] + np.dot(r * h_prev, Wh[:, 2 * H:]) + b[2 * H:])
        h_next = (1 - z) * h_prev + z * h_hat
        self.cache = (x, h_prev, z, r, h_hat)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, b = self.params
        H = Wh.shape[0]
        x, h_prev, z, r, h_hat = self.cache
        dA_h = dh_next * z * (1 - h_hat ** 2)
        drh = np.dot(dA_h, Wh[:, 2 * H:].T)
        dA_z = dh_next * (h_hat - h_prev) * z * (1 - z)
        dA_r = drh * h_prev * r * (1 - r)
        dA = np.hstack((dA_z, dA_r, dA_h))              # (N, 3H)
        self.grads[0][...] = np.dot(x.T, dA)
        self.grads[1][...] = np.hstack((np.dot(h_prev.T, dA[:, :2 * H]), np.dot((r * h_prev).T, dA_h)))
        self.grads[2][...] = dA.sum(axis=0)
        dh_prev = dh_next * (1 - z) + drh * r + np.dot(dA[:, :2 * H], Wh[:, :2 * H].T)
        return np.dot(dA, Wx.T), dh_prev                # dx, dh_prev


class TimeRNN:
    """The RNN step run over T steps, as in the book: xs (N, T, D) -> hs (N, T, H).

    forward makes one step layer per time step, all sharing the parameters, and runs them in order; backward
    runs them in reverse, each step's dh being what arrives from the output at t plus what step t+1 sends
    back, and sums their weight gradients.  With stateful=True the last h of one call is the first of the
    next; the gradient still stops at each call's first step (truncated BPTT).
    """
    cell = RNN  # the step layer (TimeGRU: GRU)

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = None
        self.h = None
        self.stateful = stateful

    def forward(self, xs):
        Wx, Wh, b = self.params
        N, T, D = xs.shape
        H = Wh.shape[0]
        self.layers = []
        hs = np.empty((N, T, H), dtype=Wh.dtype)
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype=Wh.dtype)
        for t in range(T):
            layer = self.cell(*self.params)
            self.h = layer.forward(xs[:, t, :], self.h)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        Wx, Wh, b = self.params
        N, T, H = dhs.shape
        D = Wx.shape[0]
        dxs = np.empty((N, T, D), dtype=dhs.dtype)
        dh = 0
        grads = [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh = layer.backward(dhs[:, t, :] + dh)
            dxs[:, t, :] = dx
            for k, grad in enumerate(layer.grads):
                grads[k] += grad
        for k, grad in enumerate(grads):
            self.grads[k][...] = grad
        return dxs

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None


class TimeGRU(TimeRNN):
    """TimeRNN's loop with the GRU step."""
    cell = GRU


class SimpleRnnlm:
    """The book's SimpleRnnlm turned regressor: a recurrent Time layer -> TimeAffine -> TimeMSELoss.  With more
    layers or dropout, as the book's BetterRnnlm (chapter 6): layers recurrent layers, each reading the hidden
    states of the one below, and a TimeDropout after each (none on the one-number input: the book drops out
    its embedding, which this model does not have).

    time_layer is the recurrent layers' class (TimeLSTM, TimeRNN, TimeGRU or FastTimeLSTM), whose weights
    have `blocks` blocks of H columns (LSTM 4: f, g, i, o; RNN 1; GRU 3: z, r, h~).  Parameters are drawn
    from rng in the original's order, Wx, Wh, then the Affine W (with more layers, as BetterRnnlm: Wx1, Wh1,
    Wx2, Wh2, ..., then the Affine W); the dropout masks come from rng too, as training goes.
    """

    def __init__(self, rng, time_layer, blocks, input_size, hidden_size, output_size, layers=1, dropout=0.0,
                 stateful=True, many_to_one=True, dtype=np.float32):
        D, H, O = input_size, hidden_size, output_size
        self.layers, self.recurrent_layers, self.drop_layers = [], [], []
        for k in range(layers):
            inputs = D if k == 0 else H                 # the first layer reads x, the others the h below
            Wx = (rng.randn(inputs, blocks * H) / np.sqrt(inputs)).astype(dtype)
            Wh = (rng.randn(H, blocks * H) / np.sqrt(H)).astype(dtype)
            b = np.zeros(blocks * H, dtype=dtype)
            self.recurrent_layers.append(time_layer(Wx, Wh, b, stateful=stateful))
            self.layers.append(self.recurrent_layers[-1])
            if dropout > 0:
                self.drop_layers.append(TimeDropout(rng, dropout))
                self.layers.append(self.drop_layers[-1])
        affine_W = (rng.randn(H, O) / np.sqrt(H)).astype(dtype)
        affine_b = np.zeros(O, dtype=dtype)
        self.layers.append(TimeAffine(affine_W, affine_b))
        self.loss_layer = TimeMSELoss(many_to_one)
        self.params, self.grads = [], []
        for layer in self.layers:
            self.params += layer.params
            self.grads += layer.grads

    def predict(self, xs, train_flg=False):
        for layer in self.drop_layers:
            layer.train_flg = train_flg
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts, train_flg=True):
        return self.loss_layer.forward(self.predict(xs, train_flg), ts)

    def backward(self, dout=1):
        dout = self.loss_layer.backward(dout)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


def recurrent_state(model, cell):
    """[(h, c) of each recurrent layer, bottom first] (RNN and GRU: (h,)), as the book's BetterRnnlmGen.get_state."""
    return [(layer.h, layer.c) if cell == "lstm" else (layer.h,) for layer in model.recurrent_layers]


def set_recurrent_state(model, state):
    for layer, layer_state in zip(model.recurrent_layers, state):
        layer.set_state(*layer_state)


TIME_LAYERS = {"lstm": TimeLSTM, "rnn": TimeRNN, "gru": TimeGRU}
BLOCKS = {"lstm": 4, "rnn": 1, "gru": 3}  # blocks of H columns in each cell's Wx, Wh and b
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam}


# ----------------------------------------------------------------------------------------------------------
# Data: a noisy sine, cut into overlapping windows.  The model reads samples 0..T-1 of a window and outputs,
# at every step, its guess at the next sample; the loss scores the last step's guess (many-to-many: every one).
#
# From here on, s is one run's settings: the constants at the top in lower case (s.epochs is EPOCHS), or
# what their flags gave.  Four have other names: LEARNING_RATE is s.lr, LOSS s.loss_function, SNAPSHOTS
# s.snapshot_count and OUT_DIR s.out.
# ----------------------------------------------------------------------------------------------------------
def sample_sine(s, future=0):
    """x: s.n_points samples over [s.x_min, s.x_max], then `future` more at the same spacing; and sin(x)."""
    step = (s.x_max - s.x_min) / (s.n_points - 1)
    x = np.concatenate((np.linspace(s.x_min, s.x_max, s.n_points), s.x_max + step * np.arange(1, future + 1)))
    return x, np.sin(x)


def make_windows(series, time_size):
    """Windows of time_size steps, targets one step ahead: xs and ts (len(series) - 1 - T, T, 1), float32,
    xs[k, j] = series[k + j] and ts[k, j] = series[k + j + 1]."""
    inputs, targets = series[:-1], series[1:]
    starts = np.arange(len(inputs) - time_size)
    index = starts[:, None] + np.arange(time_size)  # (n_windows, T)
    return (inputs[index][:, :, None].astype(np.float32),
            targets[index][:, :, None].astype(np.float32))


def minibatches_per_epoch(n_points, batch_size):
    """The original's count, one fewer than the inputs fill: 100 // 10 - 1 = 9 minibatches, not 10."""
    return (n_points - 1) // batch_size - 1


def data_and_model(s, seed, dtype=np.float32):
    """rng, the noisy series, its windows xs and ts, the model: the original's random stream in its order,
    the noise, then the weights (then, in training, the shuffling)."""
    rng = np.random.RandomState(seed)
    x, clean = sample_sine(s)
    noisy = clean + s.noise * rng.randn(s.n_points)
    xs, ts = (array.astype(dtype, copy=False) for array in make_windows(noisy, s.time_size))
    time_layer = TIME_LAYERS[s.cell]
    if s.cell == "lstm" and s.fast_lstm:
        time_layer = FastTimeLSTM  # --fast: the same numbers, faster (after the divider)
    model = SimpleRnnlm(rng, time_layer, BLOCKS[s.cell], 1, s.hidden_size, 1, s.layers, s.dropout,
                        stateful=s.stateful, many_to_one=s.loss_function == "many-to-one", dtype=dtype)
    return rng, noisy, xs, ts, model


# ----------------------------------------------------------------------------------------------------------
# Training: the custom loop of chapter 5, as the original program changed it.  The book reads its corpus in
# order; the original shuffles the windows every epoch and walks through them in minibatches of consecutive
# shuffled windows, the LSTM staying stateful across those unrelated minibatches.
# ----------------------------------------------------------------------------------------------------------
def never():
    """The should_stop() of a run that nothing stops."""
    return False


def train(model, optimizer, xs, ts, rng, s, after_epoch=None, should_stop=never):
    """Train in place for s.epochs; return (losses, status).  losses[e] is epoch e+1's sum of its minibatch
    losses (the figure the original records and plots); status "done", "diverged" (a loss stopped being
    finite) or "interrupted" (should_stop() turned true after a minibatch, or after an epoch but the last),
    the unfinished epoch left out.  after_epoch(epoch, loss, model) follows along."""
    # The original's many-to-one backward leaves out the 1/N its loss divides by: its step is batch_size
    # times the loss's gradient.  Kept, because its numbers depend on it.
    grad_scale = s.batch_size if s.loss_function == "many-to-one" else 1
    losses = []
    for epoch in range(1, s.epochs + 1):
        order = rng.permutation(len(xs))
        epoch_loss = 0  # summed in the model's dtype, as the original does
        for k in range(minibatches_per_epoch(s.n_points, s.batch_size)):
            batch = order[k * s.batch_size:(k + 1) * s.batch_size]
            loss = model.forward(xs[batch], ts[batch])
            if not math.isfinite(loss):
                return losses, "diverged"
            model.backward(grad_scale)
            if s.max_grad is not None:
                clip_grads(model.grads, s.max_grad)
            optimizer.update(model.params, model.grads)
            epoch_loss += loss
            if should_stop():
                return losses, "interrupted"
        losses.append(float(epoch_loss))
        if after_epoch is not None:
            after_epoch(epoch, losses[-1], model)
            if should_stop() and epoch < s.epochs:  # during after_epoch (a snapshot)
                return losses, "interrupted"
    return losses, "done"


# ----------------------------------------------------------------------------------------------------------
# Prediction: closed loop.  Start from time_size samples of the clean sine; each new sample is the model's
# output for the last time_size samples, the model feeding on its own outputs from then on.
# ----------------------------------------------------------------------------------------------------------
def generate(model, start, length, batch_size, after_step=None, should_stop=never):
    """A series of `length` values: `start`, then the model's own continuation (nan from where should_stop()
    turned true).  As in the original, each new value is a forward pass over the whole last window of T
    values, copied into every row of a batch of batch_size (the model's state has that many rows), and row
    0's output at the last step is the new value.  The state carries on from pass to pass, so each value is
    read about T times, each time by a state that has already read it.  The book's generation (chapter 7,
    rnnlm_gen.py) feeds one new value a step instead, its state carried on, each value read once.
    after_step(model) is called after each new value."""
    T = len(start)
    series = np.full(length, np.nan)
    series[:T] = start
    window = np.empty((batch_size, T, 1), dtype=model.params[0].dtype)
    for j in range(length - T):
        if should_stop():
            break
        window[:] = series[j:j + T, None]
        series[j + T] = model.predict(window)[0, -1, 0]
        if after_step is not None:
            after_step(model)
    return series


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2))) if len(a) else float("nan")


# ----------------------------------------------------------------------------------------------------------
# One run, the whole story: data, model, the training loop, the closed-loop prediction.
# ----------------------------------------------------------------------------------------------------------
def run(s, seed, after_epoch=None, should_stop=never, after_step=None):
    """One experiment with settings s, in the order of the original program.  after_epoch(epoch, loss, model)
    is called after every epoch, after_step(model) after every predicted value; should_stop() after every
    minibatch and before every predicted value: once true, it ends training (then there is no prediction) or
    the prediction, where they are.  Returns the model and what it did."""
    rng, noisy, xs, ts, model = data_and_model(s, seed)
    optimizer = OPTIMIZERS[s.optimizer](s.lr)
    started = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected and reported instead
        losses, status = train(model, optimizer, xs, ts, rng, s, after_epoch, should_stop)
        # The closed-loop prediction starts from the state training left (zeros when stateless): kept, with
        # the trained weights, so that results.npz can recompute the prediction.
        zeros = np.zeros((s.batch_size, s.hidden_size), np.float32)
        start_state = [tuple(array.copy() if s.stateful and array is not None else zeros for array in state)
                       for state in recurrent_state(model, s.cell)]
        x, clean = sample_sine(s, s.future)
        prediction = np.full(len(x), np.nan)
        if status == "done":
            prediction = generate(model, clean[:s.time_size], len(x), s.batch_size, after_step, should_stop)
    T, end = s.time_size, s.n_points
    return SimpleNamespace(
        seed=seed, status=status, loss=np.array(losses), model=model, x=x, clean=clean, noisy=noisy,
        prediction=prediction, start_state=start_state,
        rmse=rmse(prediction[T:end], clean[T:end]), future_rmse=rmse(prediction[end:], clean[end:]),
        seconds=time.perf_counter() - started)


# ----------------------------------------------------------------------------------------------------------
# Gradient check: backward against central differences, in float64.  --gradcheck shows it; the tests use it.
# ----------------------------------------------------------------------------------------------------------
def numerical_gradient(f, x, eps=1e-5):
    """dF/dx by central differences (f(x + eps) - f(x - eps)) / 2 eps, one entry of x at a time; f takes no
    arguments and reads x, which is changed in place and restored."""
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


GRADIENT_TOLERANCE = 1e-6  # largest relative error a checked gradient may have


def model_gradient_errors(model, xs, ts, state=None, report=None):
    """Relative error of backward's gradient of the loss for each of model.params, every evaluation from the
    same state (as recurrent_state gives it; zeros when None) and with the same dropout masks; report(k,
    error) as soon as parameter k is checked."""
    def loss():
        set_recurrent_state(model, state or [(None,)] * len(model.recurrent_layers))  # (None,): zeros
        for k, layer in enumerate(model.drop_layers):
            layer.rng = np.random.RandomState(k)       # the same masks in every evaluation
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


# ----------------------------------------------------------------------------------------------------------
# How far back through time the gradient reaches (chapter 6's question): the norm of dl/dh_t, and for the LSTM
# of dl/dc_t, for every step t of one long sequence, the whole noisy series, l the loss of its last step.
# ----------------------------------------------------------------------------------------------------------
def gradient_flow(s, params, noisy):
    """(h_norms, c_norms): ||dl/dh_t|| and ||dl/dc_t|| (None but for the LSTM), (layers, steps) arrays for t = 0..
    steps-1, steps = len(noisy) - 1 (100 by default), in float64, by the script's own backward pass.  The model
    (with these params, no dropout) reads x_t = noisy[t] as one sequence, batch 1, from zero state; l = 0.5
    (y_last - noisy[steps])^2.  dl/dh_t is the dh that backpropagation carries into step t (from the output at
    t, or from the layer above, and from step t+1); dl/dc_t is LSTM.backward's ds there, all that reaches c_t."""
    steps, lstm = len(noisy) - 1, s.cell == "lstm"
    params = [param.astype(np.float64) for param in params]  # Wx1, Wh1, b1, Wx2, ..., affine W, affine b
    layers = [TIME_LAYERS[s.cell](*params[3 * k:3 * k + 3]) for k in range(s.layers)]
    affine = TimeAffine(*params[-2:])
    hs = noisy[:steps].reshape(1, steps, 1)
    for layer in layers:
        hs = layer.forward(hs)
    ys = affine.forward(hs)
    dys = np.zeros_like(ys)
    dys[0, -1, 0] = ys[0, -1, 0] - noisy[steps]
    dhs = affine.backward(dys)                          # (1, steps, H): what reaches the top layer from above
    h_norms, c_norms = np.zeros((s.layers, steps)), np.zeros((s.layers, steps))
    for k in reversed(range(s.layers)):
        dxs, dh, dc = np.zeros((1, steps, params[3 * k].shape[0])), 0, 0
        for t in reversed(range(steps)):
            step = layers[k].layers[t]
            dh = dhs[:, t] + dh                         # from above at t and from step t+1
            h_norms[k, t] = np.linalg.norm(dh)
            if lstm:
                x, h_prev, c_prev, f, g, i, o, c_next = step.cache[:8]
                c_norms[k, t] = np.linalg.norm(dc + dh * o * (1 - np.tanh(c_next) ** 2))
                dxs[:, t], dh, dc = step.backward(dh, dc)
            else:
                dxs[:, t], dh = step.backward(dh)
        dhs = dxs                                       # what reaches the layer below from this one
    return h_norms, c_norms if lstm else None


# ==========================================================================================================
# Tooling.  The story ends above.  What follows serves a run: a faster TimeLSTM, the settings and the
# command line, watching training, files and figures, stop signals, sweeps and grids.
# ==========================================================================================================
import argparse  # noqa: E402  (the tooling's own imports)
import bdb  # noqa: E402
import contextlib  # noqa: E402
import csv  # noqa: E402
import glob  # noqa: E402
import importlib.util  # noqa: E402
import itertools  # noqa: E402
import pdb  # noqa: E402
import signal  # noqa: E402
import stat  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402


# ----------------------------------------------------------------------------------------------------------
# Speed appendix (--fast): the book's TimeLSTM, rearranged.
# ----------------------------------------------------------------------------------------------------------
class FastTimeLSTM(TimeLSTM):
    """TimeLSTM's numbers, about twice as fast (the tests hold the two equal, values and gradients).

    What it rearranges:
    - arrays are time-major and transposed: h_t is (H, N) and the gates of step t are (4, H, N), so each
      gate is a contiguous block, on which NumPy is about twice as fast as on the column blocks of (N, 4H);
    - what does not depend on the previous step (x Wx, the gates' local derivatives, the weight gradients)
      is computed for all T steps at once; only the recurrence runs step by step;
    - the gates are computed in place, in one buffer, to make fewer temporary arrays, with one tanh for all
      four: sigmoid(A) = (1 + tanh(A / 2)) / 2.
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
        xWx += b.reshape(4, H, 1)                       # x Wx + b, which does not depend on h
        WhT = Wh.T
        half = np.array((0.5, 1, 0.5, 0.5), dtype=Wh.dtype).reshape(4, 1, 1)  # f, g, i, o
        shift = np.array((0.5, 0, 0.5, 0.5), dtype=Wh.dtype).reshape(4, 1, 1)
        gates = np.empty((T, 4, H, N), dtype=Wh.dtype)  # f, g, i, o of every step
        gate_rows = gates.reshape(T, 4 * H, N)          # the same memory, as np.dot's output
        h, c = self.h.T, self.c.T                       # (H, N)
        hs, cs, tanh_cs = [h], [c], []                  # h and c entering each step, then the last
        for t in range(T):
            a = gates[t]                                # A, then the gates, in place
            np.dot(WhT, h, out=gate_rows[t])            # A = Wh^T h_prev + (Wx^T x + b)
            a += xWx[t]
            a *= half                                   # f, i, o: sigmoid(A) = (1 + tanh(A / 2)) / 2
            np.tanh(a, out=a)
            a *= half
            a += shift
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


# ----------------------------------------------------------------------------------------------------------
# The settings table: each setting once, with its constant, its flag, its values and its help.  The
# command line, the checks, the files and --grid all read it.
# ----------------------------------------------------------------------------------------------------------
class Setting:
    """name: the attribute of the settings, the column of the CSVs; constant: the constant at the top that
    holds its default; flag: "" for none (a bool's flag turns it on, `off` turns it off); type: int, float,
    bool, str or a tuple of the allowed values; a number's range: from low to high (either may be a function
    of the other settings), above=True when low itself is excluded, below=True when high is, `note` (or a
    function of the other settings) said after it; none: None (written none) is allowed; grid: --grid may vary
    it."""

    def __init__(self, name, constant, flag, type, help="", low=None, high=None, above=False, below=False,
                 note="", none=False, grid=False, off=None):
        self.name, self.constant, self.flag, self.type, self.help = name, constant, flag, type, help
        self.low, self.high, self.above, self.below, self.note = low, high, above, below, note
        self.none, self.grid, self.off = none, grid, off

    def default(self):
        """The constant's value now (a notebook may have changed it since the import)."""
        return globals()[self.constant]


SETTINGS = [
    Setting("seed", "SEED", "--seed", int, "seeds the noise, the weights and the shuffling", 0, 2 ** 32 - 1,
            note=" (NumPy's seeds)"),
    Setting("epochs", "EPOCHS", "--epochs", int, "passes over the data", 1, grid=True),
    Setting("batch_size", "BATCH_SIZE", "--batch-size", int, "windows per minibatch", 1,
            lambda s: (s.n_points - 1) // 2, note=" (a larger one leaves no minibatch in an epoch)", grid=True),
    Setting("time_size", "TIME_SIZE", "--time-size", int, "steps per window: the truncated-BPTT length", 1,
            lambda s: longest_window(s.n_points)[0], note=lambda s: f" ({longest_window(s.n_points)[0]} needs "
            f"--batch-size {longest_window(s.n_points)[1]}; each batch size allows its own largest)", grid=True),
    Setting("hidden_size", "HIDDEN_SIZE", "--hidden-size", int, "hidden units", 1, 4096, grid=True),
    Setting("layers", "LAYERS", "--layers", int, "recurrent layers, stacked (the book's improved model: 2)", 1, 10,
            grid=True),
    Setting("dropout", "DROPOUT", "--dropout", float, "the fraction of each recurrent layer's outputs the book's "
            "TimeDropout drops in training", 0, 1, below=True, grid=True),
    Setting("lr", "LEARNING_RATE", "--lr", float, "learning rate", 0, above=True, grid=True),
    Setting("cell", "CELL", "--cell", ("lstm", "rnn", "gru"), "the recurrent cell", grid=True),
    Setting("optimizer", "OPTIMIZER", "--optimizer", ("sgd", "momentum", "adagrad", "rmsprop", "adam"),
            "the book's optimizers, each given --lr", grid=True),
    Setting("loss_function", "LOSS", "--loss", ("many-to-one", "many-to-many"),
            "score the last step of each window, or every step", grid=True),
    Setting("stateful", "STATEFUL", "--stateful", bool, "carry the state across minibatches and into "
            "prediction (--stateless: start every forward pass from zero state)", grid=True, off="--stateless"),
    Setting("max_grad", "MAX_GRAD", "--max-grad", float, "clip the gradients to a joint L2 norm of at most "
            "this, as the book's trainer (none: off)", 0, above=True, none=True, grid=True),
    Setting("future", "FUTURE", "--future", int, "closed-loop steps past the end of the data", 0, 10000, grid=True),
    Setting("snapshot_count", "SNAPSHOTS", "--snapshots", int,
            "closed-loop predictions taken during training: learning.png", 0, 10000),
    Setting("animate", "ANIMATE", "--animate", bool, "learning.gif, a frame per snapshot", off="--no-animate"),
    Setting("gates", "GATES", "--gates", bool, "record the gates while the model generates: gates.png",
            off="--no-gates"),
    Setting("gradient_flow", "GRADIENT_FLOW", "--gradient-flow", bool, "how far back through time the gradient "
            "reaches, before and after training: gradient_flow.png", off="--no-gradient-flow"),
    Setting("fast_lstm", "FAST_LSTM", "--fast", bool, "train the LSTM with FastTimeLSTM: the same numbers to "
            "float rounding, about twice as fast (other cells: no change)", off="--no-fast"),
    Setting("out", "OUT_DIR", "--out", str, "folder for the figures and arrays"),
    Setting("n_points", "N_POINTS", "", int, low=3, high=100000),
    Setting("animation_frames", "ANIMATION_FRAMES", "", int, low=1, high=10000),
    Setting("x_min", "X_MIN", "", float, low=-1e6, high=1e6),
    Setting("x_max", "X_MAX", "", float, low=lambda s: s.x_min, high=1e6, above=True, note=" (X_MIN)"),
    Setting("noise", "NOISE", "", float, low=0, high=100, note=" (the sine's amplitude is 1)"),
    Setting("gpu", "GPU", "", (False,), note="False: this script runs on the CPU only"),
]
SETTING = {setting.name: setting for setting in SETTINGS}
JOBS = Setting("jobs", "", "--jobs", int, low=1)  # not a setting of the model: checked as one, never saved


def longest_window(n_points):
    """(the largest time size any batch size leaves enough windows for, that batch size): (66, 34) for 101 points.
    An epoch takes batch size x minibatches_per_epoch windows, and there are n_points - 1 - time size."""
    n_inputs, longest, batch_size = n_points - 1, 0, 0
    for b in range(1, n_inputs // 2 + 1):
        if n_inputs - b * minibatches_per_epoch(n_points, b) > longest:
            longest, batch_size = n_inputs - b * minibatches_per_epoch(n_points, b), b
    return longest, batch_size


def value_text(value):
    """A setting's value as its flag takes it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings_text(s, names=None, per_line=4):
    """'epochs=301, batch_size=10, ...': the settings --grid can vary (or those named), per_line a line."""
    names = names or [setting.name for setting in SETTINGS if setting.grid]
    items = [f"{name}={value_text(getattr(s, name))}" for name in names]
    return "\n".join(", ".join(items[k:k + per_line]) for k in range(0, len(items), per_line))


# ----------------------------------------------------------------------------------------------------------
# Watching training: progress lines and snapshots, called by run() after every epoch.
# ----------------------------------------------------------------------------------------------------------
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


class Snapshots:
    """After chosen epochs, the closed-loop prediction the model would make if training stopped there,
    taken without changing training: the recurrent state is put back and no random number is drawn.  A
    snapshot cut short by a stop is left out, its epoch kept as `stopped`."""

    def __init__(self, s, should_stop=never):
        self.s, self.should_stop, self.taken, self.series, self.stopped = s, should_stop, [], [], None
        self.wanted = set(snapshot_epochs(s.snapshot_count or s.animation_frames * s.animate, s.epochs))

    def __call__(self, epoch, loss, model):
        if epoch in self.wanted:
            x, clean = sample_sine(self.s, self.s.future)
            state = recurrent_state(model, self.s.cell)
            series = generate(model, clean[:self.s.time_size], len(x), self.s.batch_size,
                              should_stop=self.should_stop)
            set_recurrent_state(model, state)
            if self.should_stop():
                self.stopped = epoch
            else:
                self.taken.append(epoch)
                self.series.append(series)


class Gates:
    """after_step for generate, for --gates: what each recurrent layer's last step computed, row 0 of the batch;
    gates[name] lists one (H,) array a point (with several layers, name is layer{k}/name).  The book's LSTM
    keeps its gates in its cache as (x, h_prev, c_prev, f, g, i, o, c_next), the GRU as (x, h_prev, z, r, h~):
    they are read by their places there, so what a learner appends to the cache changes nothing (FastTimeLSTM:
    from its own cache), and checked against the cell's equations.  A cache that cannot be read so ends the
    recording, `problem` says why, and gates.png is left out."""

    def __init__(self):
        self.gates, self.problem = {}, None

    def __call__(self, model):
        layers = model.recurrent_layers
        for k, layer in enumerate(layers, 1):
            if self.problem is not None:
                return
            try:
                states, consistent = self.read(layer)
            except (ValueError, TypeError, IndexError) as e:  # an edited cache: fewer values, or other shapes
                self.problem = (f"its last step's cache does not hold them where the book's does ({type(e).__name__}:"
                                f" {e})")
                return
            if not consistent:  # an edited cache: other values in their places
                self.problem = ("its last step's cache does not hold them where the book's does, or its equations "
                                "changed")
                return
            for name, value in dict(states, hidden=layer.h).items():
                self.gates.setdefault(of_layer(name, k, len(layers)), []).append(value[0].copy())

    @staticmethod
    def read(layer):
        """{name: (N, H) array} of what the layer's last step computed, h aside; and whether they agree with the
        cell's equations, c_next = f * c_prev + g * i and h_next = o * tanh(c_next) (GRU: h_next = (1 - z) * h_prev
        + z * h~)."""
        if isinstance(layer, FastTimeLSTM):
            f, g, i, o = (gate.T for gate in layer.cache[3][-1])
            return dict(gate_f=f, gate_g=g, gate_i=i, gate_o=o, cell=layer.c), True
        if isinstance(layer, TimeLSTM):
            x, h_prev, c_prev, f, g, i, o, c_next = layer.layers[-1].cache[:8]
            consistent = np.allclose(c_next, f * c_prev + g * i) and np.allclose(layer.h, o * np.tanh(c_next))
            return dict(gate_f=f, gate_g=g, gate_i=i, gate_o=o, cell=c_next), bool(consistent)
        if isinstance(layer, TimeGRU):
            x, h_prev, z, r, h_hat = layer.layers[-1].cache[:5]
            return dict(gate_z=z, gate_r=r, candidate=h_hat), bool(np.allclose(layer.h, (1 - z) * h_prev + z * h_hat))
        return {}, True

    def arrays(self):
        return {name: np.array(values) for name, values in self.gates.items()}


def of_layer(name, k, layers):
    """The name of layer k's array in results.npz: name itself with one layer, layer{k}/name with several."""
    return name if layers == 1 else f"layer{k}/{name}"


def param_names(s):
    """The names of model.params in results.npz: lstm_Wx, lstm_Wh, lstm_b (rnn_..., gru_...; with several layers
    layer1/lstm_Wx, ..., layer2/lstm_Wx, ...), affine_W, affine_b."""
    return [of_layer(f"{s.cell}_{name}", k, s.layers) for k in range(1, s.layers + 1) for name in ("Wx", "Wh", "b")] \
        + ["affine_W", "affine_b"]


def gradient_flows(s, r):
    """{name in results.npz: (steps,) norms} of gradient_flow() at every layer, for the trained model and for its
    initial weights drawn again; {} for a model that did not finish training."""
    if r.status != "done":
        return {}
    flows = {}
    with np.errstate(over="ignore"):
        for when, params in (("", r.model.params), ("_initial", data_and_model(s, r.seed)[4].params)):
            for variable, norms in zip(("", "_c"), gradient_flow(s, params, r.noisy)):
                for k, layer_norms in enumerate(norms if norms is not None else [], 1):
                    flows[of_layer(f"gradient_flow{variable}{when}", k, s.layers)] = layer_norms
    return flows


def windows_used(s):
    """(windows an epoch trains on, windows there are): (90, 90) by default, fewer used for some batch sizes."""
    return minibatches_per_epoch(s.n_points, s.batch_size) * s.batch_size, s.n_points - 1 - s.time_size


def noise_floor(s, noisy):
    """The loss an epoch would have if the model predicted the clean sine exactly: what the noise alone costs,
    summed as the loss is.  A minibatch's loss is 0.5 * sum((y - t)^2) / N over its scored steps, and an epoch
    sums M minibatches of N windows: with y the clean sine, the floor is 0.5 M times the mean over the windows
    of sum((sin - noisy)^2) over their scored steps.  Exact when an epoch uses every window (the defaults),
    otherwise its expected value."""
    x, clean = sample_sine(s)
    err = make_windows(clean, s.time_size)[1] - make_windows(noisy, s.time_size)[1]  # (windows, T, 1)
    scored = err[:, -1] ** 2 if s.loss_function == "many-to-one" else np.sum(err ** 2, axis=1)
    return 0.5 * minibatches_per_epoch(s.n_points, s.batch_size) * float(np.mean(scored))


def say(*args):
    """print to standard output, at once.  When its reader is gone (`python train_sin_lstm.py | head`) or it
    cannot be written (a full disk), the rest of the output goes to /dev/null and the run carries on: what it
    learns is still saved."""
    try:
        print(*args, flush=True)  # flushed here, so that a closed pipe is found here, not at exit
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def tell(line):
    """One line on standard error, at once; when it cannot be written, as say() does with standard output."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        with contextlib.suppress(OSError, ValueError):  # a stderr without a file (io.UnsupportedOperation)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())


def plural(count, word):
    """'1 epoch', '2 epochs'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def progress_printer(epochs, started):
    """report(epoch, loss, model) printing about ten lines a run, the first and the last epoch included; a
    huge (diverging) loss with four significant digits."""
    def report(epoch, loss, model=None):
        if epoch == 1 or epoch % max(1, epochs // 10) == 0 or epoch == epochs:
            say(f"| epoch {epoch:{len(str(epochs))}d} / {epochs} | time {time.perf_counter() - started:6.2f} s "
                f"| loss {f'{loss:.6f}' if abs(loss) < 1e4 else f'{loss:.4g}'}")
    return report


# ----------------------------------------------------------------------------------------------------------
# Files.  Each kind of run owns a set of file names in --out and writes or removes every one of them, so
# the folder never shows files of two runs of one kind.  Every file is written to a temporary file beside
# it (named with the writer's process id) and renamed over the old one: a failed or killed write never
# leaves a broken file, and a run removes only its own temporary files and those of processes that are gone.
# (tempfile's random names carry no writer: a clean-up could not tell a dead writer's file from a live one's.)
# ----------------------------------------------------------------------------------------------------------
class WriteError(Exception):
    """A file that could not be written; the message names it, the reason and what was written before."""


def process_is_gone(pid):
    """True only when no process has this id (on POSIX; elsewhere no other process's file is touched)."""
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)  # signal 0: asks whether the process exists, sends nothing
    except ProcessLookupError:
        return True
    except OSError:  # it exists, under another user
        return False
    return False


class Output:
    """The files of one run in folder, of the kind whose file names are `owned`."""

    def __init__(self, folder, owned):
        self.folder, self.owned, self.written, self.removed = folder, owned, [], []

    def path(self, name):
        return os.path.join(self.folder, name)

    def temporary(self, name, pid="*"):
        """The name of a temporary file of `name` (a glob pattern with pid "*"; the extension kept: Pillow and
        NumPy go by it)."""
        return f".{name}.{pid}.tmp{os.path.splitext(name)[1]}"

    def plan(self, names):
        """Remove the owned files this run will not write (an earlier run's) and the temporary files of runs
        that were killed."""
        for name in self.owned:
            if name not in names and os.path.lexists(self.path(name)):  # a link to nowhere too
                try:
                    os.remove(self.path(name))
                except OSError as e:  # another user's, in a folder with the sticky bit
                    raise WriteError(f"could not remove {self.path(name)}, an earlier run's ({e.strerror or e}); "
                                     f"{self.written_text() or 'nothing written'}") from None
                self.removed.append(name)
            for tmp in glob.glob(os.path.join(glob.escape(self.folder), self.temporary(name))):
                pid = os.path.basename(tmp)[len(name) + 2:].split(".")[0]
                if pid.isdigit() and process_is_gone(int(pid)):
                    with contextlib.suppress(OSError):  # gone already (another run's clean-up), or not a file
                        os.remove(tmp)

    def write(self, name, write):
        """write(path) into a temporary file beside `name`, then rename it over `name`."""
        tmp = self.path(self.temporary(name, os.getpid()))
        try:
            write(tmp)
            os.replace(tmp, self.path(name))
        except BaseException as e:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            if isinstance(e, OSError):
                raise WriteError(f"could not write {self.path(name)} ({e.strerror or e}); "
                                 f"{self.written_text() or 'nothing written'}") from None
            raise
        if name not in self.written:
            self.written.append(name)

    def arrays(self, name, settings, arrays, varied=()):
        """An .npz file of numbers and plain strings: every setting of SETTINGS as settings/NAME (none as nan)
        but those a sweep varied (its columns hold them), then the arrays under their own names."""
        values = {f"settings/{setting.name}": getattr(settings, setting.name) for setting in SETTINGS
                  if setting.name not in varied}
        values.update(arrays)
        values = {key: np.nan if value is None else value for key, value in values.items()}
        self.write(name, lambda path: np.savez(path, **values))  # the path ends in .npz: kept as it is

    def figure(self, name, fig):
        self.write(name, lambda path: fig.savefig(path, format="png", dpi=100))

    def written_text(self):
        """'wrote results/a, results/b; removed results/c (an earlier run's)', or '' when nothing happened."""
        parts = []
        if self.written:
            parts.append("wrote " + ", ".join(map(self.path, self.written)))
        if self.removed:
            parts.append("removed " + ", ".join(map(self.path, self.removed)) + " (an earlier run's)")
        return "; ".join(parts)


def run_arrays(s, r, files):
    """results.npz (besides settings/NAME for every setting): what one run learned and did, enough to
    recompute its prediction.

    loss            (epochs,) each epoch's sum of its minibatch losses
    prediction      (n_points + future,) the warm-up (time_size samples of the clean sine), then generated
                    (nan where a stop cut it short)
    x, clean        the same length: where the sine was sampled, and its clean values
    noisy           (n_points,) the training series
    final_loss, rmse, future_rmse (nan without --future), seconds, status ("done", "diverged" or "interrupted")
    noise_floor     the loss of an epoch that predicted the clean sine exactly, see noise_floor()
    lstm_Wx, lstm_Wh, lstm_b, affine_W, affine_b    the trained model, as the book's save_params (rnn_..., gru_...)
    prediction_h0, prediction_c0    (batch, H) the state the prediction starts from (zeros when stateless; c: LSTM)
    snapshot_epochs, snapshots      with --snapshots or --animate: the epochs, and (epochs, len(x))
    gate_f, gate_g, gate_i, gate_o, cell, hidden    with --gates: (generated points, H), row 0, last step (GRU:
                    gate_z, gate_r, candidate, hidden; RNN: hidden)
    gradient_flow, gradient_flow_initial, gradient_flow_c, gradient_flow_c_initial    with --gradient-flow:
                    (n_points - 1,) each, ||dl/dh_t|| and (LSTM) ||dl/dc_t||, trained and initial; see gradient_flow()
    files           the files this run wrote
    With several layers, each layer's arrays of these (weights, state, gates, gradient flows) are layer{k}/name,
    layer1 the bottom: layer1/lstm_Wx, layer2/prediction_h0, layer2/gate_f, ...
    """
    arrays = dict(loss=r.loss, prediction=r.prediction, x=r.x, clean=r.clean, noisy=r.noisy,
                  final_loss=r.loss[-1] if len(r.loss) else np.nan, rmse=r.rmse, future_rmse=r.future_rmse,
                  seconds=r.seconds, status=r.status, noise_floor=noise_floor(s, r.noisy), files=np.array(files))
    arrays.update(zip(param_names(s), r.model.params))
    for k, state in enumerate(r.start_state, 1):
        arrays.update(zip((of_layer(name, k, s.layers) for name in ("prediction_h0", "prediction_c0")), state))
    if r.snapshots is not None:
        arrays.update(snapshot_epochs=np.array(r.snapshots.taken, dtype=int), snapshots=np.array(r.snapshots.series))
    arrays.update(r.gates, **r.gradient_flows)
    return arrays


# ----------------------------------------------------------------------------------------------------------
# Figures, laid out by matplotlib's constrained layout.  Made through pyplot only when they are to be shown
# (pyplot keeps them until closed); otherwise as plain matplotlib Figures, which touch no global state.
# ----------------------------------------------------------------------------------------------------------
def new_figure(s, title, size, rows=1, columns=1, **axes):
    """A figure of size (inches) and its axes; through pyplot, in a window called title, when it is shown."""
    if s.show:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=size, layout="constrained")
        fig.canvas.manager.set_window_title(title)
    else:
        from matplotlib.figure import Figure
        fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(rows, columns, **axes)


def show_and_close(figures, show=False):
    """Show the figures if asked: windows with a GUI backend (the run waits until they are closed), the cell
    output in a notebook, nothing with a backend that only writes files.  Then close them."""
    if figures and figures[0].canvas.manager is not None:  # made through pyplot
        import matplotlib.pyplot as plt
        file_only = plt.get_backend().lower() in ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template")
        if show and (figures[0].canvas.required_interactive_framework or not file_only):
            plt.show()
        for fig in figures:
            plt.close(fig)


def plot_loss_curve(ax, loss, color="tab:blue", s=None, noisy=None):
    """The loss per epoch: dots when there are few epochs, a log scale when it spans a factor of 10 or more;
    with the settings and the noisy series, the noise floor under it (dashed, none without noise)."""
    from matplotlib.ticker import MaxNLocator
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, color=color, marker="o" if len(loss) <= 30 else None, ms=4)
    floor = noise_floor(s, noisy) if s is not None and s.noise else None
    if floor:
        used, windows = windows_used(s)
        ax.axhline(floor, color="0.35", lw=1, ls="--", label=f"noise floor {floor:.3g}: the loss of the clean sine"
                   + ("" if used == windows else " (on average)"))
    log = len(loss) > 1 and loss.min() > 0 and loss.max() >= 10 * loss.min()
    if log:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if len(loss) <= 30:
        ax.set_xlim(0.5, max(len(loss), 1) + 0.5)
    dropout = ", dropout on" if s is not None and s.dropout else ""  # as training measured it
    ax.set(xlabel="epoch", ylabel=f"loss (sum of the epoch's minibatch losses{dropout})"
           + (",\nlog scale" if log else ""))  # two lines: one is longer than the axes are high
    ax.grid(True, which="both", alpha=0.3)


def plot_loss(s, r):
    fig, ax = new_figure(s, "Training loss", (7, 4.5))
    plot_loss_curve(ax, r.loss, s=s, noisy=r.noisy)
    if s.noise:
        ax.legend(fontsize=8, loc="upper right")
    if r.status != "done":
        what = "the loss stopped being finite" if r.status == "diverged" else "training was stopped"
        ax.text(0.5, 0.95, f"{r.status} in epoch {len(r.loss) + 1}: {what}", transform=ax.transAxes, ha="center",
                va="top", color="tab:red")
    if not len(r.loss):
        ax.text(0.5, 0.5, "no epoch finished", transform=ax.transAxes, ha="center", va="center")
    ax.set_title(f"Training loss, seed {r.seed}\n{settings_text(s)}", fontsize=9)
    return fig


def plot_waveform(s, r):
    x, T, end = r.x, s.time_size, s.n_points
    fig, ax = new_figure(s, "Closed-loop prediction", (9, 5.5))
    ax.plot(x, r.clean, color="0.6", lw=1.5, label="clean sine")
    ax.plot(x[:end], r.noisy, ".", color="tab:blue", ms=4, label=training_series_label(s))
    ax.plot(x[:T], r.prediction[:T], color="tab:green", lw=4, alpha=0.6, marker="o", ms=7,
            label=f"warm-up: {plural(T, 'clean sample')} given")
    made = np.isfinite(r.prediction)  # a stop may have cut the prediction short
    ax.plot(x[T - 1:end], r.prediction[T - 1:end], color="tab:red", lw=1.5,
            label=f"generated (closed loop), RMSE {r.rmse:.4f}" if np.isfinite(r.rmse) else
            f"generated (closed loop): {made[T:end].sum()} of {end - T} points, then stopped")
    if len(x) > end:
        ax.plot(x[end - 1:], r.prediction[end - 1:], color="tab:red", lw=1.5, ls="--",
                label=f"generated past the data ({len(x) - end} steps), RMSE {r.future_rmse:.4f}"
                if np.isfinite(r.future_rmse) else
                f"generated past the data: {made[end:].sum()} of {len(x) - end} steps, then stopped")
    finish_wave_plot(s, ax, x, f"Closed-loop prediction, seed {r.seed}\n{settings_text(s)}",
                     legend_columns=2 if len(x) > end else 3)
    return fig


def training_series_label(s):
    return f"training series: the sine + noise of std {s.noise:g}" if s.noise else "training series: the sine, no noise"


def finish_wave_plot(s, ax, x, title, legend_columns):
    """Label a plot of series against x, mark the end of the data, and put the legend in rows under it."""
    if len(x) > s.n_points:
        ax.axvline(x[s.n_points - 1], color="0.3", lw=0.8, ls="-.", label="end of the data")
    ax.set(xlabel="x (radians)", ylabel="sin(x)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=legend_columns, fontsize=8, frameon=False)
    ax.set_title(title, fontsize=9)


def plot_learning(s, r):
    """The snapshots over the clean sine, early to late on a colour ramp, beside the loss curve with the
    snapshot epochs marked."""
    import matplotlib
    epochs = np.array(r.snapshots.taken)
    fig, (wave, loss) = new_figure(s, "The prediction as training goes", (13, 5.5), 1, 2,
                                   gridspec_kw={"width_ratios": [1.6, 1]})
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 1, len(epochs)))
    wave.plot(r.x, r.clean, color="black", lw=2.5, label="clean sine")
    labelled = set(np.linspace(0, len(epochs) - 1, min(len(epochs), 8)).round().astype(int))
    for k, (epoch, prediction) in enumerate(zip(epochs, r.snapshots.series)):
        wave.plot(r.x, prediction, color=colors[k], lw=1.2, label=f"epoch {epoch}" if k in labelled else None)
    wave.axvline(r.x[s.time_size - 1], color="0.3", lw=0.8, ls=":", label="end of the warm-up")
    if len(r.x) > s.n_points:
        wave.axvline(r.x[s.n_points - 1], color="0.3", lw=0.8, ls="-.", label="end of the data")
    wave.set(ylim=(-2, 2), xlabel="x (radians)", ylabel="sin(x)")
    wave.grid(True, alpha=0.3)
    wave.legend(fontsize=8, ncol=2, loc="lower left")
    ended = "" if r.status == "done" else f" ({r.status} in epoch {len(r.loss) + 1})"
    wave.set_title(f"The closed-loop prediction at {plural(len(epochs), 'snapshot')} during "
                   f"{plural(len(r.loss), 'epoch')} of training{ended}, seed {r.seed},\nearly (purple) to late "
                   f"(yellow)", fontsize=10)
    plot_loss_curve(loss, r.loss, s=s, noisy=r.noisy)
    taken = epochs[epochs <= len(r.loss)]
    loss.scatter(taken, r.loss[taken - 1], color=colors[:len(taken)], zorder=3, s=25, edgecolor="black", lw=0.5,
                 label="snapshots")
    loss.set_title("Training loss, snapshots marked", fontsize=10)
    loss.legend(fontsize=8)
    fig.suptitle(settings_text(s, per_line=11), fontsize=9)
    return fig


class Stopped(Exception):
    """A stop ended what it came in: the writing of a file, or --gradcheck."""


def save_animation(s, r, stop):
    """write(path) for learning.gif: frame k is snapshot k against the clean sine and the noisy data, beside
    the loss curve up to its epoch.  The still parts are drawn once; each frame redraws only the prediction,
    the curve and the title over them, in the GIF's 256-colour palette.  A stop, before it or while it is
    written, ends it before its next frame (Stopped: the caller leaves the GIF out)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image
    fig = Figure(figsize=(10, 4), dpi=72, layout="constrained")
    canvas, (wave, loss) = FigureCanvasAgg(fig), fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    wave.plot(r.x, r.clean, color="0.6", lw=1.5, label="clean sine")
    wave.plot(r.x[:s.n_points], r.noisy, ".", color="tab:blue", ms=3, label=training_series_label(s))
    line, = wave.plot(r.x, r.clean, color="tab:red", lw=1.5, label="closed-loop prediction", animated=True)
    wave.set(ylim=(-2, 2), xlabel="x (radians)", ylabel="sin(x)")
    wave.legend(fontsize=7, loc="lower left")
    wave.grid(True, alpha=0.3)
    title = wave.set_title(" ", fontsize=10)
    title.set_animated(True)
    plot_loss_curve(loss, r.loss, "0.85", s, r.noisy)  # the whole curve, faint; each frame draws it up to its epoch
    if s.noise:
        loss.legend(fontsize=7, loc="upper right")
    curve, = loss.plot([], [], color="tab:blue", marker="o", markevery=[-1], ms=4, animated=True)
    loss.set_title(f"training loss, {plural(len(r.loss), 'epoch')}", fontsize=9)
    T, end = s.time_size, s.n_points

    # Drawn by hand rather than by matplotlib's FuncAnimation and PillowWriter, which redraw the whole figure
    # for every frame: 30 frames took 25 s that way against 1.2 s here, 300 frames 268 s against 6.9 s and a
    # peak of 381 MB against 147 MB (Pillow keeps every frame until the end, either way; here in its palette).
    def frames(still):  # one at a time, over the still parts
        for k, (epoch, prediction) in enumerate(zip(r.snapshots.taken, r.snapshots.series)):
            if stop.should_stop():
                raise Stopped
            if not s.quiet and len(r.snapshots.taken) >= 20 and k % (len(r.snapshots.taken) // 10) == 0:
                say(f"learning.gif: frame {k + 1} of {len(r.snapshots.taken)}")
            canvas.restore_region(still)
            line.set_ydata(prediction)
            curve.set_data(np.arange(1, epoch + 1), r.loss[:epoch])
            error = rmse(prediction[T:end], r.clean[T:end])
            title.set_text(f"epoch {epoch} of {s.epochs}: closed-loop RMSE {error:.4f}")
            for artist in (line, curve, title):
                fig.draw_artist(artist)
            frame = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
            yield frame.quantize(colors=256, method=Image.Quantize.FASTOCTREE)

    def write(path):
        canvas.draw()
        all_frames = frames(canvas.copy_from_bbox(fig.bbox))
        next(all_frames).save(path, format="GIF", save_all=True, append_images=all_frames, duration=250, loop=0)
    return write


GATE_ROWS = {"cell": ("cell state c", "RdBu_r", None), "gate_f": ("forget gate f", "viridis", (0, 1)),
             "gate_g": ("candidate g", "RdBu_r", (-1, 1)), "gate_i": ("input gate i", "viridis", (0, 1)),
             "gate_o": ("output gate o", "viridis", (0, 1)), "gate_z": ("update gate z", "viridis", (0, 1)),
             "gate_r": ("reset gate r", "viridis", (0, 1)), "candidate": ("candidate h~", "RdBu_r", (-1, 1)),
             "hidden": ("hidden state h", "RdBu_r", (-1, 1))}  # name: (label, colour map, range)


def plot_gates(s, r):
    """The generated wave on top; under it, on the same x, each state and gate the cell has (the LSTM's h aside)
    over the units (row 0 of the batch, last step of each window; the top layer's), units ordered by the phase
    of their state.  The cell state, unbounded, is coloured to the 98th percentile of its magnitude (the colour
    bar's arrows: beyond it)."""
    from matplotlib.ticker import MaxNLocator
    T = s.time_size
    gates = {name: r.gates[of_layer(name, s.layers, s.layers)] for name in GATE_ROWS
             if of_layer(name, s.layers, s.layers) in r.gates}  # the top layer's
    x = r.x[T:T + len(gates["hidden"])]  # the generated points (fewer when a stop cut the prediction short)
    rows = [name for name in GATE_ROWS if name in gates and not (name == "hidden" and "cell" in gates)]
    state = gates[rows[0] if "cell" in gates else "hidden"]  # (generated points, H)
    spectrum = np.fft.rfft(state - state.mean(axis=0), axis=0)  # each unit's state as a sum of waves
    strongest = np.argmax(np.abs(spectrum[1:]).sum(axis=1)) + 1 if len(spectrum) > 1 else 0
    order = np.argsort(np.angle(spectrum[strongest]))  # the units by the phase of the strongest shared wave
    fig, axes = new_figure(s, f"The {s.cell.upper()}'s gates while it generates", (10, 2 + 2 * len(rows)),
                           len(rows) + 1, sharex=True)
    axes[0].plot(r.x, r.clean, color="0.6", lw=1.5, label="clean sine")
    axes[0].plot(x, r.prediction[T:T + len(x)], color="tab:red", lw=1.5, label="generated")
    axes[0].set(xlim=(x[0], x[-1]), ylabel="sin(x)")
    for ax in axes if len(r.x) > s.n_points else []:
        ax.axvline(r.x[s.n_points - 1], color="0.3", lw=1, ls="-.", label="end of the data", zorder=3)
    axes[0].legend(fontsize=8, loc="upper right")
    layer = f", layer {s.layers} of {s.layers} (the top)" if s.layers > 1 else ""
    axes[0].set_title(f"The {s.cell.upper()}{layer} while it generates the wave: row 0 of the batch, last step of "
                      f"each window; units sorted by the phase of their state\n{settings_text(s)}", fontsize=9)
    step = x[1] - x[0] if len(x) > 1 else 1
    for ax, name in zip(axes[1:], rows):
        label, cmap, limits = GATE_ROWS[name]
        values = gates[name]
        if limits is None:
            bound = float(np.percentile(np.abs(values), 98)) or 1.0
            limits = (-bound, bound)
        extend = "both" if values.min() < limits[0] or values.max() > limits[1] else "neither"
        image = ax.imshow(values[:, order].T, aspect="auto", cmap=cmap, origin="lower", interpolation="nearest",
                          vmin=limits[0], vmax=limits[1],
                          extent=(x[0] - step / 2, x[-1] + step / 2, -0.5, values.shape[1] - 0.5))
        ax.set_ylabel(f"{label}\nunit")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.03, extend=extend)
    axes[-1].set_xlabel("x (radians)")
    return fig


def plot_gradient_flow(s, r):
    """||dl/dh_t|| (solid) and, for the LSTM, ||dl/dc_t|| (dashed) against the steps back from the loss, at the
    initial weights (faint) and the trained ones, for every layer."""
    fig, ax = new_figure(s, "How far back the gradient reaches", (8, 5.5 + 0.6 * s.layers))  # the legend under it
    colors = ("tab:red", "tab:purple", "tab:green", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan",
              "tab:gray", "tab:blue")  # a layer each
    variables = (("", "-", "h"), ("_c", "--", "c")) if s.cell == "lstm" else (("", "-", "h"),)
    for k in range(1, s.layers + 1):
        for variable, style, symbol in variables:
            for when, alpha, words in (("_initial", 0.35, "at the initial weights"),
                                       ("", 1, f"after {plural(len(r.loss), 'epoch')} of training")):
                norms = r.gradient_flows[of_layer(f"gradient_flow{variable}{when}", k, s.layers)]
                ax.plot(np.arange(len(norms)), norms[::-1], color=colors[k - 1], ls=style,
                        alpha=alpha, lw=1.5, label=f"{f'layer {k}: ' if s.layers > 1 else ''}||dl/d{symbol}_t|| "
                                                   f"{words}")
    ax.axvline(s.time_size - 1, color="0.2", lw=1, ls=":",
               label=f"how far training's truncated BPTT reaches (time size {s.time_size})")
    ax.set_yscale("log")
    steps = len(r.gradient_flows[of_layer("gradient_flow", 1, s.layers)])
    ax.set(xlabel=f"steps back from the loss (the last of {steps} steps)",
           ylabel="||dl/dh_t|| (solid) and ||dl/dc_t|| (dashed), log scale" if s.cell == "lstm" else
           "||dl/dh_t||, log scale")
    layers = f", {s.layers} layers (layer 1 reads the input)" if s.layers > 1 else ""
    ax.set_title(f"How far back through time the gradient reaches: the {s.cell.upper()}{layers}, seed {r.seed}\n"
                 f"{settings_text(s)}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2 if s.layers > 1 else 1, fontsize=7,
              frameon=False)  # under the axes, as the waveform's: with several layers no corner is free
    return fig


RUN_FILES = [  # (file, written when (s, r), what makes it); results.npz first: nothing learned is lost
    ("results.npz", lambda s, r: True, None),
    ("loss.png", lambda s, r: True, plot_loss),
    ("waveform.png", lambda s, r: r.status == "done" and np.isfinite(r.prediction[s.time_size]), plot_waveform),
    ("learning.png", lambda s, r: r.snapshots is not None and len(r.snapshots.taken) > 0, plot_learning),
    ("learning.gif", lambda s, r: s.animate and len(r.snapshots.taken) > 0, save_animation),
    ("gates.png", lambda s, r: s.gates and len(r.gates.get(of_layer("hidden", s.layers, s.layers), ())) > 0,
     plot_gates),
    ("gradient_flow.png", lambda s, r: len(r.gradient_flows) > 0, plot_gradient_flow),
]


def owned_files(s):
    """The files in --out that a run of this kind writes or, an earlier run's, removes."""
    kind = "grid" if s.grid else "sweep"
    if s.seeds or s.grid:
        return [f"{kind}.csv", f"{kind}.npz", f"{kind}.png", f"{kind}_gradient_flow.png"]
    return [name for name, _, _ in RUN_FILES]


def save_run(s, r, out, figures, stop):
    """Write the files RUN_FILES says this run writes, appending each figure to figures as it is made (the
    caller closes them): results.npz first (what was learned is kept, whatever follows), then again at the
    end, listing the files written.  Left out, an earlier run's copy too: the GIF once the run is stopping
    (its frames take seconds), and a figure that fails to draw (say, of a layer edited past what the figure
    knows).  Returns {file left out: why}."""
    names = [name for name, when, _ in RUN_FILES if when(s, r)]
    out.arrays("results.npz", s, run_arrays(s, r, ["results.npz"]))
    left_out = {}
    try:
        out.plan(names)
        for name, _, make in RUN_FILES[1:]:
            if name not in names:
                continue
            try:
                if name.endswith(".gif"):
                    out.write(name, make(s, r, stop))
                else:
                    figures.append(make(s, r))
                    out.figure(name, figures[-1])
            except Stopped:
                left_out[name] = "the run was stopped"
            except WriteError:
                raise
            except Exception as e:  # the rest of the files are still written
                left_out[name] = f"it could not be drawn ({type(e).__name__}: {e})"
        out.plan(out.written)
    except WriteError:
        with contextlib.suppress(WriteError):
            out.arrays("results.npz", s, run_arrays(s, r, list(out.written)))
        raise
    out.arrays("results.npz", s, run_arrays(s, r, list(out.written)))
    return left_out


# ----------------------------------------------------------------------------------------------------------
# Stopping.  Ctrl-C, TERM and HUP do not end the process where they find it, and neither does q at a
# breakpoint(): main() records the first stop, training and the prediction end at the end of their minibatch
# or step, the run saves what it has and exits with 128 + that first signal (1 after q).
# ----------------------------------------------------------------------------------------------------------
STOP_WORDS = {getattr(signal, name): word for name, word in (("SIGINT", "interrupted"), ("SIGTERM", "terminated"),
                                                             ("SIGHUP", "hung up")) if hasattr(signal, name)}


class StopOnQuit(pdb.Pdb):
    """The debugger of breakpoint() during a run: q (or exit, or Ctrl-D) asks the run to stop, as Ctrl-C does,
    instead of raising BdbQuit out of the layer where it stands, which would lose what the run has learned."""

    def __init__(self, stop):
        super().__init__()
        self.stop = stop

    def set_quit(self):
        self.stop.stop_with("stopped in the debugger", 1)
        self.clear_all_breaks()
        self.set_continue()


class StopSignals:
    """Records the first stop, for the run to ask should_stop() after every minibatch and every predicted
    value: a stop signal, or q in the debugger.  As a context manager: the stop signals' handler (in the main
    thread: Python allows handlers nowhere else) and breakpoint()'s debugger, StopOnQuit (unless
    PYTHONBREAKPOINT or another hook chose one), the previous ones put back after.  A signal the run was
    started with ignored, as `nohup` ignores HUP, stays ignored."""

    def __init__(self, at_once=False):
        self.first, self.event, self.previous, self.hooked = None, None, {}, False  # first: (word, exit status)
        self.at_once = at_once  # a stop signal raises Stopped where it finds the run (--gradcheck)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = {signum: signal.signal(signum, self.record) for signum in STOP_WORDS
                             if signal.getsignal(signum) is not signal.SIG_IGN}
        self.hooked = (sys.breakpointhook is sys.__breakpointhook__ and not os.environ.get("PYTHONBREAKPOINT")
                       and not self.at_once)
        if self.hooked:
            sys.breakpointhook = self.breakpoint
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.hooked:
            sys.breakpointhook = sys.__breakpointhook__

    def record(self, signum, frame=None):
        self.stop_with(STOP_WORDS[signum], 128 + signum)
        if self.at_once:
            raise Stopped

    def stop_with(self, word, status):
        self.first = self.first or (word, status)
        if self.event is not None:  # the worker processes of a sweep
            self.event.set()

    def should_stop(self):
        return self.first is not None

    def breakpoint(self, *args, **kwargs):
        """breakpoint() during a run: the debugger, at the line that called it; none once the run is stopping."""
        if not self.should_stop():
            StopOnQuit(self).set_trace(sys._getframe(1))

    def said(self, what):
        """The stop's one line on stderr (if anyone reads it); its exit status."""
        word, status = self.first
        tell(f"{word}{what}")
        return status


def smaller_lr_text(lrs):
    return f"try a smaller learning rate than --lr {min(lrs):g} (the default is {SETTING['lr'].default():g})"


def single_run(s, stop):
    """Train in this process, save the files, print a summary; the exit status."""
    started = time.perf_counter()
    snapshots = Snapshots(s, stop.should_stop) if s.snapshot_count or s.animate else None
    gates = Gates() if s.gates else None
    hooks = [hook for hook in (None if s.quiet else progress_printer(s.epochs, started), snapshots) if hook]

    def after_epoch(epoch, loss, model):
        for hook in hooks:
            hook(epoch, loss, model)
    r = run(s, s.seed, after_epoch, stop.should_stop, gates)
    r.snapshots, r.gates = snapshots, gates.arrays() if gates else {}
    r.gradient_flows = gradient_flows(s, r) if s.gradient_flow else {}  # of a model that finished training
    generated, asked = int(np.sum(~np.isnan(r.prediction[s.time_size:]))), len(r.x) - s.time_size
    out, figures, epochs = Output(s.out, owned_files(s)), [], len(r.loss)
    if epochs:
        used, windows = windows_used(s)
        say(f"final loss {r.loss[-1]:.6g} (epoch {epochs}{', dropout on' if s.dropout else ''})"
            + (f"; noise floor {noise_floor(s, r.noisy):.4g}, the loss of the clean sine itself" if s.noise else "")
            + (f", on average (an epoch draws {used} of the {windows} windows)" if s.noise and used < windows else ""))
    if r.status != "diverged" and generated == asked:  # fewer when a stop cut the prediction short
        say(f"closed-loop RMSE against the clean sine over the {s.n_points - s.time_size} generated points: "
            f"{r.rmse:.4f}" + (f"\n  and over the {s.future} points past the data: {r.future_rmse:.4f}"
                               if s.future else ""))
    try:
        left_out = save_run(s, r, out, figures, stop)
        say(f"time {time.perf_counter() - started:.2f} s; {out.written_text()}")
        if gates and gates.problem:
            left_out["gates.png"] = f"the gates could not be read from the {s.cell.upper()}: {gates.problem}"
        if s.animate and "learning.gif" not in out.written:
            left_out.setdefault("learning.gif", "no snapshot was taken")
        for name, why in left_out.items():
            if name != "learning.gif":  # left out by a stop, which says so below
                tell(f"{name} left out: {why}")
        if r.status == "diverged":
            tell(f"training diverged: the loss stopped being finite in epoch {epochs + 1}; "
                 f"{smaller_lr_text([s.lr])}")
            return 1
        if stop.should_stop():
            left = f"; {', '.join(left_out)} left out" if left_out else ""
            if r.status == "interrupted":
                where = (f"during the snapshot after epoch {epochs}" if snapshots and snapshots.stopped == epochs
                         else f"in epoch {epochs + 1}")
                what = f" {where}: saved the model as it stands (no prediction made){left}"
            elif snapshots and snapshots.stopped == epochs:  # the last epoch's snapshot, then no prediction
                what = (f" during the snapshot after the last epoch ({epochs}): saved the trained model (no "
                        f"prediction made){left}")
            elif generated < asked:
                what = (f" during the closed-loop prediction, after {generated} of {asked} points: saved the "
                        f"trained model and the points so far{left}")
            else:
                saved = f"all but {', '.join(left_out)}" if left_out else "everything"
                what = f" after training: {saved} is saved, nothing shown"
            return stop.said(what)
        if left_out:
            return 1
        show_and_close(figures, s.show)
        return stop.said(": figures closed") if stop.should_stop() else 0  # a stop while the windows were open
    finally:
        show_and_close(figures)


# ----------------------------------------------------------------------------------------------------------
# Sweeps and grids: one model per (setting, seed), each trained in a worker process of its own, as many at
# once as there are cores.  A worker ignores the stop signals (this process tells it, through an Event, to
# stop at the end of its minibatch), exits as soon as this process is gone, however it ended, and a worker
# that dies (the OOM killer, a kill) costs only its own model.  Where no worker can be started (no semaphores
# or no processes: some containers, serverless hosts, Pyodide), the models train here, one after another,
# with the same numbers.  Hand-written because the pools fail at that: when one worker of a ProcessPoolExecutor
# is killed, every job, running or queued, fails with BrokenProcessPool; a multiprocessing.Pool never returns
# the dead worker's job (get() and imap wait for it for ever) and its close() and join() hang.
# ----------------------------------------------------------------------------------------------------------
def train_worker(connection, s, seed, stop_event, parent):
    """A worker process: train one model and send back what sweep_model() gives."""
    for signum in STOP_WORDS:
        signal.signal(signum, signal.SIG_IGN)

    def exit_with_parent():  # at once, even while blocked sending results that no one will read
        while os.getppid() == parent:
            time.sleep(0.1)
        os._exit(1)
    threading.Thread(target=exit_with_parent, daemon=True).start()
    connection.send(sweep_model(s, seed, stop_event.is_set))


def sweep_model(s, seed, should_stop):
    """One model of a sweep: what run() gives, with the gradient flows when asked, less the model itself."""
    r = run(s, seed, should_stop=should_stop)
    r.gradient_flows = gradient_flows(s, r) if s.gradient_flow else {}  # of a model that finished training
    del r.model
    return r


def failed_model(s, seed, exitcode):
    """What a sweep records of a model whose worker died before sending it."""
    x, clean = sample_sine(s, s.future)
    return SimpleNamespace(seed=seed, status="failed", loss=np.array([]), x=x, clean=clean,
                           prediction=np.full(len(x), np.nan), rmse=np.nan, future_rmse=np.nan, exitcode=exitcode)


def train_models(jobs, stop, on_done, workers):
    """Train one model per job (settings, seed), at most `workers` at once; return {job's index: results} for
    the jobs that started, calling on_done(k, r) as each ends.  Once stop.should_stop(), models stop at the
    end of their minibatch and no other starts."""
    import multiprocessing
    from multiprocessing.connection import wait
    # fork where it is safe; spawn in a process with other threads (a notebook's kernel; Python 3.12 warns)
    safe = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    if not safe and not hasattr(sys.modules["__main__"], "__spec__"):  # IPython's %run leaves none; spawn reads it
        sys.modules["__main__"].__spec__ = None
    context, done, here = multiprocessing.get_context("fork" if safe else "spawn"), {}, None
    main_file = getattr(sys.modules["__main__"], "__file__", None)
    if not safe and main_file is not None and not os.path.isfile(main_file):  # a program read from stdin
        here = f"{main_file} is no file a worker process could rerun (spawn does, as this process has threads)"
    else:
        try:
            stop.event = context.Event()
        except (OSError, ImportError, NotImplementedError) as e:
            here = f"no worker processes here ({e})"
    if here:
        say(f"training in this process: {here}")
        for k, (settings, seed) in enumerate(jobs):
            if not stop.should_stop():
                done[k] = sweep_model(settings, seed, stop.should_stop)
                on_done(k, done[k])
        return done
    if stop.should_stop():  # a signal that came before the Event
        stop.event.set()
    waiting, running = list(enumerate(jobs)), {}  # running: {connection: (k, process)}
    try:
        while running or (waiting and not stop.should_stop()):
            while waiting and len(running) < workers and not stop.should_stop():
                k, (settings, seed) = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=train_worker, daemon=True,
                                          args=(send, settings, seed, stop.event, os.getpid()))
                process.start()
                send.close()  # the worker's end is now the only one: when it dies, the pipe ends
                running[receive] = (k, process)
            for receive in wait(list(running)):
                k, process = running.pop(receive)
                try:
                    r = receive.recv()
                except EOFError:  # the worker died before sending its model
                    r = None
                process.join()
                done[k] = r or failed_model(*jobs[k], process.exitcode)
                on_done(k, done[k])
    finally:
        for k, process in running.values():  # only when this process itself fails
            process.terminate()
            process.join()
    return dict(sorted(done.items()))


def sweep(s, stop):
    """Train one model per seed for each setting of the grid (a --seeds sweep: the one setting of the flags);
    print a line per model and a summary; write the table (CSV and .npz) and a figure."""
    started = time.perf_counter()
    points, seeds = s.grid or [({}, s)], s.seeds or list(GRID_SEEDS)
    varied, jobs = list(points[0][0]), [(settings, seed) for _, settings in points for seed in seeds]
    if not s.quiet:
        fixed = [setting.name for setting in SETTINGS if setting.grid and setting.name not in varied]
        say(f"training {plural(len(jobs), 'model')}: {settings_text(s, fixed, per_line=len(fixed))}"
            + "".join(f"; {name}={','.join(dict.fromkeys(value_text(p[name]) for p, _ in points))}"
                      for name in varied)
            + f"; {plural(len(points), 'setting')} x {plural(len(seeds), 'seed')}")

    def finished(k, r):
        if r.status == "failed":
            say(f"  {point_text(points[k // len(seeds)][0])}seed {seeds[k % len(seeds)]}: failed, its worker "
                f"process ended (exit code {r.exitcode}) before sending its model")
        elif not s.quiet:
            say(f"  {point_text(points[k // len(seeds)][0])}seed {seeds[k % len(seeds)]}: "
                + (f"{r.status} in epoch {len(r.loss) + 1}, " if r.status != "done" else "")
                + (f"loss {r.loss[-1]:.6g}, RMSE {r.rmse:.4f}" if len(r.loss) else "no epoch finished"))

    done = train_models(jobs, stop, finished, s.jobs or os.cpu_count() or 1)
    if not done:
        return stop.said(" before any model finished; nothing written")
    runs = list(done.values())
    rows = [dict(points[k // len(seeds)][0], seed=r.seed, final_loss=r.loss[-1] if len(r.loss) else np.nan,
                 rmse=r.rmse, future_rmse=r.future_rmse, status=r.status, epochs_done=len(r.loss),
                 noise_floor=np.nan if r.status == "failed" else noise_floor(jobs[k][0], r.noisy))
            for k, r in done.items()]
    print_summary(rows, varied, future=any(settings.future for settings, _ in jobs))
    longest = max(runs, key=lambda r: len(r.x))  # with --grid future=...: predictions of several lengths
    predictions = np.full((len(runs), len(longest.x)), np.nan)
    for row, r in zip(predictions, runs):
        row[:len(r.prediction)] = r.prediction
    columns = {column: np.array([np.nan if row[column] is None else row[column] for row in rows])
               for column in rows[0]}
    others = {setting.name: getattr(s, setting.name) for setting in SETTINGS if setting.name not in varied + ["seed"]}
    flows, groups = sweep_gradient_flows(s, jobs, done, points) if s.gradient_flow else ({}, [])
    figures = [plot_grid(s, rows, varied) if s.grid else plot_sweep(s, runs)]
    if groups:
        figures.append(plot_sweep_gradient_flow(s, groups, varied))
    out = Output(s.out, owned_files(s))
    csv_name, npz_name, png_name, flow_name = out.owned
    names = [csv_name, npz_name, png_name] + ([flow_name] if groups else [])  # the files this sweep writes
    try:
        out.plan(names)
        out.write(csv_name, lambda path: write_csv(path, [dict(row, **others) for row in rows]))
        out.arrays(npz_name, s, dict(columns, **flows, x=longest.x, clean=longest.clean, prediction=predictions,
                                     files=np.array(names)), varied + ["seed"])
        out.figure(png_name, figures[0])
        if groups:
            out.figure(flow_name, figures[1])
        say(f"time {time.perf_counter() - started:.2f} s; {out.written_text()}")
        failed = [row for row in rows if row["status"] == "failed"]
        diverged = [row for row in rows if row["status"] == "diverged"]
        if stop.should_stop():
            unfinished = len(runs) < len(jobs) or any(r.status != "done" for r in runs)
            return stop.said(f": the results of {len(runs)} of {len(jobs)} models saved (their losses and predictions; "
                             f"a sweep keeps no weights), some of them unfinished" if unfinished
                             else " after training: everything is saved, nothing shown")
        if failed:
            tell(f"{len(failed)} of {len(jobs)} models failed (their worker process died); the others are saved")
        if diverged:
            tell(f"{len(diverged)} of {len(jobs)} models diverged (their loss stopped being finite); "
                 f"{smaller_lr_text([row.get('lr', s.lr) for row in diverged])}")
        if failed or diverged:
            return 1
        show_and_close(figures, s.show)
        return 0
    finally:
        show_and_close(figures)


def sweep_gradient_flows(s, jobs, done, points):
    """With --gradient-flow: ({name: (models, steps)} for the .npz, the top layer's flows a row per model, nan
    where a model has none; [(label, [{name: norms} of each finished model])], a group a setting of the grid
    (a --seeds sweep: a group a seed), for plot_sweep_gradient_flow)."""
    names = ("gradient_flow", "gradient_flow_c", "gradient_flow_initial", "gradient_flow_c_initial")

    def top(k):  # the trained model k's top layer's flows
        layers = jobs[k][0].layers
        return {name: done[k].gradient_flows.get(of_layer(name, layers, layers)) for name in names}
    nothing = np.full(s.n_points - 1, np.nan)
    flows = {name: np.array([nothing if top(k)[name] is None else top(k)[name] for k in done]) for name in names}
    groups, per_point = [], len(jobs) // len(points)
    for p, (point, _) in enumerate(points):
        finished = [k for k in range(p * per_point, (p + 1) * per_point) if k in done and done[k].gradient_flows]
        if s.grid and finished:
            groups.append((point_text(point).strip(), [top(k) for k in finished]))
        elif not s.grid:
            groups += [(f"seed {done[k].seed}", [top(k)]) for k in finished]
    return flows, groups


def plot_colors(n):
    """n distinct colours: tab10's for 10 or fewer, else along viridis."""
    import matplotlib
    if n <= 10:
        return matplotlib.colormaps["tab10"].colors[:n]
    return matplotlib.colormaps["viridis"](np.linspace(0, 1, n))


def point_text(point):
    return "".join(f"{name}={value_text(value)} " for name, value in point.items())


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({key: f"{value:.6g}" if isinstance(value, float) and not math.isnan(value)
                          else value_text(value) for key, value in row.items()} for row in rows)


def grid_settings(rows, names):
    """The grid's settings: the distinct values of the named columns, numbers sorted as numbers."""
    return sorted(dict.fromkeys(tuple(row[name] for name in names) for row in rows),
                  key=lambda values: [(isinstance(v, (str, type(None))), str(v) if isinstance(v, (str, type(None)))
                                       else v) for v in values])


def finished_rows(rows, names, setting):
    return [row for row in rows if row["status"] == "done" and tuple(row[name] for name in names) == setting]


def print_summary(rows, names, future):
    """A sweep: every model's row, then mean, std, min and max over the finished ones.  A grid: per setting,
    mean +- std over its finished seeds, then whether the settings differ by more than the seeds do (among
    the settings with two finished seeds or more)."""
    columns = [("final_loss", "final loss", ".6g", 11), ("rmse", "RMSE", ".4f", 8)] + \
        [("future_rmse", "future RMSE", ".4f", 12)] * future
    if not names:
        say(f"\n{'seed':>10}" + "".join(f" {heading:>{width}}" for _, heading, _, width in columns))
        finished = [row for row in rows if row["status"] == "done"]
        lines = [(row["seed"], row, "" if row["status"] == "done" else f"  {row['status']}") for row in rows]
        if finished:
            for label, stat in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max)):
                lines.append((label, {key: stat([row[key] for row in finished]) for key, *_ in columns}, ""))
        for label, row, note in lines:
            say(f"{label:>10}" + "".join(f" {row[key]:>{width}{form}}" for key, _, form, width in columns) + note)
        return
    labels = {setting: point_text(dict(zip(names, setting))).strip() for setting in grid_settings(rows, names)}
    width = max(map(len, labels.values()))
    say(f"\n{'setting':<{width}}" + "".join(f" {heading + ' (mean +- std)':>24}" for _, heading, *_ in columns)
        + " finished")
    means, errors = [], []
    for setting, label in labels.items():
        group = finished_rows(rows, names, setting)
        values = {key: np.array([row[key] for row in group]) for key, *_ in columns}
        say(f"{label:<{width}}" + ("".join(f" {values[key].mean():>10{form}} +- {values[key].std():<10{form}}"
                                           for key, _, form, _ in columns) + f" {len(group):>8}" if group
                                   else "  (no model finished)"))
        if len(group) > 1:
            means.append(values["rmse"].mean())
            errors.append(values["rmse"].std() / np.sqrt(len(group)))
    if len(means) > 1:
        spread, noise = float(np.std(means)), float(np.mean(errors))
        say(f"RMSE: the settings' means spread by {spread:.4f} (std over settings); the seeds alone move a mean "
            f"by about {noise:.4f} (std over seeds / sqrt(seeds)): " +
            ("the settings differ by more than the seeds do" if spread > 2 * noise else
             "the settings differ by no more than the seeds do: with these seeds, they cannot be told apart"))


LEGEND_ENTRIES = 10  # a sweep with more models colours them by RMSE and names only the best and the worst


def plot_sweep(s, runs):
    """Every model's prediction over the clean sine: one legend entry each, in tab10's distinct colours, for
    LEGEND_ENTRIES models or fewer; past that, coloured by RMSE on a scale, the best and the worst named.
    A model that did not finish training has no prediction: the legend names it."""
    import matplotlib
    fig, ax = new_figure(s, "Closed-loop predictions, one model per seed", (9, 6.5))
    ax.plot(runs[0].x, runs[0].clean, color="black", lw=2.5, label="clean sine")
    ranked = sorted((r for r in runs if np.isfinite(r.rmse)), key=lambda r: r.rmse)

    def draw(r, color, prefix=None, **style):
        result = f"RMSE {r.rmse:.3f}" if r.status == "done" else f"{r.status}, no prediction"
        label = f"{prefix}seed {r.seed}: {result}"
        ax.plot(r.x, r.prediction, color=color, **style, label=None if prefix is None else label)
    if len(runs) <= LEGEND_ENTRIES:
        for r, color in zip(runs, matplotlib.colormaps["tab10"].colors):
            draw(r, color, "", lw=1)
    elif ranked:
        cmap, norm = matplotlib.colormaps["viridis"], matplotlib.colors.Normalize(ranked[0].rmse, ranked[-1].rmse)
        for r in reversed(ranked):  # the best drawn last, on top
            draw(r, cmap(norm(r.rmse)), lw=0.8, alpha=0.7)
        for r, word in ((ranked[0], "best: "), (ranked[-1], "worst: ")):
            draw(r, cmap(norm(r.rmse)), word, lw=2)
        fig.colorbar(matplotlib.cm.ScalarMappable(norm, cmap), ax=ax, label="closed-loop RMSE", pad=0.01)
    ax.axvline(runs[0].x[s.time_size - 1], color="0.3", lw=0.8, ls=":", label="end of the warm-up")
    unfinished = sum(r.status != "done" for r in runs)
    unfinished = f" ({unfinished} of them did not finish: no prediction)" if unfinished else ""
    finish_wave_plot(s, ax, runs[0].x, f"Closed-loop predictions, {plural(len(runs), 'model')}, one per seed"
                     f"{unfinished}\n{settings_text(s)}", legend_columns=4)
    return fig


def plot_sweep_gradient_flow(s, groups, varied):
    """The trained models' gradient flow, the top layer's: ||dl/dh_t|| (solid) and, for an LSTM, ||dl/dc_t||
    (dashed) against the steps back from the loss, a curve each of groups [(label, [flows of its models])],
    the geometric mean over its models (its seeds)."""
    fig, ax = new_figure(s, "How far back the gradient reaches, model by model", (9, 6))
    colors = plot_colors(len(groups))
    for (label, members), color in zip(groups, colors):
        for name, style, symbol in (("gradient_flow", "-", "h"), ("gradient_flow_c", "--", "c")):
            if members[0][name] is not None:
                mean = np.exp(np.mean(np.log([flow[name] for flow in members]), axis=0))
                ax.plot(np.arange(len(mean)), mean[::-1], color=color, ls=style, lw=1.5,
                        label=f"{label}: ||dl/d{symbol}_t||")
    ax.axvline(s.time_size - 1, color="0.2", lw=1, ls=":", label=f"how far training's truncated BPTT reaches "
               f"(time size {s.time_size})")
    ax.set_yscale("log")
    ax.set(xlabel=f"steps back from the loss (the last of {s.n_points - 1} steps)",
           ylabel="||dl/dh_t|| (solid), ||dl/dc_t|| (dashed), log scale")
    over = "each the geometric mean over its seeds" if s.grid else "a model per seed"
    top = " (the top layer's)" if any(settings.layers > 1 for _, settings in s.grid or []) or s.layers > 1 else ""
    fixed = [name for name in SETTING if SETTING[name].grid and name not in varied]
    ax.set_title(f"How far back through time the gradient reaches after training{top}, {over}\n"
                 f"{settings_text(s, fixed)}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    return fig


def plot_grid(s, rows, names):
    """For each setting of the grid, every finished seed's closed-loop RMSE as a dot and their mean +- std as a
    diamond; under it, when models generated past the data (--future), the same for the RMSE there.  The
    script's defaults shaded; with two or more varied settings, coloured by the last one.  As many settings a
    row as fit in 14 inches, then more rows."""
    import matplotlib
    settings, defaults = grid_settings(rows, names), tuple(SETTING[name].default() for name in names)
    labels = [point_text(dict(zip(names, setting))).strip().replace(" ", "\n") for setting in settings]
    column = max(0.9, 0.07 * max(len(line) for label in labels for line in label.split("\n")))  # inches
    per_row = max(1, min(len(settings), int(14 // column)))
    n_rows = -(-len(settings) // per_row)
    metrics = [("rmse", "closed-loop RMSE")]
    if any(np.isfinite(row["future_rmse"]) for row in rows):
        metrics.append(("future_rmse", "RMSE past the data"))
    fig, axes = new_figure(s, "Closed-loop RMSE for each setting", (max(7.5, 1.2 + column * per_row), 1.8 + (
                           2.6 + 0.15 * len(names)) * n_rows * len(metrics)), n_rows * len(metrics), squeeze=False)
    axes = axes[:, 0]  # a row of settings: one axes a metric
    for k in range(len(metrics), len(axes)):
        axes[k].sharey(axes[k % len(metrics)])
    colors, groups = matplotlib.colormaps["tab10"].colors, list(dict.fromkeys(setting[-1] for setting in settings))
    for k, setting in enumerate(settings):
        x = k % per_row
        color = colors[groups.index(setting[-1]) % len(colors)] if len(names) > 1 else "tab:blue"
        finished = finished_rows(rows, names, setting)
        for j, (key, _) in enumerate(metrics):
            ax = axes[k // per_row * len(metrics) + j]
            values = np.array([row[key] for row in finished if np.isfinite(row[key])])
            ax.plot(np.full(len(values), x), values, "o", color=color, alpha=0.45, ms=5)
            if len(values):
                ax.errorbar(x + 0.18, values.mean(), values.std(), fmt="D", color=color, capsize=4, ms=6)
            else:
                ax.text(x, 0.5, "nothing past\nthe data" if finished else "no model\nfinished", ha="center",
                        va="center", fontsize=7, color="0.4", transform=ax.get_xaxis_transform())
            if setting == defaults:
                ax.axvspan(x - 0.4, x + 0.4, color="0.9", zorder=0)
    for k, ax in enumerate(axes):
        shown = labels[k // len(metrics) * per_row:(k // len(metrics) + 1) * per_row]
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels(shown, fontsize=7)
        ax.set(xlim=(-0.6, per_row - 0.4), ylabel=metrics[k % len(metrics)][1])
        ax.grid(True, axis="y", alpha=0.3)
    if len(names) > 1:
        handles = [matplotlib.lines.Line2D([], [], color=colors[k % len(colors)], marker="D", ls="")
                   for k in range(len(groups))]
        axes[0].legend(handles, [f"{names[-1]}={value_text(v)}" for v in groups], fontsize=8)
    statuses = [row["status"] for row in rows]
    unfinished = {status: statuses.count(status) for status in ("diverged", "interrupted", "failed")}
    fixed = settings_text(s, [name for name in SETTING if SETTING[name].grid and name not in names])
    seeds = " ".join(str(seed) for seed in dict.fromkeys(row["seed"] for row in rows))
    shaded = "; shaded: the defaults" if defaults in settings else ""
    left_out = "".join(f"; {plural(count, 'model')} {status}, left out" for status, count in unfinished.items()
                       if count)
    axes[0].set_title(f"Each seed's closed-loop RMSE (dots) and their mean +- std (diamonds)\nseeds {seeds}"
                      f"{shaded}{left_out}\nvaried: {', '.join(names)}; the rest:\n{fixed}", fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------------------------
# Command line.  The parser, its checks and their messages, and --grid all come from SETTINGS.
# ----------------------------------------------------------------------------------------------------------
PROG = "train_sin_lstm.py"


class SettingError(Exception):
    """A setting that cannot work; the message names it, its value and what would work."""


def expected(setting):
    """The values a setting takes, in words."""
    kind = {int: "a whole number", float: "a number", bool: "true or false", str: "a name"}.get(setting.type)
    return (kind or f"one of {', '.join(map(str, setting.type))}") + " or none" * setting.none


def parse_value(setting, text):
    """The value of a flag's text (ArgumentTypeError, which argparse reports, when it is not one)."""
    try:
        if setting.none and text.lower() == "none":
            return None
        if setting.type is bool:
            return {"true": True, "false": False}[text.lower()]
        return setting.type[setting.type.index(text)] if isinstance(setting.type, tuple) else setting.type(text)
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {expected(setting)}") from None


def problem(setting, value, s):
    """What is wrong with value, from a flag or from the constant ('must be ...'), or None; s: the other
    settings, for a range that depends on them."""
    if value is None and setting.none:
        return None
    if isinstance(setting.type, tuple):
        if not any(value == choice and type(value) is type(choice) for choice in setting.type):
            return f"must be {setting.note or expected(setting)}"
        return None
    if setting.type in (bool, str):
        return None if isinstance(value, setting.type) and value != "" else f"must be {expected(setting)}"
    low, high = bounds(setting, s)
    if setting.type is int:
        fits = isinstance(value, int) and not isinstance(value, bool)
    else:  # a float setting takes whole numbers too
        fits = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if fits and low is not None:
        fits = value > low if setting.above else value >= low
    if fits and high is not None:
        fits = value < high if setting.below else value <= high
    return None if fits else f"must be {allowed(setting, s)}"


def bounds(setting, s):
    """A number setting's (low, high), either None when there is none; s: the other settings."""
    return tuple(bound(s) if callable(bound) else bound for bound in (setting.low, setting.high))


def allowed(setting, s):
    """The values a number setting takes, in words, with its note: 'a whole number from 1 to 50 (...)'."""
    low, high = bounds(setting, s)
    note = setting.note(s) if callable(setting.note) else setting.note
    if setting.type is int:
        words = f"a whole number from {low} to {high}" if high is not None else f"a whole number of at least {low}"
    elif low is not None and high is not None and not setting.above and not setting.below:
        words = f"a finite number from {low:g} to {high:g}"
    else:
        words = "a finite number"
        if low is not None:
            words += f" {'above' if setting.above else 'of at least'} {low:g}"
        if high is not None:
            words += f"{' and' if low is not None else ''} {'below' if setting.below else 'at most'} {high:g}"
    return words + note


class ArgumentParser(argparse.ArgumentParser):
    """argparse, made to raise instead of exiting: main() returns a status, in a notebook too.  (Its own
    exit_on_error=False still prints its usage and exits on an unknown flag, before Python 3.13.)"""

    def error(self, message):
        raise SettingError(f"{message} (see --help)")


def make_parser():
    p = ArgumentParser(prog=PROG, argument_default=argparse.SUPPRESS, description="Train an LSTM on a noisy sine "
                       "wave (NumPy only), let it generate the wave closed-loop, and plot both.  Defaults: the "
                       "constants at the top of the script.")
    defaults = argparse.Namespace(**{setting.name: setting.default() for setting in SETTINGS})
    for setting in (setting for setting in SETTINGS if setting.flag):
        text = f"{setting.help} ({setting.constant}, default {value_text(setting.default())})"
        if setting.type in (int, float):
            with contextlib.suppress(TypeError, ValueError):  # N_POINTS edited to a non-number: refused later
                text += f"; {allowed(setting, defaults)}"
        if setting.type is bool:
            group = p.add_mutually_exclusive_group()
            group.add_argument(setting.flag, dest=setting.name, action="store_true", help=text)
            group.add_argument(setting.off, dest=setting.name, action="store_false", help="the opposite")
        else:
            p.add_argument(setting.flag, dest=setting.name, type=lambda text, setting=setting: parse_value(
                setting, text), help=text, metavar="|".join(setting.type) if isinstance(setting.type, tuple)
                else setting.flag[2:].upper().replace("-", "_"))
    p.add_argument("--seeds", type=lambda text: parse_value(SETTING["seed"], text), nargs="+", action="extend",
                   metavar="S",
                   help="train one model per seed and compare them: sweep.png, sweep.csv, sweep.npz")
    gridded = ", ".join(setting.flag[2:] for setting in SETTINGS if setting.grid)
    p.add_argument("--grid", nargs="+", action="extend", metavar="NAME=V1,V2", help="train every combination of "
                   f"these values of {gridded} with every seed of --seeds (default {' '.join(map(str, GRID_SEEDS))}): "
                   "grid.png, grid.csv, grid.npz")
    p.add_argument("--gradcheck", action="store_true", help="check the model's gradients against central "
                   "differences instead of training")
    p.add_argument("--no-show", dest="show", action="store_false", help="only save the figures")
    p.add_argument("--jobs", type=lambda text: parse_value(JOBS, text), metavar="N", help="models a sweep or grid "
                   f"trains at once, each in a process of its own (default: one per core, here {os.cpu_count()})")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def settings_from(given):
    """The settings: the constants at the top, overridden by what the flags gave; each checked."""
    s = argparse.Namespace(**{setting.name: setting.default() for setting in SETTINGS})
    vars(s).update(given)
    for setting in sorted(SETTINGS, key=lambda setting: bool(setting.flag)):  # the data constants first
        value = getattr(s, setting.name)
        if problem(setting, value, s):
            label = f"{setting.flag} ({setting.constant})" if setting.flag else setting.constant
            raise SettingError(f"{label} = {value!r}: {problem(setting, value, s)}")
    s.out = os.path.expanduser(s.out)  # OUT_DIR = "~/runs" at the top, where no shell expands the ~
    n_inputs, B, T, M = s.n_points - 1, s.batch_size, s.time_size, minibatches_per_epoch(s.n_points, s.batch_size)
    if B * M > n_inputs - T:
        batches = [b for b in range(1, n_inputs // 2 + 1) if b * minibatches_per_epoch(s.n_points, b) <= n_inputs - T]
        spans = [[b for _, b in span] for _, span in itertools.groupby(enumerate(batches), lambda kb: kb[1] - kb[0])]
        sizes = ", ".join(f"{span[0]}-{span[-1]}" if len(span) > 1 else str(span[0]) for span in spans)  # 8, 11-50
        raise SettingError(f"--batch-size {B} with --time-size {T}: an epoch takes {M} minibatch{'es' * (M > 1)} "
                           f"x {B} = {B * M} windows, but {n_inputs} inputs give only "
                           f"{plural(n_inputs - T, 'window')} of {T} steps; use --time-size {n_inputs - B * M} or less"
                           + (f", or with --time-size {T} a batch size in {sizes}" if sizes else ""))
    return s


def parse(argv):
    """The settings of these command-line words; s.grid is the grid's [(varied {name: value}, settings)]."""
    parser = make_parser()
    given = vars(parser.parse_args(argv))
    modes = {name: given.pop(name, default) for name, default in
             (("seeds", None), ("grid", None), ("jobs", None), ("gradcheck", False), ("show", True),
              ("quiet", False))}
    s = argparse.Namespace(**vars(settings_from(given)), **modes)
    for seed in s.seeds or []:
        if problem(SETTING["seed"], seed, s):
            raise SettingError(f"--seeds {seed}: {problem(SETTING['seed'], seed, s)}")
    if s.seeds and len(set(s.seeds)) < len(s.seeds):
        raise SettingError(f"--seeds {' '.join(map(str, s.seeds))}: a seed given twice trains the same model twice")
    if s.grid and not s.seeds and (not GRID_SEEDS or any(problem(SETTING["seed"], seed, s) for seed in GRID_SEEDS)
                                   or len(set(GRID_SEEDS)) < len(GRID_SEEDS)):
        raise SettingError(f"GRID_SEEDS = {GRID_SEEDS!r}: must be distinct seeds, whole numbers from 0 to 2**32 - 1")
    several = "--seeds" if s.seeds else "--grid" if s.grid else None
    single = [flag for flag, name in (("--seed", "seed"), ("--snapshots", "snapshot_count"), ("--animate", "animate"),
                                      ("--gates", "gates")) if name in given]
    if several and (single or s.gradcheck):
        flag = (single + ["--gradcheck"])[0]
        raise SettingError(f"{flag} is for a single run, not with {several}" +
                           " (give the seeds in --seeds)" * (flag == "--seed"))
    if several and (s.snapshot_count or s.animate or s.gates):
        raise SettingError(f"SNAPSHOTS, ANIMATE and GATES are for a single run, not with {several}")
    if s.jobs is not None and problem(JOBS, s.jobs, s):
        raise SettingError(f"--jobs {s.jobs}: {problem(JOBS, s.jobs, s)}")
    if s.jobs is not None and not several:
        raise SettingError("--jobs is for --seeds or --grid: a single run trains one model, here")
    s.grid = s.grid and grid_points(parser, given, s.grid)
    return s


def grid_points(parser, given, items):
    """Every combination of the grid's values: [(the point {name: value}, the settings of the flags and the
    point's own flags, parsed and checked as any)]."""
    values = {}
    for item in items:
        key, _, texts = item.partition("=")
        setting = next((setting for setting in SETTINGS if setting.grid and key.replace("_", "-") in
                        (setting.flag[2:], setting.name.replace("_", "-"))), None)
        if setting is None:
            raise SettingError(f"--grid {item}: unknown setting {key!r}; one of "
                               + ", ".join(setting.flag[2:] for setting in SETTINGS if setting.grid))
        if setting.name in values:
            raise SettingError(f"--grid {item}: {key} is named twice; give all its values at once")
        if not texts or "" in texts.split(","):
            raise SettingError(f"--grid {item}: give the values as {key}=V1,V2,...")
        try:
            values[setting.name] = list(dict.fromkeys(parse_value(setting, text) for text in texts.split(",")))
        except argparse.ArgumentTypeError as e:
            raise SettingError(f"--grid {item}: {e}") from None
    points = []
    for combination in itertools.product(*values.values()):
        point = dict(zip(values, combination))
        flags = [word for name, value in point.items() for word in (
            [SETTING[name].flag if value else SETTING[name].off] if SETTING[name].type is bool
            else [SETTING[name].flag, value_text(value)])]
        try:
            settings = settings_from(dict(given, **vars(parser.parse_args(flags))))
        except SettingError as e:
            raise SettingError(f"--grid combination {point_text(point).strip()}: {e}") from None
        points.append((point, argparse.Namespace(**vars(settings), show=False, quiet=True)))
    return points


def module_missing(name):
    try:
        return importlib.util.find_spec(name) is None
    except ImportError:  # a finder that refuses it, as a broken installation does; or a parent that is missing
        return True


def prepare_out_dir(s):
    """Before any training: matplotlib is there with a backend it knows, a file can be written in the output
    folder, no folder stands where the run will write or remove a file, and no file there is one it may not
    replace."""
    path = s.out
    if module_missing("matplotlib"):
        raise SettingError("matplotlib is not installed, and a run draws its figures with it: "
                           "pip install -r requirements.txt (--gradcheck works without it)")
    try:  # here, before training: matplotlib checks MPLBACKEND as it loads
        import matplotlib  # noqa: F401
    except ValueError as e:
        raise SettingError(f"MPLBACKEND={os.environ.get('MPLBACKEND')}: {e}; unset it to let matplotlib choose") \
            from None
    backend = os.environ.get("MPLBACKEND", "")
    if backend.startswith("module://") and module_missing(backend[len("module://"):]):
        raise SettingError(f"MPLBACKEND={backend}: there is no such module; unset it to let matplotlib choose")
    if os.path.lexists(path) and not os.path.isdir(path):
        raise SettingError(f"--out {path}: that is {what_stands_at(path)}; give a folder")
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as e:
        raise SettingError(f"--out {path}: cannot write there ({e.strerror or e})") from None
    folder = os.stat(path)
    for name in owned_files(s):
        if os.path.isdir(os.path.join(path, name)):
            raise SettingError(f"--out {path}: {name} is a folder, in the place of a file this run writes or "
                               "removes; move it away or give another --out")
        owner = os.lstat(os.path.join(path, name)).st_uid if os.path.lexists(os.path.join(path, name)) else None
        # in a folder with the sticky bit (as /tmp), a file is replaced or removed only by its owner, the
        # folder's or root
        if folder.st_mode & stat.S_ISVTX and owner is not None and os.geteuid() not in (0, owner, folder.st_uid):
            raise SettingError(f"--out {path}: {name} is another user's, and the folder's sticky bit lets only its "
                               "owner replace or remove it; give another --out")


def what_stands_at(path):
    """What a path that is not a folder is, in words."""
    if os.path.islink(path):
        return f"a link to {os.readlink(path)}, which " + ("is not a folder" if os.path.exists(path) else
                                                          "does not exist")
    return "a file" if os.path.isfile(path) else "neither a file nor a folder (a pipe, a socket or a device)"


@contextlib.contextmanager
def only_run_in(path):
    """Held while a run writes into the folder at path: a second run into it is refused (SettingError) instead
    of mixing its files with this one's.  A lock on the folder itself (flock: released however this process
    ends, so none is ever left stale); none where the system has no flock."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock_holder(path)
            raise SettingError(f"--out {path}: another run is writing there{f' (process {holder})' if holder else ''}"
                               "; wait for it to end, or give another --out") from None
        except OSError:  # a file system without locks (some network ones): run unguarded, as before
            pass
        yield
    finally:
        os.close(fd)


def lock_holder(path):
    """The id of the process holding the flock on the folder at path, from Linux's /proc/locks; None elsewhere."""
    st = os.stat(path)
    where = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    with contextlib.suppress(OSError), open("/proc/locks") as f:
        for fields in map(str.split, f):
            if fields[1:2] == ["FLOCK"] and fields[5:6] == [where]:
                return fields[4]
    return None


def gradient_check(s):
    """Check every parameter's gradient of the model these settings build, in float64, printing a row as
    each is checked; the exit status is 1 when a gradient is wrong."""
    rng, noisy, xs, ts, model = data_and_model(s, s.seed, np.float64)
    B, state, names = s.batch_size, None, param_names(s)
    if s.stateful:  # check from a carried-in state, as in training: the one other windows leave
        model.predict(xs[-B:])
        state = [tuple(array.copy() for array in layer_state) for layer_state in recurrent_state(model, s.cell)]
    say(f"gradient check: float64, central differences{', fixed dropout masks' if s.dropout else ''}, "
        f"{settings_text(s)}")
    started = time.perf_counter()
    model.forward(xs[:B], ts[:B])
    evaluations = 2 * sum(param.size for param in model.params)  # two forward passes per parameter
    seconds = evaluations * (time.perf_counter() - started)
    duration = next((f"{seconds / size:.2g} {unit}" for unit, size in (("days", 86400), ("h", 3600), ("min", 60))
                     if seconds >= 2 * size), f"{seconds:.0f} s")
    say(f"{evaluations} forward passes: about {duration}"
        f"{' (Ctrl-C stops it; a smaller --hidden-size is quicker)' if seconds > 600 else ''}")
    width = max(map(len, names))
    say(f"{'parameter':<{width}} {'shape':>10} {'max rel. error':>15}")
    errors = model_gradient_errors(model, xs[:B], ts[:B], state, lambda k, error: say(
        f"{names[k]:<{width}} {str(model.params[k].shape):>10} {error:>15.2e}  "
        f"{'ok' if error <= GRADIENT_TOLERANCE else 'WRONG'}"))
    bad = sum(error > GRADIENT_TOLERANCE for error in errors)
    say(f"{len(errors) - bad} of {len(errors)} within {GRADIENT_TOLERANCE:g}")
    return 1 if bad else 0


def main(argv=None):
    """Run what the command-line words in argv say (none: the defaults, not the process's own command line,
    which in a notebook's kernel is the kernel's); return the exit status (never raise SystemExit)."""
    try:
        s = parse(argv or [])
        if s.gradcheck:  # nothing to save: a stop signal ends the check where it is
            stop = StopSignals(at_once=True)
            try:
                with stop:
                    return gradient_check(s)
            except Stopped:
                return stop.said("; nothing written")
        prepare_out_dir(s)
        with only_run_in(s.out), StopSignals() as stop:
            return sweep(s, stop) if s.seeds or s.grid else single_run(s, stop)
    except SystemExit as e:  # argparse, after --help
        return e.code
    except (SettingError, WriteError) as e:
        tell(f"{PROG}: error: {e}")
        return 2 if isinstance(e, SettingError) else 1
    except KeyboardInterrupt:  # Ctrl-C before the stop handlers are in place
        tell("interrupted; nothing written")
        return 128 + signal.SIGINT
    except bdb.BdbQuit:  # q at a breakpoint() during --gradcheck (pdb's own)
        tell("stopped in the debugger; nothing written")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
