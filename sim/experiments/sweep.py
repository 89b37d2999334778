"""`salvo sweep`: run a prepared experiment on any executor, resumable.

``run_sweep`` runs design point ``p``, replication ``r`` of a
`sim.spec.experiment.PreparedExperiment` with ``numpy.random.SeedSequence(seed,
spawn_key=(p, r))`` on the executor asked for, writes finished replications in chunks under
``DIR/.chunks/`` as they complete (`sim.experiments.resumable`) and finally the outputs of
`sim.experiments.sweep_outputs`. An experiment whose design points are campaigns is run by
`sim.experiments.campaigns`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from sim.experiments.replications import Task, run_task
from sim.experiments.resumable import ChunkRun, RunOptions, run_resumable
from sim.experiments.sweep_outputs import (
    HEAD_COLUMNS,
    SweepResult,
    complete_sweep_result,
    design_schema,
    design_values,
    with_design,
    write_sweep_outputs,
)
from sim.results.chunks import ChunkStore
from sim.results.files import (
    write_parquet_streamed,
)
from sim.results.statistics import SWEEP_GROUPS, SWEEP_METRICS, SWEEP_STATS, sweep_point_stats
from sim.results.tables import design_cell, sobol_lines, text_table
from sim.spec.experiment import PreparedExperiment
from sim.vocab import (
    CLASSES,
    RUNS_FILE,
)

# rows per row group of runs.parquet (bounds the memory used to assemble it)
ROW_GROUP = 4096


def run_sweep(
    prepared: PreparedExperiment,
    out: str | Path,
    *,
    workers: int | None = None,
    dask: str | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    chunk_size: int | None = None,
    command: str = "sweep",
) -> SweepResult:
    """Run every replication of every design point not yet in `out`, then write the outputs.

    Without `resume`/`force` an existing `out` is refused (ResultsFolderError), as is, with
    `resume`, a folder of a different experiment. Ctrl-C raises RunInterrupted after
    stopping the workers; what finished is kept for `resume`. A campaign experiment is run by
    `sim.experiments.campaigns.run_campaign_sweep`.
    """
    out = Path(out)
    options = RunOptions(workers, dask, resume, force, progress, chunk_size)
    if prepared.is_campaign:
        from sim.experiments import campaigns as campaign_runner

        return campaign_runner.run_campaign_sweep(
            prepared, out, command=command, **dataclasses.asdict(options)
        )

    def save(store: ChunkStore, rows: list[dict]) -> list[dict]:
        store.write(rows)
        return rows

    return run_resumable(
        out,
        fingerprint=prepared.fingerprint,
        name=prepared.name,
        seed=prepared.seed,
        points=len(prepared.points),
        replications=prepared.replications,
        fn=run_task,
        make_task=lambda point, block: Task(
            prepared.pickled_scenario(point), point, prepared.seed, block
        ),
        save=save,
        complete=lambda: complete_sweep_result(out),
        finalise=lambda chunks: _finalise(prepared, out, chunks, command=command),
        options=options,
    )


def _finalise(
    prepared: PreparedExperiment, out: Path, chunks: ChunkRun, *, command: str
) -> SweepResult:
    """Chunks -> runs.parquet, summary.csv, parameters.csv, sensitivity.csv, manifest.json."""
    n_points, reps = len(prepared.points), prepared.replications
    store = chunks.store
    files = store.files()
    head = HEAD_COLUMNS
    outcome_columns = [(n, t) for n, t in store.columns() if n not in dict(head)]
    chunk_columns = head + outcome_columns
    schema, converters = design_schema(prepared, head, outcome_columns)

    summary_rows: list[dict[str, Any]] = []
    counted = [
        f"{outcome}.{cls}" for outcome in ("launched", "intercepted", "leaked") for cls in CLASSES
    ]

    def tables() -> Iterator[pa.Table]:
        # chunks are contiguous replication ranges: streamed in order, one at a time (so the
        # file's bytes never depend on how the work was cut or resumed)
        for point in range(n_points):
            design = design_values(prepared, converters, point)
            counts: dict[str, list[np.ndarray]] = {c: [] for c in counted}
            expected = 0
            for path in files.get(point, []):
                chunk = ChunkStore.read_table([path], chunk_columns)
                got = chunk.column("replication").to_pylist()
                if got != list(range(expected, expected + len(got))):
                    raise RuntimeError(f"{path}: replications {got} do not follow {expected - 1}")
                expected += len(got)
                for column in counted:
                    counts[column].append(chunk.column(column).to_numpy())
                yield with_design(chunk, schema, design, len(got))
            if expected != reps:
                raise RuntimeError(f"design point {point} has {expected} of {reps} replications")
            frame = pd.DataFrame({c: np.concatenate(v) for c, v in counts.items()})
            stats = sweep_point_stats(frame)
            summary_rows.append({"point": point, **design, "replications": reps, **stats})

    write_parquet_streamed(out / RUNS_FILE, schema, tables(), ROW_GROUP)
    return write_sweep_outputs(
        prepared,
        out,
        chunks,
        _summary_frame(summary_rows),
        command=command,
        inputs={"experiment": prepared.path, "scenario": prepared.scenario_path},
        texts={"experiment": prepared.text, "scenario": prepared.scenario_text},
    )


def _summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """summary.csv: groups that no design point launches are left out."""
    frame = pd.DataFrame(rows)
    drop = []
    for group in SWEEP_GROUPS:
        if group != "total" and not (frame[f"launched.{group}"] > 0).any():
            drop.append(f"launched.{group}")
            drop += [f"{metric}.{group}.{stat}" for metric in SWEEP_METRICS for stat in SWEEP_STATS]
    return frame.drop(columns=drop)


def _pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{100 * x:.1f}"


def _num(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.1f}"


def format_sweep(prepared: PreparedExperiment, result: SweepResult, *, max_rows: int = 20) -> str:
    """A short report: intercept rate and leaked per design point (and Sobol' indices)."""
    if prepared.is_campaign:
        from sim.experiments import campaigns as campaign_runner

        return campaign_runner.format_campaign_sweep(prepared, result, max_rows=max_rows)
    summary = result.summary
    lines = [
        f"experiment {prepared.name}: {len(prepared.points)} design points x "
        f"{prepared.replications} replications, seed {prepared.seed}"
        + (" (already complete)" if result.already_complete else ""),
        "",
    ]
    columns = [e.column for e in prepared.entries]
    # short names here; summary.csv names the columns by path
    headers = ["point", *(e.name for e in prepared.entries)]
    headers += ["intercept rate % [95% CI]", "leaked [p05–p95]"]
    rows = []
    for _, row in summary.head(max_rows).iterrows():
        rate = (
            f"{_pct(row['intercept_rate.total.mean'])} "
            f"[{_pct(row['intercept_rate.total.ci95_low'])}–"
            f"{_pct(row['intercept_rate.total.ci95_high'])}]"
        )
        leaked = (
            f"{_num(row['leaked.total.mean'])} "
            f"[{_num(row['leaked.total.p05'])}–{_num(row['leaked.total.p95'])}]"
        )
        rows.append([str(int(row["point"])), *(design_cell(row[c]) for c in columns), rate, leaked])
    lines += text_table(headers, rows)
    if len(summary) > max_rows:
        lines.append(f"... {len(summary) - max_rows} more design points in summary.csv")
    if result.sensitivity is not None:
        lines += sobol_lines(result.sensitivity.to_dict("records"))
    return "\n".join(lines) + "\n"
