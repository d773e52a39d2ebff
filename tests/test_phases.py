"""Tests of analysis.phases on hand-built monthly tables whose phases are known by construction."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from analysis.phases import (
    PHASE_COLOURS,
    PHASES,
    PhaseRules,
    bubble_metrics,
    detect_segments,
    label_phases,
    phase_blocks,
    phase_table,
    phases_in_order,
)

N_MONTHS = 180  # 15 years, 2015-01 .. 2029-12
START = "2015-01-01"


# The constructed series below end their crash at a sharp low; EXACT ends the turning point
# at that low (no bottoming-out band) so lengths can be read straight off the construction.
EXACT = PhaseRules(trough_band=0.0)


def _logistic(t: np.ndarray, mid: float, ceiling: float = 0.8, scale: float = 10.0) -> np.ndarray:
    """Adoption S-curve: ceiling / (1 + exp(-(t - mid) / scale))."""
    return ceiling / (1.0 + np.exp(-(t - mid) / scale))


def _table(market: np.ndarray, fundamental: np.ndarray, adoption: np.ndarray) -> pd.DataFrame:
    """A monthly output table with every column the simulation writes."""
    n = len(market)
    t = np.arange(n, dtype=float)
    return pd.DataFrame(
        {
            "date": pd.date_range(START, periods=n, freq="MS"),
            "market_value_usd_bn": market,
            "fundamental_value_usd_bn": fundamental,
            "valuation_to_fundamentals_ratio": market / fundamental,
            "capex_usd_bn_per_yr": 50.0 + t,
            "capacity_h100e_mn": 1.0 + 0.1 * t,
            "power_gw": 2.0 + 0.05 * t,
            "utilization_share": np.full(n, 0.7),
            "gpu_rent_usd_per_gpu_hour": np.full(n, 2.0),
            "token_price_usd_per_mtok": 10.0 * np.exp(-0.02 * t),
            "adoption_share": adoption,
            "frontier_capability_index": 100.0 * t / max(n - 1, 1),
            "stranded_capital_usd_bn": np.zeros(n),
        }
    )


def bubble_table() -> pd.DataFrame:
    """Fundamentals grow 2%/month; market value rises to 3x them, then falls 60% in 30 months.

    Construction (t = month, 0-based):
    * fundamentals F_t = 100 * exp(0.02 t).
    * ratio R_t = 1 for t <= 24, then linear to 3 at t = 60: R_t = 1 + (t - 24) / 18
      (36 months to add 2, i.e. 1/18 per month); market value M_t = R_t * F_t up to t = 60.
    * crash: M falls linearly by 60% of M_60 over 30 months, M_90 = 0.4 * M_60.
    * recovery: the ratio climbs back from M_90 / F_90 = 0.659 to 1 over 24 months; M_t
      regains M_60 = 3 F_60 only when exp(0.02 (t - 60)) = 3, i.e. t = 60 + 55 = 115, so the
      trough is the minimum over months 61..114, which is month 90.
    * adoption: logistic, ceiling 0.8, midpoint month 100, scale 10 months.
    """
    t = np.arange(N_MONTHS, dtype=float)
    fundamental = 100.0 * np.exp(0.02 * t)
    ratio = np.ones(N_MONTHS)
    ratio[24:61] = 1.0 + (t[24:61] - 24.0) / 18.0
    market = ratio * fundamental
    market[61:91] = market[60] * (1.0 - 0.6 * (t[61:91] - 60.0) / 30.0)
    r90 = market[90] / fundamental[90]
    market[91:] = fundamental[91:] * (r90 + (1.0 - r90) * np.minimum(1.0, (t[91:] - 90.0) / 24.0))
    return _table(market, fundamental, _logistic(t, mid=100.0))


def no_bubble_table(seed: int = 7) -> pd.DataFrame:
    """Market value = 1.05 x fundamentals with 1% noise; the same adoption S-curve."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_MONTHS, dtype=float)
    fundamental = 100.0 * np.exp(0.02 * t)
    market = 1.05 * fundamental * (1.0 + 0.01 * rng.standard_normal(N_MONTHS))
    return _table(market, fundamental, _logistic(t, mid=100.0))


def _runs(labels: pd.Series) -> list[tuple[str, int, int]]:
    return phase_blocks(labels)


# ----------------------------------------------------------------------------------------
# (a) bubble
# ----------------------------------------------------------------------------------------


def test_bubble_phases_in_perez_order_with_constructed_lengths() -> None:
    table = bubble_table()
    labels = label_phases(table, EXACT)

    assert phases_in_order(labels)
    # Frenzy: the smoothed ratio equals R_t on the linear stretch (a 3-month centred mean of
    # a straight line is the line). R_t >= 1.25 <=> (t - 24) / 18 >= 0.25 <=> t >= 28.5:
    # R_28 = 1 + 4/18 = 1.222 < 1.25 <= R_29 = 1 + 5/18 = 1.278. So the frenzy starts at 29
    # and ends at the market-value peak, month 60: 60 - 29 + 1 = 32 months.
    # Turning point: month after the peak (61) to the trough (90): 90 - 61 + 1 = 30 months.
    # Irruption: months 0..28 = 29 months.
    # Maturity: run max of adoption = 0.8 / (1 + e^-7.9) = 0.79970, level test
    # 0.85 * 0.79970 = 0.680 holds from month 118; 12-month growth a_t - a_{t-12} is
    # 0.02163 at t = 144 and 0.01967 at t = 145, so maturity starts at 145.
    # Synergy: 91..144 = 54 months; maturity 145..179 = 35 months. Total 29+32+30+54+35=180.
    assert _runs(labels) == [
        ("irruption", 0, 28),
        ("frenzy", 29, 60),
        ("turning_point", 61, 90),
        ("synergy", 91, 144),
        ("maturity", 145, 179),
    ]
    seg = detect_segments(table, EXACT)
    # Bubble month: smoothed S_59 = R_59 = 1 + 35/18 = 2.9444, but S_60 is pulled down by
    # the crash, (R_59 + 3 + R_61) / 3 with R_61 = 3 * 0.98 * e^-0.02 = 2.882 -> 2.942.
    assert seg.bubble_month == 59
    assert seg.peak_month == 60


def test_bubble_metrics_match_construction() -> None:
    table = bubble_table()
    labels = label_phases(table, EXACT)
    metrics = bubble_metrics(table, labels, EXACT)
    # Peak of the smoothed ratio within the frenzy: S_59 = 1 + 35/18 = 53/18 = 2.9444.
    assert metrics["peak_valuation_to_fundamentals"] == pytest.approx(53.0 / 18.0)
    # M_90 = 0.4 * M_60 -> drawdown 1 - 0.4 = 0.6.
    assert metrics["drawdown_share"] == pytest.approx(0.6)
    assert metrics["frenzy_months"] == 32
    assert metrics["turning_point_months"] == 30
    assert metrics["synergy_plus_maturity_months"] == 54 + 35


def test_bubble_phase_table_dates() -> None:
    table = bubble_table()
    out = phase_table(table, label_phases(table, EXACT))
    assert list(out.columns) == ["phase", "start", "end", "months"]
    assert list(out["phase"]) == list(PHASES)
    assert list(out["months"]) == [29, 32, 30, 54, 35]
    frenzy = out.set_index("phase").loc["frenzy"]
    # Month 29 after 2015-01 is 2017-06; month 60 is 2020-01.
    assert pd.Timestamp(frenzy["start"]) == pd.Timestamp("2017-06-01")
    assert pd.Timestamp(frenzy["end"]) == pd.Timestamp("2020-01-01")
    crash = out.set_index("phase").loc["turning_point"]
    # Month 61 is 2020-02; month 90 is 2022-07.
    assert pd.Timestamp(crash["start"]) == pd.Timestamp("2020-02-01")
    assert pd.Timestamp(crash["end"]) == pd.Timestamp("2022-07-01")


def test_turning_point_includes_the_bottoming_out_band() -> None:
    """With the default 15% band the slump lasts until market value leaves 1.15x its low."""
    table = bubble_table()
    # Low M_90 = 0.4 * 3 * 100 e^1.2 = 398.42; band limit 1.15 * 398.42 = 458.18.
    # Recovery M_t = F_t (r90 + (1 - r90)(t - 90)/24), r90 = 398.42 / (100 e^1.8) = 0.6586:
    # M_91 = 617.2 * 0.6728 = 415.3, M_92 = 629.6 * 0.6870 = 432.5, M_93 = 642.3 * 0.7013
    # = 450.4 (in the band), M_94 = 655.3 * 0.7155 = 468.9 (out of it) -> the turning point
    # runs 61..93 = 33 months, and the drawdown is still measured at the low (0.6).
    labels = label_phases(table)
    assert _runs(labels)[2] == ("turning_point", 61, 93)
    metrics = bubble_metrics(table, labels)
    assert metrics["turning_point_months"] == 33
    assert metrics["drawdown_share"] == pytest.approx(0.6)


def test_labels_are_categorical_with_table_index() -> None:
    table = bubble_table()
    table.index = pd.RangeIndex(1000, 1000 + len(table))
    labels = label_phases(table)
    assert isinstance(labels.dtype, pd.CategoricalDtype)
    assert list(labels.cat.categories) == list(PHASES)
    assert labels.index.equals(table.index)
    assert set(labels.unique()) <= set(PHASES)


def test_input_table_not_modified() -> None:
    table = bubble_table()
    before = table.copy()
    labels = label_phases(table)
    bubble_metrics(table, labels)
    phase_table(table, labels)
    pd.testing.assert_frame_equal(table, before)


# ----------------------------------------------------------------------------------------
# (b) no bubble
# ----------------------------------------------------------------------------------------


def test_no_bubble_gives_irruption_synergy_maturity() -> None:
    table = no_bubble_table()
    labels = label_phases(table)
    assert "frenzy" not in set(labels)
    assert "turning_point" not in set(labels)
    assert not phases_in_order(labels)
    # Take-off: 0.1 * 0.79970 = 0.079970; a_78 = 0.8 / (1 + e^2.2) = 0.07980 (below),
    # a_79 = 0.8 / (1 + e^2.1) = 0.08745 (above) -> synergy starts at month 79.
    # Maturity at 145 as in the bubble case (same adoption curve).
    assert _runs(labels) == [
        ("irruption", 0, 78),
        ("synergy", 79, 144),
        ("maturity", 145, 179),
    ]
    metrics = bubble_metrics(table, labels)
    assert math.isnan(metrics["peak_valuation_to_fundamentals"])
    assert math.isnan(metrics["drawdown_share"])
    assert metrics["turning_point_months"] == 0
    assert metrics["synergy_plus_maturity_months"] == 180 - 79


# ----------------------------------------------------------------------------------------
# (c) dates are never read
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("make_table", [bubble_table, no_bubble_table])
def test_labels_do_not_depend_on_dates(make_table) -> None:
    table = make_table()
    expected = label_phases(table)
    rng = np.random.default_rng(0)

    shuffled = table.copy()
    shuffled["date"] = rng.permutation(shuffled["date"].to_numpy())
    reversed_dates = table.copy()
    reversed_dates["date"] = reversed_dates["date"].to_numpy()[::-1]
    constant = table.copy()
    constant["date"] = pd.Timestamp("1970-01-01")
    garbage = table.copy()
    garbage["date"] = "not a date"
    dropped = table.drop(columns="date")

    for variant in (shuffled, reversed_dates, constant, garbage, dropped):
        pd.testing.assert_series_equal(label_phases(variant), expected)


# ----------------------------------------------------------------------------------------
# Other shapes
# ----------------------------------------------------------------------------------------


def test_crash_without_frenzy_is_a_turning_point() -> None:
    """Fundamentals and price crash together (ratio 1): a turning point but no frenzy."""
    t = np.arange(N_MONTHS, dtype=float)
    market = 100.0 * np.exp(0.02 * t)
    # 50% linear fall from month 60 to month 80: M_80 = 0.5 * M_60; then 2%/month growth,
    # which regains M_60 only at 80 + ln(2) / 0.02 = 80 + 35 = 115.
    market[61:81] = market[60] * (1.0 - 0.5 * (t[61:81] - 60.0) / 20.0)
    market[81:] = market[80] * np.exp(0.02 * (t[81:] - 80.0))
    table = _table(market, market.copy(), _logistic(t, mid=100.0))
    labels = label_phases(table, EXACT)
    runs = _runs(labels)
    assert runs[:3] == [("irruption", 0, 60), ("turning_point", 61, 80), ("synergy", 81, 144)]
    assert bubble_metrics(table, labels, EXACT)["drawdown_share"] == pytest.approx(0.5)


def test_frenzy_with_mild_correction_has_no_turning_point() -> None:
    """Ratio rises to 2, then a 20% correction (< 35%): frenzy then straight into synergy."""
    t = np.arange(N_MONTHS, dtype=float)
    fundamental = 100.0 * np.exp(0.03 * t)
    ratio = np.ones(N_MONTHS)
    ratio[23:49] = 1.0 + (t[23:49] - 23.0) / 25.0  # 1 -> 2 over months 23..48
    market = ratio * fundamental
    # 20% linear fall over months 48..60, then growth with fundamentals (3%/month), which
    # regains M_48 after ln(1 / 0.8) / 0.03 = 7.4 months, so the trough is month 60.
    market[49:61] = market[48] * (1.0 - 0.2 * (t[49:61] - 48.0) / 12.0)
    market[61:] = market[60] * np.exp(0.03 * (t[61:] - 60.0))
    table = _table(market, fundamental, _logistic(t, mid=90.0))
    seg = detect_segments(table)
    # R_t >= 1.25 <=> (t - 23) / 25 >= 0.25 <=> t >= 29.25: R_29 = 1.24, R_30 = 1.28, so
    # the frenzy starts at 30 and ends at the market-value peak, 48 (19 months).
    assert seg.frenzy == (30, 48)
    assert seg.turning_point is None
    assert seg.synergy_start == 49
    labels = label_phases(table)
    assert [r[0] for r in _runs(labels)][:3] == ["irruption", "frenzy", "synergy"]


def test_short_spike_is_not_a_frenzy() -> None:
    """A 3-month ratio spike to 2.0: smoothed run 49..53 and peak 52 give 4 < 6 months."""
    t = np.arange(N_MONTHS, dtype=float)
    fundamental = 100.0 * np.exp(0.02 * t)
    ratio = np.ones(N_MONTHS)
    ratio[50:53] = 2.0
    table = _table(ratio * fundamental, fundamental, _logistic(t, mid=100.0))
    seg = detect_segments(table)
    assert seg.frenzy is None
    assert "frenzy" not in set(label_phases(table))


def test_maturity_already_met_when_crash_ends_starts_right_after() -> None:
    """Adoption saturates during the crash: maturity begins the month after the trough."""
    table = bubble_table()
    t = np.arange(N_MONTHS, dtype=float)
    # Midpoint 40: growth over 12 months falls below 0.02 around month 85 (45 months after
    # the midpoint, as 145 is after 100 above), before the crash ends at month 90.
    table["adoption_share"] = _logistic(t, mid=40.0)
    labels = label_phases(table, EXACT)
    assert _runs(labels)[-1] == ("maturity", 91, 179)
    assert "synergy" not in set(labels)
    assert not phases_in_order(labels)


def test_custom_rules_change_detection() -> None:
    table = bubble_table()
    # Requiring a 4x peak removes the frenzy; the 60% crash is still found independently.
    labels = label_phases(table, PhaseRules(frenzy_peak_ratio=4.0))
    assert "frenzy" not in set(labels)
    assert "turning_point" in set(labels)
    # Requiring a 70% crash removes the turning point; the frenzy stays.
    labels = label_phases(table, PhaseRules(crash_drawdown=0.7))
    assert "turning_point" not in set(labels)
    assert "frenzy" in set(labels)


# ----------------------------------------------------------------------------------------
# Edge cases
# ----------------------------------------------------------------------------------------


def _constant_table(n: int, adoption: float) -> pd.DataFrame:
    ones = np.ones(n)
    return _table(100.0 * ones, 100.0 * ones, adoption * ones)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 23])
def test_short_constant_tables_label_without_crashing(n: int) -> None:
    table = _constant_table(n, adoption=0.0)
    labels = label_phases(table)
    assert len(labels) == n
    assert (labels == "irruption").all()  # nothing adopted, no bubble, no crash
    out = phase_table(table, labels)
    assert len(out) == (1 if n else 0)
    metrics = bubble_metrics(table, labels)
    assert metrics["turning_point_months"] == 0


def test_constant_series_with_adoption_has_no_bubble_or_crash() -> None:
    table = _constant_table(60, adoption=0.5)
    labels = label_phases(table)
    assert "frenzy" not in set(labels)
    assert "turning_point" not in set(labels)
    # Adoption is at its maximum from month 0 (take-off at 0) and has zero growth, but
    # the 12-month growth needs 12 months of history, so maturity starts at month 12.
    assert _runs(labels) == [("synergy", 0, 11), ("maturity", 12, 59)]


def test_short_bubble_table_still_labels() -> None:
    table = bubble_table().iloc[40:60].reset_index(drop=True)  # 20 months of the run-up
    labels = label_phases(table)
    assert len(labels) == 20
    assert set(labels) <= set(PHASES)


def test_missing_column_raises_clear_error() -> None:
    table = bubble_table().drop(columns="adoption_share")
    with pytest.raises(KeyError, match="adoption_share"):
        label_phases(table)


def test_ratio_falls_back_to_market_over_fundamental() -> None:
    table = bubble_table()
    pd.testing.assert_series_equal(
        label_phases(table.drop(columns="valuation_to_fundamentals_ratio")), label_phases(table)
    )


# ----------------------------------------------------------------------------------------
# Helpers and constants
# ----------------------------------------------------------------------------------------


def test_adoption_floor_keeps_the_first_months_of_a_run_in_irruption() -> None:
    """The first 30 months of a run: adoption creeps from 0 to 0.1%. Judged against its own
    maximum it has taken off and stopped growing; with a 5% floor it is still irruption."""
    n = 30
    t = np.arange(n, dtype=float)
    value = 100.0 * np.exp(0.01 * t)
    table = _table(value, value, 0.001 * t / (n - 1))
    assert label_phases(table).iloc[-1] == "maturity"
    floored = label_phases(table, PhaseRules(min_adoption_share=0.05))
    assert set(floored) == {"irruption"}


def test_adoption_floor_leaves_a_full_run_alone() -> None:
    table = bubble_table()
    floored = label_phases(table, dataclasses.replace(EXACT, min_adoption_share=0.05))
    assert floored.equals(label_phases(table, EXACT))


def test_phases_in_order_requires_each_phase_once_in_order() -> None:
    good = ["irruption"] * 3 + ["frenzy"] * 2 + ["turning_point"] + ["synergy"] + ["maturity"]
    assert phases_in_order(pd.Series(good))
    assert not phases_in_order(pd.Series(good[:-1]))  # maturity missing
    repeated = good + ["synergy"]
    assert not phases_in_order(pd.Series(repeated))  # synergy twice
    swapped = ["frenzy", "irruption", "turning_point", "synergy", "maturity"]
    assert not phases_in_order(pd.Series(swapped))
    assert not phases_in_order(pd.Series([], dtype=object))


def test_rules_are_frozen_and_validated() -> None:
    rules = PhaseRules()
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.crash_drawdown = 0.5  # type: ignore[misc]
    with pytest.raises(ValueError):
        PhaseRules(frenzy_peak_ratio=1.1, frenzy_entry_ratio=1.25)
    with pytest.raises(ValueError):
        PhaseRules(crash_drawdown=0.0)
    with pytest.raises(ValueError):
        PhaseRules(min_adoption_share=1.5)


def test_phase_constants() -> None:
    assert PHASES == ("irruption", "frenzy", "turning_point", "synergy", "maturity")
    assert set(PHASE_COLOURS) == set(PHASES)
    assert len(set(PHASE_COLOURS.values())) == len(PHASES)
