"""Run every named scenario over a few seeds, draw one comparison chart each, print a summary.

    python docs/make_scenario_charts.py                 # all scenarios, seeds 1..8
    python docs/make_scenario_charts.py --seeds 4 --only baseline gpu_plateau
    python docs/make_scenario_charts.py --update-doc    # also rewrite the tables in scenarios.md

For each scenario in scenarios/ (baseline and no_speculation included) this runs seeds
1..N in a process pool and writes ``docs/img/scenarios/<name>.png``: four panels over time
(market value and fundamental value, log; capex; adoption share; stranded capital), the
scenario's median over seeds with its 10-90% band against the baseline median in grey,
and the Perez phases of the scenario's most typical seed shaded (of the seeds with the
most common phase sequence, the one whose market value path is closest to the median).
It then prints a markdown table of ensemble medians and one of paired changes against
the baseline (the two tables in docs/scenarios.md).

Mesa makes multiprocessing use the 'spawn' start method, so workers import this file
afresh: the worker function is at top level and the pool is created under
``if __name__ == "__main__"``.
"""

from __future__ import annotations

import argparse
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: make sim/ and analysis/ importable
    sys.path.insert(0, str(REPO))

import matplotlib as mpl  # noqa: E402
import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from analysis.charts import FONT_SIZE_PT, save_figure, shade_phases  # noqa: E402
from analysis.phases import (  # noqa: E402
    PHASE_COLOURS,
    PHASES,
    bubble_metrics,
    label_phases,
    phase_blocks,
)
from sim.params import SCENARIO_DIR  # noqa: E402
from sim.run import run_scenario  # noqa: E402

IMG_DIR = REPO / "docs" / "img" / "scenarios"
DOC = REPO / "docs" / "scenarios.md"
BASELINE = "baseline"

# Columns the charts and the summary need; workers send back only these.
KEEP = (
    "date",
    "month_index",
    "market_value_usd_bn",
    "fundamental_value_usd_bn",
    "valuation_to_fundamentals_ratio",
    "capex_usd_bn_per_yr",
    "adoption_share",
    "stranded_capital_usd_bn",
    "productivity_gain_usd_bn_per_yr",
    "frontier_capability_index",
)

SCENARIO_COLOUR = "#0072B2"  # Okabe-Ito blue: not a phase colour
BASELINE_COLOUR = "#7F7F7F"
BAND = (0.10, 0.90)  # quantiles of the ensemble band


# ---- running --------------------------------------------------------------------------


def run_one(job: tuple[str, int]) -> tuple[str, int, pd.DataFrame]:
    """Worker: one full-length run of one scenario and seed (top level so spawn can pickle it)."""
    name, seed = job
    table = run_scenario(name, seed)
    return name, seed, table[list(KEEP)].copy()


def all_scenarios() -> list[str]:
    """Baseline first, then the other scenario files in alphabetical order."""
    names = sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))
    return [BASELINE] + [n for n in names if n != BASELINE]


def run_ensembles(
    names: list[str], seeds: list[int], workers: int
) -> dict[str, dict[int, pd.DataFrame]]:
    jobs = [(name, seed) for name in names for seed in seeds]
    runs: dict[str, dict[int, pd.DataFrame]] = {name: {} for name in names}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, (name, seed, table) in enumerate(pool.map(run_one, jobs), start=1):
            runs[name][seed] = table
            print(f"\r{done}/{len(jobs)} runs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return runs


# ---- ensemble statistics ----------------------------------------------------------------


def quantiles(tables: dict[int, pd.DataFrame], column: str) -> pd.DataFrame:
    """Median and the 10-90% band of one column over seeds, month by month."""
    values = np.column_stack([t[column].to_numpy(dtype=float) for t in tables.values()])
    lo, hi = np.nanquantile(values, BAND, axis=1)
    return pd.DataFrame({"lo": lo, "median": np.nanmedian(values, axis=1), "hi": hi})


def representative_seed(tables: dict[int, pd.DataFrame]) -> int:
    """The most typical seed, whose phases are shaded on the chart.

    Among the seeds with the most common sequence of phases (e.g. all five, or no frenzy),
    the one whose market value path is closest, in log terms, to the ensemble median.
    """
    patterns = {s: tuple(p for p, _, _ in phase_blocks(label_phases(t))) for s, t in tables.items()}
    counts = pd.Series(list(patterns.values())).value_counts()
    common = counts.index[0]
    logs = {
        s: np.log(np.maximum(t["market_value_usd_bn"].to_numpy(float), 1e-9))
        for s, t in tables.items()
    }
    median = np.median(np.column_stack(list(logs.values())), axis=1)
    candidates = [s for s in tables if patterns[s] == common]
    return min(candidates, key=lambda s: float(np.sum((logs[s] - median) ** 2)))


def seed_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Headline numbers of one run."""
    labels = label_phases(table)
    bubble = bubble_metrics(table, labels)
    year = pd.to_datetime(table["date"]).dt.year

    def december(column: str, y: int) -> float:
        rows = table.loc[(year == y) & (pd.to_datetime(table["date"]).dt.month == 12), column]
        return float(rows.iloc[0]) if len(rows) else float("nan")

    cap = table["frontier_capability_index"]
    return {
        "frenzy": float(bubble["frenzy_months"] > 0),
        "frenzy_months": bubble["frenzy_months"],
        "turning_point_months": bubble["turning_point_months"],
        "peak_ratio": bubble["peak_valuation_to_fundamentals"],
        "drawdown": bubble["drawdown_share"],
        "stranded_end": float(table["stranded_capital_usd_bn"].iloc[-1]),
        "adoption_2030": december("adoption_share", 2030),
        "adoption_2040": december("adoption_share", 2040),
        "cum_productivity": float(table["productivity_gain_usd_bn_per_yr"].sum() / 12.0),
        "productivity_to_2035": float(
            table.loc[year <= 2035, "productivity_gain_usd_bn_per_yr"].sum() / 12.0
        ),
        "cum_capex": float(table["capex_usd_bn_per_yr"].sum() / 12.0),
        "capability_2030": december("frontier_capability_index", 2030),
        "capability_end": float(cap.iloc[-1]),
    }


def per_seed_metrics(runs: dict[str, dict[int, pd.DataFrame]]) -> pd.DataFrame:
    """Headline numbers of every run, indexed by (scenario, seed)."""
    rows = [
        {"scenario": name, "seed": seed, **seed_metrics(table)}
        for name, tables in runs.items()
        for seed, table in tables.items()
    ]
    return pd.DataFrame(rows).set_index(["scenario", "seed"])


def summarise(per_seed: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario: medians over seeds (peak and drawdown over seeds that had one)."""
    grouped = per_seed.groupby(level="scenario", sort=False)
    summary = grouped.median()  # pandas' median skips the NaN of seeds without a frenzy
    summary["frenzy_share"] = grouped["frenzy"].mean()
    summary["seeds"] = grouped.size()
    return summary


def _num(x: float, fmt: str) -> str:
    return "n/a" if not np.isfinite(x) else format(x, fmt)


def markdown_table(summary: pd.DataFrame) -> str:
    header = (
        "| scenario | frenzy (share of seeds) | turning point (months) | peak value / fundamentals"
        " | drawdown | stranded capital at end (USD bn) | adoption Dec 2030 | adoption Dec 2040"
        " | cumulative productivity gain (USD bn) | cumulative capex (USD bn)"
        " | frontier capability Dec 2030 | frontier capability at end |"
    )
    lines = [header, "|" + "---|" * 12]
    for name, r in summary.iterrows():
        frenzy = "yes" if r["frenzy_share"] >= 0.5 else "no"
        lines.append(
            f"| `{name}` | {frenzy} ({r['frenzy_share']:.0%}) | {r['turning_point_months']:.0f}"
            f" | {_num(r['peak_ratio'], '.1f')} | {_num(r['drawdown'], '.0%')}"
            f" | {r['stranded_end']:,.0f} | {r['adoption_2030']:.0%} | {r['adoption_2040']:.0%}"
            f" | {r['cum_productivity']:,.0f} | {r['cum_capex']:,.0f}"
            f" | {r['capability_2030']:.1f} | {r['capability_end']:.1f} |"
        )
    return "\n".join(lines)


PAIRED = (
    # (metric, column title)
    ("stranded_end", "stranded capital at end"),
    ("drawdown", "drawdown"),
    ("adoption_2030", "adoption Dec 2030"),
    ("capability_2030", "frontier capability Dec 2030"),
    ("productivity_to_2035", "productivity gain to 2035"),
    ("cum_capex", "cumulative capex"),
)


def paired_table(per_seed: pd.DataFrame) -> str:
    """Each scenario against the baseline run with the same seed (common random numbers).

    A cell is the median over seeds of the relative change, and in brackets how many seeds
    moved down and up: "-30% (7 down, 1 up)". Seeds where either run lacks the metric
    (no crash, hence no drawdown) are left out.
    """
    base = per_seed.loc[BASELINE]
    titles = " | ".join(title for _, title in PAIRED)
    lines = [f"| scenario | {titles} |", "|" + "---|" * (len(PAIRED) + 1)]
    for name in per_seed.index.get_level_values("scenario").unique():
        if name == BASELINE:
            continue
        mine = per_seed.loc[name]
        cells = []
        for metric, _ in PAIRED:
            a, b = mine[metric].align(base[metric], join="inner")
            ok = np.isfinite(a) & np.isfinite(b)
            a, b = a[ok], b[ok]
            if len(a) == 0:
                cells.append("n/a")
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(b != 0, a / b - 1.0, np.nan)
            median = np.nanmedian(rel) if np.isfinite(rel).any() else float("nan")
            cells.append(
                f"{_num(median, '+.0%')} ({int((a < b).sum())} down, {int((a > b).sum())} up)"
            )
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---- charts ------------------------------------------------------------------------------

PANELS = (
    # (column(s), y label, log scale)
    (("market_value_usd_bn", "fundamental_value_usd_bn"), "Value (USD bn, log)", True),
    (("capex_usd_bn_per_yr",), "Capex (USD bn/yr)", False),
    (("adoption_share",), "Adoption (share)", False),
    (("stranded_capital_usd_bn",), "Stranded capital (USD bn)", False),
)


def scenario_figure(
    name: str, tables: dict[int, pd.DataFrame], baseline: dict[int, pd.DataFrame] | None
) -> Figure:
    """Four panels: scenario median and 10-90% band, baseline median in grey, phases shaded."""
    seed = representative_seed(tables)
    rep = tables[seed]
    dates = pd.to_datetime(rep["date"]).to_numpy()
    labels = label_phases(rep)
    with mpl.rc_context({"font.size": FONT_SIZE_PT, "axes.titlesize": FONT_SIZE_PT + 1}):
        fig = Figure(figsize=(7.0, 4.6), layout="constrained")
        axes = fig.subplots(2, 2, sharex=True).ravel()
        for ax, (columns, ylabel, log) in zip(axes, PANELS, strict=True):
            shade_phases(ax, dates, labels)
            for k, column in enumerate(columns):
                style = "-" if k == 0 else "--"
                q = quantiles(tables, column)
                ax.fill_between(
                    dates,
                    q["lo"],
                    q["hi"],
                    color=SCENARIO_COLOUR,
                    alpha=0.2 if k == 0 else 0.1,
                    linewidth=0,
                )
                ax.plot(dates, q["median"], color=SCENARIO_COLOUR, lw=1.1, ls=style)
                if baseline is not None:
                    b = quantiles(baseline, column)
                    ax.plot(dates, b["median"], color=BASELINE_COLOUR, lw=0.9, ls=style)
            if log:
                ax.set_yscale("log", nonpositive="mask")
            if columns == ("adoption_share",):
                ax.set_ylim(0.0, 1.02)
            ax.set_ylabel(ylabel)
            ax.grid(True, axis="y", lw=0.3, alpha=0.5)
            ax.margins(x=0)
            ax.tick_params(labelsize=FONT_SIZE_PT)
            locator = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        present = [p for p in PHASES if p in set(labels.astype(object))]
        handles = [
            Line2D([], [], color=SCENARIO_COLOUR, lw=1.1, label=f"{name} median"),
            Patch(facecolor=SCENARIO_COLOUR, alpha=0.2, label="10-90% of seeds"),
            Line2D([], [], color="#000000", lw=0.9, ls="--", label="fundamental value (top left)"),
        ]
        if baseline is not None:
            handles.insert(
                2, Line2D([], [], color=BASELINE_COLOUR, lw=0.9, label="baseline median")
            )
        handles += [
            Patch(facecolor=PHASE_COLOURS[p], alpha=0.4, label=p.replace("_", " ")) for p in present
        ]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=4,
            frameon=False,
            fontsize=FONT_SIZE_PT,
        )
        fig.suptitle(
            f"{name}: median of {len(tables)} seeds; phases of seed {seed} (most typical) shaded"
        )
    return fig


# ---- main ----------------------------------------------------------------------------------


def update_doc(marker: str, table: str, path: Path = DOC) -> None:
    """Replace the text between ``<!-- marker:start -->`` and ``<!-- marker:end -->``."""
    text = path.read_text()
    pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(<!-- {marker}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: <!-- {marker}:start/end --> markers not found")
    path.write_text(pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="seeds 1..N per scenario (8)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--only", nargs="+", help="scenario names (default: all)")
    parser.add_argument(
        "--update-doc", action="store_true", help="rewrite the two tables in scenarios.md"
    )
    args = parser.parse_args(argv)
    names = args.only or all_scenarios()
    if BASELINE not in names:
        names = [BASELINE, *names]  # every chart is drawn against the baseline
    runs = run_ensembles(names, list(range(1, args.seeds + 1)), args.workers)
    for name in names:
        baseline = None if name == BASELINE else runs[BASELINE]
        path = save_figure(scenario_figure(name, runs[name], baseline), IMG_DIR / f"{name}.png")
        print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)
    per_seed = per_seed_metrics(runs)
    summary = markdown_table(summarise(per_seed))
    paired = paired_table(per_seed)
    print(summary, end="\n\n")
    print(paired)
    if args.update_doc:
        update_doc("summary", summary)
        update_doc("paired", paired)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
