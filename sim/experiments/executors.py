"""Executors: the one way salvo runs work in parallel (serially, on local processes, or on Dask).

Every command that runs many independent pieces of work (replications of a run, a sweep's
chunks, a campaign's replications, calibration's emulator cells and validation's nights) hands
them to an executor made by `make_executor`; the numbers never depend on which, because every
piece is seeded by what it is, not by where or when it runs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from sim.experiments.progress import Progress


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


# what one worker process is expected to hold: salvo's imports (Mesa, numpy, pandas, pyarrow:
# about 180 MB measured) and one night's model and rows; used to cap the workers at the memory
WORKER_MEMORY = 400 * 2**20
# the most workers `-w` may ask for on one machine: more cores than any single machine has (a
# cluster is `--dask`); above it `-w` is refused, below it capped at what the machine holds
MAX_WORKERS = 4096


def available_memory() -> int | None:
    """Bytes of memory this process may still take (MemAvailable, or the cgroup's limit if
    lower); None where neither can be read."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as limit_file:
            limit = limit_file.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as current_file:
            current = int(current_file.read().strip())
        if limit != "max":
            found.append(max(0, int(limit) - current))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def worker_capacity() -> tuple[int, str]:
    """The most worker processes this machine holds, and why: its cores, and its available
    memory at `WORKER_MEMORY` a worker."""
    cores = default_workers()
    counted = f"{cores} core{'s' if cores != 1 else ''}"
    memory = available_memory()
    if memory is None:
        return cores, counted
    by_memory = max(1, memory // WORKER_MEMORY)
    why = (
        f"{counted}, {memory / 2**30:.1f} GB of memory available at about "
        f"{WORKER_MEMORY / 2**30:.1f} GB a worker"
    )
    return min(cores, by_memory), why


def capped_workers(workers: int | None) -> int:
    """`workers` (None: all cores) capped at `worker_capacity`; a capped request is said on
    stderr (it changes no number, only the time the work takes)."""
    capacity, why = worker_capacity()
    if workers is None:
        return capacity
    if workers > capacity:
        print(
            f"salvo: -w {workers} is more worker processes than this machine holds ({why}); "
            f"running {capacity}",
            file=sys.stderr,
        )
        return capacity
    return workers


class ExecutorError(Exception):
    """An executor could not be started (Dask missing, scheduler unreachable)."""


# Ctrl-C and `kill`: the parent's business; it stops the workers and says what is saved
INTERRUPTS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def _children_ignore_interrupts() -> Iterator[None]:
    """Processes started in this block inherit a blocked SIGINT and SIGTERM (the mask survives
    exec), so Ctrl-C or `kill` of the process group cannot interrupt a worker while it is still
    importing, before its initializer runs. In this process such a signal is held, not lost:
    it arrives on unblock."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _ignore_interrupts() -> None:
    """Worker initializer: Ctrl-C and SIGTERM are the parent's business (it stops the pool
    cleanly and kills the workers)."""
    for signum in INTERRUPTS:
        signal.signal(signum, signal.SIG_IGN)


class Executor:
    """Runs `fn(item)` for many items and yields the results as they finish.

    Use it as a context manager: leaving the block by an exception (Ctrl-C included) aborts
    the outstanding work at once.
    """

    workers = 1

    def describe(self) -> dict[str, Any]:
        """How the work ran, for the manifest."""
        raise NotImplementedError

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Iterable[Any], window: int | None = None
    ) -> Iterator[Any]:
        """`fn(item)` for every item as they finish, at most `window` submitted at once."""
        raise NotImplementedError

    def close(self, *, abort: bool = False) -> None:
        """Release the workers; on abort cancel what has not finished."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(abort=exc_type is not None)


class SerialExecutor(Executor):
    """Run tasks one after the other in this process."""

    def describe(self) -> dict[str, Any]:
        """How the work ran, for the manifest."""
        return {"kind": "serial", "workers": 1}

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Iterable[Any], window: int | None = None
    ) -> Iterator[Any]:
        """`fn(item)` for every item, in order."""
        for item in items:
            yield fn(item)


class ProcessExecutor(Executor):
    """A pool of local worker processes (spawned; they ignore Ctrl-C, the parent handles it)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        # spawn, stated explicitly: Mesa sets it globally on import, and it is the start
        # method that is safe with threads (Dask, BLAS) on every platform
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_ignore_interrupts
        )
        self._pending: set[Future] = set()
        self._closed = False
        # the pool's workers are the children started after this point (used on abort)
        self._older_children = set(multiprocessing.active_children())

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
                    with _children_ignore_interrupts():  # workers are spawned inside submit
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
        processes = [
            child
            for child in multiprocessing.active_children()
            if child not in self._older_children
        ]
        for process in processes:
            with contextlib.suppress(Exception):
                process.kill()  # they ignore SIGINT and SIGTERM
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(timeout=5)


class DaskExecutor(Executor):
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
    *, workers: int | None = None, dask: str | None = None, tasks: int | None = None
) -> Executor:
    """The executor the CLI options ask for: Dask if `dask` is set, else processes or serial.

    With `tasks` (how many the work is) at most 1 and no Dask, the work runs here: starting a
    pool for a single task would only cost time. Local workers (processes, or a local Dask
    cluster) are capped at what the machine holds (`capped_workers`).
    """
    if dask:
        return DaskExecutor(dask, capped_workers(workers) if dask == "local" else workers)
    if tasks is not None and tasks <= 1:
        return SerialExecutor()
    workers = capped_workers(workers)
    if workers <= 1:
        return SerialExecutor()
    return ProcessExecutor(workers)


def _call_indexed(fn: Callable[[Any], Any], indexed: tuple[int, Any]) -> tuple[int, Any]:
    """`(k, fn(item))` for `(k, item)`: lets `map_ordered` put results back in order."""
    index, item = indexed
    return index, fn(item)


def map_ordered(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    workers: int | None = 1,
    dask: str | None = None,
    progress: Progress | None = None,
) -> list[Any]:
    """`[fn(item) for item in items]` on the executor that `workers` and `dask` ask for
    (`make_executor`), in item order whatever order they finish in.

    `fn` must be picklable (a module-level function) for processes and Dask; `progress` counts
    each finished item.
    """
    items = list(items)
    results: list[Any] = [None] * len(items)
    executor = make_executor(workers=workers, dask=dask, tasks=len(items))
    call = functools.partial(_call_indexed, fn)
    try:
        with executor:
            for index, result in executor.map_unordered(call, enumerate(items)):
                results[index] = result
                if progress is not None:
                    progress.update()
    finally:
        if progress is not None:
            progress.close()
    return results
