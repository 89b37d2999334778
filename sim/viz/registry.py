"""Figure kinds: the files that select a kind of results folder, how it is read and drawn
(``register_kind``), and ``plot_results``, which draws every kind a folder holds.

Figure modules import this one and register on import; it imports them (FIGURE_MODULES) only
on first use, so no viz module imports one that imports it back.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from sim.results.files import ResultsFileError
from sim.viz.readers import read_borders
from sim.viz.style import DEFAULT_DPI, FORMATS, PlotOptions, save_figure, styled
from sim.vocab import FIGURES_DIR, RUNS_FILE, SUMMARY_FILE, SWEEP_SUMMARY_FILE

# the modules whose kinds salvo plot knows, in the order their figures are drawn
FIGURE_MODULES: tuple[str, ...] = (
    "sim.viz.run",
    "sim.viz.nightmap",
    "sim.viz.sweep",
    "sim.viz.campaign",
    "sim.viz.campaign_sweep",
)

LoadFunction = Callable[[Path, PlotOptions], Any]
DrawFunction = Callable[[Any, PlotOptions], list[tuple[str, Figure]]]


@dataclass(frozen=True)
class FigureKind:
    """One kind of results and the figures drawn for it.

    The kind is chosen when any file of ``selects`` is in the folder; then every file of
    ``requires`` must be there too. ``load`` reads and checks the files (raising
    ResultsFileError), ``names`` gives the file stems the loaded data will be drawn as, and
    ``draw`` returns ``(file stem, figure)`` pairs. Every kind of a folder is loaded before
    any figure is drawn, so bad input writes nothing. When this kind is selected, the kinds
    named in ``supersedes`` are not (their marker files belong to this kind's folder).
    ``detect``, if given, also selects the kind (e.g. a manifest saying what wrote the
    folder), so a folder that lost its marker file is reported as missing it rather than
    taken for another kind.
    """

    name: str
    selects: tuple[str, ...]
    requires: tuple[str, ...]
    description: str
    load: LoadFunction = field(compare=False)
    names: Callable[[Any], list[str]] = field(compare=False)
    draw: DrawFunction = field(compare=False)
    supersedes: tuple[str, ...] = ()
    detect: Callable[[Path], bool] | None = field(default=None, compare=False)
    module: str = field(default="", compare=False)  # the module that registered it

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
            module=draw.__module__,
        )
        return draw

    return decorator


def figure_kinds() -> dict[str, FigureKind]:
    """Every registered kind by name: those of FIGURE_MODULES (imported here on first use) in
    that order, then any other module's in the order they registered."""
    for module in FIGURE_MODULES:
        importlib.import_module(module)
    rank = {module: k for k, module in enumerate(FIGURE_MODULES)}
    kinds = sorted(FIGURE_KINDS.values(), key=lambda kind: rank.get(kind.module, len(rank)))
    return {kind.name: kind for kind in kinds}


def select_kinds(folder: Path | str) -> list[FigureKind]:
    """The figure kinds a results folder holds; raises ResultsFileError if it holds none
    or if a selected kind lacks one of its files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsFileError(folder, "no such results folder")
    known_kinds = figure_kinds()
    kinds = [kind for kind in known_kinds.values() if kind.selected_by(folder)]
    superseded = {name for kind in kinds for name in kind.supersedes}
    kinds = [kind for kind in kinds if kind.name not in superseded]
    summaries = (SUMMARY_FILE, SWEEP_SUMMARY_FILE)
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
            f"{' + '.join(kind.requires)} ({kind.name})" for kind in known_kinds.values()
        )
        raise ResultsFileError(folder, f"no results files found; expected one of: {known}")
    for kind in kinds:
        for name in kind.requires:
            if not (folder / name).is_file():
                raise ResultsFileError(
                    folder / name, f"missing ({kind.description} needs {', '.join(kind.requires)})"
                )
    return kinds


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

    Raises ResultsFileError (naming the file) for missing or unreadable inputs.
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
    loaded = [(kind, kind.load(folder, options)) for kind in kinds]  # all checked first
    out_dir = folder / FIGURES_DIR
    written: list[Path] = []
    for kind, data in loaded:
        if only_missing:
            expected = [out_dir / f"{stem}.{fmt}" for stem in kind.names(data)]
            if expected and all(p.exists() for p in expected):
                written.extend(expected)
                continue
        for stem, fig in kind.draw(data, options):
            written.append(save_figure(fig, out_dir / f"{stem}.{fmt}", options))
    return written
