"""CampaignModel: nights in sequence, with production, stockpiles, budgets and investments.

A campaign (`sim.spec.campaign.Campaign`) runs day by day. Each day money is allotted
and spent, supplies arrive, the attacker produces and chooses the night's salvo, the
defender loads its units from its stocks, and one night of the night model
(`sim.night.model.NightModel`) is run with those counts and loads; rounds fired and threats
launched leave the stocks. See docs/campaign-reference.md ("How a day goes").

Design: `CampaignModel` is a Mesa model whose `step()` is one day. Its two agents, the
`Attacker` and the `Defender`, hold the stocks and the rules; each night is a separate
`NightModel` (a Mesa model of its own, built from one `NightPlan` computed once per
campaign) run with per-night overrides, so no scenario is validated and no geometry that
does not change is recomputed night after night. Units that enter service later (allied
batteries, new interceptor-drone teams) are in the plan from the start and stay out of the
fight (no rounds, no envelope) until they arrive.

All randomness comes from the generator passed in: the same campaign and seed give the
same nights, bit for bit.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import mesa
import numpy as np
import pandas as pd

from sim.campaign.launches import LaunchSchedule, launch_schedule
from sim.campaign.nights import CalibratedNights, TemplateNights, largest_remainder
from sim.night.agents import release_agent_ids
from sim.night.model import NightResult
from sim.spec.campaign import (
    DAYS_PER_MONTH,
    Campaign,
    FittedPolicy,
    MassPolicy,
    Ramp,
    SalvoPlan,
    SteadyPolicy,
)
from sim.spec.scenario import DefenceGroup, Scenario
from sim.vocab import CLASSES

__all__ = ["CampaignModel", "CampaignSetup", "largest_remainder", "run_campaign"]

DAYS_PER_YEAR = 365.25
_EPS = 1e-9


def _ramp_fraction(ramp: Ramp, days_in: int) -> float:
    """Fraction of the full rate `days_in` days after the ramp's first day (0 before it)."""
    if days_in < 0:
        return 0.0
    if ramp.ramp_days == 0:
        return 1.0
    return min(1.0, ramp.start_fraction + (1.0 - ramp.start_fraction) * days_in / ramp.ramp_days)


_TRACKED_BOOKS = ("stock_start", "produced", "delivered", "loaded", "held", "stock")
_ATTACKER_BOOKS = (
    "attacker_stock_start", "attacker_produced", "attacker_launched", "attacker_stock"
)  # fmt: skip
_CLASS_COLUMNS = tuple(f"{o}.{c}" for o in ("launched", "intercepted", "leaked") for c in CLASSES)


# --------------------------------------------------------------------------- set-up


@dataclass
class CampaignSetup:
    """What every replication of a campaign shares, computed once (no random draws)."""

    scenario: Scenario  # the template with the groups that join later (allied, teams)
    nights: TemplateNights | CalibratedNights  # how a night is made from the launches
    defence_types: list[str]  # every defence type with units, in unit order of appearance
    unit_type: np.ndarray  # per unit: index into defence_types
    tracked: list[str]  # defence types whose rounds are counted
    unit_tracked: np.ndarray  # per unit: index into tracked, or -1
    base_active: np.ndarray  # per unit: in service from day 0
    allied_units: list[tuple[int, np.ndarray]]  # (arrival day, unit indices)
    team_order: np.ndarray  # unit indices of new teams, in the order they enter service

    @property
    def threat_types(self) -> list[str]:
        """The attacker's books: threat types, or reported classes with a calibration."""
        return self.nights.books

    @property
    def template_type_counts(self) -> np.ndarray:
        """Per book: threats in the template's salvo."""
        return self.nights.template_counts

    @property
    def threat_cost(self) -> np.ndarray:
        """Per book: USD per threat."""
        return self.nights.cost

    @classmethod
    def from_campaign(cls, campaign: Campaign) -> CampaignSetup:
        """Build the campaign's night scenario (template + later groups) and its plan."""
        template = campaign.template_scenario
        extra: dict[str, DefenceGroup] = {}
        for name, battery in campaign.investments.allied_batteries.items():
            extra[name] = DefenceGroup(
                type=battery.type, count=battery.count, placement=battery.placement
            )
        drones = campaign.investments.interceptor_drones
        team_groups = dict(drones.teams.groups) if drones and drones.teams else {}
        extra.update(team_groups)
        scenario = (
            template.model_copy(update={"defences": {**template.defences, **extra}})
            if extra
            else template
        )
        attacker = campaign.attacker
        named = [*attacker.stock, *attacker.production_per_day]
        calibration = campaign.night_calibration
        nights: TemplateNights | CalibratedNights
        if calibration is None:
            nights = TemplateNights(scenario, list(dict.fromkeys(named)))
        else:
            nights = CalibratedNights(scenario, calibration, campaign.calendar.start)

        group_ids = list(scenario.defences)
        counts = np.array([g.count for g in scenario.defences.values()], dtype=np.int64)
        unit_group = np.repeat(np.arange(len(group_ids)), counts)
        group_types = [g.type for g in scenario.defences.values()]
        defence_types = list(dict.fromkeys(group_types))
        unit_type = np.array(
            [defence_types.index(group_types[g]) for g in unit_group], dtype=np.int64
        )
        tracked = campaign.tracked_types()
        unit_tracked = np.array(
            [
                tracked.index(defence_types[t]) if defence_types[t] in tracked else -1
                for t in unit_type
            ],
            dtype=np.int64,
        )
        first_unit = np.concatenate([[0], np.cumsum(counts)])

        def units_of(name: str) -> np.ndarray:
            g = group_ids.index(name)
            return np.arange(first_unit[g], first_unit[g + 1])

        base_active = np.zeros(len(unit_group), dtype=bool)
        for name in template.defences:
            base_active[units_of(name)] = True
        allied_units = [
            (campaign.calendar.day_of(b.arrival), units_of(name))
            for name, b in campaign.investments.allied_batteries.items()
        ]
        # new teams enter service in turn across their groups: 1st of each, 2nd of each, ...
        per_group = [units_of(name) for name in team_groups]
        team_order = np.array(
            [
                u[k]
                for k in range(max((len(u) for u in per_group), default=0))
                for u in per_group
                if k < len(u)
            ],
            dtype=np.int64,
        )

        return cls(
            scenario=scenario,
            nights=nights,
            defence_types=defence_types,
            unit_type=unit_type,
            tracked=tracked,
            unit_tracked=unit_tracked,
            base_active=base_active,
            allied_units=allied_units,
            team_order=team_order,
        )


# --------------------------------------------------------------------------- agents


@dataclass
class _Salvo:
    """A salvo plan turned into arrays over the attacker's threat types."""

    mean: float
    cv: float
    shares: np.ndarray

    @classmethod
    def of(cls, plan: SalvoPlan | None, setup: CampaignSetup) -> _Salvo | None:
        if plan is None:
            return None
        if plan.composition is None:
            shares = setup.template_type_counts.astype(float)
        else:
            shares = np.array(
                [plan.composition.get(t, 0.0) for t in setup.threat_types], dtype=float
            )
        mean = plan.size.mean
        if mean is None:
            mean = float(setup.template_type_counts.sum())
        return cls(mean=float(mean), cv=float(plan.size.cv), shares=shares)

    def draw_size(self, rng: np.random.Generator) -> int:
        if self.cv <= 0.0 or self.mean <= 0.0:
            return round(self.mean)
        shape = 1.0 / (self.cv * self.cv)
        return round(rng.gamma(shape, self.mean / shape))

    def expected(self) -> np.ndarray:
        return largest_remainder(round(self.mean), self.shares)


class Attacker(mesa.Agent):
    """The attacker: threat stocks by type, production and the launch policy."""

    def __init__(self, model: CampaignModel) -> None:
        super().__init__(model)
        setup, spec = model.setup, model.campaign.attacker
        types = setup.threat_types
        self.types = types
        self.stock = np.array([spec.stock.get(t, 0) for t in types], dtype=np.int64)
        self.rate = np.array([spec.production_per_day.get(t, 0.0) for t in types], dtype=float)
        self.carry = np.zeros(len(types))
        self.capacity = spec.launch_capacity_per_night
        self.policy = spec.policy
        self.schedule: LaunchSchedule | None = None
        self.nightly = self.mass = self.between = None
        self.mass_reserve = None
        if isinstance(self.policy, FittedPolicy):
            # the whole calendar's launch nights, drawn first from the replication's generator
            fit, calendar = model.campaign.attacker_fit, model.campaign.calendar
            assert fit is not None  # campaign_from_data reads the fit of a fitted policy
            self.schedule = launch_schedule(
                fit, calendar.start, calendar.end, model.rng, months=self.policy.months
            )
        elif isinstance(self.policy, SteadyPolicy):
            self.nightly = _Salvo.of(self.policy.nightly, setup)
        else:
            self.mass = _Salvo.of(self.policy.mass_night, setup)
            self.between = _Salvo.of(self.policy.other_nights, setup)
            self.mass_reserve = self.mass.expected() if self.policy.save_for_mass else None

    def produce(self, cut: float) -> np.ndarray:
        """Add the day's production (reduced by `cut`); return what was produced."""
        self.carry += self.rate * (1.0 - cut)
        made = np.floor(self.carry + _EPS).astype(np.int64)
        self.carry -= made
        self.stock += made
        return made

    def choose_salvo(self, day: int, launch_cut: float) -> tuple[np.ndarray, bool]:
        """Threats to launch tonight by type (within stock and capacity), and mass or not."""
        if self.schedule is not None:
            launch = self._within_limits(self.schedule.counts[day], self.stock, launch_cut)
            return launch, bool(self.schedule.mass[day])
        rng = self.model.rng
        mass_night = isinstance(self.policy, MassPolicy) and self.policy.is_mass(day)
        if self.nightly is not None:
            salvo = self.nightly
        else:
            salvo = self.mass if mass_night else self.between
        if salvo is None:
            return np.zeros(len(self.types), dtype=np.int64), mass_night
        wanted = largest_remainder(salvo.draw_size(rng), salvo.shares)
        limit = self.stock
        if not mass_night and self.mass_reserve is not None:
            limit = np.maximum(0, self.stock - self.mass_reserve)
        return self._within_limits(wanted, limit, launch_cut), mass_night

    def _within_limits(
        self, wanted: np.ndarray, limit: np.ndarray, launch_cut: float
    ) -> np.ndarray:
        """`wanted` by type, at most `limit` of each and the night's launch capacity in all."""
        launch = np.minimum(wanted, limit)
        if self.capacity is not None:
            cap = math.floor(self.capacity * (1.0 - launch_cut) + _EPS)
            if launch.sum() > cap:
                launch = np.minimum(launch, largest_remainder(cap, launch))
        return launch


@dataclass
class _Order:
    """One budget programme's state."""

    type_index: int
    unit_cost: float
    lead: int
    share: float
    max_per_month: int | None
    fund: float = 0.0


@dataclass
class _Pending:
    """Rounds due on future days, by type."""

    due: dict[int, np.ndarray] = field(default_factory=dict)

    def add(self, day: int, k: int, n: int, size: int) -> None:
        self.due.setdefault(day, np.zeros(size, dtype=np.int64))[k] += n

    def pop(self, day: int, size: int) -> np.ndarray:
        return self.due.pop(day, np.zeros(size, dtype=np.int64))


class Defender(mesa.Agent):
    """The defender: interceptor stocks by defence type, supply, money and fire rules."""

    def __init__(self, model: CampaignModel) -> None:
        super().__init__(model)
        campaign, setup = model.campaign, model.setup
        spec = campaign.defender
        self.tracked = setup.tracked
        size = len(self.tracked)
        index = {t: k for k, t in enumerate(self.tracked)}
        self.stock = np.array([spec.stock.get(t, 0) for t in self.tracked], dtype=np.int64)
        self.start_stock = self.stock.copy()
        self.rate = np.array(
            [spec.production_per_month.get(t, 0.0) / DAYS_PER_MONTH for t in self.tracked]
        )
        self.carry = np.zeros(size)
        self.pending = _Pending()
        for delivery in spec.deliveries:
            day = campaign.calendar.day_of(delivery.date)
            self.pending.add(day, index[delivery.type], delivery.quantity, size)
        for battery in campaign.investments.allied_batteries.values():
            day = campaign.calendar.day_of(battery.arrival)
            self.pending.add(day, index[battery.type], battery.missiles, size)
        self.budget = spec.budget
        self.orders = [
            _Order(index[p.type], p.unit_cost_usd, p.lead_time_days, p.share, p.max_per_month)
            for p in spec.budget.programmes.values()
        ]
        self.budget_allotted = 0.0
        self.budget_spent = 0.0
        self.on_order = np.zeros(size, dtype=np.int64)
        # low-stock rules
        rules = spec.rules
        self.hold_below = np.array(
            [rules[t].hold_below if t in rules else 0.0 for t in self.tracked]
        )
        self.max_rounds = [
            spec.rules[t].max_rounds_per_night if t in spec.rules else None for t in self.tracked
        ]
        self.hold_mask = [
            np.array([c not in spec.rules[t].engage_only for c in CLASSES])
            if t in spec.rules
            else np.zeros(len(CLASSES), dtype=bool)
            for t in self.tracked
        ]
        self.ran_out_day = np.full(size, -1, dtype=np.int64)
        self.hold_classes = [np.flatnonzero(mask) for mask in self.hold_mask]
        self.units_of = [np.flatnonzero(setup.unit_tracked == k) for k in range(size)]
        self.unit_tracked = setup.unit_tracked

    def allot_budget(self, day: int) -> float:
        """Allot the month's budget and place orders; return the money spent today."""
        per_month = self.budget.per_month_usd
        self.budget_allotted += per_month
        spent = 0.0
        size = len(self.tracked)
        for order in self.orders:
            order.fund += order.share * per_month
            n = math.floor(order.fund / order.unit_cost + _EPS)
            if order.max_per_month is not None:
                n = min(n, order.max_per_month)
            if n <= 0:
                continue
            cost = n * order.unit_cost
            order.fund = max(0.0, order.fund - cost)
            spent += cost
            self.on_order[order.type_index] += n
            self.pending.add(day + order.lead, order.type_index, n, size)
        self.budget_spent += spent
        return spent

    def produce(self) -> np.ndarray:
        """The day's own production (whole rounds; fractions carry)."""
        self.carry += self.rate
        made = np.floor(self.carry + _EPS).astype(np.int64)
        self.carry -= made
        return made

    def arrivals(self, day: int) -> np.ndarray:
        """Rounds due today (deliveries, orders, allied missiles)."""
        due = self.pending.pop(day, len(self.tracked))
        return due

    def load(
        self, active: np.ndarray, base: dict[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Per-unit magazine, reserve and envelope for tonight; rounds loaded and holds by type.

        Units out of service get nothing and no envelope. A tracked type's units get their
        template load while stock lasts, else an even split of what there is (earlier units
        take the odd rounds), never more than `max_rounds_per_night` in all; below the
        `hold_below` fraction of its starting stock a type engages only `engage_only`.
        """
        magazine = np.where(active, base["magazine"], 0)
        reserve = np.where(active, base["reserve"], 0)
        radius = np.where(active[:, None], base["radius_km"], 0.0)
        size = len(self.tracked)
        # template loads and active units by type; only types short of rounds are rationed
        code = np.where(active, self.unit_tracked, -1)
        counted = code >= 0
        n_active = np.bincount(code[counted], minlength=size)
        full = np.bincount(code[counted], weights=(magazine + reserve)[counted], minlength=size)
        available = self.stock.copy()
        for k, cap in enumerate(self.max_rounds):
            if cap is not None:
                available[k] = min(available[k], cap)
        for k in np.flatnonzero((n_active > 0) & (full > available)).tolist():
            idx = self.units_of[k][active[self.units_of[k]]]
            q, r = divmod(int(available[k]), len(idx))
            give = np.full(len(idx), q, dtype=np.int64)
            give[:r] += 1
            give = np.minimum(give, magazine[idx] + reserve[idx])
            magazine[idx] = np.minimum(base["magazine"][idx], give)
            reserve[idx] = give - magazine[idx]
        loaded = np.bincount(
            code[counted], weights=(magazine + reserve)[counted], minlength=size
        ).astype(np.int64)
        held = (
            (n_active > 0)
            & (self.hold_below > 0)
            & (self.stock < self.hold_below * self.start_stock)
        )
        for k in np.flatnonzero(held).tolist():
            idx = self.units_of[k][active[self.units_of[k]]]
            radius[idx[:, None], self.hold_classes[k]] = 0.0
        columns = {"magazine": magazine, "reserve": reserve, "radius_km": radius}
        return columns, loaded, held


# --------------------------------------------------------------------------- model


class CampaignModel(mesa.Model):
    """A campaign as a Mesa model: one `step()` is one day and its night."""

    def __init__(
        self,
        campaign: Campaign,
        *,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        setup: CampaignSetup | None = None,
    ) -> None:
        """`rng` (or `seed`, default the campaign's) drives every draw; pass `setup`
        (`CampaignSetup.from_campaign(campaign)`) to share it between replications."""
        if rng is None:
            rng = np.random.default_rng(campaign.seed if seed is None else seed)
        super().__init__(rng=rng)
        self.campaign = campaign
        self.setup = setup if setup is not None else CampaignSetup.from_campaign(campaign)
        self.calendar = campaign.calendar
        self.day = 0
        self.attacker = Attacker(self)
        self.defender = Defender(self)
        inv = campaign.investments
        self.drones = inv.interceptor_drones
        self.strike = inv.long_range_strike
        index = {t: k for k, t in enumerate(self.setup.tracked)}
        self.drone_type = index[self.drones.type] if self.drones is not None else -1
        self.drone_carry = 0.0
        self.drones_made = 0
        self.drone_interceptors = 0
        self.drone_spent = 0.0
        teams = self.drones.teams if self.drones is not None else None
        self.drones_per_team = teams.drones_per_team if teams is not None else 0
        self.strike_fund = 0.0
        self.strike_allotted = 0.0
        self.strike_spent = 0.0
        self.strike_carry = 0.0
        self.strike_missiles = 0
        self.balance = campaign.drone_balance
        self.rows: list[dict] = []
        # the per-night table's `<book>.<type>` column names, made once
        setup = self.setup
        names = {"spent": setup.defence_types, "downed_by": setup.defence_types}
        names.update((b, setup.tracked) for b in _TRACKED_BOOKS)
        names.update((b, setup.threat_types) for b in _ATTACKER_BOOKS)
        self._keys = {book: [f"{book}.{n}" for n in types] for book, types in names.items()}

    def _books(self, row: dict, book: str, values: np.ndarray) -> None:
        """Add `{book.type: value}` columns (whole numbers) to a night's row."""
        row.update(zip(self._keys[book], values.astype(np.int64).tolist(), strict=True))

    # ---- per-day pieces

    def _strike_day(self, day: int, allot: bool) -> tuple[int, float]:
        """Long-range missiles made and launched today, and the money spent."""
        strike = self.strike
        if strike is None:
            return 0, 0.0
        if allot:
            self.strike_fund += strike.budget_per_month_usd
            self.strike_allotted += strike.budget_per_month_usd
        start = 0 if strike.start is None else self.calendar.day_of(strike.start)
        self.strike_carry += strike.missiles_per_day * _ramp_fraction(strike, day - start)
        capacity = math.floor(self.strike_carry + _EPS)
        self.strike_carry -= capacity
        n = min(capacity, math.floor(self.strike_fund / strike.cost_per_missile_usd + _EPS))
        cost = n * strike.cost_per_missile_usd
        self.strike_fund = max(0.0, self.strike_fund - cost)
        self.strike_spent += cost
        self.strike_missiles += n
        return n, cost

    def _strike_cuts(self) -> tuple[float, float]:
        if self.strike is None:
            return 0.0, 0.0
        effect = self.strike.effect
        prod = min(effect.max_cut, effect.production_cut_per_missile * self.strike_missiles)
        launch = min(effect.max_cut, effect.launch_capacity_cut_per_missile * self.strike_missiles)
        return prod, launch

    def _drone_day(self, day: int) -> tuple[int, int, float]:
        """Interceptor and frontline drones made today by the programme, and the money spent."""
        drones = self.drones
        if drones is None:
            return 0, 0, 0.0
        start = 0 if drones.start is None else self.calendar.day_of(drones.start)
        self.drone_carry += (
            drones.drones_per_year / DAYS_PER_YEAR * _ramp_fraction(drones, day - start)
        )
        n = math.floor(self.drone_carry + _EPS)
        self.drone_carry -= n
        if drones.cost_per_drone_usd > 0:
            left = drones.budget_usd - self.drone_spent
            n = min(n, math.floor(left / drones.cost_per_drone_usd + _EPS))
        n = max(n, 0)
        cost = n * drones.cost_per_drone_usd
        self.drone_spent += cost
        self.drones_made += n
        interceptors_total = math.floor(drones.interceptor_share * self.drones_made + _EPS)
        interceptors = interceptors_total - self.drone_interceptors
        self.drone_interceptors = interceptors_total
        return interceptors, n - interceptors, cost

    def _active_units(self, day: int) -> np.ndarray:
        setup = self.setup
        active = setup.base_active.copy()
        for arrival, units in setup.allied_units:
            if day >= arrival:
                active[units] = True
        if self.drones_per_team and len(setup.team_order):
            teams = min(len(setup.team_order), self.drone_interceptors // self.drones_per_team)
            active[setup.team_order[:teams]] = True
        return active

    # ---- the day

    def step(self) -> None:
        """One day: money, supply, attacker production and salvo, the night, the books."""
        day = self.day
        if day >= self.calendar.days:
            self.running = False
            return
        date = self.calendar.start + dt.timedelta(days=day)
        attacker, defender, setup = self.attacker, self.defender, self.setup
        allot = day == 0 or date.day == 1

        # money and supply (defender)
        stock_start = defender.stock.copy()
        procurement = defender.allot_budget(day) if allot else 0.0
        produced = defender.produce()
        delivered = defender.arrivals(day)
        interceptors, frontline, drone_cost = self._drone_day(day)
        if self.drone_type >= 0:
            produced[self.drone_type] += interceptors
        defender.on_order -= np.minimum(defender.on_order, delivered)
        defender.stock += produced + delivered
        missiles, strike_cost = self._strike_day(day, allot)

        # attacker: production (cut by strikes before today's), then the salvo
        prod_cut, launch_cut = self._strike_cuts()
        attacker_stock_start = attacker.stock.copy()
        made = attacker.produce(prod_cut)
        launch, mass_night = attacker.choose_salvo(day, launch_cut)

        # the night
        draft = setup.nights.draft(date, launch, self.rng)
        active = self._active_units(day)
        columns, loaded, held = defender.load(active, draft.base)
        night = draft.model(self.rng, columns)
        result = night.run()  # a run night releases its Mesa id counter itself
        shots = night.unit_shots
        spent_all = np.bincount(setup.unit_type, weights=shots, minlength=len(setup.defence_types))
        tracked_units = setup.unit_tracked >= 0
        spent = np.bincount(
            setup.unit_tracked[tracked_units],
            weights=shots[tracked_units],
            minlength=len(defender.tracked),
        ).astype(np.int64)
        defender.stock -= spent
        attacker.stock -= launch
        newly_out = (defender.stock == 0) & (defender.ran_out_day < 0)
        defender.ran_out_day[newly_out] = day

        row = self._night_columns(day, mass_night, result)
        row.update(
            {
                "defender_procurement_usd": procurement,
                "defender_investment_usd": drone_cost + strike_cost,
                "attacker_production_usd": float(made @ setup.threat_cost),
                "budget_allotted_usd": defender.budget_allotted,
                "budget_spent_usd": defender.budget_spent,
                "drone_programme_spent_usd": self.drone_spent,
                "strike_allotted_usd": self.strike_allotted,
                "strike_spent_usd": self.strike_spent,
                "active_units": int(active.sum()),
            }
        )
        books = self._books
        books(row, "stock_start", stock_start)
        books(row, "produced", produced)
        books(row, "delivered", delivered)
        books(row, "loaded", loaded)
        row.update(zip(self._keys["held"], held.tolist(), strict=True))
        books(row, "stock", defender.stock)
        books(row, "spent", spent_all)
        downed = [result.defence.get(t, {}).get("kills", 0) for t in setup.defence_types]
        books(row, "downed_by", np.array(downed, dtype=np.int64))
        books(row, "attacker_stock_start", attacker_stock_start)
        books(row, "attacker_produced", made)
        books(row, "attacker_launched", launch)
        books(row, "attacker_stock", attacker.stock)
        defender_base = self.balance.defender_frontline_per_day
        row["interceptor_drones_made"] = interceptors
        row["frontline_drones_made"] = frontline
        row["drone_ratio"] = self.balance.start_ratio * defender_base / (defender_base + frontline)
        row["strike_missiles"] = missiles
        row["production_cut"] = prod_cut
        row["launch_capacity_cut"] = launch_cut
        self.rows.append(row)

        self.day += 1
        if self.day >= self.calendar.days:
            self.running = False
            release_agent_ids(self)  # no agent is made in a campaign after its last day

    @staticmethod
    def _night_columns(day: int, mass_night: bool, result: NightResult) -> dict:
        """The night's outcome, costs and cost-exchange ratios."""
        c = result.counts
        launched = c["launched.total"]
        intercepted = c["intercepted.total"]
        defender_cost = result.defender_cost_usd
        attacker_cost = result.attacker_cost_usd
        row: dict = {
            "day": day,
            "mass_night": mass_night,
            "launched": launched,
            "intercepted": intercepted,
            "shot_down": c["shot_down.total"],
            "suppressed": c["suppressed.total"],
            "leaked": c["leaked.total"],
            "failed": c["failed.total"],
            "intercept_rate": intercepted / launched if launched else math.nan,
            "hits": sum(t["hits"] for t in result.targets.values()),
            "killed": sum(t["killed"] for t in result.targets.values()),
            "injured": sum(t["injured"] for t in result.targets.values()),
            "defender_cost_usd": defender_cost,
            "attacker_cost_usd": attacker_cost,
            "cost_exchange": defender_cost / attacker_cost if attacker_cost else math.nan,
            "cost_per_intercept_usd": defender_cost / intercepted if intercepted else math.nan,
        }
        row.update((key, c[key]) for key in _CLASS_COLUMNS)
        return row

    # ---- the whole campaign

    def run(self) -> tuple[pd.DataFrame, dict]:
        """Run every remaining day; return the per-night table and the totals."""
        while self.running and self.day < self.calendar.days:
            self.step()
        nights = pd.DataFrame(self.rows)
        start = np.datetime64(self.calendar.start)
        nights.insert(1, "date", start + nights["day"].to_numpy().astype("timedelta64[D]"))
        return nights, self.totals(nights)

    def totals(self, nights: pd.DataFrame) -> dict:
        """Campaign totals: sums, rates, money, run-out days, final stocks, drone balance."""
        launched = int(nights["launched"].sum())
        intercepted = int(nights["intercepted"].sum())
        defender_cost = float(nights["defender_cost_usd"].sum())
        attacker_cost = float(nights["attacker_cost_usd"].sum())
        mass = nights[nights["mass_night"] & (nights["launched"] > 0)]
        totals: dict = {
            "days": len(nights),
            "mass_nights": len(mass),
            "launched": launched,
            "intercepted": intercepted,
            "leaked": int(nights["leaked"].sum()),
            "hits": int(nights["hits"].sum()),
            "killed": int(nights["killed"].sum()),
            "injured": int(nights["injured"].sum()),
            "intercept_rate": intercepted / launched if launched else math.nan,
            "mass_intercept_rate": float(mass["intercept_rate"].mean()) if len(mass) else math.nan,
            "defender_cost_usd": defender_cost,
            "attacker_cost_usd": attacker_cost,
            "cost_exchange": defender_cost / attacker_cost if attacker_cost else math.nan,
            "cost_per_intercept_usd": defender_cost / intercepted if intercepted else math.nan,
            "defender_procurement_usd": float(nights["defender_procurement_usd"].sum()),
            "defender_investment_usd": float(nights["defender_investment_usd"].sum()),
            "attacker_production_usd": float(nights["attacker_production_usd"].sum()),
            "budget_allotted_usd": self.defender.budget_allotted,
            "budget_spent_usd": self.defender.budget_spent,
            "strike_missiles": int(self.strike_missiles),
            "drone_ratio_start": self.balance.start_ratio,
            "drone_ratio_end": float(nights["drone_ratio"].iloc[-1]) if len(nights) else math.nan,
        }
        for k, t in enumerate(self.setup.tracked):
            day = int(self.defender.ran_out_day[k])
            totals[f"ran_out_day.{t}"] = day if day >= 0 else None
            totals[f"stock.{t}"] = int(self.defender.stock[k])
            totals[f"on_order.{t}"] = int(self.defender.on_order[k])
        for t in self.setup.defence_types:
            totals[f"spent.{t}"] = int(nights[f"spent.{t}"].sum())
        return totals


def run_campaign(
    campaign: Campaign, rng: np.random.Generator, *, setup: CampaignSetup | None = None
) -> tuple[pd.DataFrame, dict]:
    """One replication of a campaign: the per-night table (one row per day) and the totals.

    `setup` (`CampaignSetup.from_campaign(campaign)`) may be shared by replications.
    """
    return CampaignModel(campaign, rng=rng, setup=setup).run()
