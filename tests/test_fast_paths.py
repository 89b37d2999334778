"""The speed-ups of the night model give what the plain computation gives, draw for draw.

Each fast path (the incremental pair index, weighted choices from a table, uniforms taken
from an iterator, all rings at once, agents made on first use, unit lists kept between
nights) is held against the plain computation it replaces.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import mesa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.night import geo
from sim.night.agents import DefenceUnit, Target, Threat
from sim.night.engagement import UniformStream
from sim.night.laydown import NightPlan, choice_table, choose
from sim.night.model import NightModel
from sim.spec.scenario import load_scenario

REFERENCE = Path(__file__).parents[1] / "scenarios" / "aug-2025-night.yaml"


def _random_legs(rng: np.random.Generator, n: int) -> geo.Legs:
    start = rng.uniform(-400, 400, size=(n, 2))
    end = rng.uniform(-400, 400, size=(n, 2))
    return geo.Legs(
        threat=np.arange(n),
        start=start,
        end=end,
        t0=np.zeros(n),
        t1=np.linalg.norm(end - start, axis=1),
    )


def _brute_force_pairs(legs: geo.Legs, unit_xy: np.ndarray, reach: np.ndarray) -> set:
    """(leg, unit) pairs whose segment passes within `reach` of the unit (exact, no pruning)."""
    pairs = set()
    for leg in range(len(legs.t0)):
        a, b = legs.start[leg], legs.end[leg]
        d = b - a
        for unit in np.flatnonzero(reach > 0):
            f = unit_xy[unit] - a
            t = np.clip(f @ d / (d @ d), 0.0, 1.0) if d @ d > 0 else 0.0
            if np.linalg.norm(f - t * d) < reach[unit] - 1e-9:
                pairs.add((leg, int(unit)))
    return pairs


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_legs=st.integers(1, 30), n_units=st.integers(1, 40))
def test_incremental_unit_index_finds_the_pairs_of_a_fresh_one(seed, n_legs, n_units):
    rng = np.random.default_rng(seed)
    legs = _random_legs(rng, n_legs)
    unit_xy = rng.uniform(-400, 400, size=(n_units, 2))
    reach = rng.choice([0.0, 1.5, 4.0, 15.0, 40.0], size=n_units)
    fixed = rng.random(n_units) < 0.7
    base = geo.unit_index(unit_xy, np.where(fixed, reach, 0.0))
    grown = geo.unit_index(unit_xy, reach, base=base)
    fresh = geo.unit_index(unit_xy, reach)
    assert grown.covers(reach) and np.array_equal(grown.key, fresh.key)

    def pairs(index):
        leg, unit = geo.candidate_pairs(legs, unit_xy, reach, index)
        found = list(zip(leg.tolist(), unit.tolist(), strict=True))
        assert len(found) == len(set(found))  # each pair once
        return set(found)

    expected = pairs(None)
    assert pairs(grown) == pairs(fresh) == expected
    # every pair that really passes within reach is found (tangents aside)
    assert _brute_force_pairs(legs, unit_xy, reach) <= expected
    # an index built with larger reaches serves smaller ones; smaller ones are rebuilt
    assert pairs(geo.unit_index(unit_xy, 2.0 * reach)) == expected
    assert pairs(geo.unit_index(unit_xy, 0.5 * reach)) == expected


def test_weighted_choice_table_draws_what_generator_choice_draws():
    for seed in range(50):
        weights = dict(zip("abcdefg", np.random.default_rng(seed).random(7), strict=True))
        weights = {k: v for k, v in weights.items() if v > 0.2} or {"a": 1.0}
        names = list("gfedcba")
        codes, cdf = choice_table(names, weights)
        p = np.array(list(weights.values()))
        fast, plain = np.random.default_rng(seed), np.random.default_rng(seed)
        drawn = choose(fast, codes, cdf, 100)
        expected = np.array([names.index(c) for c in weights])[
            plain.choice(len(weights), size=100, p=p / p.sum())
        ]
        assert np.array_equal(drawn, expected)
        assert fast.random() == plain.random()  # the generators are left in the same state


def test_uniform_stream_gives_the_generator_blocks_in_order():
    stream = UniformStream(np.random.default_rng(3), block=512)
    values = [stream() if k % 3 else next(stream.draws) for k in range(1500)]
    plain = np.random.default_rng(3)
    expected = np.concatenate([plain.random(512) for _ in range(3)])[:1500]
    assert values == expected.tolist()


def test_rings_at_once_equal_rings_one_by_one():
    centres = np.array([[0.0, 0.0], [120.5, -33.25], [7.0, 7.0], [1.0, 2.0]])
    radius, counts, phase = [15.0, 25.0, 0.0, 30.0], [8, 3, 4, 0], [0.0, 45.0, 10.0, 5.0]
    together = geo.rings_positions(centres, radius, counts, phase)
    for k in range(len(counts)):
        angle = np.deg2rad(phase[k]) + 2.0 * np.pi * np.arange(counts[k]) / counts[k]
        one = centres[k][None, :] + radius[k] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        assert np.array_equal(together[k], one if radius[k] else np.repeat(centres[[k]], 4, 0))


@pytest.fixture(scope="module")
def reference():
    return load_scenario(REFERENCE)


def test_agents_are_made_on_first_use_and_match_the_columns(reference):
    model = NightModel(reference, seed=4)
    assert len(mesa.Model.agents.fget(model)) == 0  # nothing made yet
    result = model.run()
    assert len(model.agents) == len(model.threat_batch) + len(model.unit_batch) + len(
        reference.targets
    )
    assert {type(a) for a in model.agents} == {Threat, DefenceUnit, Target}
    hits = {a.target_id: (a.hits, a.killed, a.injured, a.buildings) for a in model.targets}
    assert hits == {
        t: (v["hits"], v["killed"], v["injured"], v["buildings"]) for t, v in result.targets.items()
    }
    # views made after the night has run leave no Mesa id counter behind
    assert model not in mesa.Agent._ids
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_nights_without_agents_give_the_same_result(reference):
    plan = NightPlan.from_scenario(reference)
    with_agents = NightModel(reference, seed=8, plan=plan)
    list(with_agents.agents)  # made before the night is run
    without = NightModel(reference, seed=8, plan=plan, agent_views=False)
    assert with_agents.run().as_row() == without.run().as_row()
    assert len(mesa.Model.agents.fget(without)) == 0


def test_plan_columns_are_read_only_so_cached_unit_lists_stay_true(reference):
    plan = NightPlan.from_scenario(reference)
    first = NightModel(reference, seed=2, plan=plan, agent_views=False).run().as_row()
    with pytest.raises(ValueError, match="read-only"):
        plan.unit_columns["pk"][0, 0] = 0.0
    # a night with other kill probabilities passes new arrays, which the cache does not serve
    pk = np.zeros_like(plan.unit_columns["pk"])
    zero = NightModel(reference, seed=2, plan=plan, unit_columns={"pk": pk}, agent_views=False)
    assert zero.run().counts["shot_down.total"] == 0
    again = NightModel(reference, seed=2, plan=plan, agent_views=False).run().as_row()
    assert again == first
