"""Analyse a sensitivity study (:mod:`sim.sensitivity`): outputs, indices, charts, text.

Outputs of one run (:data:`OUTPUTS`), read from the batch folder's saved files only:

* ``turning_point_month``: months from the first month of the run to the first month of
  the turning point (the Perez phase in ``runs/<id>.phases.csv``). Rule when a run has
  none: it counts as the run's horizon (its number of months), i.e. "not before the end"
  (right-censored). The share of runs without a turning point is reported beside the
  indices (``no_turning_point_share`` in ``outputs.csv``, and in ``summary.md``), so a
  parameter that drives this output by removing the crash altogether can be told apart
  from one that moves its date.
* ``max_drawdown_share``: largest peak-to-trough fall of market value, share of the peak.
* ``stranded_capital_end_usd_bn``: stranded capital in the last month (USD bn).
* ``adoption_share_2035``: adoption share in December 2035; NaN when the run ends
  earlier, and an output with any NaN is not analysed (``summary.md`` says so).
* ``cumulative_productivity_gain_usd_bn``: sum of monthly productivity gains (USD bn).
* ``frontier_capability_end_index``: frontier capability index in the last month.

Each design row's outputs are the mean over its replicate seeds. Morris gives mu*
(mean absolute elementary effect; SALib takes the effects on each parameter's range
scaled to [0, 1], so mu* is in the output's unit per full sensitivity range), its
bootstrap confidence interval and sigma; Sobol' gives first-order (S1) and total (ST)
indices with 95% bootstrap confidence intervals. Charts use matplotlib's object API
(no pyplot state).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.results import load_manifest, run_metrics

RUNS = "runs"
ADOPTION_YEAR = 2035
CONF_LEVEL = 0.95
NUM_RESAMPLES = 1000

# output column -> (short label with unit, meaning)
OUTPUTS: dict[str, tuple[str, str]] = {
    "turning_point_month": (
        "turning point (months from start)",
        "months from the start to the first turning-point month; the horizon if none",
    ),
    "max_drawdown_share": ("max drawdown (share)", "largest fall of market value from a peak"),
    "stranded_capital_end_usd_bn": ("stranded capital at end (USD bn)", "in the last month"),
    "adoption_share_2035": ("adoption share 2035", "in December 2035 (NaN if the run ends before)"),
    "cumulative_productivity_gain_usd_bn": (
        "cumulative productivity gain (USD bn)",
        "sum of monthly productivity gains",
    ),
    "frontier_capability_end_index": ("frontier capability at end (index)", "in the last month"),
}

# The columns of a run's table that outputs_of_run (and run_metrics) read.
COLUMNS_READ = [
    "date",
    "valuation_to_fundamentals_ratio",
    "market_value_usd_bn",
    "stranded_capital_usd_bn",
    "adoption_share",
    "productivity_gain_usd_bn_per_yr",
    "frontier_capability_index",
]

MORRIS_LABELS = 6  # parameters named on a mu*-sigma plot

MORRIS_COLUMNS = ("mu_star", "mu_star_conf", "sigma", "mu")
SOBOL_COLUMNS = ("S1", "S1_conf", "ST", "ST_conf")


class SensitivityResultsError(ValueError):
    """A study folder whose results cannot be analysed."""


# ---- outputs ----------------------------------------------------------------------------


def _month_index(dates: pd.Series) -> np.ndarray:
    d = pd.to_datetime(dates)
    return (d.dt.year * 12 + d.dt.month - 1).to_numpy(dtype=float)


def outputs_of_run(table: pd.DataFrame, phases: pd.DataFrame) -> dict[str, float]:
    """The :data:`OUTPUTS` of one run, from its monthly table and its phase table."""
    table = table.sort_values("date").reset_index(drop=True)
    metrics = run_metrics(table)
    months = _month_index(table["date"])
    start, horizon = months[0], float(len(table))
    turning = phases.loc[phases["phase"] == "turning_point", "start"]
    if len(turning):
        first = _month_index(pd.Series(pd.to_datetime(turning)).sort_values()).min()
        turning_month, has_turning = float(first - start), 1.0
    else:
        turning_month, has_turning = horizon, 0.0
    dates = pd.to_datetime(table["date"])
    december = table.loc[(dates.dt.year == ADOPTION_YEAR) & (dates.dt.month == 12)]
    adoption = float(december["adoption_share"].iloc[-1]) if len(december) else float("nan")
    return {
        "turning_point_month": turning_month,
        "has_turning_point": has_turning,
        "max_drawdown_share": metrics["max_drawdown_share"],
        "stranded_capital_end_usd_bn": metrics["stranded_capital_end_usd_bn"],
        "adoption_share_2035": adoption,
        "cumulative_productivity_gain_usd_bn": metrics["cumulative_productivity_gain_usd_bn"],
        "frontier_capability_end_index": metrics["frontier_capability_end_index"],
    }


def run_outputs(folder: str | Path) -> pd.DataFrame:
    """One row per ok run of the batch folder: run_id, param_hash, seed, outputs.

    Rows are in the manifest's task order, so the table does not depend on which
    executor ran the batch or in what order runs finished.
    """
    folder = Path(folder)
    manifest = load_manifest(folder)
    rows = []
    for record in manifest["runs"]:
        if record.get("status") != "ok":
            continue
        run_id = record["run_id"]
        try:
            table = pd.read_parquet(folder / RUNS / f"{run_id}.parquet", columns=COLUMNS_READ)
            phases = pd.read_csv(folder / RUNS / f"{run_id}.phases.csv", parse_dates=["start"])
        except (OSError, ValueError) as exc:
            raise SensitivityResultsError(
                f"{folder / RUNS}/{run_id}: cannot be read: {exc}"
            ) from None
        rows.append(
            {
                "run_id": run_id,
                "param_hash": record["param_hash"],
                "replicate": int(record["replicate"]),
                "seed": int(record["seed"]),
                **outputs_of_run(table, phases),
            }
        )
    columns = ["run_id", "param_hash", "replicate", "seed", "has_turning_point", *OUTPUTS]
    return pd.DataFrame(rows, columns=columns)


def point_outputs(
    runs: pd.DataFrame, point_hashes: Sequence[str], names: Sequence[str], design: np.ndarray
) -> pd.DataFrame:
    """One row per design row: its parameter values, its outputs averaged over seeds.

    ``no_turning_point_share`` is the share of the row's runs without a turning point.
    Raises if a row has no finished run (run the batch again with --resume).
    """
    means = runs.groupby("param_hash", sort=False)[list(OUTPUTS)].mean()
    no_turn = 1.0 - runs.groupby("param_hash", sort=False)["has_turning_point"].mean()
    counts = runs.groupby("param_hash", sort=False).size()
    missing = [h for h in dict.fromkeys(point_hashes) if h not in means.index]
    if missing:
        raise SensitivityResultsError(
            f"{len(missing)} of {len(set(point_hashes))} design points have no finished run; "
            "rerun with --resume to complete the batch"
        )
    hashes = list(point_hashes)
    frame = pd.DataFrame(np.asarray(design, dtype=float), columns=list(names))
    frame.insert(0, "row", np.arange(len(hashes)))
    frame["param_hash"] = hashes
    frame["runs"] = counts.loc[hashes].to_numpy()
    frame["no_turning_point_share"] = no_turn.loc[hashes].to_numpy()
    for column in OUTPUTS:
        frame[column] = means.loc[hashes, column].to_numpy()
    return frame


# ---- indices ----------------------------------------------------------------------------


def analyse_output(
    method: str,
    problem: Mapping[str, Any],
    design: np.ndarray,
    y: np.ndarray,
    seed: int,
) -> pd.DataFrame:
    """Indices of one output: one row per parameter (Morris or Sobol' columns)."""
    salib_problem = {k: problem[k] for k in ("num_vars", "names", "bounds")}
    y = np.asarray(y, dtype=float)
    if method == "morris":
        from SALib.analyze import morris

        res = morris.analyze(
            salib_problem,
            np.asarray(design, dtype=float),
            y,
            num_resamples=NUM_RESAMPLES,
            conf_level=CONF_LEVEL,
            num_levels=4,
            seed=seed,
        )
        columns = MORRIS_COLUMNS
    elif method == "sobol":
        from SALib.analyze import sobol

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # constant output: NaN indices
            res = sobol.analyze(
                salib_problem,
                y,
                calc_second_order=False,
                num_resamples=NUM_RESAMPLES,
                conf_level=CONF_LEVEL,
                seed=seed,
            )
        columns = SOBOL_COLUMNS
    else:
        raise ValueError(f"unknown method {method!r}")
    table = pd.DataFrame({c: np.asarray(res[c], dtype=float) for c in columns})
    table.insert(0, "parameter", list(problem["names"]))
    return table


def analyse(
    method: str,
    problem: Mapping[str, Any],
    design: np.ndarray,
    points: pd.DataFrame,
    seed: int,
    outputs: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Indices of every output: a long table (output, parameter, indices...).

    Returns the table and the outputs left out, with the reason (NaN or constant).
    """
    frames, skipped = [], {}
    for output in outputs or list(OUTPUTS):
        y = points[output].to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            skipped[output] = f"{int(np.sum(~np.isfinite(y)))} of {len(y)} design points are NaN"
            continue
        if np.ptp(y) == 0:
            skipped[output] = f"constant ({y[0]:g}) over the whole design"
            continue
        table = analyse_output(method, problem, design, y, seed)
        table.insert(0, "output", output)
        frames.append(table)
    columns = ["output", "parameter", *(MORRIS_COLUMNS if method == "morris" else SOBOL_COLUMNS)]
    indices = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return indices, skipped


# ---- charts -----------------------------------------------------------------------------


def _short(name: str) -> str:
    return name.split(".", 1)[-1]


def chart_morris(indices: pd.DataFrame, output: str):
    """mu*-sigma plot of one output (a matplotlib Figure)."""
    from matplotlib.figure import Figure

    rows = indices[indices["output"] == output]
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(
        rows["mu_star"],
        rows["sigma"],
        xerr=rows["mu_star_conf"],
        fmt="o",
        color="#0072B2",
        ecolor="#999999",
        capsize=3,
    )
    labelled = rows.nlargest(MORRIS_LABELS, "mu_star")  # the rest would overlap near 0
    for _, row in labelled.iterrows():
        ax.annotate(
            _short(row["parameter"]),
            (row["mu_star"], row["sigma"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    top = float(np.nanmax([rows["mu_star"].max(), rows["sigma"].max(), 0.0])) or 1.0
    ax.plot([0, top], [0, top], ls="--", lw=0.8, color="#D55E00", label="sigma = mu*")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("mu* (mean |elementary effect|)")
    ax.set_ylabel("sigma (spread of elementary effects)")
    title = f"Morris screening: {OUTPUTS[output][0]}"
    if len(rows) > MORRIS_LABELS:
        title += f"\n(top {MORRIS_LABELS} of {len(rows)} parameters by mu* labelled)"
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def chart_sobol(indices: pd.DataFrame, output: str):
    """Bar chart of S1 and ST with confidence-interval error bars (a matplotlib Figure)."""
    from matplotlib.figure import Figure

    rows = indices[indices["output"] == output].sort_values("ST", ascending=False)
    x = np.arange(len(rows))
    fig = Figure(figsize=(max(6, 0.6 * len(rows) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    width = 0.4
    ax.bar(x - width / 2, rows["S1"], width, yerr=rows["S1_conf"], capsize=3, label="S1")
    ax.bar(x + width / 2, rows["ST"], width, yerr=rows["ST_conf"], capsize=3, label="ST")
    ax.set_xticks(x, [_short(p) for p in rows["parameter"]], rotation=45, ha="right")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel(f"Sobol' index ({int(CONF_LEVEL * 100)}% CI)")
    ax.set_title(f"Sobol' indices: {OUTPUTS[output][0]}")
    ax.legend(fontsize=8)
    return fig


def figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


# ---- text -------------------------------------------------------------------------------


def summary_markdown(
    method: str,
    meta: Mapping[str, Any],
    indices: pd.DataFrame,
    skipped: Mapping[str, str],
    points: pd.DataFrame,
    top: int = 3,
) -> str:
    """A short report naming the top drivers of each output."""
    lines = [
        f"# Sensitivity of `{meta['scenario']}`: {'Morris' if method == 'morris' else 'Sobol'}",
        "",
        f"{len(meta['parameters'])} parameters, {meta['rows']} design points x "
        f"{meta['seeds']} seed(s) = {meta['runs']} distinct runs (n = {meta['n']}, "
        f"root seed {meta['root_seed']}, sampler seed {meta['sample_seed']}). Outputs are "
        "averaged over seeds per design point.",
        "",
    ]
    no_turn = float(points["no_turning_point_share"].mean()) if len(points) else float("nan")
    lines += [
        f"Runs without a turning point: {no_turn:.1%}. For those the turning-point month is "
        "the horizon (the run's length in months), so that output mixes the date of the "
        "crash with whether there is one.",
        "",
    ]
    rank = "mu_star" if method == "morris" else "ST"
    for output in OUTPUTS:
        label = OUTPUTS[output][0]
        if output in skipped:
            lines.append(f"- **{label}**: not analysed: {skipped[output]}.")
            continue
        rows = indices[indices["output"] == output].sort_values(rank, ascending=False)
        drivers = []
        for _, row in rows.head(top).iterrows():
            name = _short(row["parameter"])
            if method == "morris":
                drivers.append(f"{name} (mu* {row['mu_star']:.3g}, sigma {row['sigma']:.3g})")
            else:
                drivers.append(
                    f"{name} (ST {row['ST']:.2f} ± {row['ST_conf']:.2f}, S1 {row['S1']:.2f})"
                )
        text = f"- **{label}**: " + "; ".join(drivers) + "."
        if method == "sobol" and len(rows):
            gap = float((rows["ST"] - rows["S1"].clip(lower=0)).max())
            if gap > 0.1:
                text += f" Interactions matter (ST - S1 up to {gap:.2f})."
        if method == "morris" and len(rows):
            first = rows.iloc[0]
            if first["sigma"] > first["mu_star"]:
                text += " Its effect is non-linear or interacts (sigma > mu*)."
        lines.append(text)
    lines += [
        "",
        "Ranked by "
        + ("mu* (Morris)" if method == "morris" else "total-order index ST")
        + "; full table in `indices.csv`, design and outputs in `outputs.csv`.",
        "",
    ]
    return "\n".join(lines)


# ---- the whole report -------------------------------------------------------------------


def write_report(
    out: str | Path,
    batch_folder: str | Path,
    method: str,
    problem: Mapping[str, Any],
    design: np.ndarray,
    point_hashes: Sequence[str],
    meta: Mapping[str, Any],
    seed: int,
) -> list[Path]:
    """Analyse the batch and write run_outputs.csv, outputs.csv, indices.csv, PNGs, summary.md.

    Returns the files written.
    """
    from sim.batch import write_atomic

    out = Path(out)
    runs = run_outputs(batch_folder)
    points = point_outputs(runs, point_hashes, problem["names"], design)
    indices, skipped = analyse(method, problem, design, points, seed)
    written: list[Path] = []

    def put(name: str, data: bytes) -> None:
        path = out / name
        write_atomic(path, data)
        written.append(path)

    def csv(frame: pd.DataFrame) -> bytes:
        return frame.to_csv(index=False, lineterminator="\n", float_format="%.10g").encode()

    put("run_outputs.csv", csv(runs))
    put("outputs.csv", csv(points))
    put("indices.csv", csv(indices))
    for output in OUTPUTS:
        if output in skipped:
            continue
        chart = chart_morris if method == "morris" else chart_sobol
        put(f"{method}_{output}.png", figure_png(chart(indices, output)))
    put("summary.md", summary_markdown(method, meta, indices, skipped, points).encode())
    put("study.json", (json.dumps(dict(meta), indent=2) + "\n").encode())
    return written
