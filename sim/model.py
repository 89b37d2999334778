"""NightModel: one night of attack and defence as a Mesa model.

Scenario + generator -> NightResult. The model draws the night (`laydown`), computes
every envelope window once (`geo`), runs the event-driven engagement core
(`engagement`), then settles every threat in exactly one final state and turns leakers
into hits on targets. One `step()` is the whole night: time inside it is continuous.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import mesa
import numpy as np
from mesa.agent import AgentSet

from sim import geo
from sim.agents import DefenceUnit, Target, Threat
from sim.engagement import (
    FAILED,
    FLYING,
    LEAKED,
    NO_UNIT,
    OUTCOMES,
    STATE_NAMES,
    SUPPRESSED,
    EngagementOutcome,
    ThreatParams,
    UniformStream,
    UnitParams,
    run_engagements,
)
from sim.laydown import DECOY, NightPlan, build_threats, build_units
from sim.scenario import CLASSES, Scenario


@dataclass
class NightResult:
    """Everything one night produced, as flat counts (one runs-table row)."""

    counts: dict[str, int]  # "<outcome>.<class>" and "<outcome>.total"
    defence: dict[str, dict[str, float]]  # defence type -> shots, kills, cost_usd
    targets: dict[str, dict[str, int]]  # target -> hits, killed, injured, buildings
    attacker_cost_usd: float
    defender_cost_usd: float
    extra: dict[str, float] = field(default_factory=dict)

    def as_row(self) -> dict[str, float | int]:
        """The flat runs-table row for this night."""
        row: dict[str, float | int] = dict(self.counts)
        for type_id, values in self.defence.items():
            for key, value in values.items():
                row[f"{key}.{type_id}"] = value
        row["defender_cost_usd"] = self.defender_cost_usd
        row["attacker_cost_usd"] = self.attacker_cost_usd
        for target_id, values in self.targets.items():
            for key, value in values.items():
                row[f"{key}.{target_id}"] = value
        row.update(self.extra)
        return row


class NightModel(mesa.Model):
    """One night: threats fly their routes, defence units engage them, leakers hit targets."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        plan: NightPlan | None = None,
        log_shots: bool = False,
        counts: Mapping[str, int] | None = None,
        unit_columns: Mapping[str, np.ndarray] | None = None,
        agent_views: bool = True,
    ) -> None:
        """Draw the night from `rng` (or `seed`); `plan` reuses what replications share.

        Per-night overrides, for callers that run many nights of one scenario (campaigns):
        `counts` replaces salvo group counts (`build_threats`), `unit_columns` per-unit
        parameter columns such as `magazine`, `reserve` and `radius_km` (`build_units`);
        `agent_views=False` skips the Threat and DefenceUnit agents (light views of the
        columnar state the engagement core uses; the night and its result are the same).
        Left at their defaults they change nothing.
        """
        if rng is None:
            rng = np.random.default_rng(seed)
        super().__init__(rng=rng)
        if scenario.has_distributions:
            # night-level uncertain parameters are drawn first, then the night is built
            scenario = scenario.sample(self.rng)
            plan = None
        self.scenario = scenario
        self.log_shots = log_shots
        self.plan = plan if plan is not None else NightPlan.from_scenario(scenario)
        self.projection = self.plan.projection
        self.threat_batch = build_threats(scenario, self.plan, self.rng, counts=counts)
        self.unit_batch = build_units(scenario, self.plan, self.rng, columns=unit_columns)
        n_threats, n_units = len(self.threat_batch), len(self.unit_batch)
        self.threat_state = np.zeros(n_threats, dtype=np.int8)
        self.threat_killer = np.full(n_threats, NO_UNIT, dtype=np.int64)
        self.threat_end_time = np.full(n_threats, np.nan)
        self.threat_hit = np.zeros(n_threats, dtype=bool)  # leakers that hit their target
        self.unit_shots = np.zeros(n_units, dtype=np.int64)
        if agent_views:
            for i in range(n_threats):
                Threat(self, i)
            for u in range(n_units):
                DefenceUnit(self, u)
        for target_id in scenario.targets:
            Target(self, target_id)
        empty = AgentSet([], random=self.random)
        self.threats = self.agents_by_type.get(Threat, empty)
        self.units = self.agents_by_type.get(DefenceUnit, empty)
        self.targets = self.agents_by_type.get(Target, empty)
        self.outcome: EngagementOutcome | None = None
        self.windows: geo.Windows | None = None
        self.result: NightResult | None = None

    def step(self) -> None:
        """Run the whole night (continuous time inside), then settle every threat."""
        if self.result is not None:
            return
        threats, units = self.threat_batch, self.unit_batch
        legs = threats.legs
        self.windows = geo.envelope_windows(
            legs, threats.cls[legs.threat], units.xy, units.radius_km
        )
        self.outcome = run_engagements(
            self.windows.threat,
            self.windows.unit,
            self.windows.t_in,
            self.windows.t_out,
            ThreatParams(
                cls=threats.cls,
                t_start=threats.t_launch,
                t_stop=threats.t_stop,
                is_decoy=threats.cls == DECOY,
                ew_susceptibility=threats.ew_susceptibility,
            ),
            UnitParams(
                pk=units.pk,
                suppression=units.suppression,
                channels=units.channels,
                magazine=units.magazine,
                reserve=units.reserve,
                reload_s=units.reload_s,
                reaction_s=units.reaction_s,
                engage_s=units.engage_s,
                shots=units.shots,
                shoot_look_shoot=units.shoot_look_shoot,
                queue=units.queue,
                decoy_discrimination=units.decoy_discrimination,
                is_ew=units.is_ew,
            ),
            UniformStream(self.rng),
            log_shots=self.log_shots,
        )
        self._settle()
        self.result = self._tally()
        self.running = False
        # Mesa 3.3 numbers agents from a class-level dict keyed by model (Agent._ids), which
        # keeps every model that ever made an agent alive for the life of the process (~0.7 MB
        # a night); no agent is made after the night has run, so its counter can go
        mesa.Agent._ids.pop(self, None)

    def run(self) -> NightResult:
        """Run the night and return its result."""
        self.step()
        assert self.result is not None
        return self.result

    def _settle(self) -> None:
        """Give every threat the defence did not stop its final state, in time order."""
        threats, outcome = self.threat_batch, self.outcome
        state = outcome.state.copy()
        end_time = outcome.t_state.copy()
        flying = state == FLYING
        failed = flying & (threats.t_fail <= threats.t_supp) & (threats.t_fail < threats.t_end)
        lost = flying & ~failed & (threats.t_supp < threats.t_end)
        state[failed] = FAILED
        state[lost] = SUPPRESSED
        state[flying & ~failed & ~lost] = LEAKED
        end_time[failed] = threats.t_fail[failed]
        end_time[lost] = threats.t_supp[lost]
        leaked = state == LEAKED
        end_time[leaked] = threats.t_end[leaked]
        self.threat_state = state
        self.threat_killer = outcome.killer
        self.threat_end_time = end_time
        self.unit_shots = outcome.shots

    def _tally(self) -> NightResult:
        threats, units = self.threat_batch, self.unit_batch
        n_classes = len(CLASSES)
        table = np.bincount(
            self.threat_state.astype(np.int64) * n_classes + threats.cls,
            minlength=len(STATE_NAMES) * n_classes,
        ).reshape(len(STATE_NAMES), n_classes)
        launched = table.sum(axis=0)
        counts: dict[str, int] = {}
        per_outcome = {
            "launched": launched,
            "shot_down": table[1],
            "suppressed": table[2],
            "leaked": table[3],
            "failed": table[4],
            "intercepted": table[1] + table[2],
        }
        for outcome in OUTCOMES:
            values = per_outcome[outcome]
            for k, cls in enumerate(CLASSES):
                counts[f"{outcome}.{cls}"] = int(values[k])
            counts[f"{outcome}.total"] = int(values.sum())

        # hits: leakers that are not decoys hit with their type's accuracy
        leaked = self.threat_state == LEAKED
        draws = self.rng.random(len(threats))
        hit = leaked & (threats.cls != DECOY) & (draws < threats.accuracy)
        self.threat_hit = hit
        hits_by_target = np.bincount(threats.target[hit], minlength=len(self.scenario.targets))
        targets: dict[str, dict[str, int]] = {}
        for agent in self.targets:
            k = list(self.scenario.targets).index(agent.target_id)
            agent.take_hits(int(hits_by_target[k]), self.rng)
            targets[agent.target_id] = {
                "hits": agent.hits,
                "killed": agent.killed,
                "injured": agent.injured,
                "buildings": agent.buildings,
            }

        defence: dict[str, dict[str, float]] = {}
        unit_type = np.array(units.type_ids, dtype=object)[units.group] if len(units) else []
        credited = self.threat_killer[self.threat_killer != NO_UNIT]
        kills_per_unit = np.bincount(credited, minlength=len(units))
        cost_per_unit = self.unit_shots * units.cost_per_shot_usd
        for type_id in dict.fromkeys(units.type_ids):
            mask = unit_type == type_id
            defence[type_id] = {
                "shots": int(self.unit_shots[mask].sum()),
                "kills": int(kills_per_unit[mask].sum()),
                "cost_usd": float(cost_per_unit[mask].sum()),
            }
        return NightResult(
            counts=counts,
            defence=defence,
            targets=targets,
            attacker_cost_usd=float(threats.cost_usd.sum()),
            defender_cost_usd=float(cost_per_unit.sum()),
        )


def run_night(
    scenario: Scenario, rng: np.random.Generator, plan: NightPlan | None = None
) -> NightResult:
    """One replication of a scenario with the given generator (pass `plan` to reuse it)."""
    return NightModel(scenario, rng=rng, plan=plan).run()
