"""One replication's concrete night: every threat's route and times, every unit's position.

The scenario says "400 Shaheds from Kursk and Primorsko-Akhtarsk at Kyiv and Odesa over
four hours"; this module draws, from the replication's generator, which site and target
each threat has, when it launches, the route it flies, whether it fails or is lost to
background EW and when, and where region-placed defence units stand. Groups are drawn
in file order, so the same scenario and generator give the same night.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np

from sim.night import geo
from sim.night.engagement import UnitParams
from sim.spec.scenario import (
    BeltPlacement,
    PointPlacement,
    RegionPlacement,
    RingPlacement,
    Scenario,
    weights_of,
)
from sim.vocab import CLASSES

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
class UnitBatch(UnitParams):
    """All defence units of one night as columns (one row per unit): the engagement core's
    parameters (`UnitParams`: pk, channels, magazine, ...) and where the units stand."""

    group: np.ndarray
    group_ids: list[str]
    type_ids: list[str]  # per group
    xy: np.ndarray  # (units, 2) km
    radius_km: np.ndarray  # (units, classes); 0 where the unit does not engage the class
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
class GroupDraws:
    """What one salvo group's draws need, fixed by the scenario (no EW: read each night)."""

    cls: int  # class index
    class_name: str
    site: np.ndarray  # scenario site index of each choice
    site_cdf: np.ndarray  # cumulative choice probabilities, as numpy's Generator.choice forms them
    target: np.ndarray
    target_cdf: np.ndarray
    waves: tuple[tuple[float, float], ...]  # (start_h, end_h) per wave
    wave_p: np.ndarray  # wave shares, normalised
    style: str  # route style
    n_points: int  # route points: launch, turn point or waypoints, aim
    aim_scatter_km: float
    dogleg_km: float
    waypoint_scatter_km: float
    speed_kms: float
    accuracy: float
    ew_susceptibility: float
    cost_usd: float
    failure_prob: float

    @classmethod
    def of(cls, scenario: Scenario, group_id: str) -> GroupDraws:
        """The draw parameters of salvo group `group_id`."""
        group = scenario.salvo[group_id]
        kind = scenario.threat_type(group_id)
        waves = group.windows()
        shares = np.array([w.share for w in waves])
        site, site_cdf = choice_table(list(scenario.launch_sites), weights_of(group.launch_sites))
        target, target_cdf = choice_table(list(scenario.targets), weights_of(group.targets))
        return cls(
            cls=CLASS_INDEX[kind.class_],
            class_name=kind.class_,
            site=site,
            site_cdf=site_cdf,
            target=target,
            target_cdf=target_cdf,
            waves=tuple((w.start_h, w.end_h) for w in waves),
            wave_p=shares / shares.sum(),
            style=group.route.style,
            n_points={"direct": 2, "dogleg": 3}.get(
                group.route.style, 2 + len(group.route.waypoints)
            ),
            aim_scatter_km=group.route.aim_scatter_km,
            dogleg_km=group.route.dogleg_km,
            waypoint_scatter_km=group.route.waypoint_scatter_km,
            speed_kms=kind.speed_kmh / 3600.0,
            accuracy=kind.accuracy,
            ew_susceptibility=kind.ew_susceptibility,
            cost_usd=kind.cost_usd,
            failure_prob=kind.failure_prob,
        )


def choice_table(names: list[str], weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Indices into `names` of the weighted choices, and their cumulative probabilities."""
    index = {name: k for k, name in enumerate(names)}
    p = np.array(list(weights.values()))
    cdf = (p / p.sum()).cumsum()
    cdf /= cdf[-1]
    return np.array([index[c] for c in weights], dtype=np.int64), cdf


def choose(rng: np.random.Generator, codes: np.ndarray, cdf: np.ndarray, n: int) -> np.ndarray:
    """`n` weighted choices: the draws of `rng.choice(len(cdf), n, p=p)`, mapped to `codes`."""
    return codes[cdf.searchsorted(rng.random(n), side="right")]


@dataclass(frozen=True)
class NightPlan:
    """What every replication of one scenario shares, computed once: coordinates in km,
    per-unit parameters, the positions of units that do not move between replications and
    the salvo groups' draw parameters. EW settings are read from the scenario each night."""

    projection: geo.Projection
    site_xy: np.ndarray
    site_scatter_km: np.ndarray
    target_xy: np.ndarray
    waypoints_xy: dict[str, np.ndarray]  # salvo group -> fixed waypoints (km)
    max_points: int  # route points of the longest route
    unit_columns: dict[str, np.ndarray]  # per-unit parameters, one row per unit (read-only)
    fixed_xy: tuple[np.ndarray | None, ...]  # per defence group; None: drawn per replication
    salvo: tuple[GroupDraws, ...]  # per salvo group, in scenario order
    unit_xy: np.ndarray  # (units, 2) km: fixed positions (rows of region-placed units: 0)
    region_rows: tuple[tuple[str, slice], ...]  # region-placed groups: (id, rows of unit_xy)
    fixed: np.ndarray  # per unit: stands in the same place every night
    reach_km: np.ndarray  # per unit: largest envelope radius over the classes
    damage_rates: np.ndarray  # per target: mean killed, injured, damaged buildings per hit
    # made on first use: the fixed units' pair index ("fixed_index") and the engagement
    # core's Python lists of unit columns ("engagement")
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    def unit_index(self, unit_xy: np.ndarray, unit_reach: np.ndarray) -> geo.UnitIndex:
        """The pair index of one night's units at `unit_xy` with reach `unit_reach`: the
        plan's index of the units that never move, with tonight's other units added."""
        base = self.cache.get("fixed_index")
        if base is None:
            base = geo.unit_index(self.unit_xy, np.where(self.fixed, self.reach_km, 0.0))
            self.cache["fixed_index"] = base
        return geo.unit_index(unit_xy, unit_reach, base=base)

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
        fixed_xy = _fixed_positions(scenario, projection, target_xy.reshape(-1, 2))
        unit_xy, region_rows = _unit_layout(scenario, fixed_xy)
        damage = np.array(
            [[t.damage.killed_per_hit, t.damage.injured_per_hit, t.damage.buildings_per_hit]
             for t in targets]
        )  # fmt: skip
        unit_columns = _unit_columns(scenario)
        reach = unit_columns["radius_km"].max(axis=1, initial=0.0)
        fixed = np.ones(len(reach), dtype=bool)
        for _, rows in region_rows:
            fixed[rows] = False
        return cls(
            projection=projection,
            site_xy=site_xy,
            site_scatter_km=np.array([s.scatter_km for s in sites]),
            target_xy=target_xy.reshape(-1, 2),
            waypoints_xy=waypoints_xy,
            max_points=max_points,
            unit_columns=unit_columns,
            salvo=tuple(GroupDraws.of(scenario, gid) for gid in scenario.salvo),
            fixed_xy=fixed_xy,
            unit_xy=unit_xy,
            region_rows=region_rows,
            reach_km=reach,
            fixed=fixed,
            damage_rates=damage.reshape(-1, 3),
        )


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
    group_ids = list(scenario.salvo)
    type_ids = [g.type for g in scenario.salvo.values()]
    sizes = np.array(
        [
            g.count if counts is None else int(counts.get(gid, g.count))
            for gid, g in scenario.salvo.items()
        ],
        dtype=np.int64,
    )
    if not sizes.any():
        return _empty_threats(group_ids, type_ids, plan.max_points)
    draws = _draw_groups(scenario, plan, rng, sizes)
    col = {k: np.concatenate(v, axis=-1 if k == "fate" else 0) for k, v in draws.items()}

    salvo = plan.salvo
    ew = scenario.ew.suppression
    # per-group constants, one entry per threat
    ints = [[g, d.cls, _STYLES.index(d.style), d.n_points] for g, d in enumerate(salvo)]
    group, cls, style, n_points = np.repeat(np.array(ints, dtype=np.int64).T, sizes, axis=1)
    floats = [
        [d.speed_kms, d.accuracy, d.ew_susceptibility, d.cost_usd, d.failure_prob,
         min(1.0, ew.get(d.class_name, 0.0) * d.ew_susceptibility)]
        for d in salvo
    ]  # fmt: skip
    speed, accuracy, susceptibility, cost, p_fail, p_supp = np.repeat(
        np.array(floats).T, sizes, axis=1
    )
    site, target = col["site"], col["target"]
    start = plan.site_xy[site] + plan.site_scatter_km[site, None] * col["site_scatter"]
    aim = plan.target_xy[target] + col["aim_scatter"]
    pts = np.empty((len(site), plan.max_points, 2))
    pts[:, 0] = start
    dogleg = np.flatnonzero(style == _STYLES.index("dogleg"))
    if len(dogleg):
        a, b = start[dogleg], aim[dogleg]
        direction = b - a
        length = np.linalg.norm(direction, axis=1, keepdims=True)
        normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1) / np.where(
            length > 0, length, 1.0
        )
        pts[dogleg, 1] = 0.5 * (a + b) + col["dogleg"] * normal
    if "waypoints" in col:
        rows = np.flatnonzero(style == _STYLES.index("waypoints"))
        pts[rows, 1 : col["waypoints"].shape[1] + 1] = col["waypoints"]
    # the aim point, repeated in unused trailing points so padded legs have zero length
    tail = np.arange(plan.max_points)[None, :] >= (n_points - 1)[:, None]
    pts = np.where(tail[:, :, None], aim[:, None, :], pts)

    t_launch = col["t_launch"]
    legs, t_end = geo.legs_from_routes(pts, n_points, t_launch, speed)
    flight = t_end - t_launch
    fail_u, fail_frac, supp_u, supp_frac = col["fate"]
    t_fail = np.where(fail_u < p_fail, t_launch + fail_frac * flight, np.inf)
    t_supp = np.where(supp_u < p_supp, t_launch + supp_frac * flight, np.inf)
    return ThreatBatch(
        group=group,
        group_ids=group_ids,
        type_ids=type_ids,
        cls=cls,
        site=site,
        target=target,
        waypoints=pts,
        n_points=n_points,
        t_launch=t_launch,
        t_end=t_end,
        t_fail=t_fail,
        t_supp=t_supp,
        speed_kms=speed,
        accuracy=accuracy,
        ew_susceptibility=susceptibility,
        cost_usd=cost,
        legs=legs,
    )


_STYLES = ("direct", "dogleg", "waypoints")


def _draw_groups(
    scenario: Scenario, plan: NightPlan, rng: np.random.Generator, sizes: np.ndarray
) -> dict[str, list[np.ndarray]]:
    """Every random draw of the salvo, group by group in file order (the order fixes the
    night for a seed): sites, targets, launch times, launch and aim scatter, route offsets,
    and the uniforms that decide failure and background EW loss."""
    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("site", "target", "t_launch", "site_scatter", "aim_scatter", "fate")
    }
    for g, (gid, d) in enumerate(zip(scenario.salvo, plan.salvo, strict=True)):
        n = int(sizes[g])
        if n == 0:
            continue
        out["site"].append(choose(rng, d.site, d.site_cdf, n))
        out["target"].append(choose(rng, d.target, d.target_cdf, n))
        if len(d.waves) == 1:  # a one-wave multinomial draws nothing
            start_h, end_h = d.waves[0]
            t_launch = rng.uniform(start_h, end_h, size=n)
        else:
            per_wave = rng.multinomial(n, d.wave_p)
            t_launch = np.concatenate(
                [rng.uniform(lo, hi, size=m) for (lo, hi), m in zip(d.waves, per_wave, strict=True)]
            )
        out["t_launch"].append(t_launch * 3600.0)
        out["site_scatter"].append(rng.normal(size=(n, 2)))
        out["aim_scatter"].append(_scatter(rng, n, d.aim_scatter_km))
        if d.style == "dogleg":
            out.setdefault("dogleg", []).append(rng.uniform(-d.dogleg_km, d.dogleg_km, size=(n, 1)))
        elif d.style == "waypoints":
            wp = plan.waypoints_xy[gid]
            points = np.zeros((n, plan.max_points - 2, 2))
            for j in range(len(wp)):
                points[:, j] = wp[j] + _scatter(rng, n, d.waypoint_scatter_km)
            out.setdefault("waypoints", []).append(points)
        # failure flag, failure fraction, EW-loss flag, EW-loss fraction: one block of draws
        out["fate"].append(rng.random((4, n)))
    return out


def _empty_threats(group_ids: list[str], type_ids: list[str], max_points: int) -> ThreatBatch:
    e_int, e_float = np.empty(0, dtype=np.int64), np.empty(0)
    return ThreatBatch(
        group=e_int, group_ids=group_ids, type_ids=type_ids, cls=e_int, site=e_int,
        target=e_int, waypoints=np.empty((0, max_points, 2)), n_points=e_int,
        t_launch=e_float, t_end=e_float, t_fail=e_float, t_supp=e_float, speed_kms=e_float,
        accuracy=e_float, ew_susceptibility=e_float, cost_usd=e_float,
        legs=geo.Legs(e_int, np.empty((0, 2)), np.empty((0, 2)), e_float, e_float),
    )  # fmt: skip


def _fixed_positions(
    scenario: Scenario, projection: geo.Projection, target_xy: np.ndarray
) -> tuple[np.ndarray | None, ...]:
    """Unit positions of every defence group that is not region-placed (None for those)."""
    placements = [g.placement for g in scenario.defences.values()]
    # every point and belt end, projected in one call
    lonlat = [
        point
        for p in placements
        for point in (
            [(p.lon, p.lat)] if isinstance(p, PointPlacement)
            else [p.start, p.end] if isinstance(p, BeltPlacement)
            else []
        )
    ]  # fmt: skip
    xy = projection.to_km([q[0] for q in lonlat], [q[1] for q in lonlat]).reshape(-1, 2)
    # every ring in one call
    target_index = {t: k for k, t in enumerate(scenario.targets)}
    rings = [
        (target_index[p.target], p.radius_km, g.count, p.phase_deg)
        for g, p in zip(scenario.defences.values(), placements, strict=True)
        if isinstance(p, RingPlacement)
    ]
    on_rings = iter(
        geo.rings_positions(
            target_xy[[r[0] for r in rings]], *(np.array([r[j] for r in rings]) for j in (1, 2, 3))
        )
        if rings
        else []
    )
    out: list[np.ndarray | None] = []
    k = 0
    for group, placement in zip(scenario.defences.values(), placements, strict=True):
        count = group.count
        if isinstance(placement, PointPlacement):
            out.append(np.repeat(xy[k][None, :], count, axis=0))
            k += 1
        elif isinstance(placement, RingPlacement):
            out.append(next(on_rings))
        elif isinstance(placement, BeltPlacement):
            out.append(geo.belt_positions(xy[k], xy[k + 1], count))
            k += 2
        elif isinstance(placement, RegionPlacement):
            out.append(None)  # drawn each night
        else:  # pragma: no cover - the schema allows no other placement
            raise TypeError(f"unknown placement {placement!r}")
    return tuple(out)


def _unit_layout(
    scenario: Scenario, fixed_xy: tuple[np.ndarray | None, ...]
) -> tuple[np.ndarray, tuple[tuple[str, slice], ...]]:
    """All fixed unit positions in unit order (zeros for region-placed units), and the rows
    of each region-placed group."""
    counts = [g.count for g in scenario.defences.values()]
    parts = [np.zeros((n, 2)) if xy is None else xy for xy, n in zip(fixed_xy, counts, strict=True)]
    unit_xy = np.concatenate(parts) if parts else np.zeros((0, 2))
    region_rows, first = [], 0
    for group_id, xy, n in zip(scenario.defences, fixed_xy, counts, strict=True):
        if xy is None and n > 0:
            region_rows.append((group_id, slice(first, first + n)))
        first += n
    return unit_xy, tuple(region_rows)


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
    by_type: dict[str, dict[str, object]] = {}
    params = [
        by_type.setdefault(g.type, _unit_parameters(scenario, gid)) if g.type not in by_type
        else by_type[g.type]
        for gid, g in scenario.defences.items()
    ]  # fmt: skip
    columns: dict[str, np.ndarray] = {}
    for name in params[0] if params else _unit_parameters_names():
        table = np.array([p[name] for p in params], dtype=_UNIT_DTYPES.get(name, float))
        if table.ndim == 1 and name in ("radius_km", "pk", "suppression"):
            table = table.reshape(0, len(CLASSES))
        columns[name] = np.repeat(table, counts, axis=0)
    columns["group"] = np.repeat(np.arange(len(counts)), counts)
    for values in columns.values():
        # shared by every night of the plan (and cached as lists by the engagement core):
        # nights change them through `build_units(columns=...)`, never in place
        values.flags.writeable = False
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
    xy = plan.unit_xy.copy()
    if plan.region_rows:
        # lon and lat of each region-placed group in turn, projected in one call
        lons, lats, rows = [], [], []
        for group_id, span in plan.region_rows:
            placement = scenario.defences[group_id].placement
            lons.append(
                rng.uniform(placement.lon[0], placement.lon[1], size=span.stop - span.start)
            )
            lats.append(
                rng.uniform(placement.lat[0], placement.lat[1], size=span.stop - span.start)
            )
            rows.append(np.arange(span.start, span.stop))
        xy[np.concatenate(rows)] = plan.projection.to_km(np.concatenate(lons), np.concatenate(lats))
    return UnitBatch(
        group_ids=list(scenario.defences),
        type_ids=[g.type for g in scenario.defences.values()],
        xy=xy,
        **(plan.unit_columns if columns is None else {**plan.unit_columns, **columns}),
    )


def _unit_parameters_names() -> list[str]:
    """The per-unit parameter columns (`_unit_parameters`' keys), for a night without units."""
    placed = ("group", "group_ids", "type_ids", "xy")
    return [f.name for f in fields(UnitBatch) if f.name not in placed]
