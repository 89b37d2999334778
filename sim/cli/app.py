"""The `salvo` command line: thin wrappers over the library, one function per command.

Bad input (a scenario with an error, an existing results folder) prints
`FILE:LINE: field.path: message` lines on stderr and exits with status 2; nothing is
written in that case.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sim import __version__
from sim.analysis.calibrate import CRITERIA, DEFAULT_CRITERION
from sim.experiments.runner import default_workers, run_replications
from sim.refdocs import catalog as catalog_table
from sim.results import core as results
from sim.spec.scenario import load_catalog, load_scenario
from sim.spec.yamlio import InputError

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A command-line argument that is out of range (reported like bad input)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


# -w of the commands that can run on Dask
WORKERS_HELP = (
    "local worker processes (default: all cores; 1 runs serially); with '--dask local' the "
    "number of Dask workers"
)


def _default_out(name: str) -> Path:
    return Path("results") / name


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    """salvo run: replications of one scenario -> results folder + summary."""
    scenario = load_scenario(args.scenario)
    out = Path(args.out) if args.out else _default_out(scenario.name)
    if out.exists() and not args.force:
        raise results.ResultsExistError(out)
    seed = scenario.seed if args.seed is None else args.seed
    workers = args.workers or default_workers()
    started = time.perf_counter()
    runs = run_replications(
        scenario,
        args.replications,
        seed=seed,
        workers=workers,
        progress=not (args.quiet or args.json),
    )
    wall = time.perf_counter() - started
    observed = scenario.observed.model_dump(exclude_none=True) if scenario.observed else None
    summary = results.summarise_runs(runs, scenario=scenario.name, seed=seed, observed=observed)
    manifest = results.build_manifest(
        command="run",
        inputs={"scenario": Path(args.scenario)},
        seed=seed,
        replications=args.replications,
        wall_time_s=wall,
        workers=workers,
        extra={"scenario_resolved": scenario.model_dump(mode="json", by_alias=True)},
    )
    extra_files, traced = None, ""
    if args.trace:
        from sim.experiments.traces import record_traces, traces_to_bytes

        kept = range(min(args.trace, args.replications))
        extra_files = traces_to_bytes(record_traces(scenario, seed, kept))
        traced = f", trace-*.parquet of {len(kept)} replication(s)"
    results.write_results(
        out,
        runs=runs,
        summary=summary,
        manifest=manifest,
        force=args.force,
        extra_files=extra_files,
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(results.format_summary(summary))
        print(f"\nwrote {out}/ (runs.parquet, summary.json, manifest.json{traced}) in {wall:.1f} s")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """salvo check: validate scenario files without running them."""
    failures = []
    for path in args.scenarios:
        try:
            scenario = load_scenario(path)
        except InputError as err:
            failures.append(str(err))
            continue
        launched = scenario.launched_by_class()
        units = sum(g.count for g in scenario.defences.values())
        print(
            f"{path}: ok: '{scenario.name}', {sum(launched.values())} threats in "
            f"{len(scenario.salvo)} groups, {units} defence units in "
            f"{len(scenario.defences)} groups"
        )
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def cmd_catalog(args: argparse.Namespace) -> int:
    """salvo catalog: the threat and defence types with their key numbers and sources."""
    catalog = load_catalog()
    if args.json:
        print(json.dumps(catalog.model_dump(mode="json", by_alias=True), indent=2))
    else:
        print(catalog_table.format_catalog(catalog, sources=not args.no_sources))
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    """salvo sweep: every design point of an experiment, replicated -> results folder."""
    from sim.experiments import sweep
    from sim.spec import experiment

    prepared = experiment.prepare(args.experiment, seed=args.seed, replications=args.replications)
    return _run_resumable(
        args,
        ["sweep", args.experiment],
        prepared,
        sweep.run_sweep,
        lambda result: sweep.format_sweep(prepared, result),
    )


def cmd_campaign(args: argparse.Namespace) -> int:
    """salvo campaign: replications of one campaign -> results folder + summary."""
    from sim.experiments import campaigns as campaign_runner

    prepared = campaign_runner.prepare(
        args.campaign, seed=args.seed, replications=args.replications
    )
    report = None if args.quiet else campaign_runner.format_campaign
    return _run_resumable(args, ["campaign", args.campaign], prepared, campaign_runner.run, report)


def _run_resumable(
    args: argparse.Namespace,
    command: list[str],
    prepared: Any,
    run: Callable[..., Any],
    report: Callable[[Any], str] | None,
) -> int:
    """The body of `salvo sweep` and `salvo campaign`: run `prepared` into the results folder
    with the executor options of `args`, print `report(result)` (if given) and the files."""
    from sim.experiments.runner import ExecutorError
    from sim.experiments.sweep import SweepInterrupted

    out = Path(args.out) if args.out else _default_out(prepared.name)
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
    except SweepInterrupted as stop:
        return _interrupted(stop, out, command, args)
    except ExecutorError as err:
        print(f"salvo: {err}", file=sys.stderr)
        return EXIT_ERROR
    if report is not None:
        print(report(result))
    if result.already_complete:
        print(f"{out}/ is already complete; nothing was run")
    else:
        wall = time.perf_counter() - started
        print(f"wrote {out}/ ({', '.join(result.files)}) in {wall:.1f} s")
    return EXIT_OK


def _interrupted(stop: Exception, out: Path, command: list[str], args: argparse.Namespace) -> int:
    """Ctrl-C during a sweep or campaign: say what is saved and how to go on."""
    import shlex

    again = ["salvo", *command, "--resume"]
    for flag, value in (("--out", args.out), ("-n", args.replications), ("--seed", args.seed)):
        again += [flag, str(value)] if value is not None else []
    done, total = getattr(stop, "done", 0), getattr(stop, "total", 0)
    print(
        f"salvo: interrupted; {done} of {total} replications are saved in "
        f"{out}/\nresume with: {shlex.join(again)}",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


def cmd_plot(args: argparse.Namespace) -> int:
    """salvo plot: figures chosen by the files a results folder holds, into RESULTS/figures/."""
    from sim.viz.readers import ResultsFileError
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
    except NotImplementedError as err:
        print(f"salvo plot: {err}", file=sys.stderr)
        return EXIT_ERROR
    for path in paths:
        print(path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """salvo report: report.md and report.html (figures embedded) for a results folder."""
    from sim.viz.readers import ResultsFileError
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
    from sim.analysis.calibrate import commands

    return commands.command_calibrate(args)


def cmd_validate(args: argparse.Namespace) -> int:
    """salvo validate: simulate observed nights, score the intervals against the baseline."""
    from sim.analysis.calibrate import commands

    return commands.command_validate(args)


# --------------------------------------------------------------------------- parser


def _add_replication_options(
    parser: argparse.ArgumentParser,
    *,
    noun: str,
    replications: int | None,
    replications_help: str,
    seeding: str,
    workers_help: str,
    resumable: str | None = None,
    quiet_help: str = "no progress on stderr",
) -> None:
    """The options `salvo run`, `sweep` and `campaign` share, in this order: -n, --seed, -w,
    (--dask), -o; with `resumable` (what --resume finishes: 'sweep', 'run') also
    --resume/--force, -q and --chunk-size. `noun` names the input file's kind ('scenario')
    and `seeding` how replication r's seed is derived."""
    parser.add_argument(
        "-n", "--replications", type=_positive_int, default=replications,
        help=replications_help,
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=_seed, default=None,
        help=f"base seed (default: the {noun}'s 'seed'); {seeding}",
    )  # fmt: skip
    parser.add_argument("-w", "--workers", type=_positive_int, default=None, help=workers_help)
    if resumable:
        parser.add_argument(
            "--dask", metavar="ADDRESS", default=None,
            help="run on a Dask distributed cluster: a scheduler address (tcp://host:8786) or "
            "'local' for a LocalCluster on this machine (127.0.0.1, no dashboard)",
        )  # fmt: skip
    parser.add_argument(
        "-o", "--out", default=None, help=f"results folder (default: results/<{noun} name>/)"
    )
    if not resumable:
        return
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true",
        help=f"finish an interrupted {resumable} in --out (refused if its inputs differ)",
    )  # fmt: skip
    again.add_argument(
        "--force", action="store_true", help="delete an existing results folder and start over"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help=quiet_help)
    parser.add_argument(
        "--chunk-size", type=_positive_int, default=None, metavar="N",
        help="replications per task and per saved chunk (default: about 4 tasks per worker, "
        "at most 50); does not change the numbers",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand (also used to document the CLI)."""
    parser = argparse.ArgumentParser(
        prog="salvo",
        description="Simulate mass drone and missile attacks against layered air defence.",
        epilog="Run 'salvo COMMAND --help' for a command's options. Bad input exits with "
        "status 2 and a FILE:LINE: field: message line.",
    )
    parser.add_argument("--version", action="version", version=f"salvo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="run one scenario many times and summarise the outcomes",
        description="Run REPLICATIONS independent nights of a scenario and write "
        "runs.parquet (one row per night), summary.json and manifest.json to the results "
        "folder; print a summary table. Results are identical for any --workers.",
    )
    run.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    _add_replication_options(
        run,
        noun="scenario",
        replications=200,
        replications_help="number of nights to simulate (default: 200)",
        seeding="replication r uses SeedSequence(seed, spawn_key=(0, r))",
        workers_help="worker processes (default: all cores); does not change the numbers",
    )
    run.add_argument("--force", action="store_true", help="overwrite an existing results folder")
    run.add_argument(
        "--json", action="store_true", help="print summary.json on stdout instead of the table"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    run.add_argument(
        "--trace", type=_positive_int, default=0, metavar="N",
        help="also keep full traces (routes, shots, fates) of the first N replications as "
        "trace-*.parquet, for the night map of 'salvo plot'",
    )  # fmt: skip
    run.set_defaults(func=cmd_run)

    check = sub.add_parser(
        "check",
        help="validate scenario files without running them",
        description="Validate scenario files: the same checks and messages as 'salvo run', "
        "no simulation, nothing written. Exit status 2 if any file has an error.",
    )
    check.add_argument("scenarios", metavar="SCENARIO", nargs="+", help="scenario YAML files")
    check.set_defaults(func=cmd_check)

    cat = sub.add_parser(
        "catalog",
        help="list threat and defence types with their key numbers and sources",
        description="Print the default catalogue a scenario starts from: every threat and "
        "defence type with its key numbers and where each number comes from. A scenario "
        "overrides any of them under 'catalog:'.",
    )
    cat.add_argument("--json", action="store_true", help="print the full catalogue as JSON")
    cat.add_argument("--no-sources", action="store_true", help="leave out the sources list")
    cat.set_defaults(func=cmd_catalog)

    sweep = sub.add_parser(
        "sweep",
        help="run an experiment: many variants of a scenario, each replicated",
        description="Run every design point of an experiment file (see "
        "docs/experiment-reference.md) REPLICATIONS times and write runs.parquet, summary.csv, "
        "parameters.csv, manifest.json (and sensitivity.csv for Sobol designs) to the results "
        "folder. The numbers are the same on every executor and for any --workers; finished "
        "replications are saved as they complete, so an interrupted sweep goes on with --resume.",
    )
    sweep.add_argument("experiment", metavar="EXPERIMENT", help="experiment YAML file")
    _add_replication_options(
        sweep,
        noun="experiment",
        replications=None,
        replications_help="replications per design point (default: the experiment's "
        "'replications')",
        seeding="replication r of design point p uses SeedSequence(seed, spawn_key=(p, r))",
        workers_help=WORKERS_HELP,
        resumable="sweep",
    )
    sweep.set_defaults(func=cmd_sweep)

    camp = sub.add_parser(
        "campaign",
        help="run a campaign (months of nights under stocks and money) many times",
        description="Run REPLICATIONS independent replications of a campaign file (see "
        "docs/campaign-reference.md and docs/cli-campaign.md): every day of its calendar, "
        "production, deliveries and purchases, then one night of the night model with what "
        "both sides hold. Writes to the results folder: nights.parquet (one row per "
        "replication and day), runs.parquet (one row per replication: the campaign totals), "
        "summary.csv and summary.json (mean, sd, 95 %% CI of the mean, 5/50/95 %% quantiles of "
        "every total; per interceptor type the share of replications in which it ran out and "
        "the median day) and manifest.json; prints the intercept rate, mass-night intercept "
        "rate, cost exchange and run-out days. Replication r uses SeedSequence(seed, "
        "spawn_key=(0, r)), so the numbers are the same on every executor and for any "
        "--workers; finished replications are saved as they complete, so an interrupted run "
        "goes on with --resume. A campaign file with an error exits with status 2 and "
        "FILE:LINE: field.path: message, before anything is written.",
        epilog="example: salvo campaign scenarios/campaign-status-quo.yaml -n 100 -w 2",
    )
    camp.add_argument("campaign", metavar="CAMPAIGN", help="campaign YAML file")
    _add_replication_options(
        camp,
        noun="campaign",
        replications=100,
        replications_help="replications of the whole campaign (default: 100)",
        seeding="replication r uses SeedSequence(seed, spawn_key=(0, r))",
        workers_help=f"{WORKERS_HELP}; does not change the numbers",
        resumable="run",
        quiet_help="no progress on stderr and no summary on stdout (only the line naming the "
        "folder)",
    )
    camp.set_defaults(func=cmd_campaign)

    plot = sub.add_parser(
        "plot",
        help="draw the figures of a results folder",
        description="Draw the figures a results folder's files allow (outcome distributions "
        "and defence spending for 'salvo run'; a night map per traced replication) into "
        "RESULTS/figures/ and print each path. Missing or unreadable files exit with status 2.",
    )
    plot.add_argument("results", metavar="RESULTS", help="results folder")
    plot.add_argument(
        "--format", choices=("png", "svg", "pdf"), default="png",
        help="image format (default: png)",
    )  # fmt: skip
    plot.add_argument(
        "--borders", metavar="PATH", default=None,
        help="GeoJSON file of country outlines drawn under the night map "
        "(default: a plain longitude/latitude grid)",
    )  # fmt: skip
    plot.add_argument(
        "--dpi", type=_positive_int, default=150, help="resolution in dots per inch (default: 150)"
    )
    plot.add_argument(
        "--palette", action="store_true",
        help="PNG only: 8-bit colour from a fixed palette of the figure colours (files about a "
        "third of the size, for web pages)",
    )  # fmt: skip
    plot.set_defaults(func=cmd_plot)

    rep = sub.add_parser(
        "report",
        help="write report.md and report.html for a results folder",
        description="Write RESULTS/report.md and RESULTS/report.html (figures embedded): what "
        "was run, the summary table, the figures (drawn if missing) and, when the scenario "
        "records observed counts, observed versus simulated.",
    )
    rep.add_argument("results", metavar="RESULTS", help="results folder")
    rep.add_argument(
        "--borders", metavar="PATH", default=None,
        help="GeoJSON outlines for the night map, if it has to be drawn",
    )  # fmt: skip
    rep.add_argument(
        "--dpi",
        type=_positive_int,
        default=150,
        help="resolution of figures it draws (default: 150)",
    )
    rep.set_defaults(func=cmd_report)

    cal = sub.add_parser(
        "calibrate",
        help="fit the free parameters to observed nights (writes a calibration file)",
        description="Fit the free parameters of the night builder (deep shares, posture per "
        "quarter, night-to-night spreads) to the intercepted counts of the nights in NIGHTS "
        "(see docs/calibration.md and docs/cli-calibrate.md) and write the calibration file. "
        "A malformed CSV exits with status 2 and FILE:LINE: column: message.",
    )
    cal.add_argument("nights", metavar="NIGHTS", help="observed nights CSV")
    cal.add_argument(
        "--template", default=None,
        help="template scenario (default: scenarios/calibration-template.yaml)",
    )  # fmt: skip
    cal.add_argument(
        "--start", default=None, metavar="CALIBRATION",
        help="starting values, fixed values and builder from a calibration file "
        "(default: the built-in defaults)",
    )  # fmt: skip
    cal.add_argument(
        "--params", default=None, metavar="SPEC",
        help="free parameters and bounds: a YAML file {name: [low, high]} or a list "
        "'name=low:high,name2' (wildcards allowed, e.g. 'ew@*=0:0.6'); default: all",
    )  # fmt: skip
    cal.add_argument(
        "-o", "--out", default="calibrated.yaml", help="calibration file to write "
        "(default: calibrated.yaml)",
    )  # fmt: skip
    cal.add_argument("--force", action="store_true", help="overwrite an existing --out")
    cal.add_argument("--seed", type=_seed, default=1, help="seed of the emulator runs and draws")
    cal.add_argument(
        "-w", "--workers", type=_positive_int, default=None,
        help="worker processes for the emulator runs (default: all cores)",
    )  # fmt: skip
    cal.add_argument(
        "--emulator-replications", type=_positive_int, default=8, metavar="N",
        help="model runs per emulator grid cell (default: 8)",
    )  # fmt: skip
    cal.add_argument(
        "--criterion", choices=CRITERIA, default=DEFAULT_CRITERION,
        help="how the drone block is scored: its likelihood, or the weighted interval score of "
        f"the 5/50/95 %% quantiles (default: {DEFAULT_CRITERION}; missiles: likelihood)",
    )  # fmt: skip
    cal.add_argument("--no-errors", action="store_true", help="skip the standard errors (Hessian)")
    cal.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    cal.set_defaults(func=cmd_calibrate)

    val = sub.add_parser(
        "validate",
        help="simulate observed nights and score the model against a baseline",
        description="Simulate every night of NIGHTS with a calibration; per night and class "
        "the observed intercepted count, the model median and 5-95 % interval; coverage of "
        "the interval, its mean width and the MAE of the median, overall and by class, beside "
        "the quarterly-rate baseline. Writes validation.csv and validation.json.",
    )
    val.add_argument("nights", metavar="NIGHTS", help="observed nights CSV")
    val.add_argument(
        "--scenario", default="scenarios/calibrated.yaml", metavar="CALIBRATION",
        help="calibration file (default: scenarios/calibrated.yaml)",
    )  # fmt: skip
    val.add_argument(
        "-n", "--replications", type=_positive_int, default=100,
        help="replications per night (default: 100)",
    )  # fmt: skip
    val.add_argument("--seed", type=_seed, default=1, help="base seed (default: 1)")
    val.add_argument(
        "--fit-data", default=None, metavar="PATH",
        help="nights the baseline is fitted on (default: NIGHTS; with --cv the training folds)",
    )  # fmt: skip
    val.add_argument(
        "--cv", type=_positive_int, default=None, metavar="K",
        help="K-fold cross-validation: refit on K-1 folds from the default starting values, "
        "predict the K-th; scores pooled",
    )  # fmt: skip
    val.add_argument(
        "--params", default=None, metavar="SPEC",
        help="with --cv: the parameters refitted (as for calibrate; default: all)",
    )  # fmt: skip
    val.add_argument(
        "--criterion", choices=CRITERIA, default=DEFAULT_CRITERION,
        help=f"with --cv: how the folds' drone fits are scored (as for calibrate; default: "
        f"{DEFAULT_CRITERION})",
    )  # fmt: skip
    val.add_argument(
        "-w", "--workers", type=_positive_int, default=None,
        help="worker processes (default: all cores); does not change the numbers",
    )  # fmt: skip
    val.add_argument(
        "-o", "--out", default=None,
        help="folder for validation.csv and validation.json (default: results/validate-NIGHTS/)",
    )  # fmt: skip
    val.add_argument("--force", action="store_true", help="overwrite an existing --out folder")
    val.add_argument(
        "--json", action="store_true", help="print the scores as one JSON object on stdout"
    )
    val.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    val.set_defaults(func=cmd_validate)
    return parser


def _guard(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return func(args)
    except InputError as err:
        print(str(err), file=sys.stderr)
        return EXIT_BAD_INPUT
    except results.ResultsExistError as err:
        print(f"salvo: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("salvo: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `salvo` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return _guard(args.func, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
