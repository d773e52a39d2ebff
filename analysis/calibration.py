"""Hold the model's 2018-2024 against public figures: targets, measures and distance.

Every target in ``data/calibration_targets.csv`` is one public figure with a plausible
range and a source. A *measure* turns one run's monthly table (and, for a parameter
target, the run's resolved parameters) into the same quantity, in the same unit and
with the same definition: hyperscaler capex in USD bn per calendar year is the mean of
the annualised monthly capex over that calendar year, frontier training compute in a
year is the largest run finished by December, a growth rate is the slope of a log-linear
fit over 2018 to the target's year, and so on. Targets whose quantity the model does not
have are kept in the file, with the reason in :data:`NOT_COMPARED`, and reported as
not compared rather than silently dropped.

The distance of one target is how many half-ranges the model's ensemble median sits
from the figure, on a log scale for quantities that grow by multiples::

    z = (f(model) - f(value)) / (f(high) - f(value))   if model > value
    z = (f(model) - f(value)) / (f(value) - f(low))    otherwise

so z = 0 at the figure, |z| = 1 at the edge of its range and |z| > 1 outside it. The
objective the calibration minimises is a simulated-method-of-moments distance whose
weights are the figures' own uncertainty, averaged over the fitted targets::

    loss(z) = min(4 max(|z| - 1, 0), 1) + (min(|z|, 4) / 8)^2

A figure's range is its tolerance, and what a user holding the model against the data
asks is how many figures it meets: a target outside its range costs 1 (reached a quarter
of a half-range past the edge, so the search still sees a near miss improve), and a weak
pull towards each central figure, at most 0.25, breaks ties and moves the hopeless
targets the right way. Squared distances (plain z^2, or max(|z| - 1, 0)^2) were tried
first: they trade several targets just outside their ranges for one far outside, which
left fewer targets inside.

Everything here reads tables and files; no model is built (see ``sim/calibration.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TARGETS_FILE = ROOT / "data" / "calibration_targets.csv"

FIRST_YEAR = 2018  # the model starts in January 2018
FIT_LAST_YEAR = 2024  # targets are fitted on 2018-2024; later years are forecast

TARGET_COLUMNS = ("metric", "unit", "year", "value", "low", "high", "status", "source")


class TargetsError(ValueError):
    """A targets file that cannot be used: the message names the file, row and field."""


@dataclass(frozen=True)
class Measure:
    """How one target is read off a run.

    ``compute(table, year, parameters)`` returns the model's value for the target's year;
    ``log_scale`` says whether distances are taken between logarithms (quantities that
    grow by multiples) or between the values themselves (shares, years); ``fitted`` is
    False for targets that are parameters of the model rather than its outcomes (they
    are checked, and bound the search, but are not in the objective).
    """

    description: str
    compute: Callable[[pd.DataFrame, int, Mapping[str, Any]], float]
    log_scale: bool = True
    fitted: bool = True
    column: str | None = None  # the table column the measure reads, for the chart
    annual_how: str | None = None  # "mean" or "max": a level read off the column by year


def annual(table: pd.DataFrame, column: str, how: str = "mean") -> pd.Series:
    """``column`` by calendar year: ``mean`` for flows at annual rates and prices, ``max``
    for the largest value reached in the year (training runs)."""
    years = pd.DatetimeIndex(table["date"]).year
    return table[column].groupby(years).agg(how)


def growth_per_year(series: pd.Series, first: int, last: int) -> float:
    """exp of the least-squares slope of log(series) on year, over ``first..last``.

    Worked example: values 1, 4, 16 in 2018-2020 have log slope ln 4, so 4.0 x/yr.
    """
    window = series.loc[first:last]
    window = window[window > 0]
    if len(window) < 2:
        return math.nan
    slope = np.polyfit(window.index.to_numpy(float), np.log(window.to_numpy(float)), 1)[0]
    return float(math.exp(slope))


def _year(column: str, how: str = "mean"):
    def compute(table: pd.DataFrame, year: int, _parameters: Mapping[str, Any]) -> float:
        return float(annual(table, column, how).get(year, math.nan))

    return compute


def _growth(column: str, how: str = "mean"):
    def compute(table: pd.DataFrame, year: int, _parameters: Mapping[str, Any]) -> float:
        return growth_per_year(annual(table, column, how), FIRST_YEAR, year)

    return compute


def _training_cost_growth(table: pd.DataFrame, year: int, parameters: Mapping[str, Any]) -> float:
    """Growth of the largest run's compute cost: the GPU-hours it took times their rent.

    The hours are its FLOP over the FLOP an hour delivered, which grows by
    ``labs.training_flop_gain_per_yr`` a year; on a log-linear fit that divides the growth
    of FLOP x rent by (1 + gain). Worked example: FLOP x4 and rent x0.5 a year with a gain
    of 25%: 4 x 0.5 / 1.25 = 1.6 x/yr.
    """
    flop = annual(table, "frontier_training_compute_flop", "max")
    rent = annual(table, "gpu_rent_usd_per_gpu_hour")
    gain = float(parameters.get("labs.training_flop_gain_per_yr", 0.0))
    return growth_per_year(flop * rent, FIRST_YEAR, year) / (1.0 + gain)


def _doubling_years(table: pd.DataFrame, year: int, _parameters: Mapping[str, Any]) -> float:
    """Years for hardware price-performance (FLOP per USD) to double, 2018 to ``year``.

    Worked example: 4x in 6 years is a growth of 4^(1/6) = 1.26 x/yr, so the doubling
    time is ln 2 / ln 1.26 = 3.0 years.
    """
    growth = growth_per_year(annual(table, "hardware_price_performance_x"), FIRST_YEAR, year)
    return math.log(2.0) / math.log(growth) if growth > 1.0 else math.inf


def _energy_growth(table: pd.DataFrame, year: int, _parameters: Mapping[str, Any]) -> float:
    energy = annual(table, "energy_twh_per_yr")
    return float(energy.get(year, math.nan) / energy.get(FIRST_YEAR, math.nan))


def _parameter(name: str):
    """Read parameter ``name`` from a flat or dotted (``group.name``) mapping."""

    def compute(_table: pd.DataFrame, _year: int, parameters: Mapping[str, Any]) -> float:
        for key, value in parameters.items():
            if key == name or key.endswith("." + name):
                return float(value)
        raise KeyError(name)

    return compute


MEASURES: dict[str, Measure] = {
    "hyperscaler_capex": Measure(
        "mean of capex_usd_bn_per_yr over the calendar year (all four hyperscalers' "
        "capex, AI and non-AI)",
        _year("capex_usd_bn_per_yr"),
        column="capex_usd_bn_per_yr",
        annual_how="mean",
    ),
    "frontier_training_compute": Measure(
        "largest frontier_training_compute_flop reached in the calendar year",
        _year("frontier_training_compute_flop", "max"),
        column="frontier_training_compute_flop",
        annual_how="max",
    ),
    "frontier_training_compute_growth": Measure(
        "log-linear growth of the yearly largest training run, 2018 to the target year",
        _growth("frontier_training_compute_flop", "max"),
        column="frontier_training_compute_flop",
    ),
    "training_cost_growth": Measure(
        "log-linear growth of the yearly largest run's GPU-hours (FLOP over FLOP per hour) "
        "x GPU-hour rent, 2018 to the target year",
        _training_cost_growth,
    ),
    "gpu_flops_per_usd_doubling": Measure(
        "doubling time of hardware_price_performance_x, log-linear fit 2018 to the target year",
        _doubling_years,
        column="hardware_price_performance_x",
    ),
    "algorithmic_efficiency_gain": Measure(
        "log-linear growth of algorithmic_efficiency_x, 2018 to the target year",
        _growth("algorithmic_efficiency_x"),
        column="algorithmic_efficiency_x",
    ),
    "gpu_rental_h100": Measure(
        "mean of gpu_rent_usd_per_gpu_hour (rent of one H100-equivalent hour) over the year",
        _year("gpu_rent_usd_per_gpu_hour"),
        column="gpu_rent_usd_per_gpu_hour",
        annual_how="mean",
    ),
    "h100_purchase_price": Measure(
        "mean of h100e_price_usd over the year",
        _year("h100e_price_usd"),
        column="h100e_price_usd",
        annual_how="mean",
    ),
    "us_datacenter_electricity_growth": Measure(
        "energy_twh_per_yr in the target year / in 2018 (growth, not level: the model's "
        "fleet is the hyperscalers' worldwide, not every US data centre)",
        _energy_growth,
        column="energy_twh_per_yr",
    ),
    "ai_lab_revenue_openai": Measure(
        "mean of lab_revenue_usd_bn_per_yr over the year: all the model's labs, which "
        "stand for the frontier labs; OpenAI earned most of their 2024 revenue, and the "
        "range's top (its end-2024 run-rate) leaves room for the others",
        _year("lab_revenue_usd_bn_per_yr"),
        column="lab_revenue_usd_bn_per_yr",
        annual_how="mean",
    ),
    "us_firm_ai_use": Measure(
        "mean of adoption_share over the year (the model's adopters are firms' task "
        "segments using AI in production)",
        _year("adoption_share"),
        log_scale=False,
        column="adoption_share",
        annual_how="mean",
    ),
    "bass_p": Measure(
        "parameter bass_innovation_per_yr",
        _parameter("bass_innovation_per_yr"),
        log_scale=False,
        fitted=False,
    ),
    "bass_q": Measure(
        "parameter bass_imitation_per_yr",
        _parameter("bass_imitation_per_yr"),
        log_scale=False,
        fitted=False,
    ),
    "server_useful_life": Measure(
        "parameter accelerator_life_years",
        _parameter("accelerator_life_years"),
        log_scale=False,
        fitted=False,
    ),
}

NOT_COMPARED: dict[str, str] = {
    "token_price_decline_const_capability": (
        "each model lab sells only its latest model, so there is no price of a fixed "
        "capability level to follow over time"
    ),
    "us_datacenter_electricity": (
        "different perimeter: all US data centres versus the four hyperscalers' fleet "
        "worldwide; compared as growth 2018-2023 (us_datacenter_electricity_growth)"
    ),
    "us_genai_adoption_adults": (
        "the model's adopters are firms, not people; compared with firms' AI use "
        "(us_firm_ai_use) instead"
    ),
}


def load_targets(path: str | Path = TARGETS_FILE) -> pd.DataFrame:
    """The targets file, checked: every metric measured or explained, low <= value <= high."""
    path = Path(path)
    try:
        targets = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise TargetsError(f"{path}: cannot be read: {exc}") from None
    missing = [c for c in TARGET_COLUMNS if c not in targets.columns]
    if missing:
        raise TargetsError(f"{path}: missing column(s) {', '.join(missing)}")
    for column in ("year", "value", "low", "high"):
        numbers = pd.to_numeric(targets[column], errors="coerce")
        bad = numbers.isna()
        if bad.any():
            line = int(np.flatnonzero(bad)[0]) + 2
            raise TargetsError(
                f"{path}, line {line}: {column} {targets[column].iloc[line - 2]!r} must be a number"
            )
        targets[column] = numbers
    for row_number, row in enumerate(targets.itertuples(index=False), start=2):
        where = f"{path}, line {row_number} ({row.metric} {row.year})"
        if row.metric not in MEASURES and row.metric not in NOT_COMPARED:
            raise TargetsError(
                f"{where}: metric {row.metric!r} has no measure; known: "
                f"{', '.join(sorted(MEASURES))}"
            )
        if not row.low <= row.value <= row.high:
            raise TargetsError(
                f"{where}: value {row.value:g} must lie within low {row.low:g} .. high {row.high:g}"
            )
    return targets


def compared(targets: pd.DataFrame) -> pd.DataFrame:
    """The targets the model is held against (those with a measure)."""
    return targets[targets["metric"].isin(list(MEASURES))].reset_index(drop=True)


def measure_run(
    table: pd.DataFrame, parameters: Mapping[str, Any], targets: pd.DataFrame
) -> np.ndarray:
    """One run's value for every compared target, in the targets' row order."""
    rows = compared(targets)
    return np.array(
        [
            MEASURES[row.metric].compute(table, int(row.year), parameters)
            for row in rows.itertuples(index=False)
        ]
    )


def distance(model: float, value: float, low: float, high: float, log_scale: bool) -> float:
    """Signed half-ranges from the figure (see the module docstring).

    Worked example: figure 150, range 127-160, log scale; model 113 is
    (ln 113 - ln 150) / (ln 150 - ln 127) = -0.283 / 0.166 = -1.70 half-ranges.
    """
    if not math.isfinite(model) or (log_scale and model <= 0):
        return math.inf
    f = math.log if log_scale else float
    if model > value:
        return (f(model) - f(value)) / (f(high) - f(value))
    return (f(model) - f(value)) / (f(value) - f(low))


def compare(targets: pd.DataFrame, per_run: np.ndarray) -> pd.DataFrame:
    """The report table: each compared target, its range, the model's ensemble and distance.

    ``per_run`` has one row per run and one column per compared target (from
    :func:`measure_run`). The model's value is the median over runs; inside means the
    median lies within the target's range.
    """
    rows = compared(targets).copy()
    per_run = np.atleast_2d(per_run)
    rows["model_median"] = np.median(per_run, axis=0)
    rows["model_p10"] = np.quantile(per_run, 0.1, axis=0)
    rows["model_p90"] = np.quantile(per_run, 0.9, axis=0)
    rows["distance_half_ranges"] = [
        distance(m, v, lo, hi, MEASURES[metric].log_scale)
        for m, v, lo, hi, metric in zip(
            rows["model_median"],
            rows["value"],
            rows["low"],
            rows["high"],
            rows["metric"],
            strict=True,
        )
    ]
    rows["inside"] = (rows["model_median"] >= rows["low"]) & (rows["model_median"] <= rows["high"])
    rows["fitted"] = [MEASURES[m].fitted for m in rows["metric"]]
    rows["measure"] = [MEASURES[m].description for m in rows["metric"]]
    return rows


def target_loss(z: float) -> float:
    """Penalty of one target ``z`` half-ranges from its figure (see the module docstring).

    Worked example: z = 0.5 (inside) costs (0.5/8)^2 = 0.0039; z = 1.1 (just outside)
    costs 4 x 0.1 + (1.1/8)^2 = 0.4189; z = -2 costs 1 + (2/8)^2 = 1.0625; z = 9 costs
    1 + (4/8)^2 = 1.25.
    """
    if not math.isfinite(z):
        return 1e6
    return min(4.0 * max(abs(z) - 1.0, 0.0), 1.0) + (min(abs(z), 4.0) / 8.0) ** 2


def objective(report: pd.DataFrame) -> float:
    """Mean loss over the fitted targets (parameter targets only bound the search)."""
    z = report.loc[report["fitted"], "distance_half_ranges"].to_numpy(float)
    return float(np.mean([min(target_loss(v), 1e6) for v in z]))


def not_compared(targets: pd.DataFrame) -> pd.DataFrame:
    """The targets the model is not held against, with the reason."""
    rows = targets[~targets["metric"].isin(list(MEASURES))].copy()
    rows["reason"] = [NOT_COMPARED[m] for m in rows["metric"]]
    return rows.reset_index(drop=True)


def share_inside(report: pd.DataFrame) -> float:
    return float(report["inside"].mean())


def format_report(report: pd.DataFrame, skipped: pd.DataFrame, fitted: Sequence[str] = ()) -> str:
    """Markdown: one line per target with range, model median and 10-90% range, distance."""
    lines = [
        "| target | year | unit | figure (range) | model median (10-90%) | distance | inside |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report.itertuples(index=False):
        lines.append(
            f"| {row.metric} | {row.year} | {row.unit} | {_num(row.value)} "
            f"({_num(row.low)}-{_num(row.high)}) | {_num(row.model_median)} "
            f"({_num(row.model_p10)}-{_num(row.model_p90)}) | "
            f"{row.distance_half_ranges:+.2f} | {'yes' if row.inside else '**no**'} |"
        )
    inside = int(report["inside"].sum())
    lines += [
        "",
        f"Inside the range: {inside} of {len(report)} compared targets "
        f"({100 * share_inside(report):.0f}%). Objective (mean loss over fitted "
        f"targets): {objective(report):.3f}.",
    ]
    if len(skipped):
        lines += ["", "Not compared:", ""]
        lines += [f"- {r.metric} {r.year}: {r.reason}" for r in skipped.itertuples(index=False)]
    if fitted:
        lines += ["", "Fitted parameters: " + ", ".join(fitted) + "."]
    return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-2):
        return f"{x:.2e}"
    return f"{x:.3g}"


# ---- historical checks ------------------------------------------------------------------

# Ranges from past surges (data/stylized facts in docs/calibration.md): name -> (low, high,
# source). Checked, never fitted.
HISTORICAL_RANGES: dict[str, tuple[float, float, str]] = {
    "drawdown_share": (
        0.5,
        0.8,
        "peak-to-trough fall of market value; NASDAQ 2000-02 fell 78%, railway shares "
        "after 1845 and the 1929-33 crash lie in the same band",
    ),
    "turning_point_years": (
        2.0,
        5.0,
        "Perez 2002: turning points of 1793-97, 1848-50, 1893-95, 1929-33",
    ),
    "capex_fall_share": (
        0.2,
        0.8,
        "fall of investment from its boom peak: US telecom carrier equipment -25% "
        "(2000-02), US business IT investment -23% of its GDP share, US venture capital "
        "-80% (2000-02)",
    ),
}


def capex_fall_share(table: pd.DataFrame, labels: pd.Series) -> float:
    """Fall of 12-month average capex from its boom peak to its low in the next five years.

    The peak is the highest 12-month average from the frenzy's start to the turning
    point's end. Worked example: a 12-month average peaking at 800 and bottoming at 400
    within five years is a fall of 1 - 400/800 = 0.5. NaN without a turning point.
    """
    lab = np.asarray(pd.Series(labels).astype(object), dtype=object)
    boom = np.flatnonzero(np.isin(lab, ["frenzy", "turning_point"]))
    if not (lab == "turning_point").any():
        return math.nan
    smooth = table["capex_usd_bn_per_yr"].rolling(12, min_periods=1).mean().to_numpy(float)
    peak = boom[0] + int(np.argmax(smooth[boom[0] : boom[-1] + 1]))
    after = smooth[peak : peak + 61]
    return float(1.0 - after.min() / smooth[peak]) if smooth[peak] > 0 else math.nan


def historical_measures(table: pd.DataFrame) -> dict[str, float]:
    """One run's boom and bust, measured as :data:`HISTORICAL_RANGES` defines them."""
    from analysis.phases import bubble_metrics, label_phases

    labels = label_phases(table)
    bubble = bubble_metrics(table, labels)
    has_turn = bubble["turning_point_months"] > 0
    return {
        "drawdown_share": bubble["drawdown_share"],
        "turning_point_years": bubble["turning_point_months"] / 12.0 if has_turn else math.nan,
        "capex_fall_share": capex_fall_share(table, labels),
    }


def historical_report(per_run: pd.DataFrame) -> pd.DataFrame:
    """Per measure: historical range, model median and 10-90%, share of runs inside.

    ``per_run`` has one row per run and a column per :data:`HISTORICAL_RANGES` measure
    (NaN where a run has no turning point: counted as outside).
    """
    rows = []
    for name, (low, high, source) in HISTORICAL_RANGES.items():
        values = per_run[name].to_numpy(float)
        finite = values[np.isfinite(values)]
        rows.append(
            {
                "measure": name,
                "low": low,
                "high": high,
                "model_median": float(np.median(finite)) if finite.size else math.nan,
                "model_p10": float(np.quantile(finite, 0.1)) if finite.size else math.nan,
                "model_p90": float(np.quantile(finite, 0.9)) if finite.size else math.nan,
                "share_of_runs_inside": float(np.mean((values >= low) & (values <= high))),
                "source": source,
            }
        )
    return pd.DataFrame(rows)


# ---- report -----------------------------------------------------------------------------

REPORT_FILES = ("report.md", "report.csv", "historical.csv", "calibration.png")


def score_function(
    targets: pd.DataFrame,
) -> Callable[[list[pd.DataFrame], Mapping[str, Any]], float]:
    """The calibration objective of one candidate, from its runs' tables and parameters."""

    def score(tables: list[pd.DataFrame], parameters: Mapping[str, Any]) -> float:
        per_run = np.array([measure_run(t, parameters, targets) for t in tables])
        return objective(compare(targets, per_run))

    return score


def write_report(
    out: str | Path,
    batch_folder: str | Path,
    parameters: Mapping[str, Any],
    targets: pd.DataFrame,
    title: str,
    fitted: Mapping[str, float] | None = None,
) -> list[Path]:
    """Read the report runs from ``batch_folder``; write :data:`REPORT_FILES` into ``out``.

    ``parameters`` are the runs' resolved parameters (flat or dotted names), for the
    targets that are parameters. Each file is written whole or not at all.
    """
    from analysis.calibration_charts import calibration_figure
    from analysis.charts import save_figure
    from analysis.results import load_results
    from sim.batch import write_atomic

    out = Path(out)
    runs = load_results(batch_folder)
    tables = [run for _, run in runs.groupby("seed", sort=True)]
    per_run = np.array([measure_run(t, parameters, targets) for t in tables])
    report = compare(targets, per_run)
    historical = historical_report(pd.DataFrame([historical_measures(t) for t in tables]))
    text = f"# {title}\n\n{len(tables)} runs.\n\n" + format_report(
        report, not_compared(targets), list(fitted or {})
    )
    if fitted:
        text += "\n" + "\n".join(f"- {k} = {v!r}" for k, v in fitted.items()) + "\n"
    text += "\n## Historical checks\n\n" + format_historical(historical)
    fig, _ = calibration_figure(report, runs[runs["date"] < "2036-01-01"], per_run, title)
    written = [save_figure(fig, out / "calibration.png")]
    for name, data in (
        ("report.md", text.encode()),
        ("report.csv", report.to_csv(index=False).encode()),
        ("historical.csv", historical.to_csv(index=False).encode()),
    ):
        write_atomic(out / name, data)
        written.append(out / name)
    return written


def format_historical(historical: pd.DataFrame) -> str:
    lines = [
        "| measure | historical range | model median (10-90%) | runs inside |",
        "| --- | --- | --- | --- |",
    ]
    for row in historical.itertuples(index=False):
        lines.append(
            f"| {row.measure} | {row.low:g}-{row.high:g} | {_num(row.model_median)} "
            f"({_num(row.model_p10)}-{_num(row.model_p90)}) | "
            f"{100 * row.share_of_runs_inside:.0f}% |"
        )
    lines += ["", "Sources:", ""]
    lines += [f"- {row.measure}: {row.source}" for row in historical.itertuples(index=False)]
    return "\n".join(lines) + "\n"
