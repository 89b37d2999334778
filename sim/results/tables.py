"""Fixed-width plain-text tables for the terminal: one renderer for every command's report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def text_table(headers: list[str], rows: list[list[str]], *, numeric: bool = True) -> list[str]:
    """Render a fixed-width table as lines, columns two spaces apart.

    With `numeric` (reports of numbers) the first column is left-aligned, the others right-
    aligned and trailing blanks are cut; without it (text such as the catalogue) every column
    is left-aligned and padded to its width.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        if not numeric:
            return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in rows)
    return out


def design_cell(value: Any) -> str:
    """A design point's parameter value in a table (floats to four significant digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def sobol_lines(sensitivity: Iterable[Mapping[str, Any]]) -> list[str]:
    """The Sobol' indices table of a sweep's report (rows of sensitivity.csv as mappings)."""
    rows = [
        [
            r["output"],
            r["parameter"],
            r["kind"],
            f"{r['S1']:.3f} ± {r['S1_conf']:.3f}",
            f"{r['ST']:.3f} ± {r['ST_conf']:.3f}",
        ]
        for r in sensitivity
    ]
    return [
        "",
        "Sobol' indices (first order S1, total ST, ± 95 % half-width):",
        *text_table(["output", "parameter", "kind", "S1", "ST"], rows),
    ]
