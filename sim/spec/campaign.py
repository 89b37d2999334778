"""Campaign files: YAML -> validated `Campaign` (months of nights under production and money).

A campaign names a night scenario as its *template* (the geography, salvo groups, defence
laydown and catalogue of one night) and adds what changes from night to night: a calendar,
the attacker's stocks, production and launch policy, the defender's interceptor stocks,
production, deliveries, budget and low-stock rules, and optional investments (an
interceptor-drone programme, allied batteries, long-range strike). `sim.campaign.model` runs it.

Interceptor stocks are keyed by *defence type id* (`patriot`, `iris_t`, ...; the
`interceptor` field of that type in `sim/spec/catalog/defences.yaml` names the round, e.g.
"PAC-3 MSE / GEM-T"): one stock per defence type, shared by every unit of that type. A
defence type no campaign field names is *not tracked*: its units hold the template's
magazine and reserve every night, as in a single night (use it for guns and machine guns
whose ammunition is not the constraint).

Every number in a shipped campaign file carries its source or says it is an assumption;
see the comments in `scenarios/campaign-*.yaml`. The file reference
(`docs/campaign-reference.md`) is generated from the models here by `sim.refdocs.campaign`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from sim.spec.scenario import (
    DefenceGroup,
    Placement,
    RingPlacement,
    Scenario,
    load_scenario,
)
from sim.spec.types import (
    Name,
    NonNegFloat,
    NonNegInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    Strict,
)
from sim.spec.yamlio import (
    ErrorLine,
    InputError,
    LoadedYaml,
    PathError,
    load_yaml,
    require_kind,
    require_known,
    validate,
)
from sim.vocab import OBSERVED_CLASSES, ThreatClass

if TYPE_CHECKING:
    from sim.spec.attacker_fit import AttackerFit
    from sim.spec.calibration import Calibration

DAYS_PER_MONTH = 365.25 / 12.0


def _date(value: Any) -> Any:
    """Accept a YAML date (`2025-09-01`) or the same as a quoted string; nothing else."""
    if isinstance(value, dt.datetime):
        raise ValueError("expected a date such as 2025-09-01, not a date and time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a date such as 2025-09-01 (got {value!r})")


Date = Annotated[dt.date, BeforeValidator(_date)]


# --------------------------------------------------------------------------- calendar


class Calendar(Strict):
    """When the campaign starts and how many nights it lasts (night d is day d's night)."""

    start: Date = Field(description="Date of the first day (YYYY-MM-DD).")
    days: PositiveInt = Field(description="Number of days (one night each).")

    @property
    def end(self) -> dt.date:
        """The day after the last day."""
        return self.start + dt.timedelta(days=self.days)

    def day_of(self, date: dt.date) -> int:
        """Day index of a date (0 = start; may be >= days, then it never comes)."""
        return (date - self.start).days


# --------------------------------------------------------------------------- attacker


class SalvoSize(Strict):
    """How many threats a night's salvo holds: drawn from a gamma distribution, then rounded."""

    mean: NonNegFloat | None = Field(
        default=None,
        description="Mean threats per salvo; left out: the template's total salvo size.",
    )
    cv: NonNegFloat = Field(
        default=0.0,
        description="Coefficient of variation (sd / mean) of the size; 0: always the mean.",
    )


class SalvoPlan(Strict):
    """One kind of night's salvo: its size and composition by threat type."""

    size: SalvoSize = Field(default=SalvoSize(), description="Size of the salvo.")
    composition: dict[str, NonNegFloat] | None = Field(
        default=None,
        description="Share (any positive weights) of each threat type in the salvo; each type "
        "is split over the template's salvo groups of that type in proportion to their counts. "
        "Left out: the template's composition.",
    )

    @model_validator(mode="after")
    def _weights(self) -> SalvoPlan:
        if self.composition is not None and sum(self.composition.values()) <= 0:
            raise PathError(("composition",), "weights must not all be zero")
        return self


class SteadyPolicy(Strict):
    """Launch every night: a salvo drawn from `nightly`."""

    kind: Literal["steady"] = Field(description="`steady`.")
    nightly: SalvoPlan = Field(default=SalvoPlan(), description="The salvo of every night.")


class MassPolicy(Strict):
    """Save up for a mass night every `every_days` days; smaller salvos (or none) between."""

    kind: Literal["mass"] = Field(description="`mass`.")
    every_days: PositiveInt = Field(description="Days from one mass night to the next.")
    first_day: NonNegInt = Field(default=0, description="Day index of the first mass night.")
    mass_night: SalvoPlan = Field(description="The salvo of a mass night.")
    other_nights: SalvoPlan | None = Field(
        default=None, description="The salvo of the other nights; left out: no launches."
    )
    save_for_mass: bool = Field(
        default=True,
        description="Between mass nights launch a type only from stock above what the next "
        "mass night's mean salvo needs of it (saving up).",
    )

    def is_mass(self, day: int) -> bool:
        """Whether night `day` is a mass night."""
        return day >= self.first_day and (day - self.first_day) % self.every_days == 0


class FittedPolicy(Strict):
    """Launch what the attacker fitted to the record launches (`salvo calibrate-attacker`):
    launch nights of at least 30 threats, ordinary or mass, their sizes and classes month by
    month, drawn afresh for every replication (stocks and launch capacity still bound them).
    Needs `calibration`: the fit counts threats by reported class."""

    kind: Literal["fitted"] = Field(description="`fitted`.")
    fit: str = Field(
        description="Attacker fit file written by `salvo calibrate-attacker`, relative to "
        "this file. Beyond its window the fit's forecast holds."
    )
    months: Literal["fitted", "replay", "fresh"] = Field(
        default="fitted",
        description="`fitted`: each fitted month at its own fitted size and mass share; "
        "`replay`: months with full counts at the mass share (or size scale) that reproduces "
        "their full count of threats (a hindcast); `fresh`: a fresh month effect every month "
        "(what else the same process could have done).",
    )


Policy = Annotated[SteadyPolicy | MassPolicy | FittedPolicy, Field(discriminator="kind")]


class AttackerSpec(Strict):
    """The attacker's stocks, production and launch policy (threat types of the catalogue)."""

    # `Attacker` in the docs and in messages; the class name keeps it apart from the Mesa agent
    model_config = ConfigDict(title="Attacker")

    stock: dict[str, NonNegInt] = Field(
        default={}, description="Threats held on day 0 by threat type (others: 0)."
    )
    production_per_day: dict[str, NonNegFloat] = Field(
        default={},
        description="Threats produced per day by type (fractions accumulate into whole threats).",
    )
    launch_capacity_per_night: NonNegInt | None = Field(
        default=None,
        description="Most threats launched in one night (crews, launchers); left out: no limit.",
    )
    policy: Policy = Field(description="When and how much to launch.")


# --------------------------------------------------------------------------- defender


class Delivery(Strict):
    """Interceptors arriving on a date (aid packages, purchases paid outside the budget)."""

    date: Date = Field(description="Arrival date (added before that night).")
    type: str = Field(description="Defence type id whose stock it adds to.")
    quantity: NonNegInt = Field(description="Rounds delivered.")
    note: str = Field(default="", description="What it is and its source.")


class Programme(Strict):
    """A purchase line paid from the monthly budget: orders whole rounds, delivered later."""

    type: str = Field(description="Defence type id whose stock it adds to.")
    unit_cost_usd: PositiveFloat = Field(description="Price of one round, USD.")
    lead_time_days: NonNegInt = Field(description="Days from order (payment) to delivery.")
    share: Probability = Field(description="Share of the monthly budget allotted to it.")
    max_per_month: NonNegInt | None = Field(
        default=None, description="Most rounds ordered per month (production capacity)."
    )


class Budget(Strict):
    """Money for interceptor purchases: allotted on day 0 and on the 1st of every month."""

    per_month_usd: NonNegFloat = Field(default=0.0, description="Budget per month, USD.")
    programmes: dict[str, Programme] = Field(
        default={},
        description="Purchase lines by name; their shares sum to at most 1. Unspent money stays "
        "with its programme for later months.",
    )

    @model_validator(mode="after")
    def _shares(self) -> Budget:
        total = sum(p.share for p in self.programmes.values())
        if total > 1.0 + 1e-9:
            raise PathError(("programmes",), f"shares sum to {total:g}; at most 1 is allowed")
        return self


class StockRule(Strict):
    """How the units of one defence type fire when its stock runs low."""

    hold_below: Probability = Field(
        default=0.0,
        description="Below this fraction of the starting stock the units engage only the "
        "classes in `engage_only` (high-value interceptors held for missiles).",
    )
    engage_only: list[ThreatClass] = Field(
        default=["cruise", "ballistic", "hypersonic"],
        description="Classes still engaged while the stock is held.",
    )
    max_rounds_per_night: NonNegInt | None = Field(
        default=None, description="Most rounds of this type loaded for one night (rationing)."
    )


class DefenderSpec(Strict):
    """The defender's interceptor stocks (by defence type id), supply, money and fire rules."""

    # `Defender` in the docs and in messages; the class name keeps it apart from the Mesa agent
    model_config = ConfigDict(title="Defender")

    stock: dict[str, NonNegInt] = Field(
        default={},
        description="Rounds held on day 0 by defence type id (the type's `interceptor`). Types "
        "named anywhere in the campaign are tracked (start 0 unless given here); others are not.",
    )
    production_per_month: dict[str, NonNegFloat] = Field(
        default={},
        description="Rounds produced per month by type, paid outside the budget (fractions "
        "accumulate into whole rounds).",
    )
    deliveries: list[Delivery] = Field(default=[], description="Dated deliveries.")
    budget: Budget = Field(default=Budget(), description="Monthly budget and purchase lines.")
    rules: dict[str, StockRule] = Field(default={}, description="Low-stock rules by type.")


# --------------------------------------------------------------------------- investments


class Ramp(Strict):
    """Output that grows linearly from `start_fraction` of the full rate to all of it."""

    start: Date | None = Field(default=None, description="First day; left out: day 0.")
    ramp_days: NonNegInt = Field(default=0, description="Days to reach the full rate.")
    start_fraction: Probability = Field(
        default=0.0, description="Fraction of the full rate on the first day."
    )


class TeamPlan(Strict):
    """New interceptor-drone teams fielded as the programme's interceptor drones arrive."""

    groups: dict[str, DefenceGroup] = Field(
        description="Defence groups of the new teams at full strength (names must not clash "
        "with the template's); teams enter service in turn across the groups."
    )
    drones_per_team: PositiveInt = Field(
        description="One more team enters service per this many interceptor drones delivered."
    )


class DroneProgramme(Ramp):
    """A drone programme (e.g. $50B over five years for 10 million drones a year).

    Its output splits between interceptor drones (added to the stock of `type`) and frontline
    drones (counted in the drone balance) by `interceptor_share`.
    """

    type: str = Field(
        default="interceptor_drone", description="Defence type id of its interceptor drones."
    )
    drones_per_year: NonNegFloat = Field(description="Full-rate output, drones a year.")
    cost_per_drone_usd: NonNegFloat = Field(description="Programme cost per drone, USD.")
    budget_usd: NonNegFloat = Field(description="Total money; output stops when it is spent.")
    interceptor_share: Probability = Field(
        description="Share of the output that is interceptor drones (the rest: frontline)."
    )
    teams: TeamPlan | None = Field(default=None, description="New teams the drones equip.")


class AlliedBattery(Strict):
    """Batteries arriving from allies, with the missiles that come with them."""

    arrival: Date = Field(description="First night in service.")
    type: str = Field(description="Defence type id.")
    count: NonNegInt = Field(description="Units.")
    placement: Placement = Field(description="Where they stand (as in a scenario).")
    missiles: NonNegInt = Field(default=0, description="Rounds added to the type's stock.")


class StrikeEffect(Strict):
    """ASSUMPTION: what long-range strikes do to the attacker (no public basis; sweep it)."""

    production_cut_per_missile: Probability = Field(
        description="Fraction of the attacker's production removed per missile launched "
        "(cumulative, linear)."
    )
    launch_capacity_cut_per_missile: Probability = Field(
        default=0.0,
        description="Fraction of the attacker's launch capacity removed per missile launched.",
    )
    max_cut: Probability = Field(default=0.5, description="Largest total cut of either.")


class LongRangeStrike(Ramp):
    """Long-range missiles bought from a monthly budget and launched at the attacker's industry."""

    missiles_per_day: NonNegFloat = Field(description="Full-rate production, missiles a day.")
    cost_per_missile_usd: PositiveFloat = Field(description="Cost of one missile, USD.")
    budget_per_month_usd: NonNegFloat = Field(
        description="Money per month (allotted like the defender's budget; unspent carries)."
    )
    effect: StrikeEffect = Field(description="Effect on the attacker (an assumption).")


class Investments(Strict):
    """Optional investments that change the fight."""

    interceptor_drones: DroneProgramme | None = Field(
        default=None, description="An interceptor-drone programme."
    )
    allied_batteries: dict[str, AlliedBattery] = Field(
        default={},
        description="Allied batteries by defence group name (must not clash with the template's).",
    )
    long_range_strike: LongRangeStrike | None = Field(
        default=None, description="Long-range strike production."
    )


class DroneBalance(Strict):
    """The frontline drone balance: attacker per defender drones supplied per day."""

    start_ratio: PositiveFloat = Field(
        default=1.1,
        description="Attacker : defender drones on key fronts on day 0 (1.1 : 1, Zelensky via "
        "the seed article, Aug 2025).",
    )
    defender_frontline_per_day: PositiveFloat = Field(
        default=12_300.0,
        description="Defender frontline drones supplied per day before any programme "
        "(assumption: ~4.5 million a year, Ukraine's stated 2025 production goal).",
    )


# --------------------------------------------------------------------------- campaign


class Campaign(Strict):
    """A campaign: a template night, a calendar, both sides' supply and policies, investments."""

    name: Name = Field(description="Name of the campaign (results folder name).")
    description: str = Field(default="", description="What the campaign represents.")
    sources: list[str] = Field(default=[], description="Where its numbers come from.")
    seed: NonNegInt = Field(default=0, description="Base seed of its replications.")
    template: str | None = Field(
        default=None,
        description="Night scenario file every night is built from, relative to this file. "
        "With `calibration`, left out: the calibration's template (given: the same file).",
    )
    calibration: str | None = Field(
        default=None,
        description="Calibration file (`salvo calibrate`, e.g. calibrated.yaml), relative to "
        "this file: every night is then the calibrated night of its date, built as `salvo "
        "validate` builds it (deep and near routes by size, concentrated raids, short-range "
        "reach, EW, ballistic-missile defence, the night-to-night spreads), and the attacker "
        "is counted by reported class (drone, cruise, ballistic, hypersonic; drones include "
        "decoys). Left out: every night is a copy of `template` and the attacker is counted by "
        "threat type.",
    )
    calendar: Calendar = Field(description="Start date and length.")
    attacker: AttackerSpec = Field(description="Attacker stocks, production and policy.")
    defender: DefenderSpec = Field(
        default=DefenderSpec(), description="Defender stocks and supply."
    )
    investments: Investments = Field(default=Investments(), description="Optional investments.")
    drone_balance: DroneBalance = Field(
        default=DroneBalance(), description="Frontline drone balance output."
    )

    _template: Scenario | None = PrivateAttr(default=None)
    _template_path: Path | None = PrivateAttr(default=None)
    _calibration: Calibration | None = PrivateAttr(default=None)
    _calibration_path: Path | None = PrivateAttr(default=None)
    _attacker_fit: AttackerFit | None = PrivateAttr(default=None)
    _attacker_fit_path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Campaign:
        context = info.context or {}
        template = context.get("template")
        self._calibration = context.get("calibration")
        self._attacker_fit = context.get("attacker_fit")
        self._check_dates()
        if self.template is None and self.calibration is None:
            raise PathError(("template",), "give a template night scenario or a calibration")
        if isinstance(self.attacker.policy, FittedPolicy) and self.calibration is None:
            raise PathError(
                ("attacker", "policy", "kind"),
                "a fitted attacker launches by reported class: give the campaign a calibration",
            )
        if template is not None:
            self._template = template
            self._check_references(template)
        return self

    # ---- checks

    def _check_dates(self) -> None:
        start = self.calendar.start

        def not_before(date: dt.date | None, path: tuple) -> None:
            if date is not None and date < start:
                raise PathError(path, f"{date} is before the campaign starts ({start})")

        for k, delivery in enumerate(self.defender.deliveries):
            not_before(delivery.date, ("defender", "deliveries", k, "date"))
        inv = self.investments
        if inv.interceptor_drones is not None:
            not_before(inv.interceptor_drones.start, ("investments", "interceptor_drones", "start"))
        if inv.long_range_strike is not None:
            not_before(inv.long_range_strike.start, ("investments", "long_range_strike", "start"))
        for name, battery in inv.allied_batteries.items():
            not_before(battery.arrival, ("investments", "allied_batteries", name, "arrival"))

    def _check_references(self, template: Scenario) -> None:
        threats: Collection[str] = template.catalog.threats
        launched_types: Collection[str] = {g.type for g in template.salvo.values()}
        what = "threat type"
        if self.calibration is not None:  # the attacker is counted by reported class
            threats = launched_types = OBSERVED_CLASSES
            what = "reported class (with a calibration the attacker is counted by class)"
        attacker = self.attacker
        for field in ("stock", "production_per_day"):
            for type_id in getattr(attacker, field):
                require_known(type_id, threats, ("attacker", field, type_id), what)
        policy = attacker.policy
        plans: list[tuple[str, SalvoPlan | None]] = []
        if isinstance(policy, SteadyPolicy):
            plans = [("nightly", policy.nightly)]
        elif isinstance(policy, MassPolicy):
            plans = [("mass_night", policy.mass_night), ("other_nights", policy.other_nights)]
        for key, plan in plans:
            for type_id in (plan.composition or {}) if plan is not None else {}:
                path = ("attacker", "policy", key, "composition", type_id)
                require_known(type_id, threats, path, what)
                if type_id not in launched_types:
                    raise PathError(
                        path,
                        f"threat type '{type_id}' has no salvo group in the template; "
                        f"it has: {', '.join(sorted(launched_types))}",
                    )

        defences = template.catalog.defences
        names = set(template.defences)
        for where, type_id in self._defence_type_refs():
            require_known(type_id, defences, where, "defence type")
            if defences[type_id].is_ew:
                raise PathError(where, f"'{type_id}' is an EW type: it fires no interceptors")
        for name, battery in self.investments.allied_batteries.items():
            self._check_group(name, battery.placement, template, names, "allied_batteries")
            names.add(name)
        drones = self.investments.interceptor_drones
        if drones is not None and drones.teams is not None:
            for name, group in drones.teams.groups.items():
                path = ("investments", "interceptor_drones", "teams", "groups", name)
                require_known(group.type, defences, (*path, "type"), "defence type")
                if group.type != drones.type:
                    raise PathError(
                        (*path, "type"),
                        f"teams of the programme fly its '{drones.type}' drones, not "
                        f"'{group.type}'",
                    )
                self._check_group(
                    name, group.placement, template, names, "interceptor_drones.teams.groups"
                )
                names.add(name)
        tracked = set(self.tracked_types())
        for type_id in self.defender.rules:
            if type_id not in tracked:
                raise PathError(
                    ("defender", "rules", type_id),
                    f"'{type_id}' has no stock in this campaign; name it in defender.stock",
                )

    def _check_group(
        self, name: str, placement: Any, template: Scenario, names: set[str], where: str
    ) -> None:
        path = ("investments", *where.split("."), name)
        if name in names:
            raise PathError(path, f"defence group '{name}' already exists (in the template?)")
        if isinstance(placement, RingPlacement):
            require_known(
                placement.target, template.targets, (*path, "placement", "target"), "target"
            )

    def _defence_type_refs(self) -> list[tuple[tuple, str]]:
        """(path, defence type id) of every defence type the campaign names."""
        d = self.defender
        refs: list[tuple[tuple, str]] = []
        refs += [(("defender", "stock", t), t) for t in d.stock]
        refs += [(("defender", "production_per_month", t), t) for t in d.production_per_month]
        refs += [
            (("defender", "deliveries", k, "type"), x.type) for k, x in enumerate(d.deliveries)
        ]
        refs += [
            (("defender", "budget", "programmes", n, "type"), p.type)
            for n, p in d.budget.programmes.items()
        ]
        refs += [(("defender", "rules", t), t) for t in d.rules]
        inv = self.investments
        refs += [
            (("investments", "allied_batteries", n, "type"), b.type)
            for n, b in inv.allied_batteries.items()
        ]
        if inv.interceptor_drones is not None:
            refs.append(
                (("investments", "interceptor_drones", "type"), inv.interceptor_drones.type)
            )
        return refs

    # ---- views

    def tracked_types(self) -> list[str]:
        """Defence types whose rounds are counted (stock, supply or investment), in order."""
        d, inv = self.defender, self.investments
        names = list(d.stock)
        names += list(d.production_per_month)
        names += [x.type for x in d.deliveries]
        names += [p.type for p in d.budget.programmes.values()]
        names += [b.type for b in inv.allied_batteries.values()]
        if inv.interceptor_drones is not None:
            names.append(inv.interceptor_drones.type)
        return list(dict.fromkeys(names))

    @property
    def template_scenario(self) -> Scenario:
        """The validated template night (set by `load_campaign` / `campaign_from_data`)."""
        if self._template is None:
            raise RuntimeError("campaign validated without its template; use load_campaign")
        return self._template

    @property
    def template_path(self) -> Path | None:
        """Where the template was read from."""
        return self._template_path

    @property
    def night_calibration(self) -> Calibration | None:
        """The calibration every night is built with (None: nights are template copies)."""
        return self._calibration

    @property
    def calibration_path(self) -> Path | None:
        """Where the calibration was read from (None without one)."""
        return self._calibration_path

    @property
    def attacker_fit(self) -> AttackerFit | None:
        """The attacker fit a `fitted` launch policy draws its nights from (else None)."""
        return self._attacker_fit

    def input_files(self) -> dict[str, Path]:
        """Role -> path of every file the campaign was read with: its template and, when it
        names them, its calibration and attacker fit (what fixes its numbers besides itself)."""
        files = {
            "template": self._template_path,
            "calibration": self._calibration_path,
            "attacker_fit": self._attacker_fit_path,
        }
        return {role: path for role, path in files.items() if path is not None}


def campaign_from_data(
    loaded: LoadedYaml, *, template: Scenario | None = None, template_path: Path | None = None
) -> Campaign:
    """Validate loaded YAML as a campaign, reading its calibration and template relative to
    its file.

    Raises `InputError` (`FILE:LINE: field.path: message`); errors inside the template or the
    calibration are reported with that file's own name and line. Pass `template` to skip
    reading it (and `template_path`, the file it was read from, for `Campaign.template_path`).
    """
    data = loaded.data if isinstance(loaded.data, dict) else {}
    calibration = calibration_path = None
    if isinstance(data.get("calibration"), str):
        from sim.spec.calibration import load_calibration  # pandas: only when a file needs it

        calibration_path = _input_path(loaded, ("calibration",), "calibration file")
        calibration = load_calibration(calibration_path)
    attacker_fit = fit_path = None
    attacker = data.get("attacker")
    policy = attacker.get("policy") if isinstance(attacker, dict) else None
    if (
        isinstance(policy, dict)
        and policy.get("kind") == "fitted"
        and isinstance(policy.get("fit"), str)
    ):
        from sim.spec.attacker_fit import load_attacker_fit

        fit_path = _input_path(loaded, ("attacker", "policy", "fit"), "attacker fit file")
        attacker_fit = load_attacker_fit(fit_path)
    path = template_path
    if template is None:
        if isinstance(data.get("template"), str):
            path = _input_path(loaded, ("template",), "night scenario")
            if calibration is not None and path.resolve() != Path(calibration.template):
                raise _input_error(
                    loaded, ("template",),
                    f"the calibration was made with {calibration.template}; leave `template` "
                    "out or name that file",
                )  # fmt: skip
        elif calibration is not None and "template" not in data:
            path = Path(calibration.template)
        if path is not None:
            template = load_scenario(path)
    context = {"template": template, "calibration": calibration, "attacker_fit": attacker_fit}
    campaign = validate(Campaign, loaded, context=context)
    campaign._template_path = path
    campaign._calibration_path = calibration_path
    campaign._attacker_fit_path = fit_path
    if template is None:  # `template` missing or not text: pydantic has reported it already
        raise RuntimeError("unreachable: a campaign without a template validated")
    return campaign


def _input_error(loaded: LoadedYaml, where: tuple[str, ...], message: str) -> InputError:
    return InputError([ErrorLine(loaded.file, loaded.line_of(where), ".".join(where), message)])


def _input_path(loaded: LoadedYaml, where: tuple[str, ...], what: str) -> Path:
    """The file that the field at `where` names, relative to the campaign file (it must
    exist)."""
    name: Any = loaded.data
    for key in where:
        name = name[key]
    path = Path(loaded.file).parent / name
    if not path.is_file():
        raise _input_error(loaded, where, f"cannot read {what} '{name}' (looked for {path})")
    return path


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign file and its template night scenario."""
    try:
        loaded = load_yaml(path)
    except ValueError as err:  # PyYAML's date constructor raises ValueError (`2025-13-45`)
        raise _bad_date(Path(path), err) from None
    require_kind(loaded, "campaign")
    return campaign_from_data(loaded)


def _bad_date(path: Path, err: ValueError) -> InputError:
    """Point at the date PyYAML could not build (it reports neither line nor field)."""
    text = path.read_text(encoding="utf-8-sig")
    constructor = yaml.SafeLoader("")

    def walk(node: yaml.Node, where: tuple) -> ErrorLine | None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                found = walk(value, (*where, key.value))
                if found:
                    return found
        elif isinstance(node, yaml.SequenceNode):
            for k, item in enumerate(node.value):
                found = walk(item, (*where, k))
                if found:
                    return found
        elif node.tag == "tag:yaml.org,2002:timestamp":
            try:
                constructor.construct_yaml_timestamp(node)
            except ValueError as bad:
                dotted = ".".join(str(w) for w in where)
                message = f"'{node.value}' is not a valid date ({bad})"
                return ErrorLine(str(path), node.start_mark.line + 1, dotted, message)
        return None

    found = walk(yaml.compose(text, Loader=yaml.SafeLoader), ())
    return InputError([found or ErrorLine(str(path), None, "", f"invalid YAML: {err}")])
