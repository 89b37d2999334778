"""Shared fixtures: builders of small synthetic scenarios flown along one straight route, and
helpers that run the `salvo` command line (in-process or as a process) and watch its output."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from helpers import call as run_salvo

from sim.spec.scenario import Scenario, scenario_from_data
from sim.spec.yamlio import load_yaml_text
from sim.vocab import CHUNKS_DIR

# Every threat flies due north along the 32 E meridian from 48 N to 52 N. The projection is
# azimuthal equidistant about the mean of sites and targets (32 E, 50 N), which maps its central
# meridian to the straight line x = 0, so a unit placed on 32 E sits exactly on the route: the
# chord through its envelope is 2 * radius. A unit's "position" p along the route is latitude
# LAT + (p - 32) (p runs from 30 to 34, as if it were a longitude).
LAT = 50.0
LON = 32.0
SPEED_KMS = 0.1  # the probe threat flies 360 km/h, so a chord of d km takes 10 d seconds


def probe_threat(**overrides: Any) -> dict[str, Any]:
    """A drone type with no failures, no hits and EW susceptibility 1 (override any field)."""
    entry = {"base": "shahed", "speed_kmh": SPEED_KMS * 3600.0, "failure_prob": 0.0}
    entry |= {"accuracy": 0.0, "ew_susceptibility": 1.0}
    return entry | overrides


def shooter(pk: float, **overrides: Any) -> dict[str, Any]:
    """A drone-only shooter: ample channels and rounds, 1-round salvo, no reaction delay."""
    entry: dict[str, Any] = {
        "base": "iris_t",
        "range_km": {"drone": 20.0},
        "pk": {"drone": pk},
        "engages": ["drone"],
        "channels": 64,
        "magazine": 1_000_000,
        "reserve": 0,
        "reaction_s": 30.0,
        "engage_s": 30.0,
        "shots_per_engagement": 1,
        "doctrine": "salvo",
        "queue": False,
        "decoy_discrimination": 0.0,
    }
    return entry | overrides


def unit(type_id: str, position: float, count: int = 1) -> dict[str, Any]:
    """A defence group of `count` units of `type_id` standing on the route at `position`."""
    placement = {"kind": "point", "lon": LON, "lat": LAT + (position - LON)}
    return {"type": type_id, "count": count, "placement": placement}


def scenario(
    count: int,
    *,
    defence_types: dict[str, dict[str, Any]] | None = None,
    defences: dict[str, dict[str, Any]] | None = None,
    threat: dict[str, Any] | None = None,
    ew: dict[str, float] | None = None,
    launch_window_h: tuple[float, float] = (0.0, 20.0),
    seed: int = 1,
) -> Scenario:
    """`count` probe threats launched uniformly over `launch_window_h`, validated from YAML."""
    data = {
        "name": "synthetic",
        "seed": seed,
        "time_window_h": [0.0, 24.0],
        "launch_sites": {"west": {"lon": LON, "lat": LAT - 2.0}},
        "targets": {"east": {"lon": LON, "lat": LAT + 2.0}},
        "salvo": {
            "probes": {
                "type": "probe",
                "count": count,
                "launch_sites": ["west"],
                "targets": ["east"],
                "launch_window_h": list(launch_window_h),
                "route": {"style": "direct", "aim_scatter_km": 0.0},
            }
        },
        "defences": defences or {},
        "ew": {"suppression": ew or {}},
        "catalog": {
            "threats": {"probe": threat or probe_threat()},
            "defences": defence_types or {},
        },
    }
    return scenario_from_data(load_yaml_text(yaml.safe_dump(data), "<synthetic>"))


@pytest.fixture(scope="session")
def synth() -> SimpleNamespace:
    """Builders of synthetic scenarios (see this module): scenario, shooter, unit, probe_threat."""
    return SimpleNamespace(
        scenario=scenario, shooter=shooter, unit=unit, probe_threat=probe_threat, lat=LAT,
        speed_kms=SPEED_KMS,
    )  # fmt: skip


# --------------------------------------------------------------------------- the command line


@pytest.fixture(scope="session")
def call() -> Callable[[list[str]], tuple[int, str, str]]:
    """`call(argv)` runs `salvo ARGV` in-process and returns (exit status, stdout, stderr)."""
    return run_salvo


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below ``folder`` with its bytes and mtime."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def snapshot() -> Callable[[Path], dict[str, tuple[bytes, int]]]:
    """`snapshot(folder)`: every file below `folder` with its bytes and mtime."""
    return _snapshot


def _salvo_process(*argv: str | Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches any worker too
    )


@pytest.fixture(scope="session")
def salvo_process() -> Callable[..., subprocess.Popen]:
    """`salvo_process(*argv)` starts `python -m sim ARGV` in its own process group (text
    pipes for stdout and stderr), so `os.killpg` reaches its workers too."""
    return _salvo_process


def _wait_for_chunks(out: Path, proc: subprocess.Popen, count: int = 1) -> int:
    chunks = out / CHUNKS_DIR
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = len(list(chunks.glob("p*.arrow"))) if chunks.is_dir() else 0
        if found >= count:
            return found
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    raise AssertionError("no chunk was written in time")


@pytest.fixture(scope="session")
def wait_for_chunks() -> Callable[..., int]:
    """`wait_for_chunks(out, proc, count=1)` waits (at most 2 minutes) until the results
    folder `out` of the running `proc` holds `count` saved chunks; returns how many it holds.
    Fails if `proc` ends first."""
    return _wait_for_chunks
