"""The calibration file (`salvo-calibration/1`): its schema, defaults, reading and writing."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.spec.scenario import Scenario, scenario_from_data
from sim.spec.yamlio import ErrorLine, InputError, PathError, load_yaml, require_kind, validate

FORMAT = "salvo-calibration/1"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = ROOT / "scenarios" / "calibration-template.yaml"
REFERENCE_TEMPLATE = ROOT / "scenarios" / "aug-2025-night.yaml"

# the model's classes that make up each reported class (decoys are reported as drones)
SIM_CLASSES: dict[str, tuple[str, ...]] = {
    "drone": ("drone", "decoy"),
    "cruise": ("cruise",),
    "ballistic": ("ballistic",),
    "hypersonic": ("hypersonic",),
}
QUARTERLY: tuple[str, ...] = ("ew", "reach_km", "bmd", "lost_all", "focus")
ROUTES: tuple[str, ...] = ("deep", "near", "focus")
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
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


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
    focus: dict[str, Annotated[float, Field(gt=0.0)]] = Field(
        default={},
        description="Template salvo groups of a concentrated raid on one region (one dense wave "
        "at its cities) -> relative share. On a concentrated night (probability `focus@Q`) the "
        "near share of the night flies these groups instead of the near ones (empty: never).",
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
    focus: Prob = Field(
        default=0.0,
        description="Share of nights that are a concentrated raid: the drones not flying deep go "
        "to one region in one dense wave (the builder's `focus` groups) and saturate its "
        "defences, instead of spreading over the front-line towns (the `near` groups).",
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
    since: str | None = Field(
        default=None, description="Only nights from this date on were fitted (`--since`)."
    )
    until: str | None = Field(
        default=None, description="Only nights before this date were fitted (`--until`)."
    )
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
            focus={"shahed_focus": 2.0, "gerbera_focus": 1.0},
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
DEFAULT_POSTURE = Posture(ew=0.3, reach_km=2.0, bmd=0.6, lost_all=0.05, focus=0.1)


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
    if name.startswith("focus@"):
        return (0.0, 0.8)
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

    Inferred: a salvo group whose id contains `_near` flies a near route, `_focus` a
    concentrated raid, the others deep; the groups of a class share its count by their template
    counts (equally where those are all 0).
    """
    salvo = data.get("salvo") or {}
    wanted = {g for b in DEFAULT_BUILDER.buckets.values() for r in ROUTES for g in getattr(b, r)}
    if wanted <= set(salvo):
        return DEFAULT_BUILDER.model_copy(deep=True)
    scenario = Scenario.model_validate(data)
    by_class: dict[str, dict[str, dict[str, float]]] = {}
    for gid, group in scenario.salvo.items():
        reported = next(
            r for r, sims in SIM_CLASSES.items() if scenario.threat_type(gid).class_ in sims
        )
        route = "near" if "_near" in gid else "focus" if "_focus" in gid else "deep"
        by_class.setdefault(reported, {r: {} for r in ROUTES})[route][gid] = float(group.count)
    buckets = {}
    for reported, routes in by_class.items():
        for route, weights in routes.items():
            if weights and sum(weights.values()) == 0:
                routes[route] = dict.fromkeys(weights, 1.0)
            else:
                routes[route] = {g: w for g, w in weights.items() if w > 0}
        if not routes["near"]:
            routes["focus"] = {}  # a concentrated raid replaces near routes: none without them
        if not routes["deep"]:
            routes["deep"], routes["near"], routes["focus"] = routes["near"], {}, {}
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
    require_kind(loaded, "calibration")
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
        if bucket.focus and (reported != "drone" or not bucket.near):
            errors.append(
                ErrorLine(
                    file, line, f"builder.buckets.{reported}.focus",
                    "only drones have focus groups, and only beside near groups",
                )
            )  # fmt: skip
        for route in ROUTES:
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
    for window in ("since", "until"):  # optional provenance: written only when set
        if data.get("fit") and data["fit"].get(window) is None:
            data["fit"].pop(window, None)
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
