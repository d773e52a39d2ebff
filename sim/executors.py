"""Where the runs of a batch execute: in this process, in a process pool, or on dask.

One interface, :func:`map_runs`, yields ``(task, outcome)`` pairs in completion order,
where ``outcome`` is the result dict of :func:`execute` or the exception the run raised.
The batch writes each result as it arrives, keyed by the task's run id, so nothing that
ends up on disk depends on which executor ran a task, on how many workers there were or
on the order in which runs finished.

What a worker does is :func:`execute`: it runs one task with :func:`sim.run.run_scenario`
and returns the monthly table inside a small dict of plain, picklable values. Tables are
written to disk by the parent process only, so the bytes of a result file do not depend
on the library versions of a remote worker.

Executors:

* ``serial``: one run after another in this process (easiest to debug).
* ``process``: a :class:`concurrent.futures.ProcessPoolExecutor` of ``jobs`` workers,
  default ``os.cpu_count()``, started from a fork server (see :func:`_worker_context`).
* ``dask``: :mod:`dask.distributed`. Without a scheduler address a local cluster of
  ``jobs`` single-threaded worker processes is started on the loopback interface and shut
  down afterwards; with ``scheduler="tcp://host:port"`` the runs go to that cluster, whose
  workers must have the same version of Surge installed (a worker with other parameter
  defaults is caught: see :func:`execute`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any, Protocol

EXECUTORS: tuple[str, ...] = ("serial", "process", "dask")


class RunTask(Protocol):
    """What a worker needs to know about a task (see :class:`sim.batch.Task`)."""

    scenario: str
    seed: int
    overrides: dict[str, Any]
    param_hash: str


class TaskError(Exception):
    """A run raised inside its worker; ``str(exc)`` is the worker's full traceback.

    The traceback is captured as text in the worker, so it survives the trip back from a
    process pool or a dask worker unchanged and can be stored in the run's record.
    ``timing`` holds ``duration_s``, ``started``, ``finished`` and ``worker`` of the run.
    """

    def __init__(self, text: str, timing: dict[str, Any] | None = None):
        super().__init__(text, timing)
        self.text = text
        self.timing = timing or {}

    def __str__(self) -> str:
        return self.text


class ExecutorError(Exception):
    """An executor cannot be used as asked (dask missing, scheduler unreachable...)."""


def utc_now() -> str:
    """The current time in UTC as ISO 8601 with seconds, e.g. 2025-01-31T12:00:00Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def execute(task: RunTask) -> dict[str, Any]:
    """Run one task; return ``{"table", "duration_s", "started", "finished", "worker"}``.

    Before running, the worker resolves the task's parameters itself and checks their
    hash against the one computed when the batch was planned, so a scenario file edited
    after planning, or a worker with another version of the parameter defaults, gives a
    failed run rather than a table filed under the wrong parameters.

    Any exception is re-raised as :class:`TaskError` carrying the traceback text.
    """
    started = utc_now()
    t0 = time.perf_counter()
    try:
        from sim.batch import param_hash
        from sim.params import load_scenario
        from sim.run import run_scenario

        params = load_scenario(task.scenario, task.overrides)
        found = param_hash(params)
        if found != task.param_hash:
            raise RuntimeError(
                f"parameters of {task.scenario!r} with overrides {task.overrides} resolve to "
                f"hash {found} in this worker, but to {task.param_hash} when the batch was "
                "planned: the scenario file or Surge's defaults changed since"
            )
        table = run_scenario(task.scenario, seed=task.seed, overrides=task.overrides)
    except Exception:
        raise TaskError(traceback.format_exc(), _timing(started, t0)) from None
    return {"table": table, **_timing(started, t0)}


def _timing(started: str, t0: float) -> dict[str, Any]:
    return {
        "duration_s": round(time.perf_counter() - t0, 3),
        "started": started,
        "finished": utc_now(),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


def map_runs(
    tasks: Iterable[RunTask],
    executor: str = "serial",
    jobs: int | None = None,
    scheduler: str | None = None,
) -> Iterator[tuple[RunTask, dict[str, Any] | BaseException]]:
    """Run every task with :func:`execute`; yield ``(task, result or exception)``.

    Pairs come in completion order. A run that raises yields its exception (a
    :class:`TaskError` for an error inside the run; an executor failure such as a worker
    process that died yields that exception) and the other runs go on. Closing the
    iterator early (or Ctrl-C while waiting) cancels what has not started and shuts down
    whatever this call started. ``jobs`` is ignored by ``serial`` and by ``dask`` with a
    ``scheduler``.
    """
    tasks = list(tasks)
    if executor not in EXECUTORS:
        raise ExecutorError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if scheduler is not None and executor != "dask":
        raise ExecutorError("--scheduler needs --executor dask")
    if jobs is not None and jobs < 1:
        raise ExecutorError(f"jobs = {jobs}: must be at least 1")
    if not tasks:
        return iter(())
    if executor == "serial":
        return _serial(tasks)
    if executor == "process":
        return _process(tasks, jobs or os.cpu_count() or 1)
    return _dask(tasks, jobs or os.cpu_count() or 1, scheduler)


def check_executor(executor: str, scheduler: str | None = None) -> None:
    """Raise :class:`ExecutorError` early if ``executor`` cannot work here (nothing starts)."""
    if executor not in EXECUTORS:
        raise ExecutorError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if scheduler is not None and executor != "dask":
        raise ExecutorError("--scheduler needs --executor dask")
    if executor == "dask":
        try:
            import dask.distributed  # noqa: F401
        except ImportError as exc:
            raise ExecutorError(
                f"--executor dask needs dask.distributed ({exc}); "
                'install it with: pip install "dask[distributed]"'
            ) from None
    if scheduler is not None and "://" not in scheduler:
        raise ExecutorError(
            f"--scheduler {scheduler!r}: expected an address such as tcp://127.0.0.1:8786"
        )


# ---- serial -----------------------------------------------------------------------------


def _serial(tasks: list[RunTask]) -> Iterator[tuple[RunTask, dict[str, Any] | BaseException]]:
    for task in tasks:
        try:
            outcome: dict[str, Any] | BaseException = execute(task)
        except Exception as exc:
            outcome = exc
        yield task, outcome


# ---- process pool -----------------------------------------------------------------------


def _init_worker() -> None:
    """Process-pool worker initializer.

    Ctrl-C is the parent's to handle (it then stops the workers). tqdm gets a thread
    lock: its default lock is a multiprocessing semaphore, which a worker stopped on
    Ctrl-C could not release, and Python would warn about it at exit.
    """
    import threading

    from tqdm import tqdm

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tqdm.set_lock(threading.RLock())


# What a worker runs; the fork server imports these once for all the workers it starts.
WORKER_MODULES: tuple[str, ...] = ("sim.executors", "sim.batch", "sim.run")


def _worker_context():
    """The ``forkserver`` start method with the model preloaded, else ``spawn``.

    Why not plain ``spawn`` (the start method Mesa sets): every spawned worker imports
    Mesa, pandas, SciPy and the model itself, about a second before its first run, and
    tears the interpreter down at the end, a quarter of a second more. A fork server
    imports them once, in a process of its own that runs no threads of ours, and forks
    each worker from that state: workers start ready and exit at once. It stays up for
    the life of this process, so later batches (tests, calibration generations) start
    their workers without importing anything; it also keeps Surge's code as first
    imported, so a long session must restart after the model's code is edited, as for
    any imported module. ``fork`` itself is avoided because forking a parent that runs
    threads (progress bar, pool manager) can deadlock the child. Platforms without fork
    servers (Windows) use ``spawn``.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_MODULES))
    return context


def _process(
    tasks: list[RunTask], jobs: int
) -> Iterator[tuple[RunTask, dict[str, Any] | BaseException]]:
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=_worker_context(), initializer=_init_worker
    )
    finished = False
    try:
        pending: dict[Future, RunTask] = {pool.submit(execute, task): task for task in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    outcome: dict[str, Any] | BaseException = future.result()
                except Exception as exc:
                    outcome = exc
                yield task, outcome
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # interrupted or closed early: do not wait for runs in flight
            workers = list((getattr(pool, "_processes", None) or {}).values())
            _terminate_workers(pool, workers)
            pool.shutdown(wait=True, cancel_futures=True)  # quick: no worker is left


def _terminate_workers(pool: ProcessPoolExecutor, workers: list) -> None:
    """Stop the pool's worker processes now rather than after the runs in flight."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        with contextlib.suppress(Exception):
            terminate()
    for process in workers:  # the list is taken before shutdown(), which drops it
        with contextlib.suppress(Exception):
            process.terminate()
    for process in workers:
        with contextlib.suppress(Exception):
            process.join(timeout=5)


# ---- dask -------------------------------------------------------------------------------


def _dask(
    tasks: list[RunTask], jobs: int, scheduler: str | None
) -> Iterator[tuple[RunTask, dict[str, Any] | BaseException]]:
    import logging

    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ExecutorError(
            f'--executor dask needs dask.distributed ({exc}); pip install "dask[distributed]"'
        ) from None

    cluster = None
    client = None
    futures: dict = {}
    try:
        if scheduler is None:
            try:
                cluster = LocalCluster(
                    n_workers=min(jobs, len(tasks)),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            except Exception as exc:
                raise ExecutorError(f"could not start a local dask cluster: {exc}") from exc
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="10s")
            except OSError as exc:
                raise ExecutorError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
        for task in tasks:
            key = f"surge-run-{getattr(task, 'run_id', id(task))}"
            futures[client.submit(execute, task, key=key, pure=False, retries=0)] = task
        for future in as_completed(list(futures)):
            task = futures.pop(future)
            try:
                outcome: dict[str, Any] | BaseException = future.result()
            except Exception as exc:
                outcome = exc
            future.release()
            yield task, outcome
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                if futures:
                    client.cancel(list(futures))
            with contextlib.suppress(Exception):
                client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
