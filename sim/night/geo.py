"""Geometry: lon/lat -> km projection and when routes are inside defence envelopes.

Everything here is vectorised numpy; nothing knows about agents or randomness.
A route is a polyline flown at constant speed, so each leg is a straight segment with
a start and end time, and the time a threat spends inside a circular envelope is
found by solving one quadratic per (leg, unit) pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
_REACH_BUCKETS_KM = (5.0, 20.0)  # guns and fire groups | short-range | long-range envelopes
_DIRECTIONS = 16  # sweep directions of the pair index, 180 / 16 = 11.25 degrees apart
_STEP = np.pi / _DIRECTIONS
_COS, _SIN = np.cos(_STEP * np.arange(_DIRECTIONS)), np.sin(_STEP * np.arange(_DIRECTIONS))
_SLACK_KM = 1e-6  # widens every pruning test, far beyond rounding, so no real pair is lost
_HALF_SLOT_KM = 5e4  # > 2 x the farthest projected point on Earth (pi R): see `unit_index`


@dataclass(frozen=True)
class Projection:
    """Azimuthal equidistant projection about a reference point, in km.

    Distances from the reference point are exact on the sphere; elsewhere the scale error
    grows as (d/R)^2 / 6, under 0.5 % within 1,000 km of it, so envelope circles stay
    circles across the whole theatre.
    """

    lon0: float
    lat0: float

    def to_km(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """(lon, lat) in degrees -> array (..., 2) of (x east, y north) km."""
        lam = np.deg2rad(np.asarray(lon, dtype=float) - self.lon0)
        phi = np.deg2rad(np.asarray(lat, dtype=float))
        phi0 = np.deg2rad(self.lat0)
        cos_c = np.sin(phi0) * np.sin(phi) + np.cos(phi0) * np.cos(phi) * np.cos(lam)
        c = np.arccos(np.clip(cos_c, -1.0, 1.0))
        sin_c = np.sin(c)
        k = np.where(c > 1e-12, c / np.where(sin_c == 0, 1.0, sin_c), 1.0)
        x = EARTH_RADIUS_KM * k * np.cos(phi) * np.sin(lam)
        y = (
            EARTH_RADIUS_KM
            * k
            * (np.cos(phi0) * np.sin(phi) - np.sin(phi0) * np.cos(phi) * np.cos(lam))
        )
        return np.stack([x, y], axis=-1)

    def to_lonlat(self, xy: np.ndarray) -> np.ndarray:
        """Array (..., 2) of km -> array (..., 2) of (lon, lat) degrees."""
        xy = np.asarray(xy, dtype=float)
        x, y = xy[..., 0], xy[..., 1]
        rho = np.hypot(x, y)
        c = rho / EARTH_RADIUS_KM
        phi0 = np.deg2rad(self.lat0)
        safe_rho = np.where(rho == 0, 1.0, rho)
        phi = np.arcsin(
            np.clip(np.cos(c) * np.sin(phi0) + y * np.sin(c) * np.cos(phi0) / safe_rho, -1, 1)
        )
        lam = np.arctan2(
            x * np.sin(c), rho * np.cos(phi0) * np.cos(c) - y * np.sin(phi0) * np.sin(c)
        )
        lon = np.where(rho == 0, self.lon0, self.lon0 + np.rad2deg(lam))
        lat = np.where(rho == 0, self.lat0, np.rad2deg(phi))
        return np.stack([lon, lat], axis=-1)


def great_circle_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Haversine distance on the mean Earth sphere, km."""
    lon1, lat1, lon2, lat2 = (
        np.deg2rad(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2)
    )
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))


@dataclass(frozen=True)
class Legs:
    """Straight route legs flown at constant speed: one row per leg, a threat's legs in
    flight order."""

    threat: np.ndarray  # int, owning threat of each leg
    start: np.ndarray  # (n, 2) km
    end: np.ndarray  # (n, 2) km
    t0: np.ndarray  # s, time at start
    t1: np.ndarray  # s, time at end


def legs_from_routes(
    waypoints: np.ndarray, n_points: np.ndarray, t_launch: np.ndarray, speed_kms: np.ndarray
) -> tuple[Legs, np.ndarray]:
    """Legs of routes given as padded waypoint arrays, and each route's arrival time.

    `waypoints` is (threats, max_points, 2) km, `n_points` the number used per threat
    (at least 2), `speed_kms` km per second.
    """
    n_threats, max_points, _ = waypoints.shape
    step = waypoints[:, 1:, :] - waypoints[:, :-1, :]
    valid = np.arange(max_points - 1)[None, :] < (n_points[:, None] - 1)
    length = np.sqrt(step[..., 0] * step[..., 0] + step[..., 1] * step[..., 1]) * valid
    elapsed = np.zeros((n_threats, max_points))
    np.cumsum(length, axis=1, out=elapsed[:, 1:])
    times = t_launch[:, None] + elapsed / speed_kms[:, None]
    threat, leg = np.nonzero(valid)
    legs = Legs(
        threat=threat,
        start=waypoints[threat, leg],
        end=waypoints[threat, leg + 1],
        t0=times[threat, leg],
        t1=times[threat, leg + 1],
    )
    return legs, times[:, -1]


@dataclass(frozen=True)
class Windows:
    """Time intervals during which a threat is inside a unit's envelope, sorted by entry."""

    threat: np.ndarray
    unit: np.ndarray
    t_in: np.ndarray
    t_out: np.ndarray

    def __len__(self) -> int:
        return len(self.threat)


def segment_circle_params(
    start: np.ndarray, end: np.ndarray, centre: np.ndarray, radius: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fractions s_in <= s_out of each segment inside its circle, and a mask of real crossings.

    A segment that only touches the circle (tangent) or misses it has no crossing; a
    segment that starts inside enters at s = 0.
    """
    dx, dy = end[:, 0] - start[:, 0], end[:, 1] - start[:, 1]
    fx, fy = start[:, 0] - centre[:, 0], start[:, 1] - centre[:, 1]
    return _chords(dx, dy, fx, fy, radius)


def _chords(
    dx: np.ndarray, dy: np.ndarray, fx: np.ndarray, fy: np.ndarray, radius: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`segment_circle_params` on components: leg vector (dx, dy), start - centre (fx, fy)."""
    a = dx * dx + dy * dy
    b = 2.0 * (dx * fx + dy * fy)
    c = fx * fx + fy * fy - radius * radius
    disc = b * b - 4.0 * a * c
    ok = (a > 0.0) & (disc > 0.0)
    root = np.sqrt(np.where(ok, disc, 0.0))
    denom = np.where(ok, 2.0 * a, 1.0)
    s_in = np.clip((-b - root) / denom, 0.0, 1.0)
    s_out = np.clip((-b + root) / denom, 0.0, 1.0)
    ok &= s_out > s_in
    return s_in, s_out, ok


def envelope_windows(
    legs: Legs,
    leg_radius_index: np.ndarray,
    unit_xy: np.ndarray,
    unit_radius: np.ndarray,
    index: UnitIndex | None = None,
) -> Windows:
    """Every interval a threat spends inside a unit's envelope.

    `unit_radius` is (units, k): the envelope radius of each unit for each of k radius
    kinds (threat classes); `leg_radius_index` says which kind applies to each leg.
    Windows of consecutive legs that touch at a waypoint are merged into one. `index`
    (`unit_index` of these positions, built with radii at least these) saves building it.
    """
    leg_idx, unit_idx = candidate_pairs(legs, unit_xy, unit_radius.max(axis=1), index)
    kinds = unit_radius.shape[1]
    radius = unit_radius.ravel()[unit_idx * kinds + leg_radius_index[leg_idx]]
    keep = radius > 0
    leg_idx, unit_idx, radius = leg_idx[keep], unit_idx[keep], radius[keep]
    sx, sy = legs.start[leg_idx, 0], legs.start[leg_idx, 1]
    s_in, s_out, ok = _chords(
        legs.end[leg_idx, 0] - sx,
        legs.end[leg_idx, 1] - sy,
        sx - unit_xy[unit_idx, 0],
        sy - unit_xy[unit_idx, 1],
        radius,
    )
    leg_idx, unit_idx, s_in, s_out = leg_idx[ok], unit_idx[ok], s_in[ok], s_out[ok]
    t0 = legs.t0[leg_idx]
    span = legs.t1[leg_idx] - t0
    return _merge_touching(
        legs.threat[leg_idx], unit_idx, t0 + s_in * span, t0 + s_out * span, len(unit_xy)
    )


@dataclass(frozen=True)
class UnitIndex:
    """Units sorted by position across each of `_DIRECTIONS` directions, per reach bucket.

    Entry e is unit `unit[e]` seen along direction d with reach bucket b: `key[e]` is its
    coordinate across d plus the offset of slot (d, b), `along[e]` its coordinate along d.
    """

    reach: np.ndarray  # (units,) reach each unit was indexed with (0: not indexed)
    widen: np.ndarray  # (buckets,) largest reach in each bucket, plus slack (0: empty)
    slot_km: float  # key distance between slots; every key lies within half of it of its slot
    key: np.ndarray  # sorted
    along: np.ndarray
    unit: np.ndarray

    def covers(self, unit_reach: np.ndarray) -> bool:
        """Whether the index serves units with these reaches (none beyond its own)."""
        return len(unit_reach) == len(self.reach) and bool(np.all(unit_reach <= self.reach))


def unit_index(
    unit_xy: np.ndarray, unit_reach: np.ndarray, base: UnitIndex | None = None
) -> UnitIndex:
    """The search index of `candidate_pairs` for units at `unit_xy` with reach `unit_reach`.

    `base`, an index of some of the same units at the same positions, is extended with the
    units it does not hold rather than built again (campaigns and replications keep one of
    the units that never move and add those placed anew each night).
    """
    reach = np.asarray(unit_reach, dtype=float)
    if base is not None and len(base.reach) != len(reach):
        base = None
    held = base.reach > 0 if base is not None else np.zeros(len(reach), dtype=bool)
    new = np.flatnonzero((reach > 0) & ~held)
    if base is not None and len(new) == 0:
        return base
    bucket = np.digitize(reach[new], _REACH_BUCKETS_KM, right=True)
    widen = np.zeros(len(_REACH_BUCKETS_KM) + 1)
    np.maximum.at(widen, bucket, reach[new])
    widen[widen > 0] += _SLACK_KM
    x, y = unit_xy[new, 0], unit_xy[new, 1]
    # |across| <= |x| + |y|: keys of a slot stay within half a slot of its centre
    half = max(_HALF_SLOT_KM, 2.0 * float(np.abs(unit_xy[new]).max(initial=0.0)) + 1e3)
    if base is not None and base.slot_km != 2.0 * half:
        return unit_index(unit_xy, np.where(held, base.reach, reach))
    slot = np.arange(_DIRECTIONS)[:, None] * len(widen) + bucket[None, :]
    key = (x * _COS[:, None] + y * _SIN[:, None] + slot * (2.0 * half)).ravel()
    order = np.argsort(key, kind="stable")
    key = key[order]
    along = (y * _COS[:, None] - x * _SIN[:, None]).ravel()[order]
    unit = np.tile(new, _DIRECTIONS)[order]
    if base is None:
        return UnitIndex(np.where(reach > 0, reach, 0.0), widen, 2.0 * half, key, along, unit)
    # merge the sorted new entries into the base's
    at = np.searchsorted(base.key, key, side="right") + np.arange(len(key))
    kept = np.ones(len(base.key) + len(key), dtype=bool)
    kept[at] = False

    def merged(old: np.ndarray, added: np.ndarray) -> np.ndarray:
        out = np.empty(len(kept), dtype=old.dtype)
        out[at] = added
        out[kept] = old
        return out

    return UnitIndex(
        reach=np.where(held, base.reach, np.where(reach > 0, reach, 0.0)),
        widen=np.maximum(base.widen, widen),
        slot_km=base.slot_km,
        key=merged(base.key, key),
        along=merged(base.along, along),
        unit=merged(base.unit, unit),
    )


def candidate_pairs(
    legs: Legs, unit_xy: np.ndarray, unit_reach: np.ndarray, index: UnitIndex | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every (leg, unit) pair whose closest approach is within the unit's reach, once each.

    A multi-direction sort-and-sweep: units are sorted by their coordinate across each of
    16 directions (per reach bucket, `UnitIndex`); each leg takes the direction closest to
    its own normal, across which it is at most sin(5.6 deg) of its length wide, finds by
    binary search the units inside that band widened by the bucket's reach, keeps those
    along the leg's extent, and tests the survivors' exact distance to the segment. Every
    test is conservative (widened by `_SLACK_KM`), so no pair that can meet is lost; work
    grows with the pairs near each leg, not with threats x units.
    """
    empty = np.empty(0, dtype=np.int64)
    n_legs = len(legs.t0)
    unit_reach = np.asarray(unit_reach, dtype=float)
    if index is None or not index.covers(unit_reach):
        index = unit_index(unit_xy, unit_reach)
    buckets = np.flatnonzero(index.widen > 0)
    if n_legs == 0 or len(buckets) == 0:
        return empty, empty
    sx, sy = legs.start[:, 0].copy(), legs.start[:, 1].copy()
    dx, dy = legs.end[:, 0] - sx, legs.end[:, 1] - sy
    # the sweep direction nearest each leg's normal; the leg's extents across and along it
    d = np.rint((np.arctan2(dy, dx) + 0.5 * np.pi) / _STEP).astype(np.int64) % _DIRECTIONS
    cos, sin = _COS[d], _SIN[d]
    across0, across1 = sx * cos + sy * sin, (sx + dx) * cos + (sy + dy) * sin
    along0, along1 = sy * cos - sx * sin, (sy + dy) * cos - (sx + dx) * sin
    widen = index.widen[buckets]
    half = 0.5 * index.slot_km
    base = (d[:, None] * len(index.widen) + buckets[None, :]) * index.slot_km
    lo = np.clip(np.minimum(across0, across1)[:, None] - widen, -half, half) + base
    hi = np.clip(np.maximum(across0, across1)[:, None] + widen, -half, half) + base
    first = np.searchsorted(index.key, lo.ravel(), side="left")
    counts = np.searchsorted(index.key, hi.ravel(), side="right") - first
    total = int(counts.sum())
    if total == 0:
        return empty, empty
    query = np.repeat(np.arange(n_legs * len(buckets)), counts)
    entry = np.arange(total) + np.repeat(first - (np.cumsum(counts) - counts), counts)
    leg = query // len(buckets)
    w = widen[query % len(buckets)]
    along = index.along[entry]
    ok = (along >= np.minimum(along0, along1)[leg] - w) & (
        along <= np.maximum(along0, along1)[leg] + w
    )
    leg, unit = leg[ok], index.unit[entry[ok]]
    # exact: distance from the unit to the closest point of the segment
    a = dx * dx + dy * dy
    inv_a = np.where(a > 0, 1.0 / np.where(a > 0, a, 1.0), 0.0)
    fx = unit_xy[unit, 0] - sx[leg]
    fy = unit_xy[unit, 1] - sy[leg]
    ldx, ldy = dx[leg], dy[leg]
    t = np.clip((fx * ldx + fy * ldy) * inv_a[leg], 0.0, 1.0)
    gx, gy = fx - t * ldx, fy - t * ldy
    reach = unit_reach[unit]
    r = reach + _SLACK_KM
    near = (gx * gx + gy * gy <= r * r) & (reach > 0)
    return leg[near], unit[near]


def _merge_touching(
    threat: np.ndarray, unit: np.ndarray, t_in: np.ndarray, t_out: np.ndarray, n_units: int
) -> Windows:
    """Merge windows of one (threat, unit) that touch, then sort all by entry time (ties by
    threat, then unit).

    Rows come in leg order and a threat's legs in flight order (`Legs`), so a stable sort by
    (threat, unit) leaves each pair's windows in time order.
    """
    if len(threat) == 0:
        return Windows(threat, unit, t_in, t_out)
    pair = threat * n_units + unit
    order = np.argsort(pair, kind="stable")
    pair, threat, unit = pair[order], threat[order], unit[order]
    t_in, t_out = t_in[order], t_out[order]
    touching = (pair[1:] == pair[:-1]) & (t_in[1:] <= t_out[:-1] + 1e-6)
    if touching.any():
        starts = np.flatnonzero(np.concatenate([[True], ~touching]))
        t_in = t_in[starts]
        t_out = np.maximum.reduceat(t_out, starts)
        threat, unit = threat[starts], unit[starts]
    order = np.argsort(t_in, kind="stable")
    return Windows(threat[order], unit[order], t_in[order], t_out[order])


def ring_positions(
    centre: np.ndarray, radius_km: float, count: int, phase_deg: float
) -> np.ndarray:
    """`count` points evenly spaced on a circle around `centre` (km)."""
    return rings_positions(np.asarray(centre), [radius_km], [count], [phase_deg])[0]


def rings_positions(
    centres: np.ndarray, radius_km: np.ndarray, counts: np.ndarray, phase_deg: np.ndarray
) -> list[np.ndarray]:
    """`count` points evenly spaced on each circle (km), first at `phase_deg` from east, one
    array per ring."""
    counts = np.asarray(counts, dtype=np.int64)
    radius = np.asarray(radius_km, dtype=float)
    k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    angle = np.repeat(np.deg2rad(np.asarray(phase_deg, dtype=float)), counts) + (
        2.0 * np.pi * k / np.repeat(counts, counts)
    )
    offset = np.repeat(radius, counts)[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    xy = np.repeat(np.asarray(centres, dtype=float).reshape(-1, 2), counts, axis=0)
    xy = np.where(np.repeat(radius == 0, counts)[:, None], xy, xy + offset)
    return np.split(xy, np.cumsum(counts)[:-1])


def belt_positions(start: np.ndarray, end: np.ndarray, count: int) -> np.ndarray:
    """`count` points evenly spaced along a line, ends included when count > 1 (km)."""
    if count == 0:
        return np.empty((0, 2))
    if count == 1:
        return 0.5 * (start + end)[None, :]
    frac = np.linspace(0.0, 1.0, count)[:, None]
    return start[None, :] + frac * (end - start)[None, :]
