"""Label every month of a Surge run with its Perez phase, from the output columns alone.

Why columns only: this module is the model's measuring instrument. If it read the
calendar (``date``) or a scenario flag it could "find" a bubble because it was told one
was there; reading only the market value, fundamental value and adoption series means
that a detected frenzy or crash is something the simulated agents actually produced.
``date`` is used for one thing only: formatting the start/end of :func:`phase_table`.

The five phases (Carlota Perez, *Technological Revolutions and Financial Capital*, 2002):

* ``irruption``: the new technology appears; valuations track fundamentals.
* ``frenzy``: financial capital runs ahead of production capital; market value far
  above what cash flows justify.
* ``turning_point``: the crash and the slump after it, from the peak of market value
  until market value leaves the neighbourhood of its post-crash low for good.
* ``synergy``: deployment; adoption spreads through the economy.
* ``maturity``: adoption saturates and stops growing.

All functions are pure: they never modify the table they are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

PHASES: tuple[str, ...] = ("irruption", "frenzy", "turning_point", "synergy", "maturity")

# One colour per phase from the Okabe-Ito palette (Okabe & Ito 2008), which stays
# distinguishable under the common forms of colour blindness. Shared with analysis.charts.
PHASE_COLOURS: dict[str, str] = {
    "irruption": "#56B4E9",  # sky blue
    "frenzy": "#E69F00",  # orange
    "turning_point": "#D55E00",  # vermillion
    "synergy": "#009E73",  # bluish green
    "maturity": "#CC79A7",  # reddish purple
}

MARKET_COL = "market_value_usd_bn"
FUNDAMENTAL_COL = "fundamental_value_usd_bn"
RATIO_COL = "valuation_to_fundamentals_ratio"
ADOPTION_COL = "adoption_share"

# The maturity growth test is "change in adoption share over the last year"; the table is
# monthly, so the look-back is 12 rows.
MONTHS_PER_YEAR = 12


@dataclass(frozen=True)
class PhaseRules:
    """Thresholds of the phase detector (frozen so a run's rules cannot drift mid-analysis).

    Defaults are chosen so that a valuation bubble of the dot-com kind (Nasdaq traded at
    roughly 2-3x any cash-flow valuation in 2000 and lost ~78% peak to trough) is detected
    with a wide margin, while ordinary noise of +-10-20% around fundamentals is not.
    """

    # Smoothed valuation/fundamentals ratio (dimensionless) the bubble month must reach for
    # a frenzy to exist at all: market value at least 50% above fundamental value.
    frenzy_peak_ratio: float = 1.5
    # Smoothed ratio (dimensionless) above which a month can belong to the frenzy: the
    # frenzy is the contiguous run of months at or above this level around the bubble month.
    frenzy_entry_ratio: float = 1.25
    # Minimum frenzy length, months; a shorter spike is treated as noise, not a frenzy.
    min_frenzy_months: int = 6
    # Minimum peak-to-trough fall of market value (share of the peak, 0-1) for a crash,
    # i.e. a turning point: 0.35 means market value lost at least 35%.
    crash_drawdown: float = 0.35
    # The turning point lasts while market value is still within this share (0-1) above
    # its post-crash low: a slump that bumps along the bottom is part of it; it ends with
    # the last month in that band before market value regains the peak.
    trough_band: float = 0.15
    # Without a crash, synergy starts in the first month adoption_share reaches this
    # fraction (0-1) of its maximum over the run ("take-off").
    takeoff_fraction: float = 0.1
    # Maturity needs adoption_share at or above this fraction (0-1) of its run maximum ...
    maturity_fraction: float = 0.85
    # ... and its absolute change over the last 12 months below this (share points per
    # year, 0-1 scale: 0.02 = two percentage points a year).
    maturity_growth_per_yr: float = 0.02
    # Take-off and maturity also need adoption_share at or above this level (0-1). The
    # tests above compare adoption with its maximum over the table; on a run still in
    # progress (the live app) that maximum is the latest month's level, and months of
    # near-zero, barely growing adoption would pass for maturity. 0 leaves them as they are.
    min_adoption_share: float = 0.0
    # Width of the centred rolling mean applied to the ratio, months; 3 removes single-month
    # noise while moving the peak by at most one month.
    smoothing_window_months: int = 3
    # With a frenzy, the peak of market value is searched within this many months either
    # side of the bubble month (the month of the highest smoothed ratio).
    peak_search_months: int = 12

    def __post_init__(self) -> None:
        """Reject rules that would make the detector self-contradictory."""
        if self.frenzy_peak_ratio < self.frenzy_entry_ratio:
            raise ValueError("frenzy_peak_ratio must be >= frenzy_entry_ratio")
        if self.min_frenzy_months < 1 or self.smoothing_window_months < 1:
            raise ValueError("min_frenzy_months and smoothing_window_months must be >= 1")
        if self.peak_search_months < 0:
            raise ValueError("peak_search_months must be >= 0")
        if not 0.0 <= self.trough_band < 1.0:
            raise ValueError(f"trough_band must be in [0, 1), got {self.trough_band}")
        if not 0.0 <= self.min_adoption_share <= 1.0:
            raise ValueError(f"min_adoption_share must be in [0, 1], got {self.min_adoption_share}")
        for name in ("crash_drawdown", "takeoff_fraction", "maturity_fraction"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")


class Segments(NamedTuple):
    """Detected phase boundaries as row positions (inclusive), None where a phase is absent.

    Irruption is implicit: everything before the first detected phase.
    """

    bubble_month: int | None  # row of the highest smoothed ratio
    peak_month: int | None  # row of the market-value peak used for the crash
    frenzy: tuple[int, int] | None  # (first row, last row)
    turning_point: tuple[int, int] | None  # (first row, last row)
    synergy_start: int | None
    maturity_start: int | None


# --------------------------------------------------------------------------------------
# Small numeric helpers (NaN-tolerant so that a bad row cannot crash the labelling)
# --------------------------------------------------------------------------------------


def _argmax_first(x: np.ndarray) -> int:
    """Position of the first maximum, NaN treated as -inf (np.argmax would return the NaN)."""
    return int(np.argmax(np.where(np.isnan(x), -np.inf, x)))


def _argmax_last(x: np.ndarray) -> int:
    """Position of the last maximum: on a plateau the decline starts after its last month."""
    clean = np.where(np.isnan(x), -np.inf, x)
    return len(clean) - 1 - int(np.argmax(clean[::-1]))


def _first_true(mask: np.ndarray) -> int | None:
    """Position of the first True, or None if there is none."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    """A required column as a float array, with a clear error if the run did not record it."""
    if name not in table.columns:
        raise KeyError(f"phase detection needs column {name!r}; table has {list(table.columns)}")
    return table[name].to_numpy(dtype=float)


def _ratio(table: pd.DataFrame) -> np.ndarray:
    """Valuation/fundamentals ratio: the recorded column, else market / fundamental value."""
    if RATIO_COL in table.columns:
        return table[RATIO_COL].to_numpy(dtype=float)
    market = _column(table, MARKET_COL)
    fundamental = _column(table, FUNDAMENTAL_COL)
    with np.errstate(divide="ignore", invalid="ignore"):
        return market / fundamental


def smoothed_ratio(table: pd.DataFrame, window: int = 3) -> pd.Series:
    """Centred rolling mean of valuation/fundamentals, same index as the table.

    Why smooth: one month of noise must not decide whether a frenzy begins. Why centred:
    a trailing mean would shift every boundary late by (window - 1) / 2 months (one month
    for window 3). At the ends the window is truncated (min_periods=1): the first month is
    the mean of months 0 and 1, so a short table still gets a value for every month.
    """
    values = pd.Series(_ratio(table), index=table.index)
    return values.rolling(window, center=True, min_periods=1).mean()


# --------------------------------------------------------------------------------------
# Detection steps
# --------------------------------------------------------------------------------------


def _trough_after(market: np.ndarray, peak: int, band: float = 0.0) -> tuple[int, float] | None:
    """End of the slump after ``peak`` and the drawdown 1 - low/peak, or None if no fall.

    The low is the minimum market value after the peak and before market value first
    regains the peak level (or the end of the run), so a later, unrelated slump is never
    attributed to this peak. The slump ends with the last month in that window whose value
    is within ``band`` of the low. Example: values [10, 6, 4, 4.4, 7, 11, 2] with peak at
    row 0 and band 0.15: row 5 (11 >= 10) regains the peak, so the search covers rows 1-4;
    low = row 2 (value 4), drawdown = 1 - 4/10 = 0.6; rows within 4 * 1.15 = 4.6 are 2 and
    3, so the slump ends at row 3; the 2 in row 6 belongs to a later cycle.
    """
    level = market[peak]
    if not level > 0:
        return None
    after = market[peak + 1 :]
    regained = _first_true(after >= level)
    stop = len(after) if regained is None else regained
    if stop == 0:  # the next month is already at or above the peak: no fall at all
        return None
    window = np.where(np.isnan(after[:stop]), np.inf, after[:stop])
    low = float(window.min())
    end = int(np.flatnonzero(window <= low * (1.0 + band))[-1])
    return peak + 1 + end, float(1.0 - low / level)


def _largest_drawdown_peak(market: np.ndarray) -> int | None:
    """Month that starts the largest peak-to-trough fall of market value, or None if none.

    Running maximum M_t = max(v_0..v_t); drawdown d_t = 1 - v_t / M_t. The deepest month
    t* = argmax d_t is the trough, and its peak is the last month at or before t* at which
    v equals M_{t*}. Example: [10, 12, 6, 9, 13, 11] -> M = [10, 12, 12, 12, 13, 13],
    d = [0, 0, 0.5, 0.25, 0, 0.154]; t* = 2, peak = row 1 (value 12).
    """
    if market.size == 0:
        return None
    clean = np.where(np.isnan(market), -np.inf, market)
    running_max = np.maximum.accumulate(clean)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(running_max > 0, 1.0 - clean / running_max, 0.0)
    drawdown = np.nan_to_num(drawdown, nan=0.0, posinf=0.0, neginf=0.0)
    deepest = int(np.argmax(drawdown))
    if drawdown[deepest] <= 0:
        return None
    at_peak = np.flatnonzero(clean[: deepest + 1] == running_max[deepest])
    return int(at_peak[-1])


def _frenzy(
    ratio_s: np.ndarray, market: np.ndarray, rules: PhaseRules
) -> tuple[int, int | None, tuple[int, int] | None]:
    """Bubble month, market-value peak near it, and the frenzy (first, last row) if any.

    The frenzy starts where the smoothed ratio last rose through frenzy_entry_ratio before
    the bubble month and ends at the market-value peak (inclusive): the boom ends when
    prices stop rising, even if the ratio was already sliding because fundamentals were
    catching up. The peak is looked for within +-peak_search_months of the bubble month
    because the ratio peak and the price peak need not coincide (if fundamentals grow 2% a
    month and prices 1%, the ratio falls while prices still rise).
    """
    n = len(ratio_s)
    bubble = _argmax_first(ratio_s)
    if not ratio_s[bubble] >= rules.frenzy_peak_ratio:
        return bubble, None, None
    lo = max(0, bubble - rules.peak_search_months)
    hi = min(n - 1, bubble + rules.peak_search_months)
    peak = lo + _argmax_last(market[lo : hi + 1])
    start = bubble
    while start > 0 and ratio_s[start - 1] >= rules.frenzy_entry_ratio:
        start -= 1
    # Length counts both ends: start 29, peak 60 -> 60 - 29 + 1 = 32 months. A peak before
    # the start gives a length <= 0 and therefore no frenzy.
    if peak - start + 1 < rules.min_frenzy_months:
        return bubble, None, None
    return bubble, peak, (start, peak)


def _maturity_condition(adoption: np.ndarray, rules: PhaseRules) -> np.ndarray:
    """Boolean per month: adoption near its run maximum and no longer growing.

    Growth is the absolute change over the last 12 months, g_t = a_t - a_{t-12}; it is
    undefined (NaN, hence False) for the first 12 months, so maturity can never be declared
    without a full year of evidence. Example with the defaults: run maximum 0.80 -> the
    level test is a_t >= 0.85 * 0.80 = 0.68; a_t = 0.75, a_{t-12} = 0.74 -> g = 0.01 < 0.02.
    """
    amax = np.nanmax(adoption) if adoption.size else np.nan
    if not amax > 0:  # nothing was ever adopted: nothing can mature
        return np.zeros(adoption.shape, dtype=bool)
    growth = np.full(adoption.shape, np.nan)
    growth[MONTHS_PER_YEAR:] = adoption[MONTHS_PER_YEAR:] - adoption[:-MONTHS_PER_YEAR]
    with np.errstate(invalid="ignore"):
        return (
            (adoption >= rules.maturity_fraction * amax)
            & (adoption >= rules.min_adoption_share)
            & (growth < rules.maturity_growth_per_yr)
        )


def detect_segments(table: pd.DataFrame, rules: PhaseRules | None = None) -> Segments:
    """Phase boundaries (row positions) of a run, from its columns alone.

    Exposed separately from :func:`label_phases` so callers can see *why* a month got its
    label (bubble month, peak month). Never reads ``date``.
    """
    rules = PhaseRules() if rules is None else rules
    n = len(table)
    if n == 0:
        return Segments(None, None, None, None, None, None)
    market = _column(table, MARKET_COL)
    adoption = _column(table, ADOPTION_COL)
    ratio_s = smoothed_ratio(table, rules.smoothing_window_months).to_numpy(dtype=float)

    # 1. Frenzy (needs a ratio peak >= frenzy_peak_ratio and >= min_frenzy_months).
    bubble, peak, frenzy = _frenzy(ratio_s, market, rules)

    # 2. Crash, detected even when there was no frenzy. The peak is the one found near the
    #    bubble if a frenzy exists; otherwise the start of the run's deepest drawdown.
    if peak is None:
        peak = _largest_drawdown_peak(market)
    turning_point = None
    if peak is not None:
        fall = _trough_after(market, peak, rules.trough_band)
        if fall is not None and fall[1] >= rules.crash_drawdown:
            turning_point = (peak + 1, fall[0])

    # 3. Synergy starts after the crash; after a frenzy that ended without a crash (a soft
    #    landing) it starts right after the frenzy, because irruption cannot recur after
    #    a frenzy; with neither, it starts at adoption take-off.
    if turning_point is not None:
        synergy_start: int | None = turning_point[1] + 1
    elif frenzy is not None:
        synergy_start = frenzy[1] + 1
    else:
        amax = np.nanmax(adoption)
        took_off = (adoption >= rules.takeoff_fraction * amax) & (
            adoption >= rules.min_adoption_share
        )
        synergy_start = _first_true(took_off) if amax > 0 else None
    if synergy_start is not None and synergy_start >= n:
        synergy_start = None  # the run ends inside the crash or the frenzy

    # 4. Maturity: first month the condition holds, but never before synergy starts. If
    #    the condition was already met during the crash (first met at row 80, crash ends
    #    at row 90) maturity starts at row 91, right after the turning point.
    maturity_start = None
    first_mature = _first_true(_maturity_condition(adoption, rules))
    if synergy_start is not None and first_mature is not None:
        maturity_start = max(first_mature, synergy_start)

    return Segments(
        bubble_month=bubble,
        peak_month=peak,
        frenzy=frenzy,
        turning_point=turning_point,
        synergy_start=synergy_start,
        maturity_start=maturity_start,
    )


def label_phases(table: pd.DataFrame, rules: PhaseRules | None = None) -> pd.Series:
    """Perez phase of every month: categorical Series, same index as ``table``.

    Later phases overwrite earlier ones in order, which guarantees every phase is one
    contiguous block: irruption is whatever precedes the first detected phase. A table
    shorter than the detector's windows (e.g. < 24 months) is still labelled; with no
    bubble, crash or take-off every month is irruption.
    """
    seg = detect_segments(table, rules)
    labels = np.full(len(table), "irruption", dtype=object)
    if seg.frenzy is not None:
        labels[seg.frenzy[0] : seg.frenzy[1] + 1] = "frenzy"
    if seg.turning_point is not None:
        labels[seg.turning_point[0] : seg.turning_point[1] + 1] = "turning_point"
    if seg.synergy_start is not None:
        labels[seg.synergy_start :] = "synergy"
    if seg.maturity_start is not None:
        labels[seg.maturity_start :] = "maturity"
    return pd.Series(
        pd.Categorical(labels, categories=list(PHASES), ordered=True),
        index=table.index,
        name="phase",
    )


# --------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------


def phase_blocks(labels: pd.Series | np.ndarray | list[str]) -> list[tuple[str, int, int]]:
    """Run-length encoding: (phase, first row, last row) for each contiguous block."""
    values = np.asarray(pd.Series(labels).astype(object), dtype=object)
    blocks: list[tuple[str, int, int]] = []
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            blocks.append((str(values[start]), start, i - 1))
            start = i
    return blocks


def phase_table(table: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """One row per contiguous phase block: phase, start, end (dates of first/last month), months.

    This is the only place ``date`` is read, and only to format the output; if the table
    has no ``date`` column its index is used instead.
    """
    if len(labels) != len(table):
        raise ValueError(f"{len(labels)} labels for a table of {len(table)} rows")
    dates = table["date"].to_numpy() if "date" in table.columns else table.index.to_numpy()
    rows = [
        {"phase": phase, "start": dates[first], "end": dates[last], "months": last - first + 1}
        for phase, first, last in phase_blocks(labels)
    ]
    out = pd.DataFrame(rows, columns=["phase", "start", "end", "months"])
    out["months"] = out["months"].astype(int)
    return out


def phases_in_order(labels: pd.Series) -> bool:
    """True iff all five phases appear, each as ONE contiguous block, in the Perez order.

    The sequence of blocks must be exactly irruption, frenzy, turning_point, synergy,
    maturity; a missing phase, a repeated phase or a reversal all give False.
    """
    return tuple(phase for phase, _, _ in phase_blocks(labels)) == PHASES


def bubble_metrics(
    table: pd.DataFrame, labels: pd.Series, rules: PhaseRules | None = None
) -> dict[str, float | int]:
    """Headline numbers of the bubble, read off the labels.

    * peak_valuation_to_fundamentals: maximum of the smoothed ratio within the frenzy
      (NaN if no frenzy).
    * drawdown_share: 1 - trough / peak of market value, where the peak is the month just
      before the turning point (the turning point starts the month after the peak) and the
      trough the lowest month within it; e.g. 300 -> 120 gives 1 - 120/300 = 0.6
      (NaN if no turning point).
    * turning_point_months, frenzy_months, synergy_plus_maturity_months: block lengths.

    ``rules`` only supplies the smoothing window, so pass the same rules used to label.
    """
    rules = PhaseRules() if rules is None else rules
    if len(labels) != len(table):
        raise ValueError(f"{len(labels)} labels for a table of {len(table)} rows")
    lab = np.asarray(pd.Series(labels).astype(object), dtype=object)
    frenzy = lab == "frenzy"
    crash = np.flatnonzero(lab == "turning_point")

    peak_ratio = float("nan")
    if frenzy.any():
        ratio_s = smoothed_ratio(table, rules.smoothing_window_months).to_numpy(dtype=float)
        peak_ratio = float(np.nanmax(ratio_s[frenzy]))

    drawdown = float("nan")
    if crash.size:
        market = _column(table, MARKET_COL)
        peak_row = crash[0] - 1 if crash[0] > 0 else crash[0]
        peak_value = market[peak_row]
        if peak_value > 0:
            drawdown = float(1.0 - np.nanmin(market[crash]) / peak_value)

    return {
        "peak_valuation_to_fundamentals": peak_ratio,
        "drawdown_share": drawdown,
        "frenzy_months": int(frenzy.sum()),
        "turning_point_months": int(crash.size),
        "synergy_plus_maturity_months": int(np.isin(lab, ["synergy", "maturity"]).sum()),
    }
