"""Figures of a ``salvo sweep`` folder (intercept rate and leakers against one parameter, over
a grid of two, or per point) and of Sobol' indices; the campaign-sweep figures reuse the
public drawing helpers here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.viz.readers import SweepResults, read_sensitivity, read_sweep
from sim.viz.registry import register_kind
from sim.viz.style import (
    CLASS_COLOURS,
    GREY,
    OKABE_ITO,
    PlotOptions,
    new_figure,
    styled,
    titles,
)
from sim.vocab import CLASSES, GROUP_LABELS, PARAMETERS_FILE, SENSITIVITY_FILE, SWEEP_SUMMARY_FILE

_SWEEP_CLASSES = ("total", *CLASSES)


def sweep_layout(sweep: SweepResults) -> str:
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
    layout = sweep_layout(sweep)
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


def positions(values: pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """Numeric x positions of parameter values (categories get 0, 1, ... and tick labels)."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy(dtype=float), None
    categories = list(dict.fromkeys(values.astype(str)))
    return np.array([categories.index(v) for v in values.astype(str)], dtype=float), categories


def _stat_band(
    summary: pd.DataFrame, metric: str, group: str | None, low: str, high: str, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """A band of summary.csv statistics, clipped to what the quantity can be (rates 0–100 %,
    counts and ratios from 0): a t interval from few replications can overshoot both."""
    lo = _stat(summary, metric, group, low) * scale
    hi = _stat(summary, metric, group, high) * scale
    top = 100.0 if metric.endswith("intercept_rate") else np.inf
    return np.clip(lo, 0.0, top), np.clip(hi, 0.0, top)


def mean_with_bands(
    ax: Axes,
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
        *_stat_band(summary, metric, group, "p05", "p95", scale),
        color=GREY,
        alpha=0.2,
        lw=0,
        label=f"5–95 % of {unit}",
    )
    ax.fill_between(
        x,
        *_stat_band(summary, metric, group, "ci95_low", "ci95_high", scale),
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


def bands_legend_handles(unit: str = "nights") -> list:
    """Legend entries for ``mean_with_bands``."""
    return [
        Patch(facecolor=GREY, alpha=0.2, label=f"5–95 % of {unit}"),
        Patch(facecolor=GREY, alpha=0.6, label="95 % confidence interval of the mean"),
        Line2D([], [], color="black", marker="o", ms=3.5, lw=1.8, label=f"mean over {unit}"),
    ]


# the sweep table's reported groups, one panel each
SWEEP_REPORTED_GROUPS: tuple[str, ...] = ("total", "drones", "missiles")


def sorted_by_parameter(
    sweep: SweepResults,
) -> tuple[str, np.ndarray, list[str] | None, pd.DataFrame]:
    """The one varied parameter's column, its x positions in increasing order, its category
    labels (None if numeric) and the summary rows in that order."""
    column = str(sweep.parameters["column"].iloc[0])
    x, categories = positions(sweep.summary[column])
    order = np.argsort(x, kind="stable")
    return column, x[order], categories, sweep.summary.iloc[order]


@styled
def fig_sweep_line(sweep: SweepResults) -> Figure:
    """Intercept rate and leakers against the one varied parameter, as the Air Force reports
    (all threats, drones incl. decoys, missiles): mean, 95 % CI of the mean, 5–95 % of nights."""
    column, x, categories, summary = sorted_by_parameter(sweep)
    groups = [g for g in SWEEP_REPORTED_GROUPS if f"intercept_rate.{g}.mean" in summary.columns]
    groups = [g for g in groups if g == "total" or summary[f"launched.{g}"].max() > 0]
    fig = new_figure(3.9 * len(groups) + 0.6, 7.0)
    axes = fig.subplots(2, len(groups), squeeze=False, sharex=True)
    colours = {"total": "black", "drones": OKABE_ITO["blue"], "missiles": OKABE_ITO["green"]}
    for j, group in enumerate(groups):
        for i, (metric, ylabel, scale) in enumerate(_SWEEP_METRICS):
            ax = axes[i, j]
            mean_with_bands(ax, x, summary, metric, group, scale, colours[group])
            if i == 0:
                ax.set_title(GROUP_LABELS[group])
            if j == 0:
                ax.set_ylabel(ylabel)
            if i == 1:
                ax.set_xlabel(sweep.label(column))
            if categories is not None:
                ax.set_xticks(range(len(categories)), categories)
    fig.legend(handles=bands_legend_handles(), loc="outside lower center", ncols=3, frameon=False)
    titles(fig, f"Intercept rate and leakers against {column}", sweep.subtitle())
    return fig


@styled
def fig_sweep_classes(sweep: SweepResults) -> Figure:
    """Intercept rate and leakers against the one varied parameter, one line per threat class
    (mean and 95 % CI of the mean)."""
    column, x, categories, summary = sorted_by_parameter(sweep)
    fig = new_figure(12.0, 4.9)
    axes = fig.subplots(1, 2)
    for ax, (metric, ylabel, scale) in zip(axes, _SWEEP_METRICS, strict=True):
        for group in _sweep_groups(summary):
            colour = CLASS_COLOURS[group] if group != "total" else "black"
            ax.fill_between(
                x,
                *_stat_band(summary, metric, group, "ci95_low", "ci95_high", scale),
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
    titles(fig, f"Intercept rate and leakers by threat class against {column}", sweep.subtitle())
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


def tick_label(value: Any) -> str:
    """A grid parameter's value as a tick label: floats short (``%g``), others as they are."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def heatmap(
    fig: Figure,
    ax: Axes,
    sweep: SweepResults,
    value_column: str,
    *,
    scale: float,
    cmap: str,
    fmt: str,
    label: str,
    title: str,
    tick_text: Callable[[Any], str] = tick_label,
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
    fig = new_figure(12.0, 5.2)
    axes = fig.subplots(1, 2)
    specs = (
        ("intercept_rate", "mean intercept rate (%)", 100.0, "cividis", ".1f"),
        ("leaked", "mean leakers per night (threats)", 1.0, "cividis_r", ".1f"),
    )
    for ax, (metric, label, scale, cmap, fmt) in zip(axes, specs, strict=True):
        heatmap(
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
    titles(fig, f"Intercept rate and leakers over {col_x} × {col_y}", sweep.subtitle())
    return fig


def scatter_figure(
    sweep: SweepResults, specs: Sequence[tuple[str, str | None, str, float]], title: str
) -> Figure:
    """Each design point's mean (95 % CI) against each parameter: one column per parameter,
    one row per ``(metric, group, y label, scale)`` of ``specs``."""
    columns = [str(c) for c in sweep.parameters["column"]][:6]
    summary = sweep.summary
    fig = new_figure(3.4 * len(columns) + 1.0, 3.3 * len(specs))
    axes = fig.subplots(len(specs), len(columns), squeeze=False, sharey="row")
    for j, column in enumerate(columns):
        x, categories = positions(summary[column])
        for i, (metric, group, ylabel, scale) in enumerate(specs):
            ax = axes[i, j]
            mean = _stat(summary, metric, group, "mean") * scale
            lo, hi = _stat_band(summary, metric, group, "ci95_low", "ci95_high", scale)
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
    titles(fig, title, sweep.subtitle())
    return fig


@styled
def fig_sweep_scatter(sweep: SweepResults) -> Figure:
    """Each design point's mean (95 % CI) against each parameter: one column per parameter."""
    specs = [(m, "total", f"{label}, all threats", scale) for m, label, scale in _SWEEP_METRICS]
    return scatter_figure(
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
    layout = sweep_layout(sweep)
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
    fig = new_figure(5.6 * len(outputs) + 0.6, round(0.5 * n_params + 2.6, 1))
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
    titles(
        fig,
        "Which parameters matter: Sobol' indices of the per-point means, sorted by ST",
        subtitle,
    )
    return fig


@register_kind(
    "sobol",
    selects=(SENSITIVITY_FILE,),
    requires=(SENSITIVITY_FILE,),
    description="a Sobol' study (sensitivity.csv)",
    load=lambda folder, options: read_sensitivity(folder),
    names=lambda data: ["sobol"],
)
def draw_sobol(
    data: tuple[pd.DataFrame, SweepResults | None, Path], options: PlotOptions
) -> list[tuple[str, Figure]]:
    """Sobol' indices, sorted, with their confidence intervals."""
    return [("sobol", fig_sobol(*data))]
