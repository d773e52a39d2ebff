"""Read a batch's results folder into tidy tables and summarise the ensemble.

Only files are read (``manifest.json``, ``runs/<run_id>.parquet``, ``.phases.csv`` and
``.json``): no model is built or run, so a folder can be analysed anywhere pandas and
pyarrow are installed, long after the batch ran.

    from analysis.results import load_results, summarise
    frame = load_results("out/batch")      # one row per run and month
    table = summarise(frame)               # one row per scenario and grid point
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.phases import PHASES, label_phases, phase_table

MANIFEST = "manifest.json"
RUNS = "runs"

# Columns that identify a run; the grid columns (dotted parameter names) go after scenario.
ID_COLUMNS = ("scenario", "seed", "replicate", "run_id")

# Quantiles of the ensemble reported by summarise(): name suffix -> quantile.
QUANTILES: dict[str, float] = {"p10": 0.10, "median": 0.50, "p90": 0.90}

# Headline metrics of one run, in the order summarise() reports them.
HEADLINE_METRICS: dict[str, str] = {
    "peak_valuation_to_fundamentals_ratio": "highest market / fundamental value ratio",
    "max_drawdown_share": "largest peak-to-trough fall of market value, share of the peak",
    "stranded_capital_end_usd_bn": "stranded capital in the last month",
    "adoption_share_2030": "adoption share in December 2030 (NaN if the run ends earlier)",
    "adoption_share_2040": "adoption share in December 2040 (NaN if the run ends earlier)",
    "adoption_share_end": "adoption share in the last month",
    "cumulative_productivity_gain_usd_bn": "sum of productivity_gain_usd_bn_per_yr / 12",
    "frontier_capability_end_index": "frontier capability index in the last month",
}


class ResultsError(ValueError):
    """A folder that does not hold readable batch results."""


def load_manifest(folder: str | Path) -> dict[str, Any]:
    """The batch's ``manifest.json``: ``spec``, ``counts`` and ``runs`` (one record each)."""
    path = Path(folder) / MANIFEST
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        raise ResultsError(f"{folder}: no {MANIFEST}; is this a `surge batch` folder?") from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("runs"), list):
        raise ResultsError(f"{path}: not a batch manifest (no list of runs)")
    return manifest


def _records(folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Run records and grid keys, from the manifest or, if it is unreadable, from runs/."""
    try:
        manifest = load_manifest(folder)
    except ResultsError as exc:
        records = []
        for path in sorted((folder / RUNS).glob("*.json")):
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        if not records:
            raise
        warnings.warn(f"{exc}; read {len(records)} run records from {folder / RUNS}", stacklevel=3)
        grid_keys: list[str] = []
        for record in records:
            for key in record.get("grid") or {}:
                if key not in grid_keys:
                    grid_keys.append(key)
        return records, grid_keys
    grid_keys = list((manifest.get("spec") or {}).get("grid") or {})
    for record in manifest["runs"]:
        for key in record.get("grid") or {}:
            if key not in grid_keys:
                grid_keys.append(key)
    return manifest["runs"], grid_keys


def load_results(folder: str | Path) -> pd.DataFrame:
    """One tidy frame of every run that finished ok: one row per run and month.

    Columns: ``scenario``, the grid parameters (dotted names, e.g.
    ``investors.herding_strength``), ``seed``, ``replicate``, ``run_id``, ``date`` and then
    the model's metric columns (units in their names). Failed runs are left out (see
    :func:`load_manifest` for them). ``frame.attrs["folder"]`` names the folder, which
    :func:`summarise` uses to read the phase tables.
    """
    folder = Path(folder)
    records, grid_keys = _records(folder)
    frames = []
    for record in records:
        if record.get("status") != "ok":
            continue
        run_id = record["run_id"]
        path = folder / RUNS / f"{run_id}.parquet"
        try:
            table = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise ResultsError(f"{path}: cannot be read: {exc}") from None
        grid = record.get("grid") or {}
        ids = {
            "scenario": record.get("scenario", table["scenario"].iloc[0] if len(table) else ""),
            **{key: grid.get(key, np.nan) for key in grid_keys},
            "seed": record.get("seed"),
            "replicate": record.get("replicate"),
            "run_id": run_id,
        }
        metrics = table.drop(columns=[c for c in ("scenario", "seed") if c in table.columns])
        head = pd.DataFrame({k: [v] * len(table) for k, v in ids.items()})
        frames.append(pd.concat([head, metrics.reset_index(drop=True)], axis=1))
    if not frames:
        frame = pd.DataFrame(columns=["scenario", *grid_keys, "seed", "replicate", "run_id"])
    else:
        frame = pd.concat(frames, ignore_index=True)
        frame["seed"] = frame["seed"].astype("int64")
        frame["replicate"] = frame["replicate"].astype("int64")
    frame.attrs["folder"] = str(folder)
    frame.attrs["grid"] = list(grid_keys)
    return frame


def load_phases(folder: str | Path) -> pd.DataFrame:
    """Every ok run's phase table: run_id, phase, start, end, months (one row per block)."""
    folder = Path(folder)
    records, _ = _records(folder)
    frames = []
    for record in records:
        if record.get("status") != "ok":
            continue
        path = folder / RUNS / f"{record['run_id']}.phases.csv"
        try:
            phases = pd.read_csv(path, parse_dates=["start", "end"])
        except (OSError, ValueError) as exc:
            raise ResultsError(f"{path}: cannot be read: {exc}") from None
        phases.insert(0, "run_id", record["run_id"])
        frames.append(phases)
    if not frames:
        return pd.DataFrame(columns=["run_id", "phase", "start", "end", "months"])
    return pd.concat(frames, ignore_index=True)


def _grid_columns(frame: pd.DataFrame) -> list[str]:
    known = frame.attrs.get("grid")
    if known is not None:
        return [c for c in known if c in frame.columns]
    # Without attrs: the columns between scenario and seed are the grid.
    columns = list(frame.columns)
    if "scenario" in columns and "seed" in columns:
        return columns[columns.index("scenario") + 1 : columns.index("seed")]
    return []


def max_drawdown(values: np.ndarray) -> float:
    """Largest fall from a running peak, as a share of that peak (0 if it never falls)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    peaks = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, 1.0 - values / peaks, 0.0)
    return float(np.max(falls))


def value_in_december(run: pd.DataFrame, year: int, column: str) -> float:
    """The column's value in December of that year (NaN if the run does not reach it)."""
    dates = pd.to_datetime(run["date"])
    rows = run.loc[(dates.dt.year == year) & (dates.dt.month == 12), column]
    return float(rows.iloc[-1]) if len(rows) else float("nan")


def run_metrics(run: pd.DataFrame) -> dict[str, float]:
    """The headline metrics (:data:`HEADLINE_METRICS`) of one run's monthly table."""
    run = run.sort_values("date")
    last = run.iloc[-1]
    return {
        "peak_valuation_to_fundamentals_ratio": float(
            np.nanmax(run["valuation_to_fundamentals_ratio"].to_numpy(dtype=float))
        ),
        "max_drawdown_share": max_drawdown(run["market_value_usd_bn"].to_numpy(dtype=float)),
        "stranded_capital_end_usd_bn": float(last["stranded_capital_usd_bn"]),
        "adoption_share_2030": value_in_december(run, 2030, "adoption_share"),
        "adoption_share_2040": value_in_december(run, 2040, "adoption_share"),
        "adoption_share_end": float(last["adoption_share"]),
        "cumulative_productivity_gain_usd_bn": float(
            run["productivity_gain_usd_bn_per_yr"].sum() / 12.0
        ),
        "frontier_capability_end_index": float(last["frontier_capability_index"]),
    }


def _phases_from_tables(frame: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for run_id, run in frame.groupby("run_id", sort=False):
        run = run.sort_values("date").reset_index(drop=True)
        phases = phase_table(run, label_phases(run))
        phases.insert(0, "run_id", run_id)
        frames.append(phases)
    return pd.concat(frames, ignore_index=True)


def _phase_metrics(phases: pd.DataFrame) -> pd.DataFrame:
    """Per run: each phase's first start (a date; NaT if absent) and its months (0 if absent)."""
    rows = {}
    for run_id, blocks in phases.groupby("run_id", sort=False):
        row: dict[str, Any] = {}
        for phase in PHASES:
            mine = blocks[blocks["phase"] == phase]
            row[f"{phase}_start"] = pd.Timestamp(mine["start"].min()) if len(mine) else pd.NaT
            row[f"{phase}_months"] = int(mine["months"].sum())
        rows[run_id] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _month_number(dates: pd.Series) -> np.ndarray:
    d = pd.to_datetime(dates)
    return np.where(d.isna(), np.nan, d.dt.year * 12 + d.dt.month - 1).astype(float)


def _month_date(number: float) -> pd.Timestamp:
    if not np.isfinite(number):
        return pd.NaT
    n = int(np.floor(number + 0.5))
    return pd.Timestamp(year=n // 12, month=n % 12 + 1, day=1)


def summarise(frame: pd.DataFrame, phases: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ensemble median and 10th/90th percentiles per scenario and grid point.

    ``frame`` is what :func:`load_results` returns. For each run the headline metrics
    (:data:`HEADLINE_METRICS`) and, for each Perez phase, its start (a date) and length
    (months; 0 when the run has no such phase) are computed; then for each scenario and
    grid point the columns ``<metric>_p10``, ``<metric>_median`` and ``<metric>_p90``
    report their spread over the runs (phase starts over the runs that have the phase,
    rounded to the month; ``<phase>_share`` is the share of runs that have it). ``runs``
    counts the runs of each row.

    Phases come from ``phases`` (as :func:`load_phases` returns), else from the
    ``phases.csv`` files of the folder the frame was loaded from, else are detected
    again from the tables (the same detector that wrote those files).
    """
    grid = _grid_columns(frame)
    keys = ["scenario", *grid]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "runs"])
    if phases is None:
        folder = frame.attrs.get("folder")
        phases = load_phases(folder) if folder else _phases_from_tables(frame)
    per_run = []
    for run_id, run in frame.groupby("run_id", sort=False):
        first = run.iloc[0]
        per_run.append({"run_id": run_id, **{k: first[k] for k in keys}, **run_metrics(run)})
    runs = pd.DataFrame(per_run).set_index("run_id")
    runs = runs.join(_phase_metrics(phases[phases["run_id"].isin(runs.index)]), how="left")

    rows = []
    group_keys = keys if len(keys) > 1 else keys[0]
    for key, group in runs.groupby(group_keys, sort=False, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(keys, values, strict=True))
        row["runs"] = len(group)
        for metric in HEADLINE_METRICS:
            x = group[metric].to_numpy(dtype=float)
            for suffix, q in QUANTILES.items():
                row[f"{metric}_{suffix}"] = _quantile(x, q)
        for phase in PHASES:
            starts = _month_number(group[f"{phase}_start"])
            row[f"{phase}_share"] = float(np.mean(np.isfinite(starts)))
            for suffix, q in QUANTILES.items():
                row[f"{phase}_start_{suffix}"] = _month_date(_quantile(starts, q))
            months = group[f"{phase}_months"].fillna(0).to_numpy(dtype=float)
            for suffix, q in QUANTILES.items():
                row[f"{phase}_months_{suffix}"] = _quantile(months, q)
        rows.append(row)
    out = pd.DataFrame(rows)
    for phase in PHASES:
        for suffix in QUANTILES:
            column = f"{phase}_start_{suffix}"
            out[column] = pd.to_datetime(out[column]).astype("datetime64[us]")
    return out


def _quantile(values: np.ndarray, q: float) -> float:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    return float(np.quantile(values, q))


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as text: one block per scenario and grid point, one metric a line."""
    if summary.empty:
        return "no finished runs"
    columns = list(summary.columns)
    keys = columns[: columns.index("runs")]  # scenario and the grid parameters
    blocks = []
    names = [*HEADLINE_METRICS]
    for phase in PHASES:
        names += [f"{phase}_start", f"{phase}_months"]
    width = max(len(n) for n in names)
    for _, row in summary.iterrows():
        title = ", ".join(f"{k}={row[k]}" for k in keys)
        lines = [f"{title}  ({int(row['runs'])} runs)"]
        lines.append(f"  {'metric':<{width}}  {'median':>12}  {'p10':>12}  {'p90':>12}")
        for name in names:
            cells = [_cell(row[f"{name}_{s}"]) for s in ("median", "p10", "p90")]
            share = ""
            if name.endswith("_start"):
                phase = name[: -len("_start")]
                share = f"  in {row[f'{phase}_share']:.0%} of runs"
            lines.append(f"  {name:<{width}}  " + "  ".join(f"{c:>12}" for c in cells) + share)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _cell(value: Any) -> str:
    if value is None or pd.isna(value):
        return "-"
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
