"""Results folders and files written atomically: readers see old or new content, never a
partial one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.results.statistics import finite_or_none
from sim.vocab import (
    CHUNKS_DIR,
    MANIFEST_FILE,
    RUNS_FILE,
    SUMMARY_FILE,
)


class ResultsExistError(Exception):
    """Raised when the results folder already exists, so earlier results are never clobbered."""

    def __init__(self, out_dir: Path | str) -> None:
        self.out_dir = Path(out_dir)
        super().__init__(f"results folder {self.out_dir} exists; use --force to overwrite")


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and NaN recursively so ``observed`` stays JSON-safe."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return finite_or_none(obj)
    return obj


def json_bytes(obj: Any) -> bytes:
    """Serialise strictly (no NaN) with indent 2 and a trailing newline."""
    return (json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n").encode("utf-8")


def _check_extra_name(name: str) -> Path:
    """Validate an extra file name: relative, inside the folder, not a reserved file."""
    rel = Path(name)
    if not name or rel.is_absolute() or ".." in rel.parts or rel.as_posix() in {".", ""}:
        raise ValueError(f"invalid extra file name {name!r}")
    if rel.as_posix() in {RUNS_FILE, SUMMARY_FILE, MANIFEST_FILE}:
        raise ValueError(f"extra file {name!r} would overwrite a standard results file")
    return rel


def remove_path(path: Path) -> None:
    """Delete a file or directory tree, ignoring errors (best-effort cleanup)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


class ResultsFileError(Exception):
    """A results (or borders) file that is missing or cannot be read; names the file."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


def read_json(path: Path) -> dict:
    """Read a JSON object, turning every failure into a ResultsFileError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFileError(path, "missing") from None
    except json.JSONDecodeError as err:
        raise ResultsFileError(path, f"not valid JSON (line {err.lineno}: {err.msg})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ResultsFileError(path, f"cannot read: {err}") from None
    if not isinstance(data, dict):
        raise ResultsFileError(path, "expected a JSON object")
    return data


def read_json_or_none(path: Path) -> dict | None:
    """``read_json``, or None when the file is missing or unreadable: for telling what wrote a
    folder, where a damaged file is no error."""
    try:
        return read_json(path)
    except ResultsFileError:
        return None


def written_by_salvo(folder: Path) -> bool:
    """Whether `folder` is one salvo may replace: empty, or holding a salvo manifest (a JSON
    object naming its `command`) or a chunk store (`.chunks/`, a run that was interrupted)."""
    names = {p.name for p in folder.iterdir()}
    if not names or CHUNKS_DIR in names:
        return True
    manifest = read_json_or_none(folder / MANIFEST_FILE)
    return manifest is not None and isinstance(manifest.get("command"), str)


def not_a_folder(out: Path) -> ResultsFolderError:
    """The refusal of an `out` that exists and is not a folder (a file, a device, a link)."""
    return ResultsFolderError(
        out, f"{out} exists and is not a folder; --force replaces only a results folder that "
        "salvo wrote"
    )  # fmt: skip


def check_replaceable(out: Path) -> None:
    """ResultsFolderError unless `out` is absent or a results folder salvo wrote: `--force`
    never deletes a user's folder, a file, a device or a link."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise not_a_folder(out)
    if out.is_dir() and not written_by_salvo(out):
        raise ResultsFolderError(
            out, f"{out} exists and is not a salvo results folder (no manifest.json); refusing "
            "to replace it with --force"
        )  # fmt: skip


def check_writable(out: Path, *, force: bool) -> None:
    """ResultsExistError if `out` exists and not `force`; with `force`, ResultsFolderError
    unless it is a results folder salvo wrote (`check_replaceable`)."""
    if (out.exists() or out.is_symlink()) and not force:
        raise ResultsExistError(out)
    check_replaceable(out)


def default_out(name: str) -> Path:
    """The results folder a command writes when no --out is given: results/<name>/."""
    return Path("results") / name


def write_results(
    out_dir: Path,
    *,
    runs: pd.DataFrame,
    summary: dict,
    manifest: dict,
    force: bool = False,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Atomically create the results folder so readers never see partial or mixed results."""
    out_dir = Path(out_dir)
    check_writable(out_dir, force=force)
    extras = {_check_extra_name(k): v for k, v in (extra_files or {}).items()}

    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{out_dir.name}.tmp-{os.getpid()}"
    remove_path(tmp)
    tmp.mkdir()
    try:
        table = pa.Table.from_pandas(runs, preserve_index=False)
        pq.write_table(table, tmp / RUNS_FILE)
        (tmp / SUMMARY_FILE).write_bytes(json_bytes(summary))
        (tmp / MANIFEST_FILE).write_bytes(json_bytes(manifest))
        for rel, data in extras.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bytes(data))

        if out_dir.exists() or out_dir.is_symlink():
            if not force:
                raise ResultsExistError(out_dir)
            old = parent / f".{out_dir.name}.old-{os.getpid()}"
            remove_path(old)
            os.rename(out_dir, old)
            try:
                os.rename(tmp, out_dir)
            except BaseException:
                os.rename(old, out_dir)
                raise
            remove_path(old)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        remove_path(tmp)
        raise
    return out_dir


def read_runs(path: Path | str) -> pd.DataFrame:
    """Read runs.parquet from a results folder or a direct file path."""
    path = Path(path)
    if path.is_dir():
        path = path / RUNS_FILE
    return pd.read_parquet(path)


def read_summary(path: Path | str) -> dict:
    """Read summary.json from a results folder or a direct file path."""
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY_FILE
    return json.loads(path.read_text(encoding="utf-8"))


class ResultsFolderError(ResultsExistError):
    """A results folder that may not be used as asked (exists, or holds another experiment)."""

    def __init__(self, out_dir: Path | str, message: str) -> None:
        self.out_dir = Path(out_dir)
        Exception.__init__(self, message)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write a file so readers see the old or the new content, never a partial one."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise


def write_parquet_streamed(
    path: Path, schema: pa.Schema, tables: Iterable[pa.Table], row_group: int
) -> None:
    """Write `tables` (each of `schema`) as one parquet file, atomically, holding one table in
    memory at a time, in row groups of `row_group` rows whatever the tables' lengths (so the
    bytes never depend on how the rows were cut into tables)."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    writer = pq.ParquetWriter(tmp, schema)
    try:
        pending: list[pa.Table] = []
        buffered = 0
        for table in tables:
            pending.append(table)
            buffered += len(table)
            while buffered >= row_group:
                joined = pa.concat_tables(pending).combine_chunks()
                writer.write_table(joined.slice(0, row_group))
                pending = [joined.slice(row_group)]
                buffered -= row_group
        if buffered:
            writer.write_table(pa.concat_tables(pending).combine_chunks())
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        writer.close()
        remove_path(tmp)
        raise


def write_parquet_atomic(path: Path, table: pa.Table) -> None:
    """Write a small table as one parquet file, atomically."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        pq.write_table(table.combine_chunks(), tmp)
        os.replace(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise
