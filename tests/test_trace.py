"""Traces of single nights (sim.experiments.traces, `salvo run --trace N`): a trace is the
night of its runs.parquet row, every threat ends in one state at a place on its route, and the
files round-trip."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run_replications
from sim.cli.app import main
from sim.experiments.traces import (
    counts_from_trace,
    read_traces,
    record_traces,
    traces_to_bytes,
    write_traces,
)
from sim.night.laydown import projection_for
from sim.vocab import CLASSES, TRACE_FILES, TRACE_TABLES

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scenarios" / "aug-2025-night.yaml"
TRACED = (0, 2)


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(REFERENCE)


@pytest.fixture(scope="module")
def runs(scenario) -> pd.DataFrame:
    return run_replications(scenario, 3, seed=scenario.seed, workers=1)


@pytest.fixture(scope="module")
def traces(scenario) -> dict[str, pd.DataFrame]:
    return record_traces(scenario, scenario.seed, TRACED)


def _of(table: pd.DataFrame, r: int) -> pd.DataFrame:
    return table[table["replication"] == r]


@pytest.mark.parametrize("r", TRACED)
def test_trace_counts_equal_the_runs_row(traces, runs, r):
    row = runs[runs["replication"] == r].iloc[0]
    counts = counts_from_trace(_of(traces["threats"], r))
    assert counts["launched.total"] == 614
    mismatched = {k: (v, row[k]) for k, v in counts.items() if v != row[k]}
    assert not mismatched


@pytest.mark.parametrize("r", TRACED)
def test_trace_hits_shots_and_kills_equal_the_runs_row(traces, runs, r):
    row = runs[runs["replication"] == r].iloc[0]
    threats, units = _of(traces["threats"], r), _of(traces["units"], r)
    hits = threats[threats["hit"]].groupby("target").size()
    for target in traces["targets"]["target"]:
        assert hits.get(target, 0) == row[f"hits.{target}"], target
    assert hits.sum() > 0
    by_type = units.groupby("type")[["shots", "kills"]].sum()
    for dtype, values in by_type.iterrows():
        assert values["shots"] == row[f"shots.{dtype}"], dtype
        assert values["kills"] == row[f"kills.{dtype}"], dtype
    # the shot log adds up to the rounds each unit fired
    rounds = _of(traces["shots"], r).groupby("unit")["rounds"].sum()
    fired = units.set_index("unit")["shots"]
    assert (rounds.reindex(fired.index, fill_value=0) == fired).all()


def test_every_threat_ends_once_and_only_hits_are_leakers(traces):
    threats = traces["threats"]
    assert set(threats["state"]) <= {"shot_down", "suppressed", "leaked", "failed"}
    assert not threats.duplicated(["replication", "threat"]).any()
    assert not threats.loc[threats["hit"], "state"].ne("leaked").any()
    assert not threats.loc[threats["hit"], "class"].eq("decoy").any()
    credited = threats["killed_by_unit"] >= 0
    assert threats.loc[credited, "state"].isin(["shot_down", "suppressed"]).all()
    assert threats.loc[credited, "killed_by"].notna().all()
    assert (threats["end_time_s"] >= threats["launch_time_s"]).all()


def test_end_positions_lie_on_the_route(scenario, traces):
    threats, routes = traces["threats"], traces["routes"]
    r = TRACED[0]
    threats, routes = _of(threats, r), _of(routes, r)
    projection = projection_for(scenario)  # routes are straight legs in the model's km plane
    assert set(threats["state"]) == {"shot_down", "suppressed", "leaked", "failed"}
    for _, t in threats.iterrows():
        pts = routes[routes["threat"] == t["threat"]].sort_values("point")
        xy = projection.to_km(pts["lon"].to_numpy(), pts["lat"].to_numpy())
        end = projection.to_km(t["end_lon"], t["end_lat"])
        if t["state"] == "leaked":  # arrived: the last route point
            assert np.allclose(end, xy[-1], atol=1e-6)
        # distance (km) from the end point to the route polyline
        a, b = xy[:-1], xy[1:]
        d = b - a
        s = np.clip(((end - a) * d).sum(1) / np.maximum((d * d).sum(1), 1e-12), 0, 1)
        gap = np.min(np.linalg.norm(a + s[:, None] * d - end, axis=1))
        assert gap < 1e-6, (t["threat"], gap)


def test_route_times_start_at_launch_and_increase(traces):
    routes, threats = traces["routes"], traces["threats"]
    first = routes[routes["point"] == 0].set_index(["replication", "threat"])["time_s"]
    launch = threats.set_index(["replication", "threat"])["launch_time_s"]
    assert np.allclose(first.sort_index(), launch.sort_index())
    steps = routes.sort_values(["replication", "threat", "point"]).groupby(
        ["replication", "threat"]
    )["time_s"]
    assert (steps.diff().dropna() >= 0).all()


def test_units_carry_kind_and_envelope_per_class(traces):
    units = traces["units"]
    assert {"sam_long", "mobile_fire_group", "ew"} <= set(units["kind"])
    radius = units[[f"radius_km.{c}" for c in CLASSES]].to_numpy()
    assert (radius >= 0).all() and (radius.max(axis=1) > 0).all()
    assert units["lon"].between(20, 45).all() and units["lat"].between(43, 55).all()


def test_recording_is_deterministic(scenario, traces):
    again = record_traces(scenario, scenario.seed, [TRACED[0]])
    first = _of(traces["threats"], TRACED[0]).reset_index(drop=True)
    pd.testing.assert_frame_equal(again["threats"], first)


def test_files_round_trip_with_attrs(tmp_path, traces):
    written = write_traces(tmp_path, traces)
    assert sorted(p.name for p in written) == sorted(TRACE_FILES)
    back = read_traces(tmp_path)
    assert set(back) == set(TRACE_TABLES)

    def plain(frame: pd.DataFrame) -> pd.DataFrame:  # missing values as None, any dtype
        return frame.astype(object).where(frame.notna(), None)

    for name in TRACE_TABLES:
        pd.testing.assert_frame_equal(plain(back[name]), plain(traces[name]), check_dtype=False)
    assert back["threats"].attrs["scenario"] == "aug-2025-night"
    with pytest.raises(ValueError, match="unknown trace tables"):
        traces_to_bytes({"nonsense": traces["sites"]})


def _call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_run_trace_writes_traces_matching_runs_parquet(tmp_path):
    out = tmp_path / "res"
    code, stdout, _ = _call(
        ["run", str(REFERENCE), "-n", "3", "-w", "1", "--trace", "5", "-q", "--out", str(out)]
    )
    assert code == 0
    assert "trace-*.parquet of 3 replication(s)" in stdout  # N is capped at -n
    runs = pd.read_parquet(out / "runs.parquet")
    traces = read_traces(out)
    assert sorted(traces["threats"]["replication"].unique()) == [0, 1, 2]
    for r in range(3):
        row = runs[runs["replication"] == r].iloc[0]
        counts = counts_from_trace(_of(traces["threats"], r))
        assert all(row[k] == v for k, v in counts.items()), r
    assert not list(tmp_path.glob(".res.tmp-*"))  # written by the same atomic write


def test_run_without_trace_writes_no_trace_files(tmp_path):
    out = tmp_path / "plain"
    code, _, _ = _call(["run", str(REFERENCE), "-n", "1", "-w", "1", "-q", "--out", str(out)])
    assert code == 0
    assert not any((out / name).exists() for name in TRACE_FILES)
