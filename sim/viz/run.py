"""Figures of a ``salvo run`` folder: intercepted and leakers per night (observed values marked)
and interceptors fired, kills and cost by defence type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.results.files import ResultsFileError
from sim.viz.readers import RunResults, read_run
from sim.viz.registry import register_kind
from sim.viz.style import (
    CLASS_COLOURS,
    GREY,
    OKABE_ITO,
    PlotOptions,
    new_figure,
    styled,
    titles,
    usd_text,
)
from sim.vocab import CLASSES, GROUP_LABELS, REPORTED_CLASSES, RUNS_FILE, SUMMARY_FILE

OBSERVED_COLOUR = OKABE_ITO["vermillion"]


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
    fig = new_figure(4.0 * len(panels) + 1.0, 4.6)
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
    titles(
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
    fig = new_figure(3.6 * ncols + 0.6, 3.4 * nrows + 1.2)
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
    titles(
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
    fig = new_figure(11.0, round(0.34 * len(order) + 2.4, 1))
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
            usd_text(m * 1e6) if m > 0 else "none",
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
        f"{side} {usd_text(float(st['mean']))}"
        for side, st in totals.items()
        if isinstance(st, Mapping) and st.get("mean") is not None
    ]
    if parts:
        subtitle += " · mean cost per night: " + ", ".join(parts)
    titles(fig, "Interceptors spent and their cost by defence type (mean per night)", subtitle)
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
