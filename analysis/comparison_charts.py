"""Charts of a strategy comparison, from tidy tables only (nothing here runs the model).

Every function takes DataFrames (or saved network summaries) and returns ``(fig, axes)``
built on :class:`matplotlib.figure.Figure` (no pyplot, no global state); save with
:func:`save_both`. Phases use :data:`analysis.phases.PHASE_COLOURS`; scenarios use
:data:`SCENARIO_COLOURS`, the Okabe-Ito colours the phases leave free (blue, black) then
neutral greys, so a scenario line never shares a colour with a phase.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis.charts import FONT_SIZE_PT, PHASE_NAMES, save_figure
from analysis.phases import PHASE_COLOURS, PHASES

SCENARIO_COLOURS = ("#0072B2", "#000000", "#999999", "#F0E442", "#555555")
COLUMN_WIDTH_IN = 3.5  # one column of a two-column paper
FULL_WIDTH_IN = 7.0
BAND_ALPHA = 0.2

# Headline series of the small multiples: column -> (label with unit, log scale).
SERIES: dict[str, tuple[str, bool]] = {
    "market_value_usd_bn": ("Market value\n(USD bn, log)", True),
    "capex_usd_bn_per_yr": ("Capex\n(USD bn/yr)", False),
    "adoption_share": ("Adoption\n(share)", False),
    "frontier_capability_index": ("Capability\n(index 0-100)", False),
    "token_price_usd_per_mtok": ("Token price\n(USD/Mtok, log)", True),
    "stranded_capital_usd_bn": ("Stranded capital\n(USD bn)", False),
}


def scenario_colours(scenarios: Sequence[str]) -> dict[str, str]:
    return {s: SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)] for i, s in enumerate(scenarios)}


def paper_style():
    """Font sizes shared by the report charts (a context manager)."""
    return mpl.rc_context({"font.size": FONT_SIZE_PT, "axes.titlesize": FONT_SIZE_PT + 1})


def _date_axis(ax) -> None:
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def ensemble_bands(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per scenario and date: p10, median, p90 of ``column`` over runs."""
    grouped = frame.groupby(["scenario", "date"], sort=False)[column]
    out = grouped.quantile([0.1, 0.5, 0.9]).unstack()
    out.columns = ["p10", "median", "p90"]
    return out.reset_index()


def _phase_strip(ax, timeline: pd.DataFrame, scenarios: Sequence[str]) -> None:
    """One thin row per scenario with its median phases as coloured bars."""
    for i, scenario in enumerate(scenarios):
        sub = timeline[timeline["scenario"] == scenario]
        for row in sub.itertuples():
            start = mdates.date2num(pd.Timestamp(row.start))
            end = mdates.date2num(pd.Timestamp(row.start) + pd.DateOffset(months=int(row.months)))
            ax.broken_barh(
                [(start, end - start)],
                (i - 0.4, 0.8),
                facecolors=PHASE_COLOURS.get(row.phase, "#BBBBBB"),
                gid=f"phase:{scenario}:{row.phase}",
            )
    ax.set_yticks(range(len(scenarios)), labels=list(scenarios), fontsize=FONT_SIZE_PT - 1)
    ax.set_ylim(len(scenarios) - 0.5, -0.5)
    ax.tick_params(axis="x", labelbottom=False, length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def series_figure(
    frame: pd.DataFrame,
    timeline: pd.DataFrame,
    series: Mapping[str, tuple[str, bool]] | None = None,
    width_in: float = FULL_WIDTH_IN,
) -> tuple[Figure, np.ndarray]:
    """Small multiples: per series, median line and 10-90% band per scenario over time,
    with a strip under each panel of each scenario's median phases.

    ``frame`` is load_results() output; ``timeline`` is median_phase_timeline(). Returns
    the data panels (the strips are the other axes of ``fig.axes``).
    """
    series = dict(SERIES if series is None else series)
    scenarios = list(dict.fromkeys(frame["scenario"]))
    colours = scenario_colours(scenarios)
    n = len(series)
    ncols = 2 if width_in >= FULL_WIDTH_IN else 1
    nrows = int(np.ceil(n / ncols))
    strip = 0.12 * len(scenarios)
    with paper_style():
        fig = Figure(figsize=(width_in, nrows * (1.5 + strip) + 0.6), layout="constrained")
        grid = fig.add_gridspec(2 * nrows, ncols, height_ratios=[1.5, strip] * nrows)
        panels = []
        dates = pd.to_datetime(frame["date"])
        frame = frame.assign(date=dates)
        for k, (column, (label, log)) in enumerate(series.items()):
            r, c = divmod(k, ncols)
            ax = fig.add_subplot(grid[2 * r, c])
            strip_ax = fig.add_subplot(grid[2 * r + 1, c], sharex=ax)
            bands = ensemble_bands(frame, column)
            for scenario in scenarios:
                b = bands[bands["scenario"] == scenario]
                ax.fill_between(
                    b["date"], b["p10"], b["p90"], color=colours[scenario], alpha=BAND_ALPHA, lw=0
                )
                ax.plot(b["date"], b["median"], color=colours[scenario], lw=1.0, label=scenario)
            if log:
                ax.set_yscale("log", nonpositive="mask")
            ax.set_ylabel(label)
            ax.set_xlabel("Date (month)")
            ax.grid(True, axis="y", lw=0.3, alpha=0.5)
            ax.margins(x=0)
            ax.tick_params(labelsize=FONT_SIZE_PT)
            _date_axis(ax)
            _phase_strip(strip_ax, timeline, scenarios)
            panels.append(ax)
        present = [p for p in PHASES if p in set(timeline["phase"])]
        handles = [
            mpl.lines.Line2D([], [], color=colours[s], lw=1.5, label=f"{s} (median, 10-90%)")
            for s in scenarios
        ] + [Patch(facecolor=PHASE_COLOURS[p], label=PHASE_NAMES[p][0]) for p in present]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(4, len(handles)),
            frameon=False,
            fontsize=FONT_SIZE_PT - 0.5,
        )
    return fig, np.array(panels)


def phase_timeline_figure(
    timeline: pd.DataFrame, width_in: float = COLUMN_WIDTH_IN
) -> tuple[Figure, np.ndarray]:
    """One bar per scenario, its median phases from median start for median length."""
    scenarios = list(dict.fromkeys(timeline["scenario"]))
    with paper_style():
        fig = Figure(figsize=(width_in, 0.45 * len(scenarios) + 1.2), layout="constrained")
        ax = fig.subplots()
        _phase_strip(ax, timeline, scenarios)
        ax.tick_params(axis="x", labelbottom=True, length=3)
        ax.spines["bottom"].set_visible(True)
        ax.set_yticks(range(len(scenarios)), labels=scenarios, fontsize=FONT_SIZE_PT)
        ax.set_xlabel("Date (month)\neach phase at its median start and length")
        _date_axis(ax)
        present = [p for p in PHASES if p in set(timeline["phase"])]
        fig.legend(
            handles=[Patch(facecolor=PHASE_COLOURS[p], label=PHASE_NAMES[p][0]) for p in present],
            loc="outside lower center",
            ncols=min(3, max(1, len(present))),
            frameon=False,
            fontsize=FONT_SIZE_PT - 0.5,
        )
    return fig, np.array([ax])


def scatter_figure(per_run: pd.DataFrame, width_in: float = COLUMN_WIDTH_IN):
    """Cumulative productivity gain vs stranded capital, one point per run, plus medians."""
    scenarios = list(dict.fromkeys(per_run["scenario"]))
    colours = scenario_colours(scenarios)
    with paper_style():
        fig = Figure(figsize=(width_in, width_in * 0.8), layout="constrained")
        ax = fig.subplots()
        for scenario in scenarios:
            sub = per_run[per_run["scenario"] == scenario]
            x = sub["stranded_capital_end_usd_bn"]
            y = sub["cumulative_productivity_gain_usd_bn"]
            ax.scatter(x, y, s=10, color=colours[scenario], alpha=0.6, lw=0, label=scenario)
            ax.scatter(
                [x.median()], [y.median()], s=60, marker="X", color=colours[scenario],
                edgecolor="white", lw=0.8, zorder=3,
            )  # fmt: skip
        ax.set_xscale("log")  # a few runs strand ten times what most do
        # 1-2-5 steps, all labelled alike: unlabelled minor ticks, since matplotlib's own
        # labels for them (3x10^3, 4x10^3) run into each other on a narrow axis
        ax.xaxis.set_major_locator(mpl.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
        ax.set_xlabel("Stranded capital, last month (USD bn, log)")
        ax.set_ylabel("Cumulative productivity gain (USD bn)")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(mpl.ticker.StrMethodFormatter("{x:,.0f}"))
        ax.grid(True, lw=0.3, alpha=0.5)
        fig.legend(  # below the axes, where no run's point can hide under it
            loc="outside lower center",
            ncols=len(scenarios),
            frameon=False,
            fontsize=FONT_SIZE_PT - 0.5,
            title="one point per run; X = median",
            title_fontsize=FONT_SIZE_PT - 0.5,
        )
    return fig, np.array([ax])


KIND_COLUMN = {"investor": 0.0, "hyperscaler": 1.0, "lab": 2.0, "adopter": 3.0}
KIND_COLOUR = {
    "investor": "#999999",
    "hyperscaler": "#0072B2",
    "lab": "#000000",
    "adopter": "#009E73",
}
LAYER_STYLE = {
    "compute": ("#0072B2", "-"),
    "equity": ("#E69F00", "-"),
    "debt": ("#D55E00", "--"),
}


def draw_network(ax, net: Mapping[str, Any], title: str) -> None:
    """Draw one :func:`analysis.comparison.aggregate_network` result on ``ax``.

    One column per kind of agent in the order money and compute flow (investors,
    hyperscalers, labs, adopters), the most valuable firm of each kind on top. Shared by the
    comparison report and the live app (surge_app).
    """
    nodes = net["nodes"]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        by_kind.setdefault(node["kind"], []).append(node)
    pos = {}
    for kind, members in by_kind.items():
        members = sorted(members, key=lambda n: -n["value"])
        for i, node in enumerate(members):
            pos[node["id"]] = (KIND_COLUMN.get(kind, 4.0), -(i - (len(members) - 1) / 2.0))
    values = [n["value"] for n in nodes if n["kind"] in ("lab", "hyperscaler")] or [1.0]
    vmax = max(max(values), 1e-9)
    kinds = {n["id"]: n["kind"] for n in nodes}
    for layer, (colour, style) in LAYER_STYLE.items():
        edges = [e for e in net["edges"] if e["layer"] == layer]
        if not edges:
            continue
        wmax: dict[str, float] = {}  # widths relative within a layer and source kind
        for e in edges:
            k = kinds.get(e["source"], "")
            wmax[k] = max(wmax.get(k, 0.0), e["weight"])
        for e in edges:
            if e["source"] not in pos or e["target"] not in pos:
                continue
            (x0, y0), (x1, y1) = pos[e["source"]], pos[e["target"]]
            width = 0.3 + 2.5 * e["weight"] / (wmax[kinds[e["source"]]] or 1.0)
            ax.plot(
                [x0, x1], [y0, y1], color=colour, ls=style, alpha=0.6, lw=width, zorder=1,
                gid=f"edge:{layer}",
            )  # fmt: skip
    for node in nodes:
        x, y = pos[node["id"]]
        kind = node["kind"]
        size = 40.0 if kind in ("investor", "adopter") else 20 + 400 * node["value"] / vmax
        ax.scatter(
            [x], [y], s=size, color=KIND_COLOUR.get(kind, "#777777"), zorder=2,
            edgecolor="white", lw=0.5, alpha=1.0 if node.get("alive", True) else 0.3,
        )  # fmt: skip
        name = node["id"].replace("_lab_", " ").replace("hyperscaler_", "hs ")
        ax.annotate(  # just right of the marker, whose width is the root of its size
            name, (x, y), xytext=(size**0.5 / 2 + 2, 0), textcoords="offset points",
            ha="left", va="center", fontsize=FONT_SIZE_PT - 2, zorder=3,
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none",
                  "alpha": 0.8},
        )  # fmt: skip
    ax.set_title(title, fontsize=FONT_SIZE_PT)
    ax.set_xticks(
        list(KIND_COLUMN.values()), labels=["investors", "hyperscalers", "labs", "adopters"]
    )
    ax.tick_params(labelsize=FONT_SIZE_PT - 1, length=0)
    ax.set_yticks([])
    ax.set_xlim(-0.5, 3.5)
    ax.margins(y=0.15)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def network_figure(
    networks: Mapping[str, Mapping[str, Mapping[str, Any]]], width_in: float = FULL_WIDTH_IN
) -> tuple[Figure, np.ndarray]:
    """Rows = scenarios, columns = snapshots ('peak', 'after'): aggregated networks.

    ``networks[scenario][when]`` is :func:`analysis.comparison.aggregate_network` output
    plus ``seed``. Node size: market value (labs, hyperscalers); edge width: GPU-hours
    (hyperscaler -> lab), tokens (lab -> adopters), value held (equity) or claims (debt),
    relative to the widest edge of its kind within each panel.
    """
    scenarios = list(networks)
    names = {"peak": "frenzy peak", "after": "after the turning point"}
    with paper_style():
        fig = Figure(figsize=(width_in, 2.4 * len(scenarios) + 0.5), layout="constrained")
        axes = fig.subplots(len(scenarios), 2, squeeze=False)
        for i, scenario in enumerate(scenarios):
            for j, when in enumerate(("peak", "after")):
                net = networks[scenario].get(when)
                ax = axes[i, j]
                if net is None:
                    ax.set_axis_off()
                    continue
                date = str(net.get("date", ""))[:7]
                title = f"{scenario}: {names[when]}, {date}\n(seed {net.get('seed', '?')})"
                draw_network(ax, net, title)
        handles = [
            mpl.lines.Line2D([], [], color=c, ls=s, lw=1.5, label=f"{layer} edge")
            for layer, (c, s) in LAYER_STYLE.items()
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False,
                   fontsize=FONT_SIZE_PT - 0.5)  # fmt: skip
    return fig, axes


def save_both(fig: Figure, stem: str | os.PathLike) -> list[Path]:
    """Save ``fig`` as <stem>.png (atomic, 150 dpi) and <stem>.svg; return both paths."""
    stem = Path(stem)
    png = save_figure(fig, stem.with_suffix(".png"))
    svg = stem.with_suffix(".svg")
    tmp = svg.with_name(f".{svg.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="svg")
        os.replace(tmp, svg)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return [png, svg]
