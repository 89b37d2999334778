"""Simulating built nights: the replication recipe, process pools, predictive quantiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.calibrate.builder import NightRow, NightSpec, night_spec
from sim.analysis.calibrate.schema import SIM_CLASSES, Calibration, load_template
from sim.experiments.executors import map_ordered
from sim.experiments.progress import Progress
from sim.experiments.replications import replication_rng
from sim.night.model import NightModel
from sim.spec.distributions import Distribution
from sim.spec.observed import SCORED
from sim.vocab import CLASSES

RESULT_COLUMNS: tuple[str, ...] = (*SCORED, "lost.drone")


def replication_counts(spec: NightSpec, rng: np.random.Generator) -> dict[str, int]:
    """Group counts of one replication: deep share drawn (beta), then binomial and multinomial;
    on a concentrated night (probability `spec.focus`, drawn after the deep count) the drones
    not flying deep go to the focus groups instead of the near ones."""
    counts: dict[str, int] = {}
    for reported, (deep_groups, wd, near_groups, wn) in spec.groups.items():
        focus_ids, wf = spec.focus_groups.get(reported, ([], np.zeros(0)))
        n = int(spec.row.launched.get(reported, 0))
        mean, rsd = spec.deep[reported]
        share = mean
        if near_groups and rsd > 0 and 1e-3 < mean < 1 - 1e-3:
            sd = rsd * math.sqrt(mean * (1.0 - mean))
            share = Distribution(dist="beta", mean=mean, sd=sd).draw(rng)
        n_deep = int(rng.binomial(n, share)) if near_groups else n
        for gid, c in zip(deep_groups, rng.multinomial(n_deep, wd), strict=True):
            counts[gid] = int(c)
        if near_groups:
            concentrated = bool(focus_ids) and spec.focus > 0 and rng.random() < spec.focus
            to, weights = (focus_ids, wf) if concentrated else (near_groups, wn)
            for gid in (*near_groups, *focus_ids):
                counts[gid] = 0
            for gid, c in zip(to, rng.multinomial(n - n_deep, weights), strict=True):
                counts[gid] = int(c)
    return counts


def simulate_spec(spec: NightSpec, replications: int, seed: int, point: int = 0) -> np.ndarray:
    """Replications of one night: (replications, RESULT_COLUMNS) intercepted counts.

    Replication r draws from `replication_rng(seed, point, r)`: first the deep shares and the
    group counts, then the short-range reach, then the scenario's night-level distributions
    (EW suppression, pk), then the night itself. The distributions are drawn here and applied
    to the shared plan (the same draws `NightModel` would make from the scenario, without
    rebuilding the plan every night); other distributions are left to the model.
    """
    out = np.zeros((replications, len(RESULT_COLUMNS)), dtype=np.int64)
    plan = spec.plan
    types = np.array([g.type for g in spec.plain.defences.values()], dtype=object)
    group_of_unit = plan.unit_columns["group"]
    unit_type = types[group_of_unit] if len(group_of_unit) else np.array([], dtype=object)
    short = np.isin(unit_type, list(spec.short_range)) if len(unit_type) else unit_type
    drone_cols = [CLASSES.index("drone"), CLASSES.index("decoy")]
    reach_mean, reach_rsd, reach_low, reach_high = spec.reach
    reach_dist = None
    if reach_rsd > 0 and reach_mean > 0 and short.any():
        reach_dist = Distribution(dist="lognormal", mean=reach_mean, sd=reach_rsd * reach_mean)
    for r in range(replications):
        rng = replication_rng(seed, point, r)
        counts = replication_counts(spec, rng)
        columns: dict[str, np.ndarray] = {}
        if reach_dist is not None:
            reach = min(max(reach_dist.draw(rng), reach_low), reach_high)
            radius = plan.unit_columns["radius_km"].copy()
            block = radius[np.ix_(short, drone_cols)]
            radius[np.ix_(short, drone_cols)] = np.where(block > 0, reach, 0.0)
            columns["radius_km"] = radius
        if spec.draws is None:
            model = NightModel(
                spec.scenario, rng=rng, counts=counts, unit_columns=columns or None,
                agent_views=False,
            )  # fmt: skip
        else:
            scenario = spec.plain
            ew_update = {}
            for kind, a, b, dist in spec.draws:
                value = dist.draw(rng)
                if kind == "ew":
                    ew_update[a] = value
                else:
                    if "pk" not in columns:
                        columns["pk"] = plan.unit_columns["pk"].copy()
                    columns["pk"][unit_type == a, CLASSES.index(b)] = value
            if ew_update:
                suppression = {**spec.plain.ew.suppression, **ew_update}
                scenario = spec.plain.model_copy(
                    update={"ew": spec.plain.ew.model_copy(update={"suppression": suppression})}
                )
            model = NightModel(
                scenario, rng=rng, plan=plan, counts=counts, unit_columns=columns or None,
                agent_views=False,
            )  # fmt: skip
        counts_out = model.run().counts
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
