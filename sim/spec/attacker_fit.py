"""The attacker fit file: the launch process fitted to observed nights, as plain records.

`salvo calibrate-attacker` (`sim.analysis.attacker.fit_attacker`) writes it; a campaign whose
attacker policy is `kind: fitted` reads it (`load_attacker_fit`) and
`sim.campaign.launches` draws the nights from it. The records are the fit's own terms (see
the module docstring of `sim.analysis.attacker` for the model); this module only holds and
checks them, and answers what holds in a month (launch nights per day, size distribution,
composition, the replay of a month of the record).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sim.spec.observed import days_in_month
from sim.spec.yamlio import load_yaml, require_kind, validate

__all__ = [
    "FORMAT",
    "AttackerFit",
    "CadenceFit",
    "CompositionFit",
    "MonthFit",
    "MonthSize",
    "QuarterComposition",
    "SizeFit",
    "component_location",
    "component_record",
    "load_attacker_fit",
    "month_of",
    "quarter_of",
]

FORMAT = "salvo-attacker-fit/1"
FAMILIES: tuple[str, ...] = ("lognormal", "gamma")


def month_of(date: dt.date) -> str:
    """`YYYY-MM` of a date (or pandas Timestamp)."""
    return f"{date.year:04d}-{date.month:02d}"


def quarter_of(month: str) -> str:
    """`YYYYQn` of a month given as `YYYY-MM`."""
    year, mon = (int(x) for x in month.split("-"))
    return f"{year}Q{(mon - 1) // 3 + 1}"


def component_record(family: str, loc: float, ls: float) -> dict[str, float]:
    """A size component's parameters as the record writes them: lognormal mu and sigma, or
    gamma shape and scale, from the fit's location (log median or log mean) and log spread."""
    if family == "lognormal":
        return {"mu": loc, "sigma": math.exp(ls)}
    return {"shape": math.exp(ls), "scale": math.exp(loc - ls)}


def component_location(family: str, component: dict[str, float]) -> tuple[float, float]:
    """(location, log spread) of a size component written by `component_record`."""
    if family == "lognormal":
        return component["mu"], math.log(component["sigma"])
    return math.log(component["shape"] * component["scale"]), math.log(component["shape"])


class FitRecord(BaseModel):
    """Base of the fit's records: immutable, unknown keys are errors (a fit file is written
    by salvo; a key it does not know is a typo or another version's file)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class QuarterComposition(FitRecord):
    """A component's composition fitted on one quarter's nights."""

    nights: float  # posterior-weighted
    shares: dict[str, float]
    concentration: float


class CompositionFit(FitRecord):
    """What one component's nights are made of: expected shares by class and how much a
    night's shares scatter around them (Dirichlet-multinomial: a night's shares are
    Dirichlet(concentration x shares), then its counts multinomial given its size).

    `by_quarter` holds the same fit per quarter (quarters with at least
    `sim.analysis.attacker.MIN_QUARTER_NIGHTS` weighted nights); when the likelihood-ratio
    test of "shares by quarter" against one set rejects at 5 % (`drifts`), sampling uses the
    quarter's fit (the nearest fitted quarter outside them), else the pooled one.
    """

    component: str
    nights: float  # posterior-weighted number of sampled nights of the component
    shares: dict[str, float]
    shares_se: dict[str, float | None]
    concentration: float
    loglik: float
    by_quarter: dict[str, QuarterComposition]
    drift_lrt_p: float | None
    drifts: bool

    def at(self, month: str) -> tuple[dict[str, float], float]:
        """(shares, concentration) that hold in a month."""
        if not self.drifts or not self.by_quarter:
            return self.shares, self.concentration
        quarter = quarter_of(month)
        fitted = sorted(self.by_quarter)
        if quarter not in self.by_quarter:
            earlier = [q for q in fitted if q <= quarter]
            quarter = earlier[-1] if earlier else fitted[0]
        chosen = self.by_quarter[quarter]
        return chosen.shares, chosen.concentration


class CadenceFit(FitRecord):
    """How mass nights follow one another, in the sample and deconvolved to the full record.

    `p_more_regular` is the share of permutations (mass labels shuffled among the sampled
    nights of each share period) whose gap CV is at most the observed one: small means more
    regular than independent nights. `full_*` undo independent thinning with probability
    `sampling_fraction` (renewal process: E[gap] x f, CV^2 = (CV_obs^2 - (1 - f)) / f).
    """

    mass_nights: int
    first: str | None
    last: str | None
    gaps: int
    mean_gap_days: float | None
    sd_gap_days: float | None
    cv: float | None
    min_gap_days: int | None
    median_gap_days: float | None
    sampling_fraction: float | None
    full_mean_gap_days: float | None
    full_cv: float | None
    null_cv_mean: float | None
    null_cv_q05: float | None
    p_more_regular: float | None
    permutations: int
    permuted_within: str
    verdict: str


class MonthSize(FitRecord):
    """The size distribution in one month: mass share and the two components (family
    parameters, and the mean and sd of each left-truncated at `SizeFit.truncated_at`)."""

    month: str  # YYYY-MM, or "forecast" (beyond the window)
    mass_share: float
    mass_share_se: float | None
    ordinary: dict[str, float]
    mass: dict[str, float]
    mean: float  # of the mixture: expected threats per launch night
    sd: float
    mass_above: int | None  # smallest size called mass (posterior of the mass component > 1/2)
    effect: float = 0.0  # the month effect (posterior mean; on log size or logit share)


class SizeFit(FitRecord):
    """The selected size model, what it was selected from, and how well it fits."""

    family: str
    drift: dict[str, str]  # part -> unit (quarter, month); parts not named are constant
    criterion: str
    month_effect: dict[str, Any]  # on (size, share or None), sd, and the likelihood-ratio tests
    threshold: int
    truncated_at: float
    uses_full_threats: bool
    loglik: float
    n_params: int
    n_obs: int
    aic: float
    bic: float
    ks: float
    ks_p: float
    parameters: dict[str, float]
    standard_errors: dict[str, float | None]
    months: tuple[MonthSize, ...]
    forecast: MonthSize
    candidates: tuple[dict[str, Any], ...]
    families: dict[str, dict[str, float | None]]


class MonthFit(FitRecord):
    """One month of the window: launch nights per day and threats, observed and fitted."""

    month: str
    days: int
    complete: bool  # the whole month lies in the fitted window
    nights_in_sample: int
    threats_in_sample: int
    nights: float  # full count, or the sample's scaled by the sampling fraction
    nights_source: str  # "full" or "scaled"
    rate_per_day: float
    rate_se: float
    threats: int | None  # full count, when given
    expected_threats: float  # nights x the month's mean size
    error: float | None  # expected / full - 1
    sd_threats: float  # sd of the month's total under the fit, given its nights
    z: float | None  # (full - expected) / sd_threats
    # replay: the mass share (and, where a share in [0, 1] cannot, a scale of both components'
    # sizes) with which the month's expected total equals the full count exactly
    replay_mass_share: float | None
    replay_scale: float | None
    replay_mass_nights: float | None  # nights x replay_mass_share


class AttackerFit(FitRecord):
    """An attacker's launch process fitted to observed nights (see `sim.analysis.attacker`)."""

    format: Literal["salvo-attacker-fit/1"] = Field(default=FORMAT, description="File format tag.")
    data: str | None
    data_sha256: str | None
    counts: str | None
    counts_sha256: str | None
    start: str
    end: str
    threshold: int
    nights: int
    sampling_fraction: float | None
    method: str
    months: tuple[MonthFit, ...]
    size: SizeFit
    composition: dict[str, CompositionFit]
    cadence: CadenceFit
    forecast: dict[str, Any]
    monthly_check: dict[str, Any]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (dicts, lists, str, int, float, None): ready for yaml.safe_dump."""
        return _plain(self.model_dump())

    def month(self, month: str) -> MonthFit | None:
        """The fitted month `YYYY-MM`, or None outside the window."""
        return next((m for m in self.months if m.month == month), None)

    def rate_per_day(self, month: str) -> float:
        """Launch nights (>= threshold threats) per day in a month; the forecast outside."""
        fitted = self.month(month)
        return fitted.rate_per_day if fitted else float(self.forecast["rate_per_day"])

    def size_of(self, month: str) -> MonthSize:
        """The size distribution of a month: the fitted one in the window, the first month's
        before it and the forecast after it."""
        found = next((m for m in self.size.months if m.month == month), None)
        if found is not None:
            return found
        return self.size.months[0] if month < self.size.months[0].month else self.size.forecast

    def expected_threats(self, month: str, *, replay: bool = False) -> float:
        """Expected threats launched on nights >= threshold in a month (with `replay`, the
        full count where the month has one: the replay reproduces it)."""
        fitted = self.month(month)
        if replay and fitted is not None and fitted.replay_mass_share is not None:
            return float(fitted.threats or 0)
        return self.rate_per_day(month) * days_in_month(month) * self.size_of(month).mean

    def replay_of(self, month: str) -> tuple[float, float] | None:
        """(mass share, size scale) that replay a month of the record, or None."""
        fitted = self.month(month)
        if fitted is None or fitted.replay_mass_share is None:
            return None
        return fitted.replay_mass_share, float(fitted.replay_scale or 1.0)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # a numpy scalar
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def load_attacker_fit(path: str | Path) -> AttackerFit:
    """Read and check an attacker fit file (InputError naming file, line and field)."""
    loaded = load_yaml(path)
    require_kind(loaded, "attacker fit")
    return validate(AttackerFit, loaded)
