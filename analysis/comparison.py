"""Compare strategies (scenarios) run as ensembles: per-run outcomes, ensemble bands, tipping.

Everything here reads tidy tables (``analysis.results.load_results`` / ``load_phases``):
no model runs, except :func:`network_snapshots`, which rebuilds one representative seed
per scenario to draw its compute and capital networks (the model does not save them).

    per_run = comparison_metrics(frame, phases)   # one row per run
    table = comparison_table(per_run)             # one row per scenario: median, p10, p90
    print(comparison_markdown(table))

Definitions (per run; monthly flows are per year, so a month contributes value / 12):

* cumulative productivity gain, USD bn = sum of productivity_gain_usd_bn_per_yr / 12
* capital invested, USD bn = sum of capex_usd_bn_per_yr / 12
* gain per dollar invested = cumulative productivity gain / capital invested
* energy used, TWh = sum of energy_twh_per_yr / 12
* peak-to-trough drawdown = largest fall of market value from a running peak, share of it
* months in each phase = months the saved phase table gives that phase (0 if absent)
* turning point = first month of the first turning_point block, as a decimal year
  (2031.5 = 2031-07); runs without one are left out of its median and counted
* who gained: adopters = cumulative productivity gain; labs = change in the labs' market
  value, last month minus first; hyperscalers = cumulative earnings (sum of
  hyperscaler_earnings_usd_bn_per_yr / 12); investors = change in investor wealth, last
  month minus first; the government's cost = cumulative subsidies paid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.phases import PHASES, label_phases, phase_table
from analysis.results import max_drawdown, value_in_december

MONTHS_PER_YEAR = 12.0

# Per-run outcome -> (label, unit). The order is the order of the report's table.
METRICS: dict[str, tuple[str, str]] = {
    "adoption_share_2030": ("Adoption share, Dec 2030", "share"),
    "adoption_share_2040": ("Adoption share, Dec 2040", "share"),
    "adoption_share_end": ("Adoption share, last month", "share"),
    "cumulative_productivity_gain_usd_bn": ("Cumulative productivity gain", "USD bn"),
    "capital_invested_usd_bn": ("Capital invested (cumulative capex)", "USD bn"),
    "gain_per_usd_invested": ("Productivity gain per dollar invested", "USD/USD"),
    "frontier_capability_end_index": ("Frontier capability, last month", "index 0-100"),
    "stranded_capital_end_usd_bn": ("Stranded capital, last month", "USD bn"),
    "max_drawdown_share": ("Peak-to-trough valuation drawdown", "share of peak"),
    "energy_used_twh": ("Energy used", "TWh"),
    **{f"months_{p}": (f"Months in {p.replace('_', ' ')}", "months") for p in PHASES},
    "turning_point_year": ("Turning point starts", "date"),
    "gain_adopters_usd_bn": ("Gain: adopters (productivity)", "USD bn"),
    "gain_labs_usd_bn": ("Gain: labs (change in market value)", "USD bn"),
    "gain_hyperscalers_usd_bn": ("Gain: hyperscalers (cumulative earnings)", "USD bn"),
    "gain_investors_usd_bn": ("Gain: investors (change in wealth)", "USD bn"),
    "subsidies_paid_usd_bn": ("Cost: government subsidies paid", "USD bn"),
}

# Outcomes whose ranking the tipping analysis checks: name -> True if more is better.
TIPPING_OUTCOMES: dict[str, bool] = {
    "cumulative_productivity_gain_usd_bn": True,
    "stranded_capital_end_usd_bn": False,
}

# The parameters that define the two strategies (scenarios/us_frontier.toml and
# scenarios/china_diffusion.toml), each with the values it takes in the two scenarios or
# the baseline; applied to both strategies, one parameter at a time.
TIPPING_GRID: dict[str, list[Any]] = {
    "adoption_subsidy_share": [0.0, 0.25],
    "compute_subsidy_share": [0.0, 0.1],
    "preference": ["winner_takes_all", "good_enough"],
    "distillation_gap": [3.0, 8.0],
    "export_limit_share": [0.4, 1.0],
    "n_open_labs": [1, 5],
    "bass_innovation_per_yr": [0.03, 0.06],
    "leverage_base": [0.35, 0.5],
}
TIPPING_SEEDS = 8

QUANTILES = {"p10": 0.10, "median": 0.50, "p90": 0.90}


# ---- per run ----------------------------------------------------------------------------


def _cumulative(run: pd.DataFrame, column: str) -> float:
    return float(run[column].to_numpy(dtype=float).sum() / MONTHS_PER_YEAR)


def _change(run: pd.DataFrame, column: str) -> float:
    values = run[column].to_numpy(dtype=float)
    return float(values[-1] - values[0])


def decimal_year(date) -> float:
    """2031-07-01 -> 2031.5 (months, not days: the model is monthly)."""
    stamp = pd.Timestamp(date)
    return stamp.year + (stamp.month - 1) / MONTHS_PER_YEAR


def format_year(value: float) -> str:
    """2031.5 -> '2031-07'; NaN -> 'none'.

    A median of an even number of runs can fall halfway between two months; halves round
    up, always, so that two such medians one month apart print one month apart (Python's
    round() sends halves to the even number: 2026-09 and 2026-07 for medians a month apart).
    """
    if not np.isfinite(value):
        return "none"
    months = math.floor(round(value * MONTHS_PER_YEAR, 6) + 0.5)  # round(): 0.4999999 is 0.5
    return f"{months // 12:04d}-{months % 12 + 1:02d}"


def run_outcomes(run: pd.DataFrame, phases: pd.DataFrame) -> dict[str, float]:
    """The outcomes of :data:`METRICS` for one run's monthly table and its phase table."""
    run = run.sort_values("date")
    last = run.iloc[-1]
    gain = _cumulative(run, "productivity_gain_usd_bn_per_yr")
    invested = _cumulative(run, "capex_usd_bn_per_yr")
    out = {
        "adoption_share_2030": value_in_december(run, 2030, "adoption_share"),
        "adoption_share_2040": value_in_december(run, 2040, "adoption_share"),
        "adoption_share_end": float(last["adoption_share"]),
        "cumulative_productivity_gain_usd_bn": gain,
        "capital_invested_usd_bn": invested,
        "gain_per_usd_invested": gain / invested if invested > 0 else float("nan"),
        "frontier_capability_end_index": float(last["frontier_capability_index"]),
        "stranded_capital_end_usd_bn": float(last["stranded_capital_usd_bn"]),
        "max_drawdown_share": max_drawdown(run["market_value_usd_bn"].to_numpy(dtype=float)),
        "energy_used_twh": _cumulative(run, "energy_twh_per_yr"),
    }
    for phase in PHASES:
        out[f"months_{phase}"] = float(phases.loc[phases["phase"] == phase, "months"].sum())
    turning = phases.loc[phases["phase"] == "turning_point", "start"]
    out["turning_point_year"] = decimal_year(turning.min()) if len(turning) else float("nan")
    out["gain_adopters_usd_bn"] = gain
    out["gain_labs_usd_bn"] = _change(run, "lab_market_value_usd_bn")
    out["gain_hyperscalers_usd_bn"] = _cumulative(run, "hyperscaler_earnings_usd_bn_per_yr")
    out["gain_investors_usd_bn"] = _change(run, "investor_wealth_usd_bn")
    out["subsidies_paid_usd_bn"] = _cumulative(run, "subsidies_usd_bn_per_yr")
    return out


def comparison_metrics(
    frame: pd.DataFrame, phases: pd.DataFrame | None = None, by: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per run: scenario, the ``by`` columns, seed, run_id and :data:`METRICS`.

    ``phases`` is :func:`analysis.results.load_phases` (run_id, phase, start, months); if
    None the phases are detected again from each run's table with the same detector.
    """
    rows = []
    for run_id, run in frame.groupby("run_id", sort=False):
        if phases is not None:
            ph = phases.loc[phases["run_id"] == run_id]
        else:
            run = run.sort_values("date").reset_index(drop=True)
            ph = phase_table(run, label_phases(run))
        first = run.iloc[0]
        ids = {"scenario": first["scenario"], **{k: first[k] for k in by}}
        ids.update(seed=int(first["seed"]), run_id=run_id)
        if "replicate" in run.columns:
            ids["replicate"] = int(first["replicate"])
        rows.append({**ids, **run_outcomes(run, ph)})
    return pd.DataFrame(rows)


# ---- ensemble -----------------------------------------------------------------------------


def comparison_table(per_run: pd.DataFrame, by: Sequence[str] = ("scenario",)) -> pd.DataFrame:
    """One row per scenario (and ``by`` group): n_runs, then <metric>_median/_p10/_p90.

    Quantiles skip NaN (a run that ends before 2040 or has no turning point); the column
    ``turning_point_runs`` counts the runs that have one.
    """
    rows = []
    for key, group in per_run.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(by, key, strict=True))
        row["n_runs"] = len(group)
        row["turning_point_runs"] = int(group["turning_point_year"].notna().sum())
        for metric in METRICS:
            values = group[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            for suffix, q in QUANTILES.items():
                row[f"{metric}_{suffix}"] = (
                    float(np.quantile(values, q)) if values.size else float("nan")
                )
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: float, unit: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    if unit == "date":
        return format_year(value)
    if unit in ("share", "share of peak", "USD/USD"):
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def cell(table_row: Mapping[str, Any], metric: str) -> str:
    """'median [p10-p90]' for one scenario and metric, formatted for its unit."""
    unit = METRICS[metric][1]
    med, lo, hi = (table_row[f"{metric}_{s}"] for s in ("median", "p10", "p90"))
    return f"{_fmt(med, unit)} [{_fmt(lo, unit)} to {_fmt(hi, unit)}]"


def comparison_markdown(table: pd.DataFrame) -> str:
    """The comparison as a Markdown table: one row per metric, one column per scenario."""
    names = list(table["scenario"])
    lines = [
        "| Outcome | Unit | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    rows = table.to_dict("records")
    for metric, (label, unit) in METRICS.items():
        cells = [cell(r, metric) for r in rows]
        lines.append(f"| {label} | {unit} | " + " | ".join(cells) + " |")
    runs = ", ".join(f"{r['scenario']} {r['n_runs']}" for r in rows)
    tp = ", ".join(f"{r['scenario']} {r['turning_point_runs']}" for r in rows)
    lines += [
        "",
        f"Median [10th to 90th percentile] over runs ({runs} runs); runs with a turning"
        f" point: {tp}.",
    ]
    return "\n".join(lines) + "\n"


def bands_overlap(row_a: Mapping[str, Any], row_b: Mapping[str, Any], metric: str) -> bool:
    """True if the 10-90% ranges of two scenarios overlap for ``metric``."""
    lo_a, hi_a = row_a[f"{metric}_p10"], row_a[f"{metric}_p90"]
    lo_b, hi_b = row_b[f"{metric}_p10"], row_b[f"{metric}_p90"]
    return bool(lo_a <= hi_b and lo_b <= hi_a)


# Metrics the generated text talks about, in this order.
TEXT_METRICS = (
    "adoption_share_2030",
    "adoption_share_end",
    "cumulative_productivity_gain_usd_bn",
    "capital_invested_usd_bn",
    "gain_per_usd_invested",
    "frontier_capability_end_index",
    "stranded_capital_end_usd_bn",
    "max_drawdown_share",
    "energy_used_twh",
    "turning_point_year",
    "gain_labs_usd_bn",
    "gain_hyperscalers_usd_bn",
    "gain_investors_usd_bn",
)


def describe(table: pd.DataFrame) -> list[str]:
    """Sentences on how the first scenario differs from each other one, in numbers."""
    rows = table.to_dict("records")
    if len(rows) < 2:
        return ["Only one scenario: nothing to compare."]
    a = rows[0]
    sentences = []
    for b in rows[1:]:
        for metric in TEXT_METRICS:
            label, unit = METRICS[metric]
            ma, mb = a[f"{metric}_median"], b[f"{metric}_median"]
            if not (np.isfinite(ma) and np.isfinite(mb)):
                continue
            if unit == "date":
                diff = f"{(ma - mb) * MONTHS_PER_YEAR:+.0f} months"
            elif mb != 0 and np.sign(ma) == np.sign(mb):
                diff = f"{ma / mb:.2f}x"
            else:
                diff = f"{ma - mb:+.3g} {unit}"
            verdict = (
                "the 10-90% ranges overlap, so the difference is within the run-to-run spread"
                if bands_overlap(a, b, metric)
                else "the 10-90% ranges do not overlap"
            )
            in_unit = "" if unit == "date" else f" {unit}"
            sentences.append(
                f"{label}: {a['scenario']} {cell(a, metric)} vs {b['scenario']}"
                f" {cell(b, metric)}{in_unit} ({a['scenario']} / {b['scenario']} = {diff});"
                f" {verdict}."
            )
    return sentences


# ---- tipping ------------------------------------------------------------------------------


def _order(medians: Mapping[str, float], a: str, b: str) -> float:
    return float(np.sign(medians[a] - medians[b]))


def tipping_table(
    base: pd.DataFrame, points: pd.DataFrame, scenarios: Sequence[str]
) -> pd.DataFrame:
    """Which parameter values reverse the ranking of the first two scenarios.

    ``base`` is the per-run outcomes of the main ensemble; ``points`` those of the tipping
    runs with ``parameter`` and ``value`` columns. If both have a ``replicate`` column,
    ``base`` is cut to the replicates the tipping runs have: replicate k has the same seed
    in every batch with the same root seed, so the comparison is seed for seed and a
    reversal is not just the noise of using fewer seeds. For each outcome in
    :data:`TIPPING_OUTCOMES` the ranking is the sign of median(a) - median(b); a point
    reverses it when its sign differs from the main ensemble's. Columns: parameter,
    value, outcome, median_<a>, median_<b>, difference, base_difference, reverses.
    """
    a, b = scenarios[0], scenarios[1]
    if "replicate" in base.columns and "replicate" in points.columns and len(points):
        base = base[base["replicate"].isin(set(points["replicate"]))]
    base_medians = {o: base.groupby("scenario")[o].median().to_dict() for o in TIPPING_OUTCOMES}
    rows = []
    for (parameter, value), group in points.groupby(["parameter", "value"], sort=False):
        for outcome in TIPPING_OUTCOMES:
            medians = group.groupby("scenario")[outcome].median().to_dict()
            if a not in medians or b not in medians:
                continue
            sign = _order(medians, a, b)
            base_sign = _order(base_medians[outcome], a, b)
            rows.append(
                {
                    "parameter": parameter,
                    "value": value,
                    "outcome": outcome,
                    f"median_{a}": medians[a],
                    f"median_{b}": medians[b],
                    "difference": medians[a] - medians[b],
                    "base_difference": base_medians[outcome][a] - base_medians[outcome][b],
                    "n_runs": len(group),
                    "reverses": bool(sign != base_sign and sign != 0),
                }
            )
    return pd.DataFrame(rows)


def _shown(value: Any) -> str:
    """A parameter value as a scenario file would give it: 5, not the 5.0 that a column
    mixing numbers and words makes of it."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def tipping_markdown(tipping: pd.DataFrame, scenarios: Sequence[str]) -> str:
    """The tipping table as Markdown plus one sentence per outcome naming the reversals."""
    if tipping.empty:
        return "No tipping runs.\n"
    a, b = scenarios[0], scenarios[1]
    lines = [
        f"| Parameter = value | Outcome | {a} median | {b} median | {a} - {b} | Reverses? |",
        "|---|---|---|---|---|---|",
    ]
    for r in tipping.to_dict("records"):
        lines.append(
            f"| {r['parameter']} = {_shown(r['value'])} | {METRICS[r['outcome']][0]} |"
            f" {r[f'median_{a}']:,.0f} | {r[f'median_{b}']:,.0f} | {r['difference']:+,.0f} |"
            f" {'**yes**' if r['reverses'] else 'no'} |"
        )
    lines.append("")
    for outcome in TIPPING_OUTCOMES:
        sub = tipping[tipping["outcome"] == outcome]
        if sub.empty:
            continue
        base = float(sub["base_difference"].iloc[0])
        leader = a if base > 0 else b
        flips = [
            f"{r['parameter']} = {_shown(r['value'])}"
            for r in sub.to_dict("records")
            if r["reverses"]
        ]
        label = METRICS[outcome][0].lower()
        higher = "higher"
        if flips:
            lines.append(
                f"- {label}: {leader} has the {higher} median in the main ensemble's"
                f" same seeds ({a} - {b} = {base:+,.0f} USD bn); the ranking reverses with "
                + ", ".join(flips)
                + "."
            )
        else:
            lines.append(
                f"- {label}: {leader} has the {higher} median in the main ensemble's"
                f" same seeds ({a} - {b} = {base:+,.0f} USD bn); no single parameter value tried"
                " reverses it."
            )
    return "\n".join(lines) + "\n"


# ---- phases, representative runs, networks ---------------------------------------------


def median_phase_timeline(phases: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and phase: median start (a date), median length in months, share of runs.

    ``phases`` is load_phases() output; ``runs`` maps run_id to scenario (any frame with
    both columns). The median start is over the runs that have the phase.
    """
    ids = runs[["run_id", "scenario"]].drop_duplicates()
    merged = phases.merge(ids, on="run_id")
    n_runs = ids.groupby("scenario")["run_id"].nunique()
    first = merged.sort_values("start").groupby(["scenario", "run_id", "phase"], sort=False)
    per_run = first.agg(start=("start", "min"), months=("months", "sum")).reset_index()
    rows = []
    for scenario in ids["scenario"].drop_duplicates():
        for phase in PHASES:
            sub = per_run[(per_run["scenario"] == scenario) & (per_run["phase"] == phase)]
            if sub.empty:
                continue
            start = pd.to_datetime(sub["start"]).median().to_period("M").to_timestamp()
            rows.append(
                {
                    "scenario": scenario,
                    "phase": phase,
                    "start": start,
                    "months": float(np.median(sub["months"])),
                    "share_of_runs": len(sub) / int(n_runs[scenario]),
                }
            )
    return pd.DataFrame(rows, columns=["scenario", "phase", "start", "months", "share_of_runs"])


def representative_runs(per_run: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per scenario, the run whose ``metric`` is closest to the scenario's median."""
    picks = []
    for _, group in per_run.groupby("scenario", sort=False):
        distance = (group[metric] - group[metric].median()).abs()
        picks.append(group.loc[distance.idxmin()])
    return pd.DataFrame(picks).reset_index(drop=True)


def snapshot_months(run: pd.DataFrame, phases: pd.DataFrame) -> dict[str, int]:
    """Month indices of the frenzy's peak and of the month after the turning point.

    'peak' is the first month of the turning point (the detector starts it at the peak of
    market value); without one, the month of the highest market value. 'after' is the
    first month after the turning_point block, or 24 months after the peak if there is
    none; both are clipped to the run.
    """
    run = run.sort_values("date").reset_index(drop=True)
    dates = pd.to_datetime(run["date"])
    tp = phases.loc[phases["phase"] == "turning_point"]
    if len(tp):
        peak = int((dates < pd.Timestamp(tp["start"].min())).sum())
        after = int((dates <= pd.Timestamp(tp["end"].max())).sum())
    else:
        peak = int(np.nanargmax(run["market_value_usd_bn"].to_numpy(dtype=float)))
        after = peak + 24
    last = len(run) - 1
    return {"peak": min(peak, last), "after": min(max(after, peak + 1), last)}


def aggregate_network(graph) -> dict[str, Any]:
    """A readable summary of :func:`sim.networks.snapshot`: firms kept, others pooled.

    Nodes: every lab and hyperscaler (value = market value, USD bn), 'investors' (wealth,
    USD bn) and 'adopters' (count). Edges, summed over pooled nodes: compute
    hyperscaler -> lab (GPU-hours), compute lab -> adopters (tokens per month), equity and
    debt investors -> firm (USD bn). Returns JSON-ready node-link data.
    """
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str, str], float] = {}

    def pooled(name: str, data: Mapping[str, Any]) -> str:
        kind = data.get("kind", "")
        return {"investor": "investors", "adopter": "adopters"}.get(kind, name)

    for name, data in graph.nodes(data=True):
        key = pooled(name, data)
        kind = data.get("kind", "")
        node = nodes.setdefault(key, {"id": key, "kind": kind, "value": 0.0, "alive": True})
        if kind == "investor":
            node["value"] += float(data.get("wealth_usd_bn", 0.0))
        elif kind == "adopter":
            node["value"] += 1.0
        else:
            node["value"] += float(data.get("value_usd_bn", 0.0))
            node["alive"] = bool(data.get("alive", True))
    for u, v, data in graph.edges(data=True):
        layer = data.get("layer", "")
        weight = float(
            data.get("gpu_hours", data.get("tokens_per_month", data.get("value_usd_bn", 0.0)))
        )
        key = (pooled(u, graph.nodes[u]), pooled(v, graph.nodes[v]), layer)
        edges[key] = edges.get(key, 0.0) + weight
    return {
        "month": graph.graph.get("month"),
        "date": graph.graph.get("date"),
        "nodes": list(nodes.values()),
        "edges": [
            {"source": u, "target": v, "layer": layer, "weight": w}
            for (u, v, layer), w in edges.items()
            if math.isfinite(w) and w > 0
        ],
    }


def network_snapshots(
    scenario: str, seed: int, months: Mapping[str, int], overrides: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Rebuild ``scenario`` with ``seed`` and aggregate its networks at the given months.

    The one place the comparison runs the model: networks are not saved by batches.
    """
    from sim.model import SurgeModel
    from sim.networks import snapshot
    from sim.params import load_scenario

    params = load_scenario(scenario, dict(overrides))
    model = SurgeModel(params=params, rng=seed)
    wanted = sorted(months.items(), key=lambda kv: kv[1])
    out: dict[str, dict[str, Any]] = {}
    step = 0
    for name, month in wanted:
        while step <= month:
            model.step()
            step += 1
        out[name] = aggregate_network(snapshot(model, adopter_sample=None))
    return out


def plan_tipping(
    scenarios: Sequence[str],
    root_seed: int,
    overrides: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]] | None = None,
    seeds: int = TIPPING_SEEDS,
) -> dict[str, Any]:
    """One batch plan per tipping parameter: the scenarios x its values x ``seeds``.

    A parameter also given in ``overrides`` is skipped (it cannot be both fixed and
    swept). Raises like :func:`sim.batch.plan_batch`.
    """
    from sim.batch import plan_batch

    grid = TIPPING_GRID if grid is None else grid
    plans = {}
    for parameter, values in grid.items():
        if parameter in overrides:
            continue
        plans[parameter] = plan_batch(
            list(scenarios),
            seeds=seeds,
            root_seed=root_seed,
            grid={parameter: list(values)},
            overrides=dict(overrides),
        )
    return plans


def tipping_outcomes(folder: Path, parameters: Sequence[str]) -> pd.DataFrame:
    """Per-run outcomes of every tipping batch in ``folder``/<parameter>/, stacked."""
    from analysis.results import load_phases, load_results

    frames = []
    for parameter in parameters:
        sub = Path(folder) / parameter
        frame = load_results(sub)
        key = next(c for c in frame.attrs["grid"] if c.split(".")[-1] == parameter)
        per_run = comparison_metrics(frame, load_phases(sub), by=(key,))
        per_run = per_run.rename(columns={key: "value"})
        per_run.insert(1, "parameter", parameter)
        frames.append(per_run)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def save_json(path: Path, data: Any) -> Path:
    from sim.batch import write_atomic

    text = json.dumps(data, indent=1, default=str) + "\n"
    write_atomic(Path(path), text.encode())
    return Path(path)


# ---- report -------------------------------------------------------------------------------

BATCH = "batch"
TIPPING = "tipping"
NETWORKS = "networks.json"
CHARTS = ("series", "phases", "scatter", "network")


def draw_charts(out: str | Path) -> list[Path]:
    """Draw every chart of the report folder ``out`` from its saved results (PNG and SVG).

    Reads ``out/batch`` and ``out/networks.json``; runs nothing.
    """
    from analysis.comparison_charts import (
        network_figure,
        phase_timeline_figure,
        save_both,
        scatter_figure,
        series_figure,
    )
    from analysis.results import load_phases, load_results

    out = Path(out)
    frame = load_results(out / BATCH)
    phases = load_phases(out / BATCH)
    per_run = comparison_metrics(frame, phases)
    timeline = median_phase_timeline(phases, per_run)
    written: list[Path] = []
    fig, _ = series_figure(frame, timeline)
    written += save_both(fig, out / "series")
    fig, _ = phase_timeline_figure(timeline)
    written += save_both(fig, out / "phases")
    fig, _ = scatter_figure(per_run)
    written += save_both(fig, out / "scatter")
    if (out / NETWORKS).exists():
        networks = json.loads((out / NETWORKS).read_text(encoding="utf-8"))
        fig, _ = network_figure(networks)
        written += save_both(fig, out / "network")
    return written


def build_networks(out: Path, per_run: pd.DataFrame, frame: pd.DataFrame, phases, overrides):
    """networks.json: each scenario's representative seed at its frenzy peak and after."""
    networks: dict[str, dict[str, Any]] = {}
    for pick in representative_runs(per_run, "cumulative_productivity_gain_usd_bn").itertuples():
        run = frame[frame["run_id"] == pick.run_id]
        months = snapshot_months(run, phases[phases["run_id"] == pick.run_id])
        snaps = network_snapshots(pick.scenario, int(pick.seed), months, overrides)
        for snap in snaps.values():
            snap["seed"] = int(pick.seed)
            snap["run_id"] = pick.run_id
        networks[pick.scenario] = snaps
    return save_json(out / NETWORKS, networks)


def _html(markdown_text: str, title: str) -> str:
    """A small Markdown subset (headings, paragraphs, lists, tables, images) as HTML."""
    import html
    import re

    def inline(text: str) -> str:
        text = html.escape(text)
        text = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", r'<img alt="\1" src="\2">', text)
        text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)

    body: list[str] = []
    lines = markdown_text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            head, rest = rows[0], [r for r in rows[1:] if not set("".join(r)) <= set("-: ")]
            body.append("<table><thead><tr>" + "".join(f"<th>{inline(c)}</th>" for c in head))
            body.append("</tr></thead><tbody>")
            for r in rest:
                body.append("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>")
            body.append("</tbody></table>")
            continue
        elif line.startswith("- "):
            body.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                body.append(f"<li>{inline(lines[i][2:])}</li>")
                i += 1
            body.append("</ul>")
            continue
        elif line.strip():
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ")):
                para.append(lines[i])
                i += 1
            body.append(f"<p>{inline(' '.join(para))}</p>")
            continue
        i += 1
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}td:first-child{text-align:left}"
        "img{max-width:100%}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(
    out: str | Path,
    overrides: Mapping[str, Any] | None = None,
    tipping_parameters: Sequence[str] = (),
    networks: bool = True,
) -> list[Path]:
    """Write the comparison of the batch in ``out/batch`` into ``out``; return the files.

    comparison.csv / .md, per_run.csv, tipping.csv / .md (if ``tipping_parameters``, read
    from out/tipping/<parameter>/), networks.json (rebuilds one seed per scenario), the
    charts (PNG and SVG) and report.md / report.html.
    """
    from analysis.results import load_phases, load_results
    from sim.batch import write_atomic

    out = Path(out)
    overrides = dict(overrides or {})
    frame = load_results(out / BATCH)
    phases = load_phases(out / BATCH)
    per_run = comparison_metrics(frame, phases)
    table = comparison_table(per_run)
    scenarios = list(table["scenario"])
    written = []

    def put(name: str, text: str) -> None:
        write_atomic(out / name, text.encode())
        written.append(out / name)

    put("per_run.csv", per_run.to_csv(index=False, lineterminator="\n"))
    put("comparison.csv", table.to_csv(index=False, lineterminator="\n"))
    table_md = comparison_markdown(table)
    put("comparison.md", "# Strategy comparison\n\n" + table_md)
    tipping_md = ""
    if tipping_parameters and len(scenarios) >= 2:
        points = tipping_outcomes(out / TIPPING, tipping_parameters)
        tipping = tipping_table(per_run, points, scenarios)
        put("tipping.csv", tipping.to_csv(index=False, lineterminator="\n"))
        tipping_md = tipping_markdown(tipping, scenarios)
        put("tipping.md", "# Tipping parameters\n\n" + tipping_md)
    if networks:
        written.append(build_networks(out, per_run, frame, phases, overrides))
    written += draw_charts(out)
    seeds = int(table["n_runs"].min())
    months = int(frame.groupby("run_id").size().max())
    lines = [
        "# Strategy comparison: " + " vs ".join(scenarios),
        "",
        f"Ensembles of {seeds} seeds per scenario (the same seeds for every scenario),"
        f" {months} months each"
        + (f", with overrides {overrides}" if overrides else "")
        + ". Numbers are the ensemble median and, in brackets, the 10th to 90th"
        " percentile over runs. Nothing was tuned: the scenarios are the files in"
        " scenarios/ as they are.",
        "",
        "## What differs, in numbers",
        "",
        *[f"- {s}" for s in describe(table)],
        "",
        "## Table",
        "",
        table_md,
        "Definitions: cumulative flows sum the monthly value of a per-year column / 12."
        " Adopters' gain = cumulative productivity gain; labs' gain = change in the labs'"
        " market value (last month minus first); hyperscalers' gain = cumulative earnings;"
        " investors' gain = change in investor wealth; turning point = first month of the"
        " first detected turning-point phase.",
        "",
        "## Charts",
        "",
        "![Headline series](series.png)",
        "",
        "![Median phase timeline](phases.png)",
        "",
        "![Productivity gain vs stranded capital](scatter.png)",
        "",
    ]
    if (out / NETWORKS).exists():
        lines += ["![Compute and capital networks](network.png)", ""]
    if tipping_md:
        lines += [
            "## Tipping parameters",
            "",
            f"Each parameter below was set to each value for every scenario at once, one"
            f" parameter at a time, with {TIPPING_SEEDS} seeds per scenario and value: the"
            f" first {TIPPING_SEEDS} seeds of the main ensemble, so every comparison is seed"
            " for seed. A value reverses the ranking when the sign of the difference of"
            " medians differs from that of the main ensemble's runs with the same seeds."
            " Eight seeds give a noisy median: a reversal where the difference is small"
            " next to the 10-90% band of the table above is not evidence of a tipping point.",
            "",
            tipping_md,
        ]
    report = "\n".join(lines)
    put("report.md", report)
    put("report.html", _html(report, "Strategy comparison"))
    return written
