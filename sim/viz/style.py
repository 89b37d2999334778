"""How every figure looks and is written (Okabe-Ito colours, one matplotlib style, date-free
metadata), so the same files give the same bytes; no pyplot, Agg unless pyplot is in use.
"""

from __future__ import annotations

import functools
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # never switch an interactive session's backend
    matplotlib.use("Agg")

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from PIL import Image

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
DEFAULT_DPI = 150

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision
# deficiency and in greyscale print by lightness.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
GREY = "#8C8C8C"
CLASS_COLOURS: dict[str, str] = {
    "drone": OKABE_ITO["blue"],
    "decoy": OKABE_ITO["sky_blue"],
    "cruise": OKABE_ITO["green"],
    "ballistic": OKABE_ITO["purple"],
    "hypersonic": OKABE_ITO["vermillion"],
    "total": "#555555",
}
MASS_COLOUR = OKABE_ITO["orange"]  # mass nights of a campaign
# one colour per interceptor type, in the order the nights table lists them (no yellow: too
# light for lines on white)
TYPE_COLOURS = (
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["green"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["black"],
)

STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs on every machine
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.labelsize": 9.5,
    "figure.titlesize": 13,
    "legend.fontsize": 8.5,
    "axes.grid": True,
    "grid.color": "#D0D0D0",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#404040",
    "svg.hashsalt": "salvo",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "path.simplify": False,
    "text.parse_math": False,  # "$" in labels is a dollar sign, not mathtext
}
METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
}


@dataclass(frozen=True)
class PlotOptions:
    """How to draw: file format, resolution and an optional borders GeoJSON for maps."""

    fmt: str = "png"
    dpi: int = DEFAULT_DPI
    borders: Path | None = None
    palette: bool = False  # PNG only: 8-bit indexed colour from PALETTE (smaller files)


def styled(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run a figure-making function inside the fixed STYLE, whoever calls it."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


@cache
def indexed_palette() -> Image.Image:
    """A fixed 8-bit palette of the figure colours: each Okabe-Ito colour blended in steps
    into white and into the land grey (anti-aliased edges, translucent fills), and greys.

    Mapping every pixel to its nearest entry (no dithering) keeps each colour's meaning and
    gives PNGs a third of the size, for web pages and READMEs; it is deterministic.
    """
    colours: set[tuple[int, int, int]] = {(g, g, g) for g in range(0, 256, 8)}
    colours |= {(255, 255, 255), (244, 244, 244)}
    for hex_colour in OKABE_ITO.values():
        colour = np.array(to_rgb(hex_colour))
        for background in ("#FFFFFF", "#F4F4F4"):
            back = np.array(to_rgb(background))
            for alpha in np.linspace(0.08, 1.0, 11):
                blend = np.round(255 * (alpha * colour + (1 - alpha) * back)).astype(int)
                colours.add((int(blend[0]), int(blend[1]), int(blend[2])))
    entries = sorted(colours)[:256]
    palette = Image.new("P", (1, 1))
    palette.putpalette([v for rgb in entries for v in rgb] + [0] * (768 - 3 * len(entries)))
    return palette


def save_figure(fig: Figure, path: Path, options: PlotOptions) -> Path:
    """Write a figure with fixed size, DPI and date-free metadata (same input, same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(STYLE):
        if options.palette and options.fmt == "png":
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=options.dpi, metadata=METADATA["png"])
            with Image.open(buffer) as image:
                indexed = image.convert("RGB").quantize(
                    palette=indexed_palette(), dither=Image.Dither.NONE
                )
            indexed.save(path, format="png", optimize=True)
        else:
            fig.savefig(path, format=options.fmt, dpi=options.dpi, metadata=METADATA[options.fmt])
    return path


def new_figure(width_in: float, height_in: float) -> Figure:
    """An empty figure of that size (inches) with the constrained layout."""
    return Figure(figsize=(width_in, height_in), layout="constrained")


def titles(fig: Figure, title: str, subtitle: str) -> None:
    """A bold title over a grey subtitle (scenario, replications) at the top of the figure."""
    sup = fig.suptitle(f"{title}\n", fontweight="bold", fontsize=STYLE["figure.titlesize"])
    # the subtitle sits in the empty second line of the title, which the layout reserves
    fig.add_artist(
        Annotation(
            subtitle,
            xy=(0.5, 0.0),
            xycoords=sup,
            ha="center",
            va="bottom",
            fontsize=9,
            color="#404040",
        )
    )


def usd_text(x: float) -> str:
    """US$ in millions ($1.2M), or in thousands below $100k ($85k)."""
    return f"${x / 1e6:,.1f}M" if abs(x) >= 1e5 else f"${x / 1e3:,.0f}k"


def type_colour(k: int) -> str:
    """The colour of the k-th interceptor type (repeating after seven)."""
    return TYPE_COLOURS[k % len(TYPE_COLOURS)]
