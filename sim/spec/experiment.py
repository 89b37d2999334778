"""Experiment files: many variants of one scenario, checked completely before anything runs.

An experiment file (``experiments/*.yaml``) names a scenario, the parameters to vary (each a
scenario field by its dotted path, e.g. ``salvo.shahed.count``, with a list of values or a
range), a design (``grid``, ``lhs`` or ``sobol``), replications per design point and a base
seed. ``prepare`` reads and checks it: every path exists, every design point makes a valid
scenario, so a sweep never fails half way on bad input. An experiment may name a campaign
instead of a scenario (``campaign:``): its design points are campaigns. Running a prepared
experiment (``salvo sweep``) is `sim.experiments.sweep`. The file format reference is generated
from the models here: ``python -m sim.spec.experiment > docs/experiment-reference.md``.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import itertools
import json
import math
import operator
import os
import pickle
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import numpy as np
from pydantic import BaseModel, Field, model_validator

from sim.refdocs import scenario as schema_docs
from sim.results.core import catalog_texts, text_sha256
from sim.spec import campaign as cs
from sim.spec import scenario as sc
from sim.spec.reflect import is_model, members, type_text, yaml_key
from sim.spec.scenario import Scenario
from sim.spec.types import NonNegInt, Number, PositiveInt, Strict
from sim.spec.yamlio import (
    ErrorLine,
    InputError,
    LoadedYaml,
    PathError,
    load_yaml,
    unknown_message,
    validate,
)

Kind = Literal["uncertainty", "lever"]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
PATH_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
REGENERATE = "python -m sim.spec.experiment > docs/experiment-reference.md"
# invalid design points reported before giving up listing them
MAX_POINT_ERRORS = 10


# --------------------------------------------------------------------------- expressions

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "int": int,
    "float": float,
    "min": min,
    "max": max,
    "abs": abs,
}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
RESERVED_NAMES = frozenset(
    {"point", "replication", "replications", "seed", "defender_cost_usd", "attacker_cost_usd"}
    | set(_FUNCTIONS)
)


def parse_expression(text: str) -> tuple[ast.Expression, list[str]]:
    """Parse a `derived` expression; return its tree and the variable names it uses.

    Allowed: numbers, names, + - * / // % **, unary minus, parentheses and calls of round,
    floor, ceil, int, float, min, max, abs. Raises ValueError with a readable message.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"invalid expression '{text}': {err.msg}") from None
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                shown = ast.unparse(node.func)
                raise ValueError(unknown_message("function", shown, _FUNCTIONS))
            if node.keywords:
                raise ValueError(f"{node.func.id}() takes positional arguments only")
        elif isinstance(node, ast.Name):
            if node.id not in _FUNCTIONS and node.id not in names:
                names.append(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ValueError(
                    f"only numbers may be written in an expression, not {node.value!r}"
                )
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ValueError(f"operator '{ast.unparse(node)}' is not allowed")
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise ValueError(f"operator in '{ast.unparse(node)}' is not allowed")
        elif not isinstance(node, ast.Expression | ast.Load | ast.operator | ast.unaryop):
            raise ValueError(f"'{ast.unparse(node)}' is not allowed in an expression")
    return tree, names


def evaluate(tree: ast.Expression, env: dict[str, Any]) -> Any:
    """Evaluate a tree from `parse_expression` with the variables in `env`."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.Call):
            return _FUNCTIONS[node.func.id](*(ev(arg) for arg in node.args))  # type: ignore[attr-defined]
        raise ValueError(f"cannot evaluate '{ast.unparse(node)}'")  # pragma: no cover

    return ev(tree)


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

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = Field(
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
                    a, b = entry.path + ".", other_path + "."
                    if a.startswith(b) or b.startswith(a):
                        raise PathError(
                            (section, name, "path"), f"{entry.path} is also set by {other}"
                        )
                seen[entry.path] = f"{section}.{name}"
        return self


# --------------------------------------------------------------------------- paths


def _tag_matches(model: type[BaseModel], node: dict) -> bool:
    """False if `node` sets a single-valued Literal field (a union tag) to another value."""
    for name, info in model.model_fields.items():
        key = yaml_key(name, info)
        literal = [a for a in members(info.annotation) if get_origin(a) is Literal]
        if key in node and literal and node[key] not in get_args(literal[0]):
            return False
    return True


_KEY_WHAT: dict[tuple[str, ...], str] = {
    ("salvo",): "salvo group",
    ("defences",): "defence group",
    ("launch_sites",): "launch site",
    ("targets",): "target",
    ("catalog", "threats"): "threat type",
    ("catalog", "defences"): "defence type",
}


def resolve_path(
    text: str,
    data: dict,
    catalog_ids: dict[str, list[str]],
    *,
    root: type[BaseModel] = Scenario,
    what: str = "scenario",
) -> tuple[Any, ...]:
    """Check a dotted path against the scenario schema (or `root`'s) and the file's data.

    Returns the path's parts (list items as ints). A field may be absent from the file if the
    schema has it (it is then created); names the file chooses (salvo and defence groups,
    sites, targets) must exist in it, catalogue types in the catalogue. Raises ValueError with
    a message (and a did-you-mean suggestion) otherwise.
    """
    kinds: list[Any] = [root]
    node: Any = data
    present = True
    out: list[Any] = []
    for raw in text.split("."):
        here = ".".join(str(p) for p in out)
        models = [t for t in kinds if is_model(t)]
        maps = [t for t in kinds if get_origin(t) is dict]
        seqs = [t for t in kinds if get_origin(t) in (list, tuple)]
        if present and node is not None:
            if isinstance(node, dict):
                seqs = []
                models = [m for m in models if _tag_matches(m, node)] or models
            elif isinstance(node, list):
                models, maps = [], []
            else:
                models, maps, seqs = [], [], []
        part: Any = raw
        if models:
            fields: dict[str, list[Any]] = {}
            for model in models:
                for name, info in model.model_fields.items():
                    fields.setdefault(yaml_key(name, info), []).append(info.annotation)
            if raw not in fields:
                message = unknown_message("field", raw, fields)
                where = f" in {here}" if here else f" at the top of a {what}"
                raise ValueError(message.replace(f"'{raw}'", f"'{raw}'{where}", 1))
            kinds = [m for ann in fields[raw] for m in members(ann)]
        elif maps:
            key_type, value_type = get_args(maps[0])
            literals = [k for k in members(key_type) if get_origin(k) is Literal]
            if literals:
                allowed = list(get_args(literals[0]))
            else:
                allowed = list(node) if present and isinstance(node, dict) else []
                for extra in catalog_ids.get(here, []):
                    if extra not in allowed:
                        allowed.append(extra)
            if raw not in allowed:
                what = _KEY_WHAT.get(tuple(out), f"key of {here}")
                raise ValueError(unknown_message(what, raw, allowed))
            kinds = members(value_type)
        elif seqs:
            if not present or not isinstance(node, list):
                raise ValueError(
                    f"{here} is not written in the scenario, so its items cannot be set one by "
                    f"one; vary the whole of {here}"
                )
            if not raw.isdigit():
                raise ValueError(
                    f"{here} is a list: name an item by its number 0-{len(node) - 1}, not '{raw}'"
                )
            part = int(raw)
            if part >= len(node):
                raise ValueError(f"{here} has {len(node)} items (0-{len(node) - 1}), not {part}")
            args = get_args(seqs[0])
            if get_origin(seqs[0]) is list or (len(args) == 2 and args[1] is Ellipsis):
                kinds = members(args[0])
            else:
                kinds = members(args[part]) if part < len(args) else [Any]
        else:
            shown = type_text(kinds[0]) if kinds else "a value"
            raise ValueError(f"{here} is a single value ({shown}); it has no field '{raw}'")
        out.append(part)
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int)
        if present and (in_dict or in_list):
            node = node[part]
        else:
            present, node = False, None
    return tuple(out)


def set_path(data: dict, parts: Sequence[Any], value: Any) -> None:
    """Set `value` at `parts` in raw scenario data, creating absent mappings on the way."""
    node: Any = data
    for part in parts[:-1]:
        child = node[part] if isinstance(node, list) else node.get(part)
        if not isinstance(child, dict | list):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = copy.deepcopy(value)


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
        digest = hashlib.sha256()
        for part in (self.text, self.scenario_text, *catalog_texts(), str(self.seed)):
            digest.update(text_sha256(part).encode())
        if self.campaign_text is not None:
            digest.update(text_sha256(self.campaign_text).encode())
        digest.update(str(self.replications).encode())
        return digest.hexdigest()

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
        )
        campaign._template_path = self.scenario_path
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


def _line(loaded: LoadedYaml, *path: Any) -> int | None:
    return loaded.line_of(path)


def _error(loaded: LoadedYaml, path: tuple[Any, ...], message: str) -> ErrorLine:
    return ErrorLine(loaded.file, loaded.line_of(path), ".".join(str(p) for p in path), message)


def _show_value(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def prepare(
    path: str | Path, *, seed: int | None = None, replications: int | None = None
) -> PreparedExperiment:
    """Read an experiment file and check it completely before anything runs.

    Raises InputError (``FILE:LINE: field.path: message`` lines) for a bad file, a path that
    is not a scenario (or campaign) field, a bad range, or a design point that makes an invalid
    scenario (or campaign). `seed` and `replications` override the file's.
    """
    path = Path(path)
    loaded = load_yaml(path)
    experiment = validate(Experiment, loaded)
    text = path.read_text(encoding="utf-8-sig")

    base: Scenario | cs.Campaign
    campaign_path = campaign_text = campaign_yaml = None
    if experiment.campaign is not None:
        campaign_path = _input_file(loaded, "campaign", path.parent / experiment.campaign)
        base = cs.load_campaign(campaign_path)  # the campaign and its template, fully checked
        campaign_yaml = load_yaml(campaign_path)
        campaign_text = campaign_path.read_text(encoding="utf-8-sig")
        assert base.template_path is not None
        scenario_path = base.template_path
        scenario_yaml = load_yaml(scenario_path)
    else:
        assert experiment.scenario is not None
        scenario_path = _input_file(loaded, "scenario", path.parent / experiment.scenario)
        scenario_yaml = load_yaml(scenario_path)
        base = sc.scenario_from_data(scenario_yaml)
    catalog_data = sc.default_catalog_data()
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
    )
    _check_points(prepared)
    return prepared


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


# --------------------------------------------------------------------------- reference docs

_INTRO = """\
# Experiment file reference

<!-- Generated by `python -m sim.spec.experiment` from the models in sim/experiment.py.
     Do not edit by hand: change the models (docstrings, `Field(description=...)`) and run
     `python -m sim.spec.experiment > docs/experiment-reference.md`. -->

An experiment file is a YAML mapping that names a scenario and says which of its fields to
vary, how (a design) and how often (replications per design point). `salvo sweep FILE` runs it
(see [cli-sweep.md](cli-sweep.md)); the scenario format is in
[scenario-reference.md](scenario-reference.md). `experiments/*.yaml` are complete examples.

```yaml
name: ew-strength
description: How much does background EW suppression of drones matter?
scenario: ../scenarios/aug-2025-night.yaml   # relative to this file
seed: 4                                      # default: the scenario's seed
replications: 40                             # per design point
design: {type: grid}                         # grid | lhs | sobol
parameters:
  ew_drone:
    kind: uncertainty                        # uncertainty | lever
    path: ew.suppression.drone               # a scenario field by its dotted path
    values: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
```

## Parameters and paths

A parameter names a scenario field by its *dotted path* (see
[scenario-reference.md](scenario-reference.md#dotted-paths)): `salvo.shahed.count`,
`defences.kyiv_mfg.count`, `ew.suppression.drone`, `salvo.shahed.route.dogleg_km`. Paths are
set in the scenario file's data before it is validated, so a field the file leaves out (at its
default) can be varied too. Names the file chooses (salvo and defence groups, sites, targets)
must exist in it. `catalog.threats.<type>.<field>` and `catalog.defences.<type>.<field>` set a
catalogue override for this scenario, merged onto the shipped type like the scenario's own
`catalog:` section (e.g. `catalog.threats.shahed.speed_kmh`, `catalog.defences.iris_t.pk.drone`).

Each parameter has either `values` (a list) or a range (`low`, `high`, `distribution`):

| design | `values` | range |
|---|---|---|
| `grid` | every value, in every combination (the last parameter varies fastest) | no |
| `lhs` | drawn with equal probability | `uniform`, `loguniform` or `integer` |
| `sobol` | drawn with equal probability | `uniform`, `loguniform` or `integer` |

Number of design points: `grid` the product of the parameters' value counts; `lhs` `points`;
`sobol` `base_samples` × (D + 2) for D parameters (first-order and total indices only:
SALib's `calc_second_order=False`). LHS and Sobol' samples are drawn in the unit hypercube
(`scipy.stats.qmc.LatinHypercube`, `SALib.sample.sobol.sample`) with the design's seed and
mapped to each parameter: `uniform` low + u·(high − low), `loguniform` the same in log,
`integer` the whole numbers low..high with equal probability, `values` item ⌊u·n⌋.

Every parameter is tagged `kind: uncertainty` (what the defender does not control: attacker
choices, weather, kill probabilities) or `kind: lever` (a defender choice: batteries,
interceptors, money), as in exploratory modelling. The tag is kept in `parameters.csv`,
`manifest.json` (`design.parameters`), `sensitivity.csv` and in the field metadata
(`salvo.kind`) of `runs.parquet`.

## Derived values

Some questions need several fields to move together: a salvo of 614 threats with a varying
missile share, or drones and decoys in a fixed ratio. A parameter without `path` is a free
variable, and `derived` entries compute fields from the parameters with small arithmetic
expressions, evaluated in order for each design point:

```yaml
parameters:
  drones: {kind: uncertainty, values: [100, 500, 1000, 2000]}   # no path: a variable
derived:
  shahed: {path: salvo.shahed.count, value: "round(drones * 384 / 574)"}
  gerbera: {path: salvo.gerbera.count, value: "drones - shahed"}
```

An expression may use numbers, parameter names and the names of earlier `derived` entries,
`+ - * / // % **`, parentheses and `round`, `floor`, `ceil`, `int`, `float`, `min`, `max`,
`abs`. Counts must be whole numbers: use `round(...)` (half to even), `floor` or `ceil`.
Derived values get their own columns in the outputs (named by path, or by name without one),
tagged `kind: derived`.

## Campaign experiments

An experiment may name a campaign file (`campaign: ../scenarios/campaign-status-quo.yaml`)
instead of `scenario:`; every design point is then a campaign, replicated as by
`salvo campaign` (see [cli-campaign.md](cli-campaign.md)). Paths name campaign fields (see
[campaign-reference.md](campaign-reference.md)), e.g. `defender.budget.per_month_usd`,
`defender.deliveries.7.quantity` (list items by number), `attacker.policy.mass_night.size.mean`,
`attacker.production_per_day.shahed`; a path that starts with `night.` names a field of the
campaign's template night scenario (`night.ew.suppression.drone`,
`night.catalog.defences.iris_t.pk.drone`). The template file itself cannot be varied.
`experiments/campaign-deliveries.yaml` is an example. The outputs are those of a sweep with
campaign totals in place of night outcomes: `runs.parquet` has one row of totals per design
point and replication, `summary.csv` `<total>.<stat>` columns per design point (and
`ran_out_day.<type>.share`, the share of replications in which the type ran out; its other
statistics are those of the run-out day among them); a Sobol' design's `sensitivity.csv`
covers `intercept_rate`, `mass_intercept_rate` and `cost_exchange`. No `nights.parquet` is
written for a sweep.

## Seeds and replications

Replication r of design point p is seeded with
`numpy.random.SeedSequence(seed, spawn_key=(p, r))`, so the numbers do not depend on the
executor, the number of workers, their order or on resuming. `salvo sweep --seed` and
`--replications` override the file's `seed` and `replications`.

## Outputs

`salvo sweep` writes to `results/<name>/` (or `--out DIR`):

- `runs.parquet`: one row per replication, sorted by `point` and `replication`: `point`,
  `replication`, `seed` (the base seed), one column per parameter and derived value (named by
  its path), then every outcome column of `salvo run`'s runs.parquet (see
  [cli-run.md](cli-run.md)). No wall-clock columns: the same experiment gives equal files.
- `summary.csv`: one row per design point: `point`, the design columns, `replications`,
  `launched.<group>` and `<metric>.<group>.<stat>` for metric `intercepted`, `leaked`,
  `intercept_rate` (intercepted / launched); group `total`, each class launched at some point
  (`drone`, `decoy`, `cruise`, `ballistic`, `hypersonic`), `drones` (drones with decoys, as
  the Air Force reports them) and `missiles`; stat `mean`, `sd`, `ci95_low`, `ci95_high`
  (Student-t 95 % interval of the mean), `p05`, `p50`, `p95`.
- `parameters.csv`: every parameter and derived value: name, column, kind, path, values or
  range, expression.
- `sensitivity.csv` (Sobol' designs): for output `intercept_rate.total` and `leaked.total`
  (their mean over the replications of each point) and each parameter: `S1`, `S1_conf`, `ST`,
  `ST_conf` (first-order and total indices with their 95 % confidence half-widths from
  SALib's bootstrap).
- `manifest.json`: the experiment and scenario texts with their sha256, package versions, git
  commit, seed, design, executor, wall time.

## Errors

Everything is checked before the first replication runs: the file against the tables below,
every `path` against the scenario, and the scenario of every design point. Problems are
printed as `FILE:LINE: field.path: message` and `salvo sweep` exits with status 2:

@ERROR_EXAMPLE@
"""

_BROKEN_EXAMPLE = """\
name: broken
scenario: ../scenarios/aug-2025-night.yaml
replications: 10
design: {type: grid}
parameters:
  drones:
    kind: uncertainty
    path: salvo.shahd.count
    values: [300]
  ew:
    kind: lever
    path: ew.suppression.drone
    values: [0.2, 1.4]
"""


def error_example() -> str:
    """A broken experiment and the errors it gives (really computed)."""
    import tempfile

    root = Path(__file__).resolve().parents[2]
    numbered = [f"{n:>2}  {line}" for n, line in enumerate(_BROKEN_EXAMPLE.splitlines(), 1)]
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "experiments").mkdir()
        (Path(tmp) / "scenarios").mkdir()
        scenario = "scenarios/aug-2025-night.yaml"
        (Path(tmp) / scenario).write_bytes((root / scenario).read_bytes())
        file = Path(tmp) / "experiments" / "broken.yaml"
        for text in (
            _BROKEN_EXAMPLE,
            _BROKEN_EXAMPLE.replace("salvo.shahd.count", "salvo.shahed.count"),
        ):
            file.write_text(text, encoding="utf-8")
            try:
                prepare(file)
            except InputError as err:
                reports.append(str(err).replace(f"{tmp}{os.sep}", ""))
            else:  # pragma: no cover - the example is broken on purpose
                raise AssertionError("the error example in sim/experiment.py runs")
    return (
        "```yaml\n" + "\n".join(numbered) + "\n```\n\ngives\n\n"
        "```console\n$ salvo sweep experiments/broken.yaml\n" + reports[0] + "\n```\n\n"
        "and once the path is corrected (`salvo.shahed.count`), the second value of `ew` "
        "makes an invalid scenario:\n\n"
        "```console\n$ salvo sweep experiments/broken.yaml\n" + reports[1] + "\n```"
    )


def reference_markdown() -> str:
    """The whole experiment file reference as Markdown (depends only on the models)."""
    models = schema_docs.documented_models(Experiment)
    contents = ["## Contents", ""] + [f"- [{m.__name__}](#{m.__name__.lower()})" for m in models]
    intro = _INTRO.replace("@ERROR_EXAMPLE@", error_example())
    parts = [intro, "\n".join(contents) + "\n"]
    parts += [schema_docs.model_section(m) for m in models]
    # `values` is any YAML value the addressed field accepts (the scenario checks it)
    return "\n".join(parts).replace(
        "| `values` | list of Any |", "| `values` | list of values the field accepts |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the experiment file reference, or with --check FILE compare FILE with it."""
    return schema_docs.reference_main(
        argv, prog="sim.spec.experiment", what="experiment file", generate=reference_markdown
    )


if __name__ == "__main__":
    sys.exit(main())
