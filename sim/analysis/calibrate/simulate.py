"""Simulating built nights: the replication recipe, process pools, predictive quantiles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.executors import map_ordered
from sim.experiments.progress import Progress
from sim.experiments.replications import replication_rng
from sim.night.builder import NightRow, NightSpec, night_spec
from sim.spec.calibration import SIM_CLASSES, Calibration, load_template
from sim.spec.observed import SCORED

RESULT_COLUMNS: tuple[str, ...] = (*SCORED, "lost.drone")


def simulate_spec(spec: NightSpec, replications: int, seed: int, point: int = 0) -> np.ndarray:
    """Replications of one night: (replications, RESULT_COLUMNS) intercepted counts.

    Replication r draws from `replication_rng(seed, point, r)`: the night of
    `NightSpec.replication` (deep shares and group counts, short-range reach, the night-level
    distributions, then the night itself), and last the reporting (on some nights every drone
    not shot down is reported locationally lost).
    """
    out = np.zeros((replications, len(RESULT_COLUMNS)), dtype=np.int64)
    for r in range(replications):
        rng = replication_rng(seed, point, r)
        counts_out = spec.replication(rng).run().counts
        for k, cls in enumerate(SCORED):
            if cls == "total":
                out[r, k] = counts_out["intercepted.total"]
            else:
                out[r, k] = sum(counts_out[f"intercepted.{c}"] for c in SIM_CLASSES[cls])
        out[r, -1] = counts_out["suppressed.drone"] + counts_out["suppressed.decoy"]
        # reporting: on some nights every drone not shot down is reported locationally lost
        if spec.lost_all > 0 and rng.random() < spec.lost_all:
            unreported = spec.row.launched["drone"] - out[r, 1]
            out[r, 1] += unreported
            out[r, 0] += unreported
            out[r, -1] += unreported
    return out


@dataclass(frozen=True)
class NightTask:
    template: str
    calibration: Calibration
    row: NightRow
    replications: int
    seed: int
    point: int


def run_night_task(task: NightTask) -> tuple[int, np.ndarray]:
    spec = night_spec(load_template(task.template), task.row, task.calibration)
    return task.point, simulate_spec(spec, task.replications, task.seed, task.point)


def predict_nights(
    calibration: Calibration,
    rows: Sequence[NightRow],
    *,
    replications: int = 100,
    seed: int = 1,
    workers: int = 1,
    dask: str | None = None,
    progress: bool = False,
    points: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Simulate every night; per night and class the median and 5 % / 95 % quantiles.

    Night k is design point `points[k]` (default k): its replications draw from
    `SeedSequence(seed, spawn_key=(point, r))`, whatever the workers.
    """
    points = list(range(len(rows))) if points is None else list(points)
    tasks = [
        NightTask(calibration.template, calibration, row, replications, seed, point)
        for row, point in zip(rows, points, strict=True)
    ]
    return simulate_quantiles(tasks, workers=workers, dask=dask, progress=progress)


def simulate_quantiles(
    tasks: Sequence[NightTask],
    *,
    workers: int = 1,
    dask: str | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Run the night tasks; per night and class the median, 5 % / 95 % quantiles and mean."""
    results = map_ordered(
        run_night_task,
        tasks,
        workers=workers,
        dask=dask,
        progress=Progress(len(tasks), label="validate: nights simulated", enabled=progress,
                          unit="night", timed=True),
    )  # fmt: skip
    records = []
    for task, (_, sims) in zip(tasks, results, strict=True):
        record: dict[str, Any] = {"date": task.row.date.date().isoformat()}
        for k, cls in enumerate(RESULT_COLUMNS):
            values = sims[:, k]
            record[f"median.{cls}"] = float(np.median(values))
            record[f"p05.{cls}"] = float(np.quantile(values, 0.05))
            record[f"p95.{cls}"] = float(np.quantile(values, 0.95))
            record[f"mean.{cls}"] = float(values.mean())
        records.append(record)
    return pd.DataFrame.from_records(records)
