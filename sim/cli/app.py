"""The `salvo` console script: parse, run the command, turn bad input into exit status 2.

Bad input (a file with an error, an existing results folder, an option out of range) prints
`FILE:LINE: field.path: message` (or `salvo: message`) on stderr and exits with status 2;
nothing is written in that case. Ctrl-C or SIGTERM exits with 130 and says what is saved.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from sim.cli.commands import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_INTERRUPTED
from sim.cli.parser import build_parser


def guarded(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; bad input and executor failures become a message and an exit status."""
    from sim.spec.yamlio import InputError, OptionError

    try:
        return func(args)
    except InputError as err:
        print(str(err), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OptionError as err:
        print(f"salvo: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("salvo: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        # imported only once something went wrong, so start-up stays light
        from sim.experiments.executors import ExecutorError
        from sim.results.files import ResultsExistError

        if isinstance(err, ResultsExistError):  # an existing or foreign results folder
            print(f"salvo: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if isinstance(err, ExecutorError):  # Dask missing, scheduler unreachable, dead worker
            print(f"salvo: {err}", file=sys.stderr)
            return EXIT_ERROR
        raise


def terminated(signum: int, frame: object) -> None:
    """SIGTERM (`kill`, a scheduler's time limit) stops a command as Ctrl-C does: what finished
    is saved and the message says how to resume."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `salvo` console script."""
    args = build_parser().parse_args(argv)
    if threading.current_thread() is not threading.main_thread():
        return guarded(args.func, args)
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        return guarded(args.func, args)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
