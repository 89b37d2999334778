"""Option types and the option groups several `salvo` commands share (argparse only)."""

from __future__ import annotations

import argparse
import datetime as dt

from sim.experiments.executors import MAX_WORKERS


def whole_number(text: str, minimum: int, rule: str) -> int:
    """`text` as a whole number of at least `minimum` (ArgumentTypeError saying `rule`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {rule}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    return whole_number(text, 1, "at least 1")


def worker_count(text: str) -> int:
    """argparse type: a number of workers, 1 to MAX_WORKERS (more than the machine holds is
    capped when the work starts, with a message)."""
    value = positive_int(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_WORKERS} (more cores than one machine has), got {value}"
        )
    return value


def seed(text: str) -> int:
    """argparse type: a seed, a whole number of 0 or more."""
    return whole_number(text, 0, "0 or more")


def iso_date(text: str) -> dt.date:
    """argparse type: a date such as 2025-10-01."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date such as 2025-10-01, got '{text}'"
        ) from None


# -w of the commands that can run on Dask
WORKERS_HELP = (
    "local worker processes (default: all cores; 1 runs serially; capped at what the "
    "machine's cores and memory hold, at most 4096); with '--dask local' the "
    "number of Dask workers"
)
DASK_HELP = (
    "run on a Dask distributed cluster: a scheduler address (tcp://host:8786) or 'local' for a "
    "LocalCluster on this machine (127.0.0.1, no dashboard)"
)


def add_executor_options(parser: argparse.ArgumentParser, *, workers_help: str) -> None:
    """-w/--workers and --dask: where the work runs (never what it computes)."""
    parser.add_argument("-w", "--workers", type=worker_count, default=None, help=workers_help)
    parser.add_argument("--dask", metavar="ADDRESS", default=None, help=DASK_HELP)


def add_replication_options(
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
    --dask, -o; with `resumable` (what --resume finishes: 'sweep', 'run') also
    --resume/--force, -q and --chunk-size. `noun` names the input file's kind ('scenario')
    and `seeding` how replication r's seed is derived."""
    parser.add_argument(
        "-n", "--replications", type=positive_int, default=replications,
        help=replications_help,
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=seed, default=None,
        help=f"base seed (default: the {noun}'s 'seed'); {seeding}",
    )  # fmt: skip
    add_executor_options(parser, workers_help=workers_help)
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
        "--force",
        action="store_true",
        help="delete an existing results folder that salvo wrote and start over (never "
        "another folder, a file or a device)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help=quiet_help)
    parser.add_argument(
        "--chunk-size", type=positive_int, default=None, metavar="N",
        help="replications per task and per saved chunk (default: about 4 tasks per worker, "
        "at most 50); does not change the numbers",
    )  # fmt: skip
