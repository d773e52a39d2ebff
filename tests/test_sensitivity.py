"""Global sensitivity analysis: sens bounds, the SALib design, the batch and the analysis."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import surge_cli
from analysis.results import load_manifest
from analysis.sensitivity import OUTPUTS, analyse, run_outputs, write_report
from sim.batch import plan_batch, plan_points, run_batch
from sim.params import (
    GROUPS,
    ScenarioError,
    check_sens_bounds,
    load_scenario,
    p,
    sens_fields,
)
from sim.sensitivity import (
    SensitivityError,
    plan_study,
    problem,
    resolve_parameters,
    sample,
    to_points,
)

SHORT = {"months": 36, "n_adopters": 200, "n_investors": 40}
SHORT_ARGS = ["--set", "months=36", "--set", "n_adopters=200", "--set", "n_investors=40"]
MORRIS_PARAMS = [
    "investors.chartist_trend_gain",
    "hyperscalers.build_lead_months",
    "hyperscalers.tobin_q_sensitivity",
]


def quiet(message: str) -> None:
    pass


# ---- sens metadata ----------------------------------------------------------------------


def test_every_sens_bound_lies_inside_the_parameter_range_and_holds_the_default():
    found = sens_fields()
    assert len(found) >= 15
    for dotted, f in found.items():
        low, high = f.metadata["sens"]
        lo, hi = f.metadata["lo"], f.metadata["hi"]
        assert lo <= low < high <= hi, dotted
        assert low <= f.default <= high, dotted
    assert resolve_parameters("all") == list(found)


@pytest.mark.parametrize(
    "sens, match",
    [
        ((0.5, 3.0), "outside the parameter's range"),
        ((-1.0, 1.0), "outside the parameter's range"),
        ((1.5, 0.5), "low < high"),
        ((1.0, float("nan")), "low < high"),
        (("a", 1.0), "low < high"),
    ],
)
def test_a_bad_sens_bound_raises(sens, match):
    @dataclasses.dataclass(frozen=True)
    class Bad:
        x: float = p(1.0, 0.0, 2.0, "-", "a test parameter", sens=sens)

    with pytest.raises(ScenarioError, match=match):
        check_sens_bounds("test", dataclasses.fields(Bad)[0])


def test_sens_bounds_are_checked_for_every_group_at_import():
    for group, cls in GROUPS.items():
        for f in dataclasses.fields(cls):
            check_sens_bounds(group, f)  # none raises
    str_field = next(f for f in dataclasses.fields(GROUPS["adopters"]) if f.name == "preference")
    bad = dataclasses.field(default="x", metadata={**str_field.metadata, "sens": (0, 1)})
    bad.name, bad.type = "preference", "str"
    with pytest.raises(ScenarioError, match="numeric"):
        check_sens_bounds("adopters", bad)


def test_unknown_or_unbounded_parameters_are_refused():
    with pytest.raises(SensitivityError, match="did you mean herding_strength"):
        resolve_parameters("herding_strenght")
    with pytest.raises(SensitivityError, match="no sensitivity bounds"):
        resolve_parameters("herding_strength,months")
    with pytest.raises(SensitivityError, match="twice"):
        resolve_parameters("herding_strength,investors.herding_strength")
    assert resolve_parameters("herding_strength, build_lead_months") == [
        "investors.herding_strength",
        "hyperscalers.build_lead_months",
    ]


def test_integer_parameters_are_rounded_and_the_design_is_reproducible():
    prob = problem(["hyperscalers.build_lead_months", "investors.herding_strength"])
    design = sample(prob, "sobol", 8, seed=3)
    assert design.shape == (8 * 4, 2)
    assert np.array_equal(design, sample(prob, "sobol", 8, seed=3))
    points = to_points(prob, design)
    assert all(isinstance(pt["hyperscalers.build_lead_months"], int) for pt in points)
    assert all(6 <= pt["hyperscalers.build_lead_months"] <= 24 for pt in points)
    with pytest.raises(SensitivityError, match="power of 2"):
        sample(prob, "sobol", 12, seed=3)


def test_plan_points_shares_runs_of_repeated_points_and_leaves_plan_batch_alone():
    points = [
        {"herding_strength": 0.1},
        {"investors.herding_strength": 0.1},
        {"herding_strength": 0.4},
    ]
    plan = plan_points("baseline", points, seeds=2, root_seed=5, overrides=SHORT)
    assert len(plan.tasks) == 4  # two distinct points x two seeds
    assert plan.point_hashes[0] == plan.point_hashes[1] != plan.point_hashes[2]
    grid = plan_batch(
        ["baseline"], seeds=2, root_seed=5, grid={"herding_strength": [0.1, 0.4]}, overrides=SHORT
    )
    # the same parameters and seeds give the same run ids as a grid batch
    assert {t.run_id for t in grid.tasks} == {t.run_id for t in plan.tasks}
    with pytest.raises(ScenarioError):
        plan_points("baseline", [{"herding_strength": -1.0}])


# ---- the analysis on a known function ---------------------------------------------------


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_ishigami_sobol_indices_match_the_analytic_values():
    prob = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
    design = sample(prob, "sobol", 2048, seed=11)
    points = pd.DataFrame({"y": ishigami(design)})
    indices, skipped = analyse("sobol", prob, design, points, seed=11, outputs=["y"])
    assert not skipped
    expected_s1 = [0.3139, 0.4424, 0.0]
    expected_st = [0.5576, 0.4424, 0.2437]
    for i, row in indices.iterrows():
        assert abs(row["S1"] - expected_s1[i]) <= 2 * row["S1_conf"] + 0.01, row
        assert abs(row["ST"] - expected_st[i]) <= 2 * row["ST_conf"] + 0.01, row


def test_ishigami_morris_ranks_x3_above_zero_and_x2_linear_free():
    prob = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
    design = sample(prob, "morris", 100, seed=2)
    points = pd.DataFrame({"y": ishigami(design)})
    indices, _ = analyse("morris", prob, design, points, seed=2, outputs=["y"])
    assert (indices["mu_star"] > 0).all()
    # x3 acts only through its interaction with x1: large sigma relative to mu
    x3 = indices.set_index("parameter").loc["x3"]
    assert x3["sigma"] > abs(x3["mu"])


def test_nan_and_constant_outputs_are_left_out_with_a_reason():
    prob = {"num_vars": 2, "names": ["a", "b"], "bounds": [[0, 1]] * 2}
    design = sample(prob, "morris", 4, seed=0)
    points = pd.DataFrame(
        {
            "y": design[:, 0] + 2 * design[:, 1],
            "flat": np.ones(len(design)),
            "gap": np.where(np.arange(len(design)) == 0, np.nan, 1.0),
        }
    )
    indices, skipped = analyse("morris", prob, design, points, 0, outputs=["y", "flat", "gap"])
    assert set(indices["output"]) == {"y"}
    assert "constant" in skipped["flat"] and "NaN" in skipped["gap"]


# ---- a small study of the model ---------------------------------------------------------


@pytest.fixture(scope="module")
def morris_study():
    return plan_study(
        "baseline", "morris", MORRIS_PARAMS, n=2, seeds=1, root_seed=3, overrides=SHORT
    )


def _report(study, folder: Path) -> dict[str, bytes]:
    write_report(
        folder,
        folder / "batch",
        study.method,
        study.problem,
        study.design,
        study.plan.point_hashes,
        study.meta(),
        study.seed,
    )
    names = ("indices.csv", "outputs.csv", "run_outputs.csv", "summary.md")
    return {name: (folder / name).read_bytes() for name in names}


def test_morris_study_on_a_dask_cluster_equals_the_process_pool(morris_study, tmp_path):
    from dask.distributed import LocalCluster

    study = morris_study
    assert len(study.plan.tasks) == 2 * (len(MORRIS_PARAMS) + 1)
    local = run_batch(
        study.plan,
        tmp_path / "p" / "batch",
        executor="process",
        jobs=2,
        log=quiet,
        manifest_every_s=3600.0,  # manifest written at the first run and at the end only
    )
    assert local.exit_code == 0
    counts = load_manifest(tmp_path / "p" / "batch")["counts"]
    assert counts["ok"] == len(study.plan.tasks) and counts["pending"] == 0
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        remote = run_batch(
            study.plan, tmp_path / "d" / "batch", executor="dask", scheduler=address, log=quiet
        )
    assert remote.exit_code == 0
    a, b = _report(study, tmp_path / "p"), _report(study, tmp_path / "d")
    assert a == b
    indices = pd.read_csv(tmp_path / "p" / "indices.csv")
    assert {"mu_star", "mu_star_conf", "sigma"} <= set(indices.columns)
    assert set(indices["parameter"]) == set(MORRIS_PARAMS)
    assert not indices.empty
    runs = run_outputs(tmp_path / "p" / "batch")
    assert len(runs) == len(study.plan.tasks) and set(OUTPUTS) <= set(runs.columns)
    # 36-month runs end before 2035: that output is reported as not analysed
    assert "adoption share 2035**: not analysed" in a["summary.md"].decode()
    assert list((tmp_path / "p").glob("morris_*.png"))


# ---- command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--params", "nonexistent_param"], "unknown key"),
        (["--params", "months"], "no sensitivity bounds"),
        (["--params", "herding_strength", "--method", "sobol", "--n", "6"], "power of 2"),
        (["--params", "herding_strength", "--method", "fast"], "invalid choice"),
        (["--params", "herding_strength", "--n", "0"], "must be at least 1"),
        (["--params", "herding_strength", "--scheduler", "tcp://x:1"], "--executor dask"),
        (["--params", "herding_strength", "--set", "herding_strength=1"], "also sampled"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(args, message, tmp_path, capsys):
    out = tmp_path / "study"
    base = {"--method": "morris", "--n": "2"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    merged = {**base, **given}
    argv = ["sensitivity", "baseline", *[x for kv in merged.items() for x in kv]]
    code = surge_cli.main([*argv, "--out", str(out), *SHORT_ARGS])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("surge: error:") and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_cli_unknown_scenario_exits_2(tmp_path, capsys):
    argv = ["sensitivity", "no_such_scenario", "--method", "morris", "--params", "all"]
    code = surge_cli.main([*argv, "--n", "2", "--out", str(tmp_path / "s")])
    assert code == 2 and "unknown scenario" in capsys.readouterr().err


def test_cli_sobol_study_writes_its_files_and_resumes(tmp_path, capsys):
    out = tmp_path / "sobol"
    argv = [
        "sensitivity", "baseline", "--method", "sobol",
        "--params", "herding_strength,build_lead_months", "--n", "4",
        "--executor", "serial", "--out", str(out), *SHORT_ARGS,
    ]  # fmt: skip
    assert surge_cli.main(argv) == 0
    names = {p.name for p in out.iterdir()}
    assert {"batch", "indices.csv", "outputs.csv", "summary.md", "study.json"} <= names
    indices = pd.read_csv(out / "indices.csv")
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(indices.columns)
    first = (out / "indices.csv").read_bytes()
    assert surge_cli.main(argv) == 2  # the folder holds this study: needs --resume
    assert "--resume" in capsys.readouterr().err
    assert surge_cli.main([*argv, "--resume"]) == 0
    assert (out / "indices.csv").read_bytes() == first
    assert load_scenario("baseline").investors.herding_strength == 0.6  # nothing leaked
