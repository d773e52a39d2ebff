"""What the live app shows, as plain functions of a model or its monthly table.

Nothing here imports Solara, so every piece (the parameter sliders, the charts, the network
picture and the status text) can be tested without a browser; :mod:`surge_app.page` only
arranges them. Phases are detected with :func:`analysis.phases.label_phases` on the months
run so far, so a label can change as the run goes on: a boom is called a frenzy once
market value has run far enough ahead of fundamentals, a crash a turning point once
market value has fallen far enough, and maturity needs the adoption curve to flatten near
its highest level so far.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.charts import FONT_SIZE_PT, LINE, LINE_2, PHASE_NAMES, phase_legend, shade_phases
from analysis.comparison import aggregate_network
from analysis.comparison_charts import LAYER_STYLE, SERIES, draw_network
from analysis.phases import PhaseRules, label_phases, phase_blocks
from sim.model import SurgeModel
from sim.networks import snapshot
from sim.params import GROUPS, Params

# The parameters behind the boom and bust, one or two per mechanism: speculation
# (trend-following, herding, credit), the build-out (capex response to valuations, lead
# times, fab supply), the technology race and adoption. Each has sensitivity bounds in
# sim/params.py, which give its slider a plausible range. Dotted name -> slider label.
MAIN_PARAMETERS: dict[str, str] = {
    "investors.chartist_trend_gain": "Chartist trend gain",
    "investors.herding_strength": "Herding strength",
    "credit.credit_procyclicality": "Credit procyclicality",
    "hyperscalers.tobin_q_sensitivity": "Tobin's q response",
    "hyperscalers.build_lead_months": "Build lead time",
    "hyperscalers.fab_expansion_per_yr": "Fab expansion",
    "labs.rd_ambition_growth_per_yr": "Labs' R&D growth",
    "technology.flop_per_usd_doubling_years": "Hardware doubling",
    "adopters.bass_imitation_per_yr": "Bass imitation q",
}
DEFAULT_SEED = 0
SEED_SLIDER = {
    "type": "SliderInt",
    "label": "Random seed",
    "value": DEFAULT_SEED,
    "min": 0,
    "max": 99,
    "step": 1,
}
SLIDER_POSITIONS = 50  # a float slider's range is split into about this many steps

# Headline numbers of the status panel: column, label with unit, format.
HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("market_value_usd_bn", "Market value (USD bn)", "{:,.0f}"),
    ("valuation_to_fundamentals_ratio", "Market / fundamental value", "{:.2f}"),
    ("capex_usd_bn_per_yr", "Capex (USD bn/yr)", "{:,.0f}"),
    ("capacity_h100e_mn", "Capacity (mn H100e)", "{:,.1f}"),
    ("adoption_share", "Adoption (share of firms)", "{:.1%}"),
    ("frontier_capability_index", "Frontier capability (index 0-100)", "{:.1f}"),
    ("token_price_usd_per_mtok", "Token price (USD/Mtok)", "{:.3g}"),
    ("stranded_capital_usd_bn", "Stranded capital (USD bn)", "{:,.0f}"),
)


class LiveModel(SurgeModel):
    """SurgeModel built from keywords only, as SolaraViz builds it.

    SolaraViz checks every input name against the constructor and lets extra names through
    only when the catch-all is called ``kwargs``; SurgeModel calls its catch-all
    ``overrides``, hence this subclass. Surge's scenario goes by ``scenario_name`` here:
    from Mesa 3.5 on, ``scenario`` is Mesa's own experiment object, which SolaraViz's
    Reset passes to the model; it is accepted and not used.
    """

    def __init__(self, scenario_name: str = "baseline", *, rng=None, scenario=None, **kwargs):
        super().__init__(scenario_name, rng=rng, **kwargs)


# ---- inputs -------------------------------------------------------------------------------


def _field(dotted: str) -> dataclasses.Field:
    group, name = dotted.split(".")
    return next(f for f in dataclasses.fields(GROUPS[group]) if f.name == name)


def _on_grid(x: float, step: float) -> bool:
    return abs(x / step - round(x / step)) < 1e-6


def _float_step(low: float, high: float, value: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about SLIDER_POSITIONS steps,
    made ten times finer until both ends and the scenario's value lie on it: a slider
    snaps to its steps and must not shift a scenario's value before anyone touches it."""
    raw = (high - low) / SLIDER_POSITIONS
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    while not all(_on_grid(x, step) for x in (low, high, value)):
        step /= 10.0
    return float(f"{step:.12g}")


def slider_params(params: Params) -> dict[str, Any]:
    """SolaraViz ``model_params`` for ``params``: its scenario fixed, a seed, and a slider
    per main parameter, keyed by the flat name SurgeModel takes as an override.

    A slider starts at the scenario's value and spans the parameter's sensitivity bounds,
    widened to take in the scenario's value where the scenario lies outside them; the unit
    is in the label, as declared in sim/params.py ('-' for a pure number).
    """
    inputs: dict[str, Any] = {"scenario_name": params.name, "rng": dict(SEED_SLIDER)}
    for dotted, label in MAIN_PARAMETERS.items():
        group, name = dotted.split(".")
        meta = _field(dotted).metadata
        value = getattr(getattr(params, group), name)
        low, high = min(meta["sens"][0], value), max(meta["sens"][1], value)
        is_int = isinstance(value, int)
        inputs[name] = {
            "type": "SliderInt" if is_int else "SliderFloat",
            "label": f"{label} ({meta['unit']})",
            "value": value,
            "min": low,
            "max": high,
            "step": 1 if is_int else _float_step(low, high, value),
        }
    return inputs


# ---- outputs ------------------------------------------------------------------------------

# Below 5% of firms, adoption neither takes off nor matures: judged against its own maximum
# so far, the flat first years of a run would otherwise read as maturity. Every named
# scenario ends with most firms adopting, so its finished run is labelled as `surge run`
# labels it.
LIVE_RULES = PhaseRules(min_adoption_share=0.05)


def live_phases(table: pd.DataFrame) -> pd.Series:
    """The phase of every month run so far (see LIVE_RULES)."""
    return label_phases(table, LIVE_RULES)


def _x_range(dates: pd.DatetimeIndex) -> tuple[pd.Timestamp, pd.Timestamp]:
    """From the first month to the end of the last, so the chart keeps its scale as it fills."""
    return dates[0], dates[-1] + pd.DateOffset(months=1)


def series_figure(table: pd.DataFrame, labels: pd.Series, horizon: pd.DatetimeIndex) -> Figure:
    """The headline series of the months run so far, detected phases shaded, on the axes of
    the whole run (``horizon``: every month the run will have).

    The panels are the comparison report's headline series, with fundamental value drawn
    under market value, so a frenzy shows as the gap between the two lines.
    """
    dates = pd.to_datetime(table["date"]).to_numpy() if len(table) else np.array([])
    with mpl.rc_context({"font.size": FONT_SIZE_PT}):
        # Fixed margins rather than a layout engine: redrawn every few months, the chart
        # must render fast, and constrained layout would triple the time.
        fig = Figure(figsize=(7.0, 5.0))
        fig.subplots_adjust(left=0.12, right=0.98, top=0.98, bottom=0.16, hspace=0.12, wspace=0.35)
        axes = fig.subplots(3, 2, sharex=True).ravel()
        for ax, (column, (label, log)) in zip(axes, SERIES.items(), strict=True):
            if len(table):
                ax.plot(dates, table[column].to_numpy(dtype=float), color=LINE, lw=1.0)
                if column == "market_value_usd_bn":
                    fundamental = table["fundamental_value_usd_bn"].to_numpy(dtype=float)
                    ax.plot(dates, fundamental, color=LINE_2, lw=1.0, ls="--")
                shade_phases(ax, dates, labels)
            if log:
                ax.set_yscale("log", nonpositive="mask")
            ax.set_ylabel(label)
            ax.grid(True, axis="y", lw=0.3, alpha=0.5)
            ax.set_xlim(*_x_range(horizon))
        locator = mdates.AutoDateLocator(maxticks=6)
        axes[-1].xaxis.set_major_locator(locator)
        axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axes[0].legend(
            [Line2D([], [], color=LINE), Line2D([], [], color=LINE_2, ls="--")],
            ["market value", "fundamental value"],
            loc="upper left",
            fontsize=FONT_SIZE_PT - 1,
            frameon=False,
        )
        phase_legend(fig, labels, "Detected phase (so far)", loc="lower center")
    return fig


def network_figure(model: SurgeModel) -> Figure:
    """This month's compute and capital networks: every lab and hyperscaler, sized by market
    value; investors and adopters each pooled into one node so the picture stays readable."""
    net = aggregate_network(snapshot(model, adopter_sample=None))
    with mpl.rc_context({"font.size": FONT_SIZE_PT}):
        fig = Figure(figsize=(5.0, 3.4), layout="constrained")
        ax = fig.subplots()
        draw_network(ax, net, f"Compute and capital networks, {str(net['date'])[:7]}")
        fig.legend(
            handles=[
                Line2D([], [], color=colour, ls=style, lw=1.5, label=f"{layer} edge")
                for layer, (colour, style) in LAYER_STYLE.items()
            ],
            loc="outside lower center",
            ncols=len(LAYER_STYLE),
            frameon=False,
            fontsize=FONT_SIZE_PT - 0.5,
        )
    return fig


def status(
    table: pd.DataFrame, labels: pd.Series, months: int
) -> tuple[str, list[tuple[str, str]]]:
    """A line with the current phase (and since when) and the date, and the headline
    numbers of the last month as (label with unit, value) rows."""
    if len(table) == 0:
        return f"Not started: press Step or ▶ to run the {months} months.", []
    last = table.iloc[-1]
    phase, first, _ = phase_blocks(labels)[-1]
    since = pd.Timestamp(table["date"].iloc[first]).strftime("%Y-%m")
    date = pd.Timestamp(last["date"]).strftime("%Y-%m")
    line = (
        f"Phase: {PHASE_NAMES[phase][0]} (since {since}). "
        f"Date: {date}, month {len(table)} of {months}."
    )
    rows = [(label, fmt.format(float(last[column]))) for column, label, fmt in HEADLINE]
    return line, rows
