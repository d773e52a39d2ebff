"""Batches: many runs of many scenarios, grid points and seeds, written to one folder.

A batch is planned first and run second. :func:`plan_batch` checks every scenario, every
``--set`` override and every grid value (a bad one raises
:class:`sim.params.ScenarioError` or :class:`BatchError` before anything runs or is
written) and turns them into a list of :class:`Task`. :func:`run_batch` runs the tasks
on an executor (:mod:`sim.executors`) and writes each result as it arrives.

Seeds. Replicate ``k`` of every scenario and grid point runs with seed
``SeedSequence(root_seed).spawn(k + 1)[k]`` (its first 32-bit word): it depends on the
root seed and ``k`` only, never on job order, and the same ``k`` gives the same seed in
every scenario, so scenarios are compared under common random numbers.

Identity. A run's parameters are hashed (sha256 of the canonical JSON of the scenario
name and ``Params.flat()``); the run id is a short hash of that and the seed. Results
are filed under the run id, so a file's content never depends on which executor ran it,
in what order, or whether the batch was interrupted and resumed.

Folder layout (``out/batch`` by default)::

    manifest.json            batch spec and one record per finished run, in task order
    batch.lock               present while a batch runs: pid and host of its process
    runs/<run_id>.parquet    the monthly table of the run
    runs/<run_id>.phases.csv its detected Perez phases
    runs/<run_id>.json       the run's record: status ok|failed, seed, grid values, ...

Every file is written atomically (temporary file in the same folder, fsync, os.replace)
and a run's record is written after its table, so a batch killed at any moment leaves
only complete runs behind. ``manifest.json`` is rewritten after every finished run; the
records in ``runs/`` are the source of truth from which ``--resume`` rebuilds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.params import SCENARIO_DIR, Params, load_scenario, resolve_key, scenario_path

MANIFEST = "manifest.json"
LOCK = "batch.lock"
RUNS = "runs"
FORMAT = 1

EXIT_OK = 0
EXIT_FAILED_RUNS = 1
EXIT_BAD_INPUT = 2


class BatchError(Exception):
    """Bad batch input or a folder that cannot be used; nothing was run or changed."""


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM in the CLI) during a batch; ``result`` says what was recorded."""

    def __init__(self, result: BatchResult):
        super().__init__(f"interrupted after {result.ok + result.failed} of {result.total} runs")
        self.result = result


# ---- identity ---------------------------------------------------------------------------


def seed_for(root_seed: int, replicate: int) -> int:
    """Seed of replicate ``replicate``: a function of the root seed and ``replicate`` only.

    Equal to ``SeedSequence(root_seed).spawn(replicate + 1)[replicate]``'s first 32-bit
    word, computed directly through the child's spawn key so it costs O(1).
    """
    if root_seed < 0 or replicate < 0:
        raise ValueError(f"root_seed ({root_seed}) and replicate ({replicate}) must be >= 0")
    child = np.random.SeedSequence(root_seed, spawn_key=(replicate,))
    return int(child.generate_state(1)[0])


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def param_hash(params: Params) -> str:
    """sha256 (hex) of the scenario name and every resolved parameter."""
    text = canonical_json({"scenario": params.name, "parameters": params.flat()})
    return hashlib.sha256(text.encode()).hexdigest()


def run_id_for(params_hash: str, seed: int) -> str:
    """Short stable id of one run: 12 hex digits of sha256(param hash, seed)."""
    return hashlib.sha256(f"{params_hash}:{int(seed)}".encode()).hexdigest()[:12]


def package_version() -> str:
    """Installed version of the `surge` distribution, or "unknown" when run from source."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("surge")
    except PackageNotFoundError:
        return "unknown"


# ---- plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One run of a batch. Plain values only, so it pickles to any worker."""

    run_id: str
    scenario: str  # what the worker loads: a name in scenarios/ or an absolute TOML path
    scenario_name: str  # the scenario's `name`
    grid: dict[str, Any]  # this grid point: dotted parameter name -> value
    replicate: int
    seed: int
    overrides: dict[str, Any]  # --set overrides and the grid point, dotted names
    param_hash: str
    scenario_input: str = ""  # the scenario as the user gave it


def _task(
    scenario,
    source: str,
    params: Params,
    values: dict[str, Any],
    canonical_set: dict[str, Any],
    phash: str,
    replicate: int,
    seed: int,
) -> Task:
    """Replicate `replicate` of one parameter point of one scenario."""
    return Task(
        run_id=run_id_for(phash, seed),
        scenario=source,
        scenario_name=params.name,
        grid=values,
        replicate=replicate,
        seed=seed,
        overrides={**canonical_set, **values},
        param_hash=phash,
        scenario_input=str(scenario),
    )


@dataclass(frozen=True)
class BatchPlan:
    """Validated batch: its spec (what the user asked for) and its tasks, in task order."""

    spec: dict[str, Any]
    spec_id: str
    tasks: tuple[Task, ...]
    point_hashes: tuple[str, ...] = ()  # plan_points only: each point's param_hash, in order


def _spec_id(spec: Mapping[str, Any]) -> str:
    """Hash of the spec without how scenarios were spelled (a path from another folder)."""
    core = dict(spec)
    core["scenarios"] = [
        {k: v for k, v in s.items() if k != "input"} for s in spec.get("scenarios", [])
    ]
    return hashlib.sha256(canonical_json(core).encode()).hexdigest()[:16]


def _canonical_keys(items: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Flat or dotted keys -> dotted keys; two spellings of one parameter are an error."""
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in items.items():
        group, name = resolve_key(key, where)
        dotted = f"{group}.{name}"
        if dotted in out:
            raise BatchError(f"{where}: {spelled[dotted]} and {key} name the same parameter")
        out[dotted], spelled[dotted] = value, key
    return out


def _worker_source(scenario: str | Path) -> str:
    """A name in scenarios/ stays a name; a file becomes an absolute path (any cwd)."""
    path = scenario_path(scenario)
    if path == SCENARIO_DIR / f"{scenario}.toml":
        return str(scenario)
    return str(path.resolve())


def plan_batch(
    scenarios: Sequence[str | Path],
    seeds: int = 1,
    root_seed: int = 0,
    grid: Mapping[str, Sequence[Any]] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> BatchPlan:
    """Check all input and list the tasks: scenarios x grid points x replicates.

    ``grid`` maps parameter names (flat or dotted) to the values to sweep; the batch runs
    their Cartesian product. ``overrides`` apply to every run (like ``--set``). Raises
    :class:`sim.params.ScenarioError` for an unknown scenario or key or a bad value, and
    :class:`BatchError` for other bad input; nothing runs before this returns.
    """
    if not scenarios:
        raise BatchError("give at least one scenario")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise BatchError(f"--seeds {seeds}: need at least 1 seed per scenario")
    if isinstance(root_seed, bool) or not isinstance(root_seed, int) or root_seed < 0:
        raise BatchError(f"--root-seed {root_seed}: must be an integer >= 0")
    set_items = _canonical_keys(dict(overrides or {}), "--set")
    grid_items = _canonical_keys(dict(grid or {}), "--grid")
    for key, values in grid_items.items():
        if key in set_items:
            raise BatchError(f"--grid {key}: also given with --set; give it in one place")
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise BatchError(f"--grid {key}: expected a list of values")
        grid_items[key] = list(values)
        if not grid_items[key]:
            raise BatchError(f"--grid {key}: give at least one value, e.g. --grid {key}=1,2")
    keys = list(grid_items)
    points = [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid_items.values())
    ]

    tasks: list[Task] = []
    spec_scenarios: list[dict[str, Any]] = []
    canonical_set: dict[str, Any] = {}
    canonical_grid: dict[str, list[Any]] = {k: [] for k in keys}
    seen: dict[str, str] = {}
    replicate_seeds = [seed_for(root_seed, k) for k in range(seeds)]
    for scenario in scenarios:
        base = load_scenario(scenario, set_items)  # unknown scenario, bad --set: raises here
        flat_base = base.flat()
        canonical_set = {k: flat_base[k] for k in set_items}
        source = _worker_source(scenario)
        spec_scenarios.append(
            {"input": str(scenario), "name": base.name, "param_hash": param_hash(base)}
        )
        for point in points:
            params = load_scenario(scenario, {**set_items, **point})  # bad grid value: raises
            flat = params.flat()
            values = {k: flat[k] for k in keys}
            for k in keys:
                if values[k] not in canonical_grid[k]:
                    canonical_grid[k].append(values[k])
            phash = param_hash(params)
            for k, seed in enumerate(replicate_seeds):
                run_id = run_id_for(phash, seed)
                label = f"{scenario} {values or ''} replicate {k}".replace("  ", " ")
                if run_id in seen:
                    raise BatchError(
                        f"{seen[run_id]} and {label} resolve to the same parameters and seed "
                        f"(run {run_id}); give each scenario and grid value once"
                    )
                seen[run_id] = label
                tasks.append(_task(scenario, source, params, values, canonical_set, phash, k, seed))
    spec = {
        "format": FORMAT,
        "scenarios": spec_scenarios,
        "overrides": canonical_set,
        "grid": canonical_grid,
        "seeds": seeds,
        "root_seed": root_seed,
        "replicate_seeds": replicate_seeds,
    }
    return BatchPlan(spec=spec, spec_id=_spec_id(spec), tasks=tuple(tasks))


def plan_points(
    scenario: str | Path,
    points: Sequence[Mapping[str, Any]],
    seeds: int = 1,
    root_seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    label: Mapping[str, Any] | None = None,
) -> BatchPlan:
    """Check all input and list the tasks: explicit parameter points x replicates.

    Unlike :func:`plan_batch`'s Cartesian grid, ``points`` lists each parameter point
    (flat or dotted names -> values) itself, e.g. the rows of a sensitivity-analysis
    sample. Points that resolve to the same parameters (a repeated sample row) share
    their runs: each distinct point is run once per replicate. ``overrides`` apply to
    every run, like ``--set``. ``label`` (plain JSON values) is stored in the spec, so a
    folder is only resumed by the same study. The spec holds a hash of the points, not
    the points, to keep the manifest small for large studies.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise BatchError(f"--seeds {seeds}: need at least 1 seed per point")
    if isinstance(root_seed, bool) or not isinstance(root_seed, int) or root_seed < 0:
        raise BatchError(f"--root-seed {root_seed}: must be an integer >= 0")
    if not points:
        raise BatchError("give at least one parameter point")
    set_items = _canonical_keys(dict(overrides or {}), "--set")
    base = load_scenario(scenario, set_items)  # unknown scenario, bad --set: raises here
    flat_base = base.flat()
    canonical_set = {k: flat_base[k] for k in set_items}
    source = _worker_source(scenario)
    replicate_seeds = [seed_for(root_seed, k) for k in range(seeds)]
    tasks: list[Task] = []
    canonical_points: list[dict[str, Any]] = []
    hashes: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(points):
        point = _canonical_keys(dict(raw), f"point {i}")
        for key in point:
            if key in set_items:
                raise BatchError(f"point {i}: {key} is also given with --set; give it once")
        params = load_scenario(scenario, {**set_items, **point})  # bad value: raises
        flat = params.flat()
        values = {k: flat[k] for k in point}
        canonical_points.append(values)
        phash = param_hash(params)
        hashes.append(phash)
        if phash in seen:
            continue
        seen.add(phash)
        for k, seed in enumerate(replicate_seeds):
            tasks.append(_task(scenario, source, params, values, canonical_set, phash, k, seed))
    spec = {
        "format": FORMAT,
        "scenarios": [{"input": str(scenario), "name": base.name, "param_hash": param_hash(base)}],
        "overrides": canonical_set,
        "grid": {},
        "points": {
            "count": len(canonical_points),
            "distinct": len(seen),
            "sha256": hashlib.sha256(canonical_json(canonical_points).encode()).hexdigest(),
        },
        "label": dict(label or {}),
        "seeds": seeds,
        "root_seed": root_seed,
        "replicate_seeds": replicate_seeds,
    }
    return BatchPlan(
        spec=spec, spec_id=_spec_id(spec), tasks=tuple(tasks), point_hashes=tuple(hashes)
    )


# ---- files ------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, replace.

    Readers see the old file or the new one, never a part; a crash leaves at most a
    hidden ``.<name>.*.tmp`` file, which the next write does not depend on.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600 files
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomic(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=2, default=str) + "\n").encode())


def table_to_parquet_bytes(table) -> bytes:
    """The table as Parquet bytes; the same table always gives the same bytes.

    Written with pyarrow, without the index; the file metadata holds the schema and
    library versions only (no timestamps, no paths).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(arrow, sink, compression="snappy")
    return sink.getvalue().to_pybytes()


def phases_to_csv_bytes(table) -> bytes:
    """The Perez phase table of a run (analysis.phases) as CSV with YYYY-MM-DD dates."""
    from analysis.phases import label_phases, phase_table

    phases = phase_table(table, label_phases(table))
    buffer = io.StringIO()
    phases.to_csv(buffer, index=False, date_format="%Y-%m-%d", lineterminator="\n")
    return buffer.getvalue().encode()


def run_paths(folder: Path, run_id: str) -> dict[str, Path]:
    runs = Path(folder) / RUNS
    return {
        "table": runs / f"{run_id}.parquet",
        "phases": runs / f"{run_id}.phases.csv",
        "record": runs / f"{run_id}.json",
    }


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# ---- lock -------------------------------------------------------------------------------


def _proc_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields_ = stat.rpartition(")")[2].split()
    try:
        return int(fields_[19])  # field 22 of stat; fields_[0] is field 3
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a zombie (killed, not yet reaped by its parent) does not run any more
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def lock_holder_alive(holder: Mapping[str, Any]) -> bool | None:
    """True/False whether the lock's process runs; None if it is on another host."""
    if holder.get("host") != socket.gethostname():
        return None
    pid = holder.get("pid")
    if not isinstance(pid, int) or not _pid_alive(pid):
        return False
    recorded, now = holder.get("proc_start"), _proc_start(pid)
    return not (recorded is not None and now is not None and recorded != now)


def check_lock(folder: Path) -> None:
    """Raise :class:`BatchError` if a live batch holds ``folder``'s lock (reads only)."""
    path = Path(folder) / LOCK
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # no lock, or one being written: BatchLock.acquire decides
    if not isinstance(holder, dict) or lock_holder_alive(holder) is False:
        return
    who = f"pid {holder.get('pid')} on {holder.get('host')}"
    since = f" since {holder['started']}" if holder.get("started") else ""
    if lock_holder_alive(holder):
        raise BatchError(
            f"{path.parent} is in use by another batch ({who}{since}); "
            "wait for it to finish or stop it, or choose another --out"
        )
    raise BatchError(
        f"{path.parent} is locked by a batch on another host ({who}{since}); "
        f"if it no longer runs, delete {path}"
    )


class BatchLock:
    """``batch.lock`` in the results folder: one batch at a time per folder.

    Created with O_CREAT|O_EXCL and holding the pid, host and start time of its process.
    A lock whose process is alive (on this host) refuses a second batch; a lock left by a
    process that no longer runs (kill -9, power cut) is taken over with a warning. A lock
    from another host cannot be checked and is refused with a hint.
    """

    def __init__(self, folder: Path, log: Callable[[str], None]):
        self.path = Path(folder) / LOCK
        self.log = log
        self.info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": _utc_now(),
            "proc_start": _proc_start(os.getpid()),
        }
        self.held = False

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            value = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def acquire(self) -> None:
        for _attempt in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._handle_existing()
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(self.info, fh)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.held = True
            return
        raise BatchError(f"{self.path}: could not take the lock; another batch keeps taking it")

    def _handle_existing(self) -> None:
        holder = self._read(self.path)
        for _ in range(10):  # a lock being written right now is briefly empty
            if holder is not None or not self.path.exists():
                break
            time.sleep(0.05)
            holder = self._read(self.path)
        if holder is None and not self.path.exists():
            return  # released meanwhile: try again
        alive = lock_holder_alive(holder) if holder else False
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "an unknown process"
        since = f" since {holder.get('started')}" if holder and holder.get("started") else ""
        if alive:
            raise BatchError(
                f"{self.path.parent} is in use by another batch ({who}{since}); "
                "wait for it to finish or stop it, or choose another --out"
            )
        if alive is None:
            raise BatchError(
                f"{self.path.parent} is locked by a batch on another host ({who}{since}); "
                f"if it no longer runs, delete {self.path}"
            )
        self.log(f"warning: taking over the stale lock {self.path} of {who} (no longer running)")
        stale = self.path.with_name(f"{LOCK}.stale.{os.getpid()}")
        try:
            os.rename(self.path, stale)
        except FileNotFoundError:
            return
        if self._read(stale) != holder:  # someone else took it over first: give it back
            with contextlib.suppress(OSError):
                os.link(stale, self.path)
            with contextlib.suppress(OSError):
                os.unlink(stale)
            raise BatchError(f"{self.path.parent} was just taken by another batch")
        with contextlib.suppress(OSError):
            os.unlink(stale)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        current = self._read(self.path)
        if (
            current is not None
            and current.get("pid") == self.info["pid"]
            and current.get("started") == self.info["started"]
        ):
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def __enter__(self) -> BatchLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _utc_now() -> str:
    from sim.executors import utc_now

    return utc_now()


# ---- run --------------------------------------------------------------------------------


@dataclass
class BatchResult:
    """What a batch did: counts, the records of this batch in task order, exit code."""

    folder: Path
    total: int
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed_ids(self) -> list[str]:
        return [r["run_id"] for r in self.records if r.get("status") != "ok"]

    @property
    def pending(self) -> int:
        return self.total - len(self.records)

    @property
    def exit_code(self) -> int:
        if self.failed_ids or self.pending:
            return EXIT_FAILED_RUNS
        return EXIT_OK


def _stderr_log(message: str) -> None:
    print(f"surge: {message}", file=sys.stderr)


def _describe_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    def brief(spec: Mapping[str, Any], key: str) -> str:
        value = spec.get(key)
        if key == "scenarios" and isinstance(value, list):
            value = [s.get("name") if isinstance(s, dict) else s for s in value]
        return json.dumps(value, default=str)

    keys = ("scenarios", "overrides", "grid", "points", "label", "seeds", "root_seed")
    diffs = [
        f"{k} {brief(old, k)} there, {brief(new, k)} now"
        for k in keys
        if brief(old, k) != brief(new, k)
    ]
    if not diffs and old.get("scenarios") != new.get("scenarios"):
        diffs = ["the scenarios' parameters changed since"]
    return "; ".join(diffs) or "another spec"


def check_folder(folder: Path, plan: BatchPlan, resume: bool) -> dict[str, Any] | None:
    """Refuse a folder that holds another batch, or this batch without ``resume``.

    Returns the readable manifest found there (or None). Reads only; writes nothing.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BatchError(f"--out {folder}: exists and is not a folder")
    manifest_path = folder / MANIFEST
    if manifest_path.exists():
        try:
            manifest = read_json(manifest_path)
        except (OSError, ValueError) as exc:  # torn: only a crash outside Surge does that
            if resume:
                return None  # rebuilt from the records in runs/
            raise BatchError(
                f"{manifest_path} cannot be read ({type(exc).__name__}: {exc}); if an "
                "interrupted batch left it, rerun with --resume to rebuild it and finish; "
                "otherwise choose another --out"
            ) from None
        if (
            not isinstance(manifest, dict)
            or "surge_batch" not in manifest
            or not isinstance(manifest.get("spec"), dict)
        ):
            raise BatchError(
                f"{manifest_path} is not the manifest of a Surge batch; choose another --out"
            )
        spec_id = manifest.get("spec_id")
        if spec_id != plan.spec_id:
            raise BatchError(
                f"--out {folder} holds a different batch ("
                f"{_describe_difference(manifest['spec'], plan.spec)}); choose another --out"
                " or remove that folder first"
            )
        if not resume:
            runs = manifest.get("runs") or []
            done = sum(1 for r in runs if isinstance(r, dict) and r.get("status") == "ok")
            raise BatchError(
                f"--out {folder} already holds this batch ({done} of {len(plan.tasks)} runs "
                "ok); add --resume to run what is missing or failed"
            )
        return manifest
    runs = folder / RUNS
    if not resume and runs.is_dir() and any(runs.glob("*.json")):
        raise BatchError(
            f"--out {folder}: {runs} holds run records but there is no {MANIFEST} (an "
            "interrupted batch?); add --resume to finish it, or choose another --out"
        )
    return None


def _existing_record(folder: Path, task: Task) -> dict[str, Any] | None:
    """The task's record if it finished ok and its files are all there."""
    paths = run_paths(folder, task.run_id)
    try:
        record = read_json(paths["record"])
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("status") != "ok":
        return None
    if record.get("run_id") != task.run_id or record.get("param_hash") != task.param_hash:
        return None
    if not (paths["table"].is_file() and paths["phases"].is_file()):
        return None
    return record


def _base_record(task: Task, root_seed: int) -> dict[str, Any]:
    return {
        "run_id": task.run_id,
        "scenario": task.scenario_name,
        "scenario_source": task.scenario_input or task.scenario,
        "grid": dict(task.grid),
        "overrides": dict(task.overrides),
        "seed": task.seed,
        "replicate": task.replicate,
        "root_seed": root_seed,
        "param_hash": task.param_hash,
    }


def store_outcome(
    folder: Path, task: Task, outcome: Mapping[str, Any] | BaseException, root_seed: int
) -> dict[str, Any]:
    """Write one run's files (table, phases, then its record, each atomically)."""
    paths = run_paths(folder, task.run_id)
    record = _base_record(task, root_seed)
    record["version"] = package_version()
    error: str | None = None
    if isinstance(outcome, BaseException):
        error = _error_text(outcome)
        timing: Mapping[str, Any] = getattr(outcome, "timing", {}) or {}
    else:
        timing = outcome
        try:
            table = outcome["table"]
            table_bytes = table_to_parquet_bytes(table)
            phases_bytes = phases_to_csv_bytes(table)
        except Exception:
            error = "writing the results failed:\n" + traceback.format_exc()
        else:
            write_atomic(paths["table"], table_bytes)
            write_atomic(paths["phases"], phases_bytes)
    now = _utc_now()
    record.update(
        {
            "status": "ok" if error is None else "failed",
            "duration_s": timing.get("duration_s"),
            "started": timing.get("started", now),
            "finished": timing.get("finished", now),
            "worker": timing.get("worker"),
            "error": error,
            "files": None
            if error
            else {k: f"{RUNS}/{p.name}" for k, p in paths.items() if k != "record"},
        }
    )
    if error is not None:  # no half-old results next to a failed record
        for key in ("table", "phases"):
            with contextlib.suppress(OSError):
                paths[key].unlink()
    write_json_atomic(paths["record"], record)
    return record


def _error_text(exc: BaseException) -> str:
    from sim.executors import TaskError

    if isinstance(exc, TaskError):
        return str(exc)
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def write_manifest(
    folder: Path, plan: BatchPlan, records: Mapping[str, dict[str, Any]], created: str
) -> None:
    """Rewrite manifest.json atomically: spec, counts and the records in task order."""
    ordered = [records[t.run_id] for t in plan.tasks if t.run_id in records]
    ok = sum(1 for r in ordered if r.get("status") == "ok")
    manifest = {
        "surge_batch": FORMAT,
        "spec_id": plan.spec_id,
        "spec": plan.spec,
        "created": created,
        "updated": _utc_now(),
        "version": package_version(),
        "counts": {
            "tasks": len(plan.tasks),
            "ok": ok,
            "failed": len(ordered) - ok,
            "pending": len(plan.tasks) - len(ordered),
        },
        "runs": ordered,
    }
    write_json_atomic(Path(folder) / MANIFEST, manifest)


def _remove_temporaries(folder: Path) -> None:
    """Delete ``.<name>.*.tmp`` files that write_atomic left behind when killed.

    Called only while holding the lock, so no other batch is writing them.
    """
    leftovers = [*folder.glob(f".{MANIFEST}.*.tmp"), *(folder / RUNS).glob(".*.tmp")]
    for path in leftovers:
        with contextlib.suppress(OSError):
            path.unlink()


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def run_batch(
    plan: BatchPlan,
    out: str | Path = "out/batch",
    executor: str = "serial",
    jobs: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    manifest_every_s: float = 0.0,
) -> BatchResult:
    """Run the plan's tasks and write results into ``out``; return what happened.

    ``manifest_every_s`` > 0 rewrites ``manifest.json`` at most that often while runs
    finish (always at the end and on Ctrl-C) instead of after every run: for very large
    batches, where rewriting a manifest of n records n times costs O(n^2). Each run's own
    record is still written as it finishes, and ``--resume`` rebuilds the manifest from
    those records, so nothing is lost if the batch is killed between two rewrites.

    ``resume`` skips tasks whose record says ok and whose files exist, and reruns the
    failed and missing ones. Without it a folder that already holds a manifest is refused
    (:class:`BatchError`). A run that raises is recorded as failed with its traceback and
    the batch goes on; ``result.exit_code`` is 0 if every run is ok, else 1. On Ctrl-C,
    :class:`BatchInterrupted` is raised once the records written so far are consistent
    and the lock is released.
    """
    from sim.executors import ExecutorError, check_executor, map_runs

    log = log or _stderr_log
    folder = Path(out)
    try:
        check_executor(executor, scheduler)
    except ExecutorError as exc:
        raise BatchError(str(exc)) from None
    check_lock(folder)  # refuse early, before anything is created or taken over
    check_folder(folder, plan, resume)
    made: list[Path] = []
    probe = folder
    while not probe.exists():
        made.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    result = BatchResult(folder=folder, total=len(plan.tasks))
    wrote_anything = False
    try:
        with BatchLock(folder, log):
            manifest = check_folder(folder, plan, resume)  # again, now that we hold the lock
            created = (manifest or {}).get("created") or _utc_now()
            runs = folder / RUNS
            runs_existed = runs.is_dir()
            runs.mkdir(exist_ok=True)
            if not runs_existed:
                made.insert(0, runs)
            _remove_temporaries(folder)  # half-written files of a killed batch
            records: dict[str, dict[str, Any]] = {}
            todo: list[Task] = []
            for task in plan.tasks:
                record = _existing_record(folder, task) if resume else None
                if record is not None:
                    records[task.run_id] = record
                else:
                    todo.append(task)
            result.skipped = len(records)
            result.ok = len(records)
            log(_describe_start(plan, folder, executor, len(records) if resume else None))
            bar = _progress_bar(len(plan.tasks), len(records), progress)
            last_manifest = -float("inf")
            try:
                try:
                    outcomes = map_runs(todo, executor=executor, jobs=jobs, scheduler=scheduler)
                    for task, outcome in outcomes:
                        record = store_outcome(folder, task, outcome, plan.spec["root_seed"])
                        wrote_anything = True
                        records[task.run_id] = record
                        if record["status"] == "ok":
                            result.ok += 1
                        else:
                            result.failed += 1
                        now = time.monotonic()
                        if now - last_manifest >= manifest_every_s:
                            write_manifest(folder, plan, records, created)
                            last_manifest = now
                        if bar is not None:
                            bar.set_postfix_str(f"done={result.ok} failed={result.failed}")
                            bar.update(1)
                except ExecutorError as exc:
                    raise BatchError(str(exc)) from None
                except KeyboardInterrupt:
                    result.records = [records[t.run_id] for t in plan.tasks if t.run_id in records]
                    if wrote_anything or resume:
                        write_manifest(folder, plan, records, created)
                    raise BatchInterrupted(result) from None
            finally:
                if bar is not None:
                    bar.close()
            write_manifest(folder, plan, records, created)  # also repairs one --resume found
            wrote_anything = True
            result.records = [records[t.run_id] for t in plan.tasks if t.run_id in records]
    except BaseException:
        if not wrote_anything:  # refused or failed to start: leave no trace
            for path in made:
                _remove_if_empty(path)
        raise
    return result


def _describe_start(plan: BatchPlan, folder: Path, executor: str, done: int | None) -> str:
    spec = plan.spec
    kind = "design" if "points" in spec else "grid"
    if "points" in spec:
        points = spec["points"]["distinct"]
    else:
        points = int(np.prod([len(v) for v in spec["grid"].values()])) if spec["grid"] else 1
    text = (
        f"batch of {len(plan.tasks)} runs = {len(spec['scenarios'])} scenario(s) x {points} "
        f"{kind} point(s) x {spec['seeds']} seed(s) in {folder}/, executor {executor}"
    )
    if done is not None:
        text += f"; resuming: {done} already ok, {len(plan.tasks) - done} to run"
    return text


def _progress_bar(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, unit="run", desc="batch", file=sys.stderr)
    bar.set_postfix_str(f"done={initial} failed=0")
    return bar
