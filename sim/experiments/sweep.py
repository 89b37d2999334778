"""`salvo sweep`: run a prepared experiment on any executor, resumable.

``run_sweep`` runs design point ``p``, replication ``r`` of a
`sim.spec.experiment.PreparedExperiment` with ``numpy.random.SeedSequence(seed, spawn_key=(p,
r))`` on the executor asked for, writes finished replications in chunks under ``DIR/.chunks/``
as they complete and finally ``runs.parquet``, ``summary.csv``, ``parameters.csv``,
``manifest.json`` (and ``sensitivity.csv`` for Sobol designs). ``run_resumable`` is the
resumable run shared with campaign sweeps (``sim.experiments.campaigns``), which run
experiments whose design points are campaigns.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sized
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from sim import __version__
from sim.experiments.runner import ExecutorError, Progress, Task, chunked, make_executor, run_task
from sim.results.chunks import ChunkStore
from sim.results.files import (
    ResultsFolderError,
    json_bytes,
    write_bytes_atomic,
    write_parquet_streamed,
)
from sim.results.manifest import build_manifest, text_sha256
from sim.results.statistics import SWEEP_GROUPS, SWEEP_METRICS, SWEEP_STATS, sweep_point_stats
from sim.results.tables import design_cell, sobol_lines, text_table
from sim.spec.experiment import PreparedExperiment, SobolDesign, sobol_problem
from sim.vocab import (
    CHUNKS_DIR,
    CLASSES,
    MANIFEST_FILE,
    PARAMETERS_FILE,
    RUNS_FILE,
    SENSITIVITY_FILE,
    STATE_FILE,
    SWEEP_SUMMARY_FILE,
)

# rows per row group of runs.parquet (bounds the memory used to assemble it)
ROW_GROUP = 4096


# --------------------------------------------------------------------------- running


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep: the finished replications are saved; `--resume` goes on."""

    def __init__(self, out: Path, done: int, total: int) -> None:
        self.out, self.done, self.total = out, done, total
        super().__init__(f"interrupted with {done} of {total} replications saved in {out}")


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


def default_chunk_size(total: int, replications: int, workers: int) -> int:
    """Replications per task: about four tasks per worker, at most 50 and one point's worth."""
    per_worker = -(-total // (4 * max(1, workers)))
    return max(1, min(50, replications, per_worker))


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_results_folder(out: Path) -> bool:
    names = {p.name for p in out.iterdir()}
    return not names or bool(names & {CHUNKS_DIR, MANIFEST_FILE, RUNS_FILE})


def _stored_fingerprint(out: Path, section: str = "experiment") -> str | None:
    state = read_json(out / CHUNKS_DIR / STATE_FILE)
    if state is None:
        manifest = read_json(out / MANIFEST_FILE) or {}
        state = manifest.get(section) if isinstance(manifest.get(section), dict) else {}
    value = state.get("fingerprint") if state else None
    return value if isinstance(value, str) else None


def check_results_folder(
    out: Path,
    fingerprint: str,
    *,
    resume: bool,
    force: bool,
    command: str = "sweep",
    section: str = "experiment",
    inputs: str = "experiment, scenario, seed or replications",
) -> bool:
    """Whether `out` may be used as asked (ResultsFolderError if not); True if it is a finished
    folder of the same inputs, so `resume` has nothing to run.

    Refused: an existing `out` without `resume`/`force`; with `resume` a folder not written by
    `salvo COMMAND` or holding other inputs (its fingerprint, stored in `.chunks/state.json` or
    under `manifest[section]`, differs); with `force` a folder that is not a results folder.
    """
    chunks = out / CHUNKS_DIR
    if out.exists() and not out.is_dir():
        raise ResultsFolderError(out, f"{out} exists and is not a folder")
    if not out.exists():
        return False
    if resume:
        stored = _stored_fingerprint(out, section)
        # (a run killed before it wrote its state leaves at most an empty .chunks/)
        leftover = {p.name for p in out.iterdir()} - {CHUNKS_DIR}
        if stored is None and (leftover or ChunkStore(chunks).files()):
            raise ResultsFolderError(
                out,
                f"results folder {out} was not written by salvo {command}; use --force to "
                "replace it or another --out",
            )
        if stored is not None and stored != fingerprint:
            raise ResultsFolderError(
                out,
                f"results folder {out} holds a different {section} ({inputs} differ); "
                "--resume needs the same inputs. Use --force to start over or another --out",
            )
        return stored is not None and not chunks.exists()
    if force:
        if not _is_results_folder(out):
            raise ResultsFolderError(
                out,
                f"{out} exists and is not a salvo results folder; refusing to replace it "
                "with --force",
            )
        return False
    raise ResultsFolderError(
        out,
        f"results folder {out} exists; use --resume to finish an interrupted {command} "
        "or --force to overwrite it",
    )


def open_chunk_store(
    out: Path, state: dict[str, Any], *, points: int, replications: int, force: bool
) -> tuple[ChunkStore, dict[int, set[int]]]:
    """The chunk store of `out` (emptied first with `force`), its state file written once,
    half-written chunks removed; and the replications it holds by design point."""
    chunks = out / CHUNKS_DIR
    if force and out.exists():
        shutil.rmtree(out)
    chunks.mkdir(parents=True, exist_ok=True)
    state_file = chunks / STATE_FILE
    if not state_file.exists():
        write_bytes_atomic(state_file, json_bytes(state))
    store = ChunkStore(chunks)
    store.remove_temporary()
    try:
        done = store.done()
    except ValueError as err:
        raise ResultsFolderError(out, f"{out}: {err}") from None
    for point, finished in done.items():
        if point >= points or max(finished) >= replications:
            raise ResultsFolderError(
                out, f"{chunks} holds replications outside this experiment's design"
            )
    return store, done


def missing_blocks(
    done: dict[int, set[int]], points: int, replications: int, size: int
) -> Iterator[tuple[int, tuple[int, ...]]]:
    """(point, replications) of the tasks still to run, at most `size` replications each.

    A block never spans replications saved in another chunk, so chunks stay contiguous ranges
    that can be streamed in order at the end."""
    for point in range(points):
        missing = [r for r in range(replications) if r not in done.get(point, ())]
        for run in _consecutive(missing):
            for block in chunked(run, size):
                yield point, block


def run_chunks(
    executor: Any,
    fn: Callable[[Any], Any],
    tasks: Iterator[Any],
    save: Callable[[Any], Sized],
    *,
    out: Path,
    total: int,
    already: int,
    progress: bool,
) -> int:
    """Run `fn(task)` for every task on `executor`; `save(result)` keeps each result as it
    arrives and returns its rows (one per replication). Returns the replications run.

    Ctrl-C raises SweepInterrupted, a dead worker ExecutorError, both saying what is saved.
    """
    bar = Progress(total, enabled=progress, initial=already)
    ran = 0
    try:
        with executor:
            for result in executor.map_unordered(fn, tasks):
                rows = save(result)
                ran += len(rows)
                bar(rows)  # type: ignore[arg-type]  # only its length is used
    except KeyboardInterrupt:
        bar.close()
        raise SweepInterrupted(out, already + ran, total) from None
    except BrokenProcessPool as err:
        bar.close()
        raise ExecutorError(
            f"a worker process died ({err}); {already + ran} of {total} replications are "
            f"saved in {out}/: finish with --resume"
        ) from None
    bar.close()
    return ran


@dataclass(frozen=True)
class RunOptions:
    """How a sweep or campaign runs (never what it computes): the executor, resume or start
    over, progress on stderr, replications per task."""

    workers: int | None = None
    dask: str | None = None
    resume: bool = False
    force: bool = False
    progress: bool = True
    chunk_size: int | None = None


@dataclass
class ChunkRun:
    """What `run_resumable` ran: the chunk store holding every replication, and how."""

    store: ChunkStore
    executor: dict[str, Any]  # the executor's description, for the manifest
    wall_time_s: float
    ran: int  # replications run by this call
    already: int  # replications resumed from saved chunks


R = TypeVar("R")


def run_resumable(
    out: Path,
    *,
    fingerprint: str,
    name: str,
    seed: int,
    points: int,
    replications: int,
    fn: Callable[[Any], Any],
    make_task: Callable[[int, tuple[int, ...]], Any],
    save: Callable[[ChunkStore, Any], Sized],
    complete: Callable[[], R],
    finalise: Callable[[ChunkRun], R],
    options: RunOptions,
    command: str = "sweep",
    section: str = "experiment",
    inputs: str = "experiment, scenario, seed or replications",
    on_open: Callable[[ChunkStore, dict[int, set[int]]], dict[int, set[int]]] | None = None,
) -> R:
    """The run of a sweep or campaign: check `out` (`check_results_folder`; `complete()` if it
    is already finished), run `fn(make_task(point, block))` on the executor for every block of
    replications it does not hold yet, `save(store, result)` each result as it arrives
    (returning its replications), then `finalise` the chunks into the results folder.

    `on_open(store, done)` may look at the chunk store once it is open and return the finished
    replications anew. Ctrl-C raises SweepInterrupted, also while finalising.
    """
    if check_results_folder(
        out,
        fingerprint,
        resume=options.resume,
        force=options.force,
        command=command,
        section=section,
        inputs=inputs,
    ):
        return complete()
    total = points * replications
    executor = make_executor(workers=options.workers, dask=options.dask)
    try:
        state = {
            "fingerprint": fingerprint,
            section: name,
            "seed": seed,
            "replications": replications,
            "points": points,
            "salvo_version": __version__,
        }
        store, done = open_chunk_store(
            out, state, points=points, replications=replications, force=options.force
        )
        if on_open is not None:
            done = on_open(store, done)
        already = sum(len(v) for v in done.values())
        size = options.chunk_size or default_chunk_size(total, replications, executor.workers)
        tasks = (
            make_task(point, block)
            for point, block in missing_blocks(done, points, replications, size)
        )
        started = time.perf_counter()
        ran = run_chunks(
            executor, fn, tasks, functools.partial(save, store), out=out, total=total,
            already=already, progress=options.progress,
        )  # fmt: skip
        chunks = ChunkRun(store, executor.describe(), time.perf_counter() - started, ran, already)
    finally:
        executor.close(abort=True)  # no-op once run_chunks has closed it
    try:
        return finalise(chunks)
    except KeyboardInterrupt:
        raise SweepInterrupted(out, total, total) from None


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
    `resume`, a folder of a different experiment. Ctrl-C raises SweepInterrupted after
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
        complete=lambda: _complete_result(out),
        finalise=lambda chunks: _finalise(prepared, out, chunks, command=command),
        options=options,
    )


def _consecutive(values: list[int]) -> Iterator[list[int]]:
    """Split sorted integers into runs of consecutive values."""
    run: list[int] = []
    for value in values:
        if run and value != run[-1] + 1:
            yield run
            run = []
        run.append(value)
    if run:
        yield run


def _complete_result(out: Path) -> SweepResult:
    """A finished results folder, as `run_sweep` would have returned it."""
    manifest = read_json(out / MANIFEST_FILE) or {}
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


def _summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """summary.csv: groups that no design point launches are left out."""
    frame = pd.DataFrame(rows)
    drop = []
    for group in SWEEP_GROUPS:
        if group != "total" and not (frame[f"launched.{group}"] > 0).any():
            drop.append(f"launched.{group}")
            drop += [f"{metric}.{group}.{stat}" for metric in SWEEP_METRICS for stat in SWEEP_STATS]
    return frame.drop(columns=drop)


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


# --------------------------------------------------------------------------- terminal report


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
