"""Invariants of the night model that hold in every replication, whatever the numbers.

Run on the reference night (`scenarios/aug-2025-night.yaml`), on a "starved" variant of it
whose magazines run dry and reload (so magazine, reload and queue paths are exercised), and
on small synthetic scenarios.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.experiments.replications import replication_rng, run_replications
from sim.night.agents import DefenceUnit, Target, Threat
from sim.night.model import NightModel
from sim.spec.scenario import Scenario, load_scenario
from sim.spec.yamlio import load_yaml
from sim.vocab import CLASSES, NO_UNIT, OUTCOMES

REFERENCE = Path(__file__).parents[1] / "scenarios" / "aug-2025-night.yaml"
FINAL_STATES = {"shot_down", "suppressed", "leaked", "failed"}


@pytest.fixture(scope="module")
def reference_data() -> dict[str, Any]:
    """The reference scenario as plain data (deep-copy before changing it)."""
    return load_yaml(REFERENCE).data


def variant(data: dict[str, Any], **changes: Any) -> Scenario:
    """The scenario `data` with top-level fields replaced, validated."""
    return Scenario.model_validate(copy.deepcopy(data) | copy.deepcopy(changes))


@pytest.fixture(scope="module")
def reference(reference_data) -> Scenario:
    return variant(reference_data)


@pytest.fixture(scope="module")
def starved(reference_data) -> Scenario:
    """Every shooter holds 3 ready rounds and 2 in reserve and reloads in 20 minutes."""
    catalog = copy.deepcopy(reference_data.get("catalog") or {})
    scenario = variant(reference_data)
    catalog["defences"] = {
        type_id: {"magazine": 3, "reserve": 2, "reload_min": 20.0}
        for type_id, kind in scenario.catalog.defences.items()
        if not kind.is_ew
    }
    return variant(reference_data, catalog=catalog)


def night(scenario: Scenario, seed: int, *, log_shots: bool = False) -> NightModel:
    """A model whose night has been run."""
    model = NightModel(scenario, rng=np.random.default_rng(seed), log_shots=log_shots)
    model.run()
    return model


@pytest.fixture(scope="module")
def reference_nights(reference) -> list[NightModel]:
    return [night(reference, seed, log_shots=True) for seed in range(8)]


@pytest.fixture(scope="module")
def starved_nights(starved) -> list[NightModel]:
    return [night(starved, 100 + seed, log_shots=True) for seed in range(8)]


@pytest.fixture(params=["reference", "starved"])
def nights(request, reference_nights, starved_nights) -> list[NightModel]:
    return {"reference": reference_nights, "starved": starved_nights}[request.param]


def assert_conserved(row: dict[str, Any] | pd.Series, scenario: Scenario) -> None:
    """launched = shot_down + suppressed + leaked + failed, intercepted = shot_down + suppressed."""
    launched = scenario.launched_by_class()
    for cls in (*CLASSES, "total"):
        parts = [row[f"{outcome}.{cls}"] for outcome in ("shot_down", "suppressed", "leaked")]
        assert row[f"launched.{cls}"] == sum(parts) + row[f"failed.{cls}"], cls
        assert row[f"intercepted.{cls}"] == parts[0] + parts[1], cls
        assert min(parts) >= 0 and row[f"failed.{cls}"] >= 0, cls
        expected = sum(launched.values()) if cls == "total" else launched[cls]
        assert row[f"launched.{cls}"] == expected, cls
    for outcome in OUTCOMES:
        assert row[f"{outcome}.total"] == sum(row[f"{outcome}.{cls}"] for cls in CLASSES), outcome


# --------------------------------------------------------------------------- conservation


def test_conservation_by_class_in_every_replication(reference) -> None:
    runs = run_replications(reference, 30, seed=77)
    assert len(runs) == 30
    for _, row in runs.iterrows():
        assert_conserved(row, reference)
    assert runs["shot_down.total"].min() > 0 and runs["leaked.total"].min() > 0


def test_conservation_when_magazines_run_dry(starved, starved_nights) -> None:
    for model in starved_nights:
        assert_conserved(model.result.as_row(), starved)


def test_conservation_in_synthetic_queueing_scenario(synth) -> None:
    gate = synth.shooter(0.5, channels=2, queue=True, doctrine="shoot_look_shoot", magazine=40)
    gate |= {"reserve": 30, "reload_min": 30.0}
    scenario = synth.scenario(
        1500,
        defence_types={"gate": gate},
        defences={"g": synth.unit("gate", 32.0, count=2)},
        ew={"drone": 0.2},
        threat=synth.probe_threat(failure_prob=0.1),
    )
    for seed in range(5):
        model = night(scenario, seed)
        row = model.result.as_row()
        assert_conserved(row, scenario)
        assert row["failed.drone"] > 0 and row["suppressed.drone"] > 0
        assert row["shots.gate"] == 2 * (40 + 30)  # both units spend everything


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_night_and_different_seeds_differ(reference) -> None:
    first = NightModel(reference, rng=np.random.default_rng(42)).run().as_row()
    again = NightModel(reference, rng=np.random.default_rng(42)).run().as_row()
    by_seed = NightModel(reference, seed=42).run().as_row()
    other = NightModel(reference, rng=np.random.default_rng(43)).run().as_row()
    assert first == again
    assert first == by_seed
    assert first != other


def test_replications_are_reproducible_and_independent(reference) -> None:
    one = run_replications(reference, 4, seed=5)
    two = run_replications(reference, 4, seed=5)
    pd.testing.assert_frame_equal(one, two)
    other = run_replications(reference, 4, seed=6)
    assert not one.drop(columns="seed").equals(other.drop(columns="seed"))
    assert one.drop(columns=["replication"]).drop_duplicates().shape[0] == 4
    # replication r is the night of replication_rng(seed, 0, r), whatever ran it
    row = NightModel(reference, rng=replication_rng(5, 0, 3)).run().as_row()
    assert {k: one.iloc[3][k] for k in row} == row


@pytest.mark.slow  # about 5 s, nearly all of it starting two spawned worker processes
def test_workers_do_not_change_results(reference) -> None:
    serial = run_replications(reference, 6, seed=9, workers=1)
    parallel = run_replications(reference, 6, seed=9, workers=2)
    pd.testing.assert_frame_equal(serial, parallel)
    chunked = run_replications(reference, 6, seed=9, workers=1, chunk_size=4)
    pd.testing.assert_frame_equal(serial, chunked)


# --------------------------------------------------------------------------- agents


def test_every_threat_agent_ends_in_one_final_state(nights) -> None:
    for model in nights:
        threats = model.agents_by_type[Threat]
        assert len(threats) == model.result.counts["launched.total"]
        tally = Counter((agent.threat_class, agent.state) for agent in threats)
        assert {state for _, state in tally} <= FINAL_STATES
        for (cls, state), count in tally.items():
            assert model.result.counts[f"{state}.{cls}"] == count
        assert np.isfinite(model.threat_end_time).all()


def test_agent_sets_match_the_scenario(reference, reference_nights) -> None:
    model = reference_nights[0]
    assert len(model.agents_by_type[DefenceUnit]) == sum(
        g.count for g in reference.defences.values()
    )
    assert {a.target_id for a in model.agents_by_type[Target]} == set(reference.targets)
    assert {a.group for a in model.agents_by_type[Threat]} == set(reference.salvo)
    shots = sum(a.shots_fired for a in model.agents_by_type[DefenceUnit])
    assert shots == sum(v["shots"] for v in model.result.defence.values())


def test_mesa_step_runs_the_night_once(reference) -> None:
    model = NightModel(reference, seed=3)
    assert model.running and model.result is None
    assert {a.state for a in model.agents_by_type[Threat]} == {"flying"}
    model.step()
    assert not model.running
    assert model.steps == 1
    result = model.result
    assert result is not None
    assert {a.state for a in model.agents_by_type[Threat]} <= FINAL_STATES
    model.step()  # a second step does nothing
    assert model.result is result
    assert result.as_row() == NightModel(reference, seed=3).run().as_row()


# --------------------------------------------------------------------------- rounds and kills


def test_no_unit_fires_more_than_magazine_plus_reserve(nights) -> None:
    for model in nights:
        units = model.unit_batch
        stock = units.magazine + units.reserve
        assert (model.unit_shots <= stock).all()
        assert (model.outcome.magazine_left >= 0).all()
        # rounds are conserved: fired + left = ready + reserve at dusk
        np.testing.assert_array_equal(model.unit_shots + model.outcome.magazine_left, stock)
        assert (model.unit_shots[units.is_ew] == 0).all()


def test_starved_units_run_dry(starved_nights) -> None:
    """The starved variant really exercises the magazine and reload paths."""
    model = starved_nights[0]
    units = model.unit_batch
    shooters = ~units.is_ew
    assert ((model.unit_shots == units.magazine + units.reserve) & shooters).sum() > 10
    assert ((model.unit_shots > units.magazine) & shooters).sum() > 10  # reloads happened


def test_channels_and_timing_are_respected(nights) -> None:
    """No unit has more engagements in flight than channels; no round before launch or late."""
    for model in nights:
        units, threats, windows = model.unit_batch, model.threat_batch, model.windows
        log = model.outcome.shot_log
        assert len(log) == model.outcome.engagements.sum()
        assert sum(rounds for *_, rounds in log) == model.unit_shots.sum()
        by_pair: dict[tuple[int, int], list[tuple[float, float]]] = {}
        for i, u, t_in, t_out in zip(
            windows.threat, windows.unit, windows.t_in, windows.t_out, strict=True
        ):
            by_pair.setdefault((int(i), int(u)), []).append((t_in, t_out))
        events: dict[int, list[tuple[float, int]]] = {}
        for t, u, i, rounds in log:
            engage_s, reaction_s = units.engage_s[u], units.reaction_s[u]
            assert 1 <= rounds <= units.shots[u]
            assert t >= threats.t_launch[i] - 1e-9
            assert t <= model.threat_end_time[i] + 1e-9  # nothing fired at a dead threat
            assert any(
                t >= t_in + reaction_s - engage_s - 1e-6 and t + engage_s <= t_out + 1e-6
                for t_in, t_out in by_pair[(i, u)]
            ), "engagement outside the unit's window"
            events.setdefault(u, []).extend([(t, 1), (t + engage_s, -1)])
        for u, unit_events in events.items():
            busy = np.cumsum([step for _, step in sorted(unit_events)])  # ends sort first
            assert busy.max() <= units.channels[u]


def test_kills_credited_per_type_sum_to_shot_down_plus_ew_site_suppressions(nights) -> None:
    for model in nights:
        row = model.result.as_row()
        agents = list(model.agents_by_type[Threat])
        site_suppressed = sum(a.state == "suppressed" and a.killed_by is not None for a in agents)
        credited = sum(v["kills"] for v in model.result.defence.values())
        assert credited == row["shot_down.total"] + site_suppressed
        assert row["kills.ew"] == site_suppressed > 0
        units = model.unit_batch
        killer = model.threat_killer
        shot = model.threat_state == 1
        assert (killer[shot] != NO_UNIT).all() and not units.is_ew[killer[shot]].any()
        engaged = {(u, i) for _, u, i, _ in model.outcome.shot_log}
        assert all((int(killer[i]), int(i)) in engaged for i in np.flatnonzero(shot))
        by_group = Counter(a.killed_by for a in agents if a.killed_by is not None)
        group_type = {gid: g.type for gid, g in model.scenario.defences.items()}
        by_type = Counter()
        for gid, count in by_group.items():
            by_type[group_type[gid]] += count
        assert {t: v["kills"] for t, v in model.result.defence.items() if v["kills"]} == by_type


# --------------------------------------------------------------------------- empty cases


@pytest.mark.parametrize("how", ["no groups", "zero counts"])
def test_no_defence_lets_everything_through_but_failures_and_background_ew(
    reference_data, how: str
) -> None:
    defences = (
        {}
        if how == "no groups"
        else {gid: g | {"count": 0} for gid, g in reference_data["defences"].items()}
    )
    for ew in (reference_data["ew"], {}):
        scenario = variant(reference_data, defences=defences, ew=ew)
        for seed in range(3):
            model = night(scenario, seed)
            row = model.result.as_row()
            assert_conserved(row, scenario)
            assert row["shot_down.total"] == 0
            assert row["intercepted.total"] == row["suppressed.total"]
            assert (model.threat_killer == NO_UNIT).all()
            assert all(v == {"shots": 0, "kills": 0, "cost_usd": 0.0}
                       for v in model.result.defence.values())  # fmt: skip
            assert row["defender_cost_usd"] == 0.0
            if ew:
                assert row["suppressed.drone"] > 0 and row["suppressed.decoy"] > 0
            else:
                assert row["suppressed.total"] == 0
                assert row["leaked.total"] + row["failed.total"] == row["launched.total"]


def test_zero_count_group_launches_nothing(reference_data) -> None:
    salvo = copy.deepcopy(reference_data["salvo"])
    salvo["shahed"]["count"] = 0  # the only drone group
    scenario = variant(reference_data, salvo=salvo)
    row = night(scenario, 1).result.as_row()
    assert_conserved(row, scenario)
    assert all(row[f"{outcome}.drone"] == 0 for outcome in OUTCOMES)
    assert row["launched.decoy"] == salvo["gerbera"]["count"]


def test_all_groups_zero_is_an_empty_night(reference_data) -> None:
    salvo = {gid: g | {"count": 0} for gid, g in reference_data["salvo"].items()}
    scenario = variant(reference_data, salvo=salvo)
    model = NightModel(scenario, seed=1)
    model.step()
    assert not model.running
    row = model.result.as_row()
    assert all(row[f"{outcome}.total"] == 0 for outcome in OUTCOMES)
    assert len(model.agents_by_type.get(Threat, [])) == 0
    assert row["defender_cost_usd"] == 0.0 and row["attacker_cost_usd"] == 0.0


def test_finished_nights_are_not_kept_alive_by_mesa():
    """Mesa 3.3's class-level Agent._ids would keep every model alive; a run night releases it."""
    import gc
    import weakref

    import mesa

    scenario = load_scenario(REFERENCE)
    model = NightModel(scenario, seed=5)
    model.run()
    assert model not in mesa.Agent._ids
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
