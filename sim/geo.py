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
    """Straight route legs flown at constant speed: one row per leg."""

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
    leg_index = np.arange(max_points - 1)
    valid = leg_index[None, :] < (n_points[:, None] - 1)
    start = waypoints[:, :-1, :]
    end = waypoints[:, 1:, :]
    length = np.linalg.norm(end - start, axis=-1) * valid
    elapsed = np.concatenate([np.zeros((n_threats, 1)), np.cumsum(length, axis=1)], axis=1)
    times = t_launch[:, None] + elapsed / speed_kms[:, None]
    threat = np.broadcast_to(np.arange(n_threats)[:, None], valid.shape)
    legs = Legs(
        threat=threat[valid],
        start=start[valid],
        end=end[valid],
        t0=times[:, :-1][valid],
        t1=times[:, 1:][valid],
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
) -> Windows:
    """Every interval a threat spends inside a unit's envelope.

    `unit_radius` is (units, k): the envelope radius of each unit for each of k radius
    kinds (threat classes); `leg_radius_index` says which kind applies to each leg.
    Windows of consecutive legs that touch at a waypoint are merged into one.
    """
    leg_idx, unit_idx = candidate_pairs(legs, unit_xy, unit_radius.max(axis=1))
    radius = unit_radius[unit_idx, leg_radius_index[leg_idx]]
    keep = radius > 0
    leg_idx, unit_idx, radius = leg_idx[keep], unit_idx[keep], radius[keep]
    s_in, s_out, ok = segment_circle_params(
        legs.start[leg_idx], legs.end[leg_idx], unit_xy[unit_idx], radius
    )
    leg_idx, unit_idx, s_in, s_out = leg_idx[ok], unit_idx[ok], s_in[ok], s_out[ok]
    span = legs.t1[leg_idx] - legs.t0[leg_idx]
    t_in = legs.t0[leg_idx] + s_in * span
    t_out = legs.t0[leg_idx] + s_out * span
    return _merge_touching(legs.threat[leg_idx], unit_idx, t_in, t_out)


def candidate_pairs(
    legs: Legs, unit_xy: np.ndarray, unit_reach: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(leg, unit) pairs whose bounding boxes overlap: a superset of the pairs that can meet.

    A sort-and-sweep index: units are bucketed by reach (a gun's 4 km, a SAM's 40 km) and
    sorted by x; each leg finds, by binary search, the units whose x lies within its x-span
    widened by the bucket's reach, then keeps those within its widened y-span. Work is
    proportional to the pairs that survive the x-sweep, not to threats x units.
    """
    empty = np.empty(0, dtype=np.int64)
    if len(legs.t0) == 0 or len(unit_xy) == 0:
        return empty, empty
    lo = np.minimum(legs.start, legs.end)
    hi = np.maximum(legs.start, legs.end)
    found_legs, found_units = [], []
    bucket = np.digitize(unit_reach, _REACH_BUCKETS_KM, right=True)
    for b in np.unique(bucket[unit_reach > 0]):
        members = np.flatnonzero((bucket == b) & (unit_reach > 0))
        reach = float(unit_reach[members].max())
        members = members[np.argsort(unit_xy[members, 0], kind="stable")]
        xs = unit_xy[members, 0]
        first = np.searchsorted(xs, lo[:, 0] - reach, side="left")
        last = np.searchsorted(xs, hi[:, 0] + reach, side="right")
        counts = last - first
        total = int(counts.sum())
        if total == 0:
            continue
        leg = np.repeat(np.arange(len(counts)), counts)
        offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        unit = members[first[leg] + offset]
        y = unit_xy[unit, 1]
        inside = (y >= lo[leg, 1] - reach) & (y <= hi[leg, 1] + reach)
        found_legs.append(leg[inside])
        found_units.append(unit[inside])
    if not found_legs:
        return empty, empty
    return np.concatenate(found_legs), np.concatenate(found_units)


def _merge_touching(
    threat: np.ndarray, unit: np.ndarray, t_in: np.ndarray, t_out: np.ndarray
) -> Windows:
    """Merge windows of one (threat, unit) that touch, then sort all by entry time."""
    if len(threat) == 0:
        return Windows(threat, unit, t_in, t_out)
    order = np.lexsort((t_in, threat, unit))
    threat, unit, t_in, t_out = threat[order], unit[order], t_in[order], t_out[order]
    same_pair = (threat[1:] == threat[:-1]) & (unit[1:] == unit[:-1])
    touching = same_pair & (t_in[1:] <= t_out[:-1] + 1e-6)
    starts = np.flatnonzero(np.concatenate([[True], ~touching]))
    t_in = t_in[starts]
    t_out = np.maximum.reduceat(t_out, starts)
    threat, unit = threat[starts], unit[starts]
    order = np.lexsort((unit, threat, t_in))
    return Windows(threat[order], unit[order], t_in[order], t_out[order])


def ring_positions(
    centre: np.ndarray, radius_km: float, count: int, phase_deg: float
) -> np.ndarray:
    """`count` points evenly spaced on a circle around `centre` (km)."""
    if count == 0:
        return np.empty((0, 2))
    if radius_km == 0:
        return np.repeat(centre[None, :], count, axis=0)
    angle = np.deg2rad(phase_deg) + 2.0 * np.pi * np.arange(count) / count
    return centre[None, :] + radius_km * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def belt_positions(start: np.ndarray, end: np.ndarray, count: int) -> np.ndarray:
    """`count` points evenly spaced along a line, ends included when count > 1 (km)."""
    if count == 0:
        return np.empty((0, 2))
    if count == 1:
        return 0.5 * (start + end)[None, :]
    frac = np.linspace(0.0, 1.0, count)[:, None]
    return start[None, :] + frac * (end - start)[None, :]
