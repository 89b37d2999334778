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

from sim import __version__, catalog_table, results
from sim.runner import default_workers, run_replications
from sim.scenario import load_catalog, load_scenario
from sim.yamlio import InputError

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
    results.write_results(out, runs=runs, summary=summary, manifest=manifest, force=args.force)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(results.format_summary(summary))
        print(f"\nwrote {out}/ (runs.parquet, summary.json, manifest.json) in {wall:.1f} s")
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


# --------------------------------------------------------------------------- parser


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
    run.add_argument(
        "-n", "--replications", type=_positive_int, default=200,
        help="number of nights to simulate (default: 200)",
    )  # fmt: skip
    run.add_argument(
        "--seed", type=_seed, default=None,
        help="base seed (default: the scenario's 'seed'); replication r uses "
        "SeedSequence(seed, spawn_key=(0, r))",
    )  # fmt: skip
    run.add_argument(
        "-w", "--workers", type=_positive_int, default=None,
        help="worker processes (default: all cores); does not change the numbers",
    )  # fmt: skip
    run.add_argument(
        "-o", "--out", default=None, help="results folder (default: results/<scenario name>/)"
    )
    run.add_argument("--force", action="store_true", help="overwrite an existing results folder")
    run.add_argument(
        "--json", action="store_true", help="print summary.json on stdout instead of the table"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
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
