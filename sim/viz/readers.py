"""Reading results files for figures and reports: each reader checks what the figures need and
turns every failure into a ResultsFileError that names the file (so bad input draws nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.path import Path as MplPath

from sim.results.files import ResultsFileError, read_json, read_json_or_none
from sim.vocab import (
    CLASSES,
    MANIFEST_FILE,
    PARAMETERS_FILE,
    RUNS_FILE,
    SENSITIVITY_FILE,
    SUMMARY_FILE,
    SWEEP_SUMMARY_FILE,
    trace_file,
)


def read_optional_json(path: Path) -> dict | None:
    """``read_json`` for a file a folder may lack: None when it is not there."""
    return read_json(path) if path.exists() else None


def readable_manifest(folder: Path) -> dict | None:
    """The folder's manifest.json, or None when it is missing or unreadable: for recognising
    what wrote a folder, where a bad manifest is no error."""
    return read_json_or_none(folder / MANIFEST_FILE)


def experiment_name(manifest: Mapping[str, Any] | None) -> str | None:
    """The experiment's name a sweep's manifest records, if any."""
    experiment = (manifest or {}).get("experiment")
    name = experiment.get("name") if isinstance(experiment, Mapping) else None
    return str(name) if name else None


def input_stem(manifest: Mapping[str, Any] | None, role: str) -> str | None:
    """The file stem of the input the manifest records for ``role`` (e.g. the campaign file)."""
    inputs = (manifest or {}).get("inputs")
    entry = inputs.get(role) if isinstance(inputs, Mapping) else None
    if isinstance(entry, Mapping) and entry.get("path"):
        return Path(str(entry["path"])).stem
    return None


def read_parquet(path: Path, columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read a Parquet table and check it has ``columns``; failures name the file."""
    if not path.is_file():
        raise ResultsFileError(path, "missing")
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for damaged files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ResultsFileError(path, f"not a readable Parquet file ({first})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ResultsFileError(path, f"missing column(s) {', '.join(missing)}")
    return frame


def read_csv(path: Path, columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read a CSV table and check it has ``columns``; failures name the file."""
    if not path.is_file():
        raise ResultsFileError(path, "missing")
    try:
        frame = pd.read_csv(path)
    except Exception as err:  # pandas raises several types for damaged files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ResultsFileError(path, f"not a readable CSV file ({first})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ResultsFileError(path, f"missing column(s) {', '.join(missing)}")
    return frame


@dataclass(frozen=True)
class RunResults:
    """The files of a ``salvo run`` results folder."""

    folder: Path
    runs: pd.DataFrame
    summary: dict
    manifest: dict | None

    @property
    def scenario(self) -> str:
        return str(self.summary.get("scenario", "?"))

    @property
    def replications(self) -> int:
        return int(self.summary.get("replications", len(self.runs)))

    def subtitle(self) -> str:
        seed = self.summary.get("seed")
        seed_text = f" · seed {seed}" if seed is not None else ""
        return f"scenario {self.scenario} · {self.replications} replications{seed_text}"


def read_run(folder: Path) -> RunResults:
    """Read and check runs.parquet, summary.json and (if present) manifest.json."""
    summary = read_json(folder / SUMMARY_FILE)
    for key in ("scenario", "replications", "outcomes", "launched"):
        if key not in summary:
            raise ResultsFileError(folder / SUMMARY_FILE, f"missing key '{key}'")
    outcomes = ("launched", "intercepted", "leaked")
    needed = [f"{o}.{c}" for o in outcomes for c in (*CLASSES, "total")]
    runs = read_parquet(folder / RUNS_FILE, needed)
    if len(runs) == 0:
        raise ResultsFileError(folder / RUNS_FILE, "has no rows")
    manifest = read_optional_json(folder / MANIFEST_FILE)
    return RunResults(folder=folder, runs=runs, summary=summary, manifest=manifest)


_UNIT_SUFFIXES = (
    ("_kmh", "km/h"),
    ("_km", "km"),
    ("_usd", "US$"),
    ("_min", "min"),
    ("_s", "s"),
    ("_h", "h"),
    (".count", "count"),
    ("count", "count"),
)
_PROBABILITY_WORDS = ("pk", "suppression", "prob", "accuracy", "discrimination", "share")


def _parameter_label(name: str, column: str) -> str:
    """'name: dotted.path (unit)', the unit guessed from the field name where it says one."""
    last = column.rsplit(".", 1)[-1]
    unit = next((u for suffix, u in _UNIT_SUFFIXES if column.endswith(suffix)), None)
    if unit is None and any(w in column for w in _PROBABILITY_WORDS):
        unit = "probability"
    label = name if name in (column, last) else f"{name}: {column}"
    return f"{label} ({unit})" if unit else label


@dataclass(frozen=True)
class SweepResults:
    """The files of a ``salvo sweep`` results folder that figures need."""

    folder: Path
    summary: pd.DataFrame
    parameters: pd.DataFrame  # varied parameters only (derived values left out)
    manifest: dict | None

    @property
    def experiment_name(self) -> str:
        """The experiment's name (else the folder's name)."""
        return experiment_name(self.manifest) or self.folder.name

    def subtitle(self) -> str:
        reps = self.summary.get("replications")
        rep_text = f" × {int(reps.iloc[0])} replications" if reps is not None else ""
        seed = (self.manifest or {}).get("seed")
        seed_text = f" · seed {seed}" if seed is not None else ""
        return (
            f"experiment {self.experiment_name} · {len(self.summary)} design points"
            f"{rep_text}{seed_text}"
        )

    def label(self, column: str) -> str:
        row = self.parameters[self.parameters["column"] == column].iloc[0]
        return _parameter_label(str(row["name"]), column)


NIGHT_SWEEP_COLUMNS = ("intercept_rate.total.mean", "leaked.total.mean")


def read_sweep(folder: Path, statistics: Sequence[str] = NIGHT_SWEEP_COLUMNS) -> SweepResults:
    """Read and check summary.csv (with the ``statistics`` columns the figures draw),
    parameters.csv and (if present) manifest.json."""
    parameters = read_csv(folder / PARAMETERS_FILE, ("name", "column"))
    if "expression" in parameters:
        derived = parameters["expression"].astype(object).fillna("").astype(str).str.len() > 0
        parameters = parameters[~derived]
    needed = ["point", *parameters["column"], *statistics]
    summary = read_csv(folder / SWEEP_SUMMARY_FILE, needed)
    if len(summary) == 0:
        raise ResultsFileError(folder / SWEEP_SUMMARY_FILE, "has no design points")
    if len(parameters) == 0:
        raise ResultsFileError(folder / PARAMETERS_FILE, "names no varied parameter")
    manifest = read_optional_json(folder / MANIFEST_FILE)
    return SweepResults(folder, summary, parameters.reset_index(drop=True), manifest)


SENSITIVITY_COLUMNS: tuple[str, ...] = ("output", "parameter", "S1", "S1_conf", "ST", "ST_conf")


def read_sensitivity_table(path: Path) -> pd.DataFrame:
    """A sensitivity.csv of Sobol' indices, checked to have its columns and rows."""
    sensitivity = read_csv(path, SENSITIVITY_COLUMNS)
    if len(sensitivity) == 0:
        raise ResultsFileError(path, "has no rows")
    return sensitivity


def read_sensitivity(folder: Path) -> tuple[pd.DataFrame, SweepResults | None, Path]:
    """sensitivity.csv, and the sweep files beside it when they are there."""
    sensitivity = read_sensitivity_table(folder / SENSITIVITY_FILE)
    sweep = read_sweep(folder) if (folder / PARAMETERS_FILE).exists() else None
    return sensitivity, sweep, folder


_TRACE_COLUMNS: dict[str, tuple[str, ...]] = {
    "threats": (
        "replication",
        "threat",
        "class",
        "state",
        "hit",
        "end_time_s",
        "end_lon",
        "end_lat",
    ),
    "routes": ("replication", "threat", "point", "time_s", "lon", "lat"),
    "units": ("replication", "unit", "kind", "lon", "lat", *(f"radius_km.{c}" for c in CLASSES)),
    "shots": ("replication", "time_s", "unit", "threat", "rounds"),
    "sites": ("site", "name", "lon", "lat"),
    "targets": ("target", "name", "lon", "lat"),
}


def read_trace_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """Read and check the trace files of a results folder."""
    return {
        name: read_parquet(folder / trace_file(name), columns)
        for name, columns in _TRACE_COLUMNS.items()
    }


@dataclass(frozen=True)
class Borders:
    """Outlines of a GeoJSON file in lon/lat degrees: polygon rings (filled), lines, and the
    polygon rings of each named feature (for labels)."""

    rings: list[np.ndarray]
    lines: list[np.ndarray]
    named: list[tuple[str, list[np.ndarray]]]

    def label_points(
        self, lon: tuple[float, float], lat: tuple[float, float], grid: int = 24
    ) -> list[tuple[str, float, float]]:
        """A label point inside each named feature that shows enough of itself in the view:
        the visible grid point nearest to the middle of the feature's visible grid points."""
        gx, gy = np.meshgrid(np.linspace(*lon, grid + 2)[1:-1], np.linspace(*lat, grid + 2)[1:-1])
        points = np.column_stack([gx.ravel(), gy.ravel()])
        labels = []
        for name, rings in self.named:
            inside = np.zeros(len(points), dtype=bool)
            for ring in rings:
                inside ^= MplPath(ring).contains_points(points)  # holes toggle back out
            if inside.sum() < 4:
                continue
            visible = points[inside]
            middle = visible.mean(axis=0)
            x, y = visible[np.argmin(((visible - middle) ** 2).sum(axis=1))]
            labels.append((name, float(x), float(y)))
        return labels


def _geometry_parts(geometry: Mapping[str, Any]) -> list[tuple[list, bool]]:
    """(coordinates, is a polygon ring) of every part of a GeoJSON geometry."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        return [(ring, True) for ring in coords]
    if kind == "MultiPolygon":
        return [(ring, True) for polygon in coords for ring in polygon]
    if kind == "LineString":
        return [(coords, False)]
    if kind == "MultiLineString":
        return [(line, False) for line in coords]
    if kind == "GeometryCollection":
        return [part for g in geometry.get("geometries", []) for part in _geometry_parts(g)]
    raise ValueError(f"unsupported geometry type {kind!r}")


def read_borders(path: Path | str) -> Borders:
    """Read outlines from a GeoJSON FeatureCollection, Feature or geometry (lon/lat degrees)."""
    path = Path(path)
    data = read_json(path)
    rings: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    named: list[tuple[str, list[np.ndarray]]] = []
    try:
        if data.get("type") == "FeatureCollection":
            features = data["features"]
        elif data.get("type") == "Feature":
            features = [data]
        else:
            features = [{"type": "Feature", "properties": {}, "geometry": data}]
        for feature in features:
            geometry = feature.get("geometry")
            if not geometry:
                continue
            own: list[np.ndarray] = []
            for coords, is_ring in _geometry_parts(geometry):
                xy = np.asarray(coords, dtype=float).reshape(len(coords), -1)[:, :2]
                if is_ring and len(xy) >= 3:
                    own.append(xy)
                elif len(xy) >= 2:
                    lines.append(xy)
            rings.extend(own)
            name = (feature.get("properties") or {}).get("name")
            if name and own:
                named.append((str(name), own))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise ResultsFileError(path, f"not usable GeoJSON outlines ({err})") from None
    if not rings and not lines:
        raise ResultsFileError(path, "no outlines (polygons or lines) found")
    return Borders(rings=rings, lines=lines, named=named)
