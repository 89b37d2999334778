"""Figures of a ``salvo sweep`` of a campaign experiment (campaign totals per design point and
replication), drawn with the night sweep's helpers; it supersedes the sweep and sobol kinds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.viz.readers import (
    ResultsFileError,
    SweepResults,
    input_stem,
    read_parquet,
    read_sensitivity_table,
    read_sweep,
    readable_manifest,
)
from sim.viz.registry import register_kind
from sim.viz.style import (
    GREY,
    MASS_COLOUR,
    OKABE_ITO,
    PlotOptions,
    new_figure,
    styled,
    titles,
    type_colour,
)
from sim.viz.sweep import (
    bands_legend_handles,
    fig_sobol,
    heatmap,
    mean_with_bands,
    positions,
    scatter_figure,
    sorted_by_parameter,
    sweep_layout,
    tick_label,
)
from sim.vocab import (
    PARAMETERS_FILE,
    RUNS_FILE,
    SENSITIVITY_FILE,
    SWEEP_SUMMARY_FILE,
)

CAMPAIGN_SWEEP_KIND = "campaign-sweep"
RAN_OUT_PREFIX = "ran_out_day."
# summary.csv columns (mean over the replications of a design point) every figure needs
CAMPAIGN_SWEEP_STATISTICS: tuple[str, ...] = (
    "intercept_rate.mean",
    "mass_intercept_rate.mean",
    "cost_exchange.mean",
)
CAMPAIGN_SWEEP_RUN_COLUMNS: tuple[str, ...] = (
    "point",
    "replication",
    "intercept_rate",
    "mass_intercept_rate",
    "cost_exchange",
)
# (metric, y label, scale, colour, panel title) of campaign-sweep-line and -scatter
CAMPAIGN_SWEEP_METRICS: tuple[tuple[str, str, float, str, str], ...] = (
    (
        "intercept_rate",
        "campaign intercept rate (%)",
        100.0,
        OKABE_ITO["blue"],
        "Intercept rate over the whole campaign",
    ),
    (
        "mass_intercept_rate",
        "mass-night intercept rate (%)",
        100.0,
        MASS_COLOUR,
        "Intercept rate of mass nights (campaign mean)",
    ),
    (
        "cost_exchange",
        "cost-exchange ratio (defender US$ per attacker US$)",
        1.0,
        OKABE_ITO["green"],
        "Cost exchange (value fired per value launched)",
    ),
)
Z95 = 1.959963984540054  # two-sided 95 % normal quantile (Wilson interval)


@dataclass(frozen=True)
class CampaignSweepResults(SweepResults):
    """The files of a ``salvo sweep`` of a campaign experiment.

    ``parameters`` holds the parameters that vary between design points (all of them if none
    does), so the night sweep's layout rules apply; ``constant`` holds the others.
    """

    runs: pd.DataFrame  # one row per design point × replication, sorted
    constant: pd.DataFrame
    campaign: Mapping[str, Any]  # the campaign file's top level, as the manifest records it

    @property
    def campaign_name(self) -> str | None:
        name = self.campaign.get("name")
        if isinstance(name, str) and name:
            return name
        return input_stem(self.manifest, "campaign")

    @property
    def replication_counts(self) -> pd.Series:
        """Replications per design point (in runs.parquet), indexed by point."""
        return self.runs.groupby("point").size()

    @property
    def replication_text(self) -> str:
        counts = self.replication_counts
        low, high = int(counts.min()), int(counts.max())
        return f"{low} replications" if low == high else f"{low}–{high} replications"

    @property
    def ran_out_types(self) -> list[str]:
        """Interceptor types with a ``ran_out_day.<type>`` column in runs.parquet."""
        return [c[len(RAN_OUT_PREFIX) :] for c in self.runs.columns if c.startswith(RAN_OUT_PREFIX)]

    @property
    def days(self) -> int | None:
        calendar = self.campaign.get("calendar")
        days = calendar.get("days") if isinstance(calendar, Mapping) else None
        return days if isinstance(days, int) and not isinstance(days, bool) else None

    @property
    def start(self) -> str | None:
        calendar = self.campaign.get("calendar")
        start = calendar.get("start") if isinstance(calendar, Mapping) else None
        return str(start) if start is not None else None

    def subtitle(self) -> str:
        seed = (self.manifest or {}).get("seed")
        seed_text = f" · seed {seed}" if seed is not None else ""
        campaign = f" · campaign {self.campaign_name}" if self.campaign_name else ""
        days = f" of {self.days} days" if self.days else ""
        return (
            f"experiment {self.experiment_name}{campaign}{days} · {len(self.summary)} design "
            f"points × {self.replication_text}{seed_text}"
        )

    def ran_out(self) -> pd.DataFrame:
        """Per design point and type: ``n`` replications, ``k`` that ran out, their ``share``
        with its 95 % Wilson interval (``low``, ``high``) and the run-out day's ``p05``,
        ``p50``, ``p95`` among them (NaN where none ran out)."""
        rows = []
        for point, group in self.runs.groupby("point", sort=True):
            n = len(group)
            for kind in self.ran_out_types:
                days = pd.to_numeric(group[f"{RAN_OUT_PREFIX}{kind}"], errors="coerce").dropna()
                k = len(days)
                low, high = wilson_interval(k, n)
                q = np.quantile(days, (0.05, 0.5, 0.95)) if k else (np.nan,) * 3
                rows.append(
                    {"point": point, "type": kind, "n": n, "k": k, "share": k / n, "low": low,
                     "high": high, "p05": q[0], "p50": q[1], "p95": q[2]}
                )  # fmt: skip
        columns = ["point", "type", "n", "k", "share", "low", "high", "p05", "p50", "p95"]
        return pd.DataFrame(rows, columns=columns)


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a share of k in n (0–1; NaN, NaN for n = 0)."""
    if n <= 0:
        return math.nan, math.nan
    p = k / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denominator
    low = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the ends (no rounding)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def _campaign_text(manifest: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The campaign file's top level from the manifest's copy of its text ({} if none)."""
    experiment = (manifest or {}).get("experiment")
    text = experiment.get("campaign_text") if isinstance(experiment, Mapping) else None
    if not isinstance(text, str):
        return {}
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, Mapping) else {}


def read_campaign_sweep(folder: Path | str) -> CampaignSweepResults:
    """Read and check summary.csv, parameters.csv, runs.parquet and (if present)
    manifest.json of a campaign sweep; failures name the file."""
    folder = Path(folder)
    sweep = read_sweep(folder, CAMPAIGN_SWEEP_STATISTICS)
    runs_path = folder / RUNS_FILE
    runs = read_parquet(runs_path, (*CAMPAIGN_SWEEP_RUN_COLUMNS, *sweep.parameters["column"]))
    if len(runs) == 0:
        raise ResultsFileError(runs_path, "has no rows")
    for column in CAMPAIGN_SWEEP_RUN_COLUMNS:
        if not pd.api.types.is_numeric_dtype(runs[column]):
            raise ResultsFileError(runs_path, f"column {column} is not numeric")
    if runs.duplicated(["point", "replication"]).any():
        raise ResultsFileError(runs_path, "holds a design point's replication more than once")
    points_runs = set(runs["point"].astype(int))
    points_summary = set(pd.to_numeric(sweep.summary["point"], errors="coerce").dropna())
    if points_runs != {int(p) for p in points_summary}:
        raise ResultsFileError(
            runs_path,
            f"its design points ({len(points_runs)}) are not those of {SWEEP_SUMMARY_FILE} "
            f"({len(sweep.summary)})",
        )
    runs = runs.sort_values(["point", "replication"], kind="stable").reset_index(drop=True)
    parameters = sweep.parameters
    varies = np.array([sweep.summary[c].nunique() > 1 for c in parameters["column"]])
    if varies.any():
        constant, parameters = parameters[~varies], parameters[varies]
    else:
        constant = parameters.iloc[0:0]
    return CampaignSweepResults(
        folder=folder,
        summary=sweep.summary,
        parameters=parameters.reset_index(drop=True),
        manifest=sweep.manifest,
        runs=runs,
        constant=constant.reset_index(drop=True),
        campaign=_campaign_text(sweep.manifest),
    )


@styled
def fig_campaign_sweep_line(results: CampaignSweepResults) -> Figure:
    """Campaign intercept rate (all nights, mass nights) and cost exchange against the one
    varied parameter: mean, 95 % CI of the mean, 5–95 % of replications, replications."""
    column, x_sorted, categories, summary = sorted_by_parameter(results)
    x_of_point = dict(zip(summary["point"].astype(int), x_sorted, strict=True))
    run_x = results.runs["point"].astype(int).map(x_of_point).to_numpy(dtype=float)
    fig = new_figure(13.2, 4.9)
    axes = fig.subplots(1, 3)
    axes[1].sharey(axes[0])
    for ax, (metric, ylabel, scale, colour, title) in zip(
        axes, CAMPAIGN_SWEEP_METRICS, strict=True
    ):
        mean_with_bands(ax, x_sorted, summary, metric, None, scale, colour, unit="replications")
        values = results.runs[metric].to_numpy(dtype=float) * scale
        ax.plot(run_x, values, "o", ms=2.5, color="black", alpha=0.35, mew=0, zorder=3)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(results.label(column))
        if categories is not None:
            ax.set_xticks(range(len(categories)), categories)
    axes[0].set_ylim(top=min(100.5, axes[0].get_ylim()[1]))
    axes[2].set_ylim(bottom=0)
    dot = Line2D(
        [], [], ls="", marker="o", ms=2.5, color="black", alpha=0.35, mew=0,
        label="one replication",
    )  # fmt: skip
    handles = [*bands_legend_handles("replications"), dot]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, frameon=False)
    titles(fig, f"Campaign intercept rate and cost exchange against {column}", results.subtitle())
    return fig


def _dodge(x: np.ndarray, k: int, n: int) -> float:
    """A small x offset for the k-th of n series (so their whiskers do not overlap)."""
    unique = np.unique(x[np.isfinite(x)])
    spacing = float(np.min(np.diff(unique))) if len(unique) > 1 else 1.0
    return (k - (n - 1) / 2) * spacing * 0.06


@styled
def fig_campaign_sweep_ran_out(results: CampaignSweepResults) -> Figure:
    """Share of replications in which each interceptor type ran out (95 % Wilson interval),
    and the day it did, against the one varied parameter."""
    column = str(results.parameters["column"].iloc[0])
    x, categories = positions(results.summary[column])
    x_of_point = dict(zip(results.summary["point"].astype(int), x, strict=True))
    table = results.ran_out()
    table["x"] = table["point"].astype(int).map(x_of_point)
    table = table.sort_values(["type", "x"], kind="stable")
    kinds = results.ran_out_types
    ran_out = [kind for kind in kinds if table.loc[table["type"] == kind, "k"].sum() > 0]
    never = [kind for kind in kinds if kind not in ran_out]
    fig = new_figure(12.6, 4.9)
    ax_share, ax_day = fig.subplots(1, 2)
    handles: list[Any] = []
    for k, kind in enumerate(kinds):
        if kind not in ran_out:
            continue
        colour = type_colour(k)
        rows = table[table["type"] == kind]
        xs = rows["x"].to_numpy(dtype=float)
        ax_share.fill_between(
            xs, 100 * rows["low"], 100 * rows["high"], color=colour, alpha=0.15, lw=0
        )
        ax_share.plot(xs, 100 * rows["share"], marker="o", ms=3.5, lw=1.8, color=colour)
        out = rows[rows["k"] > 0]
        dx = _dodge(x, ran_out.index(kind), len(ran_out))
        median = out["p50"].to_numpy(dtype=float)
        ax_day.errorbar(
            out["x"].to_numpy(dtype=float) + dx,
            median,
            yerr=[median - out["p05"].to_numpy(dtype=float), out["p95"] - median],
            fmt="o",
            ms=4,
            color=colour,
            elinewidth=1.0,
            capsize=2,
        )
        handles.append(Line2D([], [], color=colour, marker="o", ms=3.5, lw=1.8, label=kind))
    ax_share.set_ylim(-3, 103)
    ax_share.set_ylabel("replications in which it ran out (%)")
    ax_share.set_title("How often each interceptor stock ran out")
    if never:
        ax_share.text(
            0.01, 0.98, "never ran out: " + ", ".join(never), transform=ax_share.transAxes,
            ha="left", va="top", fontsize=8, color="#404040", wrap=True,
        )  # fmt: skip
    start = f" (day 0 = {results.start})" if results.start else ""
    ax_day.set_ylabel(f"first day with the stock at 0{start}")
    ax_day.set_title("When it ran out (replications that ran out)")
    ax_day.set_ylim(bottom=0, top=float(results.days) if results.days else None)
    if not ran_out:
        ax_day.text(
            0.5, 0.5, "no stock ran out", transform=ax_day.transAxes, ha="center", va="center"
        )
    for ax in (ax_share, ax_day):
        ax.set_xlabel(results.label(column))
        if categories is not None:
            ax.set_xticks(range(len(categories)), categories)
        else:
            ax.set_xlim(*_padded(x))
    handles += [
        Patch(facecolor=GREY, alpha=0.3, label="95 % interval of the share (Wilson)"),
        Line2D([], [], color="black", marker="o", ms=4, lw=1.0,
               label="median day, whiskers 5–95 %"),
    ]  # fmt: skip
    fig.legend(
        handles=handles, loc="outside lower center", ncols=min(len(handles), 5), frameon=False
    )
    titles(fig, f"Interceptor stocks that ran out, against {column}", results.subtitle())
    return fig


def value_text(value: Any) -> str:
    """A heatmap tick: large whole numbers (US$, rounds) with thousands separators."""
    number = pd.to_numeric(value, errors="coerce")
    if pd.notna(number) and float(number).is_integer() and abs(number) >= 10_000:
        return f"{float(number):,.0f}"
    return tick_label(value)


def _padded(x: np.ndarray) -> tuple[float, float]:
    low, high = float(np.nanmin(x)), float(np.nanmax(x))
    pad = 0.05 * (high - low) if high > low else 0.5
    return low - pad, high + pad


@styled
def fig_campaign_sweep_heatmap(results: CampaignSweepResults) -> Figure:
    """Heatmaps of the mean campaign intercept rate and cost exchange over two parameters."""
    col_x, col_y = (str(c) for c in results.parameters["column"])
    fig = new_figure(12.0, 5.2)
    axes = fig.subplots(1, 2)
    specs = (
        ("intercept_rate.mean", "mean campaign intercept rate (%)", 100.0, "cividis", ".1f"),
        ("cost_exchange.mean", "mean cost-exchange ratio (defender US$ per attacker US$)", 1.0,
         "cividis_r", ".3f"),
    )  # fmt: skip
    panel_titles = ("Campaign intercept rate, all nights", "Cost-exchange ratio")
    for ax, (column, label, scale, cmap, fmt), title in zip(axes, specs, panel_titles, strict=True):
        heatmap(
            fig,
            ax,
            results,
            column,
            scale=scale,
            cmap=cmap,
            fmt=fmt,
            label=label,
            title=title,
            tick_text=value_text,
        )
    titles(
        fig,
        f"Campaign intercept rate and cost exchange over {col_x} × {col_y} (means)",
        results.subtitle(),
    )
    return fig


@styled
def fig_campaign_sweep_scatter(results: CampaignSweepResults) -> Figure:
    """Each design point's mean (95 % CI) against each parameter."""
    specs = [(metric, None, label, scale) for metric, label, scale, _, _ in CAMPAIGN_SWEEP_METRICS]
    return scatter_figure(
        results,
        specs,
        "Campaign intercept rate and cost exchange of every design point against each parameter",
    )


def read_campaign_sensitivity(folder: Path) -> pd.DataFrame | None:
    """sensitivity.csv of a Sobol' design, when the folder holds one."""
    path = folder / SENSITIVITY_FILE
    if not path.exists():
        return None
    return read_sensitivity_table(path)


@dataclass(frozen=True)
class CampaignSweepFolder:
    """What ``salvo plot`` loads from a campaign-sweep folder."""

    results: CampaignSweepResults
    sensitivity: pd.DataFrame | None


def campaign_sweep_names(data: CampaignSweepFolder) -> list[str]:
    layout = sweep_layout(data.results)
    if layout == "line":
        names = ["campaign-sweep-line"]
        if data.results.ran_out_types:
            names.append("campaign-sweep-ran-out")
    else:
        names = [f"campaign-sweep-{layout}"]
    return names + (["sobol"] if data.sensitivity is not None else [])


def written_by_campaign_sweep(folder: Path) -> bool:
    """True when manifest.json says ``"kind": "campaign-sweep"`` or, without a readable
    manifest, when summary.csv holds campaign totals (``cost_exchange.mean``)."""
    manifest = readable_manifest(folder)
    if manifest is not None:
        return manifest.get("kind") == CAMPAIGN_SWEEP_KIND
    try:
        with (folder / SWEEP_SUMMARY_FILE).open(encoding="utf-8") as file:
            header = file.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return False
    return "cost_exchange.mean" in header and "intercept_rate.total.mean" not in header


@register_kind(
    CAMPAIGN_SWEEP_KIND,
    selects=(),
    requires=(SWEEP_SUMMARY_FILE, PARAMETERS_FILE, RUNS_FILE),
    description="a 'salvo sweep' of a campaign experiment",
    load=lambda folder, options: CampaignSweepFolder(
        read_campaign_sweep(folder), read_campaign_sensitivity(folder)
    ),
    names=campaign_sweep_names,
    supersedes=("run", "sweep", "sobol"),
    detect=written_by_campaign_sweep,
)
def draw_campaign_sweep(
    data: CampaignSweepFolder, options: PlotOptions
) -> list[tuple[str, Figure]]:
    """One parameter: lines with bands and run-out shares; two on a grid: heatmaps;
    otherwise scatter; and the Sobol' indices of a Sobol' design."""
    results = data.results
    figures = {
        "campaign-sweep-line": fig_campaign_sweep_line,
        "campaign-sweep-ran-out": fig_campaign_sweep_ran_out,
        "campaign-sweep-heatmap": fig_campaign_sweep_heatmap,
        "campaign-sweep-scatter": fig_campaign_sweep_scatter,
        "sobol": lambda r: fig_sobol(data.sensitivity, r, r.folder),
    }
    return [(name, figures[name](results)) for name in campaign_sweep_names(data)]
