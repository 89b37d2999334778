"""`salvo campaign` and campaign sweeps: replications of campaigns, on any executor, resumable.

One campaign (`run_campaigns`): replication r runs `sim.campaign.model.run_campaign` with
`numpy.random.SeedSequence(seed, spawn_key=(0, r))`
(`sim.experiments.replications.replication_rng`), so the numbers do not depend on the executor,
the number of workers, their order or on resuming. Finished replications are saved in chunks
under ``DIR/.chunks/`` as they complete (their totals in ``.chunks/``, their per-night tables
in ``.chunks/nights/``); at the end the results folder gets ``nights.parquet`` (one row per
replication and day), ``runs.parquet`` (one row per replication: the totals), ``summary.csv``
and ``summary.json`` (statistics of the totals, run-out days) and ``manifest.json``, and the
chunks go.

A campaign experiment (an experiment file naming ``campaign:``, see `sim.spec.experiment`) is run
by `run_campaign_sweep`: design point p, replication r with spawn key (p, r); it writes
``runs.parquet`` (point x replication rows of totals), ``summary.csv`` (one row per design
point), ``parameters.csv``, ``manifest.json`` (and ``sensitivity.csv`` for Sobol' designs),
like a night sweep.

The task function (`run_campaign_task`) is module-level, so it pickles to worker processes and
Dask workers; each worker builds a campaign's `CampaignSetup` once and keeps it for the next
tasks of the same campaign.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import pickle
import shutil
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from sim.campaign.model import CampaignSetup, run_campaign
from sim.experiments.replications import replication_rng
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
from sim.results.chunks import ChunkStore, aligned
from sim.results.files import (
    json_bytes,
    read_json_or_none,
    write_bytes_atomic,
    write_parquet_atomic,
    write_parquet_streamed,
)
from sim.results.manifest import build_manifest
from sim.results.statistics import totals_stats
from sim.results.tables import design_cell, sobol_lines, text_table
from sim.spec import experiment
from sim.spec.campaign import Campaign, load_campaign
from sim.spec.catalog import catalog_texts
from sim.spec.yamlio import inputs_fingerprint, text_sha256
from sim.vocab import (
    CHUNKS_DIR,
    MANIFEST_FILE,
    NIGHTS_FILE,
    RUNS_FILE,
    SUMMARY_FILE,
    SWEEP_SUMMARY_FILE,
)

NIGHTS_DIR = "nights"  # under .chunks/: the per-night tables of the saved chunks
# rows per row group of nights.parquet (bounds the memory used to assemble it)
ROW_GROUP = 16384
# summary.csv / summary.json statistics of every total
STATS: tuple[str, ...] = ("mean", "sd", "ci95_low", "ci95_high", "p05", "p50", "p95")
RAN_OUT = "ran_out_day."
# the totals printed by `salvo campaign` and by `salvo sweep` of a campaign experiment
HEADLINE: tuple[tuple[str, str], ...] = (
    ("intercept_rate", "intercept rate"),
    ("mass_intercept_rate", "mass-night intercept rate"),
    ("cost_exchange", "cost exchange (defender / attacker $)"),
    ("leaked", "leaked"),
    ("hits", "hits"),
    ("defender_cost_usd", "defender spend (interceptors)"),
    ("attacker_cost_usd", "attacker spend (threats launched)"),
    ("drone_ratio_end", "drone ratio at the end"),
)
# Sobol' indices of a campaign sweep: output -> summary.csv column
SENSITIVITY_OUTPUTS: dict[str, str] = {
    "intercept_rate": "intercept_rate.mean",
    "mass_intercept_rate": "mass_intercept_rate.mean",
    "cost_exchange": "cost_exchange.mean",
}


# --------------------------------------------------------------------------- worker side


@dataclass(frozen=True)
class CampaignTask:
    """A chunk of replications of one campaign (pickled) at one design point."""

    campaign: bytes
    point: int
    base_seed: int
    replications: tuple[int, ...]
    keep_nights: bool = True


@dataclass
class CampaignChunk:
    """What a task gives back: one row of totals per replication, and the nights if kept."""

    point: int
    replications: tuple[int, ...]
    runs: pa.Table
    nights: pa.Table | None


# (campaign digest) -> (campaign, set-up): the last few campaigns this process ran
_SETUPS: OrderedDict[bytes, tuple[Campaign, CampaignSetup]] = OrderedDict()
_SETUPS_KEPT = 2


def _campaign_and_setup(blob: bytes) -> tuple[Campaign, CampaignSetup]:
    """The campaign pickled in `blob` and its set-up, built once per process."""
    key = hashlib.sha256(blob).digest()
    if key in _SETUPS:
        _SETUPS.move_to_end(key)
        return _SETUPS[key]
    campaign = pickle.loads(blob)
    entry = (campaign, CampaignSetup.from_campaign(campaign))
    _SETUPS[key] = entry
    while len(_SETUPS) > _SETUPS_KEPT:
        _SETUPS.popitem(last=False)
    return entry


def run_campaign_task(task: CampaignTask) -> CampaignChunk:
    """Run one chunk of campaign replications (the function the executors call)."""
    campaign, setup = _campaign_and_setup(task.campaign)
    rows: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    for r in task.replications:
        rng = replication_rng(task.base_seed, task.point, r)
        nights, totals = run_campaign(campaign, rng, setup=setup)
        rows.append({"point": task.point, "replication": r, "seed": task.base_seed, **totals})
        if task.keep_nights:
            nights.insert(0, "replication", r)
            nights.insert(0, "point", task.point)
            frames.append(nights)
    return CampaignChunk(
        point=task.point,
        replications=task.replications,
        runs=totals_table(rows),
        nights=nights_table(frames) if task.keep_nights else None,
    )


def _arrow_type(key: str, values: list[Any]) -> pa.DataType:
    """Type of a totals column: run-out days are whole days or null; else bool, int, float."""
    if key.startswith(RAN_OUT):
        return pa.int64()
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool | np.bool_) for v in present):
        return pa.bool_()
    if present and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in present
    ):
        return pa.int64()
    return pa.float64()


def totals_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows of totals (point, replication, seed, then the totals) as an Arrow table."""
    keys = list(rows[0])
    arrays = []
    for key in keys:
        values = [row.get(key) for row in rows]
        dtype = _arrow_type(key, values)
        if dtype == pa.float64():
            values = [math.nan if v is None else float(v) for v in values]
        arrays.append(pa.array(values, type=dtype))
    return pa.Table.from_arrays(arrays, names=keys)


def nights_table(frames: list[pd.DataFrame]) -> pa.Table:
    """Per-night tables of some replications as one Arrow table, `date` as a calendar date."""
    table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    if "date" in table.column_names:
        k = table.column_names.index("date")
        table = table.set_column(k, "date", table.column("date").cast(pa.date32()))
    return table.replace_schema_metadata(None)


# --------------------------------------------------------------------------- one campaign


@dataclass
class PreparedCampaign:
    """A checked campaign with the seed and replications to run, and the texts of its input
    files (`files`: role -> path of the template and, if named, calibration and attacker
    fit; `texts`: role -> text, with the campaign's own under "campaign")."""

    campaign: Campaign
    path: Path
    files: dict[str, Path]
    texts: dict[str, str]
    seed: int
    replications: int
    _pickled: bytes | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The campaign's name."""
        return self.campaign.name

    @property
    def text(self) -> str:
        """The campaign file's text."""
        return self.texts["campaign"]

    @property
    def pickled(self) -> bytes:
        """The campaign, pickled for the workers."""
        if self._pickled is None:
            self._pickled = pickle.dumps(self.campaign, protocol=5)
        return self._pickled

    def input_paths(self) -> dict[str, Path]:
        """Role -> file of every input file, the campaign's first."""
        return {"campaign": self.path, **self.files}

    @property
    def fingerprint(self) -> str:
        """sha256 of everything that fixes the numbers: the input files' and catalogue texts,
        the seed and the replications (a resumed folder must match it)."""
        first = [self.texts["campaign"], self.texts["template"], *catalog_texts(), str(self.seed)]
        others = [text for role, text in self.texts.items() if role not in ("campaign", "template")]
        return inputs_fingerprint([*first, *others], self.replications, salt=b"campaign")


def prepare_campaign(
    path: str | Path, *, seed: int | None = None, replications: int = 100
) -> PreparedCampaign:
    """Read and check a campaign file and the files it names (InputError on bad input)."""
    path = Path(path)
    campaign = load_campaign(path)
    files = campaign.input_files()
    texts = {"campaign": path.read_text(encoding="utf-8-sig")}
    texts.update({role: file.read_text(encoding="utf-8-sig") for role, file in files.items()})
    return PreparedCampaign(
        campaign=campaign,
        path=path,
        files=files,
        texts=texts,
        seed=campaign.seed if seed is None else seed,
        replications=replications,
    )


@dataclass
class CampaignResult:
    """What `run_campaigns` produced (the files are in `out`)."""

    out: Path
    summary: dict[str, Any]
    manifest: dict[str, Any]
    ran: int  # replications run by this call
    already_complete: bool = False
    files: list[str] = field(default_factory=list)


def run_campaigns(
    prepared: PreparedCampaign,
    out: str | Path,
    *,
    workers: int | None = None,
    dask: str | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    chunk_size: int | None = None,
) -> CampaignResult:
    """Run every replication of a campaign not yet saved in `out`, then write the outputs.

    An existing `out` is refused without `resume`/`force` (ResultsFolderError), as is, with
    `resume`, a folder of other inputs. Ctrl-C raises `sim.experiments.resumable.RunInterrupted`
    after stopping the workers; what finished is kept for `resume`.
    """
    out = Path(out)
    nights = ChunkStore(out / CHUNKS_DIR / NIGHTS_DIR)

    def open_nights(store: ChunkStore, done: dict[int, set[int]]) -> dict[int, set[int]]:
        nights.folder.mkdir(exist_ok=True)
        nights.remove_temporary()
        nights.discard_unverified()  # its totals chunk is then an orphan, deleted below
        return store.done() if _pair_chunks(store, nights) else done

    def save(store: ChunkStore, chunk: CampaignChunk) -> tuple[int, ...]:
        assert chunk.nights is not None  # the nights first: a totals chunk means both exist
        nights.write_table(chunk.nights, chunk.point, chunk.replications[0])
        return _save_totals(store, chunk)

    def complete() -> CampaignResult:
        manifest = read_json_or_none(out / MANIFEST_FILE) or {}
        summary = read_json_or_none(out / SUMMARY_FILE) or {}
        files = list((manifest.get("campaign") or {}).get("files", []))
        return CampaignResult(out, summary, manifest, 0, already_complete=True, files=files)

    return run_resumable(
        out,
        fingerprint=prepared.fingerprint,
        name=prepared.name,
        seed=prepared.seed,
        points=1,
        replications=prepared.replications,
        fn=run_campaign_task,
        make_task=lambda point, block: CampaignTask(
            prepared.pickled, point, prepared.seed, block, keep_nights=True
        ),
        save=save,
        on_open=open_nights,
        complete=complete,
        finalise=lambda chunks: _finalise_campaign(prepared, out, chunks, nights),
        options=RunOptions(workers, dask, resume, force, progress, chunk_size),
        command="campaign",
        section="campaign",
        inputs="campaign, template, seed or replications",
    )


def _save_totals(store: ChunkStore, chunk: CampaignChunk) -> tuple[int, ...]:
    """Save a chunk's totals (the last write of a chunk); its replications."""
    store.write_table(chunk.runs, chunk.point, chunk.replications[0])
    return chunk.replications


def _pair_chunks(store: ChunkStore, nights_store: ChunkStore) -> bool:
    """Delete totals chunks without their nights chunk and the other way round (a run killed
    between the two writes); True if any was deleted."""
    runs = {p.name: p for paths in store.files().values() for p in paths}
    nights = {p.name: p for paths in nights_store.files().values() for p in paths}
    orphans = [runs[n] for n in runs.keys() - nights.keys()]
    orphans += [nights[n] for n in nights.keys() - runs.keys()]
    for path in orphans:
        path.unlink(missing_ok=True)
    return bool(orphans)


def _check_replications(table: pa.Table, replications: int, what: str) -> None:
    got = table.column("replication").to_pylist()
    if got != list(range(replications)):
        raise RuntimeError(f"{what} has replications {got[:5]}... not 0..{replications - 1}")


# --------------------------------------------------------------------------- statistics


def _none(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def summary_frame(stats: dict[str, dict[str, float]]) -> pd.DataFrame:
    """summary.csv of one campaign: one row per total."""
    rows = []
    for metric, st in stats.items():
        row: dict[str, Any] = {"metric": metric, "n": int(st["n"]), "share": st["share"]}
        row.update({k: st[k] for k in STATS})
        rows.append(row)
    return pd.DataFrame(rows, columns=["metric", "n", "share", *STATS])


def summary_json(prepared: PreparedCampaign, stats: dict[str, dict[str, float]]) -> dict[str, Any]:
    """summary.json of one campaign: the statistics of every total, and the run-out days."""
    calendar = prepared.campaign.calendar
    totals: dict[str, Any] = {}
    ran_out: dict[str, Any] = {}
    for metric, st in stats.items():
        if metric.startswith(RAN_OUT):
            median = _none(st["p50"])
            ran_out[metric[len(RAN_OUT) :]] = {
                "share": st["share"],
                "replications": int(st["n"]),
                "median_day": median,
                "median_date": None
                if median is None
                else (calendar.start + dt.timedelta(days=round(median))).isoformat(),
                "p05_day": _none(st["p05"]),
                "p95_day": _none(st["p95"]),
            }
            continue
        totals[metric] = {
            "n": int(st["n"]),
            "mean": _none(st["mean"]),
            "sd": _none(st["sd"]),
            "ci95": [_none(st["ci95_low"]), _none(st["ci95_high"])],
            "p05": _none(st["p05"]),
            "p50": _none(st["p50"]),
            "p95": _none(st["p95"]),
        }
    return {
        "campaign": prepared.name,
        "replications": prepared.replications,
        "seed": prepared.seed,
        "start": calendar.start.isoformat(),
        "days": calendar.days,
        "totals": totals,
        "ran_out": ran_out,
    }


def _finalise_campaign(
    prepared: PreparedCampaign,
    out: Path,
    chunks: ChunkRun,
    nights_store: ChunkStore,
) -> CampaignResult:
    """Chunks -> nights.parquet, runs.parquet, summary.csv, summary.json, manifest.json."""
    store = chunks.store
    reps = prepared.replications
    metadata = {"salvo.campaign": prepared.name, "salvo.seed": str(prepared.seed)}
    columns = [(n, t) for n, t in store.columns() if n not in ("point", "seed")]
    runs = ChunkStore.read_table(store.files().get(0, []), columns, missing="null")
    _check_replications(runs, reps, "runs")
    night_files = nights_store.files().get(0, [])
    if [p.name for p in night_files] != [p.name for p in store.files().get(0, [])]:
        raise RuntimeError(f"{nights_store.folder}: the nights chunks do not match the totals")

    night_columns = nights_store.columns()
    schema = pa.schema([(n, t) for n, t in night_columns if n != "point"], metadata=metadata)
    write_parquet_streamed(
        out / NIGHTS_FILE,
        schema,
        (
            aligned(feather.read_table(f), night_columns, missing="null")
            .select(schema.names)
            .cast(schema)
            for f in night_files
        ),
        ROW_GROUP,
    )
    write_parquet_atomic(out / RUNS_FILE, runs.replace_schema_metadata(metadata))
    stats = totals_stats(runs.to_pandas())
    summary = summary_json(prepared, stats)
    write_bytes_atomic(
        out / SWEEP_SUMMARY_FILE,
        summary_frame(stats).to_csv(index=False).encode("utf-8"),
    )
    write_bytes_atomic(out / SUMMARY_FILE, json_bytes(summary))
    written = [
        NIGHTS_FILE,
        RUNS_FILE,
        SWEEP_SUMMARY_FILE,
        SUMMARY_FILE,
        MANIFEST_FILE,
    ]
    manifest = build_manifest(
        command="campaign",
        inputs=prepared.input_paths(),
        seed=prepared.seed,
        replications=reps,
        wall_time_s=chunks.wall_time_s,
        workers=int(chunks.executor.get("workers", 1)),
    )
    manifest["kind"] = "campaign"
    calendar = prepared.campaign.calendar
    manifest["campaign"] = {
        "name": prepared.name,
        "description": prepared.campaign.description,
        "start": calendar.start.isoformat(),
        "days": calendar.days,
        "tracked_types": prepared.campaign.tracked_types(),
        "fingerprint": prepared.fingerprint,
        **{f"{role}_sha256": text_sha256(text) for role, text in prepared.texts.items()},
        **{f"{role}_text": text for role, text in prepared.texts.items()},
        "seeding": "replication r: numpy.random.SeedSequence(seed, spawn_key=(0, r))",
        "replications_run_in_this_session": chunks.ran,
        "replications_resumed": chunks.already,
        "files": written,
    }
    manifest["executor"] = chunks.executor
    write_bytes_atomic(out / MANIFEST_FILE, json_bytes(manifest))
    shutil.rmtree(store.folder, ignore_errors=True)
    return CampaignResult(out, summary, manifest, chunks.ran, files=written)


# --------------------------------------------------------------------------- terminal report


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _usd(x: float | None) -> str:
    if x is None:
        return "–"
    if abs(x) >= 1e9:
        return f"${x / 1e9:.2f}B"
    if abs(x) >= 1e6:
        return f"${x / 1e6:.1f}M"
    return f"${x:,.0f}"


def _count(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.1f}"


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def _formatter(metric: str) -> Any:
    if metric.endswith("_rate"):
        return _pct
    if metric.endswith("_usd"):
        return _usd
    if metric in ("cost_exchange", "drone_ratio_end"):
        return _ratio
    return _count


def format_campaign(result: CampaignResult) -> str:
    """The terminal summary of one campaign: headline totals and the run-out days."""
    s = result.summary
    start = dt.date.fromisoformat(s["start"])
    lines = [
        f"campaign {s['campaign']}: {s['replications']} replications of {s['days']} days "
        f"from {s['start']}, seed {s['seed']}"
        + (" (already complete)" if result.already_complete else ""),
        "",
    ]
    rows = []
    for metric, label in HEADLINE:
        st = s["totals"].get(metric)
        if not st or st.get("mean") is None:
            continue
        fmt = _formatter(metric)
        lo, hi = st["ci95"]
        rows.append(
            [
                label,
                fmt(st["mean"]),
                f"{fmt(lo)} – {fmt(hi)}",
                f"{fmt(st['p05'])} – {fmt(st['p95'])}",
            ]
        )
    lines += text_table(["campaign totals", "mean", "95 % CI of the mean", "p05 – p95"], rows)
    if s["ran_out"]:
        lines += ["", "interceptor stocks that ran out (share of replications; day among them):"]
        rows = []
        for type_id, info in s["ran_out"].items():
            if not info["replications"]:
                rows.append([type_id, "never", "", ""])
                continue
            median = info["median_day"]
            date = start + dt.timedelta(days=round(median))
            rows.append(
                [
                    type_id,
                    f"{100 * info['share']:.0f} %",
                    f"day {median:.0f} ({date.isoformat()})",
                    f"{info['p05_day']:.0f} – {info['p95_day']:.0f}",
                ]
            )
        lines += text_table(["type", "ran out", "median day", "p05 – p95"], rows)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- campaign sweeps


def run_campaign_sweep(
    prepared: experiment.PreparedExperiment,
    out: Path,
    *,
    workers: int | None = None,
    dask: str | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    chunk_size: int | None = None,
    command: str = "sweep",
) -> SweepResult:
    """`sim.experiments.sweep.run_sweep` for an experiment whose design points are campaigns."""
    return run_resumable(
        out,
        fingerprint=prepared.fingerprint,
        name=prepared.name,
        seed=prepared.seed,
        points=len(prepared.points),
        replications=prepared.replications,
        fn=run_campaign_task,
        make_task=lambda point, block: CampaignTask(
            prepared.pickled_scenario(point), point, prepared.seed, block, keep_nights=False
        ),
        save=_save_totals,
        complete=lambda: complete_sweep_result(out),
        finalise=lambda chunks: _finalise_sweep(prepared, out, chunks, command=command),
        options=RunOptions(workers, dask, resume, force, progress, chunk_size),
        inputs="experiment, campaign, template, seed or replications",
    )


def _finalise_sweep(
    prepared: experiment.PreparedExperiment,
    out: Path,
    chunks: ChunkRun,
    *,
    command: str,
) -> SweepResult:
    """Chunks -> runs.parquet, summary.csv, parameters.csv, sensitivity.csv, manifest.json."""
    n_points, reps = len(prepared.points), prepared.replications
    head = HEAD_COLUMNS
    totals = [(n, t) for n, t in chunks.store.columns() if n not in dict(head)]
    schema, converters = design_schema(prepared, head, totals)
    files = chunks.store.files()
    tables, summary_rows = [], []
    for point in range(n_points):
        chunk = ChunkStore.read_table(files.get(point, []), head + totals, missing="null")
        _check_replications(chunk, reps, f"design point {point}")
        design = design_values(prepared, converters, point)
        tables.append(with_design(chunk, schema, design))
        stats = totals_stats(chunk.to_pandas())
        row: dict[str, Any] = {"point": point, **design, "replications": reps}
        for metric, st in stats.items():
            if metric.startswith(RAN_OUT):
                row[f"{metric}.share"] = st["share"]
            row.update({f"{metric}.{k}": st[k] for k in STATS})
        summary_rows.append(row)
    write_parquet_atomic(out / RUNS_FILE, pa.concat_tables(tables))
    assert prepared.campaign_path is not None and prepared.campaign_text is not None
    inputs = {
        "experiment": prepared.path,
        "campaign": prepared.campaign_path,
        "template": prepared.scenario_path,
    }
    texts = {
        "experiment": prepared.text,
        "campaign": prepared.campaign_text,
        "template": prepared.scenario_text,
    }
    inputs.update(prepared.campaign_files)
    texts.update(prepared.campaign_texts)
    return write_sweep_outputs(
        prepared,
        out,
        chunks,
        pd.DataFrame(summary_rows),
        command=command,
        inputs=inputs,
        texts=texts,
        kind="campaign-sweep",
        sensitivity_outputs=SENSITIVITY_OUTPUTS,
    )


def format_campaign_sweep(
    prepared: experiment.PreparedExperiment, result: SweepResult, *, max_rows: int = 20
) -> str:
    """A short report of a campaign sweep: headline totals per design point."""
    summary = result.summary
    lines = [
        f"experiment {prepared.name}: {len(prepared.points)} campaigns x "
        f"{prepared.replications} replications, seed {prepared.seed}"
        + (" (already complete)" if result.already_complete else ""),
        "",
    ]
    columns = [e.column for e in prepared.entries]
    headers = ["point", *(e.name for e in prepared.entries)]
    headers += ["intercept rate % [95% CI]", "mass-night rate %", "cost exchange", "leaked"]
    # run-out shares of the interceptor types where the design points differ (at most 3)
    shares = [c for c in summary.columns if c.startswith(RAN_OUT) and c.endswith(".share")]
    shares = [c for c in shares if summary[c].nunique() > 1][:3]
    headers += [f"{c[len(RAN_OUT) : -len('.share')]} ran out %" for c in shares]

    def ci(row: pd.Series, metric: str, scale: float = 100.0) -> str:
        mean, lo, hi = (row[f"{metric}.{k}"] for k in ("mean", "ci95_low", "ci95_high"))
        if not math.isfinite(mean):
            return "–"
        return f"{scale * mean:.1f} [{scale * lo:.1f}–{scale * hi:.1f}]"

    rows = []
    for _, row in summary.head(max_rows).iterrows():
        design = [design_cell(row[c]) for c in columns]
        rows.append(
            [
                str(int(row["point"])),
                *design,
                ci(row, "intercept_rate"),
                ci(row, "mass_intercept_rate"),
                f"{row['cost_exchange.mean']:.3g}",
                f"{row['leaked.mean']:,.0f}",
                *(f"{100 * row[c]:.0f}" for c in shares),
            ]
        )
    lines += text_table(headers, rows)
    if len(summary) > max_rows:
        lines.append(f"... {len(summary) - max_rows} more design points in summary.csv")
    if result.sensitivity is not None:
        lines += sobol_lines(result.sensitivity.to_dict("records"))
    return "\n".join(lines) + "\n"
