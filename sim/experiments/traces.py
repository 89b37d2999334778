"""Full traces of single nights: every threat's route and fate, every unit, every shot.

A runs table keeps one row of counts per night; a trace keeps what happened in it, so a night
can be drawn on a map (``salvo plot``). Traces are recorded by running the chosen replications
again with exactly the seeding of ``sim.experiments.replications`` (replication ``r`` of design
point ``p`` draws from ``SeedSequence(seed, spawn_key=(p, r))``), so the trace of replication
``r`` is the night whose counts are row ``r`` of ``runs.parquet``.

Tables (pandas DataFrames, one ``trace-<name>.parquet`` file each in a results folder):

``threats``  one row per threat: replication, threat, group, type, class, launch_site, target,
             launch_time_s, end_time_s, state (shot_down, suppressed, leaked, failed),
             killed_by (defence group or None), killed_by_unit (-1 if none), hit (a leaker
             that hit its target), end_lon, end_lat (where it was at end_time_s)
``routes``   the planned routes in long form: replication, threat, point, time_s (when the
             threat passes the point if it flies on), lon, lat
``units``    one row per defence unit: replication, unit, group, type, kind, lon, lat,
             ``radius_km.<class>`` (0 where the unit does not engage the class), shots, kills
``shots``    one row per engagement: replication, time_s, unit, threat, rounds
``sites``    launch sites: site, name, lon, lat
``targets``  targets: target, name, lon, lat

Every table carries ``attrs = {"scenario": name, "seed": seed, "point": point}``, kept in the
Parquet files. Reading traces (``read_traces``) needs only pandas; recording them imports the
model lazily, so figure code can read traces without importing the simulation.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.vocab import CLASSES, NO_UNIT, STATE_NAMES, TRACE_TABLES, trace_file

if TYPE_CHECKING:
    from sim.night.model import NightModel
    from sim.spec.scenario import Scenario


_SCHEMAS: dict[str, dict[str, str]] = {
    "threats": {
        "replication": "int64",
        "threat": "int64",
        "group": "object",
        "type": "object",
        "class": "object",
        "launch_site": "object",
        "target": "object",
        "launch_time_s": "float64",
        "end_time_s": "float64",
        "state": "object",
        "killed_by": "object",
        "killed_by_unit": "int64",
        "hit": "bool",
        "end_lon": "float64",
        "end_lat": "float64",
    },
    "routes": {
        "replication": "int64",
        "threat": "int64",
        "point": "int64",
        "time_s": "float64",
        "lon": "float64",
        "lat": "float64",
    },
    "units": {
        "replication": "int64",
        "unit": "int64",
        "group": "object",
        "type": "object",
        "kind": "object",
        "lon": "float64",
        "lat": "float64",
        **{f"radius_km.{cls}": "float64" for cls in CLASSES},
        "shots": "int64",
        "kills": "int64",
    },
    "shots": {
        "replication": "int64",
        "time_s": "float64",
        "unit": "int64",
        "threat": "int64",
        "rounds": "int64",
    },
    "sites": {"site": "object", "name": "object", "lon": "float64", "lat": "float64"},
    "targets": {"target": "object", "name": "object", "lon": "float64", "lat": "float64"},
}


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame({col: pd.Series(dtype=dtype) for col, dtype in _SCHEMAS[name].items()})


# --------------------------------------------------------------------------- recording


def _positions_at(model: NightModel, times: np.ndarray) -> np.ndarray:
    """Where each threat is at `times` (km): its route polyline interpolated at that time."""
    batch = model.threat_batch
    legs = batch.legs
    n = len(batch)
    xy = np.zeros((n, 2))
    if n == 0:
        return xy
    t = np.clip(times, batch.t_launch, batch.t_end)
    xy[:] = batch.waypoints[:, 0]
    if len(legs.t0) == 0:
        return xy
    # legs are ordered by threat, then along the route: the current leg is the last one started
    started = np.flatnonzero(legs.t0 <= t[legs.threat] + 1e-9)
    current = np.full(n, -1, dtype=np.int64)
    np.maximum.at(current, legs.threat[started], started)
    has = current >= 0
    leg = current[has]
    span = legs.t1[leg] - legs.t0[leg]
    frac = np.where(span > 0, (t[has] - legs.t0[leg]) / np.where(span > 0, span, 1.0), 1.0)
    frac = np.clip(frac, 0.0, 1.0)[:, None]
    xy[has] = legs.start[leg] + frac * (legs.end[leg] - legs.start[leg])
    return xy


def night_tables(model: NightModel, replication: int) -> dict[str, pd.DataFrame]:
    """The per-replication trace tables (threats, routes, units, shots) of a night already run.

    ``model`` must have been built with ``log_shots=True`` and run.
    """

    if model.outcome is None:
        raise ValueError("the night has not been run yet")
    scenario = model.scenario
    batch, units = model.threat_batch, model.unit_batch
    projection = model.projection
    n, n_units = len(batch), len(units)
    site_ids, target_ids = list(scenario.launch_sites), list(scenario.targets)

    end_lonlat = projection.to_lonlat(_positions_at(model, model.threat_end_time)).reshape(-1, 2)
    killer = np.asarray(model.threat_killer, dtype=np.int64)
    unit_group = np.asarray(units.group, dtype=np.int64)
    killer_group = [
        units.group_ids[unit_group[k]] if k != NO_UNIT else None for k in killer.tolist()
    ]
    group_of = np.asarray(batch.group, dtype=np.int64)
    hit = np.asarray(model.threat_hit, dtype=bool)
    threats = pd.DataFrame(
        {
            "replication": np.full(n, replication, dtype=np.int64),
            "threat": np.arange(n, dtype=np.int64),
            "group": [batch.group_ids[g] for g in group_of.tolist()],
            "type": [batch.type_ids[g] for g in group_of.tolist()],
            "class": [CLASSES[c] for c in np.asarray(batch.cls).tolist()],
            "launch_site": [site_ids[s] for s in np.asarray(batch.site).tolist()],
            "target": [target_ids[s] for s in np.asarray(batch.target).tolist()],
            "launch_time_s": np.asarray(batch.t_launch, dtype=float),
            "end_time_s": np.asarray(model.threat_end_time, dtype=float),
            "state": [STATE_NAMES[s] for s in np.asarray(model.threat_state).tolist()],
            "killed_by": pd.Series(killer_group, dtype=object),
            "killed_by_unit": killer,
            "hit": hit,
            "end_lon": end_lonlat[:, 0],
            "end_lat": end_lonlat[:, 1],
        }
    )

    n_points = np.asarray(batch.n_points, dtype=np.int64)
    owner = np.repeat(np.arange(n, dtype=np.int64), n_points)
    point = np.arange(int(n_points.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(n_points) - n_points, n_points
    )
    route_lonlat = projection.to_lonlat(batch.waypoints[owner, point]).reshape(-1, 2)
    # when the threat passes each point if it flies on: launch, then the end of each leg
    # (legs are ordered by threat, then along the route, one fewer than the points)
    point_time = np.empty(len(owner))
    first = point == 0
    point_time[first] = batch.t_launch
    point_time[~first] = batch.legs.t1
    routes = pd.DataFrame(
        {
            "replication": np.full(len(owner), replication, dtype=np.int64),
            "threat": owner,
            "point": point,
            "time_s": point_time,
            "lon": route_lonlat[:, 0],
            "lat": route_lonlat[:, 1],
        }
    )

    unit_lonlat = projection.to_lonlat(units.xy).reshape(-1, 2)
    kinds = [scenario.defence_type(gid).kind for gid in units.group_ids]
    credited = killer[killer != NO_UNIT]
    unit_cols: dict[str, object] = {
        "replication": np.full(n_units, replication, dtype=np.int64),
        "unit": np.arange(n_units, dtype=np.int64),
        "group": [units.group_ids[g] for g in unit_group.tolist()],
        "type": [units.type_ids[g] for g in unit_group.tolist()],
        "kind": [kinds[g] for g in unit_group.tolist()],
        "lon": unit_lonlat[:, 0],
        "lat": unit_lonlat[:, 1],
    }
    radius = np.asarray(units.radius_km, dtype=float).reshape(n_units, len(CLASSES))
    for k, cls in enumerate(CLASSES):
        unit_cols[f"radius_km.{cls}"] = radius[:, k]
    unit_cols["shots"] = np.asarray(model.unit_shots, dtype=np.int64)
    unit_cols["kills"] = np.bincount(credited, minlength=n_units).astype(np.int64)
    units_df = pd.DataFrame(unit_cols)

    log = model.outcome.shot_log
    shots = pd.DataFrame(
        {
            "replication": np.full(len(log), replication, dtype=np.int64),
            "time_s": np.array([s[0] for s in log], dtype=float),
            "unit": np.array([s[1] for s in log], dtype=np.int64),
            "threat": np.array([s[2] for s in log], dtype=np.int64),
            "rounds": np.array([s[3] for s in log], dtype=np.int64),
        }
    )
    return {"threats": threats, "routes": routes, "units": units_df, "shots": shots}


def scenario_tables(scenario: Scenario) -> dict[str, pd.DataFrame]:
    """The replication-independent trace tables: launch sites and targets with lon/lat."""
    sites = pd.DataFrame(
        {
            "site": list(scenario.launch_sites),
            "name": [s.name or k for k, s in scenario.launch_sites.items()],
            "lon": [float(s.lon) for s in scenario.launch_sites.values()],
            "lat": [float(s.lat) for s in scenario.launch_sites.values()],
        },
        columns=list(_SCHEMAS["sites"]),
    )
    targets = pd.DataFrame(
        {
            "target": list(scenario.targets),
            "name": [t.name or k for k, t in scenario.targets.items()],
            "lon": [float(t.lon) for t in scenario.targets.values()],
            "lat": [float(t.lat) for t in scenario.targets.values()],
        },
        columns=list(_SCHEMAS["targets"]),
    )
    return {"sites": sites, "targets": targets}


def record_traces(
    scenario: Scenario, seed: int, replications: Sequence[int] | Iterable[int], *, point: int = 0
) -> dict[str, pd.DataFrame]:
    """Re-run the given replications of a scenario and return their full trace tables.

    Seeding is exactly that of ``sim.experiments.replications`` (``replication_rng(seed, point,
    r)``), so the counts in the trace of replication ``r`` equal row ``r`` of the runs table.
    """
    from sim.experiments.replications import replication_rng
    from sim.night.laydown import NightPlan
    from sim.night.model import NightModel

    plan = None if scenario.has_distributions else NightPlan.from_scenario(scenario)
    parts: dict[str, list[pd.DataFrame]] = {n: [] for n in ("threats", "routes", "units", "shots")}
    for r in replications:
        model = NightModel(
            scenario, rng=replication_rng(seed, point, int(r)), plan=plan, log_shots=True
        )
        model.run()
        for name, table in night_tables(model, int(r)).items():
            parts[name].append(table)
    tables = {
        name: pd.concat(frames, ignore_index=True) if frames else _empty(name)
        for name, frames in parts.items()
    }
    tables.update(scenario_tables(scenario))
    attrs = {"scenario": scenario.name, "seed": int(seed), "point": int(point)}
    for table in tables.values():
        table.attrs = dict(attrs)
    return {name: tables[name] for name in TRACE_TABLES}


# --------------------------------------------------------------------------- files


def _parquet_bytes(table: pd.DataFrame) -> bytes:
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(arrow, sink)
    return sink.getvalue()


def traces_to_bytes(tables: Mapping[str, pd.DataFrame]) -> dict[str, bytes]:
    """Serialise trace tables to Parquet: ``{"trace-<name>.parquet": bytes}``.

    This is the form ``sim.results.files.write_results(extra_files=...)`` takes, so traces are
    written atomically with the rest of the results folder.
    """
    unknown = sorted(set(tables) - set(TRACE_TABLES))
    if unknown:
        raise ValueError(f"unknown trace tables {unknown}; expected {list(TRACE_TABLES)}")
    return {trace_file(name): _parquet_bytes(table) for name, table in tables.items()}


def write_traces(directory: Path | str, tables: Mapping[str, pd.DataFrame]) -> list[Path]:
    """Write trace tables as ``trace-<name>.parquet`` files into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in traces_to_bytes(tables).items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written


def read_traces(directory: Path | str) -> dict[str, pd.DataFrame]:
    """Read every ``trace-<name>.parquet`` of a results folder (all must exist)."""
    directory = Path(directory)
    return {name: pd.read_parquet(directory / trace_file(name)) for name in TRACE_TABLES}


def counts_from_trace(threats: pd.DataFrame) -> dict[str, int]:
    """Outcome counts of one replication's threats, named like the runs-table columns."""
    counts: dict[str, int] = {}
    state = threats["state"]
    cls = threats["class"]
    per_outcome = {
        "launched": pd.Series(True, index=threats.index),
        "shot_down": state == "shot_down",
        "suppressed": state == "suppressed",
        "leaked": state == "leaked",
        "failed": state == "failed",
    }
    per_outcome["intercepted"] = per_outcome["shot_down"] | per_outcome["suppressed"]
    for outcome, mask in per_outcome.items():
        for c in CLASSES:
            counts[f"{outcome}.{c}"] = int((mask & (cls == c)).sum())
        counts[f"{outcome}.total"] = int(mask.sum())
    return counts
