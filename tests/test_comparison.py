"""The strategy comparison: outcome metrics by hand, charts as objects, `surge compare`/`plot`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.comparison import (
    bands_overlap,
    comparison_markdown,
    comparison_metrics,
    comparison_table,
    format_year,
    median_phase_timeline,
    snapshot_months,
    tipping_table,
)
from analysis.comparison_charts import (
    SERIES,
    network_figure,
    phase_timeline_figure,
    save_both,
    scatter_figure,
    series_figure,
)

REPO = Path(__file__).resolve().parents[1]


def tiny_run(scenario: str, seed: int, scale: float) -> pd.DataFrame:
    """Four months, 2030-11 to 2031-02, with round numbers (x scale)."""
    n = 4
    return pd.DataFrame(
        {
            "scenario": scenario,
            "seed": seed,
            "replicate": 0,
            "run_id": f"{scenario}-{seed}",
            "date": pd.date_range("2030-11-01", periods=n, freq="MS"),
            "adoption_share": [0.1, 0.2, 0.3, 0.4],
            "productivity_gain_usd_bn_per_yr": np.array([12.0, 24.0, 36.0, 48.0]) * scale,
            "capex_usd_bn_per_yr": [60.0, 60.0, 0.0, 0.0],
            "energy_twh_per_yr": [12.0, 12.0, 12.0, 12.0],
            "market_value_usd_bn": [100.0, 200.0, 50.0, 150.0],
            "frontier_capability_index": [10.0, 20.0, 30.0, 40.0],
            "stranded_capital_usd_bn": [0.0, 0.0, 5.0, 7.0 * scale],
            "lab_market_value_usd_bn": [10.0, 30.0, 5.0, 25.0],
            "hyperscaler_earnings_usd_bn_per_yr": [12.0, -12.0, 24.0, 0.0],
            "investor_wealth_usd_bn": [1000.0, 1100.0, 900.0, 1200.0],
            "subsidies_usd_bn_per_yr": [0.0, 0.0, 12.0, 12.0],
            "token_price_usd_per_mtok": [10.0, 5.0, 2.0, 1.0],
        }
    )


def tiny_phases(run_id: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": run_id,
            "phase": ["frenzy", "turning_point", "synergy"],
            "start": pd.to_datetime(["2030-11-01", "2030-12-01", "2031-02-01"]),
            "end": pd.to_datetime(["2030-11-01", "2031-01-01", "2031-02-01"]),
            "months": [1, 2, 1],
        }
    )


@pytest.fixture
def tiny():
    runs = [tiny_run("a", 1, 1.0), tiny_run("a", 2, 2.0), tiny_run("b", 1, 3.0)]
    frame = pd.concat(runs, ignore_index=True)
    phases = pd.concat([tiny_phases(r["run_id"].iloc[0]) for r in runs], ignore_index=True)
    return frame, phases


def test_outcomes_of_one_run_match_hand_calculation(tiny):
    frame, phases = tiny
    per_run = comparison_metrics(frame, phases).set_index("run_id")
    r = per_run.loc["a-1"]
    # Adoption in December 2030 is the second row: 0.2; the last month 0.4; no 2040 row.
    assert r["adoption_share_2030"] == pytest.approx(0.2)
    assert np.isnan(r["adoption_share_2040"])
    assert r["adoption_share_end"] == pytest.approx(0.4)
    # Productivity gain (12 + 24 + 36 + 48) / 12 = 10 USD bn; capex (60 + 60) / 12 = 10.
    assert r["cumulative_productivity_gain_usd_bn"] == pytest.approx(10.0)
    assert r["capital_invested_usd_bn"] == pytest.approx(10.0)
    assert r["gain_per_usd_invested"] == pytest.approx(1.0)
    # Energy 4 x 12 / 12 = 4 TWh; capability and stranded capital of the last month.
    assert r["energy_used_twh"] == pytest.approx(4.0)
    assert r["frontier_capability_end_index"] == pytest.approx(40.0)
    assert r["stranded_capital_end_usd_bn"] == pytest.approx(7.0)
    # Market value 100, 200, 50, 150: peak 200, trough 50 -> drawdown 1 - 50/200 = 0.75.
    assert r["max_drawdown_share"] == pytest.approx(0.75)
    # Phase months from the phase table; turning point starts 2030-12 = 2030 + 11/12.
    assert r["months_frenzy"] == 1 and r["months_turning_point"] == 2
    assert r["months_irruption"] == 0 and r["months_maturity"] == 0
    assert r["turning_point_year"] == pytest.approx(2030 + 11 / 12)
    assert format_year(r["turning_point_year"]) == "2030-12"
    # Medians of an even number of runs fall between months: halves round up, both of them
    # (round() would give 2026-09 and 2026-07 for medians a month apart).
    assert format_year(2026 + 7.5 / 12) == "2026-09"
    assert format_year(2026 + 6.5 / 12) == "2026-08"
    # Who gained: labs 25 - 10 = 15; hyperscalers (12 - 12 + 24 + 0) / 12 = 2;
    # investors 1200 - 1000 = 200; subsidies (12 + 12) / 12 = 2.
    assert r["gain_adopters_usd_bn"] == pytest.approx(10.0)
    assert r["gain_labs_usd_bn"] == pytest.approx(15.0)
    assert r["gain_hyperscalers_usd_bn"] == pytest.approx(2.0)
    assert r["gain_investors_usd_bn"] == pytest.approx(200.0)
    assert r["subsidies_paid_usd_bn"] == pytest.approx(2.0)


def test_ensemble_table_and_markdown(tiny):
    frame, phases = tiny
    table = comparison_table(comparison_metrics(frame, phases)).set_index("scenario")
    # Scenario a: gains 10 and 20 -> median 15, p10 = 10 + 0.1 * 10 = 11, p90 = 19.
    a = table.loc["a"]
    assert a["n_runs"] == 2
    assert a["cumulative_productivity_gain_usd_bn_median"] == pytest.approx(15.0)
    assert a["cumulative_productivity_gain_usd_bn_p10"] == pytest.approx(11.0)
    assert a["cumulative_productivity_gain_usd_bn_p90"] == pytest.approx(19.0)
    assert np.isnan(a["adoption_share_2040_median"])  # no run reaches 2040
    # Scenario b alone: gain 30, outside a's band [11, 19]; stranded 21 vs a's [7.7, 13.3].
    b = table.loc["b"]
    assert not bands_overlap(a, b, "cumulative_productivity_gain_usd_bn")
    assert bands_overlap(a, b, "adoption_share_end")  # both exactly 0.4
    text = comparison_markdown(table.reset_index())
    assert (
        "| Cumulative productivity gain | USD bn | 15.0 [11.0 to 19.0] | 30.0 [30.0 to 30.0] |"
        in text
    )


def test_tipping_reversal_is_sign_change_of_median_difference(tiny):
    frame, phases = tiny
    base = comparison_metrics(frame, phases)  # gain: a 15 < b 30; stranded: a 10.5 < b 21
    points = base.assign(parameter="p", value=1)
    flipped = base.copy()
    flipped.loc[flipped["scenario"] == "b", "cumulative_productivity_gain_usd_bn"] = 5.0
    points = pd.concat([points, flipped.assign(parameter="p", value=2)], ignore_index=True)
    tipping = tipping_table(base, points, ["a", "b"]).set_index(["value", "outcome"])
    assert not tipping.loc[(1, "cumulative_productivity_gain_usd_bn"), "reverses"]
    assert tipping.loc[(2, "cumulative_productivity_gain_usd_bn"), "reverses"]
    assert tipping.loc[(2, "cumulative_productivity_gain_usd_bn"), "difference"] == 10.0
    assert not tipping.loc[(2, "stranded_capital_end_usd_bn"), "reverses"]


def test_phase_timeline_and_snapshot_months(tiny):
    frame, phases = tiny
    timeline = median_phase_timeline(phases, frame)
    tp = timeline[(timeline["scenario"] == "a") & (timeline["phase"] == "turning_point")]
    assert tp["start"].iloc[0] == pd.Timestamp("2030-12-01") and tp["months"].iloc[0] == 2
    months = snapshot_months(frame[frame["run_id"] == "a-1"], tiny_phases("a-1"))
    # Turning point starts in the second month (index 1) and ends 2031-01 (index 2).
    assert months == {"peak": 1, "after": 3}


def test_charts_have_expected_panels_and_labels(tiny, tmp_path):
    frame, phases = tiny
    timeline = median_phase_timeline(phases, frame)
    fig, axes = series_figure(frame, timeline)
    assert len(axes) == len(SERIES)
    assert len(fig.axes) == 2 * len(SERIES)  # a phase strip under every panel
    assert [ax.get_ylabel() for ax in axes] == [label for label, _ in SERIES.values()]
    assert all(ax.get_xlabel() == "Date (month)" for ax in axes)
    assert axes[0].get_yscale() == "log"
    assert {line.get_label() for line in axes[2].get_lines()} == {"a", "b"}
    strip = fig.axes[1]
    assert [t.get_text() for t in strip.get_yticklabels()] == ["a", "b"]
    gids = {c.get_gid() for c in strip.collections}
    assert "phase:a:turning_point" in gids

    fig, axes = phase_timeline_figure(timeline)
    assert "Date" in axes[0].get_xlabel()

    per_run = comparison_metrics(frame, phases)
    fig, axes = scatter_figure(per_run)
    assert axes[0].get_xlabel() == "Stranded capital, last month (USD bn, log)"
    assert axes[0].get_xscale() == "log"
    assert axes[0].get_ylabel() == "Cumulative productivity gain (USD bn)"
    assert axes[0].get_legend() is None  # the legend sits below the axes, off the points
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(
        dict.fromkeys(per_run["scenario"])
    )

    net = {
        "date": "2030-12-01",
        "seed": 1,
        "nodes": [
            {"id": "closed_lab_0", "kind": "lab", "value": 5.0},
            {"id": "hyperscaler_0", "kind": "hyperscaler", "value": 9.0},
            {"id": "investors", "kind": "investor", "value": 100.0},
            {"id": "adopters", "kind": "adopter", "value": 3.0},
        ],
        "edges": [
            {"source": "hyperscaler_0", "target": "closed_lab_0", "layer": "compute", "weight": 1},
            {"source": "investors", "target": "closed_lab_0", "layer": "equity", "weight": 2},
            {"source": "investors", "target": "hyperscaler_0", "layer": "debt", "weight": 1},
        ],
    }
    fig, axes = network_figure({"a": {"peak": net, "after": net}, "b": {"peak": net}})
    assert axes.shape == (2, 2)
    assert "frenzy peak" in axes[0, 0].get_title()
    assert not axes[1, 1].axison  # no 'after' snapshot for b
    paths = save_both(fig, tmp_path / "network")
    assert [p.name for p in paths] == ["network.png", "network.svg"]
    assert all(p.stat().st_size > 1000 for p in paths)


def surge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return subprocess.run(
        [sys.executable, "-m", "surge_cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        capture_output=True,
        text=True,
        timeout=300,
    )


TINY = ["--set", "months=60", "--set", "n_adopters=200", "--set", "n_investors=40"]


def test_compare_and_plot_end_to_end(tmp_path):
    out = tmp_path / "cmp"
    done = surge(
        "compare", "us_frontier", "china_diffusion", "--seeds", "2", "--jobs", "2",
        "--no-tipping", "--out", str(out), *TINY, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in ("comparison.csv", "comparison.md", "report.md", "report.html", "networks.json"):
        assert (out / name).is_file(), name
    charts = ["series", "phases", "scatter", "network"]
    for stem in charts:
        assert (out / f"{stem}.png").is_file() and (out / f"{stem}.svg").is_file()
    table = pd.read_csv(out / "comparison.csv")
    assert list(table["scenario"]) == ["us_frontier", "china_diffusion"]
    assert (table["n_runs"] == 2).all()
    report = (out / "report.md").read_text()
    assert "## What differs, in numbers" in report and "![Headline series](series.png)" in report
    assert "<table>" in (out / "report.html").read_text()

    before = {stem: (out / f"{stem}.png").stat().st_mtime_ns for stem in charts}
    (out / "series.png").unlink()
    redrawn = surge("plot", str(out), cwd=tmp_path)
    assert redrawn.returncode == 0, redrawn.stderr
    assert (out / "series.png").is_file()
    assert all((out / f"{s}.png").stat().st_mtime_ns >= before[s] for s in charts[1:])


def test_compare_and_plot_bad_input_is_one_line_exit_2(tmp_path):
    done = surge("compare", "us_frontier", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("surge: error:") and done.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists()
    done = surge("plot", str(tmp_path / "nothing"), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("surge: error:")
