"""How a campaign night is made from the attacker's launches: two night makers.

`TemplateNights`: every night is a copy of the template scenario, the attacker's launches
counted by threat type and split over the template's salvo groups of that type (the
what-if night of a campaign without a calibration).

`CalibratedNights`: every night is the calibrated night of its date, built by the night
builder of `salvo validate` (`sim.night.builder`: deep and near routes by size, concentrated
raids, short-range reach, EW, ballistic-missile defence and the night-to-night spreads), the
attacker's launches counted by reported class (drone, cruise, ballistic, hypersonic). The
builder's work that does not depend on the launches (the scenario of the date's posture and
its plan) is done once per date and shared by every replication in the process.

Both return a `NightDraft`: tonight's salvo group counts and what the defender loads onto
(per-unit magazine, reserve and envelope); `NightDraft.model` then makes the `NightModel`
with the defender's loads laid over.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.night.builder import NightRow, NightSpec, night_spec
from sim.night.laydown import NightPlan
from sim.night.model import NightModel
from sim.spec.calibration import Calibration
from sim.spec.scenario import Scenario
from sim.vocab import OBSERVED_CLASSES

__all__ = ["CalibratedNights", "NightDraft", "TemplateNights", "largest_remainder"]

LOADED = ("magazine", "reserve", "radius_km")  # per-unit columns a campaign sets each night
_EPS = 1e-9


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split `total` into whole parts proportional to `weights` (Hamilton's method).

    Ties go to the earlier entry; zero weights get nothing; the parts sum to `total`
    (or to 0 when every weight is 0).
    """
    w = np.asarray(weights, dtype=float)
    out = np.zeros(len(w), dtype=np.int64)
    if len(w) == 1:  # the general case gives the same, slower
        out[0] = total if total > 0 and w[0] > 0 else 0
        return out
    s = w.sum()
    if total <= 0 or s <= 0:
        return out
    raw = total * w / s
    out[:] = np.floor(raw + _EPS)
    short = int(total - out.sum())
    if short > 0:
        order = np.argsort(-(raw - out), kind="stable")
        out[order[:short]] += 1
    elif short < 0:  # pragma: no cover - only if rounding pushed several parts up
        order = np.argsort(raw - out, kind="stable")
        out[order[:-short]] -= 1
    return out


@dataclass
class NightDraft:
    """Tonight before the defender loads: the scenario, its plan (None: the model builds its
    own from the scenario's distributions), the salvo group counts, the per-unit columns
    drawn for tonight and the base columns the defender's loads start from."""

    scenario: Scenario
    plan: NightPlan | None
    counts: dict[str, int]
    base: dict[str, np.ndarray]  # magazine, reserve, radius_km of every unit at full strength
    drawn: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. pk drawn for tonight

    def model(self, rng: np.random.Generator, loads: dict[str, np.ndarray]) -> NightModel:
        """The night, ready to run, with the defender's `loads` (magazine, reserve, envelope)."""
        return NightModel(
            self.scenario, rng=rng, plan=self.plan, counts=self.counts,
            unit_columns={**self.drawn, **loads}, agent_views=False,
        )  # fmt: skip


def _base_columns(plan: NightPlan) -> dict[str, np.ndarray]:
    return {k: plan.unit_columns[k] for k in LOADED}


class TemplateNights:
    """Every night a copy of the template; the attacker counted by threat type."""

    def __init__(self, scenario: Scenario, attacker_types: list[str]) -> None:
        """`attacker_types`: the threat types the attacker names (stock, production,
        compositions); the template's salvo types are added after them."""
        self.scenario = scenario
        uncertain = bool(getattr(scenario, "has_distributions", False))
        self.plan = None if uncertain else NightPlan.from_scenario(scenario)
        self.salvo_groups = list(scenario.salvo)
        salvo_types = [g.type for g in scenario.salvo.values()]
        self.books = list(dict.fromkeys([*attacker_types, *salvo_types]))
        self.type_groups: list[tuple[np.ndarray, np.ndarray]] = []
        for type_id in self.books:
            idx = np.array([g for g, t in enumerate(salvo_types) if t == type_id], dtype=np.int64)
            weights = np.array(
                [scenario.salvo[self.salvo_groups[g]].count for g in idx], dtype=float
            )
            if len(idx) and weights.sum() <= 0:
                weights = np.ones(len(idx))
            self.type_groups.append((idx, weights))
        self.template_counts = np.array(
            [sum(g.count for g in scenario.salvo.values() if g.type == t) for t in self.books],
            dtype=np.int64,
        )
        self.cost = np.array([scenario.catalog.threats[t].cost_usd for t in self.books], float)

    def group_counts(self, launch: np.ndarray) -> dict[str, int]:
        """Split each type's launches over the template's salvo groups of that type."""
        counts = dict.fromkeys(self.salvo_groups, 0)
        for k, n in enumerate(launch.tolist()):
            if n == 0:
                continue
            idx, weights = self.type_groups[k]
            for g, m in zip(idx.tolist(), largest_remainder(n, weights).tolist(), strict=True):
                counts[self.salvo_groups[g]] += m
        return counts

    def draft(self, date: dt.date, launch: np.ndarray, rng: np.random.Generator) -> NightDraft:
        """Tonight's night: the template (one draw of its distributions, if it has any)."""
        counts = self.group_counts(launch)
        if self.plan is not None:
            return NightDraft(self.scenario, self.plan, counts, _base_columns(self.plan))
        scenario = self.scenario.sample(rng)  # distributions: one draw per night
        plan = NightPlan.from_scenario(scenario)
        return NightDraft(scenario, plan, counts, _base_columns(plan))


class CalibratedNights:
    """Every night the calibrated night of its date; the attacker counted by reported class."""

    def __init__(self, scenario: Scenario, calibration: Calibration, first: dt.date) -> None:
        """`scenario`: the calibration's template with the campaign's later groups added;
        `first`: the campaign's first date."""
        self.scenario = scenario
        self.calibration = calibration
        self.data = scenario.model_dump(mode="json", by_alias=True)  # the builder's input
        self.books = list(OBSERVED_CLASSES)
        self.specs: dict[dt.date, NightSpec] = {}
        self.plan = self.spec_of(first).plan  # every date has the same units, in this order
        self.template_counts, self.cost = self._class_counts_and_costs()

    def _class_counts_and_costs(self) -> tuple[np.ndarray, np.ndarray]:
        """Per reported class: the template's salvo count and the mean cost of a threat of
        that class in the template's mix (the unit of the attacker's production money)."""
        counts = np.zeros(len(self.books), dtype=np.int64)
        cost = np.zeros(len(self.books))
        threats = self.scenario.catalog.threats
        for k, reported in enumerate(self.books):
            bucket = self.calibration.builder.buckets.get(reported)
            groups = [*bucket.deep, *bucket.near, *bucket.focus] if bucket is not None else []
            n = np.array([self.scenario.salvo[g].count for g in groups], dtype=float)
            unit = np.array([threats[self.scenario.salvo[g].type].cost_usd for g in groups])
            counts[k] = int(n.sum())
            if len(groups):
                weights = n if n.sum() > 0 else np.ones(len(groups))
                cost[k] = float(weights @ unit / weights.sum())
        return counts, cost

    def spec_of(self, date: dt.date) -> NightSpec:
        """The night builder's spec of a date (its posture and plan), made once per date."""
        spec = self.specs.get(date)
        if spec is None:
            row = NightRow(date=pd.Timestamp(date), launched=dict.fromkeys(OBSERVED_CLASSES, 0))
            spec = night_spec(self.data, row, self.calibration)
            self.specs[date] = spec
        return spec

    def draft(self, date: dt.date, launch: np.ndarray, rng: np.random.Generator) -> NightDraft:
        """Tonight's calibrated night with `launch` (per reported class) drawn from `rng` as
        `NightSpec.draw` draws it (deep shares and group counts, reach, EW and pk)."""
        launched = dict(zip(self.books, (int(n) for n in launch), strict=True))
        row = NightRow(date=pd.Timestamp(date), launched=launched)
        spec = self.spec_of(date).with_launches(row)
        drawn = spec.draw(rng)
        plan = spec.plan
        base = _base_columns(plan)
        columns = dict(drawn.columns)
        if "radius_km" in columns:
            base["radius_km"] = columns.pop("radius_km")
        return NightDraft(drawn.scenario, drawn.plan, drawn.counts, base, columns)
