"""Calibrate and validate from files: the library behind `salvo calibrate` and `salvo validate`
(read the nights and the calibration, fit or simulate, write the outputs, say what was done)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.analysis.calibrate import DEFAULT_CRITERION
from sim.analysis.calibrate.emulator import EmulatorGrid, build_emulator
from sim.analysis.calibrate.fit import FitResult, fit_calibration, parse_params, prepare_start
from sim.analysis.calibrate.validate import ValidationResult, validate_nights
from sim.experiments.executors import default_workers
from sim.night.builder import night_rows
from sim.results.files import ResultsExistError, default_out
from sim.results.lock import locked_results_folder
from sim.results.manifest import file_sha256
from sim.spec.calibration import (
    DEFAULT_TEMPLATE,
    Calibration,
    check_builder,
    default_calibration,
    load_calibration,
    load_template,
    save_calibration,
)
from sim.spec.observed import SCORED, load_nights, nights_between
from sim.spec.posture import flat_parameters
from sim.spec.yamlio import OptionError

CALIBRATION_HEADER = (
    "# salvo calibration (format salvo-calibration/1; docs/calibration.md explains it).\n"
    "# Written by `salvo calibrate`; `salvo validate` simulates every night with it.\n"
)


def format_scores(scores: Mapping[str, Any]) -> str:
    """The validation scores by class, model beside baseline, as a text table."""

    def cells(s: Mapping[str, float]) -> str:
        return (
            f"{s['coverage90']:>10.3f} {s['mean_width90']:>9.2f} {s['interval_score90']:>8.2f} "
            f"{s['mae_median']:>8.2f}"
        )

    head = f"{'coverage90':>10} {'width90':>9} {'IS90':>8} {'MAE':>8}"
    lines = [f"{'class':<11} {head}   |  baseline: {head}"]
    for cls in SCORED:
        m, b = scores["by_class"][cls], scores["baseline"]["by_class"][cls]
        lines.append(f"{cls:<11} {cells(m)}   |            {cells(b)}")
    return "\n".join(lines)


def format_fit(by_class: Mapping[str, Mapping[str, float]]) -> str:
    """The fit by class (launched, observed, emulated intercepted, MAE) as a text table."""
    lines = [f"{'class':<11} {'launched':>9} {'observed':>9} {'emulated':>9} {'MAE/night':>10}"]
    for cls, v in by_class.items():
        lines.append(
            f"{cls:<11} {v['launched']:>9.0f} {v['observed']:>9.0f} {v['emulated']:>9.1f} "
            f"{v['mae']:>10.2f}"
        )
    return "\n".join(lines)


@dataclass
class CalibrateResult:
    """What `calibrate_file` fitted and wrote."""

    out: Path
    calibration: Calibration
    fit: FitResult
    nights: int
    emulator_runs: int
    wall_time_s: float


def calibrate_file(
    nights_path: str | Path,
    out: str | Path,
    *,
    template: str | Path | None = None,
    start: str | Path | None = None,
    params: str | None = None,
    seed: int = 1,
    workers: int | None = None,
    dask: str | None = None,
    emulator_replications: int = 8,
    criterion: str = DEFAULT_CRITERION,
    errors: bool = True,
    since: dt.date | None = None,
    until: dt.date | None = None,
    force: bool = False,
    progress: bool = False,
) -> CalibrateResult:
    """Fit the free parameters (`params`, see `parse_params`; default all) to the nights CSV
    and write the calibration file `out`; with `since` / `until` only the nights dated from
    `since` and before `until` (a forecast fits on the nights before its first date).

    Starts from the calibration file `start` (default: the built-in defaults on `template`).
    The emulator runs on `workers` local processes (default: all cores) or a Dask cluster at
    `dask`; the fit is the same on any. Bad files raise `InputError`, bad `params`
    `OptionError`, an existing `out` without `force` `ResultsExistError`.
    """
    rows = night_rows(nights_between(load_nights(nights_path), since, until))
    out = Path(out)
    if out.exists() and not force:
        raise ResultsExistError(out)
    template = Path(template) if template else None
    if start:
        first = load_calibration(start)
        if template is not None:
            check_builder(first.builder, load_template(template), str(start), None)
            first = first.model_copy(update={"template": str(template.resolve())})
    else:
        first = default_calibration(template or DEFAULT_TEMPLATE)
    first = prepare_start(first, rows)
    free = parse_params(params, list(flat_parameters(first)))
    started = time.perf_counter()
    grid = EmulatorGrid(replications=emulator_replications)
    emulator = build_emulator(
        first, grid=grid, seed=seed, workers=workers or default_workers(), dask=dask,
        progress=progress,
    )  # fmt: skip
    fit = fit_calibration(
        first, rows, free, emulator, seed=seed, progress=progress, data=str(nights_path),
        errors=errors, criterion=criterion,
    )  # fmt: skip
    window = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    calibration = fit.calibration.model_copy(
        update={
            "description": f"Calibrated by `salvo calibrate {Path(nights_path).name}` on "
            f"{len(rows)} nights ({rows[0].date.date()} to {rows[-1].date.date()}).",
            "fit": fit.calibration.fit.model_copy(update=window)
            if fit.calibration.fit is not None
            else None,
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    save_calibration(calibration, out, CALIBRATION_HEADER)
    return CalibrateResult(
        out, calibration, fit, len(rows), emulator.runs, time.perf_counter() - started
    )


def baseline_data(
    nights_path: str | Path, fit_data: str | Path | None, since: dt.date | None, cv: int | None
) -> str:
    """What the baseline was fitted on, for validation.json."""
    if cv:
        return "training folds"
    if fit_data:
        return str(fit_data)
    if since:
        return f"{nights_path} before {since}"
    return str(nights_path)


@dataclass
class ValidateResult:
    """What `validate_file` scored and wrote (validation.csv and validation.json in `out`)."""

    out: Path
    scores: dict[str, Any]
    result: ValidationResult
    nights: int
    wall_time_s: float


def validate_file(
    nights_path: str | Path,
    calibration_path: str | Path,
    out: str | Path | None = None,
    *,
    fit_data: str | Path | None = None,
    replications: int = 100,
    seed: int = 1,
    workers: int | None = None,
    dask: str | None = None,
    cv: int | None = None,
    params: str | None = None,
    criterion: str = DEFAULT_CRITERION,
    since: dt.date | None = None,
    until: dt.date | None = None,
    force: bool = False,
    progress: bool = False,
) -> ValidateResult:
    """Simulate every night of the CSV with the calibration and score the predictions against
    the observed counts and the baseline (`validate_nights`); write validation.csv and
    validation.json to `out` (default: results/validate-<nights file name>/).

    `since` / `until` score only the nights dated from `since` and before `until`; with
    `since` and no `fit_data` the baseline is fitted on the file's nights before `since`, so
    that a forecast is scored against a baseline that saw no more than the model did.

    With `cv=K` the folds are refitted from the default starting values on the calibration's
    builder (never from a fit that saw them). Bad input raises `InputError` or `OptionError`,
    an existing `out` without `force` `ResultsExistError`.
    """
    every_night = load_nights(nights_path)
    nights = nights_between(every_night, since, until)
    if fit_data:
        fit_nights = load_nights(fit_data)
    elif since is not None:
        fit_nights = nights_between(every_night, None, since, what="nights to fit the baseline")
    else:
        fit_nights = None
    calibration = load_calibration(calibration_path)
    out = Path(out) if out else default_out(f"validate-{Path(nights_path).stem}")
    if out.exists() and not force:
        raise ResultsExistError(out)
    free = None
    if cv:
        if cv < 2 or cv > len(nights):
            raise OptionError(f"--cv must be between 2 and the number of nights ({len(nights)})")
        start = default_calibration(calibration.template).model_copy(
            update={"builder": calibration.builder}
        )
        free = parse_params(params, list(flat_parameters(prepare_start(start, night_rows(nights)))))
        calibration = start
    started = time.perf_counter()
    result = validate_nights(
        calibration, nights, fit_data=fit_nights, replications=replications, seed=seed,
        workers=workers or default_workers(), dask=dask, cv=cv, free=free,
        criterion=criterion, progress=progress,
    )  # fmt: skip
    wall = time.perf_counter() - started
    scores = {
        **result.scores,
        "replications": replications,
        "seed": seed,
        "scenario": str(calibration_path),
        "data": str(nights_path),
        "data_sha256": file_sha256(nights_path),
        "fit_data": baseline_data(nights_path, fit_data, since, cv),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "cv": cv,
        "criterion": criterion if cv else None,
        "folds": result.fits,
        "seconds": round(wall, 1),
    }
    with locked_results_folder(out):  # both files from this validation, never one from another
        if out.exists() and not force:  # written by another salvo while this one simulated
            raise ResultsExistError(out)
        out.mkdir(parents=True, exist_ok=True)
        result.table.to_csv(out / "validation.csv", index=False)
        (out / "validation.json").write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    return ValidateResult(out, scores, result, len(nights), wall)
