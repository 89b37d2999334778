"""Geometry: projection, route legs and envelope windows (tangent, crossing, inside, missing)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.night import geo


def _one_leg(start, end, t0=0.0, speed=1.0):
    start, end = np.asarray([start], float), np.asarray([end], float)
    length = float(np.linalg.norm(end - start))
    return geo.Legs(
        threat=np.array([0]),
        start=start,
        end=end,
        t0=np.array([t0]),
        t1=np.array([t0 + length / speed]),
    )


def _windows(legs, centre, radius):
    return geo.envelope_windows(
        legs,
        np.zeros(len(legs.t0), dtype=np.int64),
        np.asarray([centre], float),
        np.asarray([[radius]], float),
    )


def test_route_crossing_the_centre_spends_the_diameter_inside():
    w = _windows(_one_leg((-10, 0), (10, 0), speed=2.0), (0, 0), 3.0)
    assert len(w) == 1
    assert w.t_in[0] == pytest.approx((10 - 3) / 2.0)
    assert w.t_out[0] == pytest.approx((10 + 3) / 2.0)


def test_route_crossing_off_centre_spends_the_chord_inside():
    offset, radius = 2.0, 5.0
    w = _windows(_one_leg((-20, offset), (20, offset)), (0, 0), radius)
    chord = 2 * math.sqrt(radius**2 - offset**2)
    assert w.t_out[0] - w.t_in[0] == pytest.approx(chord)


def test_tangent_route_has_no_window():
    assert len(_windows(_one_leg((-10, 3.0), (10, 3.0)), (0, 0), 3.0)) == 0


def test_route_missing_the_envelope_has_no_window():
    assert len(_windows(_one_leg((-10, 5.0), (10, 5.0)), (0, 0), 3.0)) == 0


def test_route_ending_before_the_envelope_has_no_window():
    assert len(_windows(_one_leg((-10, 0), (-4, 0)), (0, 0), 3.0)) == 0


def test_route_starting_inside_enters_at_launch():
    w = _windows(_one_leg((1, 0), (20, 0), t0=100.0), (0, 0), 3.0)
    assert w.t_in[0] == pytest.approx(100.0)
    assert w.t_out[0] == pytest.approx(102.0)


def test_route_ending_inside_leaves_at_arrival():
    w = _windows(_one_leg((-20, 0), (0, 0)), (0, 0), 3.0)
    assert w.t_in[0] == pytest.approx(17.0)
    assert w.t_out[0] == pytest.approx(20.0)


def test_window_across_a_waypoint_is_merged():
    waypoints = np.array([[[-10.0, 0.0], [0.0, 0.0], [0.0, 10.0]]])
    legs, t_end = geo.legs_from_routes(waypoints, np.array([3]), np.array([0.0]), np.array([1.0]))
    assert t_end[0] == pytest.approx(20.0)
    w = _windows(legs, (0, 0), 2.0)
    assert len(w) == 1
    assert (w.t_in[0], w.t_out[0]) == pytest.approx((8.0, 12.0))


def test_zero_radius_class_has_no_window():
    legs = _one_leg((-10, 0), (10, 0))
    w = geo.envelope_windows(
        legs, np.array([1]), np.array([[0.0, 0.0]]), np.array([[5.0, 0.0]])
    )  # leg is of radius kind 1, which the unit cannot engage
    assert len(w) == 0


def test_padded_routes_have_zero_length_legs_removed():
    waypoints = np.array([[[0.0, 0.0], [3.0, 4.0], [3.0, 4.0]]])
    legs, t_end = geo.legs_from_routes(waypoints, np.array([2]), np.array([5.0]), np.array([0.5]))
    assert len(legs.t0) == 1
    assert t_end[0] == pytest.approx(5.0 + 5.0 / 0.5)


def test_projection_round_trip():
    proj = geo.Projection(lon0=31.0, lat0=49.0)
    lonlat = np.array([[24.03, 49.84], [30.52, 50.45], [31.0, 49.0], [40.4, 44.9]])
    back = proj.to_lonlat(proj.to_km(lonlat[:, 0], lonlat[:, 1]))
    assert back == pytest.approx(lonlat)


def test_projection_distances_match_great_circle_across_the_theatre():
    proj = geo.Projection(lon0=31.0, lat0=49.0)
    rng = np.random.default_rng(3)
    lon = rng.uniform(22.0, 40.0, size=(200, 2))
    lat = rng.uniform(44.0, 53.0, size=(200, 2))
    xy_a, xy_b = proj.to_km(lon[:, 0], lat[:, 0]), proj.to_km(lon[:, 1], lat[:, 1])
    projected = np.linalg.norm(xy_a - xy_b, axis=1)
    true = geo.great_circle_km(lon[:, 0], lat[:, 0], lon[:, 1], lat[:, 1])
    assert np.max(np.abs(projected / true - 1)) < 0.01
    # distances from the centre are exact
    centre = geo.great_circle_km(31.0, 49.0, lon[:, 0], lat[:, 0])
    assert np.linalg.norm(xy_a, axis=1) == pytest.approx(centre, rel=1e-9)


def _brute_force_windows(legs, radius_kind, unit_xy, unit_radius):
    pairs = set()
    for leg in range(len(legs.t0)):
        for unit in range(len(unit_xy)):
            r = unit_radius[unit, radius_kind[leg]]
            if r <= 0:
                continue
            _, _, ok = geo.segment_circle_params(
                legs.start[leg : leg + 1], legs.end[leg : leg + 1], unit_xy[unit : unit + 1],
                np.array([r]),
            )  # fmt: skip
            if ok[0]:
                pairs.add((int(legs.threat[leg]), unit))
    return pairs


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_legs=st.integers(1, 40),
    n_units=st.integers(1, 30),
)
def test_pruned_windows_equal_brute_force(seed, n_legs, n_units):
    rng = np.random.default_rng(seed)
    start = rng.uniform(-300, 300, size=(n_legs, 2))
    end = rng.uniform(-300, 300, size=(n_legs, 2))
    legs = geo.Legs(
        threat=np.arange(n_legs),
        start=start,
        end=end,
        t0=np.zeros(n_legs),
        t1=np.linalg.norm(end - start, axis=1),
    )
    kind = rng.integers(0, 2, size=n_legs)
    unit_xy = rng.uniform(-300, 300, size=(n_units, 2))
    unit_radius = rng.choice([0.0, 1.5, 4.0, 15.0, 40.0], size=(n_units, 2))
    w = geo.envelope_windows(legs, kind, unit_xy, unit_radius)
    assert set(zip(w.threat.tolist(), w.unit.tolist(), strict=True)) == _brute_force_windows(
        legs, kind, unit_xy, unit_radius
    )
    assert np.all(np.diff(w.t_in) >= 0)
    assert np.all(w.t_out > w.t_in)


def test_ring_and_belt_positions():
    ring = geo.ring_positions(np.array([10.0, 20.0]), 5.0, 4, 0.0)
    assert np.linalg.norm(ring - [10.0, 20.0], axis=1) == pytest.approx([5.0] * 4)
    belt = geo.belt_positions(np.array([0.0, 0.0]), np.array([9.0, 0.0]), 4)
    assert belt[:, 0] == pytest.approx([0.0, 3.0, 6.0, 9.0])
    assert geo.belt_positions(np.array([0.0, 0.0]), np.array([4.0, 0.0]), 1)[0] == pytest.approx(
        [2.0, 0.0]
    )
