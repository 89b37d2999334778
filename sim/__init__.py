"""salvo: scenario simulation of mass drone and missile attacks against layered air defence.

The Python API the command line wraps::

    from sim import load_scenario, run_replications, NightModel
    scenario = load_scenario("scenarios/aug-2025-night.yaml")
    runs = run_replications(scenario, 200, seed=1)        # tidy table, one row per night
    result = NightModel(scenario, seed=1).run()           # one night

The names are loaded on first use (PEP 562), so ``import sim`` and commands that never
simulate (``salvo --help``, ``salvo check``) do not import Mesa, pandas or scipy.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("salvo-sim")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

# public name -> the module that defines it
_API: dict[str, str] = {
    "NightModel": "sim.night.model",
    "NightResult": "sim.night.model",
    "run_night": "sim.night.model",
    "replication_rng": "sim.experiments.replications",
    "run_replications": "sim.experiments.replications",
    "Scenario": "sim.spec.scenario",
    "load_catalog": "sim.spec.scenario",
    "load_scenario": "sim.spec.scenario",
}

__all__ = [
    "NightModel",
    "NightResult",
    "Scenario",
    "__version__",
    "load_catalog",
    "load_scenario",
    "replication_rng",
    "run_night",
    "run_replications",
]

if TYPE_CHECKING:
    from sim.experiments.replications import replication_rng, run_replications
    from sim.night.model import NightModel, NightResult, run_night
    from sim.spec.scenario import Scenario, load_catalog, load_scenario


def __getattr__(name: str) -> Any:
    """Import the module of a public name when the name is first used."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
