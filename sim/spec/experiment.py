"""Experiment files: many variants of one scenario, checked completely before anything runs.

An experiment file (``experiments/*.yaml``) names a scenario, the parameters to vary (each a
scenario field by its dotted path, e.g. ``salvo.shahed.count``, with a list of values or a
range), a design (``grid``, ``lhs`` or ``sobol``), replications per design point and a base
seed. ``prepare`` reads and checks it: every path exists, every design point makes a valid
scenario, so a sweep never fails half way on bad input. An experiment may name a campaign
instead of a scenario (``campaign:``): its design points are campaigns. Running a prepared
experiment (``salvo sweep``) is `sim.experiments.sweep`. Derived values are written in the
small language of `sim.spec.expressions`; paths are checked and set by `sim.spec.paths`. The
file format reference is generated from the models here by `sim.refdocs.experiment`.
"""

from __future__ import annotations

import ast
import copy
import itertools
import json
import math
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from sim.spec import campaign as cs
from sim.spec import scenario as sc
from sim.spec.catalog import catalog_texts, default_catalog_data
from sim.spec.expressions import FUNCTION_NAMES, evaluate, parse_expression
from sim.spec.paths import resolve_path, set_path
from sim.spec.scenario import Scenario
from sim.spec.types import Name, NonNegInt, Number, PositiveInt, Strict
from sim.spec.yamlio import (
    ErrorLine,
    InputError,
    LoadedYaml,
    PathError,
    inputs_fingerprint,
    load_yaml,
    require_kind,
    unknown_message,
    validate,
)

Kind = Literal["uncertainty", "lever"]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
PATH_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
# invalid design points reported before giving up listing them
MAX_POINT_ERRORS = 10
# names a parameter or derived value may not have: output columns and the expression functions
RESERVED_NAMES = frozenset(
    {"point", "replication", "replications", "seed", "defender_cost_usd", "attacker_cost_usd"}
    | FUNCTION_NAMES
)


# --------------------------------------------------------------------------- file models


class Parameter(Strict):
    """A varied input: a scenario field named by its dotted path, with values or a range.

    Give either `values` (a list; any YAML value the field accepts) or a range (`low`, `high`
    and optionally `distribution`). A parameter without `path` is a free variable for
    `derived` entries (e.g. a missile share that sets several group counts).
    """

    kind: Kind = Field(
        description="`uncertainty`: what the defender does not control (attacker choices, "
        "weather, kill probabilities); `lever`: a defender choice (batteries, interceptors, "
        "money). Kept in the outputs (parameters.csv, manifest.json, runs.parquet metadata)."
    )
    path: Annotated[str, Field(pattern=PATH_PATTERN)] | None = Field(
        default=None,
        description="Dotted path of the scenario field set, e.g. `salvo.shahed.count`, "
        "`defences.kyiv_mfg.count`, `ew.suppression.drone`, `catalog.threats.shahed.speed_kmh` "
        "(a catalogue override merged onto the shipped type). Without a path the parameter is "
        "a variable that `derived` entries use.",
    )
    values: list[Any] | None = Field(
        default=None,
        min_length=1,
        description="The values to try (grid: every one; lhs/sobol: drawn with equal probability).",
    )
    low: Number | None = Field(default=None, description="Lower end of a range.")
    high: Number | None = Field(default=None, description="Upper end of a range.")
    distribution: Literal["uniform", "loguniform", "integer"] | None = Field(
        default=None,
        description="How a range is sampled (lhs, sobol): `uniform` (default), `loguniform` "
        "(uniform in log; low > 0) or `integer` (whole numbers low..high, equally likely).",
    )
    description: str = Field(default="", description="What the parameter means (free text).")

    @model_validator(mode="after")
    def _values_or_range(self) -> Parameter:
        has_range = self.low is not None or self.high is not None
        if self.values is not None:
            if has_range:
                which = "low" if self.low is not None else "high"
                raise PathError((which,), "give either `values` or a range (`low`, `high`)")
            if self.distribution is not None:
                raise PathError(
                    ("distribution",), "`distribution` applies to a range (`low`, `high`)"
                )
            return self
        if not has_range:
            raise PathError((), "give either `values` (a list) or a range (`low` and `high`)")
        for end in ("low", "high"):
            if getattr(self, end) is None:
                raise PathError((end,), f"a range needs both `low` and `high`; `{end}` is missing")
        assert self.low is not None and self.high is not None
        if self.low > self.high:
            raise PathError(("low",), f"low {self.low:g} is above high {self.high:g}")
        if self.distribution == "loguniform" and self.low <= 0:
            raise PathError(("low",), f"a loguniform range needs low > 0, got {self.low:g}")
        if self.distribution == "integer":
            for end in ("low", "high"):
                value = getattr(self, end)
                if not float(value).is_integer():
                    raise PathError(
                        (end,), f"an integer range needs whole numbers, got {end} {value:g}"
                    )
        return self


class Derived(Strict):
    """A value computed for each design point from the parameters, optionally set at a path.

    `value` is an arithmetic expression of parameter names and earlier `derived` names:
    numbers, `+ - * / // % **`, parentheses and the functions round, floor, ceil, int, float,
    min, max, abs. `round(x)` rounds half to even and gives a whole number, as counts need.
    """

    value: str = Field(description="The expression, e.g. `round(drones * 384 / 574)`.")
    path: Annotated[str, Field(pattern=PATH_PATTERN)] | None = Field(
        default=None,
        description="Dotted path of the scenario field set to the value; without a path the "
        "value is an intermediate that later `derived` entries may use.",
    )
    description: str = Field(default="", description="What the value means (free text).")

    @model_validator(mode="after")
    def _parses(self) -> Derived:
        try:
            parse_expression(self.value)
        except ValueError as err:
            raise PathError(("value",), str(err)) from None
        return self


class GridDesign(Strict):
    """Full factorial: every combination of the parameters' `values`.

    Points are numbered in file order of the parameters, the last one varying fastest. Every
    parameter needs `values`.
    """

    type: Literal["grid"] = Field(description="`grid`.")


class LHSDesign(Strict):
    """Latin hypercube sample of `points` design points (scipy.stats.qmc.LatinHypercube)."""

    type: Literal["lhs"] = Field(description="`lhs`.")
    points: PositiveInt = Field(description="Number of design points.")
    seed: NonNegInt | None = Field(
        default=None, description="Seed of the sample (default: the experiment's seed)."
    )


class SobolDesign(Strict):
    """Saltelli sample for Sobol' sensitivity indices (SALib.sample.sobol, scrambled).

    `base_samples` × (D + 2) design points for D parameters: first-order and total indices
    are estimated (second-order indices are not, so the sample is N·(D + 2), not N·(2D + 2)).
    The run writes `sensitivity.csv`.
    """

    type: Literal["sobol"] = Field(description="`sobol`.")
    base_samples: PositiveInt = Field(
        description="N, a power of 2 (the Sobol' sequence's balance needs it), e.g. 32 or 64."
    )
    seed: NonNegInt | None = Field(
        default=None,
        description="Seed of the sample and of the bootstrap confidence intervals "
        "(default: the experiment's seed).",
    )

    @model_validator(mode="after")
    def _power_of_two(self) -> SobolDesign:
        n = self.base_samples
        if n & (n - 1):
            lower = 1 << (n.bit_length() - 1)
            raise PathError(
                ("base_samples",),
                f"{n} is not a power of 2; use {lower} or {lower * 2}",
            )
        return self


Design = Annotated[GridDesign | LHSDesign | SobolDesign, Field(discriminator="type")]


class Experiment(Strict):
    """An experiment: a scenario, the parameters to vary, a design, replications and a seed."""

    name: Name = Field(
        description="Name of the experiment; results go to `results/<name>/` by default."
    )
    description: str = Field(default="", description="What the experiment asks (free text).")
    scenario: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="The night scenario file, relative to the experiment file (give `scenario` "
        "or `campaign`).",
    )
    campaign: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="A campaign file, relative to the experiment file, instead of `scenario`: "
        "every design point is a campaign, replicated like `salvo campaign`. Paths name "
        "campaign fields (`attacker.policy.mass_night.size.mean`, "
        "`defender.deliveries.0.quantity`) or, after `night.`, fields of its template night "
        "scenario (`night.ew.suppression.drone`).",
    )
    seed: NonNegInt | None = Field(
        default=None,
        description="Base seed: replication r of design point p uses "
        "`numpy.random.SeedSequence(seed, spawn_key=(p, r))` (default: the scenario's or "
        "campaign's seed; `salvo sweep --seed` overrides).",
    )
    replications: PositiveInt = Field(
        description="Replications per design point (`salvo sweep --replications` overrides)."
    )
    design: Design = Field(description="How the design points are chosen.")
    parameters: Annotated[dict[str, Parameter], Field(min_length=1)] = Field(
        description="The varied parameters by name (a name is a letter or _ then letters, "
        "digits, _)."
    )
    derived: dict[str, Derived] = Field(
        default={},
        description="Values computed from the parameters at each design point, in order.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        if (self.scenario is None) == (self.campaign is None):
            both = self.campaign is not None
            raise PathError(
                ("campaign",) if both else (),
                "give either `scenario` (a night scenario file) or `campaign` (a campaign "
                "file)" + (", not both" if both else ""),
            )
        for section, entries in (("parameters", self.parameters), ("derived", self.derived)):
            for name in entries:
                if not re.match(NAME_PATTERN, name):
                    raise PathError(
                        (section, name),
                        f"'{name}' is not a valid name: a letter or _ then letters, digits, _",
                    )
                if name in RESERVED_NAMES:
                    raise PathError((section, name), f"'{name}' is a reserved name")
        for name in self.derived:
            if name in self.parameters:
                raise PathError(("derived", name), f"'{name}' is already a parameter")
        if isinstance(self.design, GridDesign):
            for name, parameter in self.parameters.items():
                if parameter.values is None:
                    raise PathError(
                        ("parameters", name),
                        "a grid design needs `values`; list them or use design type lhs/sobol",
                    )
        known = list(self.parameters)
        used: set[str] = set()
        for name, entry in self.derived.items():
            _, names = parse_expression(entry.value)
            for var in names:
                if var not in known:
                    hint = unknown_message("name", var, known)
                    if var in self.derived:
                        hint += " (a derived value may use only those listed before it)"
                    raise PathError(("derived", name, "value"), hint)
            used.update(names)
            known.append(name)
        for name, parameter in self.parameters.items():
            if parameter.path is None and name not in used:
                raise PathError(
                    ("parameters", name, "path"),
                    "a parameter needs a `path`, or a `derived` entry that uses it",
                )
        seen: dict[str, str] = {}
        for section, entries in (("parameters", self.parameters), ("derived", self.derived)):
            for name, entry in entries.items():
                if entry.path is None:
                    continue
                for other_path, other in seen.items():
                    if _overlaps(entry.path, other_path):
                        raise PathError(
                            (section, name, "path"), f"{entry.path} is also set by {other}"
                        )
                seen[entry.path] = f"{section}.{name}"
        return self


# --------------------------------------------------------------------------- design


@dataclass(frozen=True)
class Entry:
    """A parameter or derived value: what it sets and how its column is named."""

    section: str  # "parameters" or "derived"
    name: str
    path: str | None
    parts: tuple[Any, ...] | None
    kind: str  # uncertainty, lever or derived
    target: str = "scenario"  # what `parts` address: the (template) scenario or the campaign

    @property
    def column(self) -> str:
        """The runs.parquet / summary.csv column: the path, or the name without one."""
        return self.path or self.name


@dataclass(frozen=True)
class DesignPoint:
    """One design point: the value of every parameter and derived entry by name."""

    index: int
    values: dict[str, Any]
    choices: dict[str, int]  # parameter name -> index into its `values` list, if any


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers (strict scenario fields refuse numpy integers)."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def from_unit(parameter: Parameter, u: float) -> tuple[Any, int | None]:
    """Map u in [0, 1) to a parameter value (and the index into `values`, if a list)."""
    if parameter.values is not None:
        k = min(int(u * len(parameter.values)), len(parameter.values) - 1)
        return copy.deepcopy(parameter.values[k]), k
    assert parameter.low is not None and parameter.high is not None
    low, high = float(parameter.low), float(parameter.high)
    dist = parameter.distribution or "uniform"
    if dist == "integer":
        lo, hi = int(low), int(high)
        return min(hi, lo + math.floor(u * (hi - lo + 1))), None
    if dist == "loguniform":
        return math.exp(math.log(low) + u * (math.log(high) - math.log(low))), None
    return low + u * (high - low), None


def unit_sample(experiment: Experiment, design_seed: int) -> np.ndarray | None:
    """The design's points in the unit hypercube (None for a grid)."""
    design = experiment.design
    d = len(experiment.parameters)
    if isinstance(design, LHSDesign):
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=d, rng=np.random.default_rng(design_seed)).random(design.points)
    if isinstance(design, SobolDesign):
        from SALib.sample import sobol as sobol_sample

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sobol_sample.sample(
                sobol_problem(experiment),
                design.base_samples,
                calc_second_order=False,
                scramble=True,
                seed=design_seed,
            )
    return None


def sobol_problem(experiment: Experiment) -> dict[str, Any]:
    """SALib's problem: one unit interval per parameter (values are mapped by `from_unit`)."""
    names = list(experiment.parameters)
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def design_size(experiment: Experiment) -> int:
    """Number of design points: grid the product of the value counts, lhs `points`, sobol
    N·(D + 2)."""
    design = experiment.design
    if isinstance(design, GridDesign):
        return math.prod(len(p.values or ()) for p in experiment.parameters.values())
    if isinstance(design, LHSDesign):
        return design.points
    return design.base_samples * (len(experiment.parameters) + 2)


# --------------------------------------------------------------------------- prepared experiment


@dataclass
class PreparedExperiment:
    """A checked experiment: every design point is known to make a valid scenario."""

    experiment: Experiment
    path: Path
    text: str
    loaded: LoadedYaml
    scenario_path: Path
    scenario_text: str
    scenario_yaml: LoadedYaml
    seed: int
    replications: int
    design_seed: int
    entries: list[Entry]
    points: list[DesignPoint]
    # a campaign experiment: the campaign file (`scenario_*` are then its template night's)
    campaign_path: Path | None = None
    campaign_text: str | None = None
    campaign_yaml: LoadedYaml | None = None
    # the other files the campaign names (calibration, attacker fit): role -> path, text
    campaign_files: dict[str, Path] = field(default_factory=dict)
    campaign_texts: dict[str, str] = field(default_factory=dict)
    # each design point's validated scenario (or campaign), pickled (validated once, sent as
    # is to workers)
    _scenarios: dict[int, bytes] = field(default_factory=dict, repr=False)

    @property
    def is_campaign(self) -> bool:
        """Whether the design points are campaigns (the file names `campaign:`)."""
        return self.campaign_yaml is not None

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self.experiment.name

    @property
    def fingerprint(self) -> str:
        """sha256 of everything that fixes the numbers: experiment, scenario and catalogue
        texts, the effective seed and replications (a resumed folder must match it)."""
        parts = [self.text, self.scenario_text, *catalog_texts(), str(self.seed)]
        if self.campaign_text is not None:
            parts.append(self.campaign_text)
        parts += self.campaign_texts.values()
        return inputs_fingerprint(parts, self.replications)

    def scenario_data(self, point: int) -> dict:
        """The raw scenario data of a design point (the file's data with the point's values)."""
        data = copy.deepcopy(self.scenario_yaml.data)
        values = self.points[point].values
        for entry in self.entries:
            if entry.parts is not None and entry.target == "scenario":
                set_path(data, entry.parts, values[entry.name])
        return data

    def campaign_data(self, point: int) -> dict:
        """The raw campaign data of a design point (campaign experiments)."""
        assert self.campaign_yaml is not None
        data = copy.deepcopy(self.campaign_yaml.data)
        values = self.points[point].values
        for entry in self.entries:
            if entry.parts is not None and entry.target == "campaign":
                set_path(data, entry.parts, values[entry.name])
        return data

    def scenario_for(self, point: int) -> Scenario:
        """The validated scenario of a design point."""
        if point in self._scenarios:
            return pickle.loads(self._scenarios[point])
        return self._validate_point(point)

    def pickled_scenario(self, point: int) -> bytes:
        """The validated scenario of a design point, pickled."""
        if point not in self._scenarios:
            self._scenarios[point] = pickle.dumps(self._validate_point(point), protocol=5)
        return self._scenarios[point]

    def _validate_point(self, point: int) -> Scenario:
        loaded = LoadedYaml(
            data=self.scenario_data(point),
            file=self.scenario_yaml.file,
            lines=self.scenario_yaml.lines,
        )
        scenario = sc.scenario_from_data(loaded)
        if self.campaign_yaml is None:
            return scenario
        campaign = cs.campaign_from_data(
            LoadedYaml(
                self.campaign_data(point), self.campaign_yaml.file, self.campaign_yaml.lines
            ),
            template=scenario,
            template_path=self.scenario_path,
        )
        return campaign  # type: ignore[return-value]  # a campaign experiment's point

    def design_row(self, point: int) -> dict[str, Any]:
        """Column -> value of a design point (parameters, then derived values)."""
        values = self.points[point].values
        return {entry.column: values[entry.name] for entry in self.entries}

    def describe(self) -> dict[str, Any]:
        """The design as JSON data, for the manifest."""
        design = self.experiment.design.model_dump(mode="json")
        design.update(
            {
                "seed": self.design_seed,
                "points": len(self.points),
                "replications": self.replications,
            }
        )
        if isinstance(self.experiment.design, SobolDesign):
            design["calc_second_order"] = False
        params = []
        for entry in self.entries:
            spec = (
                self.experiment.parameters[entry.name]
                if entry.section == "parameters"
                else self.experiment.derived[entry.name]
            )
            info = {"name": entry.name, "column": entry.column, "kind": entry.kind}
            info.update(spec.model_dump(mode="json", exclude_none=True, exclude_defaults=True))
            params.append(info)
        design["parameters"] = params
        return design


def _error(loaded: LoadedYaml, path: tuple[Any, ...], message: str) -> ErrorLine:
    return ErrorLine(loaded.file, loaded.line_of(path), ".".join(str(p) for p in path), message)


def _show_value(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def prepare(
    path: str | Path,
    *,
    seed: int | None = None,
    replications: int | None = None,
    max_nights: int | None = None,
) -> PreparedExperiment:
    """Read an experiment file and check it completely before anything runs.

    Raises InputError (``FILE:LINE: field.path: message`` lines) for a bad file, a path that
    is not a scenario (or campaign) field, a bad range, a design point that makes an invalid
    scenario (or campaign), or a job of more than `max_nights` nights (design points x
    replications, x days for a campaign experiment; checked before the design is built).
    `seed` and `replications` override the file's.
    """
    path = Path(path)
    loaded = load_yaml(path)
    require_kind(loaded, "experiment")
    experiment = validate(Experiment, loaded)
    text = path.read_text(encoding="utf-8-sig")

    base: Scenario | cs.Campaign
    campaign_path = campaign_text = campaign_yaml = None
    campaign_files: dict[str, Path] = {}
    if experiment.campaign is not None:
        campaign_path = _input_file(loaded, "campaign", path.parent / experiment.campaign)
        base = cs.load_campaign(campaign_path)  # the campaign and its template, fully checked
        campaign_yaml = load_yaml(campaign_path)
        campaign_text = campaign_path.read_text(encoding="utf-8-sig")
        assert base.template_path is not None
        scenario_path = base.template_path
        campaign_files = {r: f for r, f in base.input_files().items() if r != "template"}
        scenario_yaml = load_yaml(scenario_path)
    else:
        assert experiment.scenario is not None
        scenario_path = _input_file(loaded, "scenario", path.parent / experiment.scenario)
        scenario_yaml = load_yaml(scenario_path)
        base = sc.scenario_from_data(scenario_yaml)
    catalog_data = default_catalog_data()
    scenario_text = scenario_path.read_text(encoding="utf-8-sig")

    raw_catalog = scenario_yaml.data.get("catalog") or {}
    catalog_ids: dict[str, list[str]] = {}
    for section in ("threats", "defences"):
        ids = list(catalog_data[section])
        own = raw_catalog.get(section) if isinstance(raw_catalog, dict) else None
        ids += [k for k in (own or {}) if k not in ids]
        catalog_ids[f"catalog.{section}"] = ids

    entries: list[Entry] = []
    errors: list[ErrorLine] = []
    for section, specs in (("parameters", experiment.parameters), ("derived", experiment.derived)):
        for name, spec in specs.items():
            parts, target = None, "scenario"
            if spec.path is not None:
                try:
                    if campaign_yaml is None:
                        parts = resolve_path(spec.path, scenario_yaml.data, catalog_ids)
                    else:
                        assert isinstance(base, cs.Campaign)
                        parts, target = _resolve_campaign_path(
                            spec.path, base, campaign_yaml.data, scenario_yaml.data, catalog_ids
                        )
                except ValueError as err:
                    errors.append(_error(loaded, (section, name, "path"), str(err)))
            kind = spec.kind if isinstance(spec, Parameter) else "derived"
            entries.append(Entry(section, name, spec.path, parts, kind, target))
    if errors:
        raise InputError(errors)

    if seed is None:
        seed = base.seed if experiment.seed is None else experiment.seed
    replications = experiment.replications if replications is None else replications
    if max_nights is not None:
        days = base.calendar.days if isinstance(base, cs.Campaign) else 1
        _check_job_size(loaded, design_size(experiment), replications, days, max_nights)
    design_seed = getattr(experiment.design, "seed", None)
    design_seed = seed if design_seed is None else design_seed

    trees = {name: parse_expression(d.value)[0] for name, d in experiment.derived.items()}
    points = _design_points(experiment, design_seed, trees, loaded)
    prepared = PreparedExperiment(
        experiment=experiment,
        path=path,
        text=text,
        loaded=loaded,
        scenario_path=scenario_path,
        scenario_text=scenario_text,
        scenario_yaml=scenario_yaml,
        seed=seed,
        replications=replications,
        design_seed=design_seed,
        entries=entries,
        points=points,
        campaign_path=campaign_path,
        campaign_text=campaign_text,
        campaign_yaml=campaign_yaml,
        campaign_files=campaign_files,
        campaign_texts={r: f.read_text(encoding="utf-8-sig") for r, f in campaign_files.items()},
    )
    _check_points(prepared)
    return prepared


def _check_job_size(
    loaded: LoadedYaml, points: int, replications: int, days: int, max_nights: int
) -> None:
    """InputError at `design` if points x replications x days nights exceed `max_nights`."""
    nights = points * replications * days
    if nights <= max_nights:
        return
    per = f" x {days:,} days" if days > 1 else ""
    raise InputError(
        [
            _error(
                loaded, ("design",),
                f"{points:,} design points x {replications:,} replications{per} is "
                f"{nights:,} nights, beyond the limit of {max_nights:,} nights a job "
                "(--allow-large runs it anyway)",
            )
        ]
    )  # fmt: skip


def _input_file(loaded: LoadedYaml, key: str, file: Path) -> Path:
    """`file` (named by the experiment's `key`) if it is a readable file, else InputError."""
    if not file.is_file():
        reason = "is a folder" if file.is_dir() else "does not exist"
        raise InputError([_error(loaded, (key,), f"{key} file {file} {reason}")])
    return file


# the prefix of a campaign experiment's paths into the campaign's template night scenario
NIGHT_PREFIX = "night"
# the salvo plans of the campaign launch policies (steady: nightly; mass: the other two)
_SALVO_PLANS = ("nightly", "mass_night", "other_nights")


def _resolve_campaign_path(
    text: str,
    campaign: cs.Campaign,
    campaign_data: dict,
    template_data: dict,
    catalog_ids: dict[str, list[str]],
) -> tuple[tuple[Any, ...], str]:
    """A campaign experiment's path: (parts, "campaign") for a campaign field, (parts,
    "scenario") for `night.<path>`, a field of the template night scenario."""
    head, _, rest = text.partition(".")
    if head == NIGHT_PREFIX:
        if not rest:
            raise ValueError(
                "name a field of the template night scenario after 'night.', e.g. "
                "night.ew.suppression.drone"
            )
        return resolve_path(rest, template_data, catalog_ids), "scenario"
    if head == "template":
        raise ValueError(
            "the template file cannot be varied; set fields of the template night scenario "
            "with night.<path>, e.g. night.ew.suppression.drone"
        )
    catalog = campaign.template_scenario.catalog
    threats, defences = list(catalog.threats), list(catalog.defences)
    ids = {
        "attacker.stock": threats,
        "attacker.production_per_day": threats,
        **{f"attacker.policy.{p}.composition": threats for p in _SALVO_PLANS},
        "defender.stock": defences,
        "defender.production_per_month": defences,
        "defender.rules": defences,
    }
    try:
        return resolve_path(text, campaign_data, ids, root=cs.Campaign, what="campaign"), "campaign"
    except ValueError as err:
        if head in Scenario.model_fields and head not in cs.Campaign.model_fields:
            raise ValueError(
                f"{err} ('{head}' is a field of the night scenario: set it with "
                f"{NIGHT_PREFIX}.{text})"
            ) from None
        raise


def _design_points(
    experiment: Experiment,
    design_seed: int,
    trees: dict[str, ast.Expression],
    loaded: LoadedYaml,
) -> list[DesignPoint]:
    """Every design point's parameter values, then its derived values."""
    params = experiment.parameters
    names = list(params)
    raw: list[tuple[dict[str, Any], dict[str, int]]] = []
    sample = unit_sample(experiment, design_seed)
    if sample is None:
        ranges = [range(len(params[n].values or ())) for n in names]
        for combo in itertools.product(*ranges):
            choices = dict(zip(names, combo, strict=True))
            values = {n: copy.deepcopy((params[n].values or [])[k]) for n, k in choices.items()}
            raw.append((values, choices))
    else:
        for row in sample:
            values, choices = {}, {}
            for n, u in zip(names, row, strict=True):
                value, k = from_unit(params[n], float(u))
                values[n] = _plain(value)
                if k is not None:
                    choices[n] = k
            raw.append((values, choices))

    points: list[DesignPoint] = []
    errors: list[ErrorLine] = []
    for index, (values, choices) in enumerate(raw):
        env = dict(values)
        for name, tree in trees.items():
            try:
                env[name] = _plain(evaluate(tree, env))
            except (ArithmeticError, ValueError, TypeError) as err:
                errors.append(
                    _error(
                        loaded,
                        ("derived", name, "value"),
                        f"design point {index} ({_assignment(values)}): {err}",
                    )
                )
                break
        points.append(DesignPoint(index, env, choices))
        if len(errors) >= MAX_POINT_ERRORS:
            break
    if errors:
        raise InputError(errors)
    return points


def _assignment(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_show_value(v)}" for k, v in values.items())


def _overlaps(a: str, b: str) -> bool:
    """Whether dotted paths `a` and `b` name the same field or one lies inside the other."""
    a, b = a + ".", b + "."
    return a.startswith(b) or b.startswith(a)


def _field_path(prepared: PreparedExperiment, entry: Entry, in_template: bool) -> str:
    """The field an entry sets, as an error in the scenario (or campaign) file names it."""
    path = entry.path or ""
    if not prepared.is_campaign:
        return path
    if entry.target != ("scenario" if in_template else "campaign"):
        return "\0"  # never overlaps: the error is in the other file
    return path.removeprefix(NIGHT_PREFIX + ".") if in_template else path


def _check_points(prepared: PreparedExperiment) -> None:
    """Validate the scenario of every design point; report the first few that fail."""
    errors: list[ErrorLine] = []
    bad = 0
    loaded = prepared.loaded
    setters = [e for e in prepared.entries if e.path is not None]
    template_file = prepared.scenario_yaml.file
    for point in prepared.points:
        try:
            prepared.pickled_scenario(point.index)
        except InputError as err:
            bad += 1
            if bad > MAX_POINT_ERRORS:
                continue
            for problem in err.errors:
                blamed = [
                    e
                    for e in setters
                    if _overlaps(
                        _field_path(prepared, e, problem.file == template_file), problem.path
                    )
                ] or setters
                entry = blamed[0]
                where: tuple[Any, ...] = (entry.section, entry.name)
                if entry.name in point.choices:
                    where += ("values", point.choices[entry.name])
                sets = ", ".join(f"{e.path}={_show_value(point.values[e.name])}" for e in blamed)
                detail = f"{problem.path}: {problem.message}" if problem.path else problem.message
                message = f"design point {point.index} sets {sets}: {detail}"
                errors.append(_error(loaded, where, message))
    if bad > MAX_POINT_ERRORS:
        errors.append(
            _error(
                loaded,
                ("design",),
                f"{bad} of {len(prepared.points)} design points make an invalid scenario "
                f"(the first {MAX_POINT_ERRORS} are listed)",
            )
        )
    if errors:
        raise InputError(errors)
