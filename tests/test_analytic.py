"""The closed forms in sim.analysis.analytic, and the simulation held against them.

Every statistical test uses a fixed seed and a stated tolerance: an exact binomial test
(`scipy.stats.binomtest`, rejecting at p < ALPHA) where the outcomes of different threats
are independent, and |estimate - closed form| < 4 standard errors where they are not
(the Erlang loss system). Each synthetic scenario switches off everything the closed form
does not model: no failures, no aim or site scatter, no EW unless it is the subject, one
straight route through the centre of every envelope (see conftest.py).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from sim.analysis.analytic import (
    erlang_b,
    expected_leakers,
    layered_kill_probability,
    salvo_kill_probability,
    shoot_look_shoot_expected_shots,
    shoot_look_shoot_kill_probability,
)
from sim.experiments.replications import run_replications
from sim.night.model import NightModel

ALPHA = 1e-4  # binomial tests reject below this p-value (fixed seeds: a failure is a real one)


def assert_binomial(successes: int, trials: int, p: float, what: str) -> None:
    """Exact two-sided binomial test of `successes` of `trials` against probability `p`."""
    test = stats.binomtest(int(successes), int(trials), p)
    assert test.pvalue > ALPHA, (
        f"{what}: {successes}/{trials} = {successes / trials:.4f}, closed form {p:.4f} "
        f"(binomial p-value {test.pvalue:.2e})"
    )


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize(
    ("channels", "load", "expected"),
    [(0, 3.0, 1.0), (1, 1.0, 0.5), (2, 2.0, 0.4), (3, 2.0, 4 / 19), (5, 0.0, 0.0)],
)
def test_erlang_b_known_values(channels: int, load: float, expected: float) -> None:
    assert erlang_b(channels, load) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("channels", "load"), [(1, 0.3), (4, 2.5), (30, 25.0), (400, 380.0)])
def test_erlang_b_matches_truncated_poisson(channels: int, load: float) -> None:
    # B(c, A) = P(N = c | N <= c) for N ~ Poisson(A); the recursion must stay finite and exact
    # where c! and A^c overflow (c = 400)
    expected = math.exp(stats.poisson.logpmf(channels, load) - stats.poisson.logcdf(channels, load))
    assert erlang_b(channels, load) == pytest.approx(expected, rel=1e-9)


def test_erlang_b_decreases_with_channels_and_grows_with_load() -> None:
    by_channels = [erlang_b(c, 5.0) for c in range(12)]
    assert all(a > b for a, b in itertools.pairwise(by_channels))
    by_load = [erlang_b(4, a) for a in np.linspace(0.1, 20.0, 30)]
    assert all(a < b for a, b in itertools.pairwise(by_load))


def test_layer_salvo_and_leaker_formulas() -> None:
    assert layered_kill_probability([]) == 0.0
    assert layered_kill_probability([0.3]) == pytest.approx(0.3)
    assert layered_kill_probability([0.6, 0.5]) == pytest.approx(0.8)
    assert layered_kill_probability((0.5, 0.5, 0.5)) == pytest.approx(0.875)
    assert layered_kill_probability([1.0, 0.0]) == 1.0
    assert salvo_kill_probability(0.4, 0) == 0.0
    assert salvo_kill_probability(0.4, 2) == pytest.approx(0.64)
    assert salvo_kill_probability(0.4, 3) == pytest.approx(layered_kill_probability([0.4] * 3))
    assert shoot_look_shoot_kill_probability(0.4, 3) == pytest.approx(0.784)
    assert shoot_look_shoot_expected_shots(0.4, 3) == pytest.approx(1 + 0.6 + 0.36)
    assert shoot_look_shoot_expected_shots(0.0, 3) == 3.0
    assert shoot_look_shoot_expected_shots(1.0, 3) == 1.0
    assert expected_leakers(614, 0.94) == pytest.approx(36.84)
    assert expected_leakers(0, 0.5) == 0.0


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (erlang_b, (-1, 1.0)),
        (erlang_b, (2.5, 1.0)),
        (erlang_b, (True, 1.0)),
        (erlang_b, (2, -0.1)),
        (erlang_b, (2, math.inf)),
        (erlang_b, (2, math.nan)),
        (layered_kill_probability, ([0.5, 1.2],)),
        (layered_kill_probability, ([-0.1],)),
        (layered_kill_probability, ([math.nan],)),
        (salvo_kill_probability, (1.5, 2)),
        (salvo_kill_probability, (0.5, -1)),
        (salvo_kill_probability, (0.5, 1.5)),
        (shoot_look_shoot_kill_probability, (-0.5, 2)),
        (shoot_look_shoot_kill_probability, (0.5, -2)),
        (shoot_look_shoot_expected_shots, (0.5, -1)),
        (expected_leakers, (-1, 0.5)),
        (expected_leakers, (10, 1.01)),
        (expected_leakers, (math.inf, 0.5)),
    ],
)
def test_closed_forms_reject_out_of_range_inputs(call, args) -> None:
    with pytest.raises(ValueError):
        call(*args)


# --------------------------------------------------------------------------- Erlang loss


@pytest.mark.parametrize(("channels", "reaction_s"), [(2, 60.0), (3, 10.0)])
def test_loss_unit_leaks_erlang_b_fraction(synth, channels: int, reaction_s: float) -> None:
    """A loss unit (queue: false, pk 1) fed Poisson arrivals leaks erlang_b(c, lambda * engage_s).

    Arrivals: n threats launched uniformly over T = 20 h and flying one identical route reach
    the unit at launch time + a constant. n uniform points on [0, T] are a Poisson process of
    rate n / T conditioned on its count; every arrival sees the others in the preceding
    engage_s as Binomial(n - 1, engage_s / T), i.e. Poisson to O(1/n) (n = 2400 a night). The
    system starts empty, which lowers blocking only for arrivals in the first engage_s = 60 s
    of 72,000 s (< 0.1 % of arrivals). The channel is busy exactly engage_s per engagement (pk 1
    kills at the first assessment; the 40 km chord takes 400 s, so every intercept fits), from
    reaction_s - engage_s after entry: with reaction_s < engage_s the round leaves before the
    threat enters, which shifts every arrival equally and must not change the blocking.
    """
    n, nights, hours, engage_s = 2400, 20, 20.0, 60.0
    load = n / (hours * 3600.0) * engage_s  # offered load A = lambda * engage_s = 2 erlangs
    gate = synth.shooter(
        1.0, channels=channels, queue=False, engage_s=engage_s, reaction_s=reaction_s
    )
    scenario = synth.scenario(
        n,
        defence_types={"gate": gate},
        defences={"g": synth.unit("gate", 32.0)},
        launch_window_h=(0.0, hours),
    )
    runs = run_replications(scenario, nights, seed=2024)
    assert (runs["launched.drone"] == n).all()
    assert (runs["shot_down.drone"] + runs["leaked.drone"] == n).all()
    assert (runs["shots.gate"] == runs["shot_down.drone"]).all()  # pk 1: every round kills
    leak = runs["leaked.drone"] / n
    estimate, expected = leak.mean(), erlang_b(channels, load)
    # leaks of neighbouring arrivals are correlated, so take the larger of the binomial
    # standard error and the batch-means one (nights are independent batches)
    se_binomial = math.sqrt(expected * (1 - expected) / (n * nights))
    se_batches = leak.std(ddof=1) / math.sqrt(nights)
    se = max(se_binomial, se_batches)
    assert abs(estimate - expected) < 4 * se, (
        f"c={channels}, A={load}: simulated leak {estimate:.4f}, Erlang B {expected:.4f}, "
        f"SE {se:.4f}"
    )


def test_queueing_unit_is_not_a_loss_system(synth) -> None:
    """The same unit with queue: true serves blocked threats later, so it leaks far less."""
    n, engage_s = 2400, 60.0
    gate = synth.shooter(1.0, channels=2, queue=True, engage_s=engage_s, reaction_s=engage_s)
    scenario = synth.scenario(
        n, defence_types={"gate": gate}, defences={"g": synth.unit("gate", 32.0)}
    )
    leaked = NightModel(scenario, rng=np.random.default_rng(5)).run().counts["leaked.drone"]
    assert leaked / n < erlang_b(2, 2.0) / 4


# --------------------------------------------------------------------------- layers, salvos


def test_two_independent_layers(synth) -> None:
    """Layers 143 km apart: killed w.p. 1 - (1 - p1)(1 - p2); layer 1 kills p1, layer 2 (1-p1)p2."""
    n, p1, p2 = 4000, 0.6, 0.5
    scenario = synth.scenario(
        n,
        defence_types={"upper": synth.shooter(p1), "lower": synth.shooter(p2)},
        defences={"first": synth.unit("upper", 31.0), "second": synth.unit("lower", 33.0)},
    )
    row = NightModel(scenario, rng=np.random.default_rng(11)).run().as_row()
    killed, first, second = row["shot_down.drone"], row["kills.upper"], row["kills.lower"]
    assert first + second == killed
    assert killed + row["leaked.drone"] == n
    # one round per engagement, one engagement per threat reaching a layer
    assert row["shots.upper"] == n
    assert row["shots.lower"] == n - first
    assert_binomial(killed, n, layered_kill_probability([p1, p2]), "killed by either layer")
    assert_binomial(first, n, p1, "killed by layer 1")
    assert_binomial(second, n, (1 - p1) * p2, "killed by layer 2")
    assert_binomial(second, n - first, p2, "killed by layer 2 given it got there")
    p_kill = layered_kill_probability([p1, p2])
    assert_binomial(row["leaked.drone"], n, 1 - p_kill, "leaked")
    assert abs(row["leaked.drone"] - expected_leakers(n, p_kill)) < 4 * math.sqrt(
        n * p_kill * (1 - p_kill)
    )


@pytest.mark.parametrize("shots", [1, 2, 3])
def test_salvo_of_k_shots(synth, shots: int) -> None:
    """A salvo of k rounds with one kill draw kills w.p. 1 - (1 - pk)^k and spends k rounds."""
    n, pk = 3000, 0.4
    fire = synth.shooter(pk, shots_per_engagement=shots, doctrine="salvo")
    scenario = synth.scenario(
        n, defence_types={"fire": fire}, defences={"f": synth.unit("fire", 32.0)}
    )
    row = NightModel(scenario, rng=np.random.default_rng(100 + shots)).run().as_row()
    assert row["shots.fire"] == shots * n
    assert_binomial(row["kills.fire"], n, salvo_kill_probability(pk, shots), f"{shots}-round salvo")


@pytest.mark.parametrize("looks", [1, 2, 4])
def test_shoot_look_shoot_with_time_for_m_looks(synth, looks: int) -> None:
    """Shoot-look-shoot with room for exactly m looks kills w.p. 1 - (1 - pk)^m.

    Look j is assessed at t_in + reaction_s + (j - 1) engage_s and must come before t_out =
    t_in + chord time; the chord is sized to reaction_s + (m - 1/2) engage_s, half a look
    clear of both edges.
    """
    n, pk, reaction_s, engage_s = 3000, 0.4, 20.0, 40.0
    chord_s = reaction_s + (looks - 0.5) * engage_s
    radius_km = 0.5 * chord_s * synth.speed_kms
    fire = synth.shooter(
        pk,
        doctrine="shoot_look_shoot",
        reaction_s=reaction_s,
        engage_s=engage_s,
        range_km={"drone": radius_km},
    )
    scenario = synth.scenario(
        n, defence_types={"fire": fire}, defences={"f": synth.unit("fire", 32.0)}
    )
    model = NightModel(scenario, rng=np.random.default_rng(200 + looks), log_shots=True)
    row = model.run().as_row()
    assert_binomial(
        row["kills.fire"], n, shoot_look_shoot_kill_probability(pk, looks), f"{looks} looks"
    )
    # rounds per threat: min(Geometric(pk), m); its exact mean and variance
    dist = np.array([pk * (1 - pk) ** (j - 1) for j in range(1, looks)] + [(1 - pk) ** (looks - 1)])
    values = np.arange(1, looks + 1)
    mean = float(dist @ values)
    assert mean == pytest.approx(shoot_look_shoot_expected_shots(pk, looks))
    sd = math.sqrt(float(dist @ values**2) - mean**2)
    assert abs(row["shots.fire"] / n - mean) < 4 * sd / math.sqrt(n) + 1e-12
    per_threat = np.bincount([threat for _, _, threat, _ in model.outcome.shot_log], minlength=n)
    assert per_threat.min() >= 1
    assert per_threat.max() == looks  # never more looks than fit, and the last one is used


# --------------------------------------------------------------------------- EW


@pytest.mark.parametrize(("suppression", "susceptibility"), [(0.3, 1.0), (0.7, 1.0), (0.6, 0.5)])
def test_lone_ew_site_suppresses_its_fraction(
    synth, suppression: float, susceptibility: float
) -> None:
    """Every threat crosses one EW site once: suppressed w.p. suppression * ew_susceptibility."""
    n = 4000
    jammer = {"base": "ew", "range_km": {"drone": 20.0}, "suppression": {"drone": suppression}}
    scenario = synth.scenario(
        n,
        defence_types={"jammer": jammer},
        defences={"j": synth.unit("jammer", 32.0)},
        threat=synth.probe_threat(ew_susceptibility=susceptibility),
    )
    row = NightModel(scenario, rng=np.random.default_rng(7)).run().as_row()
    assert row["shot_down.drone"] == 0
    assert row["shots.jammer"] == 0
    assert row["kills.jammer"] == row["suppressed.drone"]  # all suppression is the site's
    assert row["suppressed.drone"] + row["leaked.drone"] == n
    assert_binomial(row["suppressed.drone"], n, suppression * susceptibility, "EW site")


@pytest.mark.parametrize(("suppression", "susceptibility"), [(0.35, 1.0), (0.8, 0.5)])
def test_background_ew_suppresses_its_fraction(
    synth, suppression: float, susceptibility: float
) -> None:
    n = 4000
    scenario = synth.scenario(
        n, ew={"drone": suppression}, threat=synth.probe_threat(ew_susceptibility=susceptibility)
    )
    row = NightModel(scenario, rng=np.random.default_rng(8)).run().as_row()
    assert row["suppressed.drone"] + row["leaked.drone"] == n
    assert row["failed.drone"] == 0
    assert_binomial(row["suppressed.drone"], n, suppression * susceptibility, "background EW")


def test_background_ew_and_ew_site_combine_as_layers(synth) -> None:
    """Background loss and an EW site are independent: suppressed w.p. 1 - (1 - p)(1 - s)."""
    n, background, site = 4000, 0.3, 0.4
    jammer = {"base": "ew", "range_km": {"drone": 20.0}, "suppression": {"drone": site}}
    scenario = synth.scenario(
        n,
        ew={"drone": background},
        defence_types={"jammer": jammer},
        defences={"j": synth.unit("jammer", 32.0)},
    )
    row = NightModel(scenario, rng=np.random.default_rng(9)).run().as_row()
    expected = layered_kill_probability([background, site])
    assert_binomial(row["suppressed.drone"], n, expected, "background EW + EW site")
    assert row["kills.jammer"] < row["suppressed.drone"]
