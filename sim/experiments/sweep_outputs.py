"""What every sweep writes, of nights or of campaigns: the design columns of runs.parquet,
summary.csv, parameters.csv, Sobol' indices and the manifest.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from sim.experiments.resumable import ChunkRun
from sim.results.files import (
    json_bytes,
    read_json_or_none,
    write_bytes_atomic,
)
from sim.results.manifest import build_manifest
from sim.spec.experiment import PreparedExperiment, SobolDesign, sobol_problem
from sim.spec.yamlio import text_sha256
from sim.vocab import (
    MANIFEST_FILE,
    PARAMETERS_FILE,
    RUNS_FILE,
    SENSITIVITY_FILE,
    SWEEP_SUMMARY_FILE,
)


@dataclass
class SweepResult:
    """What a sweep produced (the files are in `out`)."""

    out: Path
    summary: pd.DataFrame
    sensitivity: pd.DataFrame | None
    manifest: dict
    ran: int  # replications run by this call
    already_complete: bool = False
    files: list[str] = field(default_factory=list)


def complete_sweep_result(out: Path) -> SweepResult:
    """A finished results folder, as `run_sweep` would have returned it."""
    manifest = read_json_or_none(out / MANIFEST_FILE) or {}
    summary = pd.read_csv(out / SWEEP_SUMMARY_FILE)
    sens_file = out / SENSITIVITY_FILE
    sensitivity = pd.read_csv(sens_file) if sens_file.exists() else None
    files = list((manifest.get("experiment") or {}).get("files", []))
    return SweepResult(out, summary, sensitivity, manifest, 0, already_complete=True, files=files)


def _column_type(values: list[Any]) -> tuple[pa.DataType, Callable[[Any], Any]]:
    """Arrow type of a design column and how to convert its values."""
    if all(isinstance(v, bool) for v in values):
        return pa.bool_(), bool
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64(), int
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return pa.float64(), float
    if all(isinstance(v, str) for v in values):
        return pa.string(), str
    return pa.string(), lambda v: json.dumps(v, sort_keys=True, default=str)


def design_schema(
    prepared: PreparedExperiment,
    head: list[tuple[str, pa.DataType]],
    outputs: list[tuple[str, pa.DataType]],
) -> tuple[pa.Schema, dict[str, Callable[[Any], Any]]]:
    """Schema of a sweep's runs.parquet (`head` columns, the design columns with their kind,
    name and path as field metadata, then `outputs`), and how to convert each design column's
    values."""
    design_fields, converters = [], {}
    for entry in prepared.entries:
        values = [p.values[entry.name] for p in prepared.points]
        dtype, convert = _column_type(values)
        converters[entry.column] = convert
        meta = {"salvo.kind": entry.kind, "salvo.name": entry.name}
        if entry.path:
            meta["salvo.path"] = entry.path
        design_fields.append(pa.field(entry.column, dtype, metadata=meta))
    schema = pa.schema(
        [pa.field(n, t) for n, t in head] + design_fields + [pa.field(n, t) for n, t in outputs],
        metadata={"salvo.experiment": prepared.name, "salvo.seed": str(prepared.seed)},
    )
    return schema, converters


def design_values(
    prepared: PreparedExperiment, converters: dict[str, Callable[[Any], Any]], point: int
) -> dict[str, Any]:
    """Column -> value of design point `point`, converted for its runs.parquet column."""
    return {c: converters[c](v) for c, v in prepared.design_row(point).items()}


def with_design(
    chunk: pa.Table, schema: pa.Schema, design: dict[str, Any], rows: int | None = None
) -> pa.Table:
    """Rows of a chunk as rows of runs.parquet: `schema`'s columns, the design columns filled
    with the design point's values."""
    rows = len(chunk) if rows is None else rows
    arrays = [
        pa.array([design[name]] * rows, type=schema.field(name).type)
        if name in design
        else chunk.column(name)
        for name in schema.names
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


HEAD_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("point", pa.int64()),
    ("replication", pa.int64()),
    ("seed", pa.int64()),
]


def write_sweep_outputs(
    prepared: PreparedExperiment,
    out: Path,
    chunks: ChunkRun,
    summary: pd.DataFrame,
    *,
    command: str,
    inputs: dict[str, Path],
    texts: dict[str, str],
    kind: str | None = None,
    sensitivity_outputs: dict[str, str] | None = None,
) -> SweepResult:
    """After runs.parquet: summary.csv, parameters.csv, sensitivity.csv (Sobol' designs, of
    `sensitivity_outputs`) and manifest.json (the input files `inputs`, the sha256 and text of
    `texts` under "experiment", manifest kind `kind` if given); the chunks go."""
    n_points, reps = len(prepared.points), prepared.replications
    written = [RUNS_FILE, SWEEP_SUMMARY_FILE, PARAMETERS_FILE]
    write_bytes_atomic(out / SWEEP_SUMMARY_FILE, summary.to_csv(index=False).encode("utf-8"))
    write_bytes_atomic(
        out / PARAMETERS_FILE,
        parameters_frame(prepared).to_csv(index=False).encode("utf-8"),
    )
    sensitivity = None
    if isinstance(prepared.experiment.design, SobolDesign):
        sensitivity = sobol_indices(prepared, summary, sensitivity_outputs)
        write_bytes_atomic(out / SENSITIVITY_FILE, sensitivity.to_csv(index=False).encode("utf-8"))
        written.append(SENSITIVITY_FILE)
    written.append(MANIFEST_FILE)

    manifest = build_manifest(
        command=command,
        inputs=inputs,
        seed=prepared.seed,
        replications=reps,
        wall_time_s=chunks.wall_time_s,
        workers=int(chunks.executor.get("workers", 1)),
    )
    if kind is not None:
        manifest["kind"] = kind
    manifest["experiment"] = {
        "name": prepared.name,
        "description": prepared.experiment.description,
        "fingerprint": prepared.fingerprint,
        **{f"{key}_sha256": text_sha256(text) for key, text in texts.items()},
        **{f"{key}_text": text for key, text in texts.items()},
        "points": n_points,
        "replications_total": n_points * reps,
        "replications_run_in_this_session": chunks.ran,
        "replications_resumed": chunks.already,
        "files": written,
    }
    manifest["design"] = prepared.describe()
    manifest["executor"] = chunks.executor
    write_bytes_atomic(out / MANIFEST_FILE, json_bytes(manifest))
    shutil.rmtree(chunks.store.folder, ignore_errors=True)
    return SweepResult(out, summary, sensitivity, manifest, chunks.ran, files=written)


def parameters_frame(prepared: PreparedExperiment) -> pd.DataFrame:
    """parameters.csv: every parameter and derived value with its column, kind and range."""
    rows = []
    for entry in prepared.entries:
        row: dict[str, Any] = {
            "name": entry.name,
            "column": entry.column,
            "kind": entry.kind,
            "path": entry.path or "",
        }
        if entry.section == "parameters":
            spec = prepared.experiment.parameters[entry.name]
            row["values"] = "" if spec.values is None else json.dumps(spec.values)
            row["low"] = "" if spec.low is None else spec.low
            row["high"] = "" if spec.high is None else spec.high
            row["distribution"] = (spec.distribution or "uniform") if spec.values is None else ""
            row["expression"] = ""
            row["description"] = spec.description
        else:
            derived = prepared.experiment.derived[entry.name]
            row.update(values="", low="", high="", distribution="", expression=derived.value)
            row["description"] = derived.description
        rows.append(row)
    return pd.DataFrame(rows)


SENSITIVITY_OUTPUTS: dict[str, str] = {
    "intercept_rate.total": "intercept_rate.total.mean",
    "leaked.total": "leaked.total.mean",
}


def sobol_indices(
    prepared: PreparedExperiment,
    summary: pd.DataFrame,
    outputs: dict[str, str] | None = None,
) -> pd.DataFrame:
    """First-order and total Sobol' indices (SALib) of the per-point means of each output
    (output name -> summary.csv column; default SENSITIVITY_OUTPUTS)."""
    from SALib.analyze import sobol as sobol_analyze

    problem = sobol_problem(prepared.experiment)
    rows = []
    for output, column in (outputs or SENSITIVITY_OUTPUTS).items():
        y = summary[column].to_numpy(dtype=float)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            si = sobol_analyze.analyze(
                problem,
                y,
                calc_second_order=False,
                conf_level=0.95,
                num_resamples=200,
                seed=prepared.design_seed,
            )
        for k, name in enumerate(problem["names"]):
            spec = prepared.experiment.parameters[name]
            rows.append(
                {
                    "output": output,
                    "parameter": name,
                    "path": spec.path or "",
                    "kind": spec.kind,
                    "S1": float(si["S1"][k]),
                    "S1_conf": float(si["S1_conf"][k]),
                    "ST": float(si["ST"][k]),
                    "ST_conf": float(si["ST_conf"][k]),
                }
            )
    return pd.DataFrame(rows)
