"""The `salvo` console script: parse, run the command, turn bad input into exit status 2.

Bad input (a file with an error, an existing results folder, an option out of range) prints
`FILE:LINE: field.path: message` (or `salvo: message`) on stderr and exits with status 2;
nothing is written in that case. Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import sys
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `salvo` console script."""
    args = build_parser().parse_args(argv)
    return guarded(args.func, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
