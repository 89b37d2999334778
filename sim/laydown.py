"""One replication's concrete night: every threat's route and times, every unit's position.

The scenario says "400 Shaheds from Kursk and Primorsko-Akhtarsk at Kyiv and Odesa over
four hours"; this module draws, from the replication's generator, which site and target
each threat has, when it launches, the route it flies, whether it fails or is lost to
background EW and when, and where region-placed defence units stand. Groups are drawn
in file order, so the same scenario and generator give the same night.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim import geo
from sim.scenario import (
    CLASSES,
    BeltPlacement,
    PointPlacement,
    RegionPlacement,
    RingPlacement,
    Scenario,
    weights_of,
)

CLASS_INDEX = {name: k for k, name in enumerate(CLASSES)}
DECOY = CLASS_INDEX["decoy"]


@dataclass
class ThreatBatch:
    """All threats of one night as columns (one row per threat)."""

    group: np.ndarray  # index into group_ids
    group_ids: list[str]
    type_ids: list[str]  # per group
    cls: np.ndarray
    site: np.ndarray  # index into site_ids
    target: np.ndarray  # index into target_ids
    waypoints: np.ndarray  # (n, max_points, 2) km
    n_points: np.ndarray
    t_launch: np.ndarray  # s
    t_end: np.ndarray  # s, arrival at the aim point
    t_fail: np.ndarray  # s, technical failure (inf if none)
    t_supp: np.ndarray  # s, loss to background EW (inf if none)
    speed_kms: np.ndarray
    accuracy: np.ndarray
    ew_susceptibility: np.ndarray
    cost_usd: np.ndarray
    legs: geo.Legs  # the routes as straight legs with times

    def __len__(self) -> int:
        return len(self.cls)

    @property
    def t_stop(self) -> np.ndarray:
        """When each threat stops being engageable, whatever the defence does."""
        return np.minimum(self.t_end, np.minimum(self.t_fail, self.t_supp))


@dataclass
class UnitBatch:
    """All defence units of one night as columns (one row per unit)."""

    group: np.ndarray
    group_ids: list[str]
    type_ids: list[str]  # per group
    xy: np.ndarray  # (units, 2) km
    radius_km: np.ndarray  # (units, classes); 0 where the unit does not engage the class
    pk: np.ndarray
    suppression: np.ndarray
    channels: np.ndarray
    magazine: np.ndarray
    reserve: np.ndarray
    reload_s: np.ndarray
    reaction_s: np.ndarray
    engage_s: np.ndarray
    shots: np.ndarray
    shoot_look_shoot: np.ndarray
    queue: np.ndarray
    decoy_discrimination: np.ndarray
    is_ew: np.ndarray
    cost_per_shot_usd: np.ndarray

    def __len__(self) -> int:
        return len(self.group)


def projection_for(scenario: Scenario) -> geo.Projection:
    """A projection centred on the scenario's sites and targets."""
    lons = [s.lon for s in scenario.launch_sites.values()] + [
        t.lon for t in scenario.targets.values()
    ]
    lats = [s.lat for s in scenario.launch_sites.values()] + [
        t.lat for t in scenario.targets.values()
    ]
    return geo.Projection(lon0=float(np.mean(lons)), lat0=float(np.mean(lats)))


@dataclass(frozen=True)
class NightPlan:
    """What every replication of one scenario shares, computed once: coordinates in km,
    per-unit parameters and the positions of units that do not move between replications."""

    projection: geo.Projection
    site_xy: np.ndarray
    site_scatter_km: np.ndarray
    target_xy: np.ndarray
    waypoints_xy: dict[str, np.ndarray]  # salvo group -> fixed waypoints (km)
    max_points: int  # route points of the longest route
    unit_columns: dict[str, np.ndarray]  # per-unit parameters (one row per unit)
    fixed_xy: tuple[np.ndarray | None, ...]  # per defence group; None: drawn per replication

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> NightPlan:
        """Everything about the scenario that no random draw changes."""
        projection = projection_for(scenario)
        sites, targets = scenario.launch_sites.values(), scenario.targets.values()
        site_xy = projection.to_km([s.lon for s in sites], [s.lat for s in sites]).reshape(-1, 2)
        target_xy = projection.to_km([t.lon for t in targets], [t.lat for t in targets])
        waypoints_xy = {
            gid: projection.to_km(
                [p[0] for p in g.route.waypoints], [p[1] for p in g.route.waypoints]
            ).reshape(-1, 2)
            for gid, g in scenario.salvo.items()
            if g.route.style == "waypoints"
        }
        max_points = max(
            [2]
            + [2 + len(w) for w in waypoints_xy.values()]
            + [3 for g in scenario.salvo.values() if g.route.style == "dogleg"]
        )
        return cls(
            projection=projection,
            site_xy=site_xy,
            site_scatter_km=np.array([s.scatter_km for s in sites]),
            target_xy=target_xy.reshape(-1, 2),
            waypoints_xy=waypoints_xy,
            max_points=max_points,
            unit_columns=_unit_columns(scenario),
            fixed_xy=tuple(
                None
                if isinstance(g.placement, RegionPlacement)
                else _positions(g.placement, g.count, scenario, projection, None)
                for g in scenario.defences.values()
            ),
        )


def _pick(rng: np.random.Generator, names: list[str], weights: dict[str, float], n: int):
    index = {name: k for k, name in enumerate(names)}
    chosen = list(weights)
    p = np.array([weights[c] for c in chosen])
    draws = rng.choice(len(chosen), size=n, p=p / p.sum())
    return np.array([index[c] for c in chosen], dtype=np.int64)[draws]


def _scatter(rng: np.random.Generator, n: int, sd_km: float) -> np.ndarray:
    return rng.normal(0.0, sd_km, size=(n, 2)) if sd_km > 0 else np.zeros((n, 2))


def build_threats(
    scenario: Scenario,
    plan: NightPlan,
    rng: np.random.Generator,
    *,
    counts: Mapping[str, int] | None = None,
) -> ThreatBatch:
    """Draw every threat of the salvo for one replication.

    `counts` (salvo group -> threats) replaces the scenario's group counts for this night
    (groups it does not name keep theirs); campaigns use it to launch what the attacker
    holds without validating a new scenario every night.
    """
    site_ids = list(scenario.launch_sites)
    target_ids = list(scenario.targets)
    site_xy, target_xy, site_scatter = plan.site_xy, plan.target_xy, plan.site_scatter_km
    max_points = plan.max_points
    group_ids = list(scenario.salvo)
    type_ids = [g.type for g in scenario.salvo.values()]

    parts: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "group",
            "cls",
            "site",
            "target",
            "waypoints",
            "n_points",
            "t_launch",
            "speed",
            "accuracy",
            "susc",
            "cost",
            "fail_u",
            "supp_u",
            "fail_frac",
            "supp_frac",
        )
    }
    ew = scenario.ew.suppression
    for g, (gid, group) in enumerate(scenario.salvo.items()):
        n = group.count if counts is None else int(counts.get(gid, group.count))
        if n == 0:
            continue
        kind = scenario.threat_type(gid)
        site = _pick(rng, site_ids, weights_of(group.launch_sites), n)
        target = _pick(rng, target_ids, weights_of(group.targets), n)
        waves = group.windows()
        shares = np.array([w.share for w in waves])
        per_wave = rng.multinomial(n, shares / shares.sum())
        t_launch = (
            np.concatenate(
                [
                    rng.uniform(w.start_h, w.end_h, size=m)
                    for w, m in zip(waves, per_wave, strict=True)
                ]
            )
            * 3600.0
        )
        start = site_xy[site] + site_scatter[site, None] * rng.normal(size=(n, 2))
        aim = target_xy[target] + _scatter(rng, n, group.route.aim_scatter_km)
        pts = np.zeros((n, max_points, 2))
        pts[:, 0] = start
        route = group.route
        if route.style == "direct":
            pts[:, 1] = aim
            used = 2
        elif route.style == "dogleg":
            direction = aim - start
            length = np.linalg.norm(direction, axis=1, keepdims=True)
            normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1) / np.where(
                length > 0, length, 1.0
            )
            offset = rng.uniform(-route.dogleg_km, route.dogleg_km, size=(n, 1))
            pts[:, 1] = 0.5 * (start + aim) + offset * normal
            pts[:, 2] = aim
            used = 3
        else:
            wp = plan.waypoints_xy[gid]
            for j in range(len(wp)):
                pts[:, 1 + j] = wp[j] + _scatter(rng, n, route.waypoint_scatter_km)
            pts[:, 1 + len(wp)] = aim
            used = 2 + len(wp)
        # unused trailing points repeat the aim point so padded legs have zero length
        pts[:, used:] = pts[:, used - 1 : used]
        cls = CLASS_INDEX[kind.class_]
        parts["group"].append(np.full(n, g))
        parts["cls"].append(np.full(n, cls))
        parts["site"].append(site)
        parts["target"].append(target)
        parts["waypoints"].append(pts)
        parts["n_points"].append(np.full(n, used))
        parts["t_launch"].append(t_launch)
        parts["speed"].append(np.full(n, kind.speed_kmh / 3600.0))
        parts["accuracy"].append(np.full(n, kind.accuracy))
        parts["susc"].append(np.full(n, kind.ew_susceptibility))
        parts["cost"].append(np.full(n, kind.cost_usd))
        p_supp = min(1.0, ew.get(kind.class_, 0.0) * kind.ew_susceptibility)
        parts["fail_u"].append(rng.random(n) < kind.failure_prob)
        parts["fail_frac"].append(rng.random(n))
        parts["supp_u"].append(rng.random(n) < p_supp)
        parts["supp_frac"].append(rng.random(n))

    if not parts["cls"]:
        return _empty_threats(group_ids, type_ids, max_points)
    col = {k: np.concatenate(v) for k, v in parts.items()}
    legs, t_end = geo.legs_from_routes(
        col["waypoints"], col["n_points"], col["t_launch"], col["speed"]
    )
    flight = t_end - col["t_launch"]
    t_fail = np.where(col["fail_u"], col["t_launch"] + col["fail_frac"] * flight, np.inf)
    t_supp = np.where(col["supp_u"], col["t_launch"] + col["supp_frac"] * flight, np.inf)
    return ThreatBatch(
        group=col["group"],
        group_ids=group_ids,
        type_ids=type_ids,
        cls=col["cls"],
        site=col["site"],
        target=col["target"],
        waypoints=col["waypoints"],
        n_points=col["n_points"],
        t_launch=col["t_launch"],
        t_end=t_end,
        t_fail=t_fail,
        t_supp=t_supp,
        speed_kms=col["speed"],
        accuracy=col["accuracy"],
        ew_susceptibility=col["susc"],
        cost_usd=col["cost"],
        legs=legs,
    )


def _empty_threats(group_ids: list[str], type_ids: list[str], max_points: int) -> ThreatBatch:
    e_int, e_float = np.empty(0, dtype=np.int64), np.empty(0)
    return ThreatBatch(
        group=e_int, group_ids=group_ids, type_ids=type_ids, cls=e_int, site=e_int,
        target=e_int, waypoints=np.empty((0, max_points, 2)), n_points=e_int,
        t_launch=e_float, t_end=e_float, t_fail=e_float, t_supp=e_float, speed_kms=e_float,
        accuracy=e_float, ew_susceptibility=e_float, cost_usd=e_float,
        legs=geo.Legs(e_int, np.empty((0, 2)), np.empty((0, 2)), e_float, e_float),
    )  # fmt: skip


def _positions(
    placement,
    count: int,
    scenario: Scenario,
    projection: geo.Projection,
    rng: np.random.Generator | None,
) -> np.ndarray:
    if isinstance(placement, PointPlacement):
        return np.repeat(projection.to_km(placement.lon, placement.lat)[None, :], count, axis=0)
    if isinstance(placement, RingPlacement):
        target = scenario.targets[placement.target]
        centre = projection.to_km(target.lon, target.lat)
        return geo.ring_positions(centre, placement.radius_km, count, placement.phase_deg)
    if isinstance(placement, BeltPlacement):
        start = projection.to_km(*placement.start)
        end = projection.to_km(*placement.end)
        return geo.belt_positions(start, end, count)
    if isinstance(placement, RegionPlacement):
        lon = rng.uniform(placement.lon[0], placement.lon[1], size=count)
        lat = rng.uniform(placement.lat[0], placement.lat[1], size=count)
        return projection.to_km(lon, lat).reshape(-1, 2)
    raise TypeError(f"unknown placement {placement!r}")  # pragma: no cover - schema forbids


def _unit_parameters(scenario: Scenario, group_id: str) -> dict[str, object]:
    """One defence group's per-unit parameters (the same for every unit of the group)."""
    kind = scenario.defence_type(group_id)
    if kind.is_ew:
        active = [kind.suppression.get(c, 0.0) > 0 for c in CLASSES]
    else:
        active = [c in kind.engages and kind.pk.get(c, 0.0) > 0 for c in CLASSES]
    return {
        # 0 where the unit does not engage the class, so no window is ever computed for it
        "radius_km": [kind.range_km.get(c, 0.0) * a for c, a in zip(CLASSES, active, strict=True)],
        "pk": [kind.pk.get(c, 0.0) for c in CLASSES],
        "suppression": [kind.suppression.get(c, 0.0) for c in CLASSES],
        "channels": kind.channels,
        "magazine": kind.magazine,
        "reserve": kind.reserve,
        "reload_s": kind.reload_min * 60.0,
        "reaction_s": kind.reaction_s,
        "engage_s": kind.engage_s,
        "shots": kind.shots_per_engagement,
        "shoot_look_shoot": kind.doctrine == "shoot_look_shoot",
        "queue": kind.queue,
        "decoy_discrimination": kind.decoy_discrimination,
        "is_ew": kind.is_ew,
        "cost_per_shot_usd": kind.cost_per_shot_usd,
    }


_UNIT_DTYPES = {
    "channels": np.int64,
    "magazine": np.int64,
    "reserve": np.int64,
    "shots": np.int64,
    "shoot_look_shoot": bool,
    "queue": bool,
    "is_ew": bool,
}


def _unit_columns(scenario: Scenario) -> dict[str, np.ndarray]:
    """Per-unit parameter columns: each group's parameters repeated for its units."""
    counts = np.array([g.count for g in scenario.defences.values()], dtype=np.int64)
    params = [_unit_parameters(scenario, gid) for gid in scenario.defences]
    columns: dict[str, np.ndarray] = {}
    for name in params[0] if params else _unit_parameters_names():
        table = np.array([p[name] for p in params], dtype=_UNIT_DTYPES.get(name, float))
        if table.ndim == 1 and name in ("radius_km", "pk", "suppression"):
            table = table.reshape(0, len(CLASSES))
        columns[name] = np.repeat(table, counts, axis=0)
    columns["group"] = np.repeat(np.arange(len(counts)), counts)
    return columns


def build_units(
    scenario: Scenario,
    plan: NightPlan,
    rng: np.random.Generator,
    *,
    columns: Mapping[str, np.ndarray] | None = None,
) -> UnitBatch:
    """Place every defence unit for one replication (region placements drawn anew).

    `columns` replaces per-unit parameter columns of the plan for this night (same names and
    shapes as `NightPlan.unit_columns`, e.g. `magazine`, `reserve`, `radius_km`); campaigns
    use it for the rounds each unit holds and for units not yet (or no longer) in service.
    """
    positions = [
        fixed
        if fixed is not None
        else _positions(group.placement, group.count, scenario, plan.projection, rng)
        for fixed, group in zip(plan.fixed_xy, scenario.defences.values(), strict=True)
        if group.count > 0
    ]
    return UnitBatch(
        group_ids=list(scenario.defences),
        type_ids=[g.type for g in scenario.defences.values()],
        xy=np.concatenate(positions) if positions else np.zeros((0, 2)),
        **(plan.unit_columns if columns is None else {**plan.unit_columns, **columns}),
    )


def _unit_parameters_names() -> list[str]:
    return [k for k in UnitBatch.__dataclass_fields__ if k not in ("group", "group_ids",
            "type_ids", "xy")]  # fmt: skip
