"""Experiment files (sim.spec.experiment): format, paths, designs, bad input, statistics, docs.

Nothing here runs a simulation: designs are checked for their documented size and sampling
law, every kind of bad input for its `FILE:LINE: field.path: message` line and exit status 2,
and the per-design-point statistics of summary.csv against numpy/scipy on a known sample.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.cli.parser import build_parser
from sim.experiments.sweep_outputs import sobol_indices
from sim.refdocs.experiment import REGENERATE, reference_markdown
from sim.results.statistics import sweep_point_stats
from sim.spec import experiment as ex
from sim.spec.expressions import evaluate, parse_expression
from sim.spec.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
REFERENCE_MD = ROOT / "docs" / "experiment-reference.md"
CLI_SWEEP_MD = ROOT / "docs" / "cli-sweep.md"

# A small scenario, enough for paths and validation (never run here).
NIGHT = """\
name: small-night
seed: 11
time_window_h: [0, 12]
launch_sites:
  kursk: {lon: 35.95, lat: 51.75, scatter_km: 15}
targets:
  kyiv: {lon: 30.52, lat: 50.45}
  kharkiv: {lon: 36.23, lat: 49.99}
salvo:
  shahed:
    type: shahed
    count: 60
    launch_sites: [kursk]
    targets: {kyiv: 2, kharkiv: 1}
    launch_window_h: [0, 4]
    waves:
      - {start_h: 0, end_h: 2, share: 0.5}
      - {start_h: 2, end_h: 4, share: 0.5}
  gerbera:
    type: gerbera
    count: 20
    launch_sites: [kursk]
    targets: [kyiv]
defences:
  kyiv_iris_t: {type: iris_t, count: 1, placement: {kind: ring, target: kyiv, radius_km: 20}}
  kyiv_mfg:
    {type: mobile_fire_group, count: 10, placement: {kind: ring, target: kyiv, radius_km: 30}}
ew:
  suppression: {drone: 0.2}
"""

GOOD = """\
name: small
scenario: night.yaml
seed: 5
replications: 3
design: {type: grid}
parameters:
  mfg:
    kind: lever
    path: defences.kyiv_mfg.count
    values: [4, 20]
"""


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    (tmp_path / "night.yaml").write_text(NIGHT, encoding="utf-8")
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    return file


def line_of(text: str, marker: str) -> int:
    assert text.count(marker) == 1, marker
    return text[: text.index(marker)].count("\n") + 1


def edited(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


# --------------------------------------------------------------------------- examples


@functools.cache
def prepared_example(path: Path) -> ex.PreparedExperiment:
    return ex.prepare(path)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_example_experiments_are_valid(path: Path) -> None:
    prepared = prepared_example(path)
    assert len(prepared.points) == ex.design_size(prepared.experiment)
    assert prepared.replications >= 1
    # a campaign experiment's night is its campaign's: the calibration's template
    night = "calibration-template.yaml" if prepared.is_campaign else "aug-2025-night.yaml"
    assert prepared.scenario_path.resolve() == (ROOT / "scenarios" / night)


def test_required_example_experiments_exist() -> None:
    names = {p.stem for p in EXPERIMENTS}
    assert {"saturation", "ew-strength", "interceptor-drones", "sobol-sensitivity"} <= names
    assert "composition" in names
    sobol = prepared_example(ROOT / "experiments" / "sobol-sensitivity.yaml")
    assert isinstance(sobol.experiment.design, ex.SobolDesign)
    assert len(sobol.experiment.parameters) >= 6


def test_saturation_spans_100_to_2000_drones_in_the_nights_ratio() -> None:
    prepared = prepared_example(ROOT / "experiments" / "saturation.yaml")
    drones = [
        p.values["shahed"] + p.values["gerbera"] for p in prepared.points
    ]  # derived counts add up to the parameter
    assert drones == [p.values["drones"] for p in prepared.points]
    assert min(drones) == 100 and max(drones) == 2000
    for point in prepared.points:
        assert point.values["shahed"] == round(point.values["drones"] * 384 / 574)


def test_composition_keeps_614_threats_and_the_missile_share() -> None:
    prepared = prepared_example(ROOT / "experiments" / "composition.yaml")
    shares = [p.values["missile_share"] for p in prepared.points]
    assert min(shares) == 0.0 and max(shares) == pytest.approx(0.30)
    for point in prepared.points:
        scenario = prepared.scenario_for(point.index)
        launched = scenario.launched_by_class()
        assert sum(launched.values()) == 614
        missiles = launched["cruise"] + launched["ballistic"] + launched["hypersonic"]
        assert missiles == round(614 * point.values["missile_share"])


# --------------------------------------------------------------------------- designs


def test_grid_is_full_factorial_last_parameter_fastest(tmp_path: Path) -> None:
    text = edited(
        "    values: [4, 20]\n",
        "    values: [4, 20]\n  ew:\n    kind: uncertainty\n    path: ew.suppression.drone\n"
        "    values: [0.1, 0.2, 0.3]\n",
    )
    prepared = ex.prepare(write(tmp_path, text))
    rows = [prepared.design_row(p.index) for p in prepared.points]
    assert len(rows) == 6 == ex.design_size(prepared.experiment)
    assert [r["defences.kyiv_mfg.count"] for r in rows] == [4, 4, 4, 20, 20, 20]
    assert [r["ew.suppression.drone"] for r in rows] == [0.1, 0.2, 0.3] * 2


def _ranges(design: str, n_params: int, extra: str = "") -> str:
    params = "".join(
        f"  p{k}:\n    kind: uncertainty\n    path: catalog.threats.shahed.{field}\n"
        f"    low: {lo}\n    high: {hi}\n"
        for k, (field, lo, hi) in enumerate(
            [("speed_kmh", 150, 200), ("altitude_m", 100, 3000), ("cost_usd", 1000, 90000)][
                :n_params
            ]
        )
    )
    return (
        f"name: d\nscenario: night.yaml\nseed: 3\nreplications: 1\ndesign: {design}\n"
        f"parameters:\n{params}{extra}"
    )


@pytest.mark.parametrize("n_params", [1, 2, 3])
def test_lhs_has_points_and_is_a_latin_hypercube(tmp_path: Path, n_params: int) -> None:
    prepared = ex.prepare(write(tmp_path, _ranges("{type: lhs, points: 20}", n_params)))
    assert len(prepared.points) == 20
    bounds = [(150, 200), (100, 3000), (1000, 90000)]
    for k in range(n_params):
        lo, hi = bounds[k]
        u = np.array([(p.values[f"p{k}"] - lo) / (hi - lo) for p in prepared.points])
        # one sample in each of the 20 equal strata of every parameter
        assert sorted(np.floor(u * 20).astype(int)) == list(range(20))


def test_lhs_depends_on_the_seed_only(tmp_path: Path) -> None:
    file = write(tmp_path, _ranges("{type: lhs, points: 8}", 2))
    a, b = ex.prepare(file), ex.prepare(file)
    c = ex.prepare(file, seed=4)
    assert [p.values for p in a.points] == [p.values for p in b.points]
    assert [p.values for p in a.points] != [p.values for p in c.points]


@pytest.mark.parametrize(("n", "d"), [(8, 1), (16, 2), (32, 3)])
def test_sobol_has_n_times_d_plus_2_points(tmp_path: Path, n: int, d: int) -> None:
    prepared = ex.prepare(write(tmp_path, _ranges(f"{{type: sobol, base_samples: {n}}}", d)))
    assert len(prepared.points) == n * (d + 2) == ex.design_size(prepared.experiment)


def test_integer_and_loguniform_and_values_sampling_laws(tmp_path: Path) -> None:
    text = (
        "name: d\nscenario: night.yaml\nseed: 9\nreplications: 1\n"
        "design: {type: lhs, points: 200}\nparameters:\n"
        "  n:\n    kind: lever\n    path: defences.kyiv_mfg.count\n"
        "    low: 1\n    high: 4\n    distribution: integer\n"
        "  speed:\n    kind: uncertainty\n    path: catalog.threats.shahed.speed_kmh\n"
        "    low: 10\n    high: 1000\n    distribution: loguniform\n"
        "  style:\n    kind: uncertainty\n    path: salvo.gerbera.route.style\n"
        "    values: [direct, dogleg]\n"
    )
    prepared = ex.prepare(write(tmp_path, text))
    n = np.array([p.values["n"] for p in prepared.points])
    assert all(isinstance(p.values["n"], int) for p in prepared.points)
    counts = np.bincount(n, minlength=5)[1:]
    assert counts.sum() == 200 and n.min() == 1 and n.max() == 4
    assert stats.chisquare(counts).pvalue > 0.001
    logs = np.log10([p.values["speed"] for p in prepared.points])
    assert stats.kstest((logs - 1) / 2, "uniform").pvalue > 0.001
    styles = [p.values["style"] for p in prepared.points]
    assert stats.binomtest(styles.count("direct"), 200, 0.5).pvalue > 0.001


def test_sobol_indices_of_a_known_additive_function(tmp_path: Path) -> None:
    """y = 4 a + b with a, b uniform: S1 = ST = 16/17 and 1/17, recovered within their CIs."""
    text = _ranges("{type: sobol, base_samples: 128}", 2)
    prepared = ex.prepare(write(tmp_path, text))
    a = np.array([(p.values["p0"] - 150) / 50 for p in prepared.points])
    b = np.array([(p.values["p1"] - 100) / 2900 for p in prepared.points])
    y = 4 * a + b
    summary = pd.DataFrame({"intercept_rate.total.mean": y, "leaked.total.mean": b})
    sens = sobol_indices(prepared, summary).set_index(["output", "parameter"])
    expected = {("intercept_rate.total", "p0"): 16 / 17, ("intercept_rate.total", "p1"): 1 / 17}
    expected |= {("leaked.total", "p0"): 0.0, ("leaked.total", "p1"): 1.0}
    for key, value in expected.items():
        row = sens.loc[key]
        for index in ("S1", "ST"):
            assert abs(row[index] - value) <= max(3 * row[f"{index}_conf"], 0.02), (key, index)
    assert set(sens["kind"]) == {"uncertainty"}


# --------------------------------------------------------------------------- paths


def test_paths_set_defaults_catalogue_overrides_and_list_items(tmp_path: Path) -> None:
    text = (
        "name: d\nscenario: night.yaml\nseed: 1\nreplications: 1\ndesign: {type: grid}\n"
        "parameters:\n"
        "  speed: {kind: uncertainty, path: catalog.threats.shahed.speed_kmh, values: [123]}\n"
        "  cruise_ew: {kind: lever, path: ew.suppression.cruise, values: [0.5]}\n"
        "  share: {kind: uncertainty, path: salvo.shahed.waves.1.share, values: [3.0]}\n"
        "  dogleg: {kind: uncertainty, path: salvo.gerbera.route.dogleg_km, values: [40]}\n"
        "  pk: {kind: uncertainty, path: catalog.defences.iris_t.pk.drone, values: [0.5]}\n"
    )
    prepared = ex.prepare(write(tmp_path, text))
    scenario = prepared.scenario_for(0)
    base = load_scenario(tmp_path / "night.yaml")
    shahed, base_shahed = scenario.catalog.threats["shahed"], base.catalog.threats["shahed"]
    assert shahed.speed_kmh == 123
    # an override changes only the field named: the rest of the type is the shipped one
    assert shahed.cost_usd == base_shahed.cost_usd and shahed.class_ == base_shahed.class_
    assert scenario.catalog.defences["iris_t"].pk["drone"] == 0.5
    assert (
        scenario.catalog.defences["iris_t"].pk["cruise"]
        == base.catalog.defences["iris_t"].pk["cruise"]
    )
    assert scenario.ew.suppression == {"drone": 0.2, "cruise": 0.5}
    assert scenario.salvo["shahed"].waves[1].share == 3.0
    assert scenario.salvo["gerbera"].route.dogleg_km == 40
    # the file's own data is never changed
    assert prepared.scenario_yaml.data["ew"] == {"suppression": {"drone": 0.2}}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').getcwd()", "unknown function"),
        ("mfg.real", "not allowed"),
        ("'text'", "only numbers"),
        ("mfg if mfg else 1", "not allowed"),
        ("round(mfg, ndigits=1)", "positional"),
        ("mfg +", "invalid expression"),
    ],
)
def test_expressions_are_arithmetic_only(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_expression(expression)


def test_expression_evaluation() -> None:
    tree, names = parse_expression("round(614 * share) - floor(a / 3) + max(2, a) ** 2 % 7")
    assert names == ["share", "a"]
    value = evaluate(tree, {"share": 0.1, "a": 10})
    assert value == round(61.4) - 3 + (100 % 7)
    assert isinstance(evaluate(parse_expression("round(2.5)")[0], {}), int)


# --------------------------------------------------------------------------- bad input

# (old text of GOOD, new text, marker on the error line, field path, message fragment)
BAD = {
    "unknown-group": (
        "path: defences.kyiv_mfg.count",
        "path: defences.kyiv_mgf.count",
        "kyiv_mgf",
        "parameters.mfg.path",
        "unknown defence group 'kyiv_mgf'; did you mean 'kyiv_mfg'?",
    ),
    "unknown-field": (
        "path: defences.kyiv_mfg.count",
        "path: defences.kyiv_mfg.cuont",
        "cuont",
        "parameters.mfg.path",
        "unknown field 'cuont' in defences.kyiv_mfg; did you mean 'count'?",
    ),
    "unknown-catalogue-type": (
        "path: defences.kyiv_mfg.count",
        "path: catalog.defences.mobile_fire_grop.pk.drone",
        "grop",
        "parameters.mfg.path",
        "did you mean 'mobile_fire_group'?",
    ),
    "path-below-a-value": (
        "path: defences.kyiv_mfg.count",
        "path: defences.kyiv_mfg.count.max",
        "count.max",
        "parameters.mfg.path",
        "is a single value",
    ),
    "invalid-design-point": (
        "values: [4, 20]",
        "values: [4,\n      -3]",
        "-3]",
        "parameters.mfg.values.1",
        "design point 1 sets defences.kyiv_mfg.count=-3: defences.kyiv_mfg.count: -3 is not "
        "allowed",
    ),
    "low-above-high": (
        "values: [4, 20]",
        "low: 5\n    high: 2",
        "low: 5",
        "parameters.mfg.low",
        "low 5 is above high 2",
    ),
    "grid-with-range": (
        "values: [4, 20]",
        "low: 2\n    high: 5",
        "mfg:",
        "parameters.mfg",
        "a grid design needs `values`",
    ),
    "unknown-design-type": (
        "design: {type: grid}",
        "design: {type: gird}",
        "gird",
        "design.type",
        "did you mean 'grid'?",
    ),
    "sobol-not-power-of-two": (
        "design: {type: grid}",
        "design: {type: sobol, base_samples: 30}",
        "base_samples",
        "design.base_samples",
        "30 is not a power of 2",
    ),
    "unknown-top-level-key": (
        "seed: 5\n",
        "seed: 5\nsede: 3\n",
        "sede",
        "sede",
        "unknown field 'sede'; did you mean 'seed'?",
    ),
    "missing-scenario": (
        "scenario: night.yaml",
        "scenario: nigth.yaml",
        "nigth",
        "scenario",
        "does not exist",
    ),
    "bad-kind": ("kind: lever", "kind: leverr", "leverr", "parameters.mfg.kind", "'lever'"),
    "strict-number": ("seed: 5", "seed: yes", "seed: yes", "seed", "valid integer"),
    "both-values-and-range": (
        "values: [4, 20]",
        "values: [4, 20]\n    low: 1",
        "low: 1",
        "parameters.mfg.low",
        "either `values` or a range",
    ),
    "derived-unknown-name": (
        "    values: [4, 20]\n",
        "    values: [4, 20]\nderived:\n  x: {path: salvo.shahed.count, value: 'mfg * y'}\n",
        "mfg * y",
        "derived.x.value",
        "unknown name 'y'",
    ),
    "derived-division-by-zero": (
        "    values: [4, 20]\n",
        "    values: [4, 20]\nderived:\n  x: {path: salvo.shahed.count, value: '8 // (mfg - 4)'}\n",
        "mfg - 4",
        "derived.x.value",
        "design point 0 (mfg=4): integer division or modulo by zero",
    ),
    "same-path-twice": (
        "    values: [4, 20]\n",
        "    values: [4, 20]\n  m2: {kind: lever, path: defences.kyiv_mfg, values: [{}]}\n",
        "m2:",
        "parameters.m2.path",
        "defences.kyiv_mfg is also set by parameters.mfg",
    ),
    "yaml-syntax": ("replications: 3", "replications: 3: 4", "3: 4", "", "invalid YAML"),
}
LOG_TEXT = edited("design: {type: grid}", "design: {type: lhs, points: 4}").replace(
    "values: [4, 20]", "low: 0\n    high: 5\n    distribution: loguniform"
)
INT_TEXT = edited("design: {type: grid}", "design: {type: lhs, points: 4}").replace(
    "values: [4, 20]", "low: 2\n    high: 5.5\n    distribution: integer"
)


def _bad_cases() -> list[tuple[str, str, int, str, str]]:
    cases = []
    for name, (old, new, marker, path, message) in BAD.items():
        text = edited(old, new)
        cases.append((name, text, line_of(text, marker), path, message))
    cases.append(
        ("loguniform-low", LOG_TEXT, line_of(LOG_TEXT, "low: 0"), "parameters.mfg.low", "> 0")
    )
    cases.append(
        ("integer-range", INT_TEXT, line_of(INT_TEXT, "5.5"), "parameters.mfg.high", "whole")
    )
    return cases


@pytest.mark.parametrize(("name", "text", "line", "path", "message"), _bad_cases(), ids=lambda x: x)
def test_bad_experiment_exits_2_with_file_line_path_message(
    call, tmp_path: Path, name: str, text: str, line: int, path: str, message: str
) -> None:
    file = write(tmp_path, text)
    out = tmp_path / "results"
    code, stdout, stderr = call(["sweep", str(file), "--out", str(out), "--workers", "1"])
    assert code == 2, stderr
    assert stdout == ""
    assert "Traceback" not in stderr
    prefix = f"{file}:{line}: {path}: " if path else f"{file}:{line}: "
    lines = stderr.splitlines()
    assert any(t.startswith(prefix) and message in t for t in lines), (prefix, message, lines)
    for text_line in lines:
        assert re.match(r"^[^:]+:\d+: ", text_line), text_line
    assert not out.exists()


def test_many_invalid_design_points_are_summarised(call, tmp_path: Path) -> None:
    values = ", ".join(str(-k) for k in range(1, 16))
    file = write(tmp_path, edited("values: [4, 20]", f"values: [{values}]"))
    code, _, stderr = call(["sweep", str(file), "--out", str(tmp_path / "r")])
    assert code == 2
    lines = stderr.splitlines()
    assert sum("design point" in t and "sets" in t for t in lines) == ex.MAX_POINT_ERRORS
    assert any("15 of 15 design points make an invalid scenario" in t for t in lines)


def test_invalid_scenario_is_reported_in_the_scenario_file(call, tmp_path: Path) -> None:
    file = write(tmp_path, GOOD)
    (tmp_path / "night.yaml").write_text(NIGHT.replace("count: 60", "count: -1"), "utf-8")
    code, _, stderr = call(["sweep", str(file), "--out", str(tmp_path / "r")])
    assert code == 2
    night = tmp_path / "night.yaml"
    assert stderr.startswith(f"{night}:{line_of(NIGHT, 'count: 60')}: salvo.shahed.count: ")


def test_overrides_of_seed_and_replications(tmp_path: Path) -> None:
    file = write(tmp_path, GOOD)
    assert ex.prepare(file).seed == 5
    assert ex.prepare(file, seed=9, replications=7).seed == 9
    assert ex.prepare(file, seed=9, replications=7).replications == 7
    no_seed = write(tmp_path, GOOD.replace("seed: 5\n", ""), "noseed.yaml")
    assert ex.prepare(no_seed).seed == 11  # the scenario's seed
    assert ex.prepare(file).fingerprint != ex.prepare(file, seed=6).fingerprint
    assert ex.prepare(file).fingerprint != ex.prepare(file, replications=4).fingerprint
    assert ex.prepare(file).fingerprint == ex.prepare(file).fingerprint


# --------------------------------------------------------------------------- statistics


def test_point_statistics_match_numpy_and_scipy() -> None:
    rng = np.random.default_rng(42)
    n = 37
    launched = {"drone": 300, "decoy": 100, "cruise": 20, "ballistic": 0, "hypersonic": 0}
    runs: dict[str, np.ndarray] = {}
    for cls, count in launched.items():
        runs[f"launched.{cls}"] = np.full(n, count)
        intercepted = rng.binomial(count, 0.8, size=n) if count else np.zeros(n, int)
        runs[f"intercepted.{cls}"] = intercepted
        runs[f"leaked.{cls}"] = np.full(n, count) - intercepted
    row = sweep_point_stats(pd.DataFrame(runs))

    def check(prefix: str, values: np.ndarray) -> None:
        lo, hi = stats.t.interval(
            0.95, n - 1, loc=values.mean(), scale=values.std(ddof=1) / math.sqrt(n)
        )
        q05, q50, q95 = np.quantile(values, [0.05, 0.5, 0.95])
        expected = {
            "mean": values.mean(),
            "sd": values.std(ddof=1),
            "ci95_low": lo,
            "ci95_high": hi,
            "p05": q05,
            "p50": q50,
            "p95": q95,
        }
        for stat, value in expected.items():
            assert row[f"{prefix}.{stat}"] == pytest.approx(value, rel=1e-12, abs=1e-12), (
                prefix,
                stat,
            )

    total_launched = sum(launched.values())
    total = sum(runs[f"intercepted.{c}"] for c in launched)
    check("intercepted.total", total.astype(float))
    check("leaked.drone", runs["leaked.drone"].astype(float))
    check("intercept_rate.total", total / total_launched)
    check("intercept_rate.cruise", runs["intercepted.cruise"] / 20)
    drones = runs["intercepted.drone"] + runs["intercepted.decoy"]
    check("intercept_rate.drones", drones / 400)
    check("intercepted.missiles", runs["intercepted.cruise"].astype(float))
    assert row["launched.total"] == total_launched
    assert math.isnan(row["intercept_rate.ballistic.mean"])  # never launched: undefined
    assert row["intercepted.ballistic.mean"] == 0.0


# --------------------------------------------------------------------------- docs


def test_committed_experiment_reference_matches_the_models() -> None:
    committed = REFERENCE_MD.read_text(encoding="utf-8") if REFERENCE_MD.exists() else ""
    assert committed == reference_markdown(), (
        f"docs/experiment-reference.md is out of date; regenerate it with\n    {REGENERATE}"
    )


def test_reference_documents_every_model_and_field() -> None:
    text = reference_markdown()
    for model in (ex.Experiment, ex.Parameter, ex.Derived, ex.GridDesign, ex.LHSDesign):
        assert f"## {model.__name__}" in text
        for name, info in model.model_fields.items():
            assert f"| `{info.alias or name}` |" in text, (model.__name__, name)
    assert "N·(D + 2)" in text  # the documented Sobol' design size
    # the error example is computed by the real checks
    assert "experiments/broken.yaml:8: parameters.drones.path: unknown salvo group" in text
    assert "design point 1 sets ew.suppression.drone=1.4" in text


def _sweep_parser() -> argparse.ArgumentParser:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices["sweep"]
    raise AssertionError("no subcommands")


def test_every_sweep_option_is_explained_in_cli_sweep_md() -> None:
    text = CLI_SWEEP_MD.read_text(encoding="utf-8")
    missing = []
    for action in _sweep_parser()._actions:
        names = action.option_strings or [action.metavar or action.dest]
        missing += [name for name in names if f"`{name}" not in text]
    assert not missing, f"salvo sweep options not in docs/cli-sweep.md: {missing}"
    for name in ("runs.parquet", "summary.csv", "manifest.json", "sensitivity.csv", "--resume"):
        assert name in text
