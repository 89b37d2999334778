"""salvo: scenario simulation of mass drone and missile attacks against layered air defence.

The Python API the command line wraps::

    from sim import load_scenario, run_replications, NightModel
    scenario = load_scenario("scenarios/aug-2025-night.yaml")
    runs = run_replications(scenario, 200, seed=1)        # tidy table, one row per night
    result = NightModel(scenario, seed=1).run()           # one night
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("salvo-sim")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

from sim.model import NightModel, NightResult, run_night
from sim.runner import replication_rng, run_replications
from sim.scenario import Scenario, load_catalog, load_scenario

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
