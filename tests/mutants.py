#!/usr/bin/env python3
"""Mutation testing of train_sin_lstm.py outside the layer classes: do the tests catch plausible bugs?

Each mutant below is one small change a programmer could make by mistake (an off-by-one, a wrong comparison,
a swapped argument, a dropped call, a wrong default) in the code around the layers: the settings and their
checks, the data, the training loop, the prediction and its scores, the gradient check, the gradient flow,
snapshots, files, the figures' conditions, sweeps and grids, the command line and the stop signals.  For each,
the repository is copied to a temporary folder, the change is made there (never here), and the quick tests run
on the copy:

    python -m pytest -x -q -m "not slow" -p no:cacheprovider tests

A mutant is KILLED when a test fails (or the run exceeds --timeout), SURVIVED when every test passes.  A mutant
whose snippet is no longer in the script, or is there more than once, or whose change does not compile, is
"n/a" (the script changes over time: update its snippet) and does not count.  The unmutated copy runs first:
if its tests fail, the results would mean nothing and the tool stops (exit 1).

    python tests/mutants.py                      # every mutant, 2 at a time: ~20 min on 2 idle cores
    python tests/mutants.py --list               # the mutants and whether each applies; runs nothing
    python tests/mutants.py --only NAME [NAME ...]   # just these (the names of the table)
    python tests/mutants.py --jobs 4             # mutants run in parallel (default 2; one BLAS thread each)
    python tests/mutants.py --select "cli or sweep"  # only the tests pytest -k selects (quicker, weaker)
    python tests/mutants.py --slow               # the slow tests too (real signals, notebooks): much longer
    python tests/mutants.py --slow --select slow --only NAME ...  # do the slow tests alone catch these?
    python tests/mutants.py --timeout 300        # seconds per mutant; a timeout counts as killed

It prints a line per mutant as it finishes, then the table (mutant, result, seconds, the first test that
failed), the kill rate (killed / applicable) and each survivor's change: a survivor is a bug the tests let
through.  The script is read, and the repository copied, once at the start: edits made while it runs do not
mix into its results.  It exits 0 once it has run (1: the unmutated tests fail, or a name given to --only is
unknown; 128 + the signal after Ctrl-C, TERM or HUP, which end its test runs and remove its copies).
Standard library only.
"""
import argparse
import concurrent.futures
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT_NAME = "train_sin_lstm.py"
IGNORED = shutil.ignore_patterns(".git", ".pytest_cache", "__pycache__", "results", ".venv", "venv", "env",
                                 "*.pyc")

# (name, old, new): old must occur exactly once in the script.
MUTANTS = [
    # settings and their checks: problem(), settings_from()
    ("seed-range-too-wide", "0, 2 ** 32 - 1,", "0, 2 ** 32,"),
    ("batch-size-limit-plus-one", "lambda s: (s.n_points - 1) // 2, note",
     "lambda s: (s.n_points - 1) // 2 + 1, note"),
    ("above-admits-its-low", "fits = value > low if setting.above else value >= low",
     "fits = value >= low if setting.above else value >= low"),
    ("float-check-admits-inf-nan", "not isinstance(value, bool) and math.isfinite(value)",
     "not isinstance(value, bool)"),
    ("int-check-admits-bool", "fits = isinstance(value, int) and not isinstance(value, bool)",
     "fits = isinstance(value, int)"),
    ("choice-check-ignores-type", "value == choice and type(value) is type(choice)", "value == choice"),
    ("empty-name-admitted", 'isinstance(value, setting.type) and value != ""', "isinstance(value, setting.type)"),
    ("batch-time-check-boundary", "if B * M > n_inputs - T:", "if B * M >= n_inputs - T:"),
    ("batch-time-suggestion-off-by-one", "use --time-size {n_inputs - B * M} or less",
     "use --time-size {n_inputs - B * M - 1} or less"),
    # data
    ("future-x-repeats-x-max", "s.x_max + step * np.arange(1, future + 1)", "s.x_max + step * np.arange(future)"),
    ("one-window-too-many", "starts = np.arange(len(inputs) - time_size)",
     "starts = np.arange(len(inputs) - time_size + 1)"),
    ("minibatches-fill-the-inputs", "return (n_points - 1) // batch_size - 1", "return (n_points - 1) // batch_size"),
    # training
    ("grad-scale-always-batch-size", 'grad_scale = s.batch_size if s.loss_function == "many-to-one" else 1',
     "grad_scale = s.batch_size"),
    ("divergence-only-on-nan", "if not math.isfinite(loss):", "if math.isnan(loss):"),
    ("clipping-the-params", "clip_grads(model.grads, s.max_grad)", "clip_grads(model.params, s.max_grad)"),
    ("epoch-loss-is-the-last-minibatch", "epoch_loss += loss", "epoch_loss = loss"),
    ("stop-keeps-the-unfinished-epoch", '            if should_stop():\n                return losses, "interrupted"',
     '            if should_stop():\n                losses.append(float(epoch_loss))\n'
     '                return losses, "interrupted"'),
    ("training-goes-on-after-a-snapshots-stop", "            if should_stop() and epoch < s.epochs:",
     "            if False:"),
    # prediction
    ("prediction-from-the-last-row", "model.predict(window)[0, -1, 0]", "model.predict(window)[-1, -1, 0]"),
    ("warm-up-from-the-noisy-series", "prediction = generate(model, clean[:s.time_size]",
     "prediction = generate(model, noisy[:s.time_size]"),
    ("prediction-ignores-stops", "len(x), s.batch_size, after_step, should_stop)",
     "len(x), s.batch_size, after_step)"),
    ("prediction-after-a-training-stop", '        if status == "done":\n            prediction = generate(',
     '        if status != "diverged":\n            prediction = generate('),
    ("prediction-state-always-zero", "array.copy() if s.stateful and array is not None else zeros", "zeros"),
    ("rmse-includes-the-warm-up", "rmse=rmse(prediction[T:end], clean[T:end])",
     "rmse=rmse(prediction[:end], clean[:end])"),
    ("future-rmse-includes-the-last-data-point", "future_rmse=rmse(prediction[end:], clean[end:])",
     "future_rmse=rmse(prediction[end - 1:], clean[end - 1:])"),
    # scoring
    ("rmse-of-nothing-is-zero", 'if len(a) else float("nan")', "if len(a) else 0.0"),
    ("rmse-is-mean-absolute-error", "float(np.sqrt(np.mean((a - b) ** 2)))", "float(np.mean(np.abs(a - b)))"),
    # the gradient check
    ("gradcheck-analytic-from-another-state", "    loss()\n    model.backward()",
     "    model.forward(xs, ts)\n    model.backward()"),
    ("gradcheck-carried-state-inverted", "if s.stateful:  # check from a carried-in state",
     "if not s.stateful:  # check from a carried-in state"),
    ("gradcheck-forward-passes-halved", "evaluations = 2 * sum(param.size for param in model.params)",
     "evaluations = sum(param.size for param in model.params)"),
    # gradient_flow
    ("flow-drops-the-carried-gradient", "dh = dhs[:, t] + dh", "dh = dhs[:, t]"),
    ("flow-initial-is-the-trained-model", '("_initial", data_and_model(s, r.seed)[4].params)',
     '("_initial", r.model.params)'),
    ("flow-c-is-the-carried-dc", "c_norms[k, t] = np.linalg.norm(dc + dh * o * (1 - np.tanh(c_next) ** 2))",
     "c_norms[k, t] = np.linalg.norm(dc)"),
    ("flow-lower-layer-from-the-top-gradient", "        dhs = dxs                                       # what",
     "        dhs = dhs                                       # what"),
    # snapshots
    ("snapshot-epochs-exponent", "round(epochs ** (k / (count - 1)))", "round(epochs ** (k / count))"),
    ("snapshot-state-not-restored", "            set_recurrent_state(model, state)\n", ""),
    ("snapshot-dropped-when-it-ends-in-nan", "            if self.should_stop():\n                self.stopped = epoch",
     "            if np.isnan(series[-1]):\n                self.stopped = epoch"),
    # files
    ("plan-removes-a-living-runs-temporary", "if pid.isdigit() and process_is_gone(int(pid)):", "if pid.isdigit():"),
    ("plan-forgets-what-it-removed", "                self.removed.append(name)\n", ""),
    ("write-keeps-its-temporary-on-a-stop", "except BaseException as e:", "except OSError as e:"),
    ("clean-up-before-the-model-is-saved",
     '    out.arrays("results.npz", s, run_arrays(s, r, ["results.npz"]))\n    left_out = {}\n    try:\n'
     '        out.plan(names)\n',
     '    out.plan(names)\n    out.arrays("results.npz", s, run_arrays(s, r, ["results.npz"]))\n    left_out = {}\n'
     '    try:\n'),
    ("a-stop-skips-the-figures-after-the-gif", '                left_out[name] = "the run was stopped"\n',
     '                left_out[name] = "the run was stopped"\n                break\n'),
    ("gif-drawn-after-a-stop", "            if stop.should_stop():\n                raise Stopped",
     "            if False:\n                raise Stopped"),
    ("a-failing-figure-ends-the-run", "except Exception as e:  # the rest of the files are still written",
     "except ArithmeticError as e:  # the rest of the files are still written"),
    ("gates-read-by-the-cache-length", "x, h_prev, c_prev, f, g, i, o, c_next = layer.layers[-1].cache[:8]",
     "x, h_prev, c_prev, f, g, i, o, c_next = layer.layers[-1].cache"),
    ("gates-not-checked-against-the-equations",
     "consistent = np.allclose(c_next, f * c_prev + g * i) and np.allclose(layer.h, o * np.tanh(c_next))",
     "consistent = True"),
    ("folder-in-the-way-looked-for-here", "if os.path.isdir(os.path.join(path, name)):", "if os.path.isdir(name):"),
    ("a-file-listed-twice-as-written", "        if name not in self.written:\n            self.written.append(name)",
     "        self.written.append(name)"),
    ("settings-prefix-with-a-dot", 'values = {f"settings/{setting.name}"', 'values = {f"settings.{setting.name}"'),
    ("npz-keeps-none", "        values = {key: np.nan if value is None else value for key, value in values.items()}\n",
     ""),
    ("final-loss-is-the-best-loss", "final_loss=r.loss[-1] if len(r.loss) else np.nan, rmse=r.rmse, future_rmse",
     "final_loss=r.loss.min() if len(r.loss) else np.nan, rmse=r.rmse, future_rmse"),
    ("weights-always-named-lstm", 'of_layer(f"{s.cell}_{name}", k, s.layers)', 'of_layer(f"lstm_{name}", k, s.layers)'),
    ("layer-names-off-by-one", 'return name if layers == 1 else f"layer{k}/{name}"',
     'return name if layers == 1 else f"layer{k - 1}/{name}"'),
    # figures' conditions
    ("waveform-after-a-stop-in-training", 'lambda s, r: r.status == "done" and np.isfinite(',
     'lambda s, r: r.status != "diverged" and np.isfinite('),
    ("waveform-of-nothing-generated", 'r.status == "done" and np.isfinite(r.prediction[s.time_size]), plot_waveform',
     'r.status == "done", plot_waveform'),
    ("learning-png-without-snapshots", "r.snapshots is not None and len(r.snapshots.taken) > 0, plot_learning",
     "r.snapshots is not None, plot_learning"),
    ("gates-png-without-gates", 's.gates and len(r.gates.get(of_layer("hidden", s.layers, s.layers), ())) > 0',
     "s.gates"),
    ("legend-entries-boundary", "if len(runs) <= LEGEND_ENTRIES:", "if len(runs) < LEGEND_ENTRIES:"),
    ("log-scale-boundary", "loss.max() >= 10 * loss.min()", "loss.max() > 10 * loss.min()"),
    ("unfinished-epoch-in-the-loss-figure", 'f"{r.status} in epoch {len(r.loss) + 1}: {what}"',
     'f"{r.status} in epoch {len(r.loss)}: {what}"'),
    # figures' contents (from a fresh sample of plausible bugs: these two passed the suite)
    ("gif-ten-times-faster", "append_images=all_frames, duration=250", "append_images=all_frames, duration=25"),
    ("waveform-legend-shows-the-future-rmse", 'label=f"generated (closed loop), RMSE {r.rmse:.4f}"',
     'label=f"generated (closed loop), RMSE {r.future_rmse:.4f}"'),
    # sweeps and grids
    ("more-workers-than-asked", "while waiting and len(running) < workers",
     "while waiting and len(running) <= workers"),
    ("jobs-ignored", "s.jobs or os.cpu_count() or 1", "os.cpu_count() or 1"),
    ("failed-model-called-diverged", 'status="failed", loss=np.array([])', 'status="diverged", loss=np.array([])'),
    ("sweep-row-point-index", "rows = [dict(points[k // len(seeds)][0]", "rows = [dict(points[k % len(seeds)][0]"),
    ("sweep-epochs-done-plus-one", "epochs_done=len(r.loss)", "epochs_done=len(r.loss) + 1"),
    ("sweep-csv-seed-overwritten", 'if setting.name not in varied + ["seed"]}', "if setting.name not in varied}"),
    ("sweep-exit-0-on-divergence", "if failed or diverged:\n            return 1", "if failed:\n            return 1"),
    ("summary-future-column-from-the-flags", "future=any(settings.future for settings, _ in jobs)",
     "future=bool(s.future)"),
    ("sweep-arrays-as-long-as-the-first", "longest = max(runs, key=lambda r: len(r.x))", "longest = runs[0]"),
    ("summary-stats-over-unfinished-models", 'finished = [row for row in rows if row["status"] == "done"]\n',
     "finished = rows\n"),
    ("verdict-with-one-seed", "if len(group) > 1:", "if len(group) > 0:"),
    ("verdict-threshold-halved", "spread > 2 * noise", "spread > noise"),
    ("grid-values-not-deduplicated",
     'list(dict.fromkeys(parse_value(setting, text) for text in texts.split(",")))',
     '[parse_value(setting, text) for text in texts.split(",")]'),
    ("grid-bool-flags-swapped", "[SETTING[name].flag if value else SETTING[name].off]",
     "[SETTING[name].off if value else SETTING[name].flag]"),
    # the command line
    ("gradcheck-allowed-with-seeds", "if several and (single or s.gradcheck):", "if several and single:"),
    ("gates-constant-with-seeds", "if several and (s.snapshot_count or s.animate or s.gates):",
     "if several and (s.snapshot_count or s.animate):"),
    # stacked layers, dropout, the noise floor
    ("second-layer-reads-the-input", "inputs = D if k == 0 else H", "inputs = D"),
    ("dropout-at-prediction", "    def predict(self, xs, train_flg=False):",
     "    def predict(self, xs, train_flg=True):"),
    ("dropout-not-scaled", "scale = 1 / (1.0 - self.dropout_ratio)", "scale = 1"),
    ("dropout-layer-with-no-dropout", "            if dropout > 0:\n", "            if dropout >= 0:\n"),
    ("gradcheck-masks-not-fixed", "            layer.rng = np.random.RandomState(k)       # the same masks",
     "            pass  # the same masks"),
    ("gradcheck-state-of-the-first-layer-only",
     "state = [tuple(array.copy() for array in layer_state) for layer_state in recurrent_state(model, s.cell)]",
     "state = [tuple(array.copy() for array in layer_state) for layer_state in recurrent_state(model, s.cell)[:1]]"
     " * s.layers"),
    ("noise-floor-of-every-step", 'scored = err[:, -1] ** 2 if s.loss_function == "many-to-one" else',
     'scored = np.sum(err ** 2, axis=1) if s.loss_function == "many-to-one" else'),
    ("noise-floor-without-the-minibatch-count", "return 0.5 * minibatches_per_epoch(s.n_points, s.batch_size) * float(",
     "return 0.5 * float("),
    ("sweep-flow-of-the-bottom-layer", "        layers = jobs[k][0].layers\n", "        layers = 1\n"),
    ("layers-limit-plus-one", '"recurrent layers, stacked (the book\'s improved model: 2)", 1, 10,',
     '"recurrent layers, stacked (the book\'s improved model: 2)", 0, 10,'),
    ("dropout-of-one-admitted", "TimeDropout drops in training\", 0, 1, below=True",
     "TimeDropout drops in training\", 0, 1, below=False"),
    ("write-error-exits-2", "return 2 if isinstance(e, SettingError) else 1", "return 2"),
    ("gradcheck-ctrl-c-exits-1", "return 128 + signal.SIGINT", "return 1"),
    ("main-reads-the-process-argv", "s = parse(argv or [])", "s = parse(argv or sys.argv[1:])"),
    # stops
    ("ignored-signal-taken-over", "\n                             if signal.getsignal(signum) is not signal.SIG_IGN}", "}"),
    ("stop-keeps-the-last-signal", "self.first = self.first or (word, status)", "self.first = (word, status)"),
    ("stop-exit-status-without-128", "self.stop_with(STOP_WORDS[signum], 128 + signum)",
     "self.stop_with(STOP_WORDS[signum], signum)"),
    ("debugger-quit-ends-in-bdbquit", "        self.stop.stop_with(\"stopped in the debugger\", 1)\n"
     "        self.clear_all_breaks()\n        self.set_continue()", "        super().set_quit()"),
    ("breakpoint-stops-after-the-quit", "        if not self.should_stop():\n            StopOnQuit(self)",
     "        if True:\n            StopOnQuit(self)"),
    ("breakpoint-hook-left-behind", "            sys.breakpointhook = sys.__breakpointhook__\n", "            pass\n"),
    ("last-snapshot-stop-said-as-the-prediction", "elif snapshots and snapshots.stopped == epochs:", "elif False:"),
    ("stop-message-epoch-off-by-one", '                         else f"in epoch {epochs + 1}")',
     '                         else f"in epoch {epochs}")'),
    ("sticky-check-trusts-the-folders-owner", "os.geteuid() not in (0, owner, folder.st_uid)",
     "owner not in (os.geteuid(), folder.st_uid) and os.geteuid() != 0"),
    ("a-closed-stderr-ends-the-run", "    except OSError:\n        with contextlib.suppress(OSError, ValueError):",
     "    except BrokenPipeError:\n        with contextlib.suppress(OSError, ValueError):"),
    ("gradient-flow-dropped-after-a-stop",
     "    r.gradient_flows = gradient_flows(s, r) if s.gradient_flow else {}  # of a model that finished training\n"
     "    generated",
     "    r.gradient_flows = gradient_flows(s, r) if s.gradient_flow and not stop.should_stop() else {}\n"
     "    generated"),
    ("the-loss-with-dropout-unsaid", 'dropout = ", dropout on" if s is not None and s.dropout else ""',
     'dropout = ""'),
    ("the-floor-always-exact", 'if s.noise and used < windows else ""', 'if False else ""'),
    ("gradcheck-ignores-stop-signals", "        if self.at_once:\n            raise Stopped", "        pass"),
]


def mutate(text, old, new):
    """(mutated text, None), or (None, why the mutant does not apply)."""
    count = text.count(old)
    if count != 1:
        return None, "snippet missing" if count == 0 else f"snippet found {count} times"
    mutated = text.replace(old, new, 1)
    try:
        compile(mutated, SCRIPT_NAME, "exec")
    except SyntaxError as e:
        return None, f"does not compile ({e.msg}, line {e.lineno})"
    return mutated, None


def pytest_command(args, folder):
    command = [args.python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--basetemp",
               os.path.join(folder, ".basetemp")]
    if not args.slow:
        command += ["-m", "not slow"]
    if args.select:
        command += ["-k", args.select]
    return command + ["tests"]


RUNNING = set()  # the process groups of the test runs under way, ended if this tool is interrupted
RUNNING_LOCK = threading.Lock()
STOPPING = threading.Event()  # set once this tool stops early: no other test run starts


def run_tests(args, pristine, name, text):
    """Copy the pristine tree, write text as its script, run the tests: ("killed" | "survived" | "timeout",
    seconds, the last lines of pytest's output, the first test that failed)."""
    folder = tempfile.mkdtemp(prefix=f"mutant-{name}-")
    try:
        tree = os.path.join(folder, "repo")
        shutil.copytree(pristine, tree)
        with open(os.path.join(tree, SCRIPT_NAME), "w") as f:
            f.write(text)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1")
        started = time.monotonic()
        with RUNNING_LOCK:
            if STOPPING.is_set():
                return "cancelled", 0.0, [], ""
            process = subprocess.Popen(pytest_command(args, folder), cwd=tree, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, start_new_session=True)
            RUNNING.add(process.pid)
        try:
            out, _ = process.communicate(timeout=args.timeout)
            result = "survived" if process.returncode == 0 else "killed"
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # pytest and any worker it started
            out, _ = process.communicate()
            result = "timeout"
        finally:
            with RUNNING_LOCK:
                RUNNING.discard(process.pid)
        lines = out.strip().splitlines()
        by = next((line.split(" - ")[0] for line in lines if line.startswith(("FAILED ", "ERROR "))), "")
        by = by.replace("FAILED ", "").replace("ERROR ", "error: ")
        return result, time.monotonic() - started, lines[-3:], by
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def one_line(text, width=60):
    text = " | ".join(line.strip() for line in text.splitlines()) or "(deleted)"
    return text if len(text) <= width else text[:width - 3] + "..."


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--select", metavar="EXPRESSION", help="pytest -k EXPRESSION: only these tests")
    parser.add_argument("--slow", action="store_true", help="include the tests marked slow")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant (default 300)")
    parser.add_argument("--list", action="store_true", help="list the mutants and whether each applies")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs pytest")
    args = parser.parse_args(argv)

    names = [name for name, _, _ in MUTANTS]
    assert len(set(names)) == len(names), "two mutants share a name"
    chosen = MUTANTS
    if args.only:
        unknown = [name for name in args.only if name not in names]
        if unknown:
            print(f"unknown mutant(s): {', '.join(unknown)}; see --list", file=sys.stderr)
            return 1
        chosen = [mutant for mutant in MUTANTS if mutant[0] in args.only]

    with open(os.path.join(ROOT, SCRIPT_NAME)) as f:
        original = f.read()  # read once: the script may be edited while this runs
    applied, results = [], {}
    for name, old, new in chosen:
        text, why = mutate(original, old, new)
        if text is None:
            results[name] = (f"n/a: {why}", 0.0, [], "")
        else:
            applied.append((name, text))
    if args.list:
        for name, old, new in chosen:
            state = results[name][0] if name in results else "applies"
            print(f"{name:<42} {state:<24} {one_line(old, 50)!r} -> {one_line(new, 50)!r}")
        return 0

    pristine_parent = tempfile.mkdtemp(prefix="mutants-pristine-")
    pristine = os.path.join(pristine_parent, "repo")
    shutil.copytree(ROOT, pristine, ignore=IGNORED)  # one snapshot of the tests, for every mutant
    started = time.monotonic()
    print(f"{len(chosen)} mutants, {len(applied)} applicable; {args.jobs} at a time; "
          f"tests: python {shlex.join(pytest_command(args, '...')[1:])}", flush=True)
    stopped = []

    def stop(signum, frame):  # TERM and HUP as Ctrl-C: end the test runs under way, remove the copies
        stopped.append(signum)
        raise KeyboardInterrupt
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGHUP)}
    pool = concurrent.futures.ThreadPoolExecutor(max(1, args.jobs))
    try:
        baseline = pool.submit(run_tests, args, pristine, "baseline", original)
        futures = {pool.submit(run_tests, args, pristine, name, text): name for name, text in applied}
        result, seconds, tail, _ = baseline.result()
        if result != "survived":
            print(f"the unmutated script's tests do not pass ({result}, {seconds:.0f} s); the mutants would mean "
                  f"nothing:\n  " + "\n  ".join(tail), file=sys.stderr)
            return 1
        print(f"  baseline: the unmutated tests pass ({seconds:.0f} s)", flush=True)
        for future in concurrent.futures.as_completed(futures):
            name = futures[future]
            results[name] = future.result()
            print(f"  {name}: {results[name][0]} ({results[name][1]:.0f} s)", flush=True)
    except KeyboardInterrupt:
        print("stopped; nothing is left behind", file=sys.stderr)
        return 128 + (stopped[0] if stopped else signal.SIGINT)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # on an early return: no other mutant starts
        with RUNNING_LOCK:
            STOPPING.set()
            for pid in RUNNING:  # and those under way end (nothing runs here after a normal end)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        pool.shutdown(wait=True)
        shutil.rmtree(pristine_parent, ignore_errors=True)
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    print(f"\n{'mutant':<42} {'result':<10} {'seconds':>7}  killed by")
    for name, _, _ in chosen:
        result, seconds, _, by = results[name]
        print(f"{name:<42} {result:<10} {seconds:>7.0f}  {one_line(by, 80) if by else ''}".rstrip())
    killed = sum(results[name][0] in ("killed", "timeout") for name, _ in applied)
    survivors = [(name, old, new) for name, old, new in chosen if results[name][0] == "survived"]
    rate = f"{100 * killed / len(applied):.0f}%" if applied else "-"
    print(f"\nkill rate: {killed} / {len(applied)} applicable = {rate}"
          f" ({len(chosen) - len(applied)} not applicable); {time.monotonic() - started:.0f} s in all")
    if survivors:
        print("\nsurvivors (bugs the tests let through):")
        for name, old, new in survivors:
            print(f"  {name}: {one_line(old, 70)!r} -> {one_line(new, 70)!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
