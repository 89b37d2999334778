"""`salvo calibrate` and `salvo validate`: the command-line glue."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.analysis.calibrate.builder import night_rows
from sim.analysis.calibrate.emulator import EmulatorGrid, build_emulator
from sim.analysis.calibrate.fit import (
    ParamsError,
    fit_calibration,
    parse_params,
    prepare_start,
)
from sim.analysis.calibrate.posture import flat_parameters
from sim.analysis.calibrate.schema import (
    DEFAULT_TEMPLATE,
    check_builder,
    default_calibration,
    load_calibration,
    load_template,
    save_calibration,
)
from sim.analysis.calibrate.validate import validate_nights
from sim.experiments.runner import default_workers
from sim.results.manifest import file_sha256
from sim.spec.observed import SCORED, load_nights


def _format_scores(scores: Mapping[str, Any]) -> str:
    lines = [
        f"{'class':<11} {'coverage90':>10} {'width90':>9} {'MAE':>8}   |  baseline: "
        f"{'coverage90':>10} {'width90':>9} {'MAE':>8}"
    ]
    for cls in SCORED:
        m, b = scores["by_class"][cls], scores["baseline"]["by_class"][cls]
        lines.append(
            f"{cls:<11} {m['coverage90']:>10.3f} {m['mean_width90']:>9.2f} {m['mae_median']:>8.2f}"
            f"   |            {b['coverage90']:>10.3f} {b['mean_width90']:>9.2f} "
            f"{b['mae_median']:>8.2f}"
        )
    return "\n".join(lines)


def _format_fit(by_class: Mapping[str, Mapping[str, float]]) -> str:
    lines = [f"{'class':<11} {'launched':>9} {'observed':>9} {'emulated':>9} {'MAE/night':>10}"]
    for cls, v in by_class.items():
        lines.append(
            f"{cls:<11} {v['launched']:>9.0f} {v['observed']:>9.0f} {v['emulated']:>9.1f} "
            f"{v['mae']:>10.2f}"
        )
    return "\n".join(lines)


def command_calibrate(args: Any) -> int:
    """`salvo calibrate NIGHTS.csv`: fit, write the calibration file, print the fit by class."""
    nights = load_nights(args.nights)
    rows = night_rows(nights)
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"salvo: {out} exists; use --force to overwrite it", file=sys.stderr)
        return 2
    template = Path(args.template) if args.template else None
    if args.start:
        start = load_calibration(args.start)
        if template is not None:
            check_builder(start.builder, load_template(template), str(args.start), None)
            start = start.model_copy(update={"template": str(template.resolve())})
    else:
        start = default_calibration(template or DEFAULT_TEMPLATE)
    start = prepare_start(start, rows)
    try:
        free = parse_params(args.params, list(flat_parameters(start)))
    except ParamsError as err:
        print(f"salvo: {err}", file=sys.stderr)
        return 2
    progress = not args.quiet
    started = time.perf_counter()
    grid = EmulatorGrid(replications=args.emulator_replications)
    workers = args.workers or default_workers()
    emulator = build_emulator(start, grid=grid, seed=args.seed, workers=workers, progress=progress)
    result = fit_calibration(
        start, rows, free, emulator, seed=args.seed, progress=progress, data=args.nights,
        errors=not args.no_errors, criterion=args.criterion,
    )  # fmt: skip
    calibration = result.calibration.model_copy(
        update={
            "description": f"Calibrated by `salvo calibrate {Path(args.nights).name}` on "
            f"{len(rows)} nights ({rows[0].date.date()} to {rows[-1].date.date()}).",
        }
    )
    header = (
        "# salvo calibration (format salvo-calibration/1; docs/calibration.md explains it).\n"
        "# Written by `salvo calibrate`; `salvo validate` simulates every night with it.\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    save_calibration(calibration, out, header)
    wall = time.perf_counter() - started
    print(f"fit on {len(rows)} nights: objective {result.objective:.2f} after "
          f"{result.evaluations} evaluations ({emulator.runs} emulator runs)")  # fmt: skip
    print(_format_fit(result.by_class))
    print(f"\nwrote {out} in {wall:.0f} s; check it with: salvo validate {args.nights} "
          f"--scenario {out}")  # fmt: skip
    return 0


def command_validate(args: Any) -> int:
    """`salvo validate NIGHTS.csv`: predictive intervals per night, scores, model vs baseline."""
    import json

    nights = load_nights(args.nights)
    fit_data = load_nights(args.fit_data) if args.fit_data else None
    calibration = load_calibration(args.scenario)
    out = Path(args.out) if args.out else Path("results") / f"validate-{Path(args.nights).stem}"
    if out.exists() and not args.force:
        print(f"salvo: {out} exists; use --force to overwrite it", file=sys.stderr)
        return 2
    free = None
    if args.cv:
        if args.cv < 2 or args.cv > len(nights):
            print(f"salvo: --cv must be between 2 and the number of nights ({len(nights)})",
                  file=sys.stderr)  # fmt: skip
            return 2
        # folds are refitted from the default starting values (not from a fit that saw them)
        start = default_calibration(calibration.template).model_copy(
            update={"builder": calibration.builder}
        )
        try:
            free = parse_params(
                args.params, list(flat_parameters(prepare_start(start, night_rows(nights))))
            )
        except ParamsError as err:
            print(f"salvo: {err}", file=sys.stderr)
            return 2
        calibration = start
    started = time.perf_counter()
    result = validate_nights(
        calibration, nights, fit_data=fit_data, replications=args.replications, seed=args.seed,
        workers=args.workers or default_workers(), cv=args.cv, free=free,
        criterion=args.criterion, progress=not (args.quiet or args.json),
    )  # fmt: skip
    wall = time.perf_counter() - started
    scores = {
        **result.scores,
        "replications": args.replications,
        "seed": args.seed,
        "scenario": str(args.scenario),
        "data": str(args.nights),
        "data_sha256": file_sha256(args.nights),
        "fit_data": str(args.fit_data or args.nights) if not args.cv else "training folds",
        "cv": args.cv,
        "criterion": args.criterion if args.cv else None,
        "folds": result.fits,
        "seconds": round(wall, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "validation.csv", index=False)
    (out / "validation.json").write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({k: v for k, v in scores.items() if k != "folds"}, indent=2))
        return 0
    what = f"{args.cv}-fold cross-validation" if args.cv else "in-sample"
    print(f"{Path(args.scenario)} on {len(nights)} nights ({what}, {args.replications} "
          f"replications per night, seed {args.seed})")  # fmt: skip
    print(_format_scores(scores))
    print(f"\nwrote {out}/ (validation.csv, validation.json) in {wall:.0f} s")
    return 0
