"""The night map of a traced replication (``salvo run --trace``): launch sites, routes flown,
defence envelopes and where each threat ended, over optional borders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, Patch, Polygon

from sim.viz.readers import (
    Borders,
    ResultsFileError,
    read_borders,
    read_optional_json,
    read_trace_tables,
)
from sim.viz.registry import register_kind
from sim.viz.style import GREY, OKABE_ITO, PlotOptions, new_figure, styled, titles
from sim.vocab import CLASSES, SUMMARY_FILE, TRACE_FILES, trace_file

KM_PER_DEG_LAT = 111.2  # mean length of one degree of latitude, km
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

    fig = new_figure(width_in, height_in)
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
    titles(fig, "Night map: routes flown, defence envelopes and where threats ended", subtitle)
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
    summary = read_optional_json(folder / SUMMARY_FILE)
    if summary is not None:
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
