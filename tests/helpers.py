"""Plain helpers shared by several test modules (fixtures live in conftest.py): the `salvo`
command line run in-process, checks of drawn figures, and nights CSVs written for a test."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.image
import numpy as np

from sim.cli.app import main
from sim.spec.observed import REQUIRED_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
DPI = 40  # figures drawn by the tests are small to keep them fast; sizes scale with it


def call(argv: list[str]) -> tuple[int, str, str]:
    """Run `salvo ARGV` in-process; return (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def is_blank(path: Path, threshold: float = 1e-3) -> bool:
    """True when the image's pixel values hardly vary (an empty or single-colour figure)."""
    image = matplotlib.image.imread(path)
    return float(np.var(image[..., :3])) < threshold


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels."""
    image = matplotlib.image.imread(path)
    return image.shape[1], image.shape[0]


def pixels(width_in: float, height_in: float) -> tuple[int, int]:
    """The pixel size of a figure of that many inches at DPI (matplotlib truncates)."""
    return int(width_in * DPI + 1e-9), int(height_in * DPI + 1e-9)


def night_row(date: str = "2025-08-21", **counts: int) -> list:
    """One row of a nights CSV: `date`, then every count column (0 unless given)."""
    values = dict.fromkeys(REQUIRED_COLUMNS[1:], 0)
    values.update(counts)
    return [date, *(values[c] for c in REQUIRED_COLUMNS[1:])]


def write_nights_csv(
    folder: Path, rows: Iterable[Sequence], header: Sequence[str] = REQUIRED_COLUMNS
) -> Path:
    """`folder/nights.csv` with `header` and `rows` (values written as they are)."""
    path = folder / "nights.csv"
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path
