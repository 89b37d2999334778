"""The chunk store of a resumable run: finished replications as Arrow files, each complete or
absent whatever kills the process.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from sim.results.files import remove_path, write_bytes_atomic
from sim.vocab import CHECKSUMS_FILE


def aligned(
    table: pa.Table, columns: list[tuple[str, pa.DataType]], *, missing: str = "zero"
) -> pa.Table:
    """`table` with exactly `columns` in order and types; a column it lacks is 0
    (`missing="zero"`) or null (`missing="null"`)."""
    present = set(table.column_names)
    arrays = []
    for name, dtype in columns:
        if name in present:
            column = table.column(name)
            arrays.append(column if column.type == dtype else column.cast(dtype))
        elif missing == "null":
            arrays.append(pa.nulls(len(table), type=dtype))
        else:
            arrays.append(pa.array(np.zeros(len(table)), type=pa.float64()).cast(dtype))
    return pa.Table.from_arrays(arrays, names=[n for n, _ in columns])


_CHUNK_NAME = re.compile(r"^p(\d+)-r(\d+)\.arrow$")
_CHECKSUM_LINE = re.compile(r"^([0-9a-f]{64})  (p\d+-r\d+\.arrow)$")


def sha256_hex(data: bytes | memoryview | pa.Buffer) -> str:
    """The sha256 of some bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


class ChunkStore:
    """Finished replications of a sweep, one Arrow IPC file per finished task.

    A chunk holds rows of one design point and is named ``p<point>-r<first replication>``;
    it is written to a hidden temporary name and renamed into place, so a chunk file is
    either complete or absent whenever the process is killed. (Arrow IPC rather than
    parquet: ten times cheaper to write and read; the final ``runs.parquet`` is assembled
    from the chunks.)

    Once a chunk is in place its sha256 is appended to ``checksums.sha256`` beside it (the
    format of `sha256sum`); `discard_unverified` deletes, before a resume, every chunk whose
    bytes differ from their record or that has none (a run killed between the chunk and its
    record), so that those replications run again. The record is only appended to while the
    store is in use and rewritten atomically when it is opened, so a torn last line (a kill
    while appending) costs one chunk, never the record.
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.checksums = self.folder / CHECKSUMS_FILE

    def write(self, rows: list[dict]) -> Path:
        """Write one task's rows (all of one design point) atomically; return the file."""
        if not rows:
            raise ValueError("empty chunk")
        points = {int(row["point"]) for row in rows}
        if len(points) != 1:
            raise ValueError("a chunk holds rows of one design point")
        first = min(int(row["replication"]) for row in rows)
        return self.write_table(pa.Table.from_pylist(rows), points.pop(), first)

    def write_table(self, table: pa.Table, point: int, first: int) -> Path:
        """Write a table (rows of design point `point` from replication `first` on)
        atomically as the chunk ``p<point>-r<first>``; return the file."""
        target = self.folder / f"p{point:06d}-r{first:06d}.arrow"
        tmp = self.folder / f".{target.name}.tmp-{os.getpid()}"
        sink = pa.BufferOutputStream()
        feather.write_feather(table, sink, compression="uncompressed")
        data = sink.getvalue()
        try:
            tmp.write_bytes(memoryview(data))
            os.replace(tmp, target)
        except BaseException:
            remove_path(tmp)
            raise
        self._record(target.name, sha256_hex(data))
        return target

    def _record(self, name: str, digest: str) -> None:
        """Append a chunk's checksum to the record (one write of one whole line)."""
        fd = os.open(self.checksums, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, f"{digest}  {name}\n".encode("ascii"))
        finally:
            os.close(fd)

    def recorded(self) -> dict[str, str]:
        """The recorded sha256 of each chunk by file name (the last record of a name wins;
        a line that is not a whole record, such as one torn by a kill, is no record)."""
        try:
            text = self.checksums.read_bytes().decode("ascii", errors="replace")
        except FileNotFoundError:
            return {}
        lines = text.split("\n")[:-1]  # a last line without its newline is torn
        return {m[2]: m[1] for m in map(_CHECKSUM_LINE.match, lines) if m}

    def discard_unverified(self) -> list[str]:
        """Delete every chunk whose sha256 differs from its record or that has no record, and
        rewrite the record (atomically) with the chunks that are kept; return the names
        deleted. Their replications run again."""
        recorded = self.recorded()
        kept: dict[str, str] = {}
        deleted: list[str] = []
        for paths in self.files().values():
            for path in paths:
                digest = recorded.get(path.name)
                if digest is not None and sha256_hex(path.read_bytes()) == digest:
                    kept[path.name] = digest
                else:
                    remove_path(path)
                    deleted.append(path.name)
        if self.folder.is_dir() and (kept or self.checksums.exists()):
            text = "".join(f"{digest}  {name}\n" for name, digest in sorted(kept.items()))
            write_bytes_atomic(self.checksums, text.encode("ascii"))
        return deleted

    def remove_temporary(self) -> None:
        """Delete half-written chunks left by a killed run."""
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if path.name.startswith(".") and ".tmp-" in path.name:
                    remove_path(path)

    def files(self) -> dict[int, list[Path]]:
        """Chunk files by design point, each list in replication order."""
        found: dict[int, list[tuple[int, Path]]] = {}
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                match = _CHUNK_NAME.match(path.name)
                if match:
                    found.setdefault(int(match[1]), []).append((int(match[2]), path))
        return {p: [path for _, path in sorted(found[p])] for p in sorted(found)}

    def done(self) -> dict[int, set[int]]:
        """Finished replications by design point, read from the chunks.

        A chunk that cannot be read (not a complete parquet file) is deleted, so its
        replications run again. Raises ValueError if a replication is in two chunks.
        """
        out: dict[int, set[int]] = {}
        for point, paths in self.files().items():
            for path in paths:
                try:
                    table = feather.read_table(path, columns=["point", "replication"])
                except Exception:
                    remove_path(path)
                    continue
                reps = table.column("replication").to_pylist()
                seen = out.setdefault(point, set())
                if set(table.column("point").to_pylist()) != {point} or seen & set(reps):
                    raise ValueError(f"chunk {path} overlaps another chunk or is misnamed")
                seen.update(reps)
        return out

    def columns(self) -> list[tuple[str, pa.DataType]]:
        """Union of the chunks' columns in first-seen order (points in order), with types."""
        types: dict[str, pa.DataType] = {}
        for paths in self.files().values():
            for path in paths:
                with pa.memory_map(str(path)) as source:
                    schema = pa.ipc.open_file(source).schema
                for field in schema:
                    old = types.get(field.name)
                    if old is None:
                        types[field.name] = field.type
                    elif old != field.type:
                        types[field.name] = pa.float64()
        return list(types.items())

    @staticmethod
    def read_table(
        paths: list[Path], columns: list[tuple[str, pa.DataType]], *, missing: str = "zero"
    ) -> pa.Table:
        """The rows of some chunks (one design point's) sorted by replication, with exactly
        `columns` (a column a chunk lacks, e.g. a defence type a design point leaves out, is
        0, or null with `missing="null"`)."""
        tables = [aligned(feather.read_table(p), columns, missing=missing) for p in paths]
        if not tables:
            return pa.schema(columns).empty_table()
        return pa.concat_tables(tables).sort_by("replication")
