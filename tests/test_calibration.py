"""Calibration: the targets file, each measure's arithmetic, the search and the fit itself."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import surge_cli
from analysis.calibration import (
    HISTORICAL_RANGES,
    MEASURES,
    NOT_COMPARED,
    TARGETS_FILE,
    TargetsError,
    capex_fall_share,
    compare,
    compared,
    distance,
    growth_per_year,
    load_targets,
    measure_run,
    objective,
    score_function,
    target_loss,
)
from sim.batch import seed_for
from sim.calibration import (
    FREE_PARAMETERS,
    CalibrationError,
    calibrate,
    check_free_parameters,
    fit_months,
    scenario_toml,
)
from sim.params import load_scenario
from sim.run import run_scenario

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "calibration.md"
REPORT_SEEDS = 16  # as docs/calibration.md: surge calibrate --check-only --report-seeds 16


# ---- the targets file -------------------------------------------------------------------


def test_every_target_has_a_source_a_range_and_a_measure_or_a_reason():
    targets = load_targets()
    assert len(targets) >= 20
    assert targets["source"].str.len().min() > 10
    assert ((targets["low"] <= targets["value"]) & (targets["value"] <= targets["high"])).all()
    for metric in targets["metric"]:
        assert (metric in MEASURES) != (metric in NOT_COMPARED), metric
    assert len(compared(targets)) >= 20


def test_a_bad_targets_row_is_named_with_file_line_and_values(tmp_path):
    bad = tmp_path / "targets.csv"
    text = TARGETS_FILE.read_text().splitlines()
    text[1] = "hyperscaler_capex,usd_bn_per_yr,2018,90,55,75,confirmed,source"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(TargetsError, match=r"targets.csv, line 2 .*value 90.* low 55 .. high 75"):
        load_targets(bad)
    text[1] = "hyperscaler_opex,usd_bn_per_yr,2018,64,55,75,confirmed,source"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(TargetsError, match="'hyperscaler_opex' has no measure"):
        load_targets(bad)


# ---- worked values of the measures ------------------------------------------------------


def test_distance_counts_half_ranges_on_a_log_scale():
    # (ln 113 - ln 150) / (ln 150 - ln 127) = -0.2832 / 0.1665 = -1.70
    assert distance(113, 150, 127, 160, log_scale=True) == pytest.approx(-1.701, abs=1e-3)
    # above the figure the upper half-range counts: (ln 160 - ln 150) / same = 1
    assert distance(160, 150, 127, 160, log_scale=True) == pytest.approx(1.0)
    # shares are compared linearly: (0.06 - 0.054) / (0.066 - 0.054) = 0.5
    assert distance(0.06, 0.054, 0.037, 0.066, log_scale=False) == pytest.approx(0.5)
    assert distance(0.0, 1.0, 0.5, 2.0, log_scale=True) == math.inf


def test_the_loss_counts_targets_outside_their_range_plus_a_weak_pull():
    assert target_loss(0.5) == pytest.approx(0.00390625)  # (0.5/8)^2
    assert target_loss(1.1) == pytest.approx(0.41890625)  # 4 * 0.1 + (1.1/8)^2
    assert target_loss(-2.0) == pytest.approx(1.0625)  # 1 + (2/8)^2
    assert target_loss(9.0) == pytest.approx(1.25)  # 1 + (4/8)^2
    report = pd.DataFrame({"distance_half_ranges": [0.5, -2.0, 9.0], "fitted": [True, True, False]})
    assert objective(report) == pytest.approx((0.00390625 + 1.0625) / 2)  # parameters left out


def test_growth_per_year_is_the_log_linear_slope():
    # 1, 4, 16 in 2018-2020: log slope ln 4, so 4.0 x/yr
    series = pd.Series([1.0, 4.0, 16.0], index=[2018, 2019, 2020])
    assert growth_per_year(series, 2018, 2020) == pytest.approx(4.0)
    assert math.isnan(growth_per_year(series, 2018, 2018))


def synthetic_table() -> pd.DataFrame:
    """84 months (2018-2024) whose every measured column has a known yearly value."""
    dates = pd.date_range("2018-01-01", periods=84, freq="MS")
    years = dates.year.to_numpy() - 2018 + dates.month.to_numpy() / 12.0
    return pd.DataFrame(
        {
            "date": dates,
            "capex_usd_bn_per_yr": 100.0 + 10.0 * (dates.year.to_numpy() - 2018),
            # x4 a year, compounding monthly
            "frontier_training_compute_flop": 1e22 * 4.0**years,
            "gpu_rent_usd_per_gpu_hour": 4.0 * 0.5**years,
            "hardware_price_performance_x": 4.0 ** (years / 6.0),  # x4 in six years
            "algorithmic_efficiency_x": 3.0**years,
            "h100e_price_usd": 30_000.0,
            "energy_twh_per_yr": 10.0 * 1.2 ** (dates.year.to_numpy() - 2018),
            "lab_revenue_usd_bn_per_yr": 4.0,
            "adoption_share": 0.05,
        }
    )


def test_each_measure_reads_the_table_as_its_definition_says():
    targets = load_targets()
    parameters = {
        "adopters.bass_innovation_per_yr": 0.03,
        "bass_imitation_per_yr": 0.4,
        "hyperscalers.accelerator_life_years": 5.5,
        "labs.training_flop_gain_per_yr": 0.25,
    }
    values = dict(
        zip(
            [
                f"{m} {y}"
                for m, y in zip(compared(targets)["metric"], compared(targets)["year"], strict=True)
            ],
            measure_run(synthetic_table(), parameters, targets),
            strict=True,
        )
    )
    assert values["hyperscaler_capex 2018"] == pytest.approx(100.0)  # the 2018 mean
    assert values["hyperscaler_capex 2024"] == pytest.approx(160.0)
    # the largest run of 2020 is December's: 1e22 * 4^3
    assert values["frontier_training_compute 2020"] == pytest.approx(1e22 * 4.0**3)
    assert values["frontier_training_compute_growth 2024"] == pytest.approx(4.0)
    # FLOP x rent grows 4 x 0.5 = 2 x/yr; an hour yields 25% more FLOP a year: 2 / 1.25
    assert values["training_cost_growth 2024"] == pytest.approx(1.6, rel=1e-3)
    # x4 in 6 years: 4^(1/6) = 1.26 x/yr, ln 2 / ln 1.26 = 3.0 years per doubling
    assert values["gpu_flops_per_usd_doubling 2024"] == pytest.approx(3.0)
    assert values["algorithmic_efficiency_gain 2024"] == pytest.approx(3.0)
    assert values["us_datacenter_electricity_growth 2023"] == pytest.approx(1.2**5)
    assert values["us_firm_ai_use 2024"] == pytest.approx(0.05)
    assert values["bass_q 1990"] == pytest.approx(0.4)
    assert values["server_useful_life 2024"] == pytest.approx(5.5)


def test_capex_fall_is_measured_from_the_boom_peak_to_the_low_after_it():
    # 12-month average capex: 24 months at 800, then 400 for the rest: a fall of 0.5
    capex = np.r_[np.full(24, 800.0), np.full(72, 400.0)]
    table = pd.DataFrame({"capex_usd_bn_per_yr": capex})
    labels = pd.Series(["frenzy"] * 24 + ["turning_point"] * 12 + ["synergy"] * 60)
    assert capex_fall_share(table, labels) == pytest.approx(0.5)
    assert math.isnan(capex_fall_share(table, pd.Series(["irruption"] * 96)))


# ---- the search -------------------------------------------------------------------------


def test_free_parameters_are_checked_by_name():
    assert list(check_free_parameters(["legacy_spend_growth_per_yr"])) == [
        "hyperscalers.legacy_spend_growth_per_yr"
    ]
    with pytest.raises(CalibrationError, match="not a free parameter"):
        check_free_parameters(["chartist_trend_gain"])
    with pytest.raises(CalibrationError, match="unknown"):
        check_free_parameters(["no_such_parameter"])
    assert fit_months("baseline") == 84  # January 2018 to December 2024


def test_the_search_is_deterministic_and_starts_from_the_scenario():
    targets = load_targets()
    free = check_free_parameters(["legacy_spend_start_usd_bn_per_yr"])
    first = calibrate("baseline", score_function(targets), seeds=1, budget=10, free=free)
    second = calibrate("baseline", score_function(targets), seeds=1, budget=10, free=free)
    assert first.best == second.best and first.best_score == second.best_score
    history = first.history_frame()
    assert len(history) == 10 and history["generation"].nunique() == 2
    start = load_scenario("baseline").hyperscalers.legacy_spend_start_usd_bn_per_yr
    assert history["hyperscalers.legacy_spend_start_usd_bn_per_yr"].iloc[0] == start
    assert first.best_score <= history["score"].iloc[0]
    bounds = FREE_PARAMETERS["hyperscalers.legacy_spend_start_usd_bn_per_yr"]
    assert bounds.low <= first.best["hyperscalers.legacy_spend_start_usd_bn_per_yr"] <= bounds.high
    with pytest.raises(CalibrationError, match="--budget 9"):
        calibrate("baseline", score_function(targets), seeds=1, budget=9, free=free)


def test_fitted_values_round_trip_through_a_scenario_file(tmp_path):
    values = {
        "hyperscalers.legacy_spend_growth_per_yr": 0.125,
        "labs.rd_share_of_value_per_yr": 0.3,
    }
    path = tmp_path / "fitted.toml"
    path.write_text(scenario_toml("baseline", values, "test", header=["fitted here"]))
    params = load_scenario(path)
    assert params.hyperscalers.legacy_spend_growth_per_yr == 0.125
    assert params.labs.rd_share_of_value_per_yr == 0.3
    assert params.name == "baseline_calibrated"


# ---- the committed baseline ------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline_report() -> pd.DataFrame:
    targets = load_targets()
    months = fit_months("baseline")
    parameters = load_scenario("baseline").flat()
    per_run = np.array(
        [
            measure_run(
                run_scenario("baseline", seed_for(0, k), {"months": months}), parameters, targets
            )
            for k in range(REPORT_SEEDS)
        ]
    )
    return compare(targets, per_run)


def test_the_committed_baseline_sits_inside_at_least_80_percent_of_the_ranges(baseline_report):
    """The ensemble median of the committed baseline (16 seeds, to December 2024) lies inside
    the published range of at least four targets in five."""
    inside = baseline_report["inside"]
    missed = [f"{r.metric} {r.year}" for r in baseline_report[~inside].itertuples()]
    assert inside.mean() >= 0.8, f"{inside.sum()} of {len(inside)} inside; missed {missed}"


def test_docs_name_every_target_the_baseline_misses(baseline_report):
    doc = DOC.read_text()
    for row in baseline_report[~baseline_report["inside"]].itertuples():
        assert f"{row.metric} {row.year}" in doc, f"{row.metric} {row.year} not named in {DOC}"


def test_historical_ranges_come_with_sources():
    for low, high, source in HISTORICAL_RANGES.values():
        assert 0 <= low < high and len(source) > 20


# ---- the command ------------------------------------------------------------------------


def test_calibrate_command_fits_writes_a_scenario_and_a_report(tmp_path, capsys):
    out = tmp_path / "cal"
    code = surge_cli.main(
        [
            "calibrate",
            "--params",
            "legacy_spend_start_usd_bn_per_yr",
            "--budget",
            "10",
            "--seeds",
            "1",
            "--report-seeds",
            "2",
            "--executor",
            "serial",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    fitted = load_scenario(out / "calibrated.toml")
    history = pd.read_csv(out / "history.csv")
    best = history.loc[history["score"].idxmin(), "hyperscalers.legacy_spend_start_usd_bn_per_yr"]
    assert fitted.hyperscalers.legacy_spend_start_usd_bn_per_yr == pytest.approx(best)
    report = (out / "report.md").read_text()
    assert "| hyperscaler_capex | 2018 |" in report and "## Historical checks" in report
    assert "Not compared:" in report
    assert (out / "calibration.png").stat().st_size > 10_000
    assert len(pd.read_csv(out / "report.csv")) == len(compared(load_targets()))
    assert "inside the range:" in capsys.readouterr().out
    # a second fit into the same folder would lose the first: refused before any run
    before = (out / "calibrated.toml").read_bytes()
    assert surge_cli.main(["calibrate", "--executor", "serial", "--out", str(out)]) == 2
    assert "holds an earlier calibration" in capsys.readouterr().err
    # --resume reuses the finished fit and its report runs
    args = ["calibrate", "--report-seeds", "2", "--executor", "serial", "--out", str(out)]
    assert surge_cli.main([*args, "--resume"]) == 0
    assert (out / "calibrated.toml").read_bytes() == before
    assert "legacy_spend_start_usd_bn_per_yr" in (out / "report.md").read_text()


def test_calibrate_command_refuses_bad_input_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "cal"
    assert surge_cli.main(["calibrate", "--params", "chartist_trend_gain", "--out", str(out)]) == 2
    assert "not a free parameter" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("metric,unit\nx,y\n")
    assert surge_cli.main(["calibrate", "--targets", str(bad), "--out", str(out)]) == 2
    assert "missing column" in capsys.readouterr().err
    assert surge_cli.main(["calibrate", "--set", "months=10", "--out", str(out)]) == 2
    assert not out.exists()
