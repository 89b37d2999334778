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

from sim.night import geo
from sim.night.agents import DefenceUnit, Target, Threat, draw_damage, release_agent_ids
from sim.night.engagement import (
    EngagementOutcome,
    ThreatParams,
    UniformStream,
    run_engagements,
)
from sim.night.laydown import DECOY, NightPlan, build_threats, build_units
from sim.spec.scenario import Scenario
from sim.vocab import (
    CLASSES,
    FAILED,
    FLYING,
    LEAKED,
    NO_UNIT,
    OUTCOMES,
    SHOT_DOWN,
    STATE_NAMES,
    SUPPRESSED,
)


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

    _views_pending = False  # agents still to be made (see `_views`)

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
        `agent_views=False` never makes the Threat, DefenceUnit and Target agents (light
        views of the night's columns, otherwise made when first asked for; the night and its
        result are the same either way).
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
        self._shared_plan = plan is not None
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
        self.target_hits = np.zeros(len(scenario.targets), dtype=np.int64)
        self.target_damage = np.zeros((len(scenario.targets), 3), dtype=np.int64)
        # the agents (views of these columns) are made when first asked for (`_views`)
        self._views_pending = agent_views
        self.outcome: EngagementOutcome | None = None
        self.windows: geo.Windows | None = None
        self.result: NightResult | None = None

    @property
    def agents(self) -> AgentSet:
        """Every agent of the night (Mesa's AgentSet), views included."""
        self._views()
        return super().agents

    @property
    def agents_by_type(self) -> dict[type[mesa.Agent], AgentSet]:
        """The night's AgentSets by agent class, views included."""
        self._views()
        return super().agents_by_type

    @property
    def agent_types(self) -> list[type]:
        """The agent classes of the night, views included."""
        self._views()
        return super().agent_types

    @property
    def threats(self) -> AgentSet:
        """The Threat agents (views of the threat columns), one per threat."""
        return self.agents_by_type.get(Threat, AgentSet([], random=self.random))

    @property
    def units(self) -> AgentSet:
        """The DefenceUnit agents (views of the unit columns), one per unit."""
        return self.agents_by_type.get(DefenceUnit, AgentSet([], random=self.random))

    @property
    def targets(self) -> AgentSet:
        """The Target agents (views of the target columns), one per scenario target."""
        return self.agents_by_type.get(Target, AgentSet([], random=self.random))

    def _views(self) -> None:
        """Make the Threat, DefenceUnit and Target agents on first use.

        They hold no state of their own (each reads its row of the columns), so making them
        later changes nothing but when the cost is paid; a night nobody inspects, as in
        replications and campaigns, never pays it.
        """
        if not self._views_pending:
            return
        self._views_pending = False
        for i in range(len(self.threat_batch)):
            Threat(self, i)
        for u in range(len(self.unit_batch)):
            DefenceUnit(self, u)
        for k in range(len(self.target_hits)):
            Target(self, k)
        if self.result is not None:  # see step(): a night that has run keeps no id counter
            release_agent_ids(self)

    def step(self) -> None:
        """Run the whole night (continuous time inside), then settle every threat."""
        if self.result is not None:
            return
        threats, units = self.threat_batch, self.unit_batch
        legs = threats.legs
        reach = units.radius_km.max(axis=1, initial=0.0)
        # a shared plan keeps the index of the units that never move; a night's own plan
        # is used once, so its index is built in one go
        index = (
            self.plan.unit_index(units.xy, reach)
            if self._shared_plan
            else geo.unit_index(units.xy, reach)
        )
        self.windows = geo.envelope_windows(
            legs, threats.cls[legs.threat], units.xy, units.radius_km, index
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
            units,  # a UnitBatch is the core's UnitParams
            UniformStream(self.rng),
            log_shots=self.log_shots,
            cache=self.plan.cache.setdefault("engagement", {}),
        )
        self._settle()
        self.result = self._tally()
        self.running = False
        # agents made after the night has run release their counter again (`_views`)
        release_agent_ids(self)

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
        # rows in OUTCOMES order (launched, each final state, intercepted), then the totals
        rows = _OUTCOME_ROWS @ table @ _WITH_TOTAL
        counts = dict(zip(_COUNT_KEYS, rows.ravel().tolist(), strict=True))

        # hits: leakers that are not decoys hit with their type's accuracy
        leaked = self.threat_state == LEAKED
        draws = self.rng.random(len(threats))
        hit = leaked & (threats.cls != DECOY) & (draws < threats.accuracy)
        self.threat_hit = hit
        hits_by_target = np.bincount(threats.target[hit], minlength=len(self.scenario.targets))
        self.target_hits = hits_by_target
        self.target_damage = draw_damage(self.plan.damage_rates, hits_by_target, self.rng)
        targets = {
            target_id: {"hits": hits, "killed": killed, "injured": injured, "buildings": built}
            for target_id, hits, (killed, injured, built) in zip(
                self.scenario.targets,
                hits_by_target.tolist(),
                self.target_damage.tolist(),
                strict=True,
            )
        }

        credited = self.threat_killer[self.threat_killer != NO_UNIT]
        kills_per_unit = np.bincount(credited, minlength=len(units))
        cost_per_unit = self.unit_shots * units.cost_per_shot_usd
        # per defence type: its units' rounds, kills and cost (the cost summed over the same
        # units in the same order as a masked sum, and only for types that fired)
        type_ids = list(dict.fromkeys(units.type_ids))
        group_type = np.array([type_ids.index(t) for t in units.type_ids], dtype=np.int64)
        unit_type = group_type[units.group] if len(units) else np.empty(0, dtype=np.int64)
        shots = np.bincount(unit_type, weights=self.unit_shots, minlength=len(type_ids))
        kills = np.bincount(unit_type, weights=kills_per_unit, minlength=len(type_ids))
        cost = [
            float(cost_per_unit[unit_type == k].sum()) if fired else 0.0
            for k, fired in enumerate((shots > 0).tolist())
        ]
        defence = {
            type_id: {"shots": n, "kills": killed, "cost_usd": usd}
            for type_id, n, killed, usd in zip(
                type_ids,
                shots.astype(np.int64).tolist(),
                kills.astype(np.int64).tolist(),
                cost,
                strict=True,
            )
        }
        return NightResult(
            counts=counts,
            defence=defence,
            targets=targets,
            attacker_cost_usd=float(threats.cost_usd.sum()),
            defender_cost_usd=float(cost_per_unit.sum()),
        )


# OUTCOMES rows from the (state x class) table: launched = every state, each final state,
# intercepted = shot down + suppressed; and the class columns followed by their total
_STATES = np.eye(len(STATE_NAMES), dtype=np.int64)
_OUTCOME_ROWS = np.vstack(
    [_STATES.sum(axis=0), _STATES[1:], _STATES[SHOT_DOWN] + _STATES[SUPPRESSED]]
)
_WITH_TOTAL = np.hstack(
    [np.eye(len(CLASSES), dtype=np.int64), np.ones((len(CLASSES), 1), np.int64)]
)
# the keys of NightResult.counts in the order `_tally` fills them (OUTCOMES is launched, the
# final states after flying in STATE_NAMES order, intercepted)
_COUNT_KEYS = tuple(f"{o}.{c}" for o in OUTCOMES for c in (*CLASSES, "total"))


def run_night(
    scenario: Scenario, rng: np.random.Generator, plan: NightPlan | None = None
) -> NightResult:
    """One replication of a scenario with the given generator (pass `plan` to reuse it)."""
    return NightModel(scenario, rng=rng, plan=plan).run()
