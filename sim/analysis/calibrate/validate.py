"""Validation: predictive intervals scored against observed nights and the baseline,
in-sample or in K-fold cross-validation."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.baselines import QuarterlyRateBaseline
from sim.analysis.calibrate import DEFAULT_CRITERION
from sim.analysis.calibrate.emulator import Emulator, EmulatorGrid, build_emulator
from sim.analysis.calibrate.fit import FitResult, fit_calibration, prepare_start
from sim.analysis.calibrate.simulate import (
    NightTask,
    predict_nights,
    simulate_quantiles,
)
from sim.analysis.scores import interval_scores
from sim.experiments.executors import map_ordered
from sim.experiments.progress import Progress
from sim.night.builder import NightRow, night_rows
from sim.spec.calibration import Calibration, default_bounds
from sim.spec.observed import SCORED
from sim.spec.posture import flat_parameters


def score_predictions(
    nights: pd.DataFrame, predictions: pd.DataFrame, baseline: QuarterlyRateBaseline
) -> dict[str, Any]:
    """Coverage of the 90 % interval, its mean width and the MAE of the median, per class and
    for the baseline; the headline numbers are those of the total."""
    return _score_frames(nights, predictions, baseline.predict(nights))


def validation_table(
    nights: pd.DataFrame, predictions: pd.DataFrame, baseline: pd.DataFrame
) -> pd.DataFrame:
    """One row per night: observed, model median and interval, baseline, per class."""
    table = pd.DataFrame(
        {
            "date": nights["date"].dt.date.astype(str),
            "line": nights["line"],
            "quarter": nights["quarter"],
        }
    )
    if "fold" in predictions:
        table["fold"] = predictions["fold"].to_numpy()
    for cls in SCORED:
        table[f"launched.{cls}"] = nights[f"launched.{cls}"].to_numpy()
        table[f"observed.{cls}"] = nights[f"intercepted.{cls}"].to_numpy()
        for key in ("median", "p05", "p95"):
            table[f"{key}.{cls}"] = predictions[f"{key}.{cls}"].to_numpy()
        observed = table[f"observed.{cls}"]
        table[f"inside.{cls}"] = (observed >= table[f"p05.{cls}"]) & (
            observed <= table[f"p95.{cls}"]
        )
        for key in ("median", "p05", "p95"):
            table[f"baseline_{key}.{cls}"] = baseline[f"{key}.{cls}"].to_numpy().round(2)
    return table


def folds_of(n: int, k: int, seed: int) -> np.ndarray:
    """Fold of each of n nights: a seeded random split into k near-equal folds."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(99,)))
    folds = np.empty(n, dtype=int)
    folds[rng.permutation(n)] = np.arange(n) % k
    return folds


@dataclass
class ValidationResult:
    """What `validate` reports."""

    scores: dict[str, Any]
    table: pd.DataFrame
    fits: list[dict[str, Any]]


def validate_nights(
    calibration: Calibration,
    nights: pd.DataFrame,
    *,
    fit_data: pd.DataFrame | None = None,
    replications: int = 100,
    seed: int = 1,
    workers: int = 1,
    dask: str | None = None,
    cv: int | None = None,
    free: Mapping[str, tuple[float, float]] | None = None,
    emulator_grid: EmulatorGrid | None = None,
    criterion: str = DEFAULT_CRITERION,
    progress: bool = False,
) -> ValidationResult:
    """Simulate every night and score the predictions against the observed counts.

    Without `cv`: with `calibration` as it is; the baseline is fitted on `fit_data` (default:
    the nights themselves). With `cv=K`: the nights are split into K folds; for each, the free
    parameters (default all) are refitted on the other folds from `calibration`'s values and
    the fold is predicted (drones scored by `criterion`, as `fit_calibration`); the baseline is
    fitted on the same other folds.
    """
    rows = night_rows(nights)
    fits: list[dict[str, Any]] = []
    if not cv:
        baseline = QuarterlyRateBaseline.fit(fit_data if fit_data is not None else nights)
        predictions = predict_nights(
            calibration, rows, replications=replications, seed=seed, workers=workers,
            dask=dask, progress=progress,
        )  # fmt: skip
        base = baseline.predict(nights)
        scores = score_predictions(nights, predictions, baseline)
        table = validation_table(nights, predictions, base)
        return ValidationResult(scores=scores, table=table, fits=fits)
    folds = folds_of(len(rows), cv, seed)
    emulator = build_emulator(
        calibration,
        grid=emulator_grid,
        seed=seed,
        workers=workers,
        dask=dask,
        progress=progress,
    )
    tasks = []
    for k in range(cv):
        train = [r for r, f in zip(rows, folds, strict=True) if f != k]
        start = prepare_start(calibration, train)
        names = list(flat_parameters(start))
        fold_free = (
            {n: default_bounds(n) for n in names}
            if free is None
            else {n: b for n, b in free.items() if n in names}
        )
        tasks.append(_FoldTask(k, start, train, fold_free, emulator, seed, criterion))
    if progress:
        print(f"validate: fitting {cv} folds ({workers} at a time)", file=sys.stderr, flush=True)
    results = map_ordered(
        _fit_fold,
        tasks,
        workers=min(workers, cv),
        dask=dask,
        progress=Progress(cv, label="validate: folds fitted", enabled=progress, unit="fold",
                          timed=True),
    )  # fmt: skip
    calibrations = [r.calibration for r in results]
    for task, result in zip(tasks, results, strict=True):
        fits.append({"fold": task.fold, "nights": len(task.rows), "objective": result.objective,
                     "seconds": round(result.seconds, 1),
                     "parameters": flat_parameters(result.calibration)})  # fmt: skip
    # every night is simulated with the calibration of the folds it was not fitted on
    predictions = _predict_with(
        calibrations, folds, rows, replications, seed, workers, dask, progress
    )
    predictions["fold"] = folds
    base_parts = []
    for k in range(cv):
        mask = folds == k
        base_parts.append(QuarterlyRateBaseline.fit(nights[~mask]).predict(nights[mask]))
    base = pd.concat(base_parts).loc[nights.index]
    scores = _score_frames(nights, predictions, base)
    scores["cv"] = cv
    table = validation_table(nights, predictions, base)
    return ValidationResult(scores=scores, table=table, fits=fits)


@dataclass(frozen=True)
class _FoldTask:
    fold: int
    start: Calibration
    rows: list[NightRow]
    free: dict[str, tuple[float, float]]
    emulator: Emulator
    seed: int
    criterion: str


def _fit_fold(task: _FoldTask) -> FitResult:
    return fit_calibration(task.start, task.rows, task.free, task.emulator, seed=task.seed,
                           errors=False, criterion=task.criterion)  # fmt: skip


def _predict_with(
    calibrations: Sequence[Calibration],
    folds: np.ndarray,
    rows: Sequence[NightRow],
    replications: int,
    seed: int,
    workers: int,
    dask: str | None,
    progress: bool,
) -> pd.DataFrame:
    tasks = [
        NightTask(calibrations[f].template, calibrations[f], row, replications, seed, k)
        for k, (row, f) in enumerate(zip(rows, folds, strict=True))
    ]
    return simulate_quantiles(tasks, workers=workers, dask=dask, progress=progress)


def _score_frames(
    nights: pd.DataFrame, predictions: pd.DataFrame, base: pd.DataFrame
) -> dict[str, Any]:
    """The scores of `score_predictions` against given baseline predictions."""
    out: dict[str, Any] = {"nights": len(nights)}
    by_class, base_by_class = {}, {}
    for cls in SCORED:
        observed = nights[f"intercepted.{cls}"].to_numpy()
        by_class[cls] = interval_scores(
            observed,
            predictions[f"median.{cls}"].to_numpy(),
            predictions[f"p05.{cls}"].to_numpy(),
            predictions[f"p95.{cls}"].to_numpy(),
        )
        base_by_class[cls] = interval_scores(
            observed,
            base[f"median.{cls}"].to_numpy(),
            base[f"p05.{cls}"].to_numpy(),
            base[f"p95.{cls}"].to_numpy(),
        )
    out.update(by_class["total"])
    out["by_class"] = by_class
    out["baseline"] = {**base_by_class["total"], "by_class": base_by_class}
    return out
