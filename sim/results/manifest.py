"""Provenance: ``manifest.json`` (inputs with their hashes, versions, git state, seeds) so a run
can be reproduced.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim.results.files import jsonable

_VERSIONED_PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "pydantic", "mesa")


def file_sha256(path: str | Path) -> str:
    """Hash a file in chunks so the manifest pins exactly which inputs were used."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
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
            cwd=Path(__file__).resolve().parents[1],  # the sim package
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
            role: {"path": str(path), "sha256": file_sha256(path)} for role, path in inputs.items()
        },
        "versions": versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "platform": platform.platform(),
        "python_executable": sys.executable,
    }
    if extra is not None:
        manifest["extra"] = jsonable(extra)
    return manifest
