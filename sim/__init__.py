"""salvo: scenario simulation of mass drone and missile attacks against layered air defence.

The Python API the command line wraps::

    from sim import load_scenario, run_replications, NightModel
    scenario = load_scenario("scenarios/aug-2025-night.yaml")
    runs = run_replications(scenario, 200, seed=1)        # tidy table, one row per night
    result = NightModel(scenario, seed=1).run()           # one night

and the library function behind each command: `run_scenario` (salvo run), `prepare_experiment`
+ `run_sweep` (salvo sweep), `prepare_campaign` + `run_campaigns` (salvo campaign),
`plot_results` (salvo plot), `write_report` (salvo report), `calibrate_file` (salvo
calibrate), `validate_file` (salvo validate).

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
    "load_campaign": "sim.spec.campaign",
    "run_campaign": "sim.campaign.model",
    "run_scenario": "sim.experiments.runs",
    "prepare_experiment": "sim.spec.experiment",
    "run_sweep": "sim.experiments.sweep",
    "prepare_campaign": "sim.experiments.campaigns",
    "run_campaigns": "sim.experiments.campaigns",
    "plot_results": "sim.viz.registry",
    "write_report": "sim.viz.report",
    "calibrate_file": "sim.analysis.calibrate.runs",
    "validate_file": "sim.analysis.calibrate.runs",
}

# public names that their module defines under another name
_DEFINED_AS: dict[str, str] = {"prepare_experiment": "prepare"}

__all__ = [
    "NightModel",
    "NightResult",
    "Scenario",
    "__version__",
    "calibrate_file",
    "load_campaign",
    "load_catalog",
    "load_scenario",
    "plot_results",
    "prepare_campaign",
    "prepare_experiment",
    "replication_rng",
    "run_campaign",
    "run_campaigns",
    "run_night",
    "run_replications",
    "run_scenario",
    "run_sweep",
    "validate_file",
    "write_report",
]

if TYPE_CHECKING:
    from sim.analysis.calibrate.runs import calibrate_file, validate_file
    from sim.campaign.model import run_campaign
    from sim.experiments.campaigns import prepare_campaign, run_campaigns
    from sim.experiments.replications import replication_rng, run_replications
    from sim.experiments.runs import run_scenario
    from sim.experiments.sweep import run_sweep
    from sim.night.model import NightModel, NightResult, run_night
    from sim.spec.campaign import load_campaign
    from sim.spec.experiment import prepare as prepare_experiment
    from sim.spec.scenario import Scenario, load_catalog, load_scenario
    from sim.viz.registry import plot_results
    from sim.viz.report import write_report


def __getattr__(name: str) -> Any:
    """Import the module of a public name when the name is first used."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _DEFINED_AS.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
