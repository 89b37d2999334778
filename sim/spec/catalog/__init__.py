"""The shipped type catalogue: threats.yaml and defences.yaml, every number sourced.

These files hold the default numbers of every threat and defence type (their models are
`sim.spec.scenario.ThreatType` and `DefenceType`; a scenario's `catalog:` section is merged
over them). Their texts are part of every run's fingerprint, since they fix the numbers.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

from sim.spec.yamlio import load_yaml

CATALOG_DIR = Path(__file__).parent
CATALOG_FILES: tuple[str, ...] = ("threats.yaml", "defences.yaml")


def catalog_texts() -> list[str]:
    """The texts of the type catalogue: part of every fingerprint, since they fix the numbers."""
    return [(CATALOG_DIR / name).read_text(encoding="utf-8") for name in CATALOG_FILES]


@cache
def _parsed() -> dict[str, dict[str, Any]]:
    threats = load_yaml(CATALOG_DIR / "threats.yaml").data
    defences = load_yaml(CATALOG_DIR / "defences.yaml").data
    return {"threats": threats, "defences": defences}


def default_catalog_data() -> dict[str, dict[str, Any]]:
    """The shipped catalogue as plain data (a fresh copy each call; parsed once)."""
    return copy.deepcopy(_parsed())
