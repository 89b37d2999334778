"""Figures from results folders: ``salvo plot RESULTS_DIR``.

This module reads results files only; it never runs the model. Which figures are drawn
depends on which files the folder holds, through a registry of figure kinds
(``FIGURE_KINDS``): each kind names the files that select it, the files it needs, and a
function that turns the folder into figures. Kinds of results that other commands write plug
in with ``register_kind``:

=============  =====================================  ==========================================
kind           selected by                            figures
=============  =====================================  ==========================================
run            ``summary.json`` (+ ``runs.parquet``)  intercepted and leakers per night
                                                      (histograms, observed value marked);
                                                      interceptors fired and cost by defence type
night-map      ``trace-*.parquet`` (``run --trace``)  one map per traced replication
sweep          ``summary.csv`` + ``parameters.csv``   one parameter: intercept rate and leakers
                                                      against it (mean, 95 % CI, 5–95 % band);
                                                      two on a grid: heatmaps; more: scatter
sobol          ``sensitivity.csv``                    first-order and total Sobol' indices
campaign       ``nights.parquet`` (or a manifest      stock by interceptor type over time;
               with ``"kind": "campaign"``)           intercept rate per night; cumulative spend
                                                      of each side; cost-exchange ratio; the day
                                                      each stock runs out (``sim.viz.campaign``)
campaign-      a manifest with ``"kind":              one parameter: campaign intercept rate (all
sweep          "campaign-sweep"`` (``salvo sweep`` of  and mass nights), cost exchange and the
               a campaign experiment)                 share of replications each stock ran out
                                                      against it; two on a grid: heatmaps; more:
                                                      scatter; Sobol' indices (sensitivity.csv)
=============  =====================================  ==========================================

A kind may supersede others whose marker files its folder also holds: a campaign folder has a
``summary.json`` and a ``summary.csv`` too, but is drawn as a campaign, not as a run or a sweep;
a campaign sweep's ``summary.csv`` and ``sensitivity.csv`` are drawn by the campaign-sweep kind,
not by the night ``sweep`` and ``sobol`` kinds.

Output is deterministic: the same files give the same bytes (fixed size, DPI and font,
Agg rendering, no dates or software versions in the file metadata, a fixed SVG hash salt).
Figures are ``matplotlib.figure.Figure`` objects drawn without pyplot, so nothing here
depends on, or changes, an interactive session's figures; the Agg backend is selected at
import unless pyplot is already in use.
"""

from __future__ import annotations

import functools
import io
import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # never switch an interactive session's backend
    matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, Patch, Polygon
from matplotlib.path import Path as MplPath
from matplotlib.text import Annotation
from PIL import Image

from sim.vocab import (
    CLASSES,
    FIGURES_DIR,
    GROUP_LABELS,
    MANIFEST_FILE,
    PARAMETERS_FILE,
    REPORTED_CLASSES,
    RUNS_FILE,
    SENSITIVITY_FILE,
    SUMMARY_FILE,
    SWEEP_SUMMARY_FILE,
    TRACE_FILES,
    trace_file,
)

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
DEFAULT_DPI = 150
KM_PER_DEG_LAT = 111.2  # mean length of one degree of latitude, km

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
# defence kinds grouped into layers that share a colour on the night map
KIND_LAYERS: dict[str, tuple[str, str]] = {
    "sam_long": ("long-range SAM", OKABE_ITO["blue"]),
    "sam_medium": ("medium-range SAM", OKABE_ITO["sky_blue"]),
    "sam_short": ("short-range SAM / MANPADS", OKABE_ITO["yellow"]),
    "manpads": ("short-range SAM / MANPADS", OKABE_ITO["yellow"]),
    "gun": ("guns and mobile fire groups", OKABE_ITO["green"]),
    "mobile_fire_group": ("guns and mobile fire groups", OKABE_ITO["green"]),
    "fighter": ("fighters and helicopters", OKABE_ITO["black"]),
    "helicopter": ("fighters and helicopters", OKABE_ITO["black"]),
    "interceptor_drone": ("interceptor drones", OKABE_ITO["purple"]),
    "ew": ("electronic warfare", OKABE_ITO["orange"]),
}
OBSERVED_COLOUR = OKABE_ITO["vermillion"]

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


# --------------------------------------------------------------------------- errors, options


class ResultsFileError(Exception):
    """A results (or borders) file that is missing or cannot be read; names the file."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


@dataclass(frozen=True)
class PlotOptions:
    """How to draw: file format, resolution and an optional borders GeoJSON for maps."""

    fmt: str = "png"
    dpi: int = DEFAULT_DPI
    borders: Path | None = None
    palette: bool = False  # PNG only: 8-bit indexed colour from PALETTE (smaller files)


# --------------------------------------------------------------------------- registry


def styled(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run a figure-making function inside the fixed STYLE, whoever calls it."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


LoadFunction = Callable[[Path, PlotOptions], Any]
DrawFunction = Callable[[Any, PlotOptions], list[tuple[str, Figure]]]


@dataclass(frozen=True)
class FigureKind:
    """One kind of results and the figures drawn for it.

    The kind is chosen when any file of ``selects`` is in the folder; then every file of
    ``requires`` must be there too. ``load`` reads and checks the files (raising
    ResultsFileError), ``names`` gives the file stems the loaded data will be drawn as, and
    ``draw`` returns ``(file stem, figure)`` pairs. Every kind of a folder is loaded before
    any figure is drawn, so bad input writes nothing. A kind without ``draw`` is recognised
    but its figures are not implemented yet. When this kind is selected, the kinds named in
    ``supersedes`` are not (their marker files belong to this kind's folder). ``detect``, if
    given, also selects the kind (e.g. a manifest saying what wrote the folder), so a folder
    that lost its marker file is reported as missing it rather than taken for another kind.
    """

    name: str
    selects: tuple[str, ...]
    requires: tuple[str, ...]
    description: str
    load: LoadFunction | None = field(default=None, compare=False)
    names: Callable[[Any], list[str]] | None = field(default=None, compare=False)
    draw: DrawFunction | None = field(default=None, compare=False)
    supersedes: tuple[str, ...] = ()
    detect: Callable[[Path], bool] | None = field(default=None, compare=False)

    def selected_by(self, folder: Path) -> bool:
        """True if the folder holds any of the files that select this kind (or ``detect``
        recognises it)."""
        if any((folder / name).exists() for name in self.selects):
            return True
        return self.detect is not None and self.detect(folder)


FIGURE_KINDS: dict[str, FigureKind] = {}


def register_kind(
    name: str,
    *,
    selects: Sequence[str],
    requires: Sequence[str] | None = None,
    description: str,
    load: LoadFunction,
    names: Callable[[Any], list[str]],
    supersedes: Sequence[str] = (),
    detect: Callable[[Path], bool] | None = None,
) -> Callable[[DrawFunction], DrawFunction]:
    """Decorator: register ``draw`` as the figures of results holding ``selects``.

    A new results type plugs in with its own ``load`` (files -> data, ResultsFileError on
    bad input), ``names`` (data -> figure file stems) and the decorated ``draw``
    (data, options -> [(stem, Figure)]); ``supersedes`` names kinds it replaces in a folder
    that holds its files; ``detect`` (folder -> bool) selects it by other evidence too.
    """

    def decorator(draw: DrawFunction) -> DrawFunction:
        FIGURE_KINDS[name] = FigureKind(
            name=name,
            selects=tuple(selects),
            requires=tuple(requires if requires is not None else selects),
            description=description,
            load=load,
            names=names,
            draw=styled(draw),
            supersedes=tuple(supersedes),
            detect=detect,
        )
        return draw

    return decorator


def select_kinds(folder: Path | str) -> list[FigureKind]:
    """The figure kinds a results folder holds; raises ResultsFileError if it holds none
    or if a selected kind lacks one of its files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsFileError(folder, "no such results folder")
    kinds = [kind for kind in FIGURE_KINDS.values() if kind.selected_by(folder)]
    superseded = {name for kind in kinds for name in kind.supersedes}
    kinds = [kind for kind in kinds if kind.name not in superseded]
    summaries = ("summary.json", "summary.csv")
    if (
        "run" not in superseded
        and (folder / RUNS_FILE).exists()
        and not any((folder / n).exists() for n in summaries)
    ):
        raise ResultsFileError(
            folder / SUMMARY_FILE,
            f"missing: {RUNS_FILE} is there but no summary "
            "(summary.json for 'salvo run', summary.csv for 'salvo sweep')",
        )
    if not kinds:
        known = ", ".join(
            f"{' + '.join(kind.requires)} ({kind.name})" for kind in FIGURE_KINDS.values()
        )
        raise ResultsFileError(folder, f"no results files found; expected one of: {known}")
    for kind in kinds:
        for name in kind.requires:
            if not (folder / name).is_file():
                raise ResultsFileError(
                    folder / name, f"missing ({kind.description} needs {', '.join(kind.requires)})"
                )
    return kinds


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


def plot_results(
    folder: Path | str,
    *,
    fmt: str = "png",
    dpi: int = DEFAULT_DPI,
    borders: Path | str | None = None,
    palette: bool = False,
    only_missing: bool = False,
) -> list[Path]:
    """Draw every figure the folder's results allow into ``folder/figures``; return the paths.

    Raises ResultsFileError (naming the file) for missing or unreadable inputs and
    NotImplementedError when the folder holds only kinds whose figures are not written yet.
    ``only_missing`` skips kinds whose figures all exist already (used by ``salvo report``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    folder = Path(folder)
    options = PlotOptions(
        fmt=fmt, dpi=int(dpi), borders=Path(borders) if borders else None, palette=palette
    )
    if options.borders is not None:
        read_borders(options.borders)  # fail early, before any figure is drawn
    kinds = select_kinds(folder)
    drawable = [kind for kind in kinds if kind.draw is not None and kind.load is not None]
    if not drawable:
        names = ", ".join(f"{k.name} ({' + '.join(k.selects)})" for k in kinds)
        raise NotImplementedError(f"figures for these results are not implemented yet: {names}")
    loaded = [(kind, kind.load(folder, options)) for kind in drawable]  # all checked first
    out_dir = folder / FIGURES_DIR
    written: list[Path] = []
    for kind, data in loaded:
        if only_missing and kind.names is not None:
            expected = [out_dir / f"{stem}.{fmt}" for stem in kind.names(data)]
            if expected and all(p.exists() for p in expected):
                written.extend(expected)
                continue
        for stem, fig in kind.draw(data, options):
            written.append(save_figure(fig, out_dir / f"{stem}.{fmt}", options))
    return written


# --------------------------------------------------------------------------- reading files


def read_json(path: Path) -> dict:
    """Read a JSON object, turning every failure into a ResultsFileError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFileError(path, "missing") from None
    except json.JSONDecodeError as err:
        raise ResultsFileError(path, f"not valid JSON (line {err.lineno}: {err.msg})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ResultsFileError(path, f"cannot read: {err}") from None
    if not isinstance(data, dict):
        raise ResultsFileError(path, "expected a JSON object")
    return data


def read_parquet(path: Path, columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read a Parquet table and check it has ``columns``; failures name the file."""
    if not path.is_file():
        raise ResultsFileError(path, "missing")
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for damaged files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ResultsFileError(path, f"not a readable Parquet file ({first})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ResultsFileError(path, f"missing column(s) {', '.join(missing)}")
    return frame


@dataclass(frozen=True)
class RunResults:
    """The files of a ``salvo run`` results folder."""

    folder: Path
    runs: pd.DataFrame
    summary: dict
    manifest: dict | None

    @property
    def scenario(self) -> str:
        return str(self.summary.get("scenario", "?"))

    @property
    def replications(self) -> int:
        return int(self.summary.get("replications", len(self.runs)))

    def subtitle(self) -> str:
        seed = self.summary.get("seed")
        seed_text = f" · seed {seed}" if seed is not None else ""
        return f"scenario {self.scenario} · {self.replications} replications{seed_text}"


def read_run(folder: Path) -> RunResults:
    """Read and check runs.parquet, summary.json and (if present) manifest.json."""
    summary = read_json(folder / SUMMARY_FILE)
    for key in ("scenario", "replications", "outcomes", "launched"):
        if key not in summary:
            raise ResultsFileError(folder / SUMMARY_FILE, f"missing key '{key}'")
    outcomes = ("launched", "intercepted", "leaked")
    needed = [f"{o}.{c}" for o in outcomes for c in (*CLASSES, "total")]
    runs = read_parquet(folder / RUNS_FILE, needed)
    if len(runs) == 0:
        raise ResultsFileError(folder / RUNS_FILE, "has no rows")
    manifest_path = folder / MANIFEST_FILE
    manifest = read_json(manifest_path) if manifest_path.exists() else None
    return RunResults(folder=folder, runs=runs, summary=summary, manifest=manifest)


# --------------------------------------------------------------------------- drawing helpers


def _new_figure(width_in: float, height_in: float) -> Figure:
    return Figure(figsize=(width_in, height_in), layout="constrained")


def _titles(fig: Figure, title: str, subtitle: str) -> None:
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


def _integer_bins(values: np.ndarray, max_bins: int = 40) -> np.ndarray:
    """Bin edges on half-integers, so each bar holds whole counts."""
    lo, hi = math.floor(float(np.min(values))), math.ceil(float(np.max(values)))
    width = max(1, math.ceil((hi - lo + 1) / max_bins))
    return np.arange(lo - 0.5, hi + width + 0.5, width, dtype=float)


def _histogram(
    ax,
    values: np.ndarray,
    *,
    colour: str,
    xlabel: str,
    title: str,
    observed: float | None = None,
) -> None:
    """Per-night counts as a histogram with mean, 5–95 % range and the observed value.

    The panel title gets the mean (and observed value); the legend is the figure's.
    """
    values = np.asarray(values, dtype=float)
    ax.hist(
        values,
        bins=_integer_bins(values),
        color=colour,
        alpha=0.8,
        edgecolor="white",
        linewidth=0.5,
    )
    p05, p95 = np.quantile(values, [0.05, 0.95])
    ax.axvspan(p05 - 0.5, p95 + 0.5, color=GREY, alpha=0.18, lw=0, zorder=0)
    mean = float(np.mean(values))
    ax.axvline(mean, color="black", lw=1.5)
    detail = f"mean {mean:.1f}"
    if observed is not None:
        ax.axvline(observed, color=OBSERVED_COLOUR, lw=2.2, ls="--")
        lo, hi = ax.get_xlim()
        pad = 0.05 * max(hi - lo, 1.0)
        ax.set_xlim(min(lo, observed - pad), max(hi, observed + pad))
        detail += f", observed {observed:g}"
    ax.set_title(f"{title}\n{detail}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("nights (count)")
    ax.yaxis.get_major_locator().set_params(integer=True)


def _histogram_legend(fig: Figure, *, observed: bool) -> None:
    """One legend for every histogram panel, below them."""
    handles = [
        Patch(facecolor=GREY, alpha=0.8, label="simulated nights"),
        Patch(facecolor=GREY, alpha=0.18, label="5–95 % of nights"),
        Line2D([], [], color="black", lw=1.5, label="mean over nights"),
    ]
    if observed:
        handles.append(
            Line2D([], [], color=OBSERVED_COLOUR, lw=2.2, ls="--", label="observed (reported)")
        )
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)


def _reported_sum(runs: pd.DataFrame, outcome: str, group: str) -> np.ndarray:
    return sum(runs[f"{outcome}.{c}"].to_numpy(dtype=float) for c in REPORTED_CLASSES[group])


def _observed(summary: Mapping[str, Any], what: str, key: str) -> float | None:
    observed = summary.get("observed") or {}
    table = observed.get(what) if isinstance(observed, Mapping) else None
    value = table.get(key) if isinstance(table, Mapping) else None
    return float(value) if isinstance(value, int | float) else None


def _active_classes(runs: pd.DataFrame) -> list[str]:
    return [c for c in CLASSES if runs[f"launched.{c}"].to_numpy(dtype=float).max() > 0]


# --------------------------------------------------------------------------- run figures


@styled
def fig_intercepted(run: RunResults) -> Figure:
    """Intercepted per night (total and as reported: drones incl. decoys, missiles)."""
    runs, summary = run.runs, run.summary
    panels: list[tuple[str, np.ndarray, str]] = [
        ("all threats", runs["intercepted.total"].to_numpy(dtype=float), "total")
    ]
    for group in REPORTED_CLASSES:
        if _reported_sum(runs, "launched", group).max() > 0:
            panels.append((GROUP_LABELS[group], _reported_sum(runs, "intercepted", group), group))
    fig = _new_figure(4.0 * len(panels) + 1.0, 4.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colours = [OKABE_ITO["blue"], OKABE_ITO["sky_blue"], OKABE_ITO["green"]]
    for ax, (label, values, key), colour in zip(axes, panels, colours, strict=False):
        launched = (
            runs["launched.total"] if key == "total" else _reported_sum(runs, "launched", key)
        )
        launched_mean = float(np.mean(launched))
        _histogram(
            ax,
            values,
            colour=colour,
            xlabel="threats intercepted per night",
            title=f"{label} (launched {launched_mean:g})",
            observed=_observed(summary, "intercepted", key),
        )
    has_observed = any(_observed(summary, "intercepted", key) is not None for *_, key in panels)
    _histogram_legend(fig, observed=has_observed)
    _titles(
        fig,
        "Threats intercepted per night (shot down + suppressed): simulated and observed",
        run.subtitle(),
    )
    return fig


@styled
def fig_leaked(run: RunResults) -> Figure:
    """Leakers per night by threat class (and in total)."""
    runs = run.runs
    classes = _active_classes(runs)
    keys = [*classes, "total"]
    ncols = 3 if len(keys) > 4 else len(keys)
    nrows = math.ceil(len(keys) / ncols)
    fig = _new_figure(3.6 * ncols + 0.6, 3.4 * nrows + 1.2)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, key in zip(axes, keys, strict=False):
        values = runs[f"leaked.{key}"].to_numpy(dtype=float)
        launched = float(np.mean(runs[f"launched.{key}"]))
        label = "all threats" if key == "total" else key
        _histogram(
            ax,
            values,
            colour=CLASS_COLOURS[key],
            xlabel="leakers per night (threats)",
            title=f"{label} (launched {launched:g})",
            observed=_observed(run.summary, "leaked", key),
        )
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    _histogram_legend(fig, observed=any(_observed(run.summary, "leaked", k) for k in keys))
    _titles(
        fig,
        "Leakers per night by threat class (reached their aim point)",
        run.subtitle(),
    )
    return fig


def _defence_types(runs: pd.DataFrame) -> list[str]:
    return [c.split(".", 1)[1] for c in runs.columns if c.startswith("shots.")]


def _mean_and_range(values: pd.Series) -> tuple[float, float, float]:
    arr = values.to_numpy(dtype=float)
    p05, p95 = np.quantile(arr, [0.05, 0.95])
    return float(np.mean(arr)), float(p05), float(p95)


def _usd_millions(x: float) -> str:
    return f"${x / 1e6:,.1f}M" if abs(x) >= 1e5 else f"${x / 1e3:,.0f}k"


@styled
def fig_defence(run: RunResults) -> Figure:
    """Interceptors fired, kills and cost per night by defence type (mean, 5–95 % whiskers)."""
    runs = run.runs
    types = _defence_types(runs)
    if not types:
        raise ResultsFileError(run.folder / RUNS_FILE, "no shots.<defence type> columns")
    shots = {t: _mean_and_range(runs[f"shots.{t}"]) for t in types}
    kills = {t: _mean_and_range(runs.get(f"kills.{t}", runs[f"shots.{t}"] * 0)) for t in types}
    cost = {t: _mean_and_range(runs.get(f"cost_usd.{t}", runs[f"shots.{t}"] * 0)) for t in types}
    order = sorted(types, key=lambda t: (shots[t][0], kills[t][0], t))
    y = np.arange(len(order), dtype=float)
    fig = _new_figure(11.0, round(0.34 * len(order) + 2.4, 1))
    ax_shots, ax_cost = fig.subplots(1, 2, sharey=True)
    h = 0.38

    def bars(ax, table, offset, colour, label, hatch=None):
        mean = np.array([table[t][0] for t in order])
        lo = np.array([table[t][1] for t in order])
        hi = np.array([table[t][2] for t in order])
        ax.barh(
            y + offset,
            mean,
            height=h,
            color=colour,
            edgecolor="black" if hatch else colour,
            linewidth=0.4,
            hatch=hatch,
            label=label,
        )
        ax.errorbar(
            mean,
            y + offset,
            xerr=[mean - lo, hi - mean],
            fmt="none",
            ecolor="black",
            elinewidth=0.8,
            capsize=2,
        )
        return mean

    bars(ax_shots, shots, h / 2, OKABE_ITO["blue"], "interceptors (rounds) fired")
    bars(ax_shots, kills, -h / 2, OKABE_ITO["orange"], "kills (EW: threats suppressed)", "///")
    ax_shots.set_yticks(y, order)
    ax_shots.set_xlabel("per night (rounds or threats); whiskers: 5–95 % of nights")
    ax_shots.set_title("Interceptors fired and threats killed")
    ax_shots.legend(loc="lower right")
    cost_m = {t: tuple(v / 1e6 for v in cost[t]) for t in order}
    means = bars(ax_cost, cost_m, 0.0, OKABE_ITO["green"], "cost of rounds fired")
    for yi, m, t in zip(y, means, order, strict=True):
        ax_cost.annotate(
            _usd_millions(m * 1e6) if m > 0 else "none",
            (max(m, cost_m[t][2]), yi),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax_cost.set_xlabel("US$ million per night; whiskers: 5–95 % of nights")
    ax_cost.set_title("Cost of interceptors fired")
    ax_cost.set_xlim(0, max(0.01, max(cost_m[t][2] for t in order)) * 1.22)
    ax_cost.legend(loc="lower right")
    for ax in (ax_shots, ax_cost):
        ax.grid(axis="y", visible=False)
    ax_shots.set_ylabel("defence type")
    subtitle = run.subtitle()
    totals = run.summary.get("cost_usd") or {}
    parts = [
        f"{side} {_usd_millions(float(st['mean']))}"
        for side, st in totals.items()
        if isinstance(st, Mapping) and st.get("mean") is not None
    ]
    if parts:
        subtitle += " · mean cost per night: " + ", ".join(parts)
    _titles(fig, "Interceptors spent and their cost by defence type (mean per night)", subtitle)
    return fig


@register_kind(
    "run",
    selects=(SUMMARY_FILE,),
    requires=(RUNS_FILE, SUMMARY_FILE),
    description="a 'salvo run' results folder",
    load=lambda folder, options: read_run(folder),
    names=lambda run: ["intercepted", "leaked", "defence"],
)
def draw_run(run: RunResults, options: PlotOptions) -> list[tuple[str, Figure]]:
    """Outcome distributions and defence spending of a single scenario."""
    return [
        ("intercepted", fig_intercepted(run)),
        ("leaked", fig_leaked(run)),
        ("defence", fig_defence(run)),
    ]


# --------------------------------------------------------------------------- borders


@dataclass(frozen=True)
class Borders:
    """Outlines of a GeoJSON file in lon/lat degrees: polygon rings (filled), lines, and the
    polygon rings of each named feature (for labels)."""

    rings: list[np.ndarray]
    lines: list[np.ndarray]
    named: list[tuple[str, list[np.ndarray]]]

    def label_points(
        self, lon: tuple[float, float], lat: tuple[float, float], grid: int = 24
    ) -> list[tuple[str, float, float]]:
        """A label point inside each named feature that shows enough of itself in the view:
        the visible grid point nearest to the middle of the feature's visible grid points."""
        gx, gy = np.meshgrid(np.linspace(*lon, grid + 2)[1:-1], np.linspace(*lat, grid + 2)[1:-1])
        points = np.column_stack([gx.ravel(), gy.ravel()])
        labels = []
        for name, rings in self.named:
            inside = np.zeros(len(points), dtype=bool)
            for ring in rings:
                inside ^= MplPath(ring).contains_points(points)  # holes toggle back out
            if inside.sum() < 4:
                continue
            visible = points[inside]
            middle = visible.mean(axis=0)
            x, y = visible[np.argmin(((visible - middle) ** 2).sum(axis=1))]
            labels.append((name, float(x), float(y)))
        return labels


def _geometry_parts(geometry: Mapping[str, Any]) -> list[tuple[list, bool]]:
    """(coordinates, is a polygon ring) of every part of a GeoJSON geometry."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        return [(ring, True) for ring in coords]
    if kind == "MultiPolygon":
        return [(ring, True) for polygon in coords for ring in polygon]
    if kind == "LineString":
        return [(coords, False)]
    if kind == "MultiLineString":
        return [(line, False) for line in coords]
    if kind == "GeometryCollection":
        return [part for g in geometry.get("geometries", []) for part in _geometry_parts(g)]
    raise ValueError(f"unsupported geometry type {kind!r}")


def read_borders(path: Path | str) -> Borders:
    """Read outlines from a GeoJSON FeatureCollection, Feature or geometry (lon/lat degrees)."""
    path = Path(path)
    data = read_json(path)
    rings: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    named: list[tuple[str, list[np.ndarray]]] = []
    try:
        if data.get("type") == "FeatureCollection":
            features = data["features"]
        elif data.get("type") == "Feature":
            features = [data]
        else:
            features = [{"type": "Feature", "properties": {}, "geometry": data}]
        for feature in features:
            geometry = feature.get("geometry")
            if not geometry:
                continue
            own: list[np.ndarray] = []
            for coords, is_ring in _geometry_parts(geometry):
                xy = np.asarray(coords, dtype=float).reshape(len(coords), -1)[:, :2]
                if is_ring and len(xy) >= 3:
                    own.append(xy)
                elif len(xy) >= 2:
                    lines.append(xy)
            rings.extend(own)
            name = (feature.get("properties") or {}).get("name")
            if name and own:
                named.append((str(name), own))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise ResultsFileError(path, f"not usable GeoJSON outlines ({err})") from None
    if not rings and not lines:
        raise ResultsFileError(path, "no outlines (polygons or lines) found")
    return Borders(rings=rings, lines=lines, named=named)


# --------------------------------------------------------------------------- night map

_TRACE_COLUMNS: dict[str, tuple[str, ...]] = {
    "threats": (
        "replication",
        "threat",
        "class",
        "state",
        "hit",
        "end_time_s",
        "end_lon",
        "end_lat",
    ),
    "routes": ("replication", "threat", "point", "time_s", "lon", "lat"),
    "units": ("replication", "unit", "kind", "lon", "lat", *(f"radius_km.{c}" for c in CLASSES)),
    "shots": ("replication", "time_s", "unit", "threat", "rounds"),
    "sites": ("site", "name", "lon", "lat"),
    "targets": ("target", "name", "lon", "lat"),
}


def read_trace_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """Read and check the trace files of a results folder."""
    return {
        name: read_parquet(folder / trace_file(name), columns)
        for name, columns in _TRACE_COLUMNS.items()
    }


def _flown_paths(
    routes: pd.DataFrame, threats: pd.DataFrame
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each threat's route from launch to where it ended (lon, lat points), in threat order,
    and the threats' classes in the same order."""
    threats = threats.sort_values("threat")
    ids = threats["threat"].to_numpy()
    routes = routes.sort_values(["threat", "point"])
    row = np.searchsorted(ids, routes["threat"].to_numpy())
    row = np.clip(row, 0, max(len(ids) - 1, 0))
    known = ids[row] == routes["threat"].to_numpy() if len(ids) else np.zeros(len(row), bool)
    passed = known & (routes["time_s"].to_numpy() < threats["end_time_s"].to_numpy()[row])
    xy = routes[["lon", "lat"]].to_numpy(dtype=float)[passed]
    counts = np.bincount(row[passed], minlength=len(ids))
    ends = threats[["end_lon", "end_lat"]].to_numpy(dtype=float)
    pieces = np.split(xy, np.cumsum(counts)[:-1]) if len(ids) else []
    paths = [np.vstack([piece, ends[k : k + 1]]) for k, piece in enumerate(pieces)]
    return paths, threats["class"].to_numpy()


def _halo(width: float = 2.5) -> list:
    return [patheffects.withStroke(linewidth=width, foreground="white")]


def _short_name(name: str) -> str:
    return name.split(" (")[0]


@styled
def fig_night_map(
    tables: Mapping[str, pd.DataFrame],
    replication: int,
    *,
    borders: Borders | None,
    scenario: str,
    replications_total: int | None,
    traced: int,
) -> Figure:
    """Map of one traced night: sites, routes flown, envelopes and where threats ended."""
    threats = tables["threats"][tables["threats"]["replication"] == replication]
    routes = tables["routes"][tables["routes"]["replication"] == replication]
    units = tables["units"][tables["units"]["replication"] == replication]
    sites, targets = tables["sites"], tables["targets"]

    lon_all = np.concatenate(
        [routes["lon"], units["lon"], sites["lon"], targets["lon"], threats["end_lon"]]
    )
    lat_all = np.concatenate(
        [routes["lat"], units["lat"], sites["lat"], targets["lat"], threats["end_lat"]]
    )
    lon_lo, lon_hi = float(np.nanmin(lon_all)) - 0.8, float(np.nanmax(lon_all)) + 0.8
    lat_lo, lat_hi = float(np.nanmin(lat_all)) - 0.6, float(np.nanmax(lat_all)) + 0.6
    lat_mid = 0.5 * (lat_lo + lat_hi)
    cos_lat = math.cos(math.radians(lat_mid))
    aspect = 1.0 / cos_lat  # one degree of longitude is cos(lat) as long as one of latitude
    map_w = (lon_hi - lon_lo) * cos_lat
    map_h = lat_hi - lat_lo
    width_in = 12.0
    height_in = min(11.0, max(6.0, (width_in - 3.4) * map_h / map_w + 1.4))

    fig = _new_figure(width_in, height_in)
    ax = fig.add_subplot()
    ax.set_facecolor("white")

    if borders is not None:
        ax.add_collection(
            PatchCollection(
                [Polygon(ring, closed=True) for ring in borders.rings],
                facecolor="#F4F4F4",
                edgecolor="#9A9A9A",
                linewidth=0.7,
                zorder=0,
            )
        )
        ax.add_collection(LineCollection(borders.lines, colors="#9A9A9A", linewidths=0.7))
        for name, x, y in borders.label_points((lon_lo, lon_hi), (lat_lo, lat_hi)):
            ax.text(
                x,
                y,
                name.upper(),
                fontsize=8.5,
                color="#A0A0A0",
                ha="center",
                va="center",
                style="italic",
                zorder=0.5,
            )

    # defence envelopes: the drone radius (else the unit's largest) drawn as a ground circle
    layer_handles: dict[str, Patch] = {}
    radius_cols = [f"radius_km.{c}" for c in CLASSES]
    for kind, group in units.groupby("kind", sort=True):
        label, colour = KIND_LAYERS.get(str(kind), (str(kind), GREY))
        radius = group["radius_km.drone"].to_numpy(dtype=float)
        largest = group[radius_cols].to_numpy(dtype=float).max(axis=1)
        radius = np.where(radius > 0, radius, largest)
        keep = radius > 0
        ellipses = [
            Ellipse(
                (lon, lat),
                width=2 * r / (KM_PER_DEG_LAT * math.cos(math.radians(lat))),
                height=2 * r / KM_PER_DEG_LAT,
            )
            for lon, lat, r in zip(
                group["lon"].to_numpy()[keep],
                group["lat"].to_numpy()[keep],
                radius[keep],
                strict=True,
            )
        ]
        ax.add_collection(
            PatchCollection(
                ellipses,
                facecolor=to_rgba(colour, 0.10),
                edgecolor=to_rgba(colour, 0.85),
                linewidth=0.6,
                zorder=1,
            )
        )
        layer_handles.setdefault(
            label,
            Patch(
                facecolor=to_rgba(colour, 0.10),
                edgecolor=colour,
                label=label,
            ),
        )

    # routes flown, from launch to where each threat ended
    paths, classes = _flown_paths(routes, threats)
    is_drone = np.isin(classes, ("drone", "decoy"))
    drone_paths = [p for p, d in zip(paths, is_drone, strict=True) if d]
    missile_paths = [p for p, d in zip(paths, is_drone, strict=True) if not d]
    ax.add_collection(
        LineCollection(drone_paths, colors=GREY, linewidths=0.45, alpha=0.35, zorder=2)
    )
    ax.add_collection(
        LineCollection(missile_paths, colors="#303030", linewidths=0.8, alpha=0.6, zorder=2.1)
    )

    state = threats["state"]
    hit = threats["hit"].astype(bool)

    def at(mask):
        return threats.loc[mask, "end_lon"], threats.loc[mask, "end_lat"]

    ax.scatter(
        *at(state == "shot_down"),
        marker="x",
        s=16,
        linewidths=0.9,
        color=OKABE_ITO["blue"],
        zorder=4,
    )
    ax.scatter(
        *at(state == "suppressed"),
        marker="o",
        s=16,
        linewidths=0.9,
        facecolors="none",
        edgecolors=OKABE_ITO["orange"],
        zorder=4,
    )
    ax.scatter(*at(state == "failed"), marker="+", s=14, linewidths=0.8, color=GREY, zorder=4)
    ax.scatter(
        *at((state == "leaked") & ~hit),
        marker="v",
        s=30,
        linewidths=1.0,
        facecolors="none",
        edgecolors=OKABE_ITO["vermillion"],
        zorder=5,
    )
    ax.scatter(
        *at((state == "leaked") & hit),
        marker="v",
        s=42,
        linewidths=0.6,
        color=OKABE_ITO["vermillion"],
        edgecolors="black",
        zorder=5.1,
    )

    ax.scatter(sites["lon"], sites["lat"], marker="^", s=55, color="black", zorder=6)
    for name, lon, lat in zip(sites["name"], sites["lon"], sites["lat"], strict=True):
        ax.annotate(
            _short_name(str(name)),
            (lon, lat),
            xytext=(5, -9),
            textcoords="offset points",
            fontsize=7.5,
            color="#202020",
            path_effects=_halo(),
            zorder=7,
        )
    ax.scatter(
        targets["lon"],
        targets["lat"],
        marker="s",
        s=30,
        facecolors="white",
        edgecolors="black",
        linewidths=1.1,
        zorder=6,
    )
    for name, lon, lat in zip(targets["name"], targets["lon"], targets["lat"], strict=True):
        ax.annotate(
            _short_name(str(name)),
            (lon, lat),
            xytext=(5, 4),
            textcoords="offset points",
            fontsize=8.5,
            fontweight="bold",
            path_effects=_halo(),
            zorder=7,
        )

    ax.set_xlim(lon_lo, lon_hi)
    ax.set_ylim(lat_lo, lat_hi)
    ax.set_aspect(aspect)
    ax.set_xlabel("longitude (° E)")
    ax.set_ylabel("latitude (° N)")
    ax.grid(True, color="#DDDDDD", linewidth=0.5)
    ax.spines[["top", "right"]].set_visible(True)

    counts = state.value_counts()
    n_hit = int(((state == "leaked") & hit).sum())

    def n(s: str) -> int:
        return int(counts.get(s, 0))

    what = [
        Line2D([], [], marker="^", ls="none", color="black", markersize=7, label="launch site"),
        Line2D(
            [],
            [],
            marker="s",
            ls="none",
            markerfacecolor="white",
            markeredgecolor="black",
            markersize=6,
            label="target",
        ),
        Line2D([], [], color=GREY, lw=1.0, alpha=0.8, label="drone / decoy route flown"),
        Line2D([], [], color="#303030", lw=1.2, label="missile route flown"),
        Line2D(
            [],
            [],
            marker="x",
            ls="none",
            color=OKABE_ITO["blue"],
            markersize=6,
            label=f"shot down ({n('shot_down')})",
        ),
        Line2D(
            [],
            [],
            marker="o",
            ls="none",
            markerfacecolor="none",
            markeredgecolor=OKABE_ITO["orange"],
            markersize=6,
            label=f"suppressed by EW ({n('suppressed')})",
        ),
        Line2D(
            [],
            [],
            marker="v",
            ls="none",
            markerfacecolor=OKABE_ITO["vermillion"],
            markeredgecolor="black",
            markersize=7,
            label=f"leaker hit target ({n_hit})",
        ),
        Line2D(
            [],
            [],
            marker="v",
            ls="none",
            markerfacecolor="none",
            markeredgecolor=OKABE_ITO["vermillion"],
            markersize=7,
            label=f"leaker arrived, no hit ({n('leaked') - n_hit})",
        ),
        Line2D(
            [], [], marker="+", ls="none", color=GREY, markersize=6, label=f"failed ({n('failed')})"
        ),
    ]
    legend = ax.legend(
        handles=what,
        title=f"{len(threats)} threats launched",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        frameon=False,
        alignment="left",
    )
    ax.add_artist(legend)
    ax.legend(
        handles=list(layer_handles.values()),
        title="defence envelopes\n(drone engagement radius)",
        loc="lower left",
        bbox_to_anchor=(1.01, 0.0),
        borderaxespad=0.0,
        frameon=False,
        alignment="left",
    )

    of_total = f" of {replications_total}" if replications_total else ""
    subtitle = (
        f"scenario {scenario} · replication {replication} ({traced} traced{of_total} "
        f"replications) · one simulated night, not an average"
    )
    _titles(fig, "Night map: routes flown, defence envelopes and where threats ended", subtitle)
    return fig


@dataclass(frozen=True)
class NightTraces:
    """The trace tables of a results folder, with what the maps say about them."""

    tables: dict[str, pd.DataFrame]
    replications: list[int]
    scenario: str
    total: int | None  # replications in the folder's runs, if known
    borders: Borders | None

    def names(self) -> list[str]:
        """night-map for one traced replication, else night-map-<r> for each."""
        if len(self.replications) == 1:
            return ["night-map"]
        return [f"night-map-{r}" for r in self.replications]


def read_night_traces(folder: Path, options: PlotOptions) -> NightTraces:
    """Read and check the trace files (and the borders file the options name)."""
    tables = read_trace_tables(folder)
    reps = sorted(int(r) for r in tables["threats"]["replication"].unique())
    if not reps:
        raise ResultsFileError(folder / trace_file("threats"), "holds no replication")
    scenario = str(tables["threats"].attrs.get("scenario", "?"))
    total = None
    if (folder / SUMMARY_FILE).exists():
        summary = read_json(folder / SUMMARY_FILE)
        scenario = str(summary.get("scenario", scenario))
        total = summary.get("replications")
    borders = read_borders(options.borders) if options.borders is not None else None
    return NightTraces(tables, reps, scenario, total, borders)


@register_kind(
    "night-map",
    selects=TRACE_FILES,
    requires=TRACE_FILES,
    description="a night trace ('salvo run --trace N')",
    load=read_night_traces,
    names=NightTraces.names,
)
def draw_night_maps(traces: NightTraces, options: PlotOptions) -> list[tuple[str, Figure]]:
    """One map per traced replication: night-map.png, or night-map-<r>.png when N > 1."""
    return [
        (
            name,
            fig_night_map(
                traces.tables,
                r,
                borders=traces.borders,
                scenario=traces.scenario,
                replications_total=traces.total,
                traced=len(traces.replications),
            ),
        )
        for name, r in zip(traces.names(), traces.replications, strict=True)
    ]


# --------------------------------------------------------------------------- sweeps

_SWEEP_CLASSES = ("total", *CLASSES)
_UNIT_SUFFIXES = (
    ("_kmh", "km/h"),
    ("_km", "km"),
    ("_usd", "US$"),
    ("_min", "min"),
    ("_s", "s"),
    ("_h", "h"),
    (".count", "count"),
    ("count", "count"),
)
_PROBABILITY_WORDS = ("pk", "suppression", "prob", "accuracy", "discrimination", "share")


def _parameter_label(name: str, column: str) -> str:
    """'name: dotted.path (unit)', the unit guessed from the field name where it says one."""
    last = column.rsplit(".", 1)[-1]
    unit = next((u for suffix, u in _UNIT_SUFFIXES if column.endswith(suffix)), None)
    if unit is None and any(w in column for w in _PROBABILITY_WORDS):
        unit = "probability"
    label = name if name in (column, last) else f"{name}: {column}"
    return f"{label} ({unit})" if unit else label


def _read_csv(path: Path, columns: Iterable[str] = ()) -> pd.DataFrame:
    if not path.is_file():
        raise ResultsFileError(path, "missing")
    try:
        frame = pd.read_csv(path)
    except Exception as err:  # pandas raises several types for damaged files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ResultsFileError(path, f"not a readable CSV file ({first})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ResultsFileError(path, f"missing column(s) {', '.join(missing)}")
    return frame


@dataclass(frozen=True)
class SweepResults:
    """The files of a ``salvo sweep`` results folder that figures need."""

    folder: Path
    summary: pd.DataFrame
    parameters: pd.DataFrame  # varied parameters only (derived values left out)
    manifest: dict | None

    def subtitle(self) -> str:
        manifest = self.manifest or {}
        experiment = manifest.get("experiment") if isinstance(manifest, Mapping) else None
        name = (experiment or {}).get("name") if isinstance(experiment, Mapping) else None
        reps = self.summary.get("replications")
        rep_text = f" × {int(reps.iloc[0])} replications" if reps is not None else ""
        seed = manifest.get("seed")
        seed_text = f" · seed {seed}" if seed is not None else ""
        return (
            f"experiment {name or self.folder.name} · {len(self.summary)} design points"
            f"{rep_text}{seed_text}"
        )

    def label(self, column: str) -> str:
        row = self.parameters[self.parameters["column"] == column].iloc[0]
        return _parameter_label(str(row["name"]), column)


NIGHT_SWEEP_COLUMNS = ("intercept_rate.total.mean", "leaked.total.mean")


def read_sweep(folder: Path, statistics: Sequence[str] = NIGHT_SWEEP_COLUMNS) -> SweepResults:
    """Read and check summary.csv (with the ``statistics`` columns the figures draw),
    parameters.csv and (if present) manifest.json."""
    parameters = _read_csv(folder / PARAMETERS_FILE, ("name", "column"))
    if "expression" in parameters:
        derived = parameters["expression"].astype(object).fillna("").astype(str).str.len() > 0
        parameters = parameters[~derived]
    needed = ["point", *parameters["column"], *statistics]
    summary = _read_csv(folder / SWEEP_SUMMARY_FILE, needed)
    if len(summary) == 0:
        raise ResultsFileError(folder / SWEEP_SUMMARY_FILE, "has no design points")
    if len(parameters) == 0:
        raise ResultsFileError(folder / PARAMETERS_FILE, "names no varied parameter")
    manifest_path = folder / MANIFEST_FILE
    manifest = read_json(manifest_path) if manifest_path.exists() else None
    return SweepResults(folder, summary, parameters.reset_index(drop=True), manifest)


def _sweep_layout(sweep: SweepResults) -> str:
    """'line' (one parameter), 'heatmap' (two on a full grid) or 'scatter' (anything else)."""
    columns = list(sweep.parameters["column"])
    if len(columns) == 1:
        return "line"
    if len(columns) == 2:
        unique = sweep.summary[columns].drop_duplicates()
        n_a, n_b = (sweep.summary[c].nunique() for c in columns)
        if len(unique) == len(sweep.summary) == n_a * n_b:
            return "heatmap"
    return "scatter"


def _sweep_names(sweep: SweepResults) -> list[str]:
    layout = _sweep_layout(sweep)
    return ["sweep-line", "sweep-classes"] if layout == "line" else [f"sweep-{layout}"]


def _column(metric: str, group: str | None, stat: str) -> str:
    """A summary.csv column: ``metric.group.stat`` (night sweeps, by threat group) or
    ``metric.stat`` (``group`` None: campaign sweeps, whose totals have no groups)."""
    return f"{metric}.{group}.{stat}" if group else f"{metric}.{stat}"


def _stat(summary: pd.DataFrame, metric: str, group: str | None, stat: str) -> np.ndarray:
    return summary[_column(metric, group, stat)].to_numpy(dtype=float)


def _sweep_groups(summary: pd.DataFrame) -> list[str]:
    return [g for g in _SWEEP_CLASSES if f"intercept_rate.{g}.mean" in summary.columns]


_SWEEP_METRICS = (
    ("intercept_rate", "intercept rate (%)", 100.0),
    ("leaked", "leakers per night (threats)", 1.0),
)


def _positions(values: pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """Numeric x positions of parameter values (categories get 0, 1, ... and tick labels)."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy(dtype=float), None
    categories = list(dict.fromkeys(values.astype(str)))
    return np.array([categories.index(v) for v in values.astype(str)], dtype=float), categories


def _band(summary: pd.DataFrame, metric: str, group: str | None, low: str, high: str, scale: float):
    """A band of summary.csv statistics, clipped to what the quantity can be (rates 0–100 %,
    counts and ratios from 0): a t interval from few replications can overshoot both."""
    lo = _stat(summary, metric, group, low) * scale
    hi = _stat(summary, metric, group, high) * scale
    top = 100.0 if metric.endswith("intercept_rate") else np.inf
    return np.clip(lo, 0.0, top), np.clip(hi, 0.0, top)


def _mean_with_bands(
    ax,
    x: np.ndarray,
    summary: pd.DataFrame,
    metric: str,
    group: str | None,
    scale: float,
    colour: str,
    *,
    unit: str = "nights",
) -> None:
    """The mean of a summary.csv metric against x, over its 5–95 % band (of the nights or
    replications, grey) and the 95 % confidence interval of the mean (in ``colour``)."""
    ax.fill_between(
        x,
        *_band(summary, metric, group, "p05", "p95", scale),
        color=GREY,
        alpha=0.2,
        lw=0,
        label=f"5–95 % of {unit}",
    )
    ax.fill_between(
        x,
        *_band(summary, metric, group, "ci95_low", "ci95_high", scale),
        color=colour,
        alpha=0.3,
        lw=0,
        label="95 % CI of the mean",
    )
    ax.plot(
        x,
        _stat(summary, metric, group, "mean") * scale,
        marker="o",
        ms=3.5,
        lw=1.8,
        color=colour,
        label=f"mean over {unit}",
    )


def _bands_legend_handles(unit: str = "nights") -> list:
    """Legend entries for ``_mean_with_bands``."""
    return [
        Patch(facecolor=GREY, alpha=0.2, label=f"5–95 % of {unit}"),
        Patch(facecolor=GREY, alpha=0.6, label="95 % confidence interval of the mean"),
        Line2D([], [], color="black", marker="o", ms=3.5, lw=1.8, label=f"mean over {unit}"),
    ]


# the sweep table's reported groups, one panel each
SWEEP_REPORTED_GROUPS: tuple[str, ...] = ("total", "drones", "missiles")


def _sorted_by_parameter(
    sweep: SweepResults,
) -> tuple[str, np.ndarray, list[str] | None, pd.DataFrame]:
    column = str(sweep.parameters["column"].iloc[0])
    x, categories = _positions(sweep.summary[column])
    order = np.argsort(x, kind="stable")
    return column, x[order], categories, sweep.summary.iloc[order]


@styled
def fig_sweep_line(sweep: SweepResults) -> Figure:
    """Intercept rate and leakers against the one varied parameter, as the Air Force reports
    (all threats, drones incl. decoys, missiles): mean, 95 % CI of the mean, 5–95 % of nights."""
    column, x, categories, summary = _sorted_by_parameter(sweep)
    groups = [g for g in SWEEP_REPORTED_GROUPS if f"intercept_rate.{g}.mean" in summary.columns]
    groups = [g for g in groups if g == "total" or summary[f"launched.{g}"].max() > 0]
    fig = _new_figure(3.9 * len(groups) + 0.6, 7.0)
    axes = fig.subplots(2, len(groups), squeeze=False, sharex=True)
    colours = {"total": "black", "drones": OKABE_ITO["blue"], "missiles": OKABE_ITO["green"]}
    for j, group in enumerate(groups):
        for i, (metric, ylabel, scale) in enumerate(_SWEEP_METRICS):
            ax = axes[i, j]
            _mean_with_bands(ax, x, summary, metric, group, scale, colours[group])
            if i == 0:
                ax.set_title(GROUP_LABELS[group])
            if j == 0:
                ax.set_ylabel(ylabel)
            if i == 1:
                ax.set_xlabel(sweep.label(column))
            if categories is not None:
                ax.set_xticks(range(len(categories)), categories)
    fig.legend(handles=_bands_legend_handles(), loc="outside lower center", ncols=3, frameon=False)
    _titles(fig, f"Intercept rate and leakers against {column}", sweep.subtitle())
    return fig


@styled
def fig_sweep_classes(sweep: SweepResults) -> Figure:
    """Intercept rate and leakers against the one varied parameter, one line per threat class
    (mean and 95 % CI of the mean)."""
    column, x, categories, summary = _sorted_by_parameter(sweep)
    fig = _new_figure(12.0, 4.9)
    axes = fig.subplots(1, 2)
    for ax, (metric, ylabel, scale) in zip(axes, _SWEEP_METRICS, strict=True):
        for group in _sweep_groups(summary):
            colour = CLASS_COLOURS[group] if group != "total" else "black"
            ax.fill_between(
                x,
                *_band(summary, metric, group, "ci95_low", "ci95_high", scale),
                color=colour,
                alpha=0.2,
                lw=0,
            )
            label = "all threats" if group == "total" else group
            ax.plot(
                x,
                _stat(summary, metric, group, "mean") * scale,
                marker="o",
                ms=3.5,
                lw=2.2 if group == "total" else 1.3,
                color=colour,
                label=label,
            )
        ax.set_xlabel(sweep.label(column))
        ax.set_ylabel(ylabel)
        ax.set_title(ylabel[0].upper() + ylabel[1:].split(" (")[0] + " by threat class")
        if categories is not None:
            ax.set_xticks(range(len(categories)), categories)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside right center",
        frameon=False,
        title="mean\n(band: 95 % CI\nof the mean)",
    )
    _titles(fig, f"Intercept rate and leakers by threat class against {column}", sweep.subtitle())
    return fig


def _grid_annotation(ax, grid: np.ndarray, fmt: str, image) -> None:
    if grid.size > 225:
        return
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            r, g, b, _ = image.cmap(image.norm(value))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(
                j,
                i,
                format(value, fmt),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )


def _grid_values(values: pd.Series) -> list:
    """The distinct values of a grid parameter, numbers in numeric order."""
    return sorted(values.unique(), key=lambda v: (pd.to_numeric(v, errors="coerce"), str(v)))


def _tick_text(value: Any) -> str:
    """A grid parameter's value as a tick label: floats short (``%g``), others as they are."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _heatmap(
    fig: Figure,
    ax,
    sweep: SweepResults,
    value_column: str,
    *,
    scale: float,
    cmap: str,
    fmt: str,
    label: str,
    title: str,
    tick_text: Callable[[Any], str] = _tick_text,
) -> None:
    """One summary.csv column over the two parameters of a full grid, annotated, with its
    colour bar (``label``); the first parameter along x, its values labelled by ``tick_text``."""
    col_x, col_y = (str(c) for c in sweep.parameters["column"])
    summary = sweep.summary
    xs, ys = _grid_values(summary[col_x]), _grid_values(summary[col_y])
    grid = np.full((len(ys), len(xs)), np.nan)
    for _, row in summary.iterrows():
        grid[ys.index(row[col_y]), xs.index(row[col_x])] = float(row[value_column]) * scale
    image = ax.imshow(grid, origin="lower", cmap=cmap, aspect="auto")
    _grid_annotation(ax, grid, fmt, image)
    ax.set_xticks(range(len(xs)), [tick_text(v) for v in xs])
    ax.set_yticks(range(len(ys)), [tick_text(v) for v in ys])
    ax.set_xlabel(sweep.label(col_x))
    ax.set_ylabel(sweep.label(col_y))
    ax.set_title(title)
    ax.grid(False)
    fig.colorbar(image, ax=ax, label=label, shrink=0.9)


@styled
def fig_sweep_heatmap(sweep: SweepResults) -> Figure:
    """Heatmaps of the mean intercept rate and leakers over two parameters on a full grid."""
    col_x, col_y = (str(c) for c in sweep.parameters["column"])
    fig = _new_figure(12.0, 5.2)
    axes = fig.subplots(1, 2)
    specs = (
        ("intercept_rate", "mean intercept rate (%)", 100.0, "cividis", ".1f"),
        ("leaked", "mean leakers per night (threats)", 1.0, "cividis_r", ".1f"),
    )
    for ax, (metric, label, scale, cmap, fmt) in zip(axes, specs, strict=True):
        _heatmap(
            fig,
            ax,
            sweep,
            f"{metric}.total.mean",
            scale=scale,
            cmap=cmap,
            fmt=fmt,
            label=label,
            title=label[0].upper() + label[1:] + ", all threats",
        )
    _titles(fig, f"Intercept rate and leakers over {col_x} × {col_y}", sweep.subtitle())
    return fig


def _scatter_figure(
    sweep: SweepResults, specs: Sequence[tuple[str, str | None, str, float]], title: str
) -> Figure:
    """Each design point's mean (95 % CI) against each parameter: one column per parameter,
    one row per ``(metric, group, y label, scale)`` of ``specs``."""
    columns = [str(c) for c in sweep.parameters["column"]][:6]
    summary = sweep.summary
    fig = _new_figure(3.4 * len(columns) + 1.0, 3.3 * len(specs))
    axes = fig.subplots(len(specs), len(columns), squeeze=False, sharey="row")
    for j, column in enumerate(columns):
        x, categories = _positions(summary[column])
        for i, (metric, group, ylabel, scale) in enumerate(specs):
            ax = axes[i, j]
            mean = _stat(summary, metric, group, "mean") * scale
            lo, hi = _band(summary, metric, group, "ci95_low", "ci95_high", scale)
            ax.errorbar(
                x,
                mean,
                yerr=[mean - lo, hi - mean],
                fmt="o",
                ms=3.5,
                color=OKABE_ITO["blue"],
                ecolor=GREY,
                elinewidth=0.8,
                label="design point: mean, 95 % CI",
            )
            ax.set_xlabel(sweep.label(column))
            if j == 0:
                ax.set_ylabel(ylabel)
            if categories is not None:
                ax.set_xticks(range(len(categories)), categories)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", frameon=False)
    _titles(fig, title, sweep.subtitle())
    return fig


@styled
def fig_sweep_scatter(sweep: SweepResults) -> Figure:
    """Each design point's mean (95 % CI) against each parameter: one column per parameter."""
    specs = [(m, "total", f"{label}, all threats", scale) for m, label, scale in _SWEEP_METRICS]
    return _scatter_figure(
        sweep, specs, "Intercept rate and leakers of every design point against each parameter"
    )


@register_kind(
    "sweep",
    selects=(SWEEP_SUMMARY_FILE,),
    requires=(SWEEP_SUMMARY_FILE, PARAMETERS_FILE),
    description="a 'salvo sweep' results folder",
    load=lambda folder, options: read_sweep(folder),
    names=_sweep_names,
)
def draw_sweep(sweep: SweepResults, options: PlotOptions) -> list[tuple[str, Figure]]:
    """One parameter: lines with bands; two on a grid: heatmaps; otherwise scatter."""
    layout = _sweep_layout(sweep)
    if layout == "line":
        return [("sweep-line", fig_sweep_line(sweep)), ("sweep-classes", fig_sweep_classes(sweep))]
    draw = {"heatmap": fig_sweep_heatmap, "scatter": fig_sweep_scatter}
    return [(f"sweep-{layout}", draw[layout](sweep))]


_SOBOL_OUTPUTS = {
    "intercept_rate.total": "intercept rate (all threats)",
    "leaked.total": "leakers per night (all threats)",
    # campaign sweeps: totals over the whole campaign
    "intercept_rate": "campaign intercept rate (all nights)",
    "mass_intercept_rate": "intercept rate of mass nights (campaign mean)",
    "cost_exchange": "cost-exchange ratio (defender per attacker US$)",
}


@styled
def fig_sobol(sensitivity: pd.DataFrame, sweep: SweepResults | None, folder: Path) -> Figure:
    """First-order and total Sobol' indices with 95 % confidence intervals, per output."""
    outputs = list(dict.fromkeys(sensitivity["output"]))
    n_params = sensitivity["parameter"].nunique()
    fig = _new_figure(5.6 * len(outputs) + 0.6, round(0.5 * n_params + 2.6, 1))
    axes = fig.subplots(1, len(outputs), squeeze=False)[0]
    h = 0.38
    for ax, output in zip(axes, outputs, strict=True):
        rows = sensitivity[sensitivity["output"] == output].sort_values(
            ["ST", "parameter"], ascending=[True, True]
        )
        y = np.arange(len(rows), dtype=float)
        for offset, key, colour, hatch, label in (
            (h / 2, "ST", OKABE_ITO["blue"], None, "total index ST"),
            (-h / 2, "S1", OKABE_ITO["orange"], "///", "first-order index S1"),
        ):
            ax.barh(
                y + offset,
                rows[key],
                height=h,
                color=colour,
                hatch=hatch,
                edgecolor="black" if hatch else colour,
                linewidth=0.4,
                label=label,
            )
            ax.errorbar(
                rows[key],
                y + offset,
                xerr=rows[f"{key}_conf"],
                fmt="none",
                ecolor="black",
                elinewidth=0.8,
                capsize=2,
            )
        labels = [
            f"{p} ({k})" if isinstance(k, str) and k else str(p)
            for p, k in zip(rows["parameter"], rows.get("kind", [""] * len(rows)), strict=True)
        ]
        ax.set_yticks(y, labels)
        ax.axvline(0.0, color="#404040", lw=0.8)
        ax.set_xlabel("Sobol' index (share of the output's variance); whiskers: 95 % CI")
        ax.set_title(_SOBOL_OUTPUTS.get(output, output))
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower right")
    subtitle = sweep.subtitle() if sweep is not None else f"results {folder.name}"
    _titles(
        fig,
        "Which parameters matter: Sobol' indices of the per-point means, sorted by ST",
        subtitle,
    )
    return fig


def read_sensitivity(folder: Path) -> tuple[pd.DataFrame, SweepResults | None, Path]:
    """sensitivity.csv, and the sweep files beside it when they are there."""
    columns = ("output", "parameter", "S1", "S1_conf", "ST", "ST_conf")
    sensitivity = _read_csv(folder / SENSITIVITY_FILE, columns)
    if len(sensitivity) == 0:
        raise ResultsFileError(folder / SENSITIVITY_FILE, "has no rows")
    sweep = read_sweep(folder) if (folder / PARAMETERS_FILE).exists() else None
    return sensitivity, sweep, folder


@register_kind(
    "sobol",
    selects=(SENSITIVITY_FILE,),
    requires=(SENSITIVITY_FILE,),
    description="a Sobol' study (sensitivity.csv)",
    load=lambda folder, options: read_sensitivity(folder),
    names=lambda data: ["sobol"],
)
def draw_sobol(data, options: PlotOptions) -> list[tuple[str, Figure]]:
    """Sobol' indices, sorted, with their confidence intervals."""
    return [("sobol", fig_sobol(*data))]


# --------------------------------------------------------------------------- campaigns

# The campaign figures live in their own module, registered like the kinds above; imported
# last because it uses this module's helpers.
from sim.viz import campaign as plots_campaign  # noqa: E402, F401
