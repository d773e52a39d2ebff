"""How the cost of one run grows with adopters, investors and months, with a chart.

Each point is the median wall time of a few runs (different seeds, construction included)
with one size varied and the others at their defaults. A cost that grows no faster than
linearly shows as a falling or flat "seconds per unit" line.

    python benchmarks/scaling.py [--repeats 3] [--out docs/img/scaling.png]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.charts import save_figure  # noqa: E402
from sim.model import SurgeModel  # noqa: E402

SWEEPS = {
    "n_adopters": [2_500, 5_000, 10_000, 20_000, 50_000, 100_000],
    "n_investors": [250, 500, 1_000, 2_000, 5_000],
    "months": [60, 120, 240, 480],
}
UNITS = {"n_adopters": "adopters", "n_investors": "investors", "months": "months"}


def median_seconds(repeats: int, **overrides) -> float:
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        SurgeModel(rng=seed, **overrides).run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/img/scaling.png"))
    args = parser.parse_args(argv)
    print(f"date:    {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(
        f"machine: {platform.platform()}, {platform.python_implementation()} "
        f"{platform.python_version()}"
    )
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, (name, sizes) in zip(axes, SWEEPS.items(), strict=True):
        seconds = [median_seconds(args.repeats, **{name: size}) for size in sizes]
        print(f"\n{name:12s} {'seconds':>9s} {'ms per unit':>12s}")
        for size, s in zip(sizes, seconds, strict=True):
            print(f"{size:12,d} {s:9.2f} {1e3 * s / size:12.4f}")
        ax.plot(sizes, seconds, "o-", color="black")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{size:,}" for size in sizes], rotation=45, fontsize=8)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"{UNITS[name]} (log)")
        ax.set_ylabel("seconds per run (log)")
        # reference slope 1: what strictly linear growth from the first point would cost
        ax.plot(
            sizes,
            [seconds[0] * size / sizes[0] for size in sizes],
            "--",
            color="grey",
            label="linear growth",
        )
        ax.set_title(f"run time vs {UNITS[name]}")
        ax.legend(frameon=False, fontsize=8)
    save_figure(fig, args.out)
    print(f"\nchart: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
