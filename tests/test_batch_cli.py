"""`surge list`, `show`, `batch` and `summary` end to end, as a user runs them.

Every command runs in a subprocess through the installed `surge` console script when it
belongs to this Python environment (after `make test`), else through
`python -m surge_cli`, from an empty working folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHORT = ["--set", "months=36", "--set", "n_adopters=200", "--set", "n_investors=40"]


def _command() -> list[str]:
    """The `surge` console script of this environment if installed, else the module."""
    here = Path(sys.executable).parent / "surge"  # `make test` runs .venv/bin/python
    if here.is_file() and os.access(here, os.X_OK):
        return [str(here)]
    script = shutil.which("surge")
    if script and Path(script).resolve().parent == Path(sys.executable).resolve().parent:
        return [script]
    return [sys.executable, "-m", "surge_cli"]


COMMAND = _command()


def surge(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def line_of(path: Path, startswith: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.startswith(startswith))


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory):
    """`surge batch baseline no_speculation --seeds 3 --grid ... --jobs 2` with default --out."""
    cwd = tmp_path_factory.mktemp("cli_batch")
    done = surge(
        "batch", "baseline", "no_speculation", "--seeds", "3",
        "--grid", "herding_strength=0.1,0.4", "--jobs", "2", *SHORT, cwd=cwd,
    )  # fmt: skip
    return cwd, done


# ---- list and show --------------------------------------------------------------------


def test_list_shows_scenarios_with_descriptions(tmp_path):
    done = surge("list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    names = [line.split()[0] for line in lines]
    assert {"baseline", "no_speculation"} <= set(names)
    assert names == sorted(names)
    by_name = dict(zip(names, lines, strict=True))
    assert "every investor is a fundamentalist" in by_name["no_speculation"]
    # Descriptions start in one column.
    starts = {len(line) - len(line[len(name) :].lstrip()) for name, line in by_name.items()}
    assert len(starts) == 1
    assert listing(tmp_path) == set()


def test_show_gives_values_units_and_their_source_lines(tmp_path):
    done = surge("show", "no_speculation", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    line = next(x for x in lines if x.split()[:1] == ["chartist_share_start"])
    toml = REPO / "scenarios" / "no_speculation.toml"
    number = line_of(toml, "chartist_share_start")
    assert line.split()[1] == "0.0"
    assert line.endswith(f"scenarios/no_speculation.toml:{number}")
    months = next(x for x in lines if x.split()[:1] == ["months"])
    assert months.split()[1:] == ["480", "months", "default"]
    assert "[investors]" in lines and "[run]" in lines
    assert listing(tmp_path) == set()


def test_show_follows_the_extends_chain_and_set(tmp_path):
    child = tmp_path / "child.toml"
    ablation = REPO / "scenarios" / "no_speculation.toml"
    child.write_text(
        f'name = "child"\ndescription = "d"\nclaim = "c"\nextends = "{ablation}"\n\n'
        "[run]\nmonths = 120\n\n[investors]\nherding_strength = 0.5\n"
    )
    done = surge("show", "child.toml", "--set", "n_adopters=300", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {x.split()[0]: x for x in done.stdout.splitlines() if x.startswith("  ")}
    assert rows["months"].endswith(f"child.toml:{line_of(child, 'months')}")
    herding = line_of(child, "herding_strength")
    assert herding == 10
    assert rows["herding_strength"].endswith(f"child.toml:{herding}")  # child beats parent
    share_line = line_of(ablation, "chartist_share_start")
    assert rows["chartist_share_start"].endswith(f"no_speculation.toml:{share_line}")
    assert rows["n_adopters"].split()[1] == "300" and rows["n_adopters"].endswith(
        "--set n_adopters"
    )
    assert rows["n_investors"].endswith("default")


# ---- batch and summary ----------------------------------------------------------------


def test_batch_writes_every_run(batch_dir):
    cwd, done = batch_dir
    assert done.returncode == 0, done.stderr
    out = cwd / "out" / "batch"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"tasks": 12, "ok": 12, "failed": 0, "pending": 0}
    assert manifest["spec"]["grid"] == {"investors.herding_strength": [0.1, 0.4]}
    names = {p.name for p in (out / "runs").iterdir()}
    assert len(names) == 36
    for record in manifest["runs"]:
        for suffix in (".parquet", ".phases.csv", ".json"):
            assert record["run_id"] + suffix in names
    assert not (out / "batch.lock").exists()
    assert "12 runs: 12 ok" in done.stdout
    assert "surge summary out/batch" in done.stdout
    assert "run/s" in done.stderr or "s/run" in done.stderr  # the progress bar


def test_summary_prints_and_saves(batch_dir, tmp_path):
    cwd, _ = batch_dir
    done = surge("summary", "out/batch", "--csv", "out/summary.csv", cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert "scenario=no_speculation, investors.herding_strength=0.4  (3 runs)" in done.stdout
    assert "peak_valuation_to_fundamentals_ratio" in done.stdout
    assert "irruption_start" in done.stdout and "2018-01" in done.stdout
    table = pd.read_csv(cwd / "out" / "summary.csv")
    assert len(table) == 4 and (table["runs"] == 3).all()
    assert (table["adoption_share_end_p10"] <= table["adoption_share_end_median"]).all()
    missing = surge("summary", "nowhere", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("surge: error:")


def test_rerunning_a_finished_batch_needs_resume(batch_dir):
    cwd, _ = batch_dir
    out = cwd / "out" / "batch"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    args = ["batch", "baseline", "no_speculation", "--seeds", "3"]
    grid = ["--grid", "herding_strength=0.1,0.4", *SHORT]
    same = surge(*args, *grid, cwd=cwd)
    assert same.returncode == 2
    assert same.stderr.startswith("surge: error:") and "--resume" in same.stderr
    other = surge("batch", "baseline", "--seeds", "2", *SHORT, cwd=cwd)
    assert other.returncode == 2 and "different batch" in other.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    resumed = surge(*args, *grid, "--resume", "--executor", "serial", cwd=cwd)
    assert resumed.returncode == 0, resumed.stderr
    assert "12 ok (12 already done)" in resumed.stdout


BAD_INPUT = {
    "unknown scenario": (["batch", "baselin"], "did you mean 'baseline'"),
    "unknown key": (["batch", "baseline", "--set", "chartist_trend_gian=2"], "did you mean"),
    "wrong type": (["batch", "baseline", "--set", "months=many"], "run.months = 'many'"),
    "out of range": (["batch", "baseline", "--set", "months=0"], "run.months = 0"),
    "grid over unknown key": (
        ["batch", "baseline", "--grid", "herding_strenght=0,1"],
        "did you mean herding_strength",
    ),
    "grid value out of range": (["batch", "baseline", "--grid", "months=12,0"], "run.months = 0"),
    "grid without values": (["batch", "baseline", "--grid", "months="], "--grid"),
    "zero seeds": (["batch", "baseline", "--seeds", "0"], "--seeds"),
    "zero jobs": (["batch", "baseline", "--jobs", "0"], "--jobs"),
    "scheduler without dask": (
        ["batch", "baseline", "--scheduler", "tcp://127.0.0.1:8786"],
        "--executor dask",
    ),
    "unknown executor": (["batch", "baseline", "--executor", "threads"], "--executor"),
    "show unknown scenario": (["show", "no_speculatoin"], "did you mean 'no_speculation'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path):
    args, expected = BAD_INPUT[case]
    done = (
        surge(*args, "--out", "res", cwd=tmp_path)
        if args[0] == "batch"
        else surge(*args, cwd=tmp_path)
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("surge: error:")
    assert done.stderr.count("\n") == 1, done.stderr
    assert expected in done.stderr
    assert done.stdout == ""
    assert listing(tmp_path) == set()


def test_unwritable_out_is_refused(tmp_path):
    (tmp_path / "a_file").write_text("x")
    done = surge("batch", "baseline", *SHORT, "--out", "a_file/res", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("surge: error: --out a_file/res")
    assert done.stderr.count("\n") == 1
    assert listing(tmp_path) == {"a_file"}


def test_folder_in_use_is_refused(tmp_path):
    folder = tmp_path / "busy"
    folder.mkdir()
    lock = {"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}
    (folder / "batch.lock").write_text(json.dumps(lock))
    done = surge("batch", "baseline", *SHORT, "--out", "busy", cwd=tmp_path)
    assert done.returncode == 2
    assert "in use by another batch" in done.stderr and done.stderr.count("\n") == 1
    assert listing(tmp_path) == {"busy", "busy/batch.lock"}


def _session_members(session: int) -> list[int]:
    """Processes still running in a session (Linux /proc; empty where there is none)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path, executor):
    """Ctrl-C in a terminal signals the whole process group: the command, and with
    --executor process also its fork server and workers. The batch stops, says how to go
    on, and leaves no process behind."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = ["batch", "baseline", "--seeds", "40", "--executor", executor, "--jobs", "2", *SHORT]
    proc = subprocess.Popen(
        [*COMMAND, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    runs = tmp_path / "out" / "batch" / "runs"
    deadline = time.monotonic() + 60
    while len(list(runs.glob("*.json"))) < 2 and time.monotonic() < deadline:
        assert proc.poll() is None
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    deadline = time.monotonic() + 10
    while _session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_members(proc.pid) == []
    assert "rerun with --resume" in err
    assert not (tmp_path / "out" / "batch" / "batch.lock").exists()
    manifest = json.loads((tmp_path / "out" / "batch" / "manifest.json").read_text())
    recorded = len(list(runs.glob("*.json")))  # the records are the source of truth
    assert 2 <= recorded < 40 and manifest["counts"]["failed"] == 0
    assert recorded - manifest["counts"]["ok"] in (0, 1)  # Ctrl-C may land between the two
    done = surge(*args, "--resume", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"40 runs: 40 ok ({recorded} already done)" in done.stdout


@pytest.mark.parametrize("command", ["list", "show", "batch", "summary"])
def test_help_has_examples(command, tmp_path):
    done = surge(command, "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "examples:" in done.stdout
    assert f"surge {command}" in done.stdout
