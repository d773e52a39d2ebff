"""Batches (sim.batch, sim.executors) and their results (analysis.results), on tiny runs.

One small plan (2 scenarios x 2 grid values x 2 seeds, 36 months, few agents) is run
once serially; the other executors, a reversed task order, resumed and interrupted
batches must give byte-identical files for every run id.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import surge_cli
from analysis.results import (
    HEADLINE_METRICS,
    QUANTILES,
    ResultsError,
    load_manifest,
    load_phases,
    load_results,
    summarise,
)
from sim.batch import (
    LOCK,
    MANIFEST,
    BatchError,
    BatchInterrupted,
    param_hash,
    plan_batch,
    run_batch,
    seed_for,
)
from sim.executors import ExecutorError, TaskError, map_runs
from sim.params import ScenarioError, load_scenario

REPO = Path(__file__).resolve().parents[1]
SHORT = {"months": 36, "n_adopters": 200, "n_investors": 40}
SHORT_ARGS = ["--set", "months=36", "--set", "n_adopters=200", "--set", "n_investors=40"]
GRID = {"herding_strength": [0.1, 0.4]}
ROOT_SEED = 5


def make_plan(**changes):
    spec = {
        "scenarios": ["baseline", "no_speculation"],
        "seeds": 2,
        "root_seed": ROOT_SEED,
        "grid": GRID,
        "overrides": SHORT,
    }
    spec.update(changes)
    return plan_batch(**spec)


def result_bytes(folder: Path) -> dict[str, bytes]:
    """Every table and phase file of a results folder: file name -> bytes."""
    runs = folder / "runs"
    return {
        p.name: p.read_bytes()
        for p in sorted(runs.iterdir())
        if p.name.endswith((".parquet", ".phases.csv"))
    }


def quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def plan():
    return make_plan()


@pytest.fixture(scope="module")
def serial_folder(plan, tmp_path_factory):
    """The reference: the plan run serially, uninterrupted."""
    folder = tmp_path_factory.mktemp("serial") / "batch"
    result = run_batch(plan, folder, executor="serial", log=quiet)
    assert result.exit_code == 0
    return folder


# ---- seeds and identity -------------------------------------------------------------


def test_seed_for_is_the_kth_spawned_child():
    for root in (0, 5, 2**40):
        children = np.random.SeedSequence(root).spawn(6)
        for k in range(6):
            assert seed_for(root, k) == int(children[k].generate_state(1)[0])
    assert len({seed_for(5, k) for k in range(50)}) == 50


def test_seeds_depend_only_on_root_seed_and_replicate(plan):
    reordered = plan_batch(
        ["no_speculation", "baseline"],
        seeds=2,
        root_seed=ROOT_SEED,
        grid={"investors.herding_strength": [0.4, 0.1]},
        overrides=SHORT,
    )
    seeds = {(t.scenario_name, tuple(t.grid.items()), t.replicate): t.seed for t in plan.tasks}
    again = {(t.scenario_name, tuple(t.grid.items()), t.replicate): t.seed for t in reordered.tasks}
    assert seeds == again
    assert {t.run_id for t in plan.tasks} == {t.run_id for t in reordered.tasks}
    # Common random numbers: replicate k has the same seed in every scenario and grid point.
    for task in plan.tasks:
        assert task.seed == seed_for(ROOT_SEED, task.replicate)
    assert len({t.seed for t in plan.tasks}) == 2
    # More seeds extend the list without changing the first ones.
    bigger = make_plan(seeds=4)
    assert [seed_for(ROOT_SEED, k) for k in range(2)] == bigger.spec["replicate_seeds"][:2]


def test_run_id_is_a_hash_of_parameters_and_seed(plan):
    task = plan.tasks[0]
    params = load_scenario(task.scenario, task.overrides)
    assert param_hash(params) == task.param_hash
    assert len(task.run_id) == 12
    assert len({t.run_id for t in plan.tasks}) == len(plan.tasks) == 8
    # A different value of any parameter gives another hash.
    other = load_scenario(task.scenario, {**task.overrides, "months": 37})
    assert param_hash(other) != task.param_hash


def test_plan_rejects_bad_input_before_running():
    with pytest.raises(ScenarioError, match="did you mean herding_strength"):
        make_plan(grid={"herding_strenght": [0.1]})
    with pytest.raises(ScenarioError, match="herding_strength"):
        make_plan(grid={"herding_strength": [0.1, -1.0]})  # out of range
    with pytest.raises(ScenarioError, match="unknown scenario 'baselin'"):
        make_plan(scenarios=["baselin"])
    with pytest.raises(BatchError, match="at least 1"):
        make_plan(seeds=0)
    with pytest.raises(BatchError, match="also given with --set"):
        make_plan(grid={"run.months": [24, 36]})
    with pytest.raises(BatchError, match="same parameters"):
        make_plan(scenarios=["baseline", "baseline"])


# ---- executors ----------------------------------------------------------------------


def test_reversed_task_order_gives_the_same_files(plan, serial_folder, tmp_path):
    backwards = dataclasses.replace(plan, tasks=plan.tasks[::-1])
    run_batch(backwards, tmp_path / "b", executor="serial", log=quiet)
    assert result_bytes(tmp_path / "b") == result_bytes(serial_folder)
    # The manifest lists runs in task order, whatever the completion order.
    order = [r["run_id"] for r in load_manifest(tmp_path / "b")["runs"]]
    assert order == [t.run_id for t in backwards.tasks]


@pytest.mark.parametrize("executor", ["process", "dask"])
def test_executors_give_byte_identical_tables(plan, serial_folder, tmp_path, executor):
    folder = tmp_path / executor
    result = run_batch(plan, folder, executor=executor, jobs=2, log=quiet)
    assert result.exit_code == 0 and result.ok == 8
    reference = result_bytes(serial_folder)
    assert len(reference) == 16
    assert result_bytes(folder) == reference
    workers = {r["worker"] for r in load_manifest(folder)["runs"]}
    assert all(w.split(":")[1] != str(os.getpid()) for w in workers)  # ran elsewhere


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork server here"
)
def test_process_workers_start_with_the_model_imported():
    """Workers fork from a server that has imported the model, so no worker spends its
    first second importing Mesa and Surge (a spawned worker starts without them)."""
    from sim.executors import WORKER_MODULES, _worker_context

    with ProcessPoolExecutor(max_workers=1, mp_context=_worker_context()) as pool:
        check = f"[m for m in {WORKER_MODULES!r} if m not in __import__('sys').modules]"
        assert pool.submit(eval, check).result() == []


def test_dask_with_a_scheduler_address_uses_that_cluster(plan, serial_folder, tmp_path):
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        folder = tmp_path / "remote"
        result = run_batch(plan, folder, executor="dask", scheduler=address, log=quiet)
        assert result.exit_code == 0
        with Client(address) as client:  # still up: map_runs closes only what it starts
            assert len(client.scheduler_info()["workers"]) == 1
    assert result_bytes(folder) == result_bytes(serial_folder)


def test_map_runs_yields_every_task_with_its_outcome(plan):
    tasks = list(plan.tasks[:2])
    broken = dataclasses.replace(tasks[1], param_hash="0" * 64)
    got = dict((t.run_id, out) for t, out in map_runs([tasks[0], broken], "serial"))
    assert isinstance(got[tasks[0].run_id]["table"], pd.DataFrame)
    assert isinstance(got[broken.run_id], TaskError)
    assert "resolve to hash" in str(got[broken.run_id])
    with pytest.raises(ExecutorError, match="unknown executor"):
        map_runs(tasks, "threads")
    with pytest.raises(ExecutorError, match="--scheduler needs --executor dask"):
        map_runs(tasks, "process", scheduler="tcp://127.0.0.1:1")


# ---- failures -----------------------------------------------------------------------


def _scenario(folder: Path, name: str, herding: float) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\ndescription = "test"\nclaim = "none"\nextends = "baseline"\n\n'
        f"[investors]\nherding_strength = {herding}\n"
    )
    return path


def test_a_failing_run_is_recorded_and_the_batch_goes_on(tmp_path):
    good = _scenario(tmp_path, "good", 0.2)
    doomed = _scenario(tmp_path, "doomed", 0.3)
    plan = plan_batch([str(good), str(doomed)], seeds=2, root_seed=1, overrides=SHORT)
    doomed.unlink()  # valid when planned, gone when the worker loads it
    out = tmp_path / "out"
    result = run_batch(plan, out, executor="process", jobs=2, log=quiet)
    assert result.exit_code == 1
    assert (result.ok, result.failed) == (2, 2)
    manifest = load_manifest(out)
    assert manifest["counts"] == {"tasks": 4, "ok": 2, "failed": 2, "pending": 0}
    for record in manifest["runs"]:
        on_disk = json.loads((out / "runs" / f"{record['run_id']}.json").read_text())
        assert on_disk["status"] == record["status"]
        parquet = out / "runs" / f"{record['run_id']}.parquet"
        if record["scenario"] == "doomed":
            assert record["status"] == "failed"
            assert "Traceback (most recent call last)" in record["error"]
            assert "scenario file not found" in record["error"]
            assert not parquet.exists()
        else:
            assert record["status"] == "ok" and record["error"] is None
            assert parquet.exists()
    assert not (out / LOCK).exists()
    # load_results skips the failed runs.
    assert set(load_results(out)["scenario"]) == {"good"}
    # Put the file back: --resume reruns only the failed runs.
    _scenario(tmp_path, "doomed", 0.3)
    again = run_batch(plan, out, executor="serial", resume=True, log=quiet)
    assert again.exit_code == 0 and again.skipped == 2 and again.ok == 4


def test_a_scenario_edited_after_planning_fails_instead_of_mislabelling(tmp_path):
    path = _scenario(tmp_path, "edited", 0.2)
    plan = plan_batch([str(path)], seeds=1, overrides=SHORT)
    _scenario(tmp_path, "edited", 0.5)  # valid, but not what was planned and hashed
    result = run_batch(plan, tmp_path / "out", executor="serial", log=quiet)
    assert result.exit_code == 1
    assert "changed since" in result.records[0]["error"]


def test_cli_exit_code_1_when_a_run_fails(tmp_path, monkeypatch, capsys):
    import sim.run

    real = sim.run.run_scenario
    bad_seed = seed_for(0, 1)

    def flaky(scenario, seed=0, overrides=None, progress=False):
        if seed == bad_seed:
            raise RuntimeError("boom in the model")
        return real(scenario, seed=seed, overrides=overrides, progress=progress)

    monkeypatch.setattr(sim.run, "run_scenario", flaky)
    out = tmp_path / "out"
    args = ["batch", "baseline", "--seeds", "3", "--executor", "serial", "--out", str(out)]
    code = surge_cli.main([*args, *SHORT_ARGS])
    text = capsys.readouterr().out
    assert code == 1
    assert "2 ok" in text and "1 failed" in text and "boom in the model" in text
    (failed,) = [r for r in load_manifest(out)["runs"] if r["status"] == "failed"]
    assert failed["seed"] == bad_seed and failed["replicate"] == 1
    assert "RuntimeError: boom in the model" in failed["error"]


# ---- interruption and resume --------------------------------------------------------


def test_resume_after_a_simulated_crash_gives_identical_files(plan, serial_folder, tmp_path):
    folder = tmp_path / "crashed"
    shutil.copytree(serial_folder, folder)
    runs = folder / "runs"
    ids = [t.run_id for t in plan.tasks]
    for run_id in ids[:3]:  # never finished
        (runs / f"{run_id}.json").unlink()
        (runs / f"{run_id}.parquet").unlink()
        (runs / f"{run_id}.phases.csv").unlink()
    (runs / f"{ids[3]}.parquet").unlink()  # record says ok but the table is gone
    record = json.loads((runs / f"{ids[4]}.json").read_text())
    (runs / f"{ids[4]}.json").write_text(json.dumps({**record, "status": "failed"}))
    (runs / f".{ids[5]}.parquet.x1.tmp").write_bytes(b"half a file")
    text = (folder / MANIFEST).read_text()
    (folder / MANIFEST).write_text(text[: len(text) // 2])  # torn
    untouched = (runs / f"{ids[6]}.json").read_bytes()

    with pytest.raises(BatchError, match="--resume"):
        run_batch(plan, folder, executor="serial", log=quiet)
    messages = []
    result = run_batch(plan, folder, executor="serial", resume=True, log=messages.append)
    assert result.exit_code == 0
    assert (result.skipped, result.ok) == (3, 8)
    assert any("3 already ok, 5 to run" in m for m in messages)
    assert result_bytes(folder) == result_bytes(serial_folder)
    assert (runs / f"{ids[6]}.json").read_bytes() == untouched  # kept, not rerun
    assert not list(runs.glob(".*.tmp"))
    manifest = load_manifest(folder)
    assert manifest["counts"]["ok"] == 8
    assert [r["run_id"] for r in manifest["runs"]] == ids


def test_resume_after_kill_9_gives_identical_files(tmp_path):
    """A real batch in a subprocess is killed with SIGKILL mid-way, then resumed."""
    spec = {"scenarios": ["baseline"], "seeds": 16, "root_seed": 9, "overrides": SHORT}
    reference = tmp_path / "reference"
    run_batch(plan_batch(**spec), reference, executor="serial", log=quiet)

    folder = tmp_path / "killed"
    script = textwrap.dedent(
        f"""
        from sim.batch import plan_batch, run_batch
        if __name__ == "__main__":
            run_batch(plan_batch(**{spec!r}), {str(folder)!r}, executor="serial")
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        while len(list(folder.glob("runs/*.json"))) < 4:
            assert proc.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    records = list(folder.glob("runs/*.json"))
    assert 4 <= len(records) < 16
    assert (folder / LOCK).exists()  # stale: its process is gone
    for path in records:  # only complete records, each with its table
        record = json.loads(path.read_text())
        assert record["status"] == "ok"
        pd.read_parquet(folder / "runs" / f"{record['run_id']}.parquet")
    json.loads((folder / MANIFEST).read_text())  # never torn

    messages = []
    result = run_batch(
        plan_batch(**spec), folder, executor="process", jobs=2, resume=True, log=messages.append
    )
    assert result.exit_code == 0 and result.ok == 16 and result.skipped >= 4
    assert any("stale lock" in m for m in messages)
    assert not (folder / LOCK).exists()
    assert result_bytes(folder) == result_bytes(reference)


def test_ctrl_c_keeps_finished_runs_and_releases_the_lock(tmp_path, monkeypatch):
    import sim.run

    real = sim.run.run_scenario
    calls = []

    def interrupted_third(scenario, seed=0, overrides=None, progress=False):
        calls.append(seed)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(scenario, seed=seed, overrides=overrides, progress=progress)

    monkeypatch.setattr(sim.run, "run_scenario", interrupted_third)
    plan = plan_batch(["baseline"], seeds=4, overrides=SHORT)
    folder = tmp_path / "out"
    with pytest.raises(BatchInterrupted) as info:
        run_batch(plan, folder, executor="serial", log=quiet)
    assert len(info.value.result.records) == 2
    assert not (folder / LOCK).exists()
    assert load_manifest(folder)["counts"] == {"tasks": 4, "ok": 2, "failed": 0, "pending": 2}
    monkeypatch.setattr(sim.run, "run_scenario", real)
    result = run_batch(plan, folder, executor="serial", resume=True, log=quiet)
    assert result.exit_code == 0 and result.skipped == 2


# ---- folders and locks --------------------------------------------------------------


def test_live_lock_refuses_a_second_batch(plan, tmp_path, capsys):
    folder = tmp_path / "busy"
    folder.mkdir()
    lock = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2025-01-01T00:00:00Z"}
    (folder / LOCK).write_text(json.dumps(lock))
    with pytest.raises(BatchError, match="in use by another batch"):
        run_batch(plan, folder, executor="serial", log=quiet)
    args = ["batch", "baseline", "--seeds", "1", "--executor", "serial", "--out", str(folder)]
    assert surge_cli.main([*args, *SHORT_ARGS]) == 2
    err = capsys.readouterr().err
    assert err.startswith("surge: error:") and "in use by another batch" in err
    assert err.count("\n") == 1
    assert sorted(p.name for p in folder.iterdir()) == [LOCK]  # nothing written, lock kept
    assert json.loads((folder / LOCK).read_text()) == lock


def test_stale_lock_is_taken_over_with_a_warning(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    folder = tmp_path / "stale"
    folder.mkdir()
    (folder / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    messages = []
    plan = plan_batch(["baseline"], seeds=1, overrides=SHORT)
    result = run_batch(plan, folder, executor="serial", log=messages.append)
    assert result.exit_code == 0
    assert any("warning: taking over the stale lock" in m for m in messages)
    assert not (folder / LOCK).exists()


def test_existing_batch_folder_is_protected(plan, serial_folder, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(serial_folder, folder)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(BatchError, match="different batch.*seeds 2 there, 3 now"):
        run_batch(make_plan(seeds=3), folder, executor="serial", log=quiet)
    with pytest.raises(BatchError, match="different batch"):
        run_batch(make_plan(seeds=3), folder, executor="serial", resume=True, log=quiet)
    with pytest.raises(BatchError, match="already holds this batch.*--resume"):
        run_batch(plan, folder, executor="serial", log=quiet)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    # With --resume the same batch has nothing left to do and changes no result file.
    result = run_batch(plan, folder, executor="serial", resume=True, log=quiet)
    assert result.skipped == 8 and result.exit_code == 0
    assert result_bytes(folder) == result_bytes(serial_folder)


def test_a_foreign_manifest_is_never_overwritten(plan, tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / MANIFEST).write_text('{"name": "somebody else\'s file"}')
    for resume in (False, True):
        with pytest.raises(BatchError, match="not the manifest of a Surge batch"):
            run_batch(plan, folder, executor="serial", resume=resume, log=quiet)
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST]


# ---- results ------------------------------------------------------------------------


def test_load_results_is_one_tidy_frame(plan, serial_folder):
    frame = load_results(serial_folder)
    assert len(frame) == 8 * 36
    assert list(frame.columns[:6]) == [
        "scenario",
        "investors.herding_strength",
        "seed",
        "replicate",
        "run_id",
        "date",
    ]
    assert {"market_value_usd_bn", "adoption_share", "stranded_capital_usd_bn"} <= set(frame)
    assert set(frame["run_id"]) == {t.run_id for t in plan.tasks}
    assert set(frame["scenario"]) == {"baseline", "no_speculation"}
    assert set(frame["investors.herding_strength"]) == {0.1, 0.4}
    assert set(frame["seed"]) == {seed_for(ROOT_SEED, 0), seed_for(ROOT_SEED, 1)}
    one = frame[frame["run_id"] == plan.tasks[0].run_id]
    table = pd.read_parquet(serial_folder / "runs" / f"{plan.tasks[0].run_id}.parquet")
    np.testing.assert_array_equal(one["market_value_usd_bn"], table["market_value_usd_bn"])
    phases = load_phases(serial_folder)
    assert set(phases["run_id"]) == set(frame["run_id"])
    assert (phases.groupby("run_id")["months"].sum() == 36).all()


def test_summarise_gives_medians_inside_the_10_90_band(serial_folder):
    summary = summarise(load_results(serial_folder))
    assert len(summary) == 4  # 2 scenarios x 2 grid values
    assert list(summary.columns[:3]) == ["scenario", "investors.herding_strength", "runs"]
    assert (summary["runs"] == 2).all()
    names = [*HEADLINE_METRICS]
    names += [f"{p}_{x}" for p in ("irruption", "frenzy") for x in ("start", "months")]
    for name in names:
        lo, mid, hi = (summary[f"{name}_{q}"] for q in ("p10", "median", "p90"))
        present = mid.notna()
        assert (lo[present] <= mid[present]).all() and (mid[present] <= hi[present]).all(), name
    assert set(QUANTILES) == {"p10", "median", "p90"}
    assert (summary["irruption_start_median"] == pd.Timestamp("2018-01-01")).all()
    assert (summary["irruption_share"] == 1.0).all()
    # Without the folder the phases are detected again from the tables: same answer.
    frame = load_results(serial_folder)
    frame.attrs.pop("folder")
    pd.testing.assert_frame_equal(summarise(frame), summary)


def test_load_results_survives_a_torn_manifest(serial_folder, tmp_path):
    folder = tmp_path / "torn"
    shutil.copytree(serial_folder, folder)
    (folder / MANIFEST).write_text("{")
    with pytest.raises(ResultsError, match="cannot be read"):
        load_manifest(folder)
    with pytest.warns(UserWarning, match="read 8 run records"):
        frame = load_results(folder)
    assert len(frame) == 8 * 36
    with pytest.raises(ResultsError, match="no manifest.json"):
        load_results(tmp_path)
