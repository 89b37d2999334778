"""The chunk store of a resumable run: finished replications as Arrow files, each complete or
absent whatever kills the process.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from sim.results.files import remove_path


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


class ChunkStore:
    """Finished replications of a sweep, one Arrow IPC file per finished task.

    A chunk holds rows of one design point and is named ``p<point>-r<first replication>``;
    it is written to a hidden temporary name and renamed into place, so a chunk file is
    either complete or absent whenever the process is killed. (Arrow IPC rather than
    parquet: ten times cheaper to write and read; the final ``runs.parquet`` is assembled
    from the chunks.)
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

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
        try:
            feather.write_feather(table, tmp, compression="uncompressed")
            os.replace(tmp, target)
        except BaseException:
            remove_path(tmp)
            raise
        return target

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
