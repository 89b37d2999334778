"""Campaign figures: ``salvo plot`` on a ``salvo campaign`` results folder.

Registered in ``sim.viz.plots.FIGURE_KINDS`` as the ``campaign`` kind, selected by
``nights.parquet`` (one row per replication × day: ``replication``, then the columns of
``sim.campaign.model.run_campaign``'s per-night table). ``runs.parquet`` (one row of totals per
replication), ``summary.json``/``summary.csv`` and ``manifest.json`` are read when present
and are optional: every figure is drawn from the nights. Like ``sim.viz.plots`` this module reads
files only; it never runs the model.

Figures (file stems), each over the days of the campaign with the median and the 5–95 %
band across replications:

- ``campaign-stock``: interceptor stock by type, one panel per type (their scales differ by
  orders of magnitude);
- ``campaign-intercept-rate``: intercept rate per night, mass nights marked; threats launched
  and leakers per night below;
- ``campaign-spend``: cumulative value each side expended (interceptors fired, threats
  launched) and, when recorded, the money each side put into supply;
- ``campaign-cost-exchange``: cumulative defender spend per cumulative attacker spend, and
  per threat intercepted;
- ``campaign-ran-out``: the day each interceptor stock first ran out, per replication, and
  the share of replications in which it did.

A ``salvo sweep`` of a campaign experiment (``campaign:`` instead of ``scenario:``) writes a
folder of campaign totals per design point and replication: ``runs.parquet``, ``summary.csv``
(``<total>.<stat>``, ``ran_out_day.<type>.share``), ``parameters.csv`` and a ``manifest.json``
with ``"kind": "campaign-sweep"``. It is registered as the ``campaign-sweep`` kind (it
supersedes the night ``sweep`` and ``sobol`` kinds, whose files it also holds) and drawn with
the night sweep's helpers of ``sim.viz.plots``:

- one varied parameter: ``campaign-sweep-line`` (campaign intercept rate over all nights and
  over mass nights, cost-exchange ratio: mean, 95 % CI of the mean, 5–95 % of replications,
  each replication a dot) and ``campaign-sweep-ran-out`` (share of replications in which each
  interceptor type ran out, with its 95 % Wilson interval, and the day it did);
- two parameters on a full grid: ``campaign-sweep-heatmap`` (intercept rate, cost exchange);
- otherwise ``campaign-sweep-scatter`` (every design point against each parameter);
- ``sobol`` when the folder holds ``sensitivity.csv`` (a Sobol' design).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sim.viz.plots import (
    GREY,
    OKABE_ITO,
    PlotOptions,
    ResultsFileError,
    SweepResults,
    _bands_legend_handles,
    _heatmap,
    _mean_with_bands,
    _new_figure,
    _positions,
    _read_csv,
    _scatter_figure,
    _sweep_layout,
    _titles,
    fig_sobol,
    read_json,
    read_parquet,
    read_sweep,
    register_kind,
    styled,
)
from sim.vocab import (
    MANIFEST_FILE,
    NIGHTS_FILE,
    PARAMETERS_FILE,
    RUNS_FILE,
    SENSITIVITY_FILE,
    SUMMARY_FILE,
    SWEEP_SUMMARY_FILE,
)

NIGHT_COLUMNS: tuple[str, ...] = (
    "replication",
    "day",
    "launched",
    "intercepted",
    "leaked",
    "defender_cost_usd",
    "attacker_cost_usd",
)
STOCK_PREFIX = "stock."
QUANTILES = (0.05, 0.5, 0.95)
BAND_LABEL = "5–95 % of replications"
MEDIAN_LABEL = "median over replications"
SIDE_COLOURS = {"defender": OKABE_ITO["blue"], "attacker": OKABE_ITO["vermillion"]}
MASS_COLOUR = OKABE_ITO["orange"]
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
FIGURE_NAMES = (
    "campaign-stock",
    "campaign-intercept-rate",
    "campaign-spend",
    "campaign-cost-exchange",
    "campaign-ran-out",
)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class CampaignResults:
    """The files of a ``salvo campaign`` results folder (all but nights.parquet optional)."""

    folder: Path
    nights: pd.DataFrame  # sorted by replication, day
    runs: pd.DataFrame | None
    summary: dict | None
    manifest: dict | None

    @property
    def name(self) -> str:
        """The campaign's name, wherever the folder records it (else the folder's name)."""
        for table in (self.manifest, self.summary):
            name = _name_in(table)
            if name:
                return name
        inputs = (self.manifest or {}).get("inputs")
        entry = inputs.get("campaign") if isinstance(inputs, Mapping) else None
        if isinstance(entry, Mapping) and entry.get("path"):
            return Path(str(entry["path"])).stem
        return self.folder.name

    @property
    def replications(self) -> int:
        """Replications in nights.parquet (the manifest's count if it says more)."""
        held = int(self.nights["replication"].nunique())
        for table in (self.manifest, self.summary):
            value = (table or {}).get("replications")
            if isinstance(value, int) and not isinstance(value, bool) and value == held:
                return value
        return held

    @property
    def days(self) -> np.ndarray:
        return np.sort(self.nights["day"].unique()).astype(float)

    @property
    def stock_types(self) -> list[str]:
        return [c[len(STOCK_PREFIX) :] for c in self.nights.columns if c.startswith(STOCK_PREFIX)]

    @property
    def start(self) -> str | None:
        """The date of day 0 (ISO), when the nights have a date column."""
        if "date" not in self.nights.columns:
            return None
        first = self.nights.loc[self.nights["day"] == self.nights["day"].min(), "date"]
        try:
            return pd.Timestamp(first.iloc[0]).date().isoformat()
        except (TypeError, ValueError):
            return None

    @property
    def seed(self) -> Any:
        for table in (self.manifest, self.summary):
            if isinstance(table, Mapping) and table.get("seed") is not None:
                return table["seed"]
        return None

    def day_label(self, *, short: bool = False) -> str:
        """The day axis' label: 'day of the campaign (day 0 = START)', or 'day (0 = START)'."""
        start = self.start
        if short:
            return f"day (0 = {start})" if start else "day"
        return f"day of the campaign (day 0 = {start})" if start else "day of the campaign"

    def subtitle(self) -> str:
        n_days = len(self.days)
        seed = self.seed
        seed_text = f" · seed {seed}" if seed is not None else ""
        start = f" from {self.start}" if self.start else ""
        name = self.name if self.name.startswith("campaign") else f"campaign {self.name}"
        return f"{name} · {self.replications} replications · {n_days} days{start}{seed_text}"

    def matrix(self, column: str) -> np.ndarray:
        """A column as days × replications (NaN where a replication lacks the day)."""
        table = self.nights.pivot(index="day", columns="replication", values=column)
        return table.sort_index().to_numpy(dtype=float)


def _name_in(table: Mapping[str, Any] | None) -> str | None:
    if not isinstance(table, Mapping):
        return None
    for key in ("campaign", "name", "scenario"):
        value = table.get(key)
        if isinstance(value, Mapping):
            value = value.get("name")
        if isinstance(value, str) and value:
            return value
    extra = table.get("extra")
    return _name_in(extra) if isinstance(extra, Mapping) else None


def _check_nights(path: Path, nights: pd.DataFrame) -> pd.DataFrame:
    if len(nights) == 0:
        raise ResultsFileError(path, "has no rows")
    if not any(c.startswith(STOCK_PREFIX) for c in nights.columns):
        raise ResultsFileError(path, "no stock.<interceptor type> columns")
    numeric = [*NIGHT_COLUMNS, *(c for c in nights.columns if c.startswith(STOCK_PREFIX))]
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(nights[column]):
            raise ResultsFileError(path, f"column {column} is not numeric")
    if nights.duplicated(["replication", "day"]).any():
        raise ResultsFileError(path, "holds a replication's day more than once")
    return nights.sort_values(["replication", "day"], kind="stable").reset_index(drop=True)


def _optional_json(path: Path) -> dict | None:
    return read_json(path) if path.exists() else None


def read_campaign(folder: Path | str) -> CampaignResults:
    """Read and check nights.parquet and, when present, runs.parquet, summary.json and
    manifest.json (a present but unreadable file is an error naming it)."""
    folder = Path(folder)
    path = folder / NIGHTS_FILE
    nights = _check_nights(path, read_parquet(path, NIGHT_COLUMNS))
    runs = (
        read_parquet(folder / RUNS_FILE, ("replication",))
        if (folder / RUNS_FILE).exists()
        else None
    )
    return CampaignResults(
        folder=folder,
        nights=nights,
        runs=runs,
        summary=_optional_json(folder / SUMMARY_FILE),
        manifest=_optional_json(folder / MANIFEST_FILE),
    )


# --------------------------------------------------------------------------- statistics


def quantiles(matrix: np.ndarray) -> np.ndarray:
    """5 %, 50 % and 95 % across replications (rows of the result), per day; NaN-tolerant."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # days with no value in any replication
        return np.nanquantile(matrix, QUANTILES, axis=1)


def cumulative(matrix: np.ndarray) -> np.ndarray:
    """Running sums over days, per replication (missing days add nothing)."""
    return np.cumsum(np.nan_to_num(matrix, nan=0.0), axis=0)


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def ran_out_days(results: CampaignResults) -> pd.DataFrame:
    """The first day each type's stock was 0 after the night, per replication (NaN: never);
    index: replication, columns: interceptor types (as ``ran_out_day.<type>`` of the totals)."""
    nights = results.nights
    out = {}
    for kind in results.stock_types:
        empty = nights[nights[f"{STOCK_PREFIX}{kind}"] <= 0]
        out[kind] = empty.groupby("replication")["day"].min()
    index = pd.Index(np.sort(nights["replication"].unique()), name="replication")
    return pd.DataFrame(out, index=index).astype(float)


def replication_totals(results: CampaignResults) -> pd.DataFrame:
    """One row per replication: what the report's summary table shows, from the nights (so a
    folder without runs.parquet still has it)."""
    nights = results.nights
    grouped = nights.groupby("replication")
    sums = grouped[["launched", "intercepted", "leaked", "defender_cost_usd", "attacker_cost_usd"]]
    totals = sums.sum().astype(float)
    totals["intercept_rate"] = _safe_ratio(totals["intercepted"], totals["launched"])
    if "mass_night" in nights.columns:
        mass = nights[nights["mass_night"].astype(bool) & (nights["launched"] > 0)]
        rate = mass["intercepted"] / mass["launched"]
        totals["mass_intercept_rate"] = rate.groupby(mass["replication"]).mean()
    totals["cost_exchange"] = _safe_ratio(totals["defender_cost_usd"], totals["attacker_cost_usd"])
    totals["cost_per_intercept_usd"] = _safe_ratio(
        totals["defender_cost_usd"], totals["intercepted"]
    )
    last = grouped.tail(1).set_index("replication")
    for kind in results.stock_types:
        totals[f"stock.{kind}"] = last[f"{STOCK_PREFIX}{kind}"].astype(float)
    if "drone_ratio" in nights.columns:
        totals["drone_ratio_end"] = last["drone_ratio"].astype(float)
    return totals


# --------------------------------------------------------------------------- drawing helpers


def _band(ax: Axes, x: np.ndarray, q: np.ndarray, colour: str, label: str | None = None) -> None:
    """The 5–95 % band and the median line of ``quantiles`` output."""
    ax.fill_between(x, q[0], q[2], color=colour, alpha=0.22, lw=0)
    ax.plot(x, q[1], color=colour, lw=1.8, label=label)


def _band_legend(fig: Figure, extra: list[Any] = (), *, colour: str = "#404040") -> None:
    handles = [
        Line2D([], [], color=colour, lw=1.8, label=MEDIAN_LABEL),
        Patch(facecolor=colour, alpha=0.22, label=BAND_LABEL),
        *extra,
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)


def _thousands(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _day_axis(ax: Axes, days: np.ndarray) -> None:
    ax.set_xlim(float(days.min()), float(max(days.max(), days.min() + 1)))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=7))


def _type_colour(k: int) -> str:
    return TYPE_COLOURS[k % len(TYPE_COLOURS)]


def _mass_days(results: CampaignResults) -> np.ndarray:
    """Days that are mass nights in at least half of the replications."""
    if "mass_night" not in results.nights.columns:
        return np.zeros(len(results.days), dtype=bool)
    return np.nan_to_num(quantiles(results.matrix("mass_night"))[1]) >= 0.5


# --------------------------------------------------------------------------- figures


def _start_text(results: CampaignResults, kind: str, q: np.ndarray) -> str:
    """'start N' (the stock before the first day, median), or 'day 0: N' without that column."""
    column = f"stock_start.{kind}"
    if column in results.nights.columns:
        return f"start {quantiles(results.matrix(column))[1][0]:,.0f}"
    return f"day 0: {q[1][0]:,.0f}"


@styled
def fig_stock(results: CampaignResults) -> Figure:
    """Interceptor stock by type after each night: one panel (own scale) per type."""
    kinds = results.stock_types
    ncols = min(4, len(kinds))
    nrows = math.ceil(len(kinds) / ncols)
    fig = _new_figure(3.0 * ncols + 0.6, 2.6 * nrows + 1.3)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()
    days = results.days
    runs_out = ran_out_days(results).notna().mean()
    for k, (ax, kind) in enumerate(zip(axes, kinds, strict=False)):
        q = quantiles(results.matrix(f"{STOCK_PREFIX}{kind}"))
        _band(ax, days, q, _type_colour(k))
        ax.set_ylim(bottom=0, top=max(1.0, float(np.nanmax(q[2]))) * 1.08)
        ax.set_title(
            f"{kind} ({_start_text(results, kind, q)}; ran out in {100 * runs_out[kind]:.0f} %)"
        )
        _thousands(ax)
        _day_axis(ax, days)
        if k % ncols == 0:
            ax.set_ylabel("rounds in stock")
        if k >= len(kinds) - ncols:
            ax.set_xlabel(results.day_label(short=True))
            ax.xaxis.set_tick_params(labelbottom=True)
    for ax in axes[len(kinds) :]:
        ax.set_visible(False)
    _band_legend(fig)
    _titles(
        fig,
        "Interceptor stock by type after each night (each panel on its own scale)",
        results.subtitle(),
    )
    return fig


@styled
def fig_intercept_rate(results: CampaignResults) -> Figure:
    """Intercept rate per night (mass nights marked); threats launched and leakers below."""
    days = results.days
    fig = _new_figure(12.0, 6.6)
    ax_rate, ax_count = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    rate = _safe_ratio(results.matrix("intercepted"), results.matrix("launched")) * 100.0
    q = quantiles(rate)
    _band(ax_rate, days, q, OKABE_ITO["blue"])
    mass = _mass_days(results)
    ax_rate.plot(days[mass], q[1][mass], "D", ms=5, color=MASS_COLOUR, mec="black", mew=0.5)
    ax_rate.set_ylabel("intercept rate (%)")
    ax_rate.set_title("Intercepted (shot down + suppressed) per threats launched, each night")
    low = np.nanmin(q[0]) if np.isfinite(q[0]).any() else 0.0
    ax_rate.set_ylim(max(0.0, math.floor(low / 5) * 5 - 5), 100.5)
    for column, colour, label in (
        ("launched", "#404040", "threats launched"),
        ("leaked", OKABE_ITO["vermillion"], "leakers"),
    ):
        _band(ax_count, days, quantiles(results.matrix(column)), colour, label)
    ax_count.set_ylabel("threats per night")
    ax_count.set_ylim(bottom=0)
    ax_count.set_title("Threats launched and leakers (reached their aim point), each night")
    ax_count.set_xlabel(results.day_label())
    ax_count.legend(loc="upper left", ncols=2)
    _thousands(ax_count)
    _day_axis(ax_count, days)
    marker = Line2D(
        [], [], ls="", marker="D", ms=5, color=MASS_COLOUR, mec="black", mew=0.5,
        label=f"mass night ({int(mass.sum())})",
    )  # fmt: skip
    _band_legend(fig, [marker])
    _titles(fig, "Intercept rate per night over the campaign", results.subtitle())
    return fig


def _spend_panels(results: CampaignResults) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(panel title, side -> days × replications of daily US$) for each spend panel."""
    nights = results.nights
    panels = [
        (
            "Value expended: interceptors fired, threats launched",
            {
                "defender": results.matrix("defender_cost_usd"),
                "attacker": results.matrix("attacker_cost_usd"),
            },
        )
    ]
    defender = [c for c in ("defender_procurement_usd", "defender_investment_usd") if c in nights]
    if defender and "attacker_production_usd" in nights:
        supply = sum(results.matrix(c) for c in defender)
        panels.append(
            (
                "Money into supply: defender orders and investments, attacker production",
                {"defender": supply, "attacker": results.matrix("attacker_production_usd")},
            )
        )
    return panels


@styled
def fig_spend(results: CampaignResults) -> Figure:
    """Cumulative spend of each side in US$ billion."""
    days = results.days
    panels = _spend_panels(results)
    fig = _new_figure(6.0 * len(panels) + 0.6, 4.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, sides) in zip(axes, panels, strict=True):
        for side, daily in sides.items():
            q = quantiles(cumulative(daily) / 1e9)
            _band(ax, days, q, SIDE_COLOURS[side])
            ax.annotate(
                f"{q[1][-1]:,.2f}",
                (days[-1], q[1][-1]),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=SIDE_COLOURS[side],
            )
        ax.set_title(title)
        ax.set_xlabel(results.day_label())
        ax.set_ylabel("cumulative spend (US$ billion)")
        ax.set_ylim(bottom=0)
        _day_axis(ax, days)
    sides = [
        Line2D([], [], color=SIDE_COLOURS[s], lw=1.8, label=f"{s} (median)")
        for s in ("defender", "attacker")
    ]
    _band_legend(fig, sides)
    _titles(fig, "Cumulative spend by each side", results.subtitle())
    return fig


@styled
def fig_cost_exchange(results: CampaignResults) -> Figure:
    """Cumulative defender spend per attacker spend, and per threat intercepted."""
    days = results.days
    defender = cumulative(results.matrix("defender_cost_usd"))
    fig = _new_figure(12.6, 4.8)
    ax_ratio, ax_per = fig.subplots(1, 2)
    ratio = quantiles(_safe_ratio(defender, cumulative(results.matrix("attacker_cost_usd"))))
    _band(ax_ratio, days, ratio, OKABE_ITO["blue"])
    ax_ratio.axhline(1.0, color="black", lw=1.0, ls="--")
    ax_ratio.set_ylabel("defender US$ per attacker US$ (cumulative)")
    ax_ratio.set_title(f"Cost-exchange ratio (median at the end {ratio[1][-1]:.2f})")
    ax_ratio.set_ylim(bottom=0, top=max(1.2, float(np.nanmax(ratio[2])) * 1.05))
    per = _safe_ratio(defender, cumulative(results.matrix("intercepted"))) / 1e3
    per_q = quantiles(per)
    _band(ax_per, days, per_q, OKABE_ITO["green"])
    ax_per.set_ylabel("defender spend per threat intercepted (US$ thousand)")
    ax_per.set_title(f"Cost per intercept (median at the end ${per_q[1][-1]:,.0f}k)")
    ax_per.set_ylim(bottom=0)
    _thousands(ax_per)
    for ax in (ax_ratio, ax_per):
        ax.set_xlabel(results.day_label())
        _day_axis(ax, days)
    parity = Line2D([], [], color="black", lw=1.0, ls="--", label="equal spend (ratio 1)")
    _band_legend(fig, [parity])
    _titles(
        fig,
        "Cost exchange: cumulative defender spend (interceptors fired) per attacker spend",
        results.subtitle(),
    )
    return fig


def _ran_out_row(ax: Axes, y: float, days: np.ndarray, colour: str, n_days: float) -> None:
    """One type's run-out days: a box of the quartiles and one dot per replication."""
    if len(days) == 0:
        ax.text(n_days / 2, y, "never", ha="center", va="center", fontsize=9, color="#404040")
        return
    p05, q1, median, q3, p95 = np.quantile(days, [0.05, 0.25, 0.5, 0.75, 0.95])
    half = 0.275
    ax.barh(
        y, max(q3 - q1, 0.3), left=q1, height=2 * half, color=colour, alpha=0.35, ec="black", lw=0.6
    )
    ax.plot([median, median], [y - half, y + half], color="black", lw=1.6)
    ax.hlines([y, y], [p05, q3], [q1, p95], color="black", lw=0.8)
    ax.vlines([p05, p95], y - half / 2, y + half / 2, color="black", lw=0.8)
    offsets = ((np.arange(len(days)) * 0.618034) % 1.0 - 0.5) * 0.5  # fixed jitter
    ax.plot(days, y + offsets, "o", ms=3, color=colour, mec="black", mew=0.3, alpha=0.9)


@styled
def fig_ran_out(results: CampaignResults) -> Figure:
    """The day each interceptor stock first ran out, and how often it did."""
    table = ran_out_days(results)
    kinds = list(table.columns)
    n_reps = len(table)
    n_days = float(results.days.max()) + 1
    fig = _new_figure(12.0, 0.5 * len(kinds) + 2.8)
    ax_day, ax_share = fig.subplots(1, 2, sharey=True, width_ratios=(3, 1))
    y = np.arange(len(kinds), dtype=float)[::-1]
    for k, (yk, kind) in enumerate(zip(y, kinds, strict=True)):
        days = table[kind].dropna().to_numpy(dtype=float)
        _ran_out_row(ax_day, yk, days, _type_colour(k), n_days)
        share = 100.0 * len(days) / n_reps
        ax_share.barh(yk, share, height=0.55, color=_type_colour(k), alpha=0.8)
        text = f"{len(days)}/{n_reps}" + (
            f", median day {np.median(days):.0f}" if len(days) else ""
        )
        ax_share.annotate(
            text, (share, yk), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8
        )
    ax_day.set_yticks(y, kinds)
    ax_day.set_ylim(-0.6, len(kinds) - 0.4)
    ax_day.set_xlim(-0.5, n_days - 0.5)
    ax_day.set_xlabel(results.day_label())
    ax_day.set_ylabel("interceptor type")
    ax_day.set_title("First day with the stock at 0 after the night")
    ax_share.set_xlim(0, 180)
    ax_share.set_xticks([0, 25, 50, 75, 100])
    ax_share.set_xlabel("replications in which it ran out (%)")
    ax_share.set_title("How often it ran out")
    for ax in (ax_day, ax_share):
        ax.grid(axis="y", visible=False)
    handles = [
        Line2D([], [], ls="", marker="o", ms=4, color=GREY, mec="black", mew=0.3,
               label="one replication"),
        Patch(facecolor=GREY, alpha=0.35, edgecolor="black", label="quartiles (box), median"),
        Line2D([], [], color="black", lw=0.8, label="whiskers: 5–95 %"),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    _titles(fig, "When each interceptor stock runs out", results.subtitle())
    return fig


def written_by_campaign(folder: Path) -> bool:
    """True when the folder's manifest.json says ``"kind": "campaign"`` (unreadable: False)."""
    try:
        manifest = read_json(folder / MANIFEST_FILE)
    except ResultsFileError:
        return False
    return manifest.get("kind") == "campaign"


@register_kind(
    "campaign",
    selects=(NIGHTS_FILE,),
    requires=(NIGHTS_FILE,),
    description="a 'salvo campaign' results folder",
    load=lambda folder, options: read_campaign(folder),
    names=lambda results: list(FIGURE_NAMES),
    supersedes=("run", "sweep"),
    detect=written_by_campaign,
)
def draw_campaign(results: CampaignResults, options: PlotOptions) -> list[tuple[str, Figure]]:
    """Stocks, intercept rate, spend, cost exchange and run-out days over the campaign."""
    figures = (fig_stock, fig_intercept_rate, fig_spend, fig_cost_exchange, fig_ran_out)
    return [(name, fig(results)) for name, fig in zip(FIGURE_NAMES, figures, strict=True)]


# --------------------------------------------------------------------------- campaign sweeps

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
    def experiment_name(self) -> str:
        experiment = (self.manifest or {}).get("experiment")
        name = experiment.get("name") if isinstance(experiment, Mapping) else None
        return str(name) if name else self.folder.name

    @property
    def campaign_name(self) -> str | None:
        name = self.campaign.get("name")
        if isinstance(name, str) and name:
            return name
        inputs = (self.manifest or {}).get("inputs")
        entry = inputs.get("campaign") if isinstance(inputs, Mapping) else None
        if isinstance(entry, Mapping) and entry.get("path"):
            return Path(str(entry["path"])).stem
        return None

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
    column = str(results.parameters["column"].iloc[0])
    x, categories = _positions(results.summary[column])
    order = np.argsort(x, kind="stable")
    summary, x_sorted = results.summary.iloc[order], x[order]
    x_of_point = dict(zip(results.summary["point"].astype(int), x, strict=True))
    run_x = results.runs["point"].astype(int).map(x_of_point).to_numpy(dtype=float)
    fig = _new_figure(13.2, 4.9)
    axes = fig.subplots(1, 3)
    axes[1].sharey(axes[0])
    for ax, (metric, ylabel, scale, colour, title) in zip(
        axes, CAMPAIGN_SWEEP_METRICS, strict=True
    ):
        _mean_with_bands(ax, x_sorted, summary, metric, None, scale, colour, unit="replications")
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
    handles = [*_bands_legend_handles("replications"), dot]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, frameon=False)
    _titles(fig, f"Campaign intercept rate and cost exchange against {column}", results.subtitle())
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
    x, categories = _positions(results.summary[column])
    x_of_point = dict(zip(results.summary["point"].astype(int), x, strict=True))
    table = results.ran_out()
    table["x"] = table["point"].astype(int).map(x_of_point)
    table = table.sort_values(["type", "x"], kind="stable")
    kinds = results.ran_out_types
    ran_out = [kind for kind in kinds if table.loc[table["type"] == kind, "k"].sum() > 0]
    never = [kind for kind in kinds if kind not in ran_out]
    fig = _new_figure(12.6, 4.9)
    ax_share, ax_day = fig.subplots(1, 2)
    handles: list[Any] = []
    for k, kind in enumerate(kinds):
        if kind not in ran_out:
            continue
        colour = _type_colour(k)
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
    _titles(fig, f"Interceptor stocks that ran out, against {column}", results.subtitle())
    return fig


def _value_text(value: Any) -> str:
    """A heatmap tick: large whole numbers (US$, rounds) with thousands separators."""
    number = pd.to_numeric(value, errors="coerce")
    if pd.notna(number) and float(number).is_integer() and abs(number) >= 10_000:
        return f"{float(number):,.0f}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _padded(x: np.ndarray) -> tuple[float, float]:
    low, high = float(np.nanmin(x)), float(np.nanmax(x))
    pad = 0.05 * (high - low) if high > low else 0.5
    return low - pad, high + pad


@styled
def fig_campaign_sweep_heatmap(results: CampaignSweepResults) -> Figure:
    """Heatmaps of the mean campaign intercept rate and cost exchange over two parameters."""
    col_x, col_y = (str(c) for c in results.parameters["column"])
    fig = _new_figure(12.0, 5.2)
    axes = fig.subplots(1, 2)
    specs = (
        ("intercept_rate.mean", "mean campaign intercept rate (%)", 100.0, "cividis", ".1f"),
        ("cost_exchange.mean", "mean cost-exchange ratio (defender US$ per attacker US$)", 1.0,
         "cividis_r", ".3f"),
    )  # fmt: skip
    titles = ("Campaign intercept rate, all nights", "Cost-exchange ratio")
    for ax, (column, label, scale, cmap, fmt), title in zip(axes, specs, titles, strict=True):
        _heatmap(
            fig,
            ax,
            results,
            column,
            scale=scale,
            cmap=cmap,
            fmt=fmt,
            label=label,
            title=title,
            tick_text=_value_text,
        )
    _titles(
        fig,
        f"Campaign intercept rate and cost exchange over {col_x} × {col_y} (means)",
        results.subtitle(),
    )
    return fig


@styled
def fig_campaign_sweep_scatter(results: CampaignSweepResults) -> Figure:
    """Each design point's mean (95 % CI) against each parameter."""
    specs = [(metric, None, label, scale) for metric, label, scale, _, _ in CAMPAIGN_SWEEP_METRICS]
    return _scatter_figure(
        results,
        specs,
        "Campaign intercept rate and cost exchange of every design point against each parameter",
    )


def read_campaign_sensitivity(folder: Path) -> pd.DataFrame | None:
    """sensitivity.csv of a Sobol' design, when the folder holds one."""
    path = folder / SENSITIVITY_FILE
    if not path.exists():
        return None
    columns = ("output", "parameter", "S1", "S1_conf", "ST", "ST_conf")
    sensitivity = _read_csv(path, columns)
    if len(sensitivity) == 0:
        raise ResultsFileError(path, "has no rows")
    return sensitivity


@dataclass(frozen=True)
class CampaignSweepFolder:
    """What ``salvo plot`` loads from a campaign-sweep folder."""

    results: CampaignSweepResults
    sensitivity: pd.DataFrame | None


def campaign_sweep_names(data: CampaignSweepFolder) -> list[str]:
    layout = _sweep_layout(data.results)
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
    try:
        return read_json(folder / MANIFEST_FILE).get("kind") == CAMPAIGN_SWEEP_KIND
    except ResultsFileError:
        pass
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
