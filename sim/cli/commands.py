"""The `salvo` commands: each parses nothing and computes nothing, it calls the library function
behind the command and prints what it returns. Imports happen inside each command, so that
`salvo --help` and `salvo check` load only what they use.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def cmd_run(args: argparse.Namespace) -> int:
    """salvo run: replications of one scenario -> results folder + summary."""
    from sim.experiments.runs import run_scenario
    from sim.results.summary import format_summary

    result = run_scenario(
        args.scenario,
        args.out,
        replications=args.replications,
        seed=args.seed,
        workers=args.workers,
        dask=args.dask,
        force=args.force,
        progress=not (args.quiet or args.json),
        trace=args.trace,
        allow_large=args.allow_large,
    )
    if args.json:
        print(json.dumps(result.summary, indent=2))
        return EXIT_OK
    traced = f", trace-*.parquet of {result.traced} replication(s)" if result.traced else ""
    print(format_summary(result.summary))
    print(
        f"\nwrote {result.out}/ (runs.parquet, summary.json, manifest.json{traced}) in "
        f"{result.wall_time_s:.1f} s"
    )
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """salvo check: validate scenario, campaign, experiment and calibration files without
    running them; each file's kind is told by its keys."""
    from sim.spec.yamlio import InputError, file_kind, load_yaml

    failures = []
    for path in args.files:
        try:
            kind = file_kind(load_yaml(path).data) or "scenario"
            print(f"{path}: ok: {CHECKS[kind](path)}")
        except InputError as err:
            failures.append(str(err))
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def check_scenario(path: str) -> str:
    from sim.spec.scenario import load_scenario

    scenario = load_scenario(path)
    units = sum(g.count for g in scenario.defences.values())
    return (
        f"'{scenario.name}', {sum(scenario.launched_by_class().values())} threats in "
        f"{len(scenario.salvo)} groups, {units} defence units in {len(scenario.defences)} groups"
    )


def check_campaign(path: str) -> str:
    from sim.spec.campaign import load_campaign

    campaign = load_campaign(path)
    calendar = campaign.calendar
    return f"campaign '{campaign.name}', {calendar.days} days from {calendar.start}"


def check_experiment(path: str) -> str:
    from sim.experiments.limits import MAX_NIGHTS_PER_JOB
    from sim.spec.experiment import prepare

    prepared = prepare(path, max_nights=MAX_NIGHTS_PER_JOB)  # a sweep would refuse it too
    what = "campaigns" if prepared.is_campaign else "design points"
    return (
        f"experiment '{prepared.name}', {len(prepared.points)} {what} x "
        f"{prepared.replications} replications"
    )


def check_calibration(path: str) -> str:
    from sim.spec.calibration import load_calibration

    calibration = load_calibration(path)
    return (
        f"calibration of {len(calibration.posture)} quarters on {Path(calibration.template).name}"
    )


def check_attacker_fit(path: str) -> str:
    from sim.spec.attacker_fit import load_attacker_fit

    fit = load_attacker_fit(path)
    return f"attacker fit of {fit.nights} nights from {fit.start} to before {fit.end}"


CHECKS: dict[str, Callable[[str], str]] = {
    "scenario": check_scenario,
    "campaign": check_campaign,
    "experiment": check_experiment,
    "calibration": check_calibration,
    "attacker fit": check_attacker_fit,
}


def cmd_catalog(args: argparse.Namespace) -> int:
    """salvo catalog: the threat and defence types with their key numbers and sources."""
    from sim.refdocs.catalog import format_catalog
    from sim.spec.scenario import load_catalog

    catalog = load_catalog()
    if args.json:
        print(json.dumps(catalog.model_dump(mode="json", by_alias=True), indent=2))
    else:
        print(format_catalog(catalog, sources=not args.no_sources))
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    """salvo sweep: every design point of an experiment, replicated -> results folder."""
    from sim.experiments.limits import MAX_NIGHTS_PER_JOB
    from sim.experiments.sweep import format_sweep, run_sweep
    from sim.spec.experiment import prepare

    limit = None if args.allow_large else MAX_NIGHTS_PER_JOB
    prepared = prepare(
        args.experiment, seed=args.seed, replications=args.replications, max_nights=limit
    )
    return run_resumable_command(
        args,
        ["sweep", args.experiment],
        prepared,
        run_sweep,
        lambda result: format_sweep(prepared, result),
    )


def cmd_campaign(args: argparse.Namespace) -> int:
    """salvo campaign: replications of one campaign -> results folder + summary."""
    from sim.experiments.campaigns import format_campaign, prepare_campaign, run_campaigns
    from sim.experiments.limits import check_nights

    prepared = prepare_campaign(args.campaign, seed=args.seed, replications=args.replications)
    days = prepared.campaign.calendar.days
    check_nights(
        prepared.replications * days,
        f"{prepared.replications:,} replications x {days:,} days",
        allow_large=args.allow_large,
    )
    report = None if args.quiet else format_campaign
    if args.month_counts and not args.observed:
        print("salvo campaign: --month-counts goes with --observed", file=sys.stderr)
        return EXIT_BAD_INPUT
    compare = None
    if args.observed:  # read and checked before anything runs
        from sim.analysis.hindcast import check_observed_window, format_hindcast, hindcast
        from sim.spec.observed import load_nights, read_month_counts

        observed = load_nights(args.observed)
        counts = read_month_counts(args.month_counts) if args.month_counts else None
        calendar = prepared.campaign.calendar
        check_observed_window(observed, calendar.start, calendar.days)

        def compare(result: Any) -> str:
            table = hindcast(result.out, observed, counts)
            shown = "" if args.quiet else format_hindcast(table)
            return shown + f"wrote {result.out}/hindcast.csv"

    return run_resumable_command(
        args, ["campaign", args.campaign], prepared, run_campaigns, report, after=compare
    )


def run_resumable_command(
    args: argparse.Namespace,
    command: list[str],
    prepared: Any,
    run: Callable[..., Any],
    report: Callable[[Any], str] | None,
    *,
    after: Callable[[Any], str] | None = None,
) -> int:
    """The body of `salvo sweep` and `salvo campaign`: run `prepared` into the results folder
    with the executor options of `args`, print `report(result)` (if given) and the files, then
    `after(result)` (if given: more work on the finished folder, such as a hindcast)."""
    from sim.experiments.resumable import RunInterrupted
    from sim.results.files import default_out

    out = Path(args.out) if args.out else default_out(prepared.name)
    started = time.perf_counter()
    try:
        result = run(
            prepared,
            out,
            workers=args.workers,
            dask=args.dask,
            resume=args.resume,
            force=args.force,
            progress=not args.quiet,
            chunk_size=args.chunk_size,
        )
    except RunInterrupted as stop:
        return interrupted(stop, out, command, args)
    if report is not None:
        print(report(result))
    if result.already_complete:
        print(f"{out}/ is already complete; nothing was run")
    else:
        wall = time.perf_counter() - started
        print(f"wrote {out}/ ({', '.join(result.files)}) in {wall:.1f} s")
    if after is not None:
        print(after(result))
    return EXIT_OK


def interrupted(stop: Any, out: Path, command: list[str], args: argparse.Namespace) -> int:
    """Ctrl-C during a sweep or campaign: say what is saved and how to go on."""
    again = ["salvo", *command, "--resume"]
    for flag, value in (("--out", args.out), ("-n", args.replications), ("--seed", args.seed)):
        again += [flag, str(value)] if value is not None else []
    print(
        f"salvo: interrupted; {stop.done} of {stop.total} replications are saved in "
        f"{out}/\nresume with: {shlex.join(again)}",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


def cmd_plot(args: argparse.Namespace) -> int:
    """salvo plot: figures chosen by the files a results folder holds, into RESULTS/figures/."""
    from sim.results.files import ResultsFileError
    from sim.viz.registry import plot_results

    if args.palette and args.format != "png":
        print("salvo plot: --palette applies to --format png only", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        paths = plot_results(
            args.results,
            fmt=args.format,
            dpi=args.dpi,
            borders=args.borders,
            palette=args.palette,
        )
    except ResultsFileError as err:
        print(f"salvo plot: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in paths:
        print(path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """salvo report: report.md and report.html (figures embedded) for a results folder."""
    from sim.results.files import ResultsFileError
    from sim.viz.report import write_report

    try:
        paths = write_report(args.results, borders=args.borders, dpi=args.dpi)
    except ResultsFileError as err:
        print(f"salvo report: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in paths:
        print(path)
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    """salvo calibrate: fit the free parameters to observed nights -> calibration file."""
    from sim.analysis.calibrate.runs import calibrate_file, format_fit

    result = calibrate_file(
        args.nights,
        args.out,
        template=args.template,
        start=args.start,
        params=args.params,
        seed=args.seed,
        workers=args.workers,
        dask=args.dask,
        emulator_replications=args.emulator_replications,
        criterion=args.criterion,
        errors=not args.no_errors,
        since=args.since,
        until=args.until,
        force=args.force,
        progress=not args.quiet,
    )
    fit = result.fit
    print(
        f"fit on {result.nights} nights: objective {fit.objective:.2f} after "
        f"{fit.evaluations} evaluations ({result.emulator_runs} emulator runs)"
    )
    print(format_fit(fit.by_class))
    print(
        f"\nwrote {result.out} in {result.wall_time_s:.0f} s; check it with: salvo validate "
        f"{args.nights} --scenario {result.out}"
    )
    return EXIT_OK


def cmd_calibrate_attacker(args: argparse.Namespace) -> int:
    """salvo calibrate-attacker: fit the launch process to observed nights -> fit file."""
    from sim.analysis.attacker import fit_attacker_file, format_attacker_fit

    fit = fit_attacker_file(
        args.nights,
        args.out,
        month_counts=args.month_counts,
        start=args.since,
        end=args.until,
        sampling_fraction=args.sampling_fraction,
        force=args.force,
        seed=args.seed,
    )
    print(format_attacker_fit(fit))
    print(f"wrote {args.out}: the fit, its method and standard errors")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """salvo validate: simulate observed nights, score the intervals against the baseline."""
    from sim.analysis.calibrate.runs import format_scores, validate_file

    result = validate_file(
        args.nights,
        args.scenario,
        args.out,
        fit_data=args.fit_data,
        replications=args.replications,
        seed=args.seed,
        workers=args.workers,
        dask=args.dask,
        cv=args.cv,
        params=args.params,
        criterion=args.criterion,
        since=args.since,
        until=args.until,
        force=args.force,
        progress=not (args.quiet or args.json),
    )
    scores = result.scores
    if args.json:
        print(json.dumps({k: v for k, v in scores.items() if k != "folds"}, indent=2))
        return EXIT_OK
    what = f"{args.cv}-fold cross-validation" if args.cv else "in-sample"
    if args.since or args.until:
        what += f", nights from {args.since or 'the start'} until {args.until or 'the end'}"
    print(
        f"{Path(args.scenario)} on {result.nights} nights ({what}, {args.replications} "
        f"replications per night, seed {args.seed})"
    )
    print(format_scores(scores))
    print(f"\nwrote {result.out}/ (validation.csv, validation.json) in {result.wall_time_s:.0f} s")
    return EXIT_OK
