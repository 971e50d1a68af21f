#!/usr/bin/env python3
"""Where a default run spends its time.  A benchmark, not a test: run it by hand on a quiet machine.

    python tests/benchmark_phases.py [-n RUNS]

Each of RUNS fresh processes does the default run's work in order, timing each phase: start-up and
imports (from launch to NumPy and the script loaded), data (series, windows, model), training, prediction,
plotting (loading matplotlib, two figures, saving them and the arrays) and exit.  Then the real command
`python train_sin_lstm.py --no-show` is timed RUNS times; it is faster than the phases' sum because it
trains in a second process while the first one loads matplotlib.  Medians are printed.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHASES = ["start-up and imports", "data", "training", "prediction", "plotting", "exit"]


def one_run(launched, out):
    """The default run's work, in this process; prints each phase's seconds (but exit's) on one line."""
    sys.path.insert(0, ROOT)
    import train_sin_lstm as m
    seconds = {"start-up and imports": time.time() - launched, "training": 0.0, "prediction": 0.0}

    def timed(phase, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            result = function(*args, **kwargs)
            seconds[phase] += time.perf_counter() - started
            return result
        return wrapper

    m.train, m.generate = timed("training", m.train), timed("prediction", m.generate)
    s = m.parse_args(["--no-show", "--out", out])
    started = time.perf_counter()
    r = m.run(s, s.seed)
    seconds["data"] = time.perf_counter() - started - seconds["training"] - seconds["prediction"]

    started = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    m.load_matplotlib(show=False)
    m.save_run(s, r, m.Output(out, m.RUN_FILES), [])
    seconds["plotting"] = time.perf_counter() - started
    print(" ".join(f"{seconds[phase]:.4f}" for phase in PHASES[:-1]), time.time(), flush=True)


def main():
    runs = int(sys.argv[2]) if sys.argv[1:2] == ["-n"] else 5
    rows, walls = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            launched = time.time()
            done = subprocess.run([sys.executable, __file__, "--one", str(launched), tmp],
                                  capture_output=True, text=True, check=True)
            ended = time.time()
            *phases, printed = map(float, done.stdout.split())
            rows.append(phases + [ended - printed])
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(ROOT, "train_sin_lstm.py"), "--no-show", "--quiet",
                            "--out", tmp], capture_output=True, check=True)
            walls.append(time.perf_counter() - started)

    medians = [statistics.median(column) for column in zip(*rows)]
    total = sum(medians)
    print(f"default run, phase by phase in one process (median of {runs} runs):")
    for phase, value in zip(PHASES, medians):
        print(f"  {phase:<22} {value:6.3f} s  {100 * value / total:4.0f} %")
    print(f"  {'sum':<22} {total:6.3f} s")
    print(f"python train_sin_lstm.py --no-show, wall clock (median of {runs}): {statistics.median(walls):.3f} s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one_run(float(sys.argv[2]), sys.argv[3])
    else:
        main()
