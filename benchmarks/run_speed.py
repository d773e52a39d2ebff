"""How fast is a Surge run? Timed against Mesa's bundled Boltzmann wealth model.

    python benchmarks/run_speed.py [--repeats 5] [--months 480]

Times the baseline scenario (median of --repeats runs, each a fresh SurgeModel with its
own seed, construction included) and Mesa's Boltzmann wealth model with as many agents,
stepped as many times (so both do the same number of agent-steps), in the same process.

Agent-steps are a headcount: agents x steps. Surge's adopters and investors are thin
mesa.Agent views onto arrays that are updated all at once each month, while every
Boltzmann agent runs its own Python step, so the ratio says how much the vectorised
pools buy at this population size, not that Surge's rules are simpler.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(make_and_run: Callable[[int], object], repeats: int) -> float:
    """Median wall time of ``make_and_run(seed)`` over seeds 0..repeats-1."""
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        make_and_run(seed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per model (default 5)")
    parser.add_argument(
        "--months", type=int, default=None, help="months per run (default: the scenario's)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

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
    print()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        rows = [
            ("Surge baseline", agents, months, median_seconds(surge, args.repeats)),
            (
                f"Boltzmann wealth {side}x{side}",
                agents,
                months,
                median_seconds(boltzmann, args.repeats),
            ),
        ]

    header = f"{'model':<26}{'agents':>8}{'steps':>7}{'median s':>10}{'agent-steps/s':>15}"
    print(header)
    print("-" * len(header))
    rate = {}
    for name, n, steps, seconds in rows:
        rate[name] = n * steps / seconds
        print(f"{name:<26}{n:>8}{steps:>7}{seconds:>10.2f}{rate[name]:>15,.0f}")
    surge_rate, boltz_rate = rate[rows[0][0]], rate[rows[1][0]]
    print("-" * len(header))
    print(f"Surge/Boltzmann agent-steps per second: {surge_rate / boltz_rate:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
