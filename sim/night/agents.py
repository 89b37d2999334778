"""Mesa agents of one night: threats, defence units and targets.

Each agent is a light view of one row of the night's columnar state (held by the model,
so geometry and the engagement core stay vectorised): it answers what it is, where it
is and what happened to it, and that is all. The model makes them when first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.vocab import CLASSES, NO_UNIT, STATE_NAMES

if TYPE_CHECKING:
    from sim.night.model import NightModel


class Threat(mesa.Agent):
    """One drone, decoy or missile: type, class, route, times and final state."""

    def __init__(self, model: NightModel, index: int) -> None:
        super().__init__(model)
        self.index = int(index)

    @property
    def group(self) -> str:
        """The salvo group (scenario key) this threat belongs to."""
        batch = self.model.threat_batch
        return batch.group_ids[batch.group[self.index]]

    @property
    def type_id(self) -> str:
        """The catalogue threat type."""
        batch = self.model.threat_batch
        return batch.type_ids[batch.group[self.index]]

    @property
    def threat_class(self) -> str:
        """drone, decoy, cruise, ballistic or hypersonic."""
        return CLASSES[self.model.threat_batch.cls[self.index]]

    @property
    def launch_site(self) -> str:
        """The scenario launch site it started from."""
        return list(self.model.scenario.launch_sites)[self.model.threat_batch.site[self.index]]

    @property
    def target(self) -> str:
        """The scenario target it was aimed at."""
        return list(self.model.scenario.targets)[self.model.threat_batch.target[self.index]]

    @property
    def route_lonlat(self) -> np.ndarray:
        """Waypoints from launch to aim point as (lon, lat) rows."""
        batch = self.model.threat_batch
        points = batch.waypoints[self.index, : batch.n_points[self.index]]
        return self.model.projection.to_lonlat(points)

    @property
    def launch_time_s(self) -> float:
        """Seconds after the scenario's time origin."""
        return float(self.model.threat_batch.t_launch[self.index])

    @property
    def state(self) -> str:
        """flying (before the night is run), shot_down, suppressed, leaked or failed."""
        return STATE_NAMES[self.model.threat_state[self.index]]

    @property
    def killed_by(self) -> str | None:
        """The defence group that shot it down or suppressed it (None otherwise)."""
        unit = self.model.threat_killer[self.index]
        if unit == NO_UNIT:
            return None
        batch = self.model.unit_batch
        return batch.group_ids[batch.group[unit]]


class DefenceUnit(mesa.Agent):
    """One battery, fire group, fighter patrol, interceptor-drone team or EW site."""

    def __init__(self, model: NightModel, index: int) -> None:
        super().__init__(model)
        self.index = int(index)

    @property
    def group(self) -> str:
        """The defence group (scenario key) this unit belongs to."""
        batch = self.model.unit_batch
        return batch.group_ids[batch.group[self.index]]

    @property
    def type_id(self) -> str:
        """The catalogue defence type."""
        batch = self.model.unit_batch
        return batch.type_ids[batch.group[self.index]]

    @property
    def position_lonlat(self) -> tuple[float, float]:
        """Where the unit stands."""
        lon, lat = self.model.projection.to_lonlat(self.model.unit_batch.xy[self.index])
        return float(lon), float(lat)

    @property
    def shots_fired(self) -> int:
        """Interceptors (rounds) spent this night."""
        return int(self.model.unit_shots[self.index])


class Target(mesa.Agent):
    """A city or facility; leakers that reach it may hit it and cause damage."""

    def __init__(self, model: NightModel, index: int) -> None:
        super().__init__(model)
        self.index = int(index)
        self.target_id: str = list(model.scenario.targets)[self.index]

    @property
    def hits(self) -> int:
        """Leakers that hit it (0 before the night is run)."""
        return int(self.model.target_hits[self.index])

    @property
    def killed(self) -> int:
        """People killed."""
        return int(self.model.target_damage[self.index, 0])

    @property
    def injured(self) -> int:
        """People injured."""
        return int(self.model.target_damage[self.index, 1])

    @property
    def buildings(self) -> int:
        """Buildings damaged."""
        return int(self.model.target_damage[self.index, 2])


def release_agent_ids(model: mesa.Model) -> None:
    """Let a model that has run be garbage-collected.

    Mesa 3.3 numbers agents from a class-level dict keyed by model instance (`Agent._ids`),
    which keeps every model that ever made an agent, and all its arrays, alive for the life of
    the process: about 0.7 MB a night, gigabytes for a worker running campaigns of 180 nights.
    Call it once the model makes no more agents (one made later starts a new counter, to be
    released again).
    """
    mesa.Agent._ids.pop(model, None)


def draw_damage(rates: np.ndarray, hits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Killed, injured and damaged buildings of each target from its hits, Poisson with the
    target's means per hit (`NightPlan.damage_rates`): (targets, 3), drawn target by target."""
    return rng.poisson(rates * np.asarray(hits)[:, None])
