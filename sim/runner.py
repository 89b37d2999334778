"""Replications over executors, seeded so the numbers never depend on how they were run.

Replication r of design point p draws from
`numpy.random.SeedSequence(base_seed, spawn_key=(p, r))`; a single scenario is design
point 0. Work is cut into chunks of replications; chunks go to a serial loop or a process
pool, and the rows are put back in (point, replication) order.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.laydown import NightPlan
from sim.model import run_night
from sim.scenario import Scenario


def replication_rng(base_seed: int, point: int, replication: int) -> np.random.Generator:
    """The generator of one replication (independent of workers and order)."""
    return np.random.default_rng(np.random.SeedSequence(base_seed, spawn_key=(point, replication)))


@dataclass(frozen=True)
class Task:
    """A chunk of replications of one design point."""

    scenario: Scenario
    point: int
    base_seed: int
    replications: tuple[int, ...]


def run_task(task: Task) -> list[dict]:
    """Run one chunk; rows carry point, replication and seed first."""
    rows = []
    # a scenario with distributions is drawn anew each night, so nothing can be shared
    plan = None if task.scenario.has_distributions else NightPlan.from_scenario(task.scenario)
    for r in task.replications:
        result = run_night(task.scenario, replication_rng(task.base_seed, task.point, r), plan)
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

    def __init__(self, total: int, *, enabled: bool = True, label: str = "replications") -> None:
        self.total = total
        self.done = 0
        self.enabled = enabled and total > 0
        self._bar = None
        self._next_decile = 1
        self._label = label
        if self.enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="rep", desc=label, file=sys.stderr, leave=False)

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
