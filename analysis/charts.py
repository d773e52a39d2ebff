"""Charts of a Surge run: one stacked overview figure with the detected Perez phases shaded.

Built on :class:`matplotlib.figure.Figure` directly (no pyplot), so nothing here touches
global figure state, needs a display, or leaks figures when called in a loop or from
tests. Analysis never needs a live model: everything comes from the run's monthly table
and the labels from :func:`analysis.phases.label_phases`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis.phases import PHASE_COLOURS, PHASES, phase_blocks

PANEL_HEIGHT_IN = 1.3  # height of one panel, inches
FIGURE_WIDTH_IN = 7.0  # a paper's full text width, inches
SHADE_ALPHA = 0.15  # phase shading opacity: light enough that lines stay readable
PNG_DPI = 150
FONT_SIZE_PT = 7.0

# Names printed above the top panel; the short form is used when the span is too narrow.
PHASE_NAMES = {
    "irruption": ("irruption", "irr."),
    "frenzy": ("frenzy", "fr."),
    "turning_point": ("turning point", "TP"),
    "synergy": ("synergy", "syn."),
    "maturity": ("maturity", "mat."),
}

# Data lines in neutral colours (black, grey) or Okabe-Ito blue, which is not a phase
# colour, so they stand out against every shaded phase.
LINE = "#000000"
LINE_2 = "#666666"
LINE_TWIN = "#0072B2"


def _month_edges(dates: Sequence) -> np.ndarray:
    """Left edge of every month plus one closing edge, as datetime64.

    Each month is drawn as the interval [its date, next month's date), so adjacent phases
    share an edge with no gap and the last month gets its full width: for a table ending
    2030-12-01 the closing edge is 2031-01-01 (last date + one calendar month).
    """
    idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates)))
    if len(idx) == 0:
        return idx.to_numpy()
    closing = idx[-1] + pd.DateOffset(months=1)
    return idx.append(pd.DatetimeIndex([closing])).to_numpy()


def shade_phases(
    ax: Axes, dates: Sequence, labels: pd.Series | Sequence[str], alpha: float = SHADE_ALPHA
) -> list:
    """Shade each contiguous phase block of ``labels`` on ``ax``; return the patches.

    One axvspan per block, from the block's first month to the start of the month after
    its last, coloured from PHASE_COLOURS and kept behind the data (zorder 0).
    """
    if len(dates) != len(labels):
        raise ValueError(f"{len(dates)} dates for {len(labels)} labels")
    edges = _month_edges(dates)
    patches = []
    for phase, first, last in phase_blocks(labels):
        patch = ax.axvspan(
            edges[first],
            edges[last + 1],
            facecolor=PHASE_COLOURS.get(phase, "#BBBBBB"),
            alpha=alpha,
            linewidth=0,
            zorder=0,
        )
        patch.set_gid(f"phase:{phase}")
        patches.append(patch)
    return patches


def _label_phases_on(ax: Axes, dates: Sequence, labels: pd.Series | Sequence[str]) -> list:
    """Write each phase's name centred over its span, just above the axes.

    The name is shortened when it would not fit: a character at 7 pt is about
    0.6 * 7 / 72 = 0.058 in wide, so "turning point" (13 characters) needs ~0.76 in; on a
    ~6 in wide axes spanning 15 years (180 months) that is 0.76 / 6 * 180 = 23 months. If
    even the short name does not fit the text is skipped (the legend still names it).
    """
    edges = _month_edges(dates)
    if len(edges) < 2:
        return []
    x = mdates.date2num(edges)
    total = x[-1] - x[0]
    fig = ax.get_figure()
    axes_width_in = ax.get_position().width * fig.get_figwidth()
    char_in = 0.6 * FONT_SIZE_PT / 72.0
    texts = []
    for phase, first, last in phase_blocks(labels):
        span_in = axes_width_in * (x[last + 1] - x[first]) / total if total > 0 else 0.0
        full, short = PHASE_NAMES.get(phase, (phase, phase[:3]))
        if len(full) * char_in <= span_in:
            name = full
        elif len(short) * char_in <= span_in:
            name = short
        else:
            continue
        texts.append(
            ax.text(
                (x[first] + x[last + 1]) / 2.0,  # centre of the span, matplotlib date units
                1.02,
                name,
                transform=ax.get_xaxis_transform(),  # x in data (dates), y in axes units
                ha="center",
                va="bottom",
                fontsize=FONT_SIZE_PT,
                color=PHASE_COLOURS.get(phase, "#444444"),
                fontweight="bold",
            )
        )
    return texts


def overview_figure(
    table: pd.DataFrame, labels: pd.Series, title: str | None = None
) -> tuple[Figure, np.ndarray]:
    """Seven stacked panels sharing a date axis, detected phases shaded on every panel.

    Panels, top to bottom: (1) market and fundamental value, USD bn, log y; (2) capex,
    USD bn/yr, with capacity, mn H100e, on a twin y axis; (3) utilization, share;
    (4) token price, USD per million tokens, log y; (5) adoption, share; (6) frontier
    capability index, 0-100; (7) stranded capital, USD bn.

    Returns ``(fig, axes)`` where ``axes`` holds the 7 panels; the capacity twin axis is
    the 8th entry of ``fig.axes``. Size: 7 in wide, 1.3 in per panel plus room for the
    title, phase names and legend, i.e. 7 x (7 * 1.3 + 0.9) = 7 x 10.0 in.
    """
    if len(labels) != len(table):
        raise ValueError(f"{len(labels)} labels for a table of {len(table)} rows")
    dates = pd.to_datetime(table["date"]).to_numpy()
    n_panels = 7
    height = n_panels * PANEL_HEIGHT_IN + 0.9
    with mpl.rc_context({"font.size": FONT_SIZE_PT, "axes.titlesize": FONT_SIZE_PT + 1}):
        fig = Figure(figsize=(FIGURE_WIDTH_IN, height), layout="constrained")
        axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]

        def col(name: str) -> np.ndarray:
            return table[name].to_numpy(dtype=float)

        # (1) Valuation: log scale because values span orders of magnitude in a surge.
        ax = axes[0]
        ax.plot(dates, col("market_value_usd_bn"), color=LINE, lw=1.0, label="market value")
        ax.plot(
            dates,
            col("fundamental_value_usd_bn"),
            color=LINE_2,
            lw=1.0,
            ls="--",
            label="fundamental value",
        )
        ax.set_yscale("log", nonpositive="mask")
        ax.set_ylabel("Value\n(USD bn, log)")
        ax.legend(loc="upper left", fontsize=FONT_SIZE_PT - 1, frameon=False)

        # (2) Investment and the capacity it buys, on a twin axis (different units).
        ax = axes[1]
        ax.plot(dates, col("capex_usd_bn_per_yr"), color=LINE, lw=1.0, label="capex")
        ax.set_ylabel("Capex\n(USD bn/yr)")
        twin = ax.twinx()
        twin.plot(dates, col("capacity_h100e_mn"), color=LINE_TWIN, lw=1.0, label="capacity")
        twin.set_ylabel("Capacity\n(mn H100e)", color=LINE_TWIN)
        twin.tick_params(axis="y", colors=LINE_TWIN, labelsize=FONT_SIZE_PT)
        handles = ax.get_lines() + twin.get_lines()
        ax.legend(
            handles,
            [h.get_label() for h in handles],
            loc="upper left",
            fontsize=FONT_SIZE_PT - 1,
            frameon=False,
        )

        # (3) Utilization of the installed accelerators.
        ax = axes[2]
        ax.plot(dates, col("utilization_share"), color=LINE, lw=1.0)
        ax.set_ylabel("Utilization\n(share)")
        ax.set_ylim(0.0, 1.05)

        # (4) Price of output: log scale since it falls by orders of magnitude.
        ax = axes[3]
        ax.plot(dates, col("token_price_usd_per_mtok"), color=LINE, lw=1.0)
        ax.set_yscale("log", nonpositive="mask")
        ax.set_ylabel("Token price\n(USD/Mtok, log)")

        # (5) Diffusion.
        ax = axes[4]
        ax.plot(dates, col("adoption_share"), color=LINE, lw=1.0)
        ax.set_ylabel("Adoption\n(share)")
        ax.set_ylim(0.0, 1.05)

        # (6) Technology frontier.
        ax = axes[5]
        ax.plot(dates, col("frontier_capability_index"), color=LINE, lw=1.0)
        ax.set_ylabel("Capability\n(index 0-100)")
        ax.set_ylim(0.0, 105.0)

        # (7) Losses: cumulative write-downs.
        ax = axes[6]
        ax.plot(dates, col("stranded_capital_usd_bn"), color=LINE, lw=1.0)
        ax.set_ylabel("Stranded capital\n(USD bn)")
        ax.set_xlabel("Date (month)")

        for ax in axes:
            shade_phases(ax, dates, labels)
            ax.grid(True, axis="y", lw=0.3, alpha=0.5)
            ax.tick_params(labelsize=FONT_SIZE_PT)  # ticks made at draw time ignore rc_context
            ax.margins(x=0)
        locator = mdates.AutoDateLocator()
        axes[-1].xaxis.set_major_locator(locator)
        axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))

        phase_legend(fig, labels, "Detected phase", loc="outside lower center")
        if title:
            fig.suptitle(title)
        # Phase names need the final axes width, so lay the figure out once first.
        fig.draw_without_rendering()
        _label_phases_on(axes[0], dates, labels)
    return fig, axes


def phase_legend(fig: Figure, labels, title: str, loc: str) -> None:
    """One legend entry per phase that occurs in ``labels``, in the Perez order."""
    present = [p for p in PHASES if p in set(pd.Series(labels, dtype=object))]
    fig.legend(
        handles=[
            Patch(facecolor=PHASE_COLOURS[p], alpha=0.4, label=PHASE_NAMES[p][0]) for p in present
        ],
        loc=loc,
        ncols=max(1, len(present)),
        frameon=False,
        fontsize=FONT_SIZE_PT,
        title=title,
        title_fontsize=FONT_SIZE_PT,
    )


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG (150 dpi) atomically; create the folder; return the path.

    Atomic: rendered into a temporary file in the same folder, then os.replace()d onto the
    target, so a reader (or a crash midway) never sees a half-written PNG. Same folder
    because os.replace is only atomic within one filesystem.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique hidden name opened with "xb" (fail if it exists) rather than mkstemp, so the
    # PNG gets the usual umask permissions (mkstemp would leave it owner-only, 0600).
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as handle:
            fig.savefig(handle, format="png", dpi=PNG_DPI)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
