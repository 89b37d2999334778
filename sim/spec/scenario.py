"""Scenario files: YAML -> validated `Scenario`, with the defaults catalogue merged in.

A scenario describes one night: where threats are launched from, what they aim at, the
salvo (groups of one threat type each), the defence laydown (groups of one defence type
each, placed by a generator) and background electronic warfare. Every number a type
needs comes from `sim/spec/catalog/*.yaml` unless the scenario's `catalog:` section
overrides it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    model_validator,
)

from sim.spec.catalog import default_catalog_data
from sim.spec.distributions import (
    NonNegativeDistribution,
    ProbabilityDistribution,
    has_distributions,
    number_or_distribution,
    sample_distributions,
)
from sim.spec.types import (
    Latitude,
    Longitude,
    LonLat,
    Name,
    NonNegFloat,
    NonNegInt,
    Number,
    PositiveFloat,
    Probability,
    Strict,
    Weights,
)
from sim.spec.yamlio import (
    LoadedYaml,
    PathError,
    load_yaml,
    require_kind,
    require_known,
    suggest,
    validate,
)
from sim.vocab import CLASSES, ThreatClass

DefenceKind = Literal[
    "sam_long",
    "sam_medium",
    "sam_short",
    "gun",
    "manpads",
    "mobile_fire_group",
    "fighter",
    "helicopter",
    "interceptor_drone",
    "ew",
]

# night-level uncertain parameters: a number, or a distribution drawn once per replication
# (a callable discriminator picks the branch, so a bad number gets one error, not one per branch)
ProbabilityOrDistribution = Annotated[
    Annotated[Probability, Tag("number")] | Annotated[ProbabilityDistribution, Tag("distribution")],
    Discriminator(number_or_distribution),
]
NonNegOrDistribution = Annotated[
    Annotated[NonNegFloat, Tag("number")] | Annotated[NonNegativeDistribution, Tag("distribution")],
    Discriminator(number_or_distribution),
]


# --------------------------------------------------------------------------- catalogue


class ThreatType(Strict):
    """Defaults for one threat type (drone, decoy or missile)."""

    name: str = Field(description="Display name.")
    class_: ThreatClass = Field(
        alias="class", description="Threat class: drone, decoy, cruise, ballistic or hypersonic."
    )
    speed_kmh: PositiveFloat = Field(description="Mean ground speed along the route, km/h.")
    altitude_m: NonNegFloat = Field(description="Typical cruise altitude, m (informational).")
    cost_usd: NonNegFloat = Field(description="Unit cost to the attacker, USD.")
    failure_prob: ProbabilityOrDistribution = Field(
        description="Probability of a technical failure en route, not caused by the defence."
    )
    accuracy: ProbabilityOrDistribution = Field(
        description="Probability that a leaker reaching its aim point hits (decoys: 0)."
    )
    ew_susceptibility: NonNegOrDistribution = Field(
        description="Multiplier on electronic-warfare suppression probabilities (1 = GNSS-guided "
        "drone, ~0 = ballistic).",
    )
    sources: dict[str, str] = Field(default={}, description="Source of each number, by field name.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DefenceType(Strict):
    """Defaults for one defence type: envelope, channels, magazine, kill probabilities, doctrine."""

    name: str = Field(description="Display name.")
    kind: DefenceKind = Field(
        description="Kind of system (sam_long, sam_medium, gun, manpads, mobile_fire_group, "
        "fighter, interceptor_drone, ew, ...).",
    )
    interceptor: str = Field(
        description="The munition spent per round (stockpiles are tracked per interceptor)."
    )
    range_km: dict[ThreatClass, NonNegFloat] = Field(
        description="Engagement radius per threat class, km (0: cannot engage that class)."
    )
    pk: dict[ThreatClass, ProbabilityOrDistribution] = Field(
        description="Single-round kill probability per threat class."
    )
    channels: NonNegInt = Field(description="Simultaneous engagements.")
    magazine: NonNegInt = Field(description="Rounds ready to fire.")
    reserve: NonNegInt = Field(
        description="Spare rounds on site for the night, loaded when the magazine is empty."
    )
    reload_min: NonNegFloat = Field(description="Minutes to reload the magazine from the reserve.")
    reaction_s: NonNegFloat = Field(
        description="Seconds from a threat entering the envelope to the first possible kill "
        "assessment.",
    )
    engage_s: NonNegFloat = Field(
        description="Seconds from firing to kill assessment (fly-out and look); a channel is busy "
        "that long.",
    )
    shots_per_engagement: NonNegInt = Field(description="Rounds fired together per engagement.")
    doctrine: Literal["shoot_look_shoot", "salvo"] = Field(
        description="shoot_look_shoot: fire, assess, fire again while the threat is inside; "
        "salvo: one engagement of shots_per_engagement rounds.",
    )
    engages: list[ThreatClass] = Field(description="Threat classes the unit engages.")
    decoy_discrimination: ProbabilityOrDistribution = Field(
        default=0.0, description="Probability that the unit recognises a decoy and holds fire."
    )
    suppression: dict[ThreatClass, ProbabilityOrDistribution] = Field(
        default={},
        description="EW only: probability that a threat of the class crossing the envelope is "
        "suppressed.",
    )
    queue: bool = Field(
        default=True,
        description="Keep tracking threats that arrive while every channel is busy and engage "
        "them when one frees; false makes the unit a loss system (engage on entry or never).",
    )
    cost_per_shot_usd: NonNegFloat = Field(description="Cost of one round, USD.")
    sources: dict[str, str] = Field(default={}, description="Source of each number, by field name.")

    @model_validator(mode="after")
    def _shoots(self) -> DefenceType:
        if self.kind != "ew" and self.shots_per_engagement < 1:
            raise PathError(("shots_per_engagement",), "a unit that shoots fires at least 1 round")
        return self

    @property
    def is_ew(self) -> bool:
        """EW sites suppress threats in their envelope instead of shooting at them."""
        return self.kind == "ew"


class Catalog(Strict):
    """The merged catalogue a scenario runs with: defaults plus the scenario's overrides."""

    threats: dict[str, ThreatType] = Field(description="Threat types by id.")
    defences: dict[str, DefenceType] = Field(description="Defence types by id.")


def load_catalog() -> Catalog:
    """The shipped catalogue, validated."""
    return Catalog.model_validate(default_catalog_data())


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_catalog(overrides: Any) -> Any:
    """Defaults with the scenario's `catalog:` overrides applied.

    An override entry for an existing id changes only the fields it names; a new id may
    name `base: <existing id>` to start from that entry's values.
    """
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        return overrides  # let pydantic report the wrong type
    merged = default_catalog_data()
    for section in ("threats", "defences"):
        section_overrides = overrides.get(section) or {}
        if not isinstance(section_overrides, dict):
            merged[section] = section_overrides
            continue
        for type_id, entry in section_overrides.items():
            if not isinstance(entry, dict):
                merged[section][type_id] = entry
                continue
            entry = dict(entry)
            base_id = entry.pop("base", None)
            if base_id is not None:
                if base_id not in merged[section]:
                    hint = suggest(str(base_id), merged[section])
                    raise PathError(
                        (section, type_id, "base"),
                        f"unknown base type '{base_id}'"
                        + (f"; did you mean '{hint}'?" if hint else ""),
                    )
                start = merged[section][base_id]
            else:
                start = merged[section].get(type_id, {})
            merged[section][type_id] = _deep_merge(start, entry)
    extra = set(overrides) - {"threats", "defences"}
    for key in sorted(extra):
        merged[key] = overrides[key]  # reported as an unknown field by pydantic
    return merged


# --------------------------------------------------------------------------- places


class Site(Strict):
    """A launch area: a point the threats of a group start from."""

    lon: Longitude = Field(description="Longitude, degrees east.")
    lat: Latitude = Field(description="Latitude, degrees north.")
    name: str | None = Field(default=None, description="Display name.")
    scatter_km: NonNegFloat = Field(
        default=0.0, description="Launch points are scattered around the site (normal, sd in km)."
    )


class DamageModel(Strict):
    """Mean consequences of one hit at a target (each drawn from a Poisson distribution)."""

    killed_per_hit: NonNegFloat = Field(
        default=0.05, description="Mean people killed per hit (Poisson)."
    )
    injured_per_hit: NonNegFloat = Field(
        default=0.4, description="Mean people injured per hit (Poisson)."
    )
    buildings_per_hit: NonNegFloat = Field(
        default=1.5, description="Mean buildings damaged per hit (Poisson)."
    )


class TargetSpec(Strict):
    """A city or facility that threats aim at; leakers that reach it may hit it."""

    # `Target` in the docs and in messages; the class name keeps it apart from the Mesa agent
    model_config = ConfigDict(title="Target")

    lon: Longitude = Field(description="Longitude, degrees east.")
    lat: Latitude = Field(description="Latitude, degrees north.")
    name: str | None = Field(default=None, description="Display name.")
    value: NonNegFloat = Field(
        default=1.0,
        description="Relative value of the target (for weighting outcomes; 1 = a major city).",
    )
    damage: DamageModel = Field(
        default=DamageModel(),
        description="How hits turn into casualties and damage at this target.",
    )


# --------------------------------------------------------------------------- salvo


class Wave(Strict):
    """A share of a group's launches spread uniformly over a time window (hours)."""

    start_h: Number = Field(description="Start of the wave, hours.")
    end_h: Number = Field(description="End of the wave, hours.")
    share: PositiveFloat = Field(
        default=1.0, description="Relative share of the group's threats launched in this wave."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Wave:
        if self.end_h < self.start_h:
            raise PathError(("end_h",), f"end_h {self.end_h} is before start_h {self.start_h}")
        return self


class Route(Strict):
    """How a threat flies from its launch site to its aim point."""

    style: Literal["direct", "dogleg", "waypoints"] = Field(
        default="direct",
        description="direct: straight to the aim point; dogleg: through a turn point offset "
        "sideways; waypoints: through fixed points.",
    )
    dogleg_km: NonNegFloat = Field(
        default=0.0,
        description="dogleg: a turn point at the route's midpoint, offset sideways by a uniform "
        "draw in [-dogleg_km, dogleg_km].",
    )
    waypoints: list[LonLat] = Field(
        default=[], description="waypoints: fixed points every threat of the group flies through."
    )
    waypoint_scatter_km: NonNegFloat = Field(
        default=0.0,
        description="waypoints: each threat's waypoints are scattered (normal, sd in km).",
    )
    aim_scatter_km: NonNegFloat = Field(
        default=5.0, description="Aim points are scattered around the target (normal, sd in km)."
    )

    @model_validator(mode="after")
    def _waypoints_given(self) -> Route:
        if self.style == "waypoints" and not self.waypoints:
            raise PathError(("waypoints",), "style 'waypoints' needs at least one waypoint")
        return self


class SalvoGroup(Strict):
    """Threats of one type launched from some sites at some targets in a time window."""

    type: str = Field(
        description="Threat type id from the catalogue (e.g. shahed, gerbera, kh101, kalibr, "
        "iskander_m, kinzhal).",
    )
    count: NonNegInt = Field(description="Number of threats launched.")
    launch_sites: Weights = Field(
        description="Launch site ids (equal shares) or a mapping id -> weight."
    )
    targets: Weights = Field(description="Target ids (equal shares) or a mapping id -> weight.")
    launch_window_h: tuple[Number, Number] = Field(
        default=(0.0, 1.0),
        description="[start, end] hours: launches uniform over it (ignored when waves are given).",
    )
    waves: list[Wave] | None = Field(
        default=None, description="Launch waves, each a share of the group over its own window."
    )
    route: Route = Field(
        default=Route(), description="How the group's threats fly to their aim points."
    )

    @model_validator(mode="after")
    def _check(self) -> SalvoGroup:
        lo, hi = self.launch_window_h
        if hi < lo:
            raise PathError(("launch_window_h",), f"end {hi} is before start {lo}")
        for field in ("launch_sites", "targets"):
            value = getattr(self, field)
            if not value:
                raise PathError((field,), "name at least one")
            if isinstance(value, dict) and sum(value.values()) <= 0:
                raise PathError((field,), "weights must not all be zero")
        return self

    def windows(self) -> list[Wave]:
        """The launch waves (one wave over launch_window_h if none are given)."""
        if self.waves:
            return list(self.waves)
        lo, hi = self.launch_window_h
        return [Wave(start_h=lo, end_h=hi, share=1.0)]


def weights_of(value: Weights) -> dict[str, float]:
    """Names -> normalised weights (a list means equal weights)."""
    if isinstance(value, list):
        return {name: 1.0 / len(value) for name in value}
    total = sum(value.values())
    return {name: w / total for name, w in value.items()}


# --------------------------------------------------------------------------- defence


class PointPlacement(Strict):
    """All units of the group at one point (a battery position, an airbase)."""

    kind: Literal["point"] = Field(description="Placement generator: point.")
    lon: Longitude = Field(description="Longitude, degrees east.")
    lat: Latitude = Field(description="Latitude, degrees north.")


class RingPlacement(Strict):
    """Units evenly spaced on a circle around a target (point defence of a city)."""

    kind: Literal["ring"] = Field(description="Placement generator: ring.")
    target: str = Field(description="Target id the ring is centred on.")
    radius_km: NonNegFloat = Field(description="Ring radius, km.")
    phase_deg: Number = Field(
        default=0.0, description="Angle of the first unit, degrees counter-clockwise from east."
    )


class BeltPlacement(Strict):
    """Units evenly spaced along a line (a barrier across an approach corridor)."""

    kind: Literal["belt"] = Field(description="Placement generator: belt.")
    start: LonLat = Field(description="[lon, lat] of one end of the belt.")
    end: LonLat = Field(description="[lon, lat] of the other end.")


class RegionPlacement(Strict):
    """Units drawn uniformly in a lon/lat box, anew each replication (laydown uncertainty)."""

    kind: Literal["region"] = Field(description="Placement generator: region.")
    lon: tuple[Longitude, Longitude] = Field(description="[west, east] longitude bounds, degrees.")
    lat: tuple[Latitude, Latitude] = Field(description="[south, north] latitude bounds, degrees.")

    @model_validator(mode="after")
    def _ordered(self) -> RegionPlacement:
        if self.lon[1] < self.lon[0]:
            raise PathError(("lon",), "west edge must come first")
        if self.lat[1] < self.lat[0]:
            raise PathError(("lat",), "south edge must come first")
        return self


Placement = Annotated[
    PointPlacement | RingPlacement | BeltPlacement | RegionPlacement,
    Field(discriminator="kind"),
]


class DefenceGroup(Strict):
    """Units of one defence type placed by one placement generator."""

    type: str = Field(
        description="Defence type id from the catalogue (e.g. patriot, iris_t, gepard, "
        "mobile_fire_group, interceptor_drone, ew).",
    )
    count: NonNegInt = Field(description="Number of units (batteries, fire groups, teams, sites).")
    placement: Placement = Field(
        description="Where the units stand: one of the placement generators below, chosen by "
        "`kind`.",
    )


class EWSettings(Strict):
    """Background electronic warfare not tied to a site: the chance per threat of being lost."""

    suppression: dict[ThreatClass, ProbabilityOrDistribution] = Field(
        default={},
        description="Probability, per class, that a threat is lost to electronic warfare "
        "somewhere along its route (multiplied by the type's ew_susceptibility).",
    )


class Observed(Strict):
    """What was reported for the night the scenario reproduces (for comparison only)."""

    date: str | None = Field(
        default=None, description="Date of the report (the morning after the night)."
    )
    source: str | None = Field(default=None, description="Where the observed figures come from.")
    launched: dict[str, NonNegInt] = Field(
        default={},
        description="Launched counts as reported, by reported class (total, drone, missile).",
    )
    intercepted: dict[str, NonNegInt] = Field(
        default={},
        description="Intercepted counts as reported (shot down + locationally lost), by reported "
        "class.",
    )


# --------------------------------------------------------------------------- scenario


class Scenario(Strict):
    """One night: sites, targets, salvo, defence, electronic warfare and the catalogue."""

    name: Name = Field(
        description="Identifier of the scenario (letters, digits, '.', '_', '-'); names the "
        "default results folder."
    )
    description: str = Field(
        default="", description="What the scenario represents, in a sentence or two."
    )
    sources: list[str] = Field(
        default=[], description="Where the scenario's numbers come from (citations, one per item)."
    )
    seed: NonNegInt = Field(
        default=0,
        description="Base seed of the replications; replication r draws from SeedSequence(seed, "
        "spawn_key=(0, r)).",
    )
    time_window_h: tuple[Number, Number] = Field(
        default=(0.0, 12.0),
        description="The night as [start, end] hours from the time origin; every launch falls "
        "inside it.",
    )
    launch_sites: dict[str, Site] = Field(
        description="Launch areas by id: where salvo groups start."
    )
    targets: dict[str, TargetSpec] = Field(
        description="Cities and facilities by id: what salvo groups aim at and where leakers hit."
    )
    salvo: dict[str, SalvoGroup] = Field(
        description="The attack: salvo groups by id, each of one threat type."
    )
    defences: dict[str, DefenceGroup] = Field(
        default={},
        description="The defence laydown: defence groups by id, each of one defence type.",
    )
    ew: EWSettings = Field(
        default=EWSettings(), description="Background electronic warfare not tied to a site."
    )
    catalog: Catalog = Field(
        description="Overrides of the default catalogue (`salvo catalog`): change fields of a "
        "threat or defence type, or add a type (optionally from `base:`).",
    )
    observed: Observed | None = Field(
        default=None,
        description="What was reported for the night this scenario reproduces; shown beside the "
        "simulated outcomes.",
    )
    _uncertain: bool = PrivateAttr(default=False)

    @model_validator(mode="before")
    @classmethod
    def _merge_catalog(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            try:
                data["catalog"] = merge_catalog(data.get("catalog"))
            except PathError as err:
                raise PathError(("catalog", *err.path), err.message) from None
        return data

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        lo, hi = self.time_window_h
        if hi < lo:
            raise PathError(("time_window_h",), f"end {hi} is before start {lo}")
        for gid, group in self.salvo.items():
            require_known(group.type, self.catalog.threats, ("salvo", gid, "type"), "threat type")
            for field, known, what in (
                ("launch_sites", self.launch_sites, "launch site"),
                ("targets", self.targets, "target"),
            ):
                for name in weights_of(getattr(group, field)):
                    require_known(name, known, ("salvo", gid, field, name), what)
            for w, wave in enumerate(group.windows()):
                if wave.start_h < lo or wave.end_h > hi:
                    where = ("waves", w) if group.waves else ("launch_window_h",)
                    raise PathError(
                        ("salvo", gid, *where),
                        f"launches at {wave.start_h}-{wave.end_h} h fall outside the "
                        f"scenario's time_window_h {lo}-{hi} h",
                    )
        for gid, group in self.defences.items():
            require_known(
                group.type, self.catalog.defences, ("defences", gid, "type"), "defence type"
            )
            if isinstance(group.placement, RingPlacement):
                require_known(
                    group.placement.target,
                    self.targets,
                    ("defences", gid, "placement", "target"),
                    "target",
                )
        return self

    @model_validator(mode="after")
    def _find_distributions(self) -> Scenario:
        self._uncertain = has_distributions(self)
        return self

    @property
    def has_distributions(self) -> bool:
        """Whether some parameter is a distribution drawn anew each replication."""
        return self._uncertain

    def sample(self, rng: np.random.Generator) -> Scenario:
        """This scenario with every distribution replaced by one draw from `rng`."""
        if not self._uncertain:
            return self
        drawn = sample_distributions(self, rng)
        drawn._uncertain = False
        return drawn

    # convenience views used by the model and the CLI
    def threat_type(self, group_id: str) -> ThreatType:
        """The catalogue entry of a salvo group."""
        return self.catalog.threats[self.salvo[group_id].type]

    def defence_type(self, group_id: str) -> DefenceType:
        """The catalogue entry of a defence group."""
        return self.catalog.defences[self.defences[group_id].type]

    def launched_by_class(self) -> dict[str, int]:
        """Threats launched per class (fixed by the scenario)."""
        counts = dict.fromkeys(CLASSES, 0)
        for gid, group in self.salvo.items():
            counts[self.threat_type(gid).class_] += group.count
        return counts


def scenario_from_data(loaded: LoadedYaml) -> Scenario:
    """Validate loaded YAML as a scenario (raises `InputError` with file and line)."""
    return validate(Scenario, loaded)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (raises `InputError` with file, line and field, or
    naming the command a campaign, experiment or calibration file is for)."""
    loaded = load_yaml(path)
    require_kind(loaded, "scenario")
    return scenario_from_data(loaded)
