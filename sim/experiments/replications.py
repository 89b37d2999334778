"""Replications of one scenario, seeded so the numbers never depend on how they were run.

Replication r of design point p draws from
`numpy.random.SeedSequence(base_seed, spawn_key=(p, r))`; a single scenario is design
point 0. Work is cut into tasks of consecutive replications that run on any executor
(`sim.experiments.executors`), and the rows are put back in (point, replication) order.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.experiments.executors import make_executor
from sim.experiments.progress import Progress
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


def default_chunk_size(total: int, replications: int, workers: int) -> int:
    """Replications per task: about four tasks per worker, at most 50 and one point's worth."""
    per_worker = -(-total // (4 * max(1, workers)))
    return max(1, min(50, replications, per_worker))


def rows_to_frame(rows: list[dict]) -> pd.DataFrame:
    """A runs table with stable column order and integer counts."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.fillna(0)


def run_replications(
    scenario: Scenario,
    replications: int,
    *,
    seed: int | None = None,
    point: int = 0,
    workers: int = 1,
    dask: str | None = None,
    chunk_size: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Run `replications` nights of a scenario; one row per replication (the runs table).

    `workers` > 1 runs them on local processes, `dask` on a Dask cluster (an address, or
    'local'); the table is the same whatever the executor.
    """
    base_seed = scenario.seed if seed is None else seed
    size = chunk_size or default_chunk_size(replications, replications, workers)
    tasks = [
        Task(scenario, point, base_seed, chunk) for chunk in chunked(range(replications), size)
    ]
    executor = make_executor(workers=workers, dask=dask, tasks=len(tasks))
    rows: list[dict] = []
    bar = Progress(replications, enabled=progress)
    try:
        with executor:
            for chunk in executor.map_unordered(run_task, tasks):
                rows.extend(chunk)
                bar.update(len(chunk))
    finally:
        bar.close()
    rows.sort(key=lambda row: (row["point"], row["replication"]))
    return rows_to_frame(rows)
