"""Night-level distributions: validation, draws against scipy, and use in a scenario."""

import numpy as np
import pytest
import yaml
from scipy import stats

from sim.experiments.replications import run_replications
from sim.night.model import NightModel
from sim.spec.distributions import Distribution
from sim.spec.scenario import scenario_from_data
from sim.spec.yamlio import InputError, load_yaml_text


@pytest.mark.parametrize(
    ("spec", "frozen"),
    [
        ({"dist": "uniform", "low": 0.1, "high": 0.4}, stats.uniform(0.1, 0.3)),
        ({"dist": "triangular", "low": 0.0, "mode": 0.2, "high": 1.0}, stats.triang(0.2, 0, 1)),
        ({"dist": "beta", "mean": 0.8, "sd": 0.05}, None),
        ({"dist": "lognormal", "mean": 2.0, "sd": 0.5}, None),
    ],
)
def test_draws_follow_the_distribution(spec, frozen):
    dist = Distribution.model_validate(spec)
    rng = np.random.default_rng(11)
    draws = np.array([dist.draw(rng) for _ in range(4000)])
    if frozen is not None:
        assert stats.kstest(draws, frozen.cdf).pvalue > 1e-3
    else:  # moment-parametrised: mean and sd within 4 standard errors
        se_mean = spec["sd"] / np.sqrt(len(draws))
        assert abs(draws.mean() - spec["mean"]) < 4 * se_mean
        assert draws.std(ddof=1) == pytest.approx(spec["sd"], rel=0.08)
    low, high = dist.support()
    assert draws.min() >= low and draws.max() <= high


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"dist": "uniform", "low": 0.5}, "needs 'high'"),
        ({"dist": "uniform", "low": 0.5, "high": 0.2}, "below low"),
        ({"dist": "beta", "mean": 0.8, "sd": 0.5}, "beta sd"),
        ({"dist": "beta", "mean": 0.8, "sd": 0.05, "low": 0.1}, "not a parameter"),
        ({"dist": "gamma", "mean": 1.0}, "Input should be"),
    ],
)
def test_bad_distributions_are_rejected(spec, fragment):
    with pytest.raises(ValueError, match=fragment):
        Distribution.model_validate(spec)


def _scenario(ew_drone, pk=None):
    data = {
        "name": "uncertain",
        "launch_sites": {"a": {"lon": 32.0, "lat": 48.0}},
        "targets": {"b": {"lon": 32.0, "lat": 52.0}},
        "salvo": {"s": {"type": "shahed", "count": 300, "launch_sites": ["a"], "targets": ["b"]}},
        "ew": {"suppression": {"drone": ew_drone}},
    }
    if pk is not None:
        data["defences"] = {
            "g": {
                "type": "iris_t",
                "count": 1,
                "placement": {"kind": "point", "lon": 32.0, "lat": 50.0},
            }
        }
        data["catalog"] = {"defences": {"iris_t": {"pk": {"drone": pk}}}}
    return scenario_from_data(load_yaml_text(yaml.safe_dump(data), "u.yaml"))


def test_probability_distribution_outside_zero_one_is_an_error_with_its_line():
    with pytest.raises(InputError) as err:
        _scenario({"dist": "uniform", "low": 0.5, "high": 1.5})
    (error,) = err.value.errors
    assert error.path == "ew.suppression.drone"
    assert "must lie in [0, 1]" in error.message
    assert error.line is not None


def test_a_bad_number_gets_one_error_not_one_per_union_branch():
    with pytest.raises(InputError) as err:
        _scenario(1.25)
    assert len(err.value.errors) == 1
    assert "less than or equal to 1" in err.value.errors[0].message


def test_distribution_is_drawn_once_per_night_and_varies_between_nights():
    scenario = _scenario({"dist": "uniform", "low": 0.1, "high": 0.5})
    assert scenario.has_distributions
    sampled = scenario.sample(np.random.default_rng(1))
    assert not sampled.has_distributions
    assert 0.1 <= sampled.ew.suppression["drone"] <= 0.5
    runs = run_replications(scenario, 200, seed=4)
    fraction = runs["suppressed.drone"] / runs["launched.drone"]
    # between-night spread of a uniform(0.1, 0.5) rate times susceptibility 1 (sd 0.115)
    # dwarfs the binomial spread of a fixed rate (sd ~0.03 at n = 300, p = 0.3)
    assert fraction.std() > 0.08
    assert fraction.mean() == pytest.approx(0.3, abs=0.03)


def test_fixed_scenario_reproduces_and_distribution_scenario_is_deterministic_per_seed():
    scenario = _scenario(
        {"dist": "beta", "mean": 0.3, "sd": 0.1}, pk={"dist": "beta", "mean": 0.7, "sd": 0.1}
    )
    first = NightModel(scenario, seed=9).run().as_row()
    second = NightModel(scenario, seed=9).run().as_row()
    assert first == second
    assert not _scenario(0.3).has_distributions
