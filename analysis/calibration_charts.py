"""Model against data: one panel per calibration target, from saved tables only.

A level target (capex, training compute, rent, price, revenue, firms' AI use) gets a
time-series panel: the model's median by calendar year with its 10-90% band over runs,
and the public figures as points with their ranges; years after the fit window are
shaded as forecast. A target that is one number (a growth rate, a doubling time, a
parameter) gets a panel with the figure's range as a band and each run's value as a dot.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from analysis.calibration import FIT_LAST_YEAR, MEASURES, annual
from analysis.charts import FONT_SIZE_PT
from analysis.comparison_charts import BAND_ALPHA, FULL_WIDTH_IN, paper_style

# Units of data/calibration_targets.csv as axis labels.
UNIT_LABELS = {
    "usd_bn_per_yr": "USD bn/yr",
    "flop": "FLOP",
    "x_per_yr": "x per year",
    "years": "years",
    "usd_per_gpu_hour": "USD per GPU-hour",
    "usd": "USD",
    "x_2018_to_2023": "x, 2018 to 2023",
    "share": "share",
    "per_year": "per year",
}

MODEL_COLOUR = "#0072B2"
DATA_COLOUR = "#D55E00"
FORECAST_GREY = "#EEEEEE"


def annual_ensemble(runs: pd.DataFrame, column: str, how: str) -> pd.DataFrame:
    """Per calendar year: p10, median and p90 over runs of ``column`` aggregated by ``how``.

    ``runs`` is a tidy monthly frame with ``seed`` and ``date`` columns (several runs).
    """
    per_run = pd.DataFrame(
        {seed: annual(run, column, how) for seed, run in runs.groupby("seed", sort=True)}
    )
    return pd.DataFrame(
        {
            "p10": per_run.quantile(0.1, axis=1),
            "median": per_run.median(axis=1),
            "p90": per_run.quantile(0.9, axis=1),
        }
    )


def calibration_figure(
    report: pd.DataFrame, runs: pd.DataFrame, per_run: np.ndarray, title: str = ""
) -> tuple[Figure, np.ndarray]:
    """Panels for every compared target in ``report`` (from ``analysis.calibration.compare``).

    ``runs`` holds the runs' monthly tables (for the level panels); ``per_run`` their
    measured values, one row per run and one column per row of ``report``.
    """
    metrics = list(dict.fromkeys(report["metric"]))
    ncols = 3
    nrows = math.ceil(len(metrics) / ncols)
    with paper_style():
        fig = Figure(figsize=(FULL_WIDTH_IN, 2.0 * nrows + 0.6), layout="constrained")
        axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
        for ax, metric in zip(axes.flat, metrics, strict=False):
            rows = report[report["metric"] == metric]
            measure = MEASURES[metric]
            if measure.annual_how is not None:
                _level_panel(ax, rows, runs, measure.column, measure.annual_how)
            else:
                _scalar_panel(ax, rows, per_run[:, rows.index.to_numpy()])
            ax.set_title(_title(metric), fontsize=FONT_SIZE_PT)
            unit = rows["unit"].iloc[0]
            ax.set_ylabel(UNIT_LABELS.get(unit, unit), fontsize=FONT_SIZE_PT - 1)
            inside = int(rows["inside"].sum())
            ax.text(
                0.02,
                0.97,
                f"{inside}/{len(rows)} inside",
                transform=ax.transAxes,
                va="top",
                fontsize=FONT_SIZE_PT - 2,
            )
        for ax in list(axes.flat)[len(metrics) :]:
            ax.set_axis_off()
        fig.legend(
            handles=[
                Line2D([], [], color=MODEL_COLOUR, lw=1.5, label="model median over runs"),
                Patch(color=MODEL_COLOUR, alpha=BAND_ALPHA, label="model 10-90%"),
                Line2D([], [], ls="", marker="o", color=MODEL_COLOUR, ms=3, label="one run"),
                Line2D([], [], color=DATA_COLOUR, marker="o", ms=3, label="public figure"),
                Patch(color=DATA_COLOUR, alpha=BAND_ALPHA, label="its range"),
                Patch(color=FORECAST_GREY, label="forecast (after 2024)"),
            ],
            loc="outside lower center",
            ncols=3,
            frameon=False,
            fontsize=FONT_SIZE_PT - 1,
        )
        if title:
            fig.suptitle(title)
    return fig, axes


ACRONYMS = {"gpu": "GPU", "us": "US", "ai": "AI", "h100": "H100", "usd": "USD", "openai": "OpenAI"}


def _title(metric: str) -> str:
    """'gpu_rental_h100' -> 'GPU rental H100'."""
    words = [ACRONYMS.get(w, w) for w in metric.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _level_panel(ax, rows: pd.DataFrame, runs: pd.DataFrame, column: str, how: str) -> None:
    bands = annual_ensemble(runs, column, how)
    years = bands.index.to_numpy()
    ax.axvspan(FIT_LAST_YEAR + 0.5, years.max() + 0.5, color=FORECAST_GREY, lw=0)
    ax.fill_between(
        years,
        bands["p10"],
        bands["p90"],
        color=MODEL_COLOUR,
        alpha=BAND_ALPHA,
        lw=0,
        label="model 10-90%",
    )
    ax.plot(years, bands["median"], color=MODEL_COLOUR, lw=1.5, label="model median")
    ax.errorbar(
        rows["year"],
        rows["value"],
        yerr=[rows["value"] - rows["low"], rows["high"] - rows["value"]],
        fmt="o",
        ms=3,
        color=DATA_COLOUR,
        capsize=2,
        lw=1,
        label="data (range)",
    )
    if MEASURES[rows["metric"].iloc[0]].log_scale:
        ax.set_yscale("log")
    ax.set_xlim(years.min() - 0.5, years.max() + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.tick_params(labelsize=FONT_SIZE_PT - 2)


def _scalar_panel(ax, rows: pd.DataFrame, values: np.ndarray) -> None:
    for i, row in enumerate(rows.itertuples(index=False)):
        ax.fill_between(
            [i - 0.3, i + 0.3], row.low, row.high, color=DATA_COLOUR, alpha=BAND_ALPHA, lw=0
        )
        ax.plot([i - 0.3, i + 0.3], [row.value] * 2, color=DATA_COLOUR, lw=1.5)
        jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
        ax.plot(i + jitter, values[:, i], "o", ms=2.5, color=MODEL_COLOUR, alpha=0.8)
        ax.plot([i - 0.25, i + 0.25], [row.model_median] * 2, color=MODEL_COLOUR, lw=1.5)
    fitted = MEASURES[rows["metric"].iloc[0]].fitted
    ax.set_xticks(range(len(rows)), [str(y) if fitted else "parameter" for y in rows["year"]])
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.tick_params(labelsize=FONT_SIZE_PT - 2)
