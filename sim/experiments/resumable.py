"""Resumable runs: a results folder's chunk store, the executor run of the blocks still missing,
Ctrl-C and dead workers turned into what is saved and how to go on. Shared by sweeps,
campaigns and campaign sweeps.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable, Iterator, Sized
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sim import __version__
from sim.experiments.executors import ExecutorError, make_executor
from sim.experiments.progress import Progress
from sim.experiments.replications import chunked, default_chunk_size
from sim.results.chunks import ChunkStore
from sim.results.files import (
    ResultsFolderError,
    check_replaceable,
    json_bytes,
    read_json_or_none,
    write_bytes_atomic,
)
from sim.results.lock import locked_results_folder
from sim.vocab import (
    CHUNKS_DIR,
    MANIFEST_FILE,
    STATE_FILE,
)


class RunInterrupted(Exception):
    """Ctrl-C during a sweep: the finished replications are saved; `--resume` goes on."""

    def __init__(self, out: Path, done: int, total: int) -> None:
        self.out, self.done, self.total = out, done, total
        super().__init__(f"interrupted with {done} of {total} replications saved in {out}")


def _stored_fingerprint(out: Path, section: str = "experiment") -> str | None:
    state = read_json_or_none(out / CHUNKS_DIR / STATE_FILE)
    if state is None:
        manifest = read_json_or_none(out / MANIFEST_FILE) or {}
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
        check_replaceable(out)
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
    half-written chunks and chunks that fail their checksum removed; and the replications it
    holds by design point."""
    chunks = out / CHUNKS_DIR
    if force and out.exists():
        shutil.rmtree(out)
    chunks.mkdir(parents=True, exist_ok=True)
    state_file = chunks / STATE_FILE
    if not state_file.exists():
        write_bytes_atomic(state_file, json_bytes(state))
    store = ChunkStore(chunks)
    store.remove_temporary()
    store.discard_unverified()  # a damaged or unrecorded chunk runs again
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

    Ctrl-C raises RunInterrupted, a dead worker ExecutorError, both saying what is saved.
    """
    bar = Progress(total, enabled=progress, initial=already)
    ran = 0
    try:
        with executor:
            for result in executor.map_unordered(fn, tasks):
                rows = save(result)
                ran += len(rows)
                bar.update(len(rows))
    except KeyboardInterrupt:
        bar.close()
        raise RunInterrupted(out, already + ran, total) from None
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
    replications anew. Ctrl-C raises RunInterrupted, also while finalising. The folder is
    locked from the check to the last file written (`locked_results_folder`); a folder another
    salvo process is writing raises ResultsFolderLockedError before anything is touched.
    """
    with locked_results_folder(out):  # before anything in `out` is checked, deleted or written
        if check_results_folder(
            out, fingerprint, resume=options.resume, force=options.force, command=command,
            section=section, inputs=inputs,
        ):  # fmt: skip
            return complete()
        state = {
            "fingerprint": fingerprint,
            section: name,
            "seed": seed,
            "replications": replications,
            "points": points,
            "salvo_version": __version__,
        }
        return _run_locked(
            out, state, points=points, replications=replications, fn=fn, make_task=make_task,
            save=save, finalise=finalise, options=options, on_open=on_open,
        )  # fmt: skip


def _run_locked(
    out: Path,
    state: dict[str, Any],
    *,
    points: int,
    replications: int,
    fn: Callable[[Any], Any],
    make_task: Callable[[int, tuple[int, ...]], Any],
    save: Callable[[ChunkStore, Any], Sized],
    finalise: Callable[[ChunkRun], R],
    options: RunOptions,
    on_open: Callable[[ChunkStore, dict[int, set[int]]], dict[int, set[int]]] | None,
) -> R:
    """The body of `run_resumable`, run while it holds the lock of `out`."""
    total = points * replications
    executor = make_executor(workers=options.workers, dask=options.dask)
    try:
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
        raise RunInterrupted(out, total, total) from None


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
