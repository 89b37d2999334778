"""Figures of a ``salvo campaign`` folder, drawn from nights.parquet (one row per replication ×
day): stocks, intercept rate, spend, cost exchange and the day each stock runs out.
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
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sim.viz.readers import (
    ResultsFileError,
    input_stem,
    read_csv,
    read_optional_json,
    read_parquet,
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
from sim.vocab import HINDCAST_FILE, MANIFEST_FILE, NIGHTS_FILE, RUNS_FILE, SUMMARY_FILE

NIGHT_COLUMNS: tuple[str, ...] = (
    "replication",
    "day",
    "launched",
    "intercepted",
    "leaked",
    "defender_cost_usd",
    "attacker_cost_usd",
)
CAMPAIGN_KIND = "campaign"
STOCK_PREFIX = "stock."
QUANTILES = (0.05, 0.5, 0.95)
BAND_LABEL = "5–95 % of replications"
MEDIAN_LABEL = "median over replications"
SIDE_COLOURS = {"defender": OKABE_ITO["blue"], "attacker": OKABE_ITO["vermillion"]}
FIGURE_NAMES = (
    "campaign-stock",
    "campaign-intercept-rate",
    "campaign-spend",
    "campaign-cost-exchange",
    "campaign-ran-out",
)
HINDCAST_FIGURE = "campaign-hindcast"  # with hindcast.csv ('salvo campaign --observed')
HINDCAST_COLUMNS = ("month", "metric", "p05", "p50", "p95", "observed", "inside")
HINDCAST_PANELS = (
    ("drone_rate", "Drones incl. decoys: intercept rate", 100.0),
    ("missile_rate", "Missiles (cruise, ballistic, hypersonic): intercept rate", 100.0),
    ("ballistic_rate", "Ballistic missiles: intercept rate", 100.0),
    ("threats", "Threats launched on nights with at least 30", 1.0),
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
    hindcast: pd.DataFrame | None = None  # hindcast.csv: simulated months against observed

    @property
    def name(self) -> str:
        """The campaign's name, wherever the folder records it (else the folder's name)."""
        for table in (self.manifest, self.summary):
            name = _name_in(table)
            if name:
                return name
        stem = input_stem(self.manifest, "campaign")
        return stem if stem is not None else self.folder.name

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
        summary=read_optional_json(folder / SUMMARY_FILE),
        manifest=read_optional_json(folder / MANIFEST_FILE),
        hindcast=(
            read_csv(folder / HINDCAST_FILE, HINDCAST_COLUMNS)
            if (folder / HINDCAST_FILE).exists()
            else None
        ),
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


def _median_band(
    ax: Axes, x: np.ndarray, q: np.ndarray, colour: str, label: str | None = None
) -> None:
    """The 5–95 % band and the median line of ``quantiles`` output."""
    ax.fill_between(x, q[0], q[2], color=colour, alpha=0.22, lw=0)
    ax.plot(x, q[1], color=colour, lw=1.8, label=label)


def _median_band_legend(fig: Figure, extra: list[Any] = (), *, colour: str = "#404040") -> None:
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
    fig = new_figure(3.0 * ncols + 0.6, 2.6 * nrows + 1.3)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()
    days = results.days
    runs_out = ran_out_days(results).notna().mean()
    for k, (ax, kind) in enumerate(zip(axes, kinds, strict=False)):
        q = quantiles(results.matrix(f"{STOCK_PREFIX}{kind}"))
        _median_band(ax, days, q, type_colour(k))
        ax.set_ylim(bottom=0, top=max(1.0, float(np.nanmax(q[2]))) * 1.08)
        ax.set_title(
            f"{kind}\n{_start_text(results, kind, q)}; ran out in {100 * runs_out[kind]:.0f} %"
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
    _median_band_legend(fig)
    titles(
        fig,
        "Interceptor stock by type after each night (each panel on its own scale)",
        results.subtitle(),
    )
    return fig


@styled
def fig_intercept_rate(results: CampaignResults) -> Figure:
    """Intercept rate per night (mass nights marked); threats launched and leakers below."""
    days = results.days
    fig = new_figure(12.0, 6.6)
    ax_rate, ax_count = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    rate = _safe_ratio(results.matrix("intercepted"), results.matrix("launched")) * 100.0
    q = quantiles(rate)
    _median_band(ax_rate, days, q, OKABE_ITO["blue"])
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
        _median_band(ax_count, days, quantiles(results.matrix(column)), colour, label)
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
    _median_band_legend(fig, [marker])
    titles(fig, "Intercept rate per night over the campaign", results.subtitle())
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
    fig = new_figure(6.0 * len(panels) + 0.6, 4.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, sides) in zip(axes, panels, strict=True):
        for side, daily in sides.items():
            q = quantiles(cumulative(daily) / 1e9)
            _median_band(ax, days, q, SIDE_COLOURS[side])
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
    _median_band_legend(fig, sides)
    titles(fig, "Cumulative spend by each side", results.subtitle())
    return fig


@styled
def fig_cost_exchange(results: CampaignResults) -> Figure:
    """Cumulative defender spend per attacker spend, and per threat intercepted."""
    days = results.days
    defender = cumulative(results.matrix("defender_cost_usd"))
    fig = new_figure(12.6, 4.8)
    ax_ratio, ax_per = fig.subplots(1, 2)
    ratio = quantiles(_safe_ratio(defender, cumulative(results.matrix("attacker_cost_usd"))))
    _median_band(ax_ratio, days, ratio, OKABE_ITO["blue"])
    ax_ratio.axhline(1.0, color="black", lw=1.0, ls="--")
    ax_ratio.set_ylabel("defender US$ per attacker US$ (cumulative)")
    ax_ratio.set_title(f"Cost-exchange ratio (median at the end {ratio[1][-1]:.2f})")
    ax_ratio.set_ylim(bottom=0, top=max(1.2, float(np.nanmax(ratio[2])) * 1.05))
    per = _safe_ratio(defender, cumulative(results.matrix("intercepted"))) / 1e3
    per_q = quantiles(per)
    _median_band(ax_per, days, per_q, OKABE_ITO["green"])
    ax_per.set_ylabel("defender spend per threat intercepted (US$ thousand)")
    ax_per.set_title(f"Cost per intercept (median at the end ${per_q[1][-1]:,.0f}k)")
    ax_per.set_ylim(bottom=0)
    _thousands(ax_per)
    for ax in (ax_ratio, ax_per):
        ax.set_xlabel(results.day_label())
        _day_axis(ax, days)
    parity = Line2D([], [], color="black", lw=1.0, ls="--", label="equal spend (ratio 1)")
    _median_band_legend(fig, [parity])
    titles(
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
    fig = new_figure(12.0, 0.5 * len(kinds) + 2.8)
    ax_day, ax_share = fig.subplots(1, 2, sharey=True, width_ratios=(3, 1))
    y = np.arange(len(kinds), dtype=float)[::-1]
    for k, (yk, kind) in enumerate(zip(y, kinds, strict=True)):
        days = table[kind].dropna().to_numpy(dtype=float)
        _ran_out_row(ax_day, yk, days, type_colour(k), n_days)
        share = 100.0 * len(days) / n_reps
        ax_share.barh(yk, share, height=0.55, color=type_colour(k), alpha=0.8)
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
    titles(fig, "When each interceptor stock runs out", results.subtitle())
    return fig


def written_by_campaign(folder: Path) -> bool:
    """True when the folder's manifest.json says ``"kind": "campaign"`` (unreadable: False)."""
    manifest = readable_manifest(folder)
    return manifest is not None and manifest.get("kind") == CAMPAIGN_KIND


def campaign_figure_names(results: CampaignResults) -> list[str]:
    """The figures of a campaign folder: the five of every campaign, and the hindcast when the
    folder holds hindcast.csv."""
    return [*FIGURE_NAMES, *([HINDCAST_FIGURE] if results.hindcast is not None else [])]


@register_kind(
    CAMPAIGN_KIND,
    selects=(NIGHTS_FILE,),
    requires=(NIGHTS_FILE,),
    description="a 'salvo campaign' results folder",
    load=lambda folder, options: read_campaign(folder),
    names=campaign_figure_names,
    supersedes=("run", "sweep"),
    detect=written_by_campaign,
)
def draw_campaign(results: CampaignResults, options: PlotOptions) -> list[tuple[str, Figure]]:
    """Stocks, intercept rate, spend, cost exchange and run-out days over the campaign."""
    figures = (fig_stock, fig_intercept_rate, fig_spend, fig_cost_exchange, fig_ran_out)
    drawn = [(name, fig(results)) for name, fig in zip(FIGURE_NAMES, figures, strict=True)]
    if results.hindcast is not None:
        drawn.append((HINDCAST_FIGURE, fig_hindcast(results)))
    return drawn


def _month_label(month: str) -> str:
    """'2025-09' -> 'Sep 2025'."""
    return pd.Timestamp(f"{month}-01").strftime("%b %Y")


def fig_hindcast(results: CampaignResults) -> Figure:
    """Month by month: simulated median and 5-95 % band against the observed value, for the
    drone, missile and ballistic intercept rates and the threats launched."""
    table = results.hindcast
    assert table is not None
    monthly = table[table["month"] != "all"]
    months = list(dict.fromkeys(monthly["month"]))
    x = np.arange(len(months))
    fig = new_figure(12.0, 7.6)
    axes = fig.subplots(2, 2, sharex=True).ravel()
    for ax, (metric, title, scale) in zip(axes, HINDCAST_PANELS, strict=True):
        part = monthly[monthly["metric"] == metric].set_index("month").reindex(months)
        p05, p50, p95 = (part[k].to_numpy(dtype=float) * scale for k in ("p05", "p50", "p95"))
        ax.fill_between(x, p05, p95, color=OKABE_ITO["blue"], alpha=0.25, lw=0, step=None)
        ax.plot(x, p50, "o-", color=OKABE_ITO["blue"], ms=4, lw=1.5)
        observed = part["observed"].to_numpy(dtype=float) * scale
        ax.plot(x, observed, "D", ms=6, color="black", mfc=OKABE_ITO["orange"], mew=0.8)
        judged = part["inside"].notna() & np.isfinite(observed)
        inside = int(part["inside"].eq(True).sum())
        ax.set_title(f"{title}\n{inside} of {int(judged.sum())} months inside the band")
        ax.set_ylabel("intercept rate (%)" if scale == 100.0 else "threats per month")
        ax.set_xticks(x, [_month_label(m) for m in months], rotation=30, ha="right")
        if metric == "threats":
            ax.set_ylim(bottom=0)
            _thousands(ax)
    handles = [
        Patch(facecolor=OKABE_ITO["blue"], alpha=0.25, label=BAND_LABEL),
        Line2D([], [], marker="o", color=OKABE_ITO["blue"], ms=4, label=MEDIAN_LABEL),
        Line2D([], [], ls="", marker="D", ms=6, color="black", mfc=OKABE_ITO["orange"],
               label="observed (nights CSV; threats: full monthly counts)"),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    titles(fig, "Simulated months against the months that happened", results.subtitle())
    return fig
