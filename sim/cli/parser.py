"""The `salvo` argument parser: one small function per command, each adding its subparser.

Building the parser imports no model, pandas or matplotlib: the commands they point to
(`sim.cli.commands`) import what they need when they run.
"""

from __future__ import annotations

import argparse

from sim import __version__
from sim.analysis.calibrate import CRITERIA, DEFAULT_CRITERION
from sim.cli import commands
from sim.cli.options import (
    WORKERS_HELP,
    add_executor_options,
    add_replication_options,
    iso_date,
    positive_int,
    seed,
)


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
    for add_command in COMMANDS:
        add_command(sub)
    return parser


def add_run(sub: argparse._SubParsersAction) -> None:
    """`salvo run`."""
    run = sub.add_parser(
        "run",
        help="run one scenario many times and summarise the outcomes",
        description="Run REPLICATIONS independent nights of a scenario and write "
        "runs.parquet (one row per night), summary.json and manifest.json to the results "
        "folder; print a summary table. Results are identical for any --workers.",
    )
    run.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    add_replication_options(
        run,
        noun="scenario",
        replications=200,
        replications_help="number of nights to simulate (default: 200)",
        seeding="replication r uses SeedSequence(seed, spawn_key=(0, r))",
        workers_help=f"{WORKERS_HELP}; does not change the numbers",
    )
    run.add_argument(
        "--force", action="store_true",
        help="replace an existing results folder that salvo wrote (never another folder, a "
        "file or a device)",
    )  # fmt: skip
    run.add_argument(
        "--json", action="store_true", help="print summary.json on stdout instead of the table"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    add_allow_large(run)
    run.add_argument(
        "--trace", type=positive_int, default=0, metavar="N",
        help="also keep full traces (routes, shots, fates) of the first N replications as "
        "trace-*.parquet, for the night map of 'salvo plot'",
    )  # fmt: skip
    run.set_defaults(func=commands.cmd_run)


def add_check(sub: argparse._SubParsersAction) -> None:
    """`salvo check`."""
    check = sub.add_parser(
        "check",
        help="validate scenario, campaign, experiment and calibration files without running them",
        description="Validate salvo files, each by the kind its keys say (a scenario, a "
        "campaign, an experiment or a calibration file): the same checks and messages as the "
        "command that runs it, no simulation, nothing written. Exit status 2 if any file has "
        "an error.",
        epilog="example: salvo check scenarios/*.yaml experiments/*.yaml",
    )
    check.add_argument(
        "files", metavar="FILE", nargs="+",
        help="scenario, campaign, experiment or calibration YAML files",
    )  # fmt: skip
    check.set_defaults(func=commands.cmd_check)


def add_catalog(sub: argparse._SubParsersAction) -> None:
    """`salvo catalog`."""
    cat = sub.add_parser(
        "catalog",
        help="list threat and defence types with their key numbers and sources",
        description="Print the default catalogue a scenario starts from: every threat and "
        "defence type with its key numbers and where each number comes from. A scenario "
        "overrides any of them under 'catalog:'.",
    )
    cat.add_argument("--json", action="store_true", help="print the full catalogue as JSON")
    cat.add_argument("--no-sources", action="store_true", help="leave out the sources list")
    cat.set_defaults(func=commands.cmd_catalog)


def add_allow_large(parser: argparse.ArgumentParser) -> None:
    """`--allow-large`: run a job beyond the limits of `sim.experiments.limits`."""
    parser.add_argument(
        "--allow-large", action="store_true",
        help="run a job beyond salvo's limits (100,000 threats or 10,000 defence units a "
        "night, 1,000,000 nights a job), which are refused otherwise",
    )  # fmt: skip


def add_sweep(sub: argparse._SubParsersAction) -> None:
    """`salvo sweep`."""
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
    add_replication_options(
        sweep,
        noun="experiment",
        replications=None,
        replications_help="replications per design point (default: the experiment's "
        "'replications')",
        seeding="replication r of design point p uses SeedSequence(seed, spawn_key=(p, r))",
        workers_help=WORKERS_HELP,
        resumable="sweep",
    )
    add_allow_large(sweep)
    sweep.set_defaults(func=commands.cmd_sweep)


def add_campaign(sub: argparse._SubParsersAction) -> None:
    """`salvo campaign`."""
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
    add_replication_options(
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
    add_allow_large(camp)
    camp.add_argument(
        "--observed", metavar="NIGHTS", default=None,
        help="observed nights CSV: also compare the campaign month by month with the nights "
        "of the same months (simulated median and 90 %% band against observed; written to "
        "hindcast.csv, drawn by 'salvo plot'; printed unless -q)",
    )  # fmt: skip
    camp.add_argument(
        "--month-counts", metavar="PATH", default=None,
        help="with --observed: the full monthly counts of nights with >= 30 threats and the "
        "threats on them (a CSV month,nights,threats, or a README with a '## Full monthly "
        "counts' table such as ../shared/data/README.md), for the threats launched per month",
    )  # fmt: skip
    camp.set_defaults(func=commands.cmd_campaign)


def add_plot(sub: argparse._SubParsersAction) -> None:
    """`salvo plot`."""
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
        "--dpi", type=positive_int, default=150, help="resolution in dots per inch (default: 150)"
    )
    plot.add_argument(
        "--palette", action="store_true",
        help="PNG only: 8-bit colour from a fixed palette of the figure colours (files about a "
        "third of the size, for web pages)",
    )  # fmt: skip
    plot.set_defaults(func=commands.cmd_plot)


def add_report(sub: argparse._SubParsersAction) -> None:
    """`salvo report`."""
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
        type=positive_int,
        default=150,
        help="resolution of figures it draws (default: 150)",
    )
    rep.set_defaults(func=commands.cmd_report)


def add_calibrate(sub: argparse._SubParsersAction) -> None:
    """`salvo calibrate`."""
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
    cal.add_argument("--seed", type=seed, default=1, help="seed of the emulator runs and draws")
    add_executor_options(cal, workers_help=f"{WORKERS_HELP} for the emulator runs; does not "
                         "change the numbers")  # fmt: skip
    cal.add_argument(
        "--emulator-replications", type=positive_int, default=8, metavar="N",
        help="model runs per emulator grid cell (default: 8)",
    )  # fmt: skip
    cal.add_argument(
        "--criterion", choices=CRITERIA, default=DEFAULT_CRITERION,
        help="how the drone block is scored: its likelihood, or the weighted interval score of "
        f"the 5/50/95 %% quantiles (default: {DEFAULT_CRITERION}; missiles: likelihood)",
    )  # fmt: skip
    cal.add_argument(
        "--since", type=iso_date, default=None, metavar="DATE",
        help="fit only the nights dated DATE or later",
    )  # fmt: skip
    cal.add_argument(
        "--until", type=iso_date, default=None, metavar="DATE",
        help="fit only the nights before DATE (a forecast from DATE on: the calibration sees "
        "nothing from DATE on)",
    )  # fmt: skip
    cal.add_argument("--no-errors", action="store_true", help="skip the standard errors (Hessian)")
    cal.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    cal.set_defaults(func=commands.cmd_calibrate)


def add_calibrate_attacker(sub: argparse._SubParsersAction) -> None:
    """`salvo calibrate-attacker`."""
    att = sub.add_parser(
        "calibrate-attacker",
        help="fit the attacker's launch process to observed nights (writes a fit file)",
        description="Fit the launch process of the nights in NIGHTS (nights with at least 30 "
        "threats): launch nights per day by month (from the full monthly counts), the size "
        "distribution (a two-component ordinary / mass mixture, its drift chosen by BIC), the "
        "composition by class given the component, and the cadence of mass nights; write the "
        "fit, with the data's sha256, the method and standard errors, as YAML, and print the "
        "fitted threats per month against the full counts (see docs/cli-calibrate.md). A "
        "malformed file exits with status 2 and FILE:LINE: column: message.",
    )
    att.add_argument("nights", metavar="NIGHTS", help="observed nights CSV")
    att.add_argument(
        "--month-counts", metavar="PATH", default=None,
        help="the full monthly counts of nights with >= 30 threats and the threats on them: a "
        "CSV month,nights,threats or a README with a '## Full monthly counts' table (such as "
        "../shared/data/README.md)",
    )  # fmt: skip
    att.add_argument(
        "--sampling-fraction", type=float, default=None, metavar="F",
        help="without --month-counts: the share of all nights that NIGHTS holds",
    )  # fmt: skip
    att.add_argument(
        "--from", dest="since", type=iso_date, default=None, metavar="DATE",
        help="fit the nights dated DATE or later (default: the first night)",
    )  # fmt: skip
    att.add_argument(
        "--to", dest="until", type=iso_date, default=None, metavar="DATE",
        help="fit the nights before DATE (default: after the last night)",
    )  # fmt: skip
    att.add_argument(
        "-o", "--out", default="attacker-fit.yaml",
        help="the fit file to write (default: attacker-fit.yaml)",
    )  # fmt: skip
    att.add_argument("--force", action="store_true", help="overwrite an existing --out")
    att.add_argument(
        "--seed", type=seed, default=0, help="seed of the cadence permutation test (default 0)"
    )
    att.set_defaults(func=commands.cmd_calibrate_attacker)


def add_validate(sub: argparse._SubParsersAction) -> None:
    """`salvo validate`."""
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
        "-n", "--replications", type=positive_int, default=100,
        help="replications per night (default: 100)",
    )  # fmt: skip
    val.add_argument("--seed", type=seed, default=1, help="base seed (default: 1)")
    val.add_argument(
        "--from", dest="since", type=iso_date, default=None, metavar="DATE",
        help="score only the nights dated DATE or later (a forecast); the baseline is then "
        "fitted on the nights before DATE unless --fit-data is given",
    )  # fmt: skip
    val.add_argument(
        "--until", type=iso_date, default=None, metavar="DATE",
        help="score only the nights before DATE",
    )  # fmt: skip
    val.add_argument(
        "--fit-data", default=None, metavar="PATH",
        help="nights the baseline is fitted on (default: NIGHTS; with --cv the training folds)",
    )  # fmt: skip
    val.add_argument(
        "--cv", type=positive_int, default=None, metavar="K",
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
    add_executor_options(val, workers_help=f"{WORKERS_HELP}; does not change "
                         "the numbers")  # fmt: skip
    val.add_argument(
        "-o", "--out", default=None,
        help="folder for validation.csv and validation.json (default: results/validate-NIGHTS/)",
    )  # fmt: skip
    val.add_argument("--force", action="store_true", help="overwrite an existing --out folder")
    val.add_argument(
        "--json", action="store_true", help="print the scores as one JSON object on stdout"
    )
    val.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    val.set_defaults(func=commands.cmd_validate)


COMMANDS = (
    add_run,
    add_check,
    add_catalog,
    add_sweep,
    add_campaign,
    add_plot,
    add_report,
    add_calibrate,
    add_validate,
    add_calibrate_attacker,
)
