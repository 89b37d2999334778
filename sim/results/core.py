"""Summaries, reports and the on-disk results folder for a batch of replications.

The model produces one row per replication (the "runs" table, see ``summarise_runs``); this
module turns it into ``summary.json``, a terminal report, ``manifest.json`` (provenance) and
writes them atomically together with ``runs.parquet``.

Sweeps (``salvo sweep``) add the chunk store (finished replications written as parquet files
as they complete, so an interrupted sweep can resume) and the per-design-point statistics of
``summary.csv`` (``sweep_point_stats``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
from scipy import stats

from sim.spec.catalog import CATALOG_DIR
from sim.vocab import (
    CLASSES,
    GROUP_LABELS,
    MANIFEST_FILE,
    OUTCOME_LABELS,
    REPORTED_CLASSES,
    RUNS_FILE,
    SUMMARY_FILE,
)

# The Air Force reports decoys together with drones.

# Outcomes summarised in summary["outcomes"], in report order.
SUMMARY_OUTCOMES: tuple[str, ...] = ("intercepted", "shot_down", "suppressed", "leaked", "failed")
DEFENCE_METRICS: tuple[str, ...] = ("shots", "kills", "cost_usd")
TARGET_METRICS: tuple[str, ...] = ("hits", "killed", "injured", "buildings")
STAT_KEYS: tuple[str, ...] = ("mean", "sd", "p05", "p50", "p95")


_TABLE_OUTCOMES = ("shot_down", "suppressed", "intercepted", "leaked", "failed")
_VERSIONED_PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "pydantic", "mesa")


class ResultsExistError(Exception):
    """Raised when the results folder already exists, so earlier results are never clobbered."""

    def __init__(self, out_dir: Path | str) -> None:
        self.out_dir = Path(out_dir)
        super().__init__(f"results folder {self.out_dir} exists; use --force to overwrite")


# --------------------------------------------------------------------------- statistics


def _finite_or_none(x: Any) -> float | None:
    """Return x as a plain float, or None for NaN/inf, because JSON has no NaN."""
    value = float(x)
    return value if math.isfinite(value) else None


def describe(values: Iterable[float] | np.ndarray | pd.Series) -> dict[str, float | None]:
    """Return mean, sd (ddof=1) and 5/50/95 % quantiles as plain floats for JSON reports."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        return dict.fromkeys(STAT_KEYS)
    sd = float(np.std(arr, ddof=1)) if arr.size > 1 else 0.0
    p05, p50, p95 = np.quantile(arr, [0.05, 0.5, 0.95])
    return {
        "mean": _finite_or_none(np.mean(arr)),
        "sd": _finite_or_none(sd),
        "p05": _finite_or_none(p05),
        "p50": _finite_or_none(p50),
        "p95": _finite_or_none(p95),
    }


def mean_ci(
    values: Iterable[float] | np.ndarray | pd.Series, level: float = 0.95
) -> tuple[float, float]:
    """Return the Student-t confidence interval of the mean, to quantify Monte Carlo error."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(np.mean(arr))
    if arr.size < 2:
        return (mean, mean)
    sd = float(np.std(arr, ddof=1))
    if not math.isfinite(sd) or sd == 0.0:
        return (mean, mean)
    lo, hi = stats.t.interval(level, df=arr.size - 1, loc=mean, scale=sd / math.sqrt(arr.size))
    return (float(lo), float(hi))


# --------------------------------------------------------------------------- summary


def _column(runs: pd.DataFrame, name: str) -> np.ndarray:
    """Return a runs column as a float array, failing clearly if the contract is broken."""
    if name not in runs.columns:
        raise KeyError(f"runs table has no column {name!r}")
    return runs[name].to_numpy(dtype=float)


def _suffixes(columns: Iterable[str], prefix: str) -> list[str]:
    """Return names after ``prefix.`` in column order, to discover defence types and targets."""
    head = prefix + "."
    return [c[len(head) :] for c in columns if isinstance(c, str) and c.startswith(head)]


def _ordered_union(*lists: list[str]) -> list[str]:
    """Merge name lists keeping first-seen order, so reports follow the table's column order."""
    seen: dict[str, None] = {}
    for names in lists:
        for name in names:
            seen.setdefault(name, None)
    return list(seen)


def _launched_mean(values: np.ndarray) -> int | float:
    """Return the launched mean, as an int when every replication launched the same count."""
    if values.size and np.all(values == values[0]) and float(values[0]).is_integer():
        return int(values[0])
    return float(np.mean(values))


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and NaN recursively so ``observed`` stays JSON-safe."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return _finite_or_none(obj)
    return obj


def summarise_runs(
    runs: pd.DataFrame,
    *,
    scenario: str,
    seed: int,
    observed: dict | None = None,
) -> dict:
    """Aggregate the per-replication runs table into the JSON-serialisable summary.json dict."""
    if len(runs) == 0:
        raise ValueError("runs table is empty; nothing to summarise")

    launched = {cls: _column(runs, f"launched.{cls}") for cls in CLASSES}
    launched_total = _column(runs, "launched.total")
    active = [cls for cls in CLASSES if np.any(launched[cls] > 0)]

    summary: dict[str, Any] = {
        "scenario": str(scenario),
        "replications": len(runs),
        "seed": int(seed),
        "launched": {"total": _launched_mean(launched_total)},
    }
    for cls in CLASSES:
        summary["launched"][cls] = _launched_mean(launched[cls])

    outcomes: dict[str, Any] = {}
    for outcome in SUMMARY_OUTCOMES:
        entry: dict[str, Any] = describe(_column(runs, f"{outcome}.total"))
        entry["by_class"] = {cls: describe(_column(runs, f"{outcome}.{cls}")) for cls in active}
        entry["by_reported_class"] = {
            group: describe(sum(_column(runs, f"{outcome}.{cls}") for cls in members))
            for group, members in REPORTED_CLASSES.items()
        }
        outcomes[outcome] = entry
    summary["outcomes"] = outcomes

    intercepted_total = _column(runs, "intercepted.total")
    has_launch = launched_total > 0
    rate = intercepted_total[has_launch] / launched_total[has_launch]
    rate_stats = describe(rate)
    if rate.size:
        lo, hi = mean_ci(rate, 0.95)
        ci95: list[float | None] = [_finite_or_none(lo), _finite_or_none(hi)]
    else:
        ci95 = [None, None]
    summary["intercept_rate"] = {
        "mean": rate_stats["mean"],
        "ci95": ci95,
        "p05": rate_stats["p05"],
        "p50": rate_stats["p50"],
        "p95": rate_stats["p95"],
    }

    columns = list(runs.columns)
    defence_types = _ordered_union(*(_suffixes(columns, m) for m in DEFENCE_METRICS))
    summary["defence"] = {
        dtype: {
            metric: describe(_column(runs, f"{metric}.{dtype}"))
            for metric in DEFENCE_METRICS
            if f"{metric}.{dtype}" in runs.columns
        }
        for dtype in defence_types
    }
    summary["cost_usd"] = {
        side: describe(_column(runs, f"{side}_cost_usd"))
        for side in ("defender", "attacker")
        if f"{side}_cost_usd" in runs.columns
    }
    targets = _ordered_union(*(_suffixes(columns, m) for m in TARGET_METRICS))
    summary["targets"] = {
        target: {
            metric: describe(_column(runs, f"{metric}.{target}"))
            for metric in TARGET_METRICS
            if f"{metric}.{target}" in runs.columns
        }
        for target in targets
    }
    if observed is not None:
        summary["observed"] = _jsonable(observed)
    return summary


# --------------------------------------------------------------------------- text report


def _fmt_mean(x: float | None) -> str:
    """Format a mean with one decimal, or a dash when it is undefined."""
    return "–" if x is None else f"{x:.1f}"


def _fmt_num(x: float | None) -> str:
    """Format a quantile compactly: integer when whole, else one decimal."""
    if x is None:
        return "–"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _fmt_cell(st: Mapping[str, Any] | None) -> str:
    """Format a describe() dict as 'mean [p05–p95]' (one decimal) for the outcome table."""
    if not st or st.get("mean") is None:
        return "–"
    return f"{_fmt_mean(st['mean'])} [{_fmt_mean(st.get('p05'))}–{_fmt_mean(st.get('p95'))}]"


def _fmt_launched(x: int | float | None) -> str:
    """Format a launched mean: exact when integral, else one decimal."""
    if x is None:
        return "–"
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _fmt_usd(x: float | None) -> str:
    """Format a dollar amount with thousands separators."""
    return "–" if x is None else f"${x:,.0f}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Render a fixed-width table: first column left-aligned, the rest right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        """Join one row's cells with padding."""
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in rows)
    return out


def _simulated_intercepted(summary: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """Find the simulated intercepted stats matching an observed key (total, group or class)."""
    intercepted = summary.get("outcomes", {}).get("intercepted", {})
    if key == "total":
        return intercepted
    if key in intercepted.get("by_reported_class", {}):
        return intercepted["by_reported_class"][key]
    return intercepted.get("by_class", {}).get(key)


def _simulated_launched(summary: Mapping[str, Any], key: str) -> float | None:
    """Return the simulated launched mean for a total, reported group or class key."""
    launched = summary.get("launched", {})
    if key in REPORTED_CLASSES:
        return float(sum(float(launched.get(c) or 0) for c in REPORTED_CLASSES[key]))
    value = launched.get(key)
    return None if value is None else float(value)


def _observed_lines(summary: Mapping[str, Any]) -> list[str]:
    """Compare observed interceptions with the simulated mean and 90 % interval."""
    observed = summary.get("observed") or {}
    obs_intercepted = observed.get("intercepted")
    if not isinstance(obs_intercepted, Mapping):
        return []
    obs_launched = observed.get("launched") if isinstance(observed.get("launched"), Mapping) else {}
    lines = ["", "observed vs simulated intercepted (90 % interval = p05–p95):"]
    for key, obs in obs_intercepted.items():
        sim = _simulated_intercepted(summary, key)
        label = GROUP_LABELS[key] if key in REPORTED_CLASSES else key
        if obs is None or not sim or sim.get("mean") is None:
            lines.append(f"  {label}: observed {obs}, no simulated value")
            continue
        lo, hi = sim.get("p05"), sim.get("p95")
        inside = lo is not None and hi is not None and lo <= obs <= hi
        verdict = "inside" if inside else "OUTSIDE"
        text = (
            f"  {label}: observed {_fmt_num(float(obs))} vs simulated "
            f"{_fmt_mean(sim['mean'])} [{_fmt_mean(lo)}–{_fmt_mean(hi)}] -> {verdict}"
        )
        if key in obs_launched and obs_launched[key] is not None:
            sim_launched = _simulated_launched(summary, key)
            text += f" (launched: observed {_fmt_launched(float(obs_launched[key]))}"
            text += f", simulated {_fmt_launched(sim_launched)})"
        lines.append(text)
    return lines


def format_summary(summary: dict) -> str:
    """Render a summary dict as a fixed-width plain-text report for the terminal."""
    lines = [
        f"scenario {summary.get('scenario')}: {summary.get('replications')} replications, "
        f"seed {summary.get('seed')}",
        "",
    ]
    launched = summary.get("launched", {})
    outcomes = summary.get("outcomes", {})
    headers = ["class"] + [OUTCOME_LABELS[o] for o in ("launched", *_TABLE_OUTCOMES)]
    rows: list[list[str]] = []
    by_class_keys = list(outcomes.get("intercepted", {}).get("by_class", {}))
    for cls in by_class_keys:
        rows.append(
            [cls, _fmt_launched(launched.get(cls))]
            + [_fmt_cell(outcomes.get(o, {}).get("by_class", {}).get(cls)) for o in _TABLE_OUTCOMES]
        )
    for group, members in REPORTED_CLASSES.items():
        group_launched = sum(float(launched.get(c) or 0) for c in members)
        if group_launched <= 0:
            continue
        rows.append(
            [GROUP_LABELS[group], _fmt_launched(group_launched)]
            + [
                _fmt_cell(outcomes.get(o, {}).get("by_reported_class", {}).get(group))
                for o in _TABLE_OUTCOMES
            ]
        )
    rows.append(
        ["total", _fmt_launched(launched.get("total"))]
        + [_fmt_cell(outcomes.get(o)) for o in _TABLE_OUTCOMES]
    )
    lines.extend(_table(headers, rows))

    rate = summary.get("intercept_rate") or {}
    ci = rate.get("ci95") or [None, None]
    lines.append("")
    if rate.get("mean") is None:
        lines.append("intercept rate: n/a")
    else:
        ci_text = (
            f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f} %"
            if ci[0] is not None and ci[1] is not None
            else "n/a"
        )
        lines.append(f"intercept rate: {100 * rate['mean']:.1f} % (95 % CI {ci_text})")

    defence = summary.get("defence") or {}
    if defence:
        lines.append("")
        rows = [
            [
                dtype,
                _fmt_mean(m.get("shots", {}).get("mean")),
                _fmt_mean(m.get("kills", {}).get("mean")),
                _fmt_usd(m.get("cost_usd", {}).get("mean")),
            ]
            for dtype, m in defence.items()
        ]
        lines.extend(_table(["defence (mean)", "shots", "kills", "cost"], rows))

    cost = summary.get("cost_usd") or {}
    if cost:
        parts = [f"{side} {_fmt_usd(st.get('mean'))}" for side, st in cost.items()]
        lines.append("")
        lines.append("cost (mean): " + ", ".join(parts))

    targets = summary.get("targets") or {}
    if targets:
        lines.append("")
        rows = [
            [target] + [_fmt_mean(m.get(metric, {}).get("mean")) for metric in TARGET_METRICS]
            for target, m in targets.items()
        ]
        lines.extend(_table(["target (mean)", *TARGET_METRICS], rows))

    lines.extend(_observed_lines(summary))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- manifest


def text_sha256(text: str) -> str:
    """sha256 of a text (UTF-8), for fingerprints and manifests."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def catalog_texts() -> list[str]:
    """The texts of the type catalogue: part of every fingerprint, since they fix the numbers."""
    return [
        (CATALOG_DIR / name).read_text(encoding="utf-8")
        for name in ("threats.yaml", "defences.yaml")
    ]


def _sha256(path: Path) -> str:
    """Hash a file in chunks so the manifest pins exactly which inputs were used."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version(dist: str, default: str) -> str:
    """Return an installed distribution's version, or ``default`` if it cannot be found."""
    try:
        return importlib.metadata.version(dist)
    except Exception:
        return default


def _git(*args: str) -> str | None:
    """Run a read-only git command in this package's directory; None on any failure."""
    try:
        proc = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except Exception:
        return None
    return proc.stdout


def _git_state() -> tuple[str | None, bool | None]:
    """Return (HEAD commit, package tree dirty?) of the source checkout, or Nones if not git."""
    head = _git("rev-parse", "HEAD")
    commit = head.strip() if head else None
    if not commit:
        return None, None
    status = _git("status", "--porcelain", "--", ".")
    dirty = None if status is None else bool(status.strip())
    return commit, dirty


def build_manifest(
    *,
    command: str,
    inputs: Mapping[str, str | Path],
    seed: int,
    replications: int,
    wall_time_s: float,
    workers: int,
    extra: dict | None = None,
) -> dict:
    """Record inputs (with hashes), versions and git state so a run can be reproduced."""
    commit, dirty = _git_state()
    versions = {"salvo-sim": _version("salvo-sim", "unknown"), "python": platform.python_version()}
    for dist in _VERSIONED_PACKAGES:
        versions[dist] = _version(dist, "missing")
    manifest: dict[str, Any] = {
        "command": str(command),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": int(seed),
        "replications": int(replications),
        "workers": int(workers),
        "wall_time_s": float(wall_time_s),
        "inputs": {
            role: {"path": str(path), "sha256": _sha256(Path(path))}
            for role, path in inputs.items()
        },
        "versions": versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "platform": platform.platform(),
        "python_executable": sys.executable,
    }
    if extra is not None:
        manifest["extra"] = _jsonable(extra)
    return manifest


# --------------------------------------------------------------------------- results folder


def _json_bytes(obj: Any) -> bytes:
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


def _remove(path: Path) -> None:
    """Delete a file or directory tree, ignoring errors (best-effort cleanup)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


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
    if out_dir.exists() and not force:
        raise ResultsExistError(out_dir)
    extras = {_check_extra_name(k): v for k, v in (extra_files or {}).items()}

    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{out_dir.name}.tmp-{os.getpid()}"
    _remove(tmp)
    tmp.mkdir()
    try:
        table = pa.Table.from_pandas(runs, preserve_index=False)
        pq.write_table(table, tmp / RUNS_FILE)
        (tmp / SUMMARY_FILE).write_bytes(_json_bytes(summary))
        (tmp / MANIFEST_FILE).write_bytes(_json_bytes(manifest))
        for rel, data in extras.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bytes(data))

        if out_dir.exists() or out_dir.is_symlink():
            if not force:
                raise ResultsExistError(out_dir)
            old = parent / f".{out_dir.name}.old-{os.getpid()}"
            _remove(old)
            os.rename(out_dir, old)
            try:
                os.rename(tmp, out_dir)
            except BaseException:
                os.rename(old, out_dir)
                raise
            _remove(old)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        _remove(tmp)
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


# --------------------------------------------------------------------------- sweeps


# summary.csv: metric x group x statistic columns, named "<metric>.<group>.<stat>"
SWEEP_METRICS: tuple[str, ...] = ("intercept_rate", "intercepted", "leaked")
SWEEP_STATS: tuple[str, ...] = ("mean", "sd", "ci95_low", "ci95_high", "p05", "p50", "p95")
# "drones" are drones with decoys and "missiles" every missile class, as the Air Force reports
SWEEP_GROUPS: dict[str, tuple[str, ...]] = {
    "total": CLASSES,
    **{cls: (cls,) for cls in CLASSES},
    "drones": REPORTED_CLASSES["drone"],
    "missiles": REPORTED_CLASSES["missile"],
}


class ResultsFolderError(ResultsExistError):
    """A results folder that may not be used as asked (exists, or holds another experiment)."""

    def __init__(self, out_dir: Path | str, message: str) -> None:
        self.out_dir = Path(out_dir)
        Exception.__init__(self, message)


def _stats(values: np.ndarray) -> dict[str, float]:
    """describe() plus the 95 % CI of the mean, as floats (NaN when undefined)."""
    base = describe(values)
    lo, hi = mean_ci(values, 0.95) if values.size else (math.nan, math.nan)
    out = {
        "mean": base["mean"],
        "sd": base["sd"],
        "ci95_low": lo,
        "ci95_high": hi,
        "p05": base["p05"],
        "p50": base["p50"],
        "p95": base["p95"],
    }
    return {k: math.nan if v is None else float(v) for k, v in out.items()}


def sweep_point_stats(runs: pd.DataFrame) -> dict[str, float]:
    """Statistics of one design point's replications, the columns of a summary.csv row.

    For every group (``total``, each class, ``drones`` = drone + decoy, ``missiles``):
    ``launched.<group>`` (mean launched) and, for intercepted, leaked and intercept rate
    (intercepted / launched, over replications that launched at least one of the group),
    ``<metric>.<group>.<stat>`` with stat in mean, sd (ddof 1), ci95_low / ci95_high
    (Student-t 95 % interval of the mean), p05, p50, p95.
    """
    if len(runs) == 0:
        raise ValueError("no replications to summarise")
    counts = {
        (outcome, cls): _column(runs, f"{outcome}.{cls}")
        for outcome in ("launched", "intercepted", "leaked")
        for cls in CLASSES
    }

    def total(outcome: str, members: tuple[str, ...]) -> np.ndarray:
        return np.sum([counts[outcome, cls] for cls in members], axis=0)

    row: dict[str, float] = {}
    for group, members in SWEEP_GROUPS.items():
        row[f"launched.{group}"] = float(np.mean(total("launched", members)))
    for metric in SWEEP_METRICS:
        for group, members in SWEEP_GROUPS.items():
            if metric == "intercept_rate":
                launched = total("launched", members)
                keep = launched > 0
                values = total("intercepted", members)[keep] / launched[keep]
            else:
                values = total(metric, members)
            for stat, value in _stats(np.asarray(values, dtype=float)).items():
                row[f"{metric}.{group}.{stat}"] = value
    return row


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write a file so readers see the old or the new content, never a partial one."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
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
        _remove(tmp)
        raise


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
            _remove(tmp)
            raise
        return target

    def remove_temporary(self) -> None:
        """Delete half-written chunks left by a killed run."""
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if path.name.startswith(".") and ".tmp-" in path.name:
                    _remove(path)

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
                    _remove(path)
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

    @classmethod
    def read_rows(cls, paths: list[Path], columns: list[tuple[str, pa.DataType]]) -> pd.DataFrame:
        """`read_table` as a pandas DataFrame."""
        return cls.read_table(paths, columns).to_pandas()
