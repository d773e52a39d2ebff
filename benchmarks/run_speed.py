"""How fast is Surge? Every speed target, with Mesa's Boltzmann wealth model alongside.

    python benchmarks/run_speed.py [--repeats 5] [--batch-repeats 3] [--months 480]
                                   [--skip-large] [--skip-batch]

Prints one table of the speed targets, each a median of --repeats measurements
(--batch-repeats for the batches) taken in this one run of the benchmark (these machines
are noisy: compare figures from one run):

* the baseline scenario (5,000 adopters, 500 investors, data collection on, construction
  included), each run a fresh SurgeModel with its own seed;
* Mesa's Boltzmann wealth model with as many agents, stepped as many times, in the same
  process, each run straight after a Surge run with the same seed, and the ratio of
  agent-steps per second, pair by pair (both runs of a pair meet the same load);
* the baseline with 100,000 adopters and 5,000 investors, each run in a fresh Python
  process so that its peak resident memory (imports included) is its own;
* a 64-run batch of the baseline (`surge batch baseline --seeds 64`, files written as
  usual), each a fresh command as a user runs it, with the serial executor and with a
  pool of 2 worker processes, and the ratio.

Agent-steps are a headcount: agents x steps. Surge's adopters and investors are thin
mesa.Agent views onto arrays that are updated all at once each month, while every
Boltzmann agent runs its own Python step, so the ratio says how much the vectorised
pools buy at this population size, not that Surge's rules are simpler.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LARGE = {"n_adopters": 100_000, "n_investors": 5_000}
BATCH_RUNS = 64

# A fresh interpreter builds and runs one large model, then reports its wall time and its
# own peak resident memory: VmHWM, the high-water mark of the memory it maps since it
# started (Linux). ru_maxrss would not do: on Linux it also carries the high-water mark of
# the process that started the child, here the benchmark with its Boltzmann runs.
LARGE_CHILD = """
import json, re, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
from sim.model import SurgeModel
overrides = json.loads(sys.argv[2])
start = time.perf_counter()
SurgeModel(rng=int(sys.argv[3]), **overrides).run()
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:
    peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))
"""


def paired_seconds(
    first: Callable[[int], object], second: Callable[[int], object], repeats: int
) -> tuple[list[float], list[float]]:
    """Wall times of ``first(seed)`` and ``second(seed)`` for seeds 0..repeats-1, run in
    turn, so that each pair meets the same conditions on a shared machine. What the last
    run left behind is collected before the next starts: it is not the next run's cost."""
    times: tuple[list[float], list[float]] = ([], [])
    for seed in range(repeats):
        for run, spent in zip((first, second), times, strict=True):
            gc.collect()
            start = time.perf_counter()
            run(seed)
            spent.append(time.perf_counter() - start)
    return times


def large_runs(repeats: int, months: int | None) -> tuple[float, float]:
    """Median seconds and median peak MB of the large model, one fresh process per run."""
    overrides = dict(LARGE, **({"months": months} if months else {}))
    seconds, peaks = [], []
    for seed in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", LARGE_CHILD, str(ROOT), json.dumps(overrides), str(seed)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        seconds.append(figures["seconds"])
        peaks.append(figures["peak_mb"])
    return statistics.median(seconds), statistics.median(peaks)


def batch_seconds(repeats: int, months: int | None) -> tuple[float, float]:
    """Median seconds of `surge batch baseline --seeds 64` run as a user runs it, a fresh
    command each time, with `--executor serial` and with `--executor process --jobs 2`,
    alternating. Each command pays its own start-up: the serial one imports the model in
    its process, the process pool in the fork server its workers start from."""
    times: dict[int, list[float]] = {1: [], 2: []}
    executor = {1: ["--executor", "serial"], 2: ["--executor", "process", "--jobs", "2"]}
    extra = ["--set", f"months={months}"] if months else []
    for _ in range(repeats):
        for jobs in (1, 2):
            with tempfile.TemporaryDirectory() as folder:
                command = [sys.executable, "-m", "surge_cli", "batch", "baseline"]
                command += ["--seeds", str(BATCH_RUNS), "--out", str(Path(folder) / "batch")]
                start = time.perf_counter()
                subprocess.run(
                    command + executor[jobs] + extra, cwd=ROOT, check=True, capture_output=True
                )
                times[jobs].append(time.perf_counter() - start)
    return statistics.median(times[1]), statistics.median(times[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=5, help="measurements per figure (default 5)"
    )
    parser.add_argument(
        "--months", type=int, default=None, help="months per run (default: the scenario's)"
    )
    parser.add_argument(
        "--skip-large", action="store_true", help="leave out the 100,000-adopter runs"
    )
    parser.add_argument("--skip-batch", action="store_true", help="leave out the 64-run batches")
    parser.add_argument(
        "--batch-repeats",
        type=int,
        default=3,
        help="timings of each 64-run batch (default 3: one batch is already 64 runs)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.batch_repeats < 1:
        parser.error("--batch-repeats must be at least 1")
    if args.months is not None and args.months < 1:
        parser.error("--months must be at least 1")

    if str(ROOT) not in sys.path:  # runnable from a checkout without installing
        sys.path.insert(0, str(ROOT))
    import mesa
    import numpy as np
    from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannWealth

    from sim.model import SurgeModel
    from sim.params import load_scenario

    params = load_scenario("baseline", {"months": args.months} if args.months else None)
    months = params.run.months
    n_labs = params.labs.n_closed_labs + params.labs.n_open_labs
    agents = (
        params.run.n_adopters
        + params.run.n_investors
        + n_labs
        + params.hyperscalers.n_hyperscalers
        + 1  # the government
    )
    side = math.ceil(math.sqrt(agents))  # about one agent per cell, as in Mesa's default

    def surge(seed: int) -> None:
        SurgeModel(params=params, rng=seed).run()

    def boltzmann(seed: int) -> None:
        model = BoltzmannWealth(n=agents, width=side, height=side, seed=seed)
        for _ in range(months):
            model.step()

    print(f"date:    {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"python:  {platform.python_implementation()} {platform.python_version()}, "
        f"mesa {mesa.__version__}, numpy {np.__version__}"
    )
    print(f"runs:    median of {args.repeats}, seeds 0..{args.repeats - 1}, construction included")
    print(f"load:    {os.getloadavg()[0]:.2f} (1-minute average at the start)")
    print()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        surge_times, boltzmann_times = paired_seconds(surge, boltzmann, args.repeats)
        large = None if args.skip_large else large_runs(args.repeats, args.months)
        batch = None if args.skip_batch else batch_seconds(args.batch_repeats, args.months)

    surge_s, boltzmann_s = statistics.median(surge_times), statistics.median(boltzmann_times)
    # same agent-steps, so the ratio of rates is the ratio of times, taken pair by pair
    ratios = [b / s for s, b in zip(surge_times, boltzmann_times, strict=True)]
    ratio = statistics.median(ratios)
    header = f"{'model':<26}{'agents':>8}{'steps':>7}{'median s':>10}{'agent-steps/s':>15}"
    print(header)
    print("-" * len(header))
    for name, seconds in (
        ("Surge baseline", surge_s),
        (f"Boltzmann wealth {side}x{side}", boltzmann_s),
    ):
        print(
            f"{name:<26}{agents:>8}{months:>7}{seconds:>10.2f}{agents * months / seconds:>15,.0f}"
        )
    print(f"Surge/Boltzmann, run by run: {min(ratios):.1f}x to {max(ratios):.1f}x")
    print()

    rows = [
        ("baseline run, s", f"{surge_s:.2f}", "< 1", surge_s < 1.0),
        ("agent-steps/s vs Boltzmann (median pair)", f"{ratio:.1f}x", ">= 20x", ratio >= 20.0),
    ]
    if large is not None:
        large_label = f"{LARGE['n_adopters']:,} adopters, {LARGE['n_investors']:,} investors"
        rows += [
            (f"{large_label}, s", f"{large[0]:.2f}", "< 10", large[0] < 10.0),
            (f"{large_label}, peak MB", f"{large[1]:,.0f}", "< 2,048", large[1] < 2048.0),
        ]
    if batch is not None:
        speedup = batch[0] / batch[1]
        rows += [
            (f"{BATCH_RUNS}-run batch, 1 process, s", f"{batch[0]:.1f}", "", None),
            (f"{BATCH_RUNS}-run batch, 2 processes, s", f"{batch[1]:.1f}", "", None),
            ("batch speed-up, 2 vs 1 process", f"{speedup:.2f}x", ">= 1.8x", speedup >= 1.8),
        ]
    width = max(len(row[0]) for row in rows) + 2
    print(f"{'target':<{width}}{'measured':>10}{'goal':>10}  met")
    print("-" * (width + 25))
    for label, measured, goal, met in rows:
        verdict = "" if met is None else ("yes" if met else "NO")
        print(f"{label:<{width}}{measured:>10}{goal:>10}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
