"""Replications over executors, seeded so the numbers never depend on how they were run.

Replication r of design point p draws from
`numpy.random.SeedSequence(base_seed, spawn_key=(p, r))`; a single scenario is design
point 0. Work is cut into chunks of replications; chunks go to a serial loop or a process
pool, and the rows are put back in (point, replication) order.

Sweeps (`sim.experiments.sweep`) stream chunks instead: an executor (`SerialExecutor`,
`ProcessExecutor`, `DaskExecutor`, made by `make_executor`) runs tasks with a bounded number in
flight and yields each chunk's rows as soon as it finishes, in whatever order they finish.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.night.laydown import NightPlan
from sim.night.model import run_night
from sim.spec.scenario import Scenario


def replication_rng(base_seed: int, point: int, replication: int) -> np.random.Generator:
    """The generator of one replication (independent of workers and order)."""
    return np.random.default_rng(np.random.SeedSequence(base_seed, spawn_key=(point, replication)))


@dataclass(frozen=True)
class Task:
    """A chunk of replications of one design point (the scenario may come pickled)."""

    scenario: Scenario | bytes
    point: int
    base_seed: int
    replications: tuple[int, ...]


def run_task(task: Task) -> list[dict]:
    """Run one chunk; rows carry point, replication and seed first."""
    rows = []
    scenario = task.scenario
    if isinstance(scenario, bytes):
        scenario = pickle.loads(scenario)
    # a scenario with distributions is drawn anew each night, so nothing can be shared
    plan = None if scenario.has_distributions else NightPlan.from_scenario(scenario)
    for r in task.replications:
        result = run_night(scenario, replication_rng(task.base_seed, task.point, r), plan)
        row = {"point": task.point, "replication": r, "seed": task.base_seed}
        row.update(result.as_row())
        rows.append(row)
    return rows


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def chunked(values: Iterable[int], size: int) -> Iterator[tuple[int, ...]]:
    """Consecutive tuples of at most `size` values."""
    chunk: list[int] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield tuple(chunk)
            chunk = []
    if chunk:
        yield tuple(chunk)


def execute(
    tasks: list[Task],
    *,
    workers: int = 1,
    on_rows: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Run tasks serially (workers=1) or in a process pool; rows in (point, replication) order."""
    rows: list[dict] = []
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            chunk = run_task(task)
            rows.extend(chunk)
            if on_rows:
                on_rows(chunk)
    else:
        # spawn, stated explicitly: Mesa sets it globally on import, and it is the start
        # method that is safe with threads (Dask, BLAS) on every platform
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(run_task, task) for task in tasks]
            for future in as_completed(futures):
                chunk = future.result()
                rows.extend(chunk)
                if on_rows:
                    on_rows(chunk)
    rows.sort(key=lambda row: (row["point"], row["replication"]))
    return rows


def rows_to_frame(rows: list[dict]) -> pd.DataFrame:
    """A runs table with stable column order and integer counts."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.fillna(0)


class Progress:
    """Replications done, on stderr: a bar on a terminal, a line per 10 % otherwise."""

    def __init__(
        self,
        total: int,
        *,
        enabled: bool = True,
        label: str = "replications",
        initial: int = 0,
    ) -> None:
        self.total = total
        self.done = initial  # already done before this run started (a resumed sweep)
        self.enabled = enabled and total > 0
        self._bar = None
        self._next_decile = initial * 10 // total + 1 if total > 0 else 1
        self._label = label
        if self.enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                unit="rep",
                desc=label,
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )

    def __call__(self, rows: list[dict]) -> None:
        self.done += len(rows)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(len(rows))
            return
        decile = self.done * 10 // self.total
        if decile >= self._next_decile:
            print(
                f"{self._label}: {self.done}/{self.total} ({100 * self.done // self.total} %)",
                file=sys.stderr,
                flush=True,
            )
            self._next_decile = decile + 1

    def close(self) -> None:
        """Remove the bar (lines already printed stay)."""
        if self._bar is not None:
            self._bar.close()


def run_replications(
    scenario: Scenario,
    replications: int,
    *,
    seed: int | None = None,
    point: int = 0,
    workers: int = 1,
    chunk_size: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Run `replications` nights of a scenario; one row per replication (the runs table)."""
    base_seed = scenario.seed if seed is None else seed
    if chunk_size is None:
        chunk_size = max(1, min(50, -(-replications // (4 * max(1, workers)))))
    tasks = [
        Task(scenario, point, base_seed, chunk)
        for chunk in chunked(range(replications), chunk_size)
    ]
    bar = Progress(replications, enabled=progress)
    try:
        rows = execute(tasks, workers=workers, on_rows=bar)
    finally:
        bar.close()
    return rows_to_frame(rows)


# --------------------------------------------------------------------------- executors


class ExecutorError(Exception):
    """An executor could not be started (Dask missing, scheduler unreachable)."""


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Processes started in this block inherit a blocked SIGINT (the mask survives exec), so
    Ctrl-C cannot interrupt a worker while it is still importing, before its initializer
    runs. In this process a Ctrl-C in the block is held, not lost: it arrives on unblock."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C is the parent's business (it stops the pool cleanly)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class SerialExecutor:
    """Run tasks one after the other in this process."""

    workers = 1

    def describe(self) -> dict[str, Any]:
        """How the work ran, for the manifest."""
        return {"kind": "serial", "workers": 1}

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Iterable[Any], window: int | None = None
    ) -> Iterator[Any]:
        """`fn(item)` for every item, in order."""
        for item in items:
            yield fn(item)

    def close(self, *, abort: bool = False) -> None:
        """Nothing to release."""

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(abort=exc_type is not None)


class ProcessExecutor(SerialExecutor):
    """A pool of local worker processes (spawned; they ignore Ctrl-C, the parent handles it)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        # spawn, stated explicitly: Mesa sets it globally on import, and it is the start
        # method that is safe with threads (Dask, BLAS) on every platform
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_ignore_sigint
        )
        self._pending: set[Future] = set()
        self._closed = False

    def describe(self) -> dict[str, Any]:
        """How the work ran, for the manifest."""
        return {"kind": "processes", "workers": self.workers}

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Iterable[Any], window: int | None = None
    ) -> Iterator[Any]:
        """`fn(item)` for every item as they finish, with at most `window` submitted at once."""
        window = max(1, window or 2 * self.workers)
        source = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(self._pending) < window:
                item = next(source, _END)
                if item is _END:
                    exhausted = True
                else:
                    with _children_ignore_sigint():  # workers are spawned inside submit
                        self._pending.add(self._pool.submit(fn, item))
            if not self._pending:
                return
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=id):
                yield future.result()

    def close(self, *, abort: bool = False) -> None:
        """Shut the pool down; on abort cancel queued work and stop the workers at once."""
        if self._closed:
            return
        self._closed = True
        if not abort:
            self._pool.shutdown(wait=True)
            return
        for future in self._pending:
            future.cancel()
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        for process in processes:
            with contextlib.suppress(Exception):
                process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(timeout=5)


class DaskExecutor(SerialExecutor):
    """A Dask distributed cluster: an existing scheduler, or `local` for a LocalCluster.

    The local cluster runs `workers` single-threaded worker processes on this machine, bound to
    127.0.0.1, with no dashboard. Workers of an existing cluster must have salvo installed.
    """

    def __init__(self, address: str, workers: int | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - dask is an optional dependency
            raise ExecutorError(
                "--dask needs Dask distributed: pip install 'salvo-sim[dask]'"
            ) from None
        self.address = address
        self._cluster = None
        try:
            if address == "local":
                self._cluster = LocalCluster(
                    n_workers=workers or default_workers(),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self._client = Client(self._cluster)
            else:
                self._client = Client(address, timeout="15s")
        except (OSError, TimeoutError) as err:
            if self._cluster is not None:
                self._cluster.close()
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {err}") from None
        self.workers = max(1, sum(self._client.nthreads().values()))
        self._futures: list[Any] = []
        self._closed = False

    def describe(self) -> dict[str, Any]:
        """How the work ran, for the manifest."""
        return {"kind": "dask", "address": self.address, "workers": self.workers}

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Iterable[Any], window: int | None = None
    ) -> Iterator[Any]:
        """`fn(item)` for every item as they finish, with at most `window` submitted at once."""
        from distributed import as_completed as dask_as_completed

        window = max(1, window or 2 * self.workers)
        source = iter(items)
        queue = dask_as_completed()
        in_flight = 0
        exhausted = False
        while True:
            while not exhausted and in_flight < window:
                item = next(source, _END)
                if item is _END:
                    exhausted = True
                else:
                    future = self._client.submit(fn, item, pure=False)
                    self._futures.append(future)
                    queue.add(future)
                    in_flight += 1
            if in_flight == 0:
                return
            future = next(queue)
            in_flight -= 1
            result = future.result()
            future.release()
            self._futures = [f for f in self._futures if f is not future]
            yield result

    def close(self, *, abort: bool = False) -> None:
        """Cancel outstanding work (on abort), close the client and a local cluster."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            if abort and self._futures:
                self._client.cancel(self._futures)
        with contextlib.suppress(Exception):
            self._client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()


_END = object()


def make_executor(
    *, workers: int | None = None, dask: str | None = None
) -> SerialExecutor | ProcessExecutor | DaskExecutor:
    """The executor the CLI options ask for: Dask if `dask` is set, else processes or serial."""
    if dask:
        return DaskExecutor(dask, workers)
    workers = workers or default_workers()
    return SerialExecutor() if workers <= 1 else ProcessExecutor(workers)
