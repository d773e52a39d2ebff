"""The `surge` command line and the run pipeline, end to end on short runs.

Most tests call surge_cli.main() in-process; one runs `python -m surge_cli` in a
subprocess to check that the exit code reaches the shell.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import surge_cli
from sim.run import run_scenario

REPO = Path(__file__).resolve().parents[1]
SHORT = ["--set", "months=36", "--set", "n_adopters=300", "--set", "n_investors=60"]
SHORT_OVERRIDES = {"months": 36, "n_adopters": 300, "n_investors": 60}
TABLE_COLUMNS = [
    "date",
    "scenario",
    "seed",
    "month_index",
    "market_value_usd_bn",
    "fundamental_value_usd_bn",
    "capex_usd_bn_per_yr",
    "capacity_h100e_mn",
    "utilization_share",
    "token_price_usd_per_mtok",
    "adoption_share",
    "frontier_capability_index",
    "stranded_capital_usd_bn",
]


def listing(folder: Path) -> set[str]:
    """Every path under ``folder``, relative, including hidden ones."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """`surge run baseline --seed 7` with the default --out, from an empty folder."""
    cwd = tmp_path_factory.mktemp("default_run")
    old = Path.cwd()
    os.chdir(cwd)
    try:
        code = surge_cli.main(["run", "baseline", "--seed", "7", *SHORT])
    finally:
        os.chdir(old)
    return code, cwd


# ---- the pure run -------------------------------------------------------------------


def test_run_scenario_returns_table_with_scenario_and_seed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = run_scenario("baseline", seed=3, overrides=SHORT_OVERRIDES)
    assert list(table.columns[:3]) == ["date", "scenario", "seed"]
    assert len(table) == 36
    assert (table["scenario"] == "baseline").all()
    assert (table["seed"] == 3).all()
    assert pd.Timestamp(table["date"].iloc[0]) == pd.Timestamp("2018-01-01")
    assert pd.Timestamp(table["date"].iloc[-1]) == pd.Timestamp("2020-12-01")
    assert listing(tmp_path) == set()  # pure: nothing written


def test_run_scenario_same_seed_same_table():
    a = run_scenario("baseline", seed=5, overrides=SHORT_OVERRIDES)
    b = run_scenario("baseline", seed=5, overrides=SHORT_OVERRIDES)
    pd.testing.assert_frame_equal(a, b)


def test_parse_overrides_types():
    got = surge_cli.parse_overrides(
        ["months=36", "herding_strength=0.5", "preference=good_enough", "start_month=2020-01"]
    )
    assert got == {
        "months": 36,
        "herding_strength": 0.5,
        "preference": "good_enough",
        "start_month": "2020-01",
    }
    assert isinstance(got["months"], int)


# ---- a successful run ---------------------------------------------------------------


def test_run_exits_zero_and_writes_all_files_to_default_out(default_run):
    code, cwd = default_run
    assert code == 0
    out = cwd / "out" / "baseline"
    assert sorted(p.name for p in out.iterdir()) == sorted(surge_cli.OUTPUT_FILES)
    assert listing(cwd) == {"out", "out/baseline"} | {
        f"out/baseline/{name}" for name in surge_cli.OUTPUT_FILES
    }  # no temporary folders left behind


def test_timeseries_files_have_the_monthly_table(default_run):
    out = default_run[1] / "out" / "baseline"
    csv = pd.read_csv(out / "timeseries.csv")
    parquet = pd.read_parquet(out / "timeseries.parquet")
    for frame in (csv, parquet):
        assert len(frame) == 36
        assert list(frame.columns[:3]) == ["date", "scenario", "seed"]
        assert set(TABLE_COLUMNS) <= set(frame.columns)
        assert (frame["seed"] == 7).all()
        assert (frame["scenario"] == "baseline").all()
    assert list(csv.columns) == list(parquet.columns)
    assert csv["date"].iloc[0] == "2018-01-01"
    assert pd.Timestamp(parquet["date"].iloc[-1]) == pd.Timestamp("2020-12-01")
    assert csv["market_value_usd_bn"].to_numpy() == pytest.approx(
        parquet["market_value_usd_bn"].to_numpy(), rel=1e-12
    )
    assert (csv["market_value_usd_bn"] > 0).all()


def test_phases_csv_covers_every_month(default_run):
    phases = pd.read_csv(default_run[1] / "out" / "baseline" / "phases.csv")
    assert list(phases.columns) == ["phase", "start", "end", "months"]
    assert phases["months"].sum() == 36
    assert phases["start"].iloc[0] == "2018-01-01"
    assert phases["end"].iloc[-1] == "2020-12-01"
    assert set(phases["phase"]) <= {
        "irruption",
        "frenzy",
        "turning_point",
        "synergy",
        "maturity",
    }


def test_params_json_records_seed_scenario_and_resolved_parameters(default_run):
    manifest = json.loads((default_run[1] / "out" / "baseline" / "params.json").read_text())
    assert manifest["seed"] == 7
    assert manifest["scenario"] == "baseline"
    assert manifest["overrides"] == SHORT_OVERRIDES
    params = manifest["parameters"]
    assert params["run.months"] == 36
    assert params["run.n_adopters"] == 300
    assert params["run.n_investors"] == 60
    assert params["investors.chartist_trend_gain"] > 0  # untouched defaults are there too


def test_overview_png_is_a_png(default_run):
    data = (default_run[1] / "out" / "baseline" / "overview.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_run_prints_phase_table_and_where_files_went(tmp_path, capsys):
    out = tmp_path / "res"
    assert surge_cli.main(["run", "baseline", "--seed", "7", *SHORT, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "phase" in printed.out and "start" in printed.out and "months" in printed.out
    assert "2018-01" in printed.out and "2018-01-01" not in printed.out  # YYYY-MM
    assert str(out) in printed.out
    assert "month" in printed.err  # the progress bar went to stderr


def test_same_seed_gives_byte_identical_csv_and_existing_files_survive(default_run, tmp_path):
    out = tmp_path / "again"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    stale = out / "phases.csv"
    stale.write_text("old")
    assert surge_cli.main(["run", "baseline", "--seed", "7", *SHORT, "--out", str(out)]) == 0
    first = default_run[1] / "out" / "baseline" / "timeseries.csv"
    assert (out / "timeseries.csv").read_bytes() == first.read_bytes()
    assert (out / "notes.txt").read_text() == "mine"
    assert stale.read_text() != "old"  # our own files are replaced
    assert listing(tmp_path) == {"again", "again/notes.txt"} | {
        f"again/{name}" for name in surge_cli.OUTPUT_FILES
    }


def test_different_seed_gives_a_different_run(default_run, tmp_path):
    out = tmp_path / "seed8"
    assert surge_cli.main(["run", "baseline", "--seed", "8", *SHORT, "--out", str(out)]) == 0
    first = default_run[1] / "out" / "baseline" / "timeseries.csv"
    assert (out / "timeseries.csv").read_bytes() != first.read_bytes()


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    import analysis.charts

    def broken(fig, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(analysis.charts, "save_figure", broken)
    fresh = tmp_path / "fresh"
    assert surge_cli.main(["run", "baseline", *SHORT, "--out", str(fresh)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert listing(tmp_path) == set()

    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "timeseries.csv").write_text("previous run")
    assert surge_cli.main(["run", "baseline", *SHORT, "--out", str(kept)]) == 2
    assert (kept / "timeseries.csv").read_text() == "previous run"
    assert listing(tmp_path) == {"kept", "kept/timeseries.csv"}


# ---- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "baselin"], "did you mean 'baseline'"),
        (["run", "no_such_file.toml"], "no_such_file.toml"),
        (["run", "baseline", "--set", "months=abc"], "run.months = 'abc'"),
        (["run", "baseline", "--set", "months=0"], "run.months = 0"),
        (["run", "baseline", "--set", "months=2401"], "[1, 2400]"),
        (["run", "baseline", "--set", "nosuchkey=1"], "unknown key nosuchkey"),
        (["run", "baseline", "--set", "n_adoptrs=300"], "did you mean n_adopters"),
        (["run", "baseline", "--set", "months"], "expected KEY=VALUE"),
        (["run", "baseline", "--set", "=3"], "expected KEY=VALUE"),
        (["run", "baseline", "--seed", "-1"], "seed"),
        (["run", "baseline", "--seed", "abc"], "seed"),
        (["run"], "NAME|FILE"),
        ([], "COMMAND"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    args, expected, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "res"
    # the short-run settings go first so that the bad --set in args wins
    code = surge_cli.main([*args[:2], *SHORT, *args[2:], "--out", str(out)] if args else args)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("surge: error: ")
    assert err.count("\n") == 1
    assert expected in err
    assert not out.exists()
    assert listing(tmp_path) == set()


def test_unwritable_out_fails_before_the_run(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    calls = []
    monkeypatch.setattr("sim.run.SurgeModel", lambda *a, **k: calls.append(a))
    for out in (blocker / "sub", blocker):
        code = surge_cli.main(["run", "baseline", *SHORT, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("surge: error: --out ")
        assert "not a folder" in err
    assert calls == []  # failed fast: no model was built
    assert listing(tmp_path) == {"a_file"}
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_parent_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code = surge_cli.main(["run", "baseline", *SHORT, "--out", str(locked / "res")])
    finally:
        locked.chmod(0o700)
    assert code == 2
    assert "no permission" in capsys.readouterr().err
    assert listing(locked) == set()


def test_help_exits_zero_with_examples(capsys):
    assert surge_cli.main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--set KEY=VALUE" in text
    assert "surge run no_speculation --seed 3" in text


def test_module_entry_point_exit_code(tmp_path):
    out = tmp_path / "res"
    done = subprocess.run(
        [sys.executable, "-m", "surge_cli", "run", "baselin", *SHORT, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("surge: error: unknown scenario 'baselin'")
    assert "did you mean 'baseline'" in done.stderr
    assert done.stdout == ""
    assert not out.exists()
