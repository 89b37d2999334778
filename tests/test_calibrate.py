"""Calibration: the night builder, the replication recipe, the emulator fit, validation, CLI.

Statistical tests run on a small synthetic template (one launch area, a deep target behind a
belt of guns and a SAM, a near target behind a ring of mobile fire groups), so that the model
itself generates the "observed" nights with known parameters. The slow tests also check the
committed scenarios/calibrated.yaml against the reference night.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import night_row, write_nights_csv

from sim.analysis.baselines import QuarterlyRateBaseline
from sim.analysis.calibrate.emulator import EmulatorGrid, build_emulator
from sim.analysis.calibrate.fit import ParamsError, fit_calibration, parse_params
from sim.analysis.calibrate.mixture import mixture_quantiles
from sim.analysis.calibrate.runs import calibrate_file, validate_file
from sim.analysis.calibrate.simulate import predict_nights, simulate_spec
from sim.analysis.calibrate.validate import validate_nights
from sim.cli.app import main
from sim.night.builder import (
    NightRow,
    build_night,
    deep_share,
    largest_remainder,
    night_rows,
    night_spec,
    replication_counts,
)
from sim.spec.calibration import (
    DEFAULT_PARAMETERS,
    DEFAULT_POSTURE,
    DEFAULT_TEMPLATE,
    FORMAT,
    Bucket,
    Builder,
    Calibration,
    default_calibration,
    load_calibration,
    load_template,
    save_calibration,
)
from sim.spec.observed import REQUIRED_COLUMNS, load_nights, nights_between
from sim.spec.posture import flat_parameters, posture_at, quarter_midpoint, with_parameters
from sim.spec.yamlio import InputError, OptionError

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION_DATA = ROOT.parent / "shared" / "data" / "nights-calibration.csv"
CALIBRATED = ROOT / "scenarios" / "calibrated.yaml"

TINY_TEMPLATE = {
    "name": "tiny-template",
    "time_window_h": [0, 12],
    "launch_sites": {"west": {"lon": 30.0, "lat": 50.0, "scatter_km": 5}},
    "targets": {
        "deep": {"lon": 33.0, "lat": 50.0},
        "near": {"lon": 30.9, "lat": 50.0},
    },
    "salvo": {
        "shahed": {"type": "shahed", "count": 20, "launch_sites": ["west"], "targets": ["deep"],
                   "launch_window_h": [0, 4], "route": {"aim_scatter_km": 3}},
        "gerbera": {"type": "gerbera", "count": 10, "launch_sites": ["west"], "targets": ["deep"],
                    "launch_window_h": [0, 4], "route": {"aim_scatter_km": 3}},
        "shahed_near": {"type": "shahed", "count": 0, "launch_sites": ["west"],
                        "targets": ["near"], "launch_window_h": [0, 4],
                        "route": {"aim_scatter_km": 2}},
        "gerbera_near": {"type": "gerbera", "count": 0, "launch_sites": ["west"],
                         "targets": ["near"], "launch_window_h": [0, 4],
                         "route": {"aim_scatter_km": 2}},
    },
    "defences": {
        "belt": {"type": "gepard", "count": 8,
                 "placement": {"kind": "belt", "start": [31.5, 49.9], "end": [31.5, 50.1]}},
        "sam": {"type": "iris_t", "count": 1, "placement": {"kind": "ring", "target": "deep",
                                                            "radius_km": 5}},
        "near_mfg": {"type": "mobile_fire_group", "count": 8,
                     "placement": {"kind": "ring", "target": "near", "radius_km": 2.5}},
    },
    "ew": {"suppression": {"drone": 0.3, "decoy": 0.3}},
}  # fmt: skip

TINY_BUILDER = Builder(
    buckets={
        "drone": Bucket(
            deep={"shahed": 2.0, "gerbera": 1.0}, near={"shahed_near": 2.0, "gerbera_near": 1.0}
        )
    },
    short_range_types=["mobile_fire_group"],
    bmd_types=[],
)
TRUTH = {
    "ew@2025Q4": 0.3,
    "reach_km@2025Q4": 2.0,
    "deep.drone.logit": 0.5,
    "deep.drone.slope": 1.2,
    "deep.drone.rsd": 0.3,
    "ew_rsd": 0.3,
    "mfg_pk": 0.3,
    "mfg_pk_rsd": 0.2,
    "reach_rsd": 0.3,
}
SMALL_GRID = EmulatorGrid(
    reach=(0.5, 1.0, 1.5, 2.0, 2.5, 3.5, 4.5), pk=(0.1, 0.3, 0.6), drones=(15, 60, 400),
    bmd=(1.0, 1.1), missiles=(2, 4), replications=8,
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A calibration (known parameters) on the tiny template, written to a temporary folder."""
    folder = tmp_path_factory.mktemp("tiny")
    template = folder / "tiny-template.yaml"
    template.write_text(yaml.safe_dump(TINY_TEMPLATE, sort_keys=False))
    start = Calibration(
        format=FORMAT,
        template=str(template),
        builder=TINY_BUILDER,
        parameters=DEFAULT_PARAMETERS,
        posture={"2025Q4": DEFAULT_POSTURE},
    )
    truth = with_parameters(start, TRUTH)
    path = folder / "tiny-calibrated.yaml"
    save_calibration(truth, path)
    return load_calibration(path), path


def _rows(n: int, seed: int, low: int = 20, high: int = 300) -> list[NightRow]:
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(math.log(low), math.log(high), n)).astype(int)
    start = pd.Timestamp("2025-10-01")
    return [
        NightRow(
            date=start + pd.Timedelta(days=int(k % 90)),
            launched={"drone": int(s), "cruise": 0, "ballistic": 0, "hypersonic": 0},
        )
        for k, s in enumerate(sizes)
    ]


def _observe(calibration: Calibration, rows: list[NightRow], seed: int):
    """One simulated night per row: synthetic 'observed' nights with known parameters."""
    template = load_template(calibration.template)
    out = []
    for k, row in enumerate(rows):
        sims = simulate_spec(night_spec(template, row, calibration), 1, seed, k)
        intercepted = {c: 0 for c in ("drone", "cruise", "ballistic", "hypersonic")}
        intercepted["drone"] = int(sims[0, 1])
        out.append(NightRow(date=row.date, launched=row.launched, intercepted=intercepted))
    return out


# --------------------------------------------------------------------------- the builder


@pytest.mark.parametrize(
    "launched",
    [
        {"drone": 574, "cruise": 34, "ballistic": 2, "hypersonic": 0},
        {"drone": 1, "cruise": 0, "ballistic": 0, "hypersonic": 0},
        {"drone": 0, "cruise": 7, "ballistic": 13, "hypersonic": 3},
        {"drone": 97, "cruise": 1, "ballistic": 1, "hypersonic": 1},
        {"drone": 810, "cruise": 90, "ballistic": 40, "hypersonic": 6},
    ],
)
def test_builder_conserves_counts_per_class(launched):
    template = load_template(DEFAULT_TEMPLATE)
    calibration = default_calibration(DEFAULT_TEMPLATE, ["2025Q3"])
    row = {"date": "2025-08-21", **launched}
    scenario = build_night(template, row, calibration)
    by_class = scenario.launched_by_class()
    assert by_class["drone"] + by_class["decoy"] == launched["drone"]
    for cls in ("cruise", "ballistic", "hypersonic"):
        assert by_class[cls] == launched[cls]
    # and with the reference night as template (no near routes: every group is deep)
    reference = build_night(None, row)
    by_class = reference.launched_by_class()
    assert by_class["drone"] + by_class["decoy"] == launched["drone"]
    assert by_class["cruise"] == launched["cruise"]


def test_builder_splits_by_size_and_sets_the_posture():
    template = load_template(DEFAULT_TEMPLATE)
    calibration = default_calibration(DEFAULT_TEMPLATE, ["2025Q3"])
    small = build_night(template, {"date": "2025-08-15", "drone": 60}, calibration)
    large = build_night(template, {"date": "2025-08-15", "drone": 800}, calibration)

    def deep_share(scenario):
        deep = scenario.salvo["shahed"].count + scenario.salvo["gerbera"].count
        return deep / sum(g.count for g in scenario.salvo.values())

    assert deep_share(small) < 0.3 < 0.8 < deep_share(large)
    mfg = large.catalog.defences["mobile_fire_group"]
    assert mfg.range_km["drone"] == pytest.approx(DEFAULT_POSTURE.reach_km)
    assert mfg.pk["drone"].dist == "beta"
    assert mfg.pk["drone"].expected() == pytest.approx(DEFAULT_PARAMETERS.mfg_pk)
    assert large.ew.suppression["drone"].expected() == pytest.approx(DEFAULT_POSTURE.ew)


def test_replications_conserve_counts_whatever_the_draws(tiny):
    calibration, _ = tiny
    template = load_template(calibration.template)
    spec = night_spec(template, {"date": "2025-11-01", "drone": 57}, calibration)
    shares = []
    for r in range(50):
        counts = replication_counts(spec, np.random.default_rng(r))
        assert sum(counts.values()) == 57
        shares.append((counts["shahed"] + counts["gerbera"]) / 57)
    # the deep share varies from night to night around its mean
    mean = deep_share(calibration.parameters.deep["drone"], 57, 200.0)
    assert np.std(shares) > 0.05
    assert abs(np.mean(shares) - mean) < 0.08


def _focus_calibration(tmp_path, focus: float) -> Calibration:
    """The tiny template with a concentrated raid (a focus group at the near target)."""
    data = json.loads(json.dumps(TINY_TEMPLATE))
    data["salvo"]["shahed_focus"] = {
        "type": "shahed", "count": 0, "launch_sites": ["west"], "targets": ["near"],
        "launch_window_h": [0, 0.5], "route": {"aim_scatter_km": 1},
    }  # fmt: skip
    template = tmp_path / "tiny-focus.yaml"
    template.write_text(yaml.safe_dump(data, sort_keys=False))
    bucket = TINY_BUILDER.buckets["drone"].model_copy(update={"focus": {"shahed_focus": 1.0}})
    builder = TINY_BUILDER.model_copy(update={"buckets": {"drone": bucket}})
    start = Calibration(
        format=FORMAT,
        template=str(template),
        builder=builder,
        parameters=DEFAULT_PARAMETERS,
        posture={"2025Q4": DEFAULT_POSTURE},
    )
    calibration = with_parameters(start, {**TRUTH, "focus@2025Q4": focus})
    path = tmp_path / "tiny-focus-calibrated.yaml"
    save_calibration(calibration, path)
    return load_calibration(path)  # the builder check accepts the focus group


@pytest.mark.parametrize("drones", [1, 57, 230, 900])
def test_builder_conserves_counts_with_a_concentrated_raid(drones, tmp_path):
    calibration = _focus_calibration(tmp_path, focus=0.4)
    assert "focus@2025Q4" in flat_parameters(calibration)
    template = load_template(calibration.template)
    spec = night_spec(template, {"date": "2025-11-01", "drone": drones}, calibration)
    # at the means: the near share is split between near and focus groups by `focus`
    by_class = spec.scenario.launched_by_class()
    assert by_class["drone"] + by_class["decoy"] == drones
    for r in range(40):
        counts = replication_counts(spec, np.random.default_rng(r))
        assert sum(counts.values()) == drones
        near = counts["shahed_near"] + counts["gerbera_near"]
        # a night is either dispersed (near groups) or concentrated (the focus group)
        assert near == 0 or counts["shahed_focus"] == 0


def test_concentrated_raids_happen_at_the_fitted_rate(tmp_path):
    # the replication recipe makes a night a concentrated raid with probability focus@Q: over
    # 2,000 replications of a night with a near share, the share of concentrated nights is
    # within 4 binomial sd of 0.3; the focus group then carries the whole near share.
    calibration = _focus_calibration(tmp_path, focus=0.3)
    template = load_template(calibration.template)
    spec = night_spec(template, {"date": "2025-11-15", "drone": 120}, calibration)
    assert spec.focus == pytest.approx(0.3)
    n, hits, deep_when = 2000, 0, {True: [], False: []}
    for r in range(n):
        counts = replication_counts(spec, np.random.default_rng(10_000 + r))
        concentrated = counts["shahed_focus"] > 0
        hits += concentrated
        deep_when[concentrated].append(counts["shahed"] + counts["gerbera"])
    assert abs(hits / n - 0.3) <= 4 * math.sqrt(0.3 * 0.7 / n)
    # the deep share is drawn the same way on both kinds of night
    sd = np.std(deep_when[False])
    assert abs(np.mean(deep_when[True]) - np.mean(deep_when[False])) < 4 * sd / math.sqrt(hits)
    # and without focus groups, or at focus 0, nothing changes (no extra draw)
    zero = _focus_calibration(tmp_path, focus=0.0)
    spec0 = night_spec(template, {"date": "2025-11-15", "drone": 120}, zero)
    counts = replication_counts(spec0, np.random.default_rng(5))
    assert counts["shahed_focus"] == 0


def test_weighted_mixture_quantiles():
    rng = np.random.default_rng(4)
    mu, var = rng.uniform(50, 150, (6, 8)), rng.uniform(4, 100, (6, 8))
    equal = mixture_quantiles(mu, var)
    assert np.allclose(mixture_quantiles(mu, var, weights=np.full(mu.shape, 1 / 8)), equal)
    # components of weight 0 do not count
    both_mu, both_var = np.concatenate([mu, mu + 500], 1), np.concatenate([var, var], 1)
    weights = np.concatenate([np.full(mu.shape, 1 / 8), np.zeros(mu.shape)], 1)
    assert np.allclose(mixture_quantiles(both_mu, both_var, weights=weights), equal, atol=1e-6)
    # a 30 % component far above moves the 95 % quantile there, not the 5 % one
    weights = np.concatenate([np.full(mu.shape, 0.7 / 8), np.full(mu.shape, 0.3 / 8)], 1)
    shifted = mixture_quantiles(both_mu, both_var, weights=weights)
    assert np.all(shifted[:, 2] > 500) and np.allclose(shifted[:, 0], equal[:, 0], atol=25)


def test_largest_remainder_is_exact_and_proportional():
    rng = np.random.default_rng(3)
    for _ in range(200):
        weights = rng.uniform(0, 5, rng.integers(1, 8))
        total = int(rng.integers(0, 1000))
        counts = largest_remainder(total, weights)
        assert sum(counts) == total
        if weights.sum() > 0:
            quota = total * weights / weights.sum()
            assert np.all(np.abs(np.array(counts) - quota) < 1.0)


def test_posture_is_linear_between_quarter_midpoints_and_flat_outside():
    calibration = default_calibration(DEFAULT_TEMPLATE, ["2025Q1", "2025Q2"])
    calibration = with_parameters(calibration, {"ew@2025Q1": 0.2, "ew@2025Q2": 0.4})
    mid1, mid2 = quarter_midpoint("2025Q1"), quarter_midpoint("2025Q2")
    assert posture_at(calibration, mid1)["ew"] == pytest.approx(0.2)
    assert posture_at(calibration, mid2)["ew"] == pytest.approx(0.4)
    assert posture_at(calibration, mid1 + (mid2 - mid1) / 2)["ew"] == pytest.approx(0.3)
    assert posture_at(calibration, "2024-01-01")["ew"] == pytest.approx(0.2)
    assert posture_at(calibration, "2027-01-01")["ew"] == pytest.approx(0.4)


def test_fast_draws_match_the_models_own_sampling(tiny):
    # the replication loop draws the scenario's distributions itself (no plan rebuilt per
    # night); the model sampling the same scenario must give the same distribution
    calibration, _ = tiny
    template = load_template(calibration.template)
    spec = night_spec(template, {"date": "2025-11-01", "drone": 60}, calibration)
    assert spec.draws  # EW and pk are distributions
    fast = simulate_spec(spec, 300, seed=11)[:, 1]
    spec.draws = None
    slow = simulate_spec(spec, 300, seed=12)[:, 1]
    pooled_sd = math.sqrt((fast.var() + slow.var()) / 300)
    assert abs(fast.mean() - slow.mean()) < 4 * pooled_sd
    assert 0.7 < fast.std() / slow.std() < 1.4


# --------------------------------------------------------------------------- files and params


def test_calibration_file_round_trip_and_errors(tiny, tmp_path):
    calibration, path = tiny
    again = load_calibration(path)
    assert flat_parameters(again) == flat_parameters(calibration)
    bad = yaml.safe_load(path.read_text())
    bad["template"] = calibration.template  # absolute: the broken file is in another folder
    bad["parameters"]["mfg_pk"] = 1.5
    bad["builder"]["buckets"]["drone"]["deep"]["shahd"] = 1.0
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(bad, sort_keys=False))
    with pytest.raises(InputError) as err:
        load_calibration(broken)
    assert f"{broken}:" in str(err.value) and "parameters.mfg_pk" in str(err.value)
    bad["parameters"]["mfg_pk"] = 0.5
    broken.write_text(yaml.safe_dump(bad, sort_keys=False))
    with pytest.raises(InputError, match=r"shahd.*not a salvo group of the template"):
        load_calibration(broken)


def test_params_spec():
    names = ["mfg_pk", "ew@2025Q1", "ew@2025Q2", "deep.drone.slope"]
    assert set(parse_params(None, names)) == set(names)
    free = parse_params("ew@*=0.1:0.5,mfg_pk", names)
    assert free == {"ew@2025Q1": (0.1, 0.5), "ew@2025Q2": (0.1, 0.5), "mfg_pk": (0.02, 0.6)}
    with pytest.raises(ParamsError, match="did you mean 'mfg_pk'"):
        parse_params("mfg_pkk=0:1", names)
    with pytest.raises(ParamsError, match="low < high"):
        parse_params("mfg_pk=0.5:0.1", names)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("command", ["validate", "calibrate"])
@pytest.mark.parametrize(
    "make, expected",
    [
        (
            lambda tmp: write_nights_csv(tmp, [night_row(drone_launched=10)],
                                         [c for c in REQUIRED_COLUMNS if c != "drone_lost"]),
            ":1: drone_lost: required column is missing",
        ),
        (
            lambda tmp: write_nights_csv(tmp, [night_row(drone_launched=-3)]),
            ":2: drone_launched: -3 is negative",
        ),
        (
            lambda tmp: write_nights_csv(
                tmp, [night_row(), night_row("2025-08-22", cruise_launched="ten")]
            ),
            ":3: cruise_launched: not a whole number: 'ten'",
        ),
        (
            lambda tmp: write_nights_csv(tmp, [night_row(drone_launched=5, drone_destroyed=6)]),
            ":2: drone_destroyed: destroyed (6) + lost (0) exceed launched (5)",
        ),
    ],
)  # fmt: skip
def test_cli_rejects_malformed_nights(command, make, expected, tmp_path, capsys):
    path = make(tmp_path)
    args = [command, str(path), "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{path}{expected}" in err
    assert not (tmp_path / "out").exists()


def _synthetic_csv(tmp_path, calibration, rows, seed):
    """A nights CSV of `rows` whose intercepted drones the model itself generated."""
    observed = _observe(calibration, rows, seed=seed)
    return write_nights_csv(
        tmp_path,
        [night_row(str(r.date.date()), drone_launched=r.launched["drone"],
              drone_destroyed=r.intercepted["drone"]) for r in observed],
    )  # fmt: skip


# --------------------------------------------------------------------------- forecast windows


def test_nights_between_keeps_since_and_drops_until(tmp_path):
    csv = write_nights_csv(
        tmp_path,
        [night_row(d, drone_launched=40, drone_destroyed=30)
         for d in ("2025-09-30", "2025-10-01", "2025-10-15", "2025-11-01")],
    )  # fmt: skip
    nights = load_nights(csv)
    kept = nights_between(nights, dt.date(2025, 10, 1), dt.date(2025, 11, 1))
    assert [d.isoformat() for d in kept["date"].dt.date] == ["2025-10-01", "2025-10-15"]
    assert len(nights_between(nights, until=dt.date(2025, 10, 1))) == 1
    assert len(nights_between(nights, since=dt.date(2025, 11, 1))) == 1
    with pytest.raises(OptionError, match="no nights from the start until 2025-09-01"):
        nights_between(nights, until=dt.date(2025, 9, 1))


def test_calibrate_until_fits_only_the_nights_before_the_date(tiny, tmp_path):
    calibration, path = tiny
    csv = _synthetic_csv(tmp_path, calibration, _rows(12, seed=5), seed=99)  # 1-12 Oct 2025
    out = tmp_path / "until.yaml"
    result = calibrate_file(
        csv, out, start=path, params="ew@2025Q4=0:0.8", until=dt.date(2025, 10, 7),
        emulator_replications=1, workers=1, errors=False,
    )  # fmt: skip
    fit = load_calibration(out).fit
    assert fit is not None and result.nights == 6 == fit.nights
    assert fit.dates == [f"2025-10-0{d}" for d in range(1, 7)]
    assert fit.until == "2025-10-07" and fit.since is None
    assert "until: '2025-10-07'" in out.read_text() and "since:" not in out.read_text()
    later = calibrate_file(
        csv, tmp_path / "since.yaml", start=path, params="ew@2025Q4=0:0.8",
        since=dt.date(2025, 10, 7), emulator_replications=1, workers=1, errors=False,
    )  # fmt: skip
    assert later.calibration.fit.dates[0] == "2025-10-07" and len(later.calibration.fit.dates) == 6


def test_validate_from_scores_later_nights_against_a_baseline_of_earlier_ones(tiny, tmp_path):
    calibration, path = tiny
    csv = _synthetic_csv(tmp_path, calibration, _rows(12, seed=7), seed=98)
    since = dt.date(2025, 10, 7)
    result = validate_file(csv, path, tmp_path / "v", since=since, replications=10, workers=1)
    table = result.result.table
    assert result.nights == 6 and list(table["date"]) == [f"2025-10-{d:02d}" for d in range(7, 13)]
    assert (
        result.scores["since"] == "2025-10-07" and "before 2025-10-07" in result.scores["fit_data"]
    )
    nights = load_nights(csv)
    expected = QuarterlyRateBaseline.fit(nights_between(nights, until=since)).predict(
        nights_between(nights, since=since)
    )
    np.testing.assert_allclose(table["baseline_p95.drone"], expected["p95.drone"].round(2))


def test_an_empty_window_is_bad_input_and_writes_nothing(tiny, tmp_path, capsys):
    calibration, _ = tiny
    csv = _synthetic_csv(tmp_path, calibration, _rows(4, seed=5), seed=99)
    out = tmp_path / "never.yaml"
    assert main(["calibrate", str(csv), "--until", "2020-01-01", "--out", str(out)]) == 2
    assert "no nights from the start until 2020-01-01" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit) as stop:
        main(["validate", str(csv), "--from", "2025-13-01"])
    assert stop.value.code == 2
    assert "expected a date such as 2025-10-01" in capsys.readouterr().err


def test_cli_validate_writes_scores(tiny, tmp_path, capsys):
    calibration, path = tiny
    csv = _synthetic_csv(tmp_path, calibration, _rows(6, seed=5), seed=99)
    out = tmp_path / "validation"
    args = ["validate", str(csv), "--scenario", str(path), "-n", "20", "--json", "--out", str(out),
            "--workers", "1"]  # fmt: skip
    assert main(args) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["nights"] == 6
    for key in ("coverage90", "mean_width90", "mae_median"):
        assert scores[key] >= 0 and scores["baseline"][key] >= 0
    table = pd.read_csv(out / "validation.csv")
    assert len(table) == 6 and {"median.drone", "p05.total", "baseline_p95.drone"} <= set(table)
    assert json.loads((out / "validation.json").read_text())["coverage90"] == scores["coverage90"]
    assert main(args) == 2  # the folder exists now


def test_validation_gives_the_same_numbers_serially_on_processes_and_on_dask(tiny, tmp_path):
    # the emulator cells, the folds' fits and the nights' simulations all go through the shared
    # executor; where they run must not change a number
    calibration, _ = tiny
    csv = _synthetic_csv(tmp_path, calibration, _rows(6, seed=8), seed=31)
    nights = load_nights(csv)
    free = {"ew@2025Q4": (0.0, 0.8)}
    tables = {}
    for name, options in (("serial", {"workers": 1}), ("processes", {"workers": 2}),
                          ("dask", {"workers": 2, "dask": "local"})):  # fmt: skip
        result = validate_nights(
            calibration, nights, replications=6, seed=3, cv=2, free=free,
            emulator_grid=SMALL_GRID, **options,
        )  # fmt: skip
        tables[name] = result.table
    pd.testing.assert_frame_equal(tables["serial"], tables["processes"])
    pd.testing.assert_frame_equal(tables["serial"], tables["dask"])


@pytest.mark.parametrize("criterion", ["likelihood", "wis"])
def test_cross_validation_predicts_each_fold_with_the_fit_of_the_others(tiny, tmp_path, criterion):
    # K-fold: every night is predicted once, by the calibration refitted without its fold; the
    # same prediction made by hand from that fold's fitted parameters must be identical
    calibration, _ = tiny
    csv = _synthetic_csv(tmp_path, calibration, _rows(10, seed=6), seed=77)
    nights = load_nights(csv)
    free = {"ew@2025Q4": (0.0, 0.8), "deep.drone.logit": (-4.0, 4.0)}
    result = validate_nights(
        calibration, nights, replications=12, seed=5, workers=1, cv=2, free=free,
        emulator_grid=SMALL_GRID, criterion=criterion,
    )  # fmt: skip
    table, fits = result.table, result.fits
    assert len(table) == 10 and sorted(table["fold"].unique()) == [0, 1]
    assert [f["nights"] for f in fits] == [int((table["fold"] != k).sum()) for k in (0, 1)]
    assert result.scores["nights"] == 10 and result.scores["cv"] == 2
    night_rows_ = night_rows(nights)
    for k in (0, 1):
        night = int(np.flatnonzero(table["fold"].to_numpy() == k)[0])
        fitted = with_parameters(calibration, fits[k]["parameters"])
        again = predict_nights(fitted, [night_rows_[night]], replications=12, seed=5,
                               points=[night])  # fmt: skip
        for key in ("median.drone", "p05.drone", "p95.drone"):
            assert again.loc[0, key] == table.loc[night, key], (k, key)
    # the folds were fitted on different nights: their parameters differ
    assert fits[0]["parameters"] != fits[1]["parameters"]


# --------------------------------------------------------------------------- statistics


@pytest.mark.slow
def test_validate_on_model_generated_nights_covers_about_90_percent(tiny):
    # 120 nights generated by the model with the calibration's own parameters: each observed
    # count falls inside the model's 5-95 % interval with probability ~0.9 (slightly more:
    # integer counts, inclusive ends). Tolerance: 0.80-0.98, i.e. about -3 and +2 binomial sd.
    calibration, _ = tiny
    rows = _observe(calibration, _rows(120, seed=1), seed=1234)
    predictions = predict_nights(calibration, rows, replications=100, seed=7, workers=2)
    observed = np.array([r.intercepted["drone"] for r in rows])
    inside = (observed >= predictions["p05.drone"]) & (observed <= predictions["p95.drone"])
    assert 0.80 <= inside.mean() <= 0.98, inside.mean()


@pytest.mark.slow
def test_calibrate_recovers_known_parameters(tiny):
    # synthetic nights from known parameters; the likelihood fit of three of them (the rest
    # fixed at the truth) must recover each within 3 standard errors
    calibration, _ = tiny
    rows = _observe(calibration, _rows(200, seed=2, low=15, high=400), seed=4321)
    free = {
        "ew@2025Q4": (0.0, 0.8),
        "deep.drone.logit": (-4.0, 4.0),
        "deep.drone.slope": (-1.0, 4.0),
    }
    start = with_parameters(
        calibration, {"ew@2025Q4": 0.5, "deep.drone.logit": -0.5, "deep.drone.slope": 2.5}
    )
    emulator = build_emulator(start, grid=SMALL_GRID, seed=3, workers=2)
    result = fit_calibration(start, rows, free, emulator, seed=3, criterion="likelihood")
    fitted = flat_parameters(result.calibration)
    for name in free:
        se = result.standard_errors[name]
        assert se is not None and se > 0, name
        assert abs(fitted[name] - TRUTH[name]) <= 3 * se, (name, fitted[name], TRUTH[name], se)


@pytest.mark.slow
@pytest.mark.skipif(not CALIBRATION_DATA.exists(), reason="needs ../shared/data")
def test_calibrated_scenario_reproduces_the_reference_night():
    # the night model issue's tolerances, for the 2025-08-21 row built with the committed
    # calibration: 1,000 replications, mean intercepted 577 +/- 6 (drones 546 +/- 6, missiles
    # 31 +/- 3) and the observed 577 inside the 5-95 % interval. The row itemises 36 of the 40
    # missiles (30 intercepted); the other 4 (1 intercepted) are not in the dataset.
    calibration = load_calibration(CALIBRATED)
    nights = load_nights(CALIBRATION_DATA)
    rows = [r for r in night_rows(nights) if r.date == pd.Timestamp("2025-08-21")]
    assert rows[0].launched == {"drone": 574, "cruise": 34, "ballistic": 2, "hypersonic": 0}
    sims = predict_nights(calibration, rows, replications=1000, seed=20250821, workers=2)
    assert abs(sims.loc[0, "mean.total"] - 577) <= 6
    assert abs(sims.loc[0, "mean.drone"] - 546) <= 6
    missiles = sims.loc[0, "mean.total"] - sims.loc[0, "mean.drone"]
    assert abs(missiles - 31) <= 3
    assert sims.loc[0, "p05.total"] <= 577 <= sims.loc[0, "p95.total"]


@pytest.mark.parametrize("command", ["calibrate", "validate", "calibrate-attacker"])
def test_every_option_is_explained_in_cli_calibrate_md(command):
    import argparse

    from sim.cli.parser import build_parser

    text = (ROOT / "docs" / "cli-calibrate.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for action in sub.choices[command]._actions:
        names = action.option_strings or [action.metavar or action.dest]
        missing += [n for n in names if f"`{n}" not in text and n not in ("-h", "--help")]
    assert not missing, f"salvo {command} options not in docs/cli-calibrate.md: {missing}"
