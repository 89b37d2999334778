"""The night builder: a night given by its date and launches per class -> a scenario and its
replication recipe (the calibrated night of `salvo validate`, and of campaigns).

What is launched is split between deep, near and (on a concentrated night) focus salvo groups;
the posture of the date (`sim.spec.posture`) sets EW, the short-range reach and pk, and the
ballistic-missile defence; the night-to-night spreads are drawn per replication.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from sim.night.laydown import NightPlan
from sim.night.model import NightModel
from sim.spec.calibration import (
    DEFAULT_PARAMETERS,
    DEFAULT_POSTURE,
    FORMAT,
    LOST_REPORTED_UNTIL,
    REFERENCE_TEMPLATE,
    Calibration,
    Deep,
    builder_for_template,
    load_template,
)
from sim.spec.distributions import Distribution
from sim.spec.observed import OBSERVED_CLASSES
from sim.spec.posture import posture_at
from sim.spec.scenario import Scenario
from sim.vocab import CLASSES


def deep_share(deep: Deep, total_launched: float, size_reference: float) -> float:
    """Mean deep share of a night with `total_launched` launches."""
    x = deep.logit + deep.slope * (math.log(max(total_launched, 1.0)) - math.log(size_reference))
    return float(special.expit(x))


def beta_spec(mean: float, rsd: float) -> dict[str, Any] | float:
    """A beta distribution with sd = rsd * sqrt(mean (1 - mean)) as scenario data (or a number)."""
    mean = float(min(max(mean, 0.0), 1.0))
    if rsd <= 0.0 or mean <= 1e-4 or mean >= 1.0 - 1e-4:
        return round(mean, 6)
    mean = min(max(mean, 1e-3), 1.0 - 1e-3)
    sd = rsd * math.sqrt(mean * (1.0 - mean))
    return {"dist": "beta", "mean": round(mean, 6), "sd": round(sd, 6)}


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Whole numbers in proportion to `weights` that add up to `total` exactly."""
    weights = np.asarray(weights, dtype=float)
    if total <= 0 or len(weights) == 0:
        return [0] * len(weights)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    quota = total * weights / weights.sum()
    counts = np.floor(quota).astype(int)
    remainder = quota - counts
    for k in np.argsort(-remainder, kind="stable")[: total - counts.sum()]:
        counts[k] += 1
    return counts.tolist()


# --------------------------------------------------------------------------- nights


@dataclass(frozen=True)
class NightRow:
    """What the builder needs of an observed night: its date and launches per reported class."""

    date: pd.Timestamp
    launched: dict[str, int]
    intercepted: dict[str, int] = field(default_factory=dict)
    lost_drone: int | None = None
    line: int | None = None

    @property
    def total(self) -> int:
        """Total launches."""
        return int(sum(self.launched.values()))


def night_rows(nights: pd.DataFrame) -> list[NightRow]:
    """`NightRow`s of the nights table of `sim.spec.observed.load_nights`."""
    rows = []
    for record in nights.to_dict("records"):
        date = pd.Timestamp(record["date"])
        rows.append(
            NightRow(
                date=date,
                launched={c: int(record[f"launched.{c}"]) for c in OBSERVED_CLASSES},
                intercepted={c: int(record[f"intercepted.{c}"]) for c in OBSERVED_CLASSES},
                lost_drone=int(record["lost.drone"]) if date < LOST_REPORTED_UNTIL else None,
                line=int(record["line"]) if "line" in record else None,
            )
        )
    return rows


def as_row(row: NightRow | Mapping[str, Any]) -> NightRow:
    """Accept a `NightRow` or a mapping with `date` and `launched.<class>` (or `<class>`) keys."""
    if isinstance(row, NightRow):
        return row
    launched = {}
    for cls in OBSERVED_CLASSES:
        value = row.get(f"launched.{cls}", row.get(cls, 0))
        launched[cls] = int(value)
    return NightRow(date=pd.Timestamp(row["date"]), launched=launched)


# --------------------------------------------------------------------------- the builder


@dataclass
class NightSpec:
    """A night ready to simulate: the scenario and what varies between its replications."""

    row: NightRow
    scenario: Scenario  # with the night-level distributions (what `salvo run` would run)
    plain: Scenario  # the same with every distribution at its mean (for the shared plan)
    deep: dict[str, tuple[float, float]]  # class -> (mean deep share, rsd)
    groups: dict[str, tuple[list[str], np.ndarray, list[str], np.ndarray]]
    # class -> (deep groups, their weights, near groups, their weights); weights sum to 1
    focus_groups: dict[str, tuple[list[str], np.ndarray]]  # class -> (focus groups, weights)
    draws: list[tuple[str, str, str, Distribution]] | None
    # ("ew", class, "", d) | ("pk", type, class, d); None: the model samples the scenario itself
    reach: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # mean, rsd, low, high
    short_range: tuple[str, ...] = ()
    lost_all: float = 0.0  # chance that the report counts every drone not shot down as lost
    focus: float = 0.0  # chance that the night is a concentrated raid (near share -> focus groups)
    deep_model: Mapping[str, Deep] = field(default_factory=dict)  # class -> deep-share model
    size_reference: float = 1.0  # the size at which a deep-share model's logit applies
    _plan: NightPlan | None = None
    _units: tuple[np.ndarray, np.ndarray, Distribution | None] | None = None

    @property
    def plan(self) -> NightPlan:
        """The plan every replication shares (computed once)."""
        if self._plan is None:
            self._plan = NightPlan.from_scenario(self.plain)
        return self._plan

    def _unit_draws(self) -> tuple[np.ndarray, np.ndarray, Distribution | None]:
        """Per unit its defence type and whether it is short-range, and the distribution of
        the short-range reach across nights (None when it does not vary); computed once."""
        if self._units is None:
            plan = self.plan
            types = np.array([g.type for g in self.plain.defences.values()], dtype=object)
            group_of_unit = plan.unit_columns["group"]
            unit_type = types[group_of_unit] if len(group_of_unit) else np.array([], dtype=object)
            short = np.isin(unit_type, list(self.short_range)) if len(unit_type) else unit_type
            reach_mean, reach_rsd, _, _ = self.reach
            reach = None
            if reach_rsd > 0 and reach_mean > 0 and short.any():
                reach = Distribution(dist="lognormal", mean=reach_mean, sd=reach_rsd * reach_mean)
            self._units = (unit_type, short, reach)
        return self._units

    def with_launches(self, row: NightRow | Mapping[str, Any]) -> NightSpec:
        """The same night (scenario, posture, plan) with other launches: the deep shares'
        means follow the new size. Campaigns build one spec per date and reuse it."""
        row = as_row(row)
        self._unit_draws()  # the plan and unit draws, made once here and shared by the copies
        total = max(row.total, 1)
        deep = {
            reported: (deep_share(self.deep_model[reported], total, self.size_reference), rsd)
            if reported in self.deep_model
            else (mean, rsd)
            for reported, (mean, rsd) in self.deep.items()
        }
        return dataclasses.replace(self, row=row, deep=deep)

    def draw(self, rng: np.random.Generator) -> NightDraw:
        """One replication's draws, in this order: the deep shares and group counts
        (`replication_counts`), the short-range reach, then the scenario's night-level
        distributions (EW suppression, pk) applied to the shared plan (the draws `NightModel`
        would make from the scenario, without rebuilding the plan every night); other
        distributions are left to the model."""
        plan = self.plan
        unit_type, short, reach_dist = self._unit_draws()
        drone_cols = [CLASSES.index("drone"), CLASSES.index("decoy")]
        counts = replication_counts(self, rng)
        columns: dict[str, np.ndarray] = {}
        if reach_dist is not None:
            _, _, reach_low, reach_high = self.reach
            reach = min(max(reach_dist.draw(rng), reach_low), reach_high)
            radius = plan.unit_columns["radius_km"].copy()
            block = radius[np.ix_(short, drone_cols)]
            radius[np.ix_(short, drone_cols)] = np.where(block > 0, reach, 0.0)
            columns["radius_km"] = radius
        if self.draws is None:
            return NightDraw(self.scenario, None, counts, columns)
        scenario = self.plain
        ew_update = {}
        for kind, a, b, dist in self.draws:
            value = dist.draw(rng)
            if kind == "ew":
                ew_update[a] = value
            else:
                if "pk" not in columns:
                    columns["pk"] = plan.unit_columns["pk"].copy()
                columns["pk"][unit_type == a, CLASSES.index(b)] = value
        if ew_update:
            suppression = {**self.plain.ew.suppression, **ew_update}
            scenario = self.plain.model_copy(
                update={"ew": self.plain.ew.model_copy(update={"suppression": suppression})}
            )
        return NightDraw(scenario, plan, counts, columns)

    def replication(self, rng: np.random.Generator) -> NightModel:
        """One replication of the night as a `NightModel` ready to run (`draw`, then the
        model, all from `rng`)."""
        return self.draw(rng).model(rng)


@dataclass
class NightDraw:
    """One replication of a `NightSpec` before it runs: the scenario, the shared plan (None:
    the model samples the scenario's other distributions itself), the salvo group counts and
    the per-unit columns drawn for tonight (short-range reach, pk)."""

    scenario: Scenario
    plan: NightPlan | None
    counts: dict[str, int]
    columns: dict[str, np.ndarray]

    def model(
        self, rng: np.random.Generator, unit_columns: Mapping[str, np.ndarray] | None = None
    ) -> NightModel:
        """The night as a `NightModel` ready to run; `unit_columns` (a campaign's loads)
        are laid over the drawn columns."""
        columns = {**self.columns, **(unit_columns or {})}
        return NightModel(
            self.scenario, rng=rng, plan=self.plan, counts=self.counts,
            unit_columns=columns or None, agent_views=False,
        )  # fmt: skip


def _set_defence_field(data: dict, type_id: str, fieldname: str, values: Mapping[str, Any]) -> None:
    entry = data.setdefault("catalog", {}).setdefault("defences", {}).setdefault(type_id, {})
    merged = dict(entry.get(fieldname) or {})
    merged.update(values)
    entry[fieldname] = merged


def night_spec(
    template: Mapping[str, Any], row: NightRow | Mapping[str, Any], calibration: Calibration
) -> NightSpec:
    """Build one night from the template (see `build_night`), with its replication recipe."""
    row = as_row(row)
    builder, params = calibration.builder, calibration.parameters
    posture = posture_at(calibration, row.date)
    data = copy.deepcopy(dict(template))
    data["name"] = f"night-{row.date.date().isoformat()}"
    data["description"] = (
        f"Night reported on {row.date.date().isoformat()}, built by sim.analysis.calibrate from "
        f"{data.get('name', 'the template')} and a calibration (deep shares at their means)."
    )
    total = max(row.total, 1)
    counts: dict[str, int] = dict.fromkeys(data["salvo"], 0)
    deep: dict[str, tuple[float, float]] = {}
    groups = {}
    focus_groups = {}
    focus = posture["focus"]
    for reported, bucket in builder.buckets.items():
        n = int(row.launched.get(reported, 0))
        deep_groups, near_groups = list(bucket.deep), list(bucket.near)
        focus_ids = list(bucket.focus) if near_groups else []
        wd = np.array([bucket.deep[g] for g in deep_groups], dtype=float)
        wn = np.array([bucket.near[g] for g in near_groups], dtype=float)
        wf = np.array([bucket.focus[g] for g in focus_ids], dtype=float)
        wd, wn = wd / wd.sum(), (wn / wn.sum() if len(wn) else wn)
        wf = wf / wf.sum() if len(wf) else wf
        if near_groups and reported in params.deep:
            spec = params.deep[reported]
            mean = deep_share(spec, total, builder.size_reference)
            deep[reported] = (mean, spec.rsd)
        else:
            mean = 1.0
            deep[reported] = (1.0, 0.0)
        # at the means: the near share split between near and focus groups by `focus`
        f = focus if focus_ids else 0.0
        weights = np.concatenate([mean * wd, (1.0 - mean) * (1.0 - f) * wn, (1.0 - mean) * f * wf])
        for gid, count in zip(
            deep_groups + near_groups + focus_ids, largest_remainder(n, weights), strict=True
        ):
            counts[gid] = count
        groups[reported] = (deep_groups, wd, near_groups, wn)
        focus_groups[reported] = (focus_ids, wf)
    for gid, count in counts.items():
        data["salvo"][gid]["count"] = int(count)

    # posture: background EW, short-range reach and pk, ballistic-missile defence
    ew = dict((data.get("ew") or {}).get("suppression") or {})
    for cls in ("drone", "decoy"):
        ew[cls] = beta_spec(posture["ew"], params.ew_rsd)
    data.setdefault("ew", {})["suppression"] = ew
    pk_spec = beta_spec(params.mfg_pk, params.mfg_pk_rsd)
    catalog = Scenario.model_validate(template).catalog
    for type_id in builder.short_range_types:
        _set_defence_field(data, type_id, "pk", {"drone": pk_spec, "decoy": pk_spec})
        low, high = builder.reach_limits
        reach = round(min(max(posture["reach_km"], low), high), 4)
        _set_defence_field(data, type_id, "range_km", {"drone": reach, "decoy": reach})
    for type_id in builder.bmd_types:
        base = catalog.defences[type_id].pk
        scaled = {
            cls: round(min(0.99, _expected(base.get(cls, 0.0)) * posture["bmd"]), 6)
            for cls in ("ballistic", "hypersonic")
        }
        _set_defence_field(data, type_id, "pk", scaled)
    launched = {"total": row.total, "drone": row.launched["drone"]}
    launched["missile"] = row.total - row.launched["drone"]
    observed: dict[str, Any] = {
        "date": row.date.date().isoformat(),
        "source": "observed launches (nights file); built by sim.analysis.calibrate",
        "launched": launched,
    }
    if row.intercepted:
        intercepted = {"total": sum(row.intercepted.values()), "drone": row.intercepted["drone"]}
        intercepted["missile"] = intercepted["total"] - intercepted["drone"]
        observed["intercepted"] = intercepted
    data["observed"] = observed
    scenario = Scenario.model_validate(data)
    plain_data = _at_means(data)
    plain = Scenario.model_validate(plain_data)
    draws = _draw_slots(scenario)
    low, high = builder.reach_limits
    reach_mean = min(max(posture["reach_km"], low), high)
    return NightSpec(
        row=row,
        scenario=scenario,
        plain=plain,
        deep=deep,
        groups=groups,
        focus_groups=focus_groups,
        draws=draws,
        reach=(reach_mean, params.reach_rsd, low, high),
        short_range=tuple(builder.short_range_types),
        lost_all=posture["lost_all"],
        focus=focus,
        deep_model={c: params.deep[c] for c in deep if c in params.deep and groups[c][2]},
        size_reference=builder.size_reference,
    )


def _expected(value: Any) -> float:
    return float(value.expected()) if isinstance(value, Distribution) else float(value)


def _at_means(obj: Any) -> Any:
    if isinstance(obj, dict):
        if "dist" in obj:
            return float(Distribution.model_validate(obj).expected())
        return {k: _at_means(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_at_means(v) for v in obj]
    return obj


def _draw_slots(scenario: Scenario) -> list[tuple[str, str, str, Distribution]] | None:
    """The scenario's distributions if the fast path supports them all (EW and defence pk)."""
    slots: list[tuple[str, str, str, Distribution]] = []
    for cls, value in scenario.ew.suppression.items():
        if isinstance(value, Distribution):
            slots.append(("ew", cls, "", value))
    for type_id, kind in scenario.catalog.defences.items():
        for cls, value in kind.pk.items():
            if isinstance(value, Distribution):
                slots.append(("pk", type_id, cls, value))
    check = scenario.model_copy(update={"ew": scenario.ew.model_copy(update={"suppression": {}})})
    counted = len(slots)
    from sim.spec.distributions import has_distributions

    # any other distribution: use the model's own (slower) sampling
    if has_distributions(check.catalog.threats) or counted == 0:
        return None if counted else []
    for kind in check.catalog.defences.values():
        if has_distributions(kind.suppression) or has_distributions(kind.decoy_discrimination):
            return None
    return slots


def build_night(
    template: Mapping[str, Any] | None,
    row: NightRow | Mapping[str, Any],
    calibration: Calibration | None = None,
) -> Scenario:
    """The scenario of one observed night, from a template scenario (raw YAML data).

    `template` defaults to scenarios/aug-2025-night.yaml, `calibration` to the defaults
    (`default_calibration`). Every reported class's count is split between its deep and near
    salvo groups at the mean deep share and within each by the bucket weights, by largest
    remainder (the per-class totals are exact); mixed missiles were apportioned to cruise and
    ballistic by `sim.spec.observed` already. The posture of the night's date sets background EW
    (a beta across nights), the short-range types' reach and pk (a beta) against drones and
    decoys, and the ballistic-missile defence's pk.
    """
    if template is None:
        template = load_template(REFERENCE_TEMPLATE)
    if calibration is None:
        calibration = Calibration(
            format=FORMAT,
            template=str(REFERENCE_TEMPLATE),
            builder=builder_for_template(template),
            parameters=DEFAULT_PARAMETERS,
            posture={"2025Q3": DEFAULT_POSTURE},
        )
    return night_spec(template, row, calibration).scenario


def replication_counts(spec: NightSpec, rng: np.random.Generator) -> dict[str, int]:
    """Group counts of one replication: deep share drawn (beta), then binomial and multinomial;
    on a concentrated night (probability `spec.focus`, drawn after the deep count) the drones
    not flying deep go to the focus groups instead of the near ones."""
    counts: dict[str, int] = {}
    for reported, (deep_groups, wd, near_groups, wn) in spec.groups.items():
        focus_ids, wf = spec.focus_groups.get(reported, ([], np.zeros(0)))
        n = int(spec.row.launched.get(reported, 0))
        mean, rsd = spec.deep[reported]
        share = mean
        if near_groups and rsd > 0 and 1e-3 < mean < 1 - 1e-3:
            sd = rsd * math.sqrt(mean * (1.0 - mean))
            share = Distribution(dist="beta", mean=mean, sd=sd).draw(rng)
        n_deep = int(rng.binomial(n, share)) if near_groups else n
        for gid, c in zip(deep_groups, rng.multinomial(n_deep, wd), strict=True):
            counts[gid] = int(c)
        if near_groups:
            concentrated = bool(focus_ids) and spec.focus > 0 and rng.random() < spec.focus
            to, weights = (focus_ids, wf) if concentrated else (near_groups, wn)
            for gid in (*near_groups, *focus_ids):
                counts[gid] = 0
            for gid, c in zip(to, rng.multinomial(n - n_deep, weights), strict=True):
                counts[gid] = int(c)
    return counts
