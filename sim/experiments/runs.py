"""`salvo run`: replications of one scenario into a results folder (runs.parquet,
summary.json, manifest.json and, if asked, the traces of the first nights)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from sim.experiments.executors import capped_workers
from sim.experiments.limits import check_job
from sim.experiments.replications import run_replications
from sim.results.files import check_writable, default_out, write_results
from sim.results.lock import locked_results_folder
from sim.results.manifest import build_manifest
from sim.results.summary import summarise_runs
from sim.spec.scenario import load_scenario
from sim.vocab import MANIFEST_FILE, RUNS_FILE, SUMMARY_FILE


@dataclass
class RunResult:
    """What `run_scenario` wrote (the files are in `out`)."""

    out: Path
    summary: dict
    manifest: dict
    wall_time_s: float
    traced: int = 0  # replications with trace-*.parquet
    files: list[str] = field(default_factory=list)


def run_scenario(
    scenario_path: str | Path,
    out: str | Path | None = None,
    *,
    replications: int = 200,
    seed: int | None = None,
    workers: int | None = None,
    dask: str | None = None,
    force: bool = False,
    progress: bool = False,
    trace: int = 0,
    allow_large: bool = False,
) -> RunResult:
    """Run `replications` nights of the scenario file and write the results folder `out`
    (default: results/<scenario name>/), on `workers` local processes (default: all cores)
    or a Dask cluster at `dask` (an address, or 'local').

    A scenario with an error raises `InputError`, an existing `out` without `force`
    `ResultsExistError`, and with `force` an `out` that is not a results folder salvo wrote
    `ResultsFolderError`, all before anything runs; so does an `out` that another salvo process
    is writing (`ResultsFolderLockedError`: the folder is locked while it is written), and a
    job beyond the limits of `sim.experiments.limits` (`InputError`) unless `allow_large`.
    Replication r uses `SeedSequence(seed, spawn_key=(0, r))` (seed: the scenario's unless
    given), so the numbers are the same on every executor.
    `trace` keeps the full traces of the first `trace` replications for the night map.
    """
    scenario = load_scenario(scenario_path)
    # before the lock and the folder: a job beyond the limits is bad input (`allow_large`
    # lifts them)
    check_job(
        scenario, scenario_path, nights=replications, nights_from="-n", allow_large=allow_large
    )
    out = Path(out) if out else default_out(scenario.name)
    with locked_results_folder(out):  # no other salvo writes `out` until this one has written it
        check_writable(out, force=force)  # before anything runs: --force replaces a salvo folder
        seed = scenario.seed if seed is None else seed
        workers = capped_workers(workers)  # what runs, and what the manifest records
        started = time.perf_counter()
        runs = run_replications(
            scenario, replications, seed=seed, workers=workers, dask=dask, progress=progress
        )
        wall = time.perf_counter() - started
        observed = scenario.observed.model_dump(exclude_none=True) if scenario.observed else None
        summary = summarise_runs(runs, scenario=scenario.name, seed=seed, observed=observed)
        manifest = build_manifest(
            command="run",
            inputs={"scenario": Path(scenario_path)},
            seed=seed,
            replications=replications,
            wall_time_s=wall,
            workers=workers,
            extra={"scenario_resolved": scenario.model_dump(mode="json", by_alias=True)},
        )
        extra_files, traced = None, 0
        if trace:
            from sim.experiments.traces import record_traces, traces_to_bytes

            traced = min(trace, replications)
            extra_files = traces_to_bytes(record_traces(scenario, seed, range(traced)))
        write_results(
            out, runs=runs, summary=summary, manifest=manifest, force=force, extra_files=extra_files
        )
    files = [RUNS_FILE, SUMMARY_FILE, MANIFEST_FILE, *sorted(extra_files or {})]
    return RunResult(out, summary, manifest, wall, traced, files)
