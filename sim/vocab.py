"""The shared words of salvo: threat classes, final states, outcomes and results file names.

Every layer speaks these (specs, the night model, results, figures), so they live here, in a
module that imports nothing, and each is defined once.
"""

from __future__ import annotations

from typing import Literal

# --------------------------------------------------------------------------- threats

ThreatClass = Literal["drone", "decoy", "cruise", "ballistic", "hypersonic"]
CLASSES: tuple[str, ...] = ("drone", "decoy", "cruise", "ballistic", "hypersonic")

# A threat's state during a night; each ends in exactly one of the last four.
FLYING, SHOT_DOWN, SUPPRESSED, LEAKED, FAILED = range(5)
STATE_NAMES: tuple[str, ...] = ("flying", "shot_down", "suppressed", "leaked", "failed")
# What a night reports per class: launched, each final state, and intercepted (as the Air
# Force counts it: shot down + suppressed).
OUTCOMES: tuple[str, ...] = ("launched", *STATE_NAMES[1:], "intercepted")
# "Who engaged it" for a threat nobody engaged.
NO_UNIT = -1

# The classes the Air Force's nightly reports count (decoys are counted as drones).
OBSERVED_CLASSES: tuple[str, ...] = ("drone", "cruise", "ballistic", "hypersonic")
# The Air Force reports decoys together with drones, and the missile classes together.
REPORTED_CLASSES: dict[str, tuple[str, ...]] = {
    "drone": ("drone", "decoy"),
    "missile": ("cruise", "ballistic", "hypersonic"),
}
# Display names of the reported groups: the night's keys (drone, missile) and the sweep
# table's (drones, missiles), plus the total.
GROUP_LABELS: dict[str, str] = {
    "total": "all threats",
    "drone": "drones incl. decoys",
    "missile": "missiles",
    "drones": "drones incl. decoys",
    "missiles": "missiles",
}
OUTCOME_LABELS: dict[str, str] = {
    "launched": "launched",
    "shot_down": "shot down",
    "suppressed": "suppressed",
    "intercepted": "intercepted",
    "leaked": "leaked",
    "failed": "failed",
}

# --------------------------------------------------------------------------- results files

RUNS_FILE = "runs.parquet"  # one row per replication
SUMMARY_FILE = "summary.json"  # a run's summary
SWEEP_SUMMARY_FILE = "summary.csv"  # one row per design point (sweeps, campaigns)
MANIFEST_FILE = "manifest.json"  # inputs, hashes, versions, seeds
PARAMETERS_FILE = "parameters.csv"  # a sweep's design points
SENSITIVITY_FILE = "sensitivity.csv"  # Sobol' indices
NIGHTS_FILE = "nights.parquet"  # a campaign's nights: replication x day
HINDCAST_FILE = "hindcast.csv"  # a campaign against the observed months (--observed)
CHUNKS_DIR = ".chunks"  # finished replications of a resumable run
STATE_FILE = "state.json"  # under CHUNKS_DIR: what the chunks belong to
CHECKSUMS_FILE = "checksums.sha256"  # beside the chunks: the sha256 of each (`sha256sum -c`)
FIGURES_DIR = "figures"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
TRACE_TABLES: tuple[str, ...] = ("threats", "routes", "units", "shots", "sites", "targets")
TRACE_PREFIX = "trace-"


def trace_file(name: str) -> str:
    """The file name of one trace table in a results folder, e.g. ``trace-threats.parquet``."""
    return f"{TRACE_PREFIX}{name}.parquet"


TRACE_FILES: tuple[str, ...] = tuple(trace_file(name) for name in TRACE_TABLES)
