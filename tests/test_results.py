"""Tests for sim.results.core: statistics, summary.json, text report, manifest, results folder."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.results import files as files_module
from sim.results import manifest as manifest_module
from sim.results.files import (
    ResultsExistError,
    ResultsFolderError,
    read_runs,
    read_summary,
    write_results,
)
from sim.results.manifest import build_manifest
from sim.results.statistics import describe, mean_ci
from sim.results.summary import format_summary, summarise_runs
from sim.vocab import CLASSES, OUTCOMES, REPORTED_CLASSES

N_REPS = 40
# Hypersonic missiles are deliberately not launched: they must not appear in by_class.
LAUNCH = {"drone": 500, "decoy": 120, "cruise": 30, "ballistic": 6, "hypersonic": 0}
DEFENCE = ("patriot", "mobile_fire_group")
TARGETS = ("kyiv", "lviv")


def make_runs(seed: int = 1234, n: int = N_REPS) -> pd.DataFrame:
    """Build a synthetic runs table obeying the column contract, independent of sim code."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {
        "point": np.zeros(n, dtype=np.int64),
        "replication": np.arange(n, dtype=np.int64),
        "seed": np.full(n, 99, dtype=np.int64),
    }
    p_shot = {"drone": 0.8, "decoy": 0.5, "cruise": 0.85, "ballistic": 0.4, "hypersonic": 0.2}
    for cls in CLASSES:
        launched = np.full(n, LAUNCH[cls], dtype=np.int64)
        shot = rng.binomial(launched, p_shot[cls])
        suppressed = rng.binomial(launched - shot, 0.4)
        failed = rng.binomial(launched - shot - suppressed, 0.1)
        leaked = launched - shot - suppressed - failed
        data[f"launched.{cls}"] = launched
        data[f"shot_down.{cls}"] = shot
        data[f"suppressed.{cls}"] = suppressed
        data[f"failed.{cls}"] = failed
        data[f"leaked.{cls}"] = leaked
        data[f"intercepted.{cls}"] = shot + suppressed
    for outcome in OUTCOMES:
        data[f"{outcome}.total"] = sum(data[f"{outcome}.{cls}"] for cls in CLASSES)
    for i, dtype in enumerate(DEFENCE):
        shots = rng.poisson(40 + 30 * i, n)
        data[f"shots.{dtype}"] = shots
        data[f"kills.{dtype}"] = rng.binomial(shots, 0.6)
        data[f"cost_usd.{dtype}"] = shots * (4_000_000.0 if dtype == "patriot" else 1000.0)
    data["defender_cost_usd"] = sum(data[f"cost_usd.{d}"] for d in DEFENCE)
    data["attacker_cost_usd"] = rng.normal(3e7, 1e6, n)
    for target in TARGETS:
        data[f"hits.{target}"] = rng.poisson(5, n)
        data[f"killed.{target}"] = rng.poisson(2, n)
        data[f"injured.{target}"] = rng.poisson(8, n)
        data[f"buildings.{target}"] = rng.poisson(3, n)
    return pd.DataFrame(data)


def expected_stats(values: np.ndarray) -> dict[str, float]:
    """Compute the five summary statistics directly with numpy."""
    values = np.asarray(values, dtype=float)
    return {
        "mean": float(np.mean(values)),
        "sd": float(np.std(values, ddof=1)),
        "p05": float(np.quantile(values, 0.05)),
        "p50": float(np.quantile(values, 0.50)),
        "p95": float(np.quantile(values, 0.95)),
    }


def assert_stats_close(actual: dict, expected: dict) -> None:
    """Compare two stats dicts key by key with a tight tolerance."""
    assert set(actual) >= set(expected)
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    """Synthetic runs table shared by the tests (read-only)."""
    return make_runs()


@pytest.fixture(scope="module")
def summary(runs: pd.DataFrame) -> dict:
    """Summary of the synthetic runs table."""
    return summarise_runs(runs, scenario="test-salvo", seed=99)


# --------------------------------------------------------------------------- constants


def test_constants() -> None:
    assert CLASSES == ("drone", "decoy", "cruise", "ballistic", "hypersonic")
    assert set(OUTCOMES) == {
        "launched",
        "shot_down",
        "suppressed",
        "leaked",
        "failed",
        "intercepted",
    }
    assert REPORTED_CLASSES == {
        "drone": ("drone", "decoy"),
        "missile": ("cruise", "ballistic", "hypersonic"),
    }


# --------------------------------------------------------------------------- describe / mean_ci


def test_describe_matches_numpy() -> None:
    values = np.random.default_rng(7).gamma(2.0, 3.0, 57)
    got = describe(values)
    assert list(got) == ["mean", "sd", "p05", "p50", "p95"]
    assert all(type(v) is float for v in got.values())
    assert_stats_close(got, expected_stats(values))
    # sanity: the quantiles are ordered and different from the mean for skewed data
    assert got["p05"] < got["p50"] < got["p95"]


def test_describe_known_values_and_single_value() -> None:
    got = describe([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    # Linear-interpolation quantiles computed by hand: position = q * (n - 1).
    assert got["mean"] == pytest.approx(5.5)
    assert got["sd"] == pytest.approx(math.sqrt(sum((x - 5.5) ** 2 for x in range(1, 11)) / 9))
    assert got["p05"] == pytest.approx(1.45)
    assert got["p50"] == pytest.approx(5.5)
    assert got["p95"] == pytest.approx(9.55)
    single = describe([4])
    assert single == {"mean": 4.0, "sd": 0.0, "p05": 4.0, "p50": 4.0, "p95": 4.0}


def test_mean_ci_matches_scipy() -> None:
    values = np.random.default_rng(11).normal(10.0, 2.0, 30)
    for level in (0.9, 0.95, 0.99):
        lo, hi = mean_ci(values, level)
        exp_lo, exp_hi = stats.t.interval(
            level, df=len(values) - 1, loc=np.mean(values), scale=stats.sem(values)
        )
        assert (lo, hi) == (pytest.approx(exp_lo), pytest.approx(exp_hi))
        assert type(lo) is float and type(hi) is float
    assert (
        mean_ci(values)[1] - mean_ci(values)[0]
        < mean_ci(values, 0.99)[1] - mean_ci(values, 0.99)[0]
    )


def test_mean_ci_degenerate() -> None:
    assert mean_ci([3.0, 3.0, 3.0]) == (3.0, 3.0)
    assert mean_ci([2.5]) == (2.5, 2.5)


# --------------------------------------------------------------------------- summary


def test_summary_top_level(summary: dict, runs: pd.DataFrame) -> None:
    assert set(summary) == {
        "scenario",
        "replications",
        "seed",
        "launched",
        "outcomes",
        "intercept_rate",
        "defence",
        "cost_usd",
        "targets",
    }
    assert summary["scenario"] == "test-salvo"
    assert summary["replications"] == N_REPS
    assert summary["seed"] == 99
    assert summary["launched"]["total"] == sum(LAUNCH.values())
    assert type(summary["launched"]["total"]) is int
    for cls, count in LAUNCH.items():
        assert summary["launched"][cls] == count
    assert set(summary["outcomes"]) == {
        "intercepted",
        "shot_down",
        "suppressed",
        "leaked",
        "failed",
    }


def test_launched_mean_when_varying() -> None:
    runs = make_runs(n=4)
    runs.loc[0, "launched.drone"] += 3
    runs.loc[0, "launched.total"] += 3
    got = summarise_runs(runs, scenario="x", seed=1)
    assert got["launched"]["drone"] == pytest.approx(LAUNCH["drone"] + 0.75)
    assert got["launched"]["total"] == pytest.approx(sum(LAUNCH.values()) + 0.75)


def test_summary_outcome_stats_match(summary: dict, runs: pd.DataFrame) -> None:
    launched_classes = [c for c, n in LAUNCH.items() if n > 0]
    for outcome, entry in summary["outcomes"].items():
        assert_stats_close(entry, expected_stats(runs[f"{outcome}.total"].to_numpy()))
        assert list(entry["by_class"]) == launched_classes
        assert "hypersonic" not in entry["by_class"]
        for cls in launched_classes:
            assert_stats_close(
                entry["by_class"][cls], expected_stats(runs[f"{outcome}.{cls}"].to_numpy())
            )


def test_by_class_includes_class_launched_in_any_row() -> None:
    runs = make_runs(n=5)
    runs.loc[2, "launched.hypersonic"] = 1
    runs.loc[2, "leaked.hypersonic"] = 1
    got = summarise_runs(runs, scenario="x", seed=1)
    assert "hypersonic" in got["outcomes"]["leaked"]["by_class"]
    assert got["outcomes"]["leaked"]["by_class"]["hypersonic"]["mean"] == pytest.approx(0.2)


def test_reported_class_aggregation(summary: dict, runs: pd.DataFrame) -> None:
    drone_cols = ["drone", "decoy"]
    missile_cols = ["cruise", "ballistic", "hypersonic"]
    for outcome, entry in summary["outcomes"].items():
        assert set(entry["by_reported_class"]) == {"drone", "missile"}
        drones = sum(runs[f"{outcome}.{c}"].to_numpy() for c in drone_cols)
        missiles = sum(runs[f"{outcome}.{c}"].to_numpy() for c in missile_cols)
        assert_stats_close(entry["by_reported_class"]["drone"], expected_stats(drones))
        assert_stats_close(entry["by_reported_class"]["missile"], expected_stats(missiles))
    # means of the groups add up to the overall mean
    inter = summary["outcomes"]["intercepted"]
    group_sum = sum(g["mean"] for g in inter["by_reported_class"].values())
    assert group_sum == pytest.approx(inter["mean"])


def test_intercept_rate(summary: dict, runs: pd.DataFrame) -> None:
    rate = runs["intercepted.total"].to_numpy() / runs["launched.total"].to_numpy()
    got = summary["intercept_rate"]
    assert set(got) == {"mean", "ci95", "p05", "p50", "p95"}
    assert got["mean"] == pytest.approx(float(np.mean(rate)))
    assert got["p05"] == pytest.approx(float(np.quantile(rate, 0.05)))
    assert got["p95"] == pytest.approx(float(np.quantile(rate, 0.95)))
    exp_lo, exp_hi = stats.t.interval(0.95, len(rate) - 1, loc=rate.mean(), scale=stats.sem(rate))
    assert got["ci95"] == [pytest.approx(exp_lo), pytest.approx(exp_hi)]
    assert 0.0 < got["mean"] < 1.0


def test_defence_costs_and_targets(summary: dict, runs: pd.DataFrame) -> None:
    assert list(summary["defence"]) == list(DEFENCE)
    for dtype in DEFENCE:
        assert set(summary["defence"][dtype]) == {"shots", "kills", "cost_usd"}
        for metric in ("shots", "kills", "cost_usd"):
            assert_stats_close(
                summary["defence"][dtype][metric],
                expected_stats(runs[f"{metric}.{dtype}"].to_numpy()),
            )
    assert_stats_close(
        summary["cost_usd"]["defender"], expected_stats(runs["defender_cost_usd"].to_numpy())
    )
    assert_stats_close(
        summary["cost_usd"]["attacker"], expected_stats(runs["attacker_cost_usd"].to_numpy())
    )
    assert list(summary["targets"]) == list(TARGETS)
    for target in TARGETS:
        assert set(summary["targets"][target]) == {"hits", "killed", "injured", "buildings"}
        for metric in ("hits", "killed", "injured", "buildings"):
            assert_stats_close(
                summary["targets"][target][metric],
                expected_stats(runs[f"{metric}.{target}"].to_numpy()),
            )


def _walk(obj: object) -> list[object]:
    """Return every leaf value of a nested dict/list structure."""
    if isinstance(obj, dict):
        return [leaf for v in obj.values() for leaf in _walk(v)]
    if isinstance(obj, list):
        return [leaf for v in obj for leaf in _walk(v)]
    return [obj]


def test_summary_is_strict_json(summary: dict) -> None:
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    for leaf in _walk(summary):
        assert leaf is None or type(leaf) in (int, float, str, bool), type(leaf)


def test_observed_passthrough_and_no_nan(runs: pd.DataFrame) -> None:
    observed = {"intercepted": {"total": 577, "drone": 546, "missile": 31}}
    got = summarise_runs(runs, scenario="x", seed=1, observed=observed)
    assert got["observed"] == observed
    # a column full of NaN must come out as None, not NaN
    bad = runs.copy()
    bad["hits.kyiv"] = np.nan
    got = summarise_runs(bad, scenario="x", seed=1)
    assert got["targets"]["kyiv"]["hits"]["mean"] is None
    json.dumps(got, allow_nan=False)


# --------------------------------------------------------------------------- text report


def test_format_summary(summary: dict, runs: pd.DataFrame) -> None:
    text = format_summary(summary)
    lines = text.splitlines()
    assert "test-salvo" in lines[0] and str(N_REPS) in lines[0] and "99" in lines[0]
    row_labels = [c for c, n in LAUNCH.items() if n > 0] + [
        "drones incl. decoys",
        "missiles",
        "total",
    ]
    for label in row_labels:
        assert any(line.startswith(label + " ") for line in lines), label
    assert not any(line.startswith("hypersonic") for line in lines)
    header = next(line for line in lines if line.startswith("class"))
    for col in ("launched", "shot down", "suppressed", "intercepted", "leaked", "failed"):
        assert col in header

    # the drone row shows the independently computed mean and 90 % interval of shot_down
    shot = runs["shot_down.drone"].to_numpy(dtype=float)
    drone_row = next(line for line in lines if line.startswith("drone "))
    assert f"{shot.mean():.1f} [" in drone_row
    assert drone_row.split()[1] == str(LAUNCH["drone"])

    rate = runs["intercepted.total"].to_numpy() / runs["launched.total"].to_numpy()
    lo, hi = stats.t.interval(0.95, len(rate) - 1, loc=rate.mean(), scale=stats.sem(rate))
    expected_rate = (
        f"intercept rate: {100 * rate.mean():.1f} % (95 % CI {100 * lo:.1f}–{100 * hi:.1f} %)"
    )
    assert expected_rate in lines

    for name in (*DEFENCE, *TARGETS):
        assert any(line.startswith(name) for line in lines), name
    assert "observed" not in text


def test_format_summary_fixed_width(summary: dict) -> None:
    lines = format_summary(summary).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("class"))
    table = []
    for line in lines[start:]:
        if not line:
            break
        table.append(line)
    # header, rule and data rows all end at the same column (right-aligned cells)
    assert len({len(line) for line in table}) == 1


def test_format_summary_observed(runs: pd.DataFrame) -> None:
    drones = (runs["intercepted.drone"] + runs["intercepted.decoy"]).to_numpy(dtype=float)
    inside_value = int(np.median(drones))
    outside_value = int(np.quantile(drones, 0.95)) + 100
    observed = {
        "intercepted": {"drone": inside_value, "total": outside_value},
        "launched": {"drone": 620, "total": 656},
    }
    text = format_summary(summarise_runs(runs, scenario="x", seed=1, observed=observed))
    obs_lines = [line for line in text.splitlines() if "observed" in line and ": observed" in line]
    assert len(obs_lines) == 2
    drone_line = next(line for line in obs_lines if "drones incl. decoys" in line)
    total_line = next(line for line in obs_lines if "total" in line)
    assert f"observed {inside_value} " in drone_line
    assert f"{drones.mean():.1f}" in drone_line
    assert "inside" in drone_line and "OUTSIDE" not in drone_line
    assert "OUTSIDE" in total_line
    assert f"observed {outside_value} " in total_line
    assert "simulated 620" in drone_line  # drones + decoys launched


# --------------------------------------------------------------------------- manifest


def test_build_manifest(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    payload = b"name: test\nwaves: 3\n"
    scenario.write_bytes(payload)
    manifest = build_manifest(
        command="salvo run scenario.yaml",
        inputs={"scenario": scenario},
        seed=5,
        replications=10,
        wall_time_s=1.5,
        workers=2,
        extra={"note": "x"},
    )
    assert manifest["inputs"] == {
        "scenario": {"path": str(scenario), "sha256": hashlib.sha256(payload).hexdigest()}
    }
    assert manifest["seed"] == 5 and manifest["replications"] == 10
    assert manifest["workers"] == 2 and manifest["wall_time_s"] == 1.5
    assert manifest["command"] == "salvo run scenario.yaml"
    assert manifest["extra"] == {"note": "x"}
    versions = manifest["versions"]
    for dist in ("salvo-sim", "python", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "mesa"):
        assert isinstance(versions[dist], str) and versions[dist]
    assert versions["numpy"] == np.__version__
    assert versions["pandas"] == pd.__version__
    assert manifest["git_commit"] is None or len(manifest["git_commit"]) == 40
    assert manifest["git_dirty"] in (None, True, False)
    assert manifest["created_utc"].endswith("+00:00")
    assert isinstance(manifest["platform"], str)
    json.dumps(manifest, allow_nan=False)


def test_build_manifest_without_git(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("git not installed")

    monkeypatch.setattr(manifest_module.subprocess, "run", boom)
    manifest = build_manifest(
        command="c", inputs={}, seed=1, replications=1, wall_time_s=0.0, workers=1
    )
    assert manifest["git_commit"] is None
    assert manifest["git_dirty"] is None
    assert "extra" not in manifest


def test_build_manifest_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = manifest_module.importlib.metadata.version

    def fake(name: str) -> str:
        if name in ("mesa", "salvo-sim"):
            raise manifest_module.importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(manifest_module.importlib.metadata, "version", fake)
    manifest = build_manifest(
        command="c", inputs={}, seed=1, replications=1, wall_time_s=0.0, workers=1
    )
    assert manifest["versions"]["mesa"] == "missing"
    assert manifest["versions"]["salvo-sim"] == "unknown"


# --------------------------------------------------------------------------- results folder


def _write(out: Path, runs: pd.DataFrame, summary: dict, **kwargs: object) -> Path:
    """Write a results folder with a fixed manifest."""
    manifest = {"command": "test", "seed": 99}
    return write_results(out, runs=runs, summary=summary, manifest=manifest, **kwargs)


def _siblings(parent: Path) -> set[str]:
    """Names in a folder, including hidden temp dirs."""
    return {p.name for p in parent.iterdir()}


def test_write_results_creates_files(tmp_path: Path, runs: pd.DataFrame, summary: dict) -> None:
    out = tmp_path / "deep" / "nested" / "run1"
    got = _write(out, runs, summary, extra_files={"report.txt": b"hello\n"})
    assert got == out
    assert {p.name for p in out.iterdir()} == {
        "runs.parquet",
        "summary.json",
        "manifest.json",
        "report.txt",
    }
    assert _siblings(out.parent) == {"run1"}  # no temp or old dirs left behind
    summary_text = (out / "summary.json").read_text()
    assert summary_text.endswith("}\n")
    assert summary_text == json.dumps(summary, indent=2) + "\n"
    assert json.loads((out / "manifest.json").read_text()) == {"command": "test", "seed": 99}
    assert (out / "report.txt").read_bytes() == b"hello\n"
    assert read_summary(out) == summary
    assert read_summary(out / "summary.json") == summary


def test_parquet_round_trip(tmp_path: Path, runs: pd.DataFrame, summary: dict) -> None:
    out = _write(tmp_path / "r", runs, summary)
    back = read_runs(out)
    pd.testing.assert_frame_equal(back, runs)
    pd.testing.assert_frame_equal(read_runs(out / "runs.parquet"), runs)
    # deterministic bytes: writing the same table twice gives identical files
    out2 = _write(tmp_path / "r2", runs, summary)
    assert (out / "runs.parquet").read_bytes() == (out2 / "runs.parquet").read_bytes()


def test_write_results_refuses_existing(tmp_path: Path, runs: pd.DataFrame, summary: dict) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(ResultsExistError, match="use --force to overwrite") as info:
        _write(out, runs, summary)
    assert str(out) in str(info.value)
    assert isinstance(info.value, Exception)
    assert {p.name for p in out.iterdir()} == {"keep.txt"}
    assert (out / "keep.txt").read_text() == "old"
    assert _siblings(tmp_path) == {"r"}


def test_write_results_force_overwrites(tmp_path: Path, runs: pd.DataFrame, summary: dict) -> None:
    out = tmp_path / "r"
    _write(out, runs, summary)  # a folder salvo wrote (it has a manifest) may be replaced
    (out / "stale.txt").write_text("old")
    _write(out, runs, summary, force=True)
    assert {p.name for p in out.iterdir()} == {"runs.parquet", "summary.json", "manifest.json"}
    assert _siblings(tmp_path) == {"r"}
    assert read_summary(out) == summary


def test_write_results_force_never_replaces_what_salvo_did_not_write(
    tmp_path: Path, runs: pd.DataFrame, summary: dict
) -> None:
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("mine")
    regular = tmp_path / "notes.txt"
    regular.write_text("mine too")
    for out in (folder, regular):
        with pytest.raises(ResultsFolderError, match="--force"):
            _write(out, runs, summary, force=True)
    assert (folder / "chapter1.tex").read_text() == "mine"
    assert regular.read_text() == "mine too"
    assert _siblings(tmp_path) == {"thesis", "notes.txt"}


def test_write_results_failure_leaves_nothing(
    tmp_path: Path, runs: pd.DataFrame, summary: dict
) -> None:
    out = tmp_path / "r"
    bad = dict(summary, oops=object())
    with pytest.raises(TypeError):
        _write(out, runs, bad)
    assert not out.exists()
    assert _siblings(tmp_path) == set()

    nan_summary = dict(summary, oops=float("nan"))
    with pytest.raises(ValueError):
        _write(out, runs, nan_summary)
    assert _siblings(tmp_path) == set()


def test_write_results_failure_with_force_keeps_old(
    tmp_path: Path, runs: pd.DataFrame, summary: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r"
    out.mkdir()  # an earlier results folder (salvo's manifest), with a file to keep
    (out / "manifest.json").write_text('{"command": "run"}')
    (out / "keep.txt").write_text("old")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files_module.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        _write(out, runs, summary, force=True)
    assert {p.name for p in out.iterdir()} == {"manifest.json", "keep.txt"}
    assert _siblings(tmp_path) == {"r"}


def test_write_results_rejects_bad_extra_names(
    tmp_path: Path, runs: pd.DataFrame, summary: dict
) -> None:
    for name in ("../escape.txt", "summary.json", "/abs.txt"):
        with pytest.raises(ValueError):
            _write(tmp_path / "r", runs, summary, extra_files={name: b"x"})
    assert _siblings(tmp_path) == set()


def test_write_results_refuses_before_doing_work(
    tmp_path: Path, runs: pd.DataFrame, summary: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r"
    out.mkdir()

    def must_not_write(*args: object, **kwargs: object) -> None:
        raise AssertionError("write_table called although the folder exists")

    monkeypatch.setattr(files_module.pq, "write_table", must_not_write)
    with pytest.raises(ResultsExistError):
        _write(out, runs, summary)
    assert _siblings(tmp_path) == {"r"}


def test_write_results_restores_old_when_swap_fails(
    tmp_path: Path, runs: pd.DataFrame, summary: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r"
    out.mkdir()  # an earlier results folder (salvo's manifest), with a file to keep
    (out / "manifest.json").write_text('{"command": "run"}')
    (out / "keep.txt").write_text("old")
    real_rename = files_module.os.rename

    def flaky_rename(src: object, dst: object) -> None:
        if Path(str(src)).name.startswith(".r.tmp-"):
            raise OSError("rename failed")
        real_rename(src, dst)

    monkeypatch.setattr(files_module.os, "rename", flaky_rename)
    with pytest.raises(OSError, match="rename failed"):
        _write(out, runs, summary, force=True)
    assert {p.name for p in out.iterdir()} == {"manifest.json", "keep.txt"}
    assert (out / "keep.txt").read_text() == "old"
    assert _siblings(tmp_path) == {"r"}
