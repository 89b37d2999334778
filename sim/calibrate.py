"""Calibration against observed nights: counts -> scenarios, the fit, and predictive checks.

Three pieces (docs/calibration.md explains the mechanisms and the numbers):

* **The builder** (`build_night`): one observed night (launches per class and a date) becomes
  a scenario from a template. Each class is split between *deep* salvo groups (long flights to
  the cities behind many defence layers) and *near* groups (short flights to front-line and
  border cities through thin defences); the deep share is a logistic function of the log of the
  night's total launches and varies from night to night (a beta distribution). Within a bucket
  the groups share the count by fixed weights (largest remainder, so per-class totals are
  exact). The defence posture changes with the date: background electronic-warfare
  suppression of drones, the reach of the mobile fire groups' machine guns (drones flying
  higher) and the effectiveness of ballistic-missile defence are given per calendar quarter,
  interpolated linearly between quarter midpoints and flat outside.
* **The fit** (`fit_calibration`, `salvo calibrate`): an emulator of the simulation (per salvo
  group, the intercepted fraction on a grid of posture values and salvo sizes, simulated once
  with fixed seeds) turns the night-level distributions into a predictive distribution of
  each night's intercepted counts. The free parameters, spreads included, maximise that
  likelihood; common random numbers (a fixed Latin hypercube of night-level draws per night)
  make the objective deterministic, and a bounded Powell search minimises it.
* **The check** (`predict_nights`, `salvo validate`): every night is simulated with the full
  model (`NightModel`), replications giving the median and 5-95 % interval of the intercepted
  counts per class, which are scored against the observed counts and against the
  `QuarterlyRateBaseline` (optionally in K-fold cross-validation).

A calibration file (`scenarios/calibrated.yaml`, format `salvo-calibration/1`) holds the
template's path, the builder's buckets, the fitted parameters, the posture table and the
provenance of the fit (`Calibration`).
"""

from __future__ import annotations

import copy
import hashlib
import math
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import optimize, special

from sim.distributions import Distribution
from sim.laydown import NightPlan
from sim.model import NightModel
from sim.observed import (
    OBSERVED_CLASSES,
    SCORED,
    QuarterlyRateBaseline,
    interval_scores,
    load_nights,
)
from sim.runner import default_workers, replication_rng
from sim.scenario import CLASSES, Scenario, scenario_from_data
from sim.yamlio import ErrorLine, InputError, PathError, load_yaml, validate

FORMAT = "salvo-calibration/1"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATE = ROOT / "scenarios" / "calibration-template.yaml"
REFERENCE_TEMPLATE = ROOT / "scenarios" / "aug-2025-night.yaml"
DEFAULT_CALIBRATION = ROOT / "scenarios" / "calibrated.yaml"

# the model's classes that make up each reported class (decoys are reported as drones)
SIM_CLASSES: dict[str, tuple[str, ...]] = {
    "drone": ("drone", "decoy"),
    "cruise": ("cruise",),
    "ballistic": ("ballistic",),
    "hypersonic": ("hypersonic",),
}
QUARTERLY: tuple[str, ...] = ("ew", "reach_km", "bmd", "lost_all")
DEEP_CLASSES: tuple[str, ...] = ("drone", "cruise", "ballistic")
# reports merge "locationally lost" drones into "destroyed" from about August 2025 on
LOST_REPORTED_UNTIL = pd.Timestamp("2025-08-01")
# the reference night (tests/test_reference_night.py): its drones anchor the fit
REFERENCE_DATE = pd.Timestamp("2025-08-21")
# sd of the anchor of its mean intercepted drones and cruise missiles (the tolerances are 6 and 3)
REFERENCE_ANCHOR_SD = {"drone": 0.75, "cruise": 1.0}
# the catalogue's Patriot pk against ballistic missiles: `bmd` = 1 keeps the catalogue values
QUARTER_PATTERN = r"^\d{4}Q[1-4]$"

Quarter = Annotated[str, Field(pattern=QUARTER_PATTERN)]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]
RelSd = Annotated[float, Field(ge=0.0, lt=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- the file format


class Bucket(_Strict):
    """The salvo groups of one reported class, on deep and on near routes, with weights."""

    deep: dict[str, Annotated[float, Field(gt=0.0)]] = Field(
        description="Template salvo groups flying deep routes -> relative share within the bucket."
    )
    near: dict[str, Annotated[float, Field(gt=0.0)]] = Field(
        default={},
        description="Template salvo groups flying near routes -> relative share (empty: all deep).",
    )


class Builder(_Strict):
    """How a night's counts become salvo group counts and posture values become fields."""

    size_reference: Annotated[float, Field(gt=0.0)] = Field(
        default=200.0,
        description="Total launches at which the deep share's logit equals `deep.<class>.logit`.",
    )
    buckets: dict[Literal["drone", "cruise", "ballistic", "hypersonic"], Bucket] = Field(
        description="Per reported class, its deep and near salvo groups."
    )
    short_range_types: list[str] = Field(
        default=["mobile_fire_group"],
        description="Defence types whose pk and reach against drones and decoys the posture "
        "sets (`mfg_pk`, `reach_km@Q`).",
    )
    reach_limits: tuple[float, float] = Field(
        default=(0.5, 4.5),
        description="Lowest and highest short-range reach a night can draw, km (the emulator "
        "grid spans them).",
    )
    bmd_types: list[str] = Field(
        default=["patriot", "samp_t"],
        description="Defence types whose catalogue pk against ballistic and hypersonic "
        "missiles is multiplied by `bmd@Q` (capped at 0.99).",
    )


class Posture(_Strict):
    """Defence posture in one calendar quarter (the value at the quarter's midpoint)."""

    ew: Annotated[float, Field(ge=0.0, le=0.95)] = Field(
        description="Mean background EW suppression of drones and decoys (beta across nights)."
    )
    reach_km: Annotated[float, Field(gt=0.0, le=10.0)] = Field(
        description="Reach of the short-range types against drones, km (drone altitude)."
    )
    bmd: Annotated[float, Field(ge=0.0, le=3.0)] = Field(
        description="Multiplier on the bmd_types' catalogue pk against ballistic and hypersonic."
    )
    lost_all: Annotated[float, Field(ge=0.0, le=0.9)] = Field(
        default=0.0,
        description="Reporting: share of nights whose report counts every drone not shot down as "
        "locationally lost (all drones reported intercepted).",
    )


class Deep(_Strict):
    """Deep share of one class: logistic in log total launches, beta across nights."""

    logit: float = Field(description="Logit of the mean deep share at `size_reference` launches.")
    slope: float = Field(description="Change of that logit per unit of log total launches.")
    rsd: RelSd = Field(
        description="Night-to-night spread: sd of the beta = rsd * sqrt(mean (1 - mean))."
    )


class Parameters(_Strict):
    """Scalar parameters (the per-quarter ones are in `posture`)."""

    mfg_pk: Prob = Field(description="Mean per-burst pk of the short-range types vs drones.")
    mfg_pk_rsd: RelSd = Field(description="Relative sd of that pk across nights (beta).")
    reach_rsd: Annotated[float, Field(ge=0.0, le=3.0)] = Field(
        default=0.0,
        description="Relative sd of the short-range reach across nights (lognormal around the "
        "quarter's `reach_km`, clipped to the builder's `reach_limits`): how high the drones "
        "fly varies from night to night.",
    )
    ew_rsd: RelSd = Field(description="Relative sd of the background EW suppression (beta).")
    deep: dict[Literal["drone", "cruise", "ballistic"], Deep] = Field(
        description="Deep share per class."
    )


class Fit(_Strict):
    """Provenance of a fit."""

    data: str = Field(description="The nights file fitted.")
    sha256: str = Field(description="Its SHA-256.")
    nights: int = Field(description="Nights used.")
    dates: list[str] = Field(description="Dates of the nights used.")
    objective: float = Field(description="Negative log-likelihood plus priors at the optimum.")
    method: str = Field(description="Optimiser and emulator settings.")
    evaluations: int = Field(description="Objective evaluations.")
    seconds: float = Field(description="Wall time of the fit, s.")
    seed: int = Field(description="Seed of the emulator runs and of the night-level draws.")
    free: dict[str, tuple[float, float]] = Field(description="Free parameters and their bounds.")
    standard_errors: dict[str, float | None] = Field(
        default={}, description="Approximate standard errors (inverse Hessian of the objective)."
    )
    fit_by_class: dict[str, dict[str, float]] = Field(
        default={}, description="Observed and emulated intercepted totals per class."
    )


class Calibration(_Strict):
    """A calibration file: template, builder, fitted parameters, posture table, provenance."""

    format: Literal["salvo-calibration/1"] = Field(description="File format tag.")
    description: str = Field(default="", description="What this calibration is.")
    template: str = Field(description="Template scenario, relative to this file.")
    builder: Builder = Field(description="How nights are built from the template.")
    parameters: Parameters = Field(description="Scalar parameters.")
    posture: dict[Quarter, Posture] = Field(
        description="Per-quarter posture (midpoint values; linear in between, flat outside)."
    )
    fit: Fit | None = Field(default=None, description="Provenance of the fit, if fitted.")

    @model_validator(mode="after")
    def _quarters(self) -> Calibration:
        if not self.posture:
            raise PathError(("posture",), "give the posture of at least one quarter")
        return self


# --------------------------------------------------------------------------- defaults


DEFAULT_BUILDER = Builder(
    buckets={
        "drone": Bucket(
            deep={"shahed": 2.0, "gerbera": 1.0},
            near={
                "shahed_near_north": 2.0,
                "shahed_near_east": 1.0,
                "shahed_near_south": 2.0,
                "gerbera_near_north": 1.0,
                "gerbera_near_east": 0.5,
                "gerbera_near_south": 1.0,
            },
        ),
        "cruise": Bucket(
            deep={"kh101": 20.0, "kalibr": 14.0}, near={"kh59": 1.0, "iskander_k": 1.0}
        ),
        "ballistic": Bucket(deep={"iskander_m_kyiv": 1.0}, near={"iskander_m": 1.0}),
        "hypersonic": Bucket(deep={"kinzhal": 1.0}),
    }
)

DEFAULT_PARAMETERS = Parameters(
    mfg_pk=0.2,
    mfg_pk_rsd=0.3,
    reach_rsd=0.3,
    ew_rsd=0.3,
    deep={
        "drone": Deep(logit=0.0, slope=1.5, rsd=0.3),
        "cruise": Deep(logit=0.5, slope=1.0, rsd=0.3),
        "ballistic": Deep(logit=-1.0, slope=1.0, rsd=0.3),
    },
)
DEFAULT_POSTURE = Posture(ew=0.3, reach_km=2.0, bmd=0.6, lost_all=0.05)


def default_bounds(name: str) -> tuple[float, float]:
    """The default search bounds of a parameter (docs/cli-calibrate.md lists them)."""
    if name.startswith("ew@"):
        return (0.0, 0.8)
    if name.startswith("reach_km@"):
        return (0.5, 4.5)
    if name == "reach_rsd":
        return (0.02, 1.5)
    if name.startswith("bmd@"):
        return (0.02, 1.4)
    if name.startswith("lost_all@"):
        return (0.0, 0.5)
    table = {
        "mfg_pk": (0.02, 0.6),
        "mfg_pk_rsd": (0.02, 0.9),
        "ew_rsd": (0.02, 0.9),
        "logit": (-6.0, 6.0),
        "slope": (-1.0, 5.0),
        "rsd": (0.02, 0.95),
    }
    key = name.rsplit(".", 1)[-1]
    if key in table:
        return table[key]
    raise KeyError(name)


def builder_for_template(data: Mapping[str, Any]) -> Builder:
    """`DEFAULT_BUILDER` if the template has its groups; otherwise one inferred from the template.

    Inferred: a salvo group whose id contains `_near` flies a near route, the others deep; the
    groups of a class share its count by their template counts (equally where those are all 0).
    """
    salvo = data.get("salvo") or {}
    wanted = {g for b in DEFAULT_BUILDER.buckets.values() for g in (*b.deep, *b.near)}
    if wanted <= set(salvo):
        return DEFAULT_BUILDER.model_copy(deep=True)
    scenario = Scenario.model_validate(data)
    by_class: dict[str, dict[str, dict[str, float]]] = {}
    for gid, group in scenario.salvo.items():
        reported = next(
            r for r, sims in SIM_CLASSES.items() if scenario.threat_type(gid).class_ in sims
        )
        route = "near" if "_near" in gid else "deep"
        by_class.setdefault(reported, {"deep": {}, "near": {}})[route][gid] = float(group.count)
    buckets = {}
    for reported, routes in by_class.items():
        for route, weights in routes.items():
            if weights and sum(weights.values()) == 0:
                routes[route] = dict.fromkeys(weights, 1.0)
            else:
                routes[route] = {g: w for g, w in weights.items() if w > 0}
        if not routes["deep"]:
            routes["deep"], routes["near"] = routes["near"], {}
        buckets[reported] = Bucket(**routes)
    return Builder(buckets=buckets)


def default_calibration(
    template: str | Path = DEFAULT_TEMPLATE, quarters: Iterable[str] = ()
) -> Calibration:
    """Starting values: the defaults, with the posture table over `quarters`."""
    data = load_template(template)
    quarters = list(quarters) or ["2025Q3"]
    return Calibration(
        format=FORMAT,
        description="default starting values (not fitted)",
        template=str(Path(template).resolve()),
        builder=builder_for_template(data),
        parameters=DEFAULT_PARAMETERS.model_copy(deep=True),
        posture={q: DEFAULT_POSTURE.model_copy() for q in quarters},
    )


# --------------------------------------------------------------------------- reading and writing


def load_calibration(path: str | Path) -> Calibration:
    """Read and validate a calibration file (raises InputError with file and line)."""
    loaded = load_yaml(path)
    calibration = validate(Calibration, loaded)
    template = Path(calibration.template)
    if not template.is_absolute():
        template = (Path(path).resolve().parent / template).resolve()
    if not template.exists():
        line = loaded.line_of(("template",))
        raise InputError([ErrorLine(str(path), line, "template", f"no such file: {template}")])
    calibration = calibration.model_copy(update={"template": str(template)})
    check_builder(
        calibration.builder, load_template(template), str(path), loaded.line_of(("builder",))
    )
    return calibration


def check_builder(
    builder: Builder, template: Mapping[str, Any], file: str, line: int | None
) -> None:
    """Every bucket group must be a template salvo group of the right class, and vice versa."""
    scenario = Scenario.model_validate(template)
    errors = []
    seen: set[str] = set()
    for reported, bucket in builder.buckets.items():
        for route in ("deep", "near"):
            for gid in getattr(bucket, route):
                where = f"builder.buckets.{reported}.{route}.{gid}"
                if gid not in scenario.salvo:
                    errors.append(ErrorLine(file, line, where, "not a salvo group of the template"))
                elif scenario.threat_type(gid).class_ not in SIM_CLASSES[reported]:
                    cls = scenario.threat_type(gid).class_
                    errors.append(ErrorLine(file, line, where, f"a {cls} group, not {reported}"))
                seen.add(gid)
    for gid in scenario.salvo:
        if gid not in seen:
            errors.append(
                ErrorLine(
                    file, line, "builder.buckets", f"template salvo group '{gid}' is in no bucket"
                )
            )
    for kind, types in (
        ("short_range_types", builder.short_range_types),
        ("bmd_types", builder.bmd_types),
    ):
        for type_id in types:
            if type_id not in scenario.catalog.defences:
                errors.append(
                    ErrorLine(file, line, f"builder.{kind}", f"unknown defence type '{type_id}'")
                )
    if errors:
        raise InputError(errors)


def save_calibration(calibration: Calibration, path: str | Path, header: str = "") -> None:
    """Write a calibration file; the template path is written relative to the file."""
    path = Path(path)
    data = calibration.model_dump(mode="json")
    template = Path(calibration.template).resolve()
    try:
        data["template"] = str(template.relative_to(path.resolve().parent))
    except ValueError:
        import os

        data["template"] = os.path.relpath(template, path.resolve().parent)
    text = yaml.dump(_rounded(data), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    path.write_text(header + text, encoding="utf-8")


class _Dumper(yaml.SafeDumper):
    """Lists of plain values in flow style ([0.5, 4.5]); the rest in block style."""

    def represent_sequence(self, tag, sequence, flow_style=None):
        flat = all(not isinstance(v, (list, dict)) for v in sequence)
        return super().represent_sequence(tag, sequence, flow_style=flat or None)


def _rounded(obj: Any) -> Any:
    """Floats to 6 significant digits (a calibration file is read by people too)."""
    if isinstance(obj, float):
        return float(f"{obj:.6g}")
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    return obj


@cache
def _template_cached(path: str, mtime: float) -> dict[str, Any]:
    loaded = load_yaml(path)
    scenario_from_data(loaded)  # errors with file and line, once
    return loaded.data


def load_template(path: str | Path) -> dict[str, Any]:
    """A template scenario as raw YAML data (validated once; a fresh copy each call)."""
    path = Path(path).resolve()
    try:
        mtime = path.stat().st_mtime
    except OSError as err:
        raise InputError.single(str(path), f"cannot read file: {err.strerror or err}") from None
    return copy.deepcopy(_template_cached(str(path), mtime))


# --------------------------------------------------------------------------- parameters


def flat_parameters(calibration: Calibration) -> dict[str, float]:
    """Every parameter by name: scalars, `deep.<class>.<logit|slope|rsd>`, `<ew|reach_km|bmd>@Q`."""
    p = calibration.parameters
    out = {"mfg_pk": p.mfg_pk, "mfg_pk_rsd": p.mfg_pk_rsd, "reach_rsd": p.reach_rsd}
    out["ew_rsd"] = p.ew_rsd
    for cls, deep in p.deep.items():
        for key in ("logit", "slope", "rsd"):
            out[f"deep.{cls}.{key}"] = getattr(deep, key)
    for quarter, posture in sorted(calibration.posture.items()):
        for key in QUARTERLY:
            out[f"{key}@{quarter}"] = getattr(posture, key)
    return out


def with_parameters(calibration: Calibration, values: Mapping[str, float]) -> Calibration:
    """A copy with the named parameters set (names as in `flat_parameters`)."""
    data = calibration.model_dump()
    for name, value in values.items():
        value = float(value)
        if "@" in name:
            key, quarter = name.split("@", 1)
            data["posture"][quarter][key] = value
        elif name.startswith("deep."):
            _, cls, key = name.split(".")
            data["parameters"]["deep"][cls][key] = value
        else:
            data["parameters"][name] = value
    return Calibration.model_validate(data)


def reshape_posture(calibration: Calibration, quarters: Sequence[str]) -> Calibration:
    """The same calibration with its posture table over `quarters` (values interpolated)."""
    table = {}
    for quarter in quarters:
        at = posture_at(calibration, quarter_midpoint(quarter))
        table[quarter] = Posture(**at)
    return calibration.model_copy(update={"posture": table})


def quarter_midpoint(quarter: str) -> pd.Timestamp:
    """The middle of a calendar quarter."""
    period = pd.Period(quarter, freq="Q")
    return period.start_time + (period.end_time - period.start_time) / 2


def quarters_between(first: pd.Timestamp, last: pd.Timestamp) -> list[str]:
    """Every calendar quarter from the one of `first` to the one of `last`."""
    periods = pd.period_range(pd.Timestamp(first).to_period("Q"), pd.Timestamp(last).to_period("Q"))
    return [str(p) for p in periods]


def interpolation_weights(quarters: Sequence[str], dates: Sequence[pd.Timestamp]) -> np.ndarray:
    """(dates, quarters) weights: linear between quarter midpoints, flat outside."""
    mids = np.array([quarter_midpoint(q).value for q in quarters], dtype=float)
    order = np.argsort(mids)
    mids = mids[order]
    t = np.array([pd.Timestamp(d).value for d in dates], dtype=float)
    weights = np.zeros((len(t), len(quarters)))
    for k, x in enumerate(t):
        if x <= mids[0] or len(mids) == 1:
            weights[k, order[0] if x <= mids[0] else order[-1]] = 1.0
        elif x >= mids[-1]:
            weights[k, order[-1]] = 1.0
        else:
            j = int(np.searchsorted(mids, x)) - 1
            frac = (x - mids[j]) / (mids[j + 1] - mids[j])
            weights[k, order[j]] = 1.0 - frac
            weights[k, order[j + 1]] = frac
    return weights


def posture_at(calibration: Calibration, date: Any) -> dict[str, float]:
    """The posture on a date (linear between quarter midpoints, flat outside)."""
    quarters = sorted(calibration.posture)
    w = interpolation_weights(quarters, [pd.Timestamp(date)])[0]
    return {
        key: float(sum(w[j] * getattr(calibration.posture[q], key) for j, q in enumerate(quarters)))
        for key in QUARTERLY
    }


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
    """`NightRow`s of the nights table of `sim.observed.load_nights`."""
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
    draws: list[tuple[str, str, str, Distribution]] | None
    # ("ew", class, "", d) | ("pk", type, class, d); None: the model samples the scenario itself
    reach: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # mean, rsd, low, high
    short_range: tuple[str, ...] = ()
    lost_all: float = 0.0  # chance that the report counts every drone not shot down as lost
    _plan: NightPlan | None = None

    @property
    def plan(self) -> NightPlan:
        """The plan every replication shares (computed once)."""
        if self._plan is None:
            self._plan = NightPlan.from_scenario(self.plain)
        return self._plan


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
        f"Night reported on {row.date.date().isoformat()}, built by sim/calibrate.py from "
        f"{data.get('name', 'the template')} and a calibration (deep shares at their means)."
    )
    total = max(row.total, 1)
    counts: dict[str, int] = dict.fromkeys(data["salvo"], 0)
    deep: dict[str, tuple[float, float]] = {}
    groups = {}
    for reported, bucket in builder.buckets.items():
        n = int(row.launched.get(reported, 0))
        deep_groups, near_groups = list(bucket.deep), list(bucket.near)
        wd = np.array([bucket.deep[g] for g in deep_groups], dtype=float)
        wn = np.array([bucket.near[g] for g in near_groups], dtype=float)
        wd, wn = wd / wd.sum(), (wn / wn.sum() if len(wn) else wn)
        if near_groups and reported in params.deep:
            spec = params.deep[reported]
            mean = deep_share(spec, total, builder.size_reference)
            deep[reported] = (mean, spec.rsd)
        else:
            mean = 1.0
            deep[reported] = (1.0, 0.0)
        weights = np.concatenate([mean * wd, (1.0 - mean) * wn])
        for gid, count in zip(
            deep_groups + near_groups, largest_remainder(n, weights), strict=True
        ):
            counts[gid] = count
        groups[reported] = (deep_groups, wd, near_groups, wn)
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
        "source": "observed launches (nights file); built by sim/calibrate.py",
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
        draws=draws,
        reach=(reach_mean, params.reach_rsd, low, high),
        short_range=tuple(builder.short_range_types),
        lost_all=posture["lost_all"],
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
    from sim.distributions import has_distributions

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
    ballistic by `sim.observed` already. The posture of the night's date sets background EW
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


# --------------------------------------------------------------------------- simulation


RESULT_COLUMNS: tuple[str, ...] = (*SCORED, "lost.drone")


def _replication_counts(spec: NightSpec, rng: np.random.Generator) -> dict[str, int]:
    """Group counts of one replication: deep share drawn (beta), then binomial and multinomial."""
    counts: dict[str, int] = {}
    for reported, (deep_groups, wd, near_groups, wn) in spec.groups.items():
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
            for gid, c in zip(near_groups, rng.multinomial(n - n_deep, wn), strict=True):
                counts[gid] = int(c)
    return counts


def simulate_spec(spec: NightSpec, replications: int, seed: int, point: int = 0) -> np.ndarray:
    """Replications of one night: (replications, RESULT_COLUMNS) intercepted counts.

    Replication r draws from `replication_rng(seed, point, r)`: first the deep shares and the
    group counts, then the short-range reach, then the scenario's night-level distributions
    (EW suppression, pk), then the night itself. The distributions are drawn here and applied
    to the shared plan (the same draws `NightModel` would make from the scenario, without
    rebuilding the plan every night); other distributions are left to the model.
    """
    out = np.zeros((replications, len(RESULT_COLUMNS)), dtype=np.int64)
    plan = spec.plan
    types = np.array([g.type for g in spec.plain.defences.values()], dtype=object)
    group_of_unit = plan.unit_columns["group"]
    unit_type = types[group_of_unit] if len(group_of_unit) else np.array([], dtype=object)
    short = np.isin(unit_type, list(spec.short_range)) if len(unit_type) else unit_type
    drone_cols = [CLASSES.index("drone"), CLASSES.index("decoy")]
    reach_mean, reach_rsd, reach_low, reach_high = spec.reach
    reach_dist = None
    if reach_rsd > 0 and reach_mean > 0 and short.any():
        reach_dist = Distribution(dist="lognormal", mean=reach_mean, sd=reach_rsd * reach_mean)
    for r in range(replications):
        rng = replication_rng(seed, point, r)
        counts = _replication_counts(spec, rng)
        columns: dict[str, np.ndarray] = {}
        if reach_dist is not None:
            reach = min(max(reach_dist.draw(rng), reach_low), reach_high)
            radius = plan.unit_columns["radius_km"].copy()
            block = radius[np.ix_(short, drone_cols)]
            radius[np.ix_(short, drone_cols)] = np.where(block > 0, reach, 0.0)
            columns["radius_km"] = radius
        if spec.draws is None:
            model = NightModel(
                spec.scenario, rng=rng, counts=counts, unit_columns=columns or None,
                agent_views=False,
            )  # fmt: skip
        else:
            scenario = spec.plain
            ew_update = {}
            for kind, a, b, dist in spec.draws:
                value = dist.draw(rng)
                if kind == "ew":
                    ew_update[a] = value
                else:
                    if "pk" not in columns:
                        columns["pk"] = plan.unit_columns["pk"].copy()
                    columns["pk"][unit_type == a, CLASSES.index(b)] = value
            if ew_update:
                suppression = {**spec.plain.ew.suppression, **ew_update}
                scenario = spec.plain.model_copy(
                    update={"ew": spec.plain.ew.model_copy(update={"suppression": suppression})}
                )
            model = NightModel(
                scenario, rng=rng, plan=plan, counts=counts, unit_columns=columns or None,
                agent_views=False,
            )  # fmt: skip
        counts_out = model.run().counts
        for k, cls in enumerate(SCORED):
            if cls == "total":
                out[r, k] = counts_out["intercepted.total"]
            else:
                out[r, k] = sum(counts_out[f"intercepted.{c}"] for c in SIM_CLASSES[cls])
        out[r, -1] = counts_out["suppressed.drone"] + counts_out["suppressed.decoy"]
        # reporting: on some nights every drone not shot down is reported locationally lost
        if spec.lost_all > 0 and rng.random() < spec.lost_all:
            unreported = spec.row.launched["drone"] - out[r, 1]
            out[r, 1] += unreported
            out[r, 0] += unreported
            out[r, -1] += unreported
    return out


@dataclass(frozen=True)
class _NightTask:
    template: str
    calibration: Calibration
    row: NightRow
    replications: int
    seed: int
    point: int


def _run_night_task(task: _NightTask) -> tuple[int, np.ndarray]:
    spec = night_spec(load_template(task.template), task.row, task.calibration)
    return task.point, simulate_spec(spec, task.replications, task.seed, task.point)


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn, stated explicitly: Mesa sets it globally on import, and it is safe everywhere
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _map(
    fn: Callable[[Any], Any],
    tasks: list[Any],
    workers: int,
    on_done: Callable[[], None] | None = None,
) -> list[Any]:
    """fn over tasks, serially or in a process pool; results in task order."""
    results: list[Any] = [None] * len(tasks)
    if workers <= 1 or len(tasks) <= 1:
        for k, task in enumerate(tasks):
            results[k] = fn(task)
            if on_done:
                on_done()
        return results
    from concurrent.futures import as_completed

    with _pool(workers) as pool:
        futures = {pool.submit(fn, task): k for k, task in enumerate(tasks)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if on_done:
                on_done()
    return results


class _Ticker:
    """Progress lines on stderr: one per 10 % of `total` steps."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.enabled = max(total, 1), label, enabled
        self.done = 0
        self._next = 1
        self._start = time.perf_counter()

    def __call__(self) -> None:
        self.done += 1
        decile = self.done * 10 // self.total
        if self.enabled and decile >= self._next:
            elapsed = time.perf_counter() - self._start
            print(
                f"{self.label}: {self.done}/{self.total} ({100 * self.done // self.total} %, "
                f"{elapsed:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            self._next = decile + 1


def predict_nights(
    calibration: Calibration,
    rows: Sequence[NightRow],
    *,
    replications: int = 100,
    seed: int = 1,
    workers: int = 1,
    progress: bool = False,
    points: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Simulate every night; per night and class the median and 5 % / 95 % quantiles.

    Night k is design point `points[k]` (default k): its replications draw from
    `SeedSequence(seed, spawn_key=(point, r))`, whatever the workers.
    """
    points = list(range(len(rows))) if points is None else list(points)
    tasks = [
        _NightTask(calibration.template, calibration, row, replications, seed, point)
        for row, point in zip(rows, points, strict=True)
    ]
    ticker = _Ticker(len(tasks), "validate: nights simulated", progress)
    results = _map(_run_night_task, tasks, workers, ticker)
    records = []
    for row, (_, sims) in zip(rows, results, strict=True):
        record: dict[str, Any] = {"date": row.date.date().isoformat()}
        for k, cls in enumerate(RESULT_COLUMNS):
            values = sims[:, k]
            record[f"median.{cls}"] = float(np.median(values))
            record[f"p05.{cls}"] = float(np.quantile(values, 0.05))
            record[f"p95.{cls}"] = float(np.quantile(values, 0.95))
            record[f"mean.{cls}"] = float(values.mean())
        records.append(record)
    return pd.DataFrame.from_records(records)


# --------------------------------------------------------------------------- the emulator

DRONE_REACH: tuple[float, ...] = (0.5, 1.0, 1.5, 2.25, 3.0, 4.5)
DRONE_PK: tuple[float, ...] = (0.02, 0.1, 0.2, 0.35, 0.6)
DRONE_N: tuple[int, ...] = (30, 80, 200, 450, 900)
MISSILE_BMD: tuple[float, ...] = (0.02, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4)
MISSILE_N: tuple[int, ...] = (2, 6, 15, 40, 90)
# background EW in the drone grid runs (drones lost to it and the others are counted apart)
EMULATOR_EW = 0.3
# drones launched with each missile in the missile grid runs (they use up SAM rounds first)
MISSILE_DRONES_PER_MISSILE = 15


@dataclass(frozen=True)
class EmulatorGrid:
    """Where the emulator runs the model (the defaults cover the default bounds)."""

    reach: tuple[float, ...] = DRONE_REACH
    pk: tuple[float, ...] = DRONE_PK
    drones: tuple[int, ...] = DRONE_N
    bmd: tuple[float, ...] = MISSILE_BMD
    missiles: tuple[int, ...] = MISSILE_N
    replications: int = 8


@dataclass
class Emulator:
    """The model's per-group intercepted fractions on a grid of posture values and sizes.

    Drone and decoy groups (`drone_groups`), at reach x pk x drones, four fractions: `q` of the
    drones not lost to background EW that are intercepted, `F` of those lost to background EW
    that count as intercepted (not failed first), `a` of those lost to background EW that end
    suppressed (not shot down first) and `e` of the others that end suppressed (EW sites).
    Missile groups (`missile_groups`), at bmd x missiles per class: the intercepted fraction.
    `inflation`: the variance of a night's intercepted drones over the binomial variance.
    """

    grid: EmulatorGrid
    drone_groups: list[str]
    drone_types: list[str]  # "drone" or "decoy", per drone group
    drone_tables: np.ndarray  # (groups, 4, reach, pk, drones)
    missile_groups: list[str]
    missile_tables: np.ndarray  # (groups, bmd, missiles)
    inflation: float
    runs: int
    seconds: float
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # the counts behind the tables


@dataclass(frozen=True)
class _CellTask:
    template: str
    calibration: Calibration
    kind: str  # "drone" or "missile"
    index: int
    reach: float
    pk: float
    bmd: float
    n: int
    replications: int
    seed: int


def _cell_scenario(task: _CellTask) -> tuple[NightSpec, dict[str, int]]:
    cal = task.calibration
    row_launched = dict.fromkeys(OBSERVED_CLASSES, 0)
    if task.kind == "drone":
        row_launched["drone"] = task.n
    else:
        row_launched.update(cruise=task.n, ballistic=task.n, hypersonic=max(1, task.n // 4))
        row_launched["drone"] = min(MISSILE_DRONES_PER_MISSILE * task.n, DRONE_N[-1])
    posture = Posture(ew=EMULATOR_EW, reach_km=task.reach, bmd=task.bmd)
    params = cal.parameters.model_copy(update={"mfg_pk": task.pk, "mfg_pk_rsd": 0.0, "ew_rsd": 0.0})
    deep = {}
    for cls, spec in params.deep.items():
        # drones at the default deep share of such a night, missiles half and half
        logit = DEFAULT_PARAMETERS.deep["drone"].logit if cls == "drone" else 0.0
        slope = DEFAULT_PARAMETERS.deep["drone"].slope if cls == "drone" else 0.0
        deep[cls] = spec.model_copy(update={"logit": logit, "slope": slope, "rsd": 0.0})
    params = params.model_copy(update={"deep": deep})
    cell = cal.model_copy(update={"parameters": params, "posture": {"2025Q3": posture}})
    row = NightRow(date=quarter_midpoint("2025Q3"), launched=row_launched)
    spec = night_spec(load_template(task.template), row, cell)
    counts = {gid: g.count for gid, g in spec.scenario.salvo.items()}
    return spec, counts


def _run_cell(task: _CellTask) -> tuple[int, np.ndarray, np.ndarray]:
    """Per group and replication: [n, intercepted, suppressed] for unflagged then flagged."""
    spec, counts = _cell_scenario(task)
    plan = spec.plan
    groups = list(spec.scenario.salvo)
    per_group = np.zeros((task.replications, len(groups), 6), dtype=np.int64)
    totals = np.zeros(task.replications, dtype=np.int64)
    for r in range(task.replications):
        rng = replication_rng(task.seed, 10_000 + task.index, r)
        model = NightModel(spec.plain, rng=rng, plan=plan, counts=counts, agent_views=False)
        result = model.run()
        batch = model.threat_batch
        state = model.threat_state
        flagged = batch.t_supp < batch.t_end
        intercepted = (state == 1) | (state == 2)
        suppressed = state == 2
        for flag in (0, 1):
            mask = flagged == bool(flag)
            base = 3 * flag
            per_group[r, :, base] = np.bincount(batch.group[mask], minlength=len(groups))
            per_group[r, :, base + 1] = np.bincount(
                batch.group[mask & intercepted], minlength=len(groups)
            )
            per_group[r, :, base + 2] = np.bincount(
                batch.group[mask & suppressed], minlength=len(groups)
            )
        totals[r] = result.counts["intercepted.drone"] + result.counts["intercepted.decoy"]
    return task.index, per_group, totals


def _features_by_level(level: np.ndarray, columns: Sequence[np.ndarray]) -> np.ndarray:
    """GLM features: a separate intercept and slopes per value of `level` (the steep axis:
    reach, bmd), plus squares and products of the standardised `columns` (smooth axes)."""
    z = [(c - c.mean()) / (c.std() or 1.0) for c in columns]
    out = []
    for value in np.unique(level):
        indicator = (level == value).astype(float)
        out += [indicator, *(indicator * c for c in z)]
    out += [c * c for c in z]
    out += [z[i] * z[j] for i in range(len(z)) for j in range(i)]
    return np.stack(out, axis=1)


def _smooth(
    successes: np.ndarray, trials: np.ndarray, x: np.ndarray, ridge: float = 1e-2
) -> np.ndarray:
    """Fitted probabilities of a binomial GLM (logit link, small ridge) by Newton's method."""
    beta = np.zeros(x.shape[1])
    if trials.sum() <= 0:
        return np.full(len(trials), 0.5)
    penalty = ridge * np.eye(x.shape[1])
    for _ in range(100):
        p = special.expit(x @ beta)
        grad = x.T @ (successes - trials * p) - penalty @ beta
        hess = (x * (trials * p * (1 - p))[:, None]).T @ x + penalty + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    return special.expit(x @ beta)


def build_emulator(
    calibration: Calibration,
    *,
    grid: EmulatorGrid | None = None,
    seed: int = 1,
    workers: int = 1,
    progress: bool = False,
) -> Emulator:
    """Run the model on the emulator grid (fixed seeds: common random numbers)."""
    grid = grid or EmulatorGrid()
    started = time.perf_counter()
    template_data = load_template(calibration.template)
    scenario = Scenario.model_validate(template_data)
    buckets = calibration.builder.buckets
    drone_groups = (
        [g for g in (*buckets["drone"].deep, *buckets["drone"].near)] if "drone" in buckets else []
    )
    missile_groups = [
        g for cls in ("cruise", "ballistic", "hypersonic") if cls in buckets
        for g in (*buckets[cls].deep, *buckets[cls].near)
    ]  # fmt: skip
    tasks: list[_CellTask] = []
    cells = []
    for ir, reach in enumerate(grid.reach):
        for ik, pk in enumerate(grid.pk):
            for i_n, n in enumerate(grid.drones):
                cells.append(("drone", ir, ik, i_n))
                tasks.append(
                    _CellTask(calibration.template, calibration, "drone", len(tasks), reach, pk,
                              1.0, n, grid.replications, seed)
                )  # fmt: skip
    for ib, bmd in enumerate(grid.bmd):
        for i_n, n in enumerate(grid.missiles):
            cells.append(("missile", ib, i_n, 0))
            tasks.append(
                _CellTask(calibration.template, calibration, "missile", len(tasks), 1.5, 0.2, bmd,
                          n, grid.replications, seed)
            )  # fmt: skip
    if not drone_groups:
        tasks = [t for t in tasks if t.kind == "missile"]
        cells = [c for c in cells if c[0] == "missile"]
    if not missile_groups:
        keep = [k for k, c in enumerate(cells) if c[0] == "drone"]
        tasks, cells = [tasks[k] for k in keep], [cells[k] for k in keep]
    # the costliest cells first, so the pool ends together
    order = sorted(range(len(tasks)), key=lambda k: -tasks[k].n if tasks[k].kind == "drone" else 0)
    ticker = _Ticker(len(tasks), "calibrate: emulator cells", progress)
    results = _map(_run_cell, [tasks[k] for k in order], workers, ticker)
    by_index = {index: (per_group, totals) for index, per_group, totals in results}
    group_ids = list(scenario.salvo)
    d_idx = [group_ids.index(g) for g in drone_groups]
    m_idx = [group_ids.index(g) for g in missile_groups]
    shape = (len(grid.reach), len(grid.pk), len(grid.drones))
    raw = np.zeros((len(drone_groups), 6, *shape))
    missile_raw = np.zeros((len(missile_groups), 2, len(grid.bmd), len(grid.missiles)))
    var_obs, var_bin = 0.0, 0.0
    for task, cell in zip(tasks, cells, strict=True):
        per_group, totals = by_index[task.index]
        summed = per_group.sum(axis=0)  # (groups, 6)
        if cell[0] == "drone":
            _, ir, ik, i_n = cell
            raw[:, :, ir, ik, i_n] = summed[d_idx].reshape(len(d_idx), 6)
            n_g = per_group[:, d_idx, 0] + per_group[:, d_idx, 3]
            p_g = (summed[d_idx, 1] + summed[d_idx, 4]) / np.maximum(
                summed[d_idx, 0] + summed[d_idx, 3], 1
            )
            if len(totals) > 1:
                var_obs += float(np.var(totals, ddof=1))
                var_bin += float((n_g.mean(axis=0) * p_g * (1 - p_g)).sum())
        else:
            _, ib, i_n, _ = cell
            missile_raw[:, 0, ib, i_n] = summed[m_idx, 0] + summed[m_idx, 3]
            missile_raw[:, 1, ib, i_n] = summed[m_idx, 1] + summed[m_idx, 4]
    # smooth each table with a binomial GLM in the grid coordinates (the runs are noisy)
    drone_tables = np.zeros((len(drone_groups), 4, *shape))
    if drone_groups:
        r, k, n = np.meshgrid(
            np.array(grid.reach),
            np.log(np.array(grid.pk)),
            np.log(np.array(grid.drones, float)),
            indexing="ij",
        )
        features = _features_by_level(r.ravel(), [k.ravel(), n.ravel()])
        pairs = ((1, 0), (4, 3), (5, 3), (2, 0))  # q, F, a, e as (numerator, denominator) columns
        for g in range(len(drone_groups)):
            for j, (num, den) in enumerate(pairs):
                drone_tables[g, j] = _smooth(
                    raw[g, num].ravel(), raw[g, den].ravel(), features
                ).reshape(shape)
    missile_tables = np.zeros((len(missile_groups), len(grid.bmd), len(grid.missiles)))
    if missile_groups:
        b, n = np.meshgrid(
            np.array(grid.bmd), np.log(np.array(grid.missiles, float)), indexing="ij"
        )
        features = _features_by_level(b.ravel(), [n.ravel()])
        for g in range(len(missile_groups)):
            missile_tables[g] = _smooth(
                missile_raw[g, 1].ravel(), missile_raw[g, 0].ravel(), features
            ).reshape(len(grid.bmd), len(grid.missiles))
    drone_types = [scenario.threat_type(g).class_ for g in drone_groups]
    return Emulator(
        grid=grid,
        drone_groups=drone_groups,
        drone_types=drone_types,
        drone_tables=drone_tables,
        missile_groups=missile_groups,
        missile_tables=missile_tables,
        inflation=max(1.0, var_obs / var_bin) if var_bin > 0 else 1.0,
        runs=len(tasks) * grid.replications,
        seconds=time.perf_counter() - started,
        raw={"drone": raw, "missile": missile_raw},
    )


# --------------------------------------------------------------------------- the objective

_LOGIT_GRID = np.linspace(-8.0, 8.0, 65)
_NU_GRID = np.concatenate([[0.0], np.linspace(0.02, 0.96, 48)])


@cache
def _beta_table(m: int) -> np.ndarray:
    """Beta quantiles at u = (j + 1/2) / m on a grid of logit(mean) x relative sd.

    The CDF is evaluated on a fine grid of logit(x) and inverted by interpolation (much faster
    than `betaincinv` for the concentrated betas at the grid's edges).
    """
    u = (np.arange(m) + 0.5) / m
    mean = special.expit(_LOGIT_GRID)[:, None]
    total = 1.0 / np.maximum(_NU_GRID, 1e-9) ** 2 - 1.0
    a, b = (mean * total)[..., None], ((1.0 - mean) * total)[..., None]
    x_logit = np.linspace(-16.0, 16.0, 1281)
    cdf = special.betainc(a, b, special.expit(x_logit)[None, None, :])
    table = np.empty((len(_LOGIT_GRID), len(_NU_GRID), m))
    for i in range(len(_LOGIT_GRID)):
        table[i, 0, :] = mean[i, 0]
        for j in range(1, len(_NU_GRID)):
            row = np.maximum.accumulate(cdf[i, j])
            table[i, j] = special.expit(np.interp(u, row, x_logit))
    return table


def _frac_index(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower index and fraction of `x` on an increasing grid (clamped to its ends)."""
    x = np.clip(x, grid[0], grid[-1])
    i0 = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, len(grid) - 2)
    frac = (x - grid[i0]) / (grid[i0 + 1] - grid[i0])
    return i0, frac


def beta_draws(table: np.ndarray, mean: np.ndarray, rsd: float, idx: np.ndarray) -> np.ndarray:
    """(nights, M) beta draws: quantile j = idx[n, m] of beta(mean[n], rsd), interpolated."""
    mean = np.broadcast_to(np.asarray(mean, dtype=float), (idx.shape[0],))
    mean = np.clip(mean, 1e-3, 1.0 - 1e-3)
    i0, f = _frac_index(_LOGIT_GRID, special.logit(mean))
    v0, g = _frac_index(_NU_GRID, np.array([rsd]))
    v0, g = int(v0[0]), float(g[0])
    rows = i0[:, None]
    f = f[:, None]
    low = (1 - g) * table[rows, v0, idx] + g * table[rows, v0 + 1, idx]
    high = (1 - g) * table[rows + 1, v0, idx] + g * table[rows + 1, v0 + 1, idx]
    return (1 - f) * low + f * high


def _norm_logpdf(y: np.ndarray, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    return -0.5 * (y - mu) ** 2 / var - 0.5 * np.log(2 * np.pi * var)


def _binom_logpmf(y: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return (
        special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)
        + y * np.log(p) + (n - y) * np.log1p(-p)
    )  # fmt: skip


def _logmeanexp(x: np.ndarray) -> np.ndarray:
    return special.logsumexp(x, axis=1) - np.log(x.shape[1])


QUANTILES = np.array([0.05, 0.5, 0.95])


def mixture_quantiles(
    mu: np.ndarray,
    var: np.ndarray,
    taus: np.ndarray = QUANTILES,
    top: np.ndarray | None = None,
    top_mass: np.ndarray | None = None,
) -> np.ndarray:
    """(nights, taus) quantiles of equal-weight normal mixtures (rows of mu, var).

    With `top` and `top_mass`, the mixture has, in addition, a point mass `top_mass` at `top`
    (per night; the largest possible count). Newton's method from the moment-matched normal's
    quantiles, safeguarded by a bracket.
    """
    taus = np.asarray(taus, dtype=float)
    taus = np.broadcast_to(taus, (len(mu), taus.shape[-1]))
    if top is not None and top_mass is not None:
        keep = (1.0 - top_mass)[:, None]
        scaled = np.minimum(taus / np.maximum(keep, 1e-9), 0.999999)
        quantiles = mixture_quantiles(mu, var, scaled)
        z = (top[:, None] - mu) / np.sqrt(var)
        below_top = special.ndtr(z).mean(axis=1)[:, None]  # the model's P(count <= top)
        return np.where(scaled < below_top, np.minimum(quantiles, top[:, None]), top[:, None])
    sd = np.sqrt(var)
    centre = mu.mean(axis=1)
    spread = np.sqrt(var.mean(axis=1) + mu.var(axis=1))
    x = centre[:, None] + special.ndtri(taus) * spread[:, None]
    low = np.broadcast_to((mu - 8 * sd).min(axis=1)[:, None], x.shape).copy()
    high = np.broadcast_to((mu + 8 * sd).max(axis=1)[:, None], x.shape).copy()
    for _ in range(12):
        z = (x[:, :, None] - mu[:, None, :]) / sd[:, None, :]
        cdf = special.ndtr(z).mean(axis=2)
        pdf = (np.exp(-0.5 * z * z) / sd[:, None, :]).mean(axis=2) / math.sqrt(2 * math.pi)
        below = cdf < taus
        low = np.where(below, x, low)
        high = np.where(below, high, x)
        step = x - (cdf - taus) / np.maximum(pdf, 1e-300)
        inside = (step > low) & (step < high)
        x = np.where(inside, step, 0.5 * (low + high))
    return x


def wis(y: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Weighted interval score of the median and the 90 % interval, per night.

    (|y - median| / 2 + 0.05 * interval score at alpha 0.1) / 1.5: a proper score that the
    5 %, 50 % and 95 % quantiles of the true distribution minimise (Bracher et al. 2021).
    """
    low, median, high = quantiles[:, 0], quantiles[:, 1], quantiles[:, 2]
    interval = (high - low) + 20.0 * np.maximum(low - y, 0.0) + 20.0 * np.maximum(y - high, 0.0)
    return (0.5 * np.abs(y - median) + 0.05 * interval) / 1.5


# smoothness of the posture from one quarter to the next (random-walk prior sd)
POSTURE_STEP_SD = {"ew": 0.1, "reach_km": 0.75, "bmd": 0.3, "lost_all": 0.1}
BLOCKS = ("drone", "cruise", "ballistic")
_DIMS = (
    "deep.drone",
    "ew.drone",
    "ew.decoy",
    "pk.drone",
    "pk.decoy",
    "deep.cruise",
    "deep.ballistic",
    "reach",
)


def block_of(name: str) -> str:
    """The likelihood block a parameter belongs to (drone, cruise or ballistic)."""
    if name.startswith("deep."):
        return name.split(".")[1]
    if name.startswith("bmd@"):
        return "ballistic"
    return "drone"


class Objective:
    """Negative log-likelihood of the nights' intercepted counts under the emulated model.

    Per night, the night-level draws (deep shares, EW suppression of drones and of decoys, the
    short-range pk against drones and decoys, the reach) are a Latin hypercube of `draws`
    points, fixed by `seed` (common random numbers): the same parameters always give the same
    value. Given the draws, intercepted drones are normal (binomial variance times the
    emulator's inflation, plus the variance of the split between groups), with a point mass at
    "all intercepted" (`lost_all`); missiles binomial. Drones are scored by `criterion` (the
    weighted interval score or the likelihood), missiles by likelihood. Nights before August
    2025 add the score of the reported "lost" drones. Priors: a random walk on each posture
    series from quarter to quarter, and the reference night (2025-08-21, if fitted) anchors its
    mean intercepted drones and cruise missiles to the observed 546 and 30
    (`REFERENCE_ANCHOR_SD`).
    """

    def __init__(
        self,
        calibration: Calibration,
        rows: Sequence[NightRow],
        emulator: Emulator,
        *,
        draws: int = 32,
        seed: int = 1,
        anchor: bool = True,
        criterion: str = "wis",
    ) -> None:
        if criterion not in ("wis", "likelihood"):
            raise ValueError(f"unknown criterion {criterion!r}")
        self.criterion = criterion
        self.calibration = calibration
        self.rows = list(rows)
        self.emulator = emulator
        self.names = list(flat_parameters(calibration))
        self.values = flat_parameters(calibration)
        self.quarters = sorted(calibration.posture)
        n = len(self.rows)
        self.weights = interpolation_weights(self.quarters, [r.date for r in self.rows])
        self.launched = {
            c: np.array([r.launched[c] for r in self.rows], float) for c in OBSERVED_CLASSES
        }
        self.observed = {
            c: np.array([r.intercepted.get(c, 0) for r in self.rows], float)
            for c in OBSERVED_CLASSES
        }
        self.total = np.maximum(np.array([r.total for r in self.rows], float), 1.0)
        self.log_size = np.log(self.total) - math.log(calibration.builder.size_reference)
        self.lost_mask = np.array([r.lost_drone is not None for r in self.rows])
        self.lost = np.array([r.lost_drone or 0 for r in self.rows], float)
        self.anchor = np.array([anchor and r.date == REFERENCE_DATE for r in self.rows])
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(77,)))
        self.idx = np.stack(
            [np.stack([rng.permutation(draws) for _ in range(n)]) for _ in _DIMS], axis=-1
        )  # (nights, draws, dims)
        self.table = _beta_table(draws)
        self.evaluations = 0
        grid = emulator.grid
        self._n_drone = _frac_index(
            np.log(np.array(grid.drones, float)), np.log(np.maximum(self.launched["drone"], 1))
        )
        # the drone tables at each night's salvo size: (groups, 4, nights * reach * pk)
        n0, fn = self._n_drone
        tab = emulator.drone_tables  # (G, 4, R, K, N)
        at_n = (1 - fn) * tab[..., n0] + fn * tab[..., n0 + 1]  # (G, 4, R, K, nights)
        self._drone_at_n = np.ascontiguousarray(at_n.transpose(0, 1, 4, 2, 3)).reshape(
            tab.shape[0], 4, -1
        )
        self._z = special.ndtri((np.arange(draws) + 0.5) / draws)
        self._n_missile = {
            c: _frac_index(
                np.log(np.array(grid.missiles, float)), np.log(np.maximum(self.launched[c], 1))
            )
            for c in ("cruise", "ballistic", "hypersonic")
        }
        buckets = calibration.builder.buckets
        self._drone_route = self._routes(buckets.get("drone"), emulator.drone_groups)
        self._missile_route = {
            c: self._routes(buckets.get(c), emulator.missile_groups)
            for c in ("cruise", "ballistic", "hypersonic")
        }

    @staticmethod
    def _routes(bucket: Bucket | None, groups: list[str]) -> list[tuple[int, str, float]]:
        if bucket is None:
            return []
        out = []
        for route in ("deep", "near"):
            weights = getattr(bucket, route)
            total = sum(weights.values())
            out += [(groups.index(g), route, w / total) for g, w in weights.items()]
        return out

    # ---- helpers
    def _series(self, values: Mapping[str, float], key: str) -> np.ndarray:
        return self.weights @ np.array([values[f"{key}@{q}"] for q in self.quarters])

    def _deep_draws(self, values: Mapping[str, float], cls: str, dim: int) -> np.ndarray:
        mean = special.expit(
            values[f"deep.{cls}.logit"] + values[f"deep.{cls}.slope"] * self.log_size
        )
        return beta_draws(self.table, mean, values[f"deep.{cls}.rsd"], self.idx[:, :, dim])

    def _prior(self, values: Mapping[str, float], keys: Iterable[str]) -> float:
        penalty = 0.0
        for key in keys:
            series = np.array([values[f"{key}@{q}"] for q in self.quarters])
            penalty += 0.5 * float((np.diff(series) ** 2).sum()) / POSTURE_STEP_SD[key] ** 2
        return penalty

    # ---- drones
    def drone_moments(self, values: Mapping[str, float]) -> dict[str, np.ndarray]:
        """(nights, draws) mean and variance of intercepted and of suppressed drones."""
        em = self.emulator
        grid = em.grid
        low, high = self.calibration.builder.reach_limits
        reach_mean = np.clip(self._series(values, "reach_km"), low, high)
        rsd = values["reach_rsd"]
        if rsd > 0:
            sigma = math.sqrt(math.log1p(rsd * rsd))
            z = self._z[self.idx[:, :, _DIMS.index("reach")]]
            reach = np.exp(np.log(reach_mean)[:, None] - 0.5 * sigma * sigma + sigma * z)
            reach = np.clip(reach, low, high)
        else:
            reach = np.broadcast_to(reach_mean[:, None], self.idx.shape[:2])
        ew = np.clip(self._series(values, "ew"), 0.0, 0.95)
        nights = len(self.rows)
        s = {
            "drone": beta_draws(self.table, ew, values["ew_rsd"], self.idx[:, :, 1]),
            "decoy": beta_draws(self.table, ew, values["ew_rsd"], self.idx[:, :, 2]),
        }
        pk_mean = np.full(nights, values["mfg_pk"])
        k = {
            "drone": beta_draws(self.table, pk_mean, values["mfg_pk_rsd"], self.idx[:, :, 3]),
            "decoy": beta_draws(self.table, pk_mean, values["mfg_pk_rsd"], self.idx[:, :, 4]),
        }
        d = self._deep_draws(values, "drone", 0)
        n_reach, n_pk = len(grid.reach), len(grid.pk)
        r0, fr = _frac_index(np.array(grid.reach), reach)
        n = self.launched["drone"][:, None]
        mean_p = np.zeros_like(d)
        second = np.zeros_like(d)
        binvar = np.zeros_like(d)
        mean_s = np.zeros_like(d)
        binvar_s = np.zeros_like(d)
        base = np.arange(nights)[:, None] * (n_reach * n_pk) + r0 * n_pk
        at_k = {}
        for typ in ("drone", "decoy"):
            members = [g for g, _, _ in self._drone_route if em.drone_types[g] == typ]
            if not members:
                continue
            k0, fk = _frac_index(np.array(grid.pk), k[typ])
            sub = self._drone_at_n[members]  # (members, 4, nights * R * K)
            flat = base + k0
            corners = (
                ((1 - fr) * (1 - fk), flat), ((1 - fr) * fk, flat + 1),
                (fr * (1 - fk), flat + n_pk), (fr * fk, flat + n_pk + 1),
            )  # fmt: skip
            values_k = sum(w * np.take(sub, idx, axis=2) for w, idx in corners)
            at_k.update({g: values_k[j] for j, g in enumerate(members)})
        for g, route, w in self._drone_route:
            typ = em.drone_types[g]
            q, big_f, a, e = at_k[g]
            sg = s[typ]
            p = sg * big_f + (1 - sg) * q
            supp = sg * a + (1 - sg) * e
            share = w * (d if route == "deep" else 1 - d)
            mean_p += share * p
            second += share * p * p
            binvar += share * p * (1 - p)
            mean_s += share * supp
            binvar_s += share * supp * (1 - supp)
        mu = n * mean_p
        var = n * (em.inflation * binvar + second - mean_p**2) + 1.0 / 12.0
        return {"mu": mu, "var": var, "mu_lost": n * mean_s, "var_lost": n * binvar_s + 1.0 / 12.0}

    def drone_nll(self, values: Mapping[str, float]) -> float:
        """The drone block: intercepted and (before August 2025) lost drones, priors, anchor.

        `criterion` "likelihood": the negative log-likelihood; "wis": the weighted interval
        score of the predictive 5 %, 50 % and 95 % quantiles (the validation's numbers).
        """
        m = self.drone_moments(values)
        y = self.observed["drone"][:, None]
        has = self.launched["drone"] > 0
        lost = self.lost_mask & has
        n = self.launched["drone"]
        lost_all = np.clip(self._series(values, "lost_all"), 0.0, 0.9)
        if self.criterion == "wis":
            quantiles = mixture_quantiles(
                m["mu"][has], m["var"][has], top=n[has], top_mass=lost_all[has]
            )
            loss = wis(y[has, 0], quantiles).sum()
            if lost.any():
                quantiles = mixture_quantiles(m["mu_lost"][lost], m["var_lost"][lost])
                loss += wis(self.lost[lost], quantiles).sum()
        else:
            density = np.exp(_logmeanexp(_norm_logpdf(y, m["mu"], m["var"])))
            mass = (1.0 - lost_all) * density + lost_all * (y[:, 0] == n)
            loss = -np.log(np.maximum(mass, 1e-300))[has].sum()
            if lost.any():
                yl = self.lost[:, None]
                loss -= _logmeanexp(_norm_logpdf(yl, m["mu_lost"], m["var_lost"]))[lost].sum()
        penalty = self._prior(values, ("ew", "reach_km", "lost_all"))
        if self.anchor.any():
            mean = m["mu"][self.anchor].mean(axis=1)
            sd = REFERENCE_ANCHOR_SD["drone"]
            penalty += 0.5 * float(((mean - y[self.anchor, 0]) ** 2).sum()) / sd**2
        return float(loss + penalty)

    # ---- missiles
    def missile_probability(self, values: Mapping[str, float], cls: str) -> np.ndarray:
        """(nights, draws) probability that a missile of the class is intercepted."""
        em = self.emulator
        bmd = self._series(values, "bmd")
        b0, fb = _frac_index(np.array(em.grid.bmd), bmd)
        n0, fn = self._n_missile[cls]
        routes = self._missile_route[cls]
        if (
            cls in DEEP_CLASSES
            and f"deep.{cls}.logit" in values
            and any(r == "near" for _, r, _ in routes)
        ):
            d = self._deep_draws(values, cls, _DIMS.index(f"deep.{cls}"))
        else:
            d = np.ones((len(self.rows), self.idx.shape[1]))
        p = np.zeros_like(d)
        for g, route, w in routes:
            tab = em.missile_tables[g]
            q = (
                (1 - fb) * (1 - fn) * tab[b0, n0] + fb * (1 - fn) * tab[b0 + 1, n0]
                + (1 - fb) * fn * tab[b0, n0 + 1] + fb * fn * tab[b0 + 1, n0 + 1]
            )  # fmt: skip
            p += w * (d if route == "deep" else 1 - d) * q[:, None]
        return p

    def missile_nll(self, values: Mapping[str, float], cls: str) -> float:
        """A missile class's binomial mixture likelihood."""
        has = self.launched[cls] > 0
        if not has.any() or not self._missile_route[cls]:
            return 0.0
        p = self.missile_probability(values, cls)
        y = self.observed[cls][:, None]
        n = self.launched[cls][:, None]
        return float(-_logmeanexp(_binom_logpmf(y, n, p))[has].sum())

    def block_nll(self, block: str, values: Mapping[str, float]) -> float:
        """Negative log-likelihood (with priors) of one block."""
        self.evaluations += 1
        if block == "drone":
            return self.drone_nll(values)
        if block == "cruise":
            value = self.missile_nll(values, "cruise")
            if self.anchor.any() and self._missile_route["cruise"]:
                p = self.missile_probability(values, "cruise")[self.anchor].mean(axis=1)
                mean = self.launched["cruise"][self.anchor] * p
                observed = self.observed["cruise"][self.anchor]
                sd = REFERENCE_ANCHOR_SD["cruise"]
                value += 0.5 * float(((mean - observed) ** 2).sum()) / sd**2
            return value
        return (
            self.missile_nll(values, "ballistic") + self.missile_nll(values, "hypersonic")
            + self._prior(values, ("bmd",))
        )  # fmt: skip

    def __call__(self, values: Mapping[str, float]) -> float:
        return sum(self.block_nll(b, values) for b in BLOCKS)

    def expected(self, values: Mapping[str, float]) -> dict[str, np.ndarray]:
        """Emulated mean intercepted count per night and reported class."""
        lost_all = np.clip(self._series(values, "lost_all"), 0.0, 0.9)
        model = self.drone_moments(values)["mu"].mean(axis=1)
        out = {"drone": (1 - lost_all) * model + lost_all * self.launched["drone"]}
        for cls in ("cruise", "ballistic", "hypersonic"):
            if self._missile_route[cls]:
                out[cls] = self.launched[cls] * self.missile_probability(values, cls).mean(axis=1)
            else:
                out[cls] = np.zeros(len(self.rows))
        return out


# --------------------------------------------------------------------------- the fit


class ParamsError(ValueError):
    """A --params specification that names no parameter or gives bad bounds."""


def parse_params(spec: str | None, names: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Free parameters and their bounds from `--params`.

    None: every parameter with `default_bounds`, except `lost_all@Q` (set from the data by
    `fit_calibration` unless named here). Otherwise a YAML file mapping names to
    `[low, high]` (or null for the default bounds), or a comma-separated list of `name=low:high`
    or `name` items. Names may use shell wildcards (`ew@*`, `deep.*.slope`).
    """
    import fnmatch

    if spec is None:
        return {name: default_bounds(name) for name in names if not name.startswith("lost_all@")}
    items: list[tuple[str, Any, str]] = []
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        loaded = load_yaml(path)
        for key, value in loaded.data.items():
            items.append((str(key), value, f"{path}:{loaded.line_of((key,)) or 1}: {key}"))
    else:
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, bounds = part.partition("=")
            value = None
            if bounds:
                low, sep, high = bounds.partition(":")
                try:
                    value = [float(low), float(high)] if sep else "bad"
                except ValueError:
                    value = "bad"
            items.append((key.strip(), value, f"--params: {key.strip()}"))
    free: dict[str, tuple[float, float]] = {}
    for key, value, where in items:
        matched = fnmatch.filter(names, key)
        if not matched:
            from sim.yamlio import suggest

            hint = suggest(key, names)
            raise ParamsError(
                f"{where}: no such parameter"
                + (f"; did you mean '{hint}'?" if hint else f" (known: {', '.join(names)})")
            )
        if value is not None and not (
            isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            and value[0] < value[1]
        ):  # fmt: skip
            raise ParamsError(f"{where}: bounds must be low:high (or [low, high]) with low < high")
        for name in matched:
            free[name] = tuple(value) if value is not None else default_bounds(name)  # type: ignore[assignment]
    return free


@dataclass
class FitResult:
    """A fitted calibration and how the fit went."""

    calibration: Calibration
    objective: float
    evaluations: int
    seconds: float
    by_class: dict[str, dict[str, float]]
    standard_errors: dict[str, float | None]


def sha256_of(path: str | Path) -> str:
    """SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hessian(f: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    n = len(x)
    h = np.zeros((n, n))
    f0 = f(x)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = steps[i]
        h[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / steps[i] ** 2
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = steps[j]
            h[i, j] = h[j, i] = (
                f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
            ) / (4 * steps[i] * steps[j])
    return h


def _minimise(
    f: Callable[[np.ndarray], float],
    x0: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    max_evaluations: int,
) -> np.ndarray:
    """Bounded Powell search in coordinates scaled to [0, 1], restarted once from its optimum
    (derivative-free: the objective has kinks where an observation meets a quantile)."""
    span = np.where(high > low, high - low, 1.0)

    def g(u: np.ndarray) -> float:
        return f(low + np.clip(u, 0.0, 1.0) * span)

    u = np.clip((x0 - low) / span, 0.0, 1.0)
    for _ in range(2):
        start = g(u)
        result = optimize.minimize(
            g, u, method="Powell", bounds=[(0.0, 1.0)] * len(u),
            options={"xtol": 1e-3, "ftol": 1e-6, "maxfev": max_evaluations},
        )  # fmt: skip
        improved = result.fun < start - 1e-3
        u = np.clip(result.x, 0.0, 1.0)
        if not improved:
            break
    return low + u * span


def _fit_block(
    objective: Objective,
    block: str,
    names: list[str],
    free: Mapping[str, tuple[float, float]],
    values: dict[str, float],
    max_evaluations: int,
    errors: bool,
    progress: bool,
) -> tuple[float, dict[str, float | None]]:
    """Minimise one block over `names` (updating `values`); its value and standard errors."""
    low = np.array([free[n][0] for n in names])
    high = np.array([free[n][1] for n in names])
    x0 = np.clip(np.array([values[n] for n in names]), low, high)
    count, best = 0, math.inf

    def f(x: np.ndarray) -> float:
        nonlocal count, best
        trial = dict(values)
        trial.update(zip(names, np.clip(x, low, high), strict=True))
        value = objective.block_nll(block, trial)
        count += 1
        best = min(best, value)
        if progress and count % 250 == 0:
            print(f"calibrate: {block}: {count} evaluations, objective {best:.2f}",
                  file=sys.stderr, flush=True)  # fmt: skip
        return value

    x = _minimise(f, x0, low, high, max_evaluations)
    values.update(zip(names, x.tolist(), strict=True))
    value = f(x)
    if progress:
        print(f"calibrate: {block}: objective {value:.2f}", file=sys.stderr, flush=True)
    ses: dict[str, float | None] = dict.fromkeys(names)
    if not errors:
        return value, ses
    steps = np.maximum(1e-3, 0.01 * (high - low))
    sub = [k for k in range(len(names)) if low[k] < x[k] - steps[k] and x[k] + steps[k] < high[k]]
    if sub:

        def g(z: np.ndarray) -> float:
            full = x.copy()
            full[sub] = z
            return f(full)

        try:
            diag = np.diag(np.linalg.inv(_hessian(g, x[sub], steps[sub])))
        except np.linalg.LinAlgError:
            diag = np.full(len(sub), np.nan)
        for k, d in zip(sub, diag, strict=True):
            ses[names[k]] = float(math.sqrt(d)) if d > 0 else None
    return value, ses


def reported_all_share(rows: Sequence[NightRow], quarters: Sequence[str]) -> dict[str, float]:
    """Per quarter of the table, the share of its nights (with drones) whose report has every
    drone intercepted; nights are assigned to the nearest quarter of the table."""
    mids = np.array([quarter_midpoint(q).value for q in quarters], dtype=float)
    hits = dict.fromkeys(quarters, 0)
    totals = dict.fromkeys(quarters, 0)
    for row in rows:
        n = row.launched.get("drone", 0)
        if n <= 0 or not row.intercepted:
            continue
        quarter = quarters[int(np.argmin(np.abs(mids - row.date.value)))]
        totals[quarter] += 1
        hits[quarter] += int(row.intercepted["drone"] >= n)
    return {q: round(hits[q] / totals[q], 4) if totals[q] else 0.0 for q in quarters}


def fit_calibration(
    start: Calibration,
    rows: Sequence[NightRow],
    free: Mapping[str, tuple[float, float]],
    emulator: Emulator,
    *,
    seed: int = 1,
    draws: int = 32,
    max_evaluations: int = 4000,
    errors: bool = True,
    progress: bool = False,
    data: str | Path | None = None,
    criterion: str = "wis",
) -> FitResult:
    """Fit the free parameters to the nights (blocks drone, cruise, ballistic in turn).

    Standard errors (inverse Hessian of the objective) are computed when `errors` is true and
    the criterion is the likelihood; the weighted interval score gives none.
    """
    started = time.perf_counter()
    observed_all = reported_all_share(rows, sorted(start.posture))
    start = with_parameters(
        start, {f"lost_all@{q}": v for q, v in observed_all.items() if f"lost_all@{q}" not in free}
    )
    objective = Objective(start, rows, emulator, draws=draws, seed=seed, criterion=criterion)
    values = dict(objective.values)
    standard_errors: dict[str, float | None] = {}
    total = 0.0
    for block in BLOCKS:
        names = [n for n in objective.names if n in free and block_of(n) == block]
        if not names:
            total += objective.block_nll(block, values)
            continue
        want_errors = errors and (criterion == "likelihood" or block != "drone")
        block_value, ses = _fit_block(
            objective, block, names, free, values, max_evaluations, want_errors, progress
        )
        total += block_value
        standard_errors.update(ses)
    calibration = with_parameters(start, values)
    expected = objective.expected(values)
    by_class = {}
    for cls in OBSERVED_CLASSES:
        observed = objective.observed[cls]
        by_class[cls] = {
            "launched": float(objective.launched[cls].sum()),
            "observed": float(observed.sum()),
            "emulated": float(expected[cls].sum()),
            "mae": float(np.abs(expected[cls] - observed).mean()),
        }
    seconds = time.perf_counter() - started
    fit = Fit(
        data=str(data) if data else "",
        sha256=sha256_of(data) if data and Path(data).is_file() else "",
        nights=len(rows),
        dates=[r.date.date().isoformat() for r in rows],
        objective=round(total, 3),
        method=(
            f"Powell (scipy.optimize, bounded) per block on the emulator: drones by "
            f"{'weighted interval score' if criterion == 'wis' else 'likelihood'}, missiles by "
            f"likelihood; "
            f"{draws} Latin-hypercube night-level draws per night (common random numbers); "
            f"emulator: {emulator.runs} model runs on a {len(emulator.grid.reach)}x"
            f"{len(emulator.grid.pk)}x{len(emulator.grid.drones)} drone grid and a "
            f"{len(emulator.grid.bmd)}x{len(emulator.grid.missiles)} missile grid, inflation "
            f"{emulator.inflation:.2f}"
        ),
        evaluations=objective.evaluations,
        seconds=round(seconds + emulator.seconds, 1),
        seed=seed,
        free={k: (float(v[0]), float(v[1])) for k, v in free.items()},
        standard_errors={
            k: (None if v is None else round(v, 5)) for k, v in standard_errors.items()
        },
        fit_by_class={k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in by_class.items()},
    )
    calibration = calibration.model_copy(update={"fit": fit})
    return FitResult(
        calibration=calibration,
        objective=total,
        evaluations=objective.evaluations,
        seconds=seconds,
        by_class=by_class,
        standard_errors=standard_errors,
    )


MIN_QUARTER_NIGHTS = 10


def prepare_start(start: Calibration, rows: Sequence[NightRow]) -> Calibration:
    """The start with its posture table over the quarters of the nights: from the first to the
    last quarter with at least `MIN_QUARTER_NIGHTS` nights (nights outside take the nearest
    quarter's posture)."""
    quarters = pd.Series([str(r.date.to_period("Q")) for r in rows]).value_counts()
    busy = sorted(q for q, n in quarters.items() if n >= MIN_QUARTER_NIGHTS) or sorted(
        quarters.index
    )
    first, last = pd.Period(busy[0]).start_time, pd.Period(busy[-1]).start_time
    return reshape_posture(start, quarters_between(first, last))


# --------------------------------------------------------------------------- validation


def score_predictions(
    nights: pd.DataFrame, predictions: pd.DataFrame, baseline: QuarterlyRateBaseline
) -> dict[str, Any]:
    """Coverage of the 90 % interval, its mean width and the MAE of the median, per class and
    for the baseline; the headline numbers are those of the total."""
    base = baseline.predict(nights)
    out: dict[str, Any] = {"nights": len(nights)}
    by_class, base_by_class = {}, {}
    for cls in SCORED:
        observed = nights[f"intercepted.{cls}"].to_numpy()
        by_class[cls] = interval_scores(
            observed,
            predictions[f"median.{cls}"].to_numpy(),
            predictions[f"p05.{cls}"].to_numpy(),
            predictions[f"p95.{cls}"].to_numpy(),
        )
        base_by_class[cls] = interval_scores(
            observed,
            base[f"median.{cls}"].to_numpy(),
            base[f"p05.{cls}"].to_numpy(),
            base[f"p95.{cls}"].to_numpy(),
        )
    out.update(by_class["total"])
    out["by_class"] = by_class
    out["baseline"] = {**base_by_class["total"], "by_class": base_by_class}
    return out


def validation_table(
    nights: pd.DataFrame, predictions: pd.DataFrame, baseline: pd.DataFrame
) -> pd.DataFrame:
    """One row per night: observed, model median and interval, baseline, per class."""
    table = pd.DataFrame(
        {
            "date": nights["date"].dt.date.astype(str),
            "line": nights["line"],
            "quarter": nights["quarter"],
        }
    )
    if "fold" in predictions:
        table["fold"] = predictions["fold"].to_numpy()
    for cls in SCORED:
        table[f"launched.{cls}"] = nights[f"launched.{cls}"].to_numpy()
        table[f"observed.{cls}"] = nights[f"intercepted.{cls}"].to_numpy()
        for key in ("median", "p05", "p95"):
            table[f"{key}.{cls}"] = predictions[f"{key}.{cls}"].to_numpy()
        observed = table[f"observed.{cls}"]
        table[f"inside.{cls}"] = (observed >= table[f"p05.{cls}"]) & (
            observed <= table[f"p95.{cls}"]
        )
        for key in ("median", "p05", "p95"):
            table[f"baseline_{key}.{cls}"] = baseline[f"{key}.{cls}"].to_numpy().round(2)
    return table


def folds_of(n: int, k: int, seed: int) -> np.ndarray:
    """Fold of each of n nights: a seeded random split into k near-equal folds."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(99,)))
    folds = np.empty(n, dtype=int)
    folds[rng.permutation(n)] = np.arange(n) % k
    return folds


@dataclass
class ValidationResult:
    """What `validate` reports."""

    scores: dict[str, Any]
    table: pd.DataFrame
    fits: list[dict[str, Any]]


def validate_nights(
    calibration: Calibration,
    nights: pd.DataFrame,
    *,
    fit_data: pd.DataFrame | None = None,
    replications: int = 100,
    seed: int = 1,
    workers: int = 1,
    cv: int | None = None,
    free: Mapping[str, tuple[float, float]] | None = None,
    emulator_grid: EmulatorGrid | None = None,
    progress: bool = False,
) -> ValidationResult:
    """Simulate every night and score the predictions against the observed counts.

    Without `cv`: with `calibration` as it is; the baseline is fitted on `fit_data` (default:
    the nights themselves). With `cv=K`: the nights are split into K folds; for each, the free
    parameters (default all) are refitted on the other folds from `calibration`'s values and
    the fold is predicted; the baseline is fitted on the same other folds.
    """
    rows = night_rows(nights)
    fits: list[dict[str, Any]] = []
    if not cv:
        baseline = QuarterlyRateBaseline.fit(fit_data if fit_data is not None else nights)
        predictions = predict_nights(
            calibration, rows, replications=replications, seed=seed, workers=workers,
            progress=progress,
        )  # fmt: skip
        base = baseline.predict(nights)
        scores = score_predictions(nights, predictions, baseline)
        table = validation_table(nights, predictions, base)
        return ValidationResult(scores=scores, table=table, fits=fits)
    folds = folds_of(len(rows), cv, seed)
    emulator = build_emulator(
        calibration, grid=emulator_grid, seed=seed, workers=workers, progress=progress
    )
    tasks = []
    for k in range(cv):
        train = [r for r, f in zip(rows, folds, strict=True) if f != k]
        start = prepare_start(calibration, train)
        names = list(flat_parameters(start))
        fold_free = (
            {n: default_bounds(n) for n in names}
            if free is None
            else {n: b for n, b in free.items() if n in names}
        )
        tasks.append(_FoldTask(k, start, train, fold_free, emulator, seed))
    if progress:
        print(f"validate: fitting {cv} folds ({workers} at a time)", file=sys.stderr, flush=True)
    ticker = _Ticker(cv, "validate: folds fitted", progress)
    results = _map(_fit_fold, tasks, min(workers, cv), ticker)
    calibrations = [r.calibration for r in results]
    for task, result in zip(tasks, results, strict=True):
        fits.append({"fold": task.fold, "nights": len(task.rows), "objective": result.objective,
                     "seconds": round(result.seconds, 1),
                     "parameters": flat_parameters(result.calibration)})  # fmt: skip
    # every night is simulated with the calibration of the folds it was not fitted on
    predictions = _predict_with(calibrations, folds, rows, replications, seed, workers, progress)
    predictions["fold"] = folds
    base_parts = []
    for k in range(cv):
        mask = folds == k
        base_parts.append(QuarterlyRateBaseline.fit(nights[~mask]).predict(nights[mask]))
    base = pd.concat(base_parts).loc[nights.index]
    scores = _score_frames(nights, predictions, base)
    scores["cv"] = cv
    table = validation_table(nights, predictions, base)
    return ValidationResult(scores=scores, table=table, fits=fits)


@dataclass(frozen=True)
class _FoldTask:
    fold: int
    start: Calibration
    rows: list[NightRow]
    free: dict[str, tuple[float, float]]
    emulator: Emulator
    seed: int


def _fit_fold(task: _FoldTask) -> FitResult:
    return fit_calibration(task.start, task.rows, task.free, task.emulator, seed=task.seed,
                           errors=False)  # fmt: skip


def _predict_with(
    calibrations: Sequence[Calibration],
    folds: np.ndarray,
    rows: Sequence[NightRow],
    replications: int,
    seed: int,
    workers: int,
    progress: bool,
) -> pd.DataFrame:
    tasks = [
        _NightTask(calibrations[f].template, calibrations[f], row, replications, seed, k)
        for k, (row, f) in enumerate(zip(rows, folds, strict=True))
    ]
    ticker = _Ticker(len(tasks), "validate: nights simulated", progress)
    results = _map(_run_night_task, tasks, workers, ticker)
    records = []
    for row, (_, sims) in zip(rows, results, strict=True):
        record: dict[str, Any] = {"date": row.date.date().isoformat()}
        for j, cls in enumerate(RESULT_COLUMNS):
            values = sims[:, j]
            record[f"median.{cls}"] = float(np.median(values))
            record[f"p05.{cls}"] = float(np.quantile(values, 0.05))
            record[f"p95.{cls}"] = float(np.quantile(values, 0.95))
            record[f"mean.{cls}"] = float(values.mean())
        records.append(record)
    return pd.DataFrame.from_records(records)


def _score_frames(
    nights: pd.DataFrame, predictions: pd.DataFrame, base: pd.DataFrame
) -> dict[str, Any]:
    out: dict[str, Any] = {"nights": len(nights)}
    by_class, base_by_class = {}, {}
    for cls in SCORED:
        observed = nights[f"intercepted.{cls}"].to_numpy()
        by_class[cls] = interval_scores(
            observed,
            predictions[f"median.{cls}"],
            predictions[f"p05.{cls}"],
            predictions[f"p95.{cls}"],
        )
        base_by_class[cls] = interval_scores(
            observed, base[f"median.{cls}"], base[f"p05.{cls}"], base[f"p95.{cls}"]
        )
    out.update(by_class["total"])
    out["by_class"] = by_class
    out["baseline"] = {**base_by_class["total"], "by_class": base_by_class}
    return out


# --------------------------------------------------------------------------- commands


def _format_scores(scores: Mapping[str, Any]) -> str:
    lines = [
        f"{'class':<11} {'coverage90':>10} {'width90':>9} {'MAE':>8}   |  baseline: "
        f"{'coverage90':>10} {'width90':>9} {'MAE':>8}"
    ]
    for cls in SCORED:
        m, b = scores["by_class"][cls], scores["baseline"]["by_class"][cls]
        lines.append(
            f"{cls:<11} {m['coverage90']:>10.3f} {m['mean_width90']:>9.2f} {m['mae_median']:>8.2f}"
            f"   |            {b['coverage90']:>10.3f} {b['mean_width90']:>9.2f} "
            f"{b['mae_median']:>8.2f}"
        )
    return "\n".join(lines)


def _format_fit(by_class: Mapping[str, Mapping[str, float]]) -> str:
    lines = [f"{'class':<11} {'launched':>9} {'observed':>9} {'emulated':>9} {'MAE/night':>10}"]
    for cls, v in by_class.items():
        lines.append(
            f"{cls:<11} {v['launched']:>9.0f} {v['observed']:>9.0f} {v['emulated']:>9.1f} "
            f"{v['mae']:>10.2f}"
        )
    return "\n".join(lines)


def command_calibrate(args: Any) -> int:
    """`salvo calibrate NIGHTS.csv`: fit, write the calibration file, print the fit by class."""
    nights = load_nights(args.nights)
    rows = night_rows(nights)
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"salvo: {out} exists; use --force to overwrite it", file=sys.stderr)
        return 2
    template = Path(args.template) if args.template else None
    if args.start:
        start = load_calibration(args.start)
        if template is not None:
            check_builder(start.builder, load_template(template), str(args.start), None)
            start = start.model_copy(update={"template": str(template.resolve())})
    else:
        start = default_calibration(template or DEFAULT_TEMPLATE)
    start = prepare_start(start, rows)
    try:
        free = parse_params(args.params, list(flat_parameters(start)))
    except ParamsError as err:
        print(f"salvo: {err}", file=sys.stderr)
        return 2
    progress = not args.quiet
    started = time.perf_counter()
    grid = EmulatorGrid(replications=args.emulator_replications)
    workers = args.workers or default_workers()
    emulator = build_emulator(start, grid=grid, seed=args.seed, workers=workers, progress=progress)
    result = fit_calibration(
        start, rows, free, emulator, seed=args.seed, progress=progress, data=args.nights,
        errors=not args.no_errors,
    )  # fmt: skip
    calibration = result.calibration.model_copy(
        update={
            "description": f"Calibrated by `salvo calibrate {Path(args.nights).name}` on "
            f"{len(rows)} nights ({rows[0].date.date()} to {rows[-1].date.date()}).",
        }
    )
    header = (
        "# salvo calibration (format salvo-calibration/1; docs/calibration.md explains it).\n"
        "# Written by `salvo calibrate`; `salvo validate` simulates every night with it.\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    save_calibration(calibration, out, header)
    wall = time.perf_counter() - started
    print(f"fit on {len(rows)} nights: objective {result.objective:.2f} after "
          f"{result.evaluations} evaluations ({emulator.runs} emulator runs)")  # fmt: skip
    print(_format_fit(result.by_class))
    print(f"\nwrote {out} in {wall:.0f} s; check it with: salvo validate {args.nights} "
          f"--scenario {out}")  # fmt: skip
    return 0


def command_validate(args: Any) -> int:
    """`salvo validate NIGHTS.csv`: predictive intervals per night, scores, model vs baseline."""
    import json

    nights = load_nights(args.nights)
    fit_data = load_nights(args.fit_data) if args.fit_data else None
    calibration = load_calibration(args.scenario)
    out = Path(args.out) if args.out else Path("results") / f"validate-{Path(args.nights).stem}"
    if out.exists() and not args.force:
        print(f"salvo: {out} exists; use --force to overwrite it", file=sys.stderr)
        return 2
    free = None
    if args.cv:
        if args.cv < 2 or args.cv > len(nights):
            print(f"salvo: --cv must be between 2 and the number of nights ({len(nights)})",
                  file=sys.stderr)  # fmt: skip
            return 2
        # folds are refitted from the default starting values (not from a fit that saw them)
        start = default_calibration(calibration.template).model_copy(
            update={"builder": calibration.builder}
        )
        try:
            free = parse_params(
                args.params, list(flat_parameters(prepare_start(start, night_rows(nights))))
            )
        except ParamsError as err:
            print(f"salvo: {err}", file=sys.stderr)
            return 2
        calibration = start
    started = time.perf_counter()
    result = validate_nights(
        calibration, nights, fit_data=fit_data, replications=args.replications, seed=args.seed,
        workers=args.workers or default_workers(), cv=args.cv, free=free,
        progress=not (args.quiet or args.json),
    )  # fmt: skip
    wall = time.perf_counter() - started
    scores = {
        **result.scores,
        "replications": args.replications,
        "seed": args.seed,
        "scenario": str(args.scenario),
        "data": str(args.nights),
        "data_sha256": sha256_of(args.nights),
        "fit_data": str(args.fit_data or args.nights) if not args.cv else "training folds",
        "cv": args.cv,
        "folds": result.fits,
        "seconds": round(wall, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "validation.csv", index=False)
    (out / "validation.json").write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({k: v for k, v in scores.items() if k != "folds"}, indent=2))
        return 0
    what = f"{args.cv}-fold cross-validation" if args.cv else "in-sample"
    print(f"{Path(args.scenario)} on {len(nights)} nights ({what}, {args.replications} "
          f"replications per night, seed {args.seed})")  # fmt: skip
    print(_format_scores(scores))
    print(f"\nwrote {out}/ (validation.csv, validation.json) in {wall:.0f} s")
    return 0
