"""Night-level uncertain parameters: a number given as a distribution, drawn once per night.

Real nights vary far more than one fixed kill probability allows: weather, crew readiness,
how well EW works that night. A scenario field that accepts a distribution takes, instead of
a number, for example `{dist: beta, mean: 0.8, sd: 0.05}` or
`{dist: uniform, low: 0.1, high: 0.4}`; each replication draws it once from its own
generator before the night is built (`sample_distributions`).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.spec.types import Number
from sim.spec.yamlio import PathError


class Distribution(BaseModel):
    """A parameter drawn once per replication.

    uniform: `low`, `high`; triangular: `low`, `mode`, `high`; beta (for probabilities):
    `mean`, `sd`; lognormal (for positive numbers): `mean`, `sd` of the number itself.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dist: Literal["uniform", "triangular", "beta", "lognormal"] = Field(
        description="Distribution family: uniform, triangular, beta or lognormal."
    )
    low: Number | None = Field(default=None, description="uniform/triangular: lower end.")
    high: Number | None = Field(default=None, description="uniform/triangular: upper end.")
    mode: Number | None = Field(default=None, description="triangular: most likely value.")
    mean: Number | None = Field(default=None, description="beta/lognormal: mean.")
    sd: Number | None = Field(default=None, description="beta/lognormal: standard deviation.")

    @model_validator(mode="after")
    def _parameters(self) -> Distribution:
        needs = {
            "uniform": ("low", "high"),
            "triangular": ("low", "mode", "high"),
            "beta": ("mean", "sd"),
            "lognormal": ("mean", "sd"),
        }[self.dist]
        given = {k for k in ("low", "high", "mode", "mean", "sd") if getattr(self, k) is not None}
        for name in needs:
            if name not in given:
                raise PathError((name,), f"a {self.dist} distribution needs '{name}'")
        for name in sorted(given - set(needs)):
            raise PathError((name,), f"'{name}' is not a parameter of a {self.dist} distribution")
        if self.dist in ("uniform", "triangular") and self.high < self.low:
            raise PathError(("high",), f"high {self.high} is below low {self.low}")
        if self.dist == "triangular" and not self.low <= self.mode <= self.high:
            raise PathError(("mode",), f"mode {self.mode} is outside [{self.low}, {self.high}]")
        if self.dist == "beta":
            if not 0.0 < self.mean < 1.0:
                raise PathError(("mean",), f"a beta mean must be inside (0, 1), not {self.mean}")
            if not 0.0 < self.sd < math.sqrt(self.mean * (1.0 - self.mean)):
                raise PathError(
                    ("sd",),
                    f"a beta sd must be above 0 and below sqrt(mean * (1 - mean)) = "
                    f"{math.sqrt(self.mean * (1.0 - self.mean)):.4g}",
                )
        if self.dist == "lognormal" and not (self.mean > 0.0 and self.sd > 0.0):
            raise PathError(("mean",), "a lognormal needs mean > 0 and sd > 0")
        return self

    def support(self) -> tuple[float, float]:
        """The smallest and largest value a draw can take."""
        if self.dist in ("uniform", "triangular"):
            return float(self.low), float(self.high)
        if self.dist == "beta":
            return 0.0, 1.0
        return 0.0, math.inf

    def expected(self) -> float:
        """The mean of the distribution."""
        if self.dist == "uniform":
            return 0.5 * (self.low + self.high)
        if self.dist == "triangular":
            return (self.low + self.mode + self.high) / 3.0
        return float(self.mean)

    def draw(self, rng: np.random.Generator) -> float:
        """One draw from the replication's generator."""
        if self.dist == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.dist == "triangular":
            if self.low == self.high:
                return float(self.low)
            return float(rng.triangular(self.low, self.mode, self.high))
        if self.dist == "beta":
            k = self.mean * (1.0 - self.mean) / self.sd**2 - 1.0
            return float(rng.beta(self.mean * k, (1.0 - self.mean) * k))
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        return float(rng.lognormal(math.log(self.mean) - 0.5 * sigma2, math.sqrt(sigma2)))


def _within(low: float, high: float):
    def check(value: Distribution) -> Distribution:
        lo, hi = value.support()
        if lo < low or hi > high:
            raise ValueError(
                f"the distribution's values [{lo:g}, {hi:g}] must lie in [{low:g}, {high:g}]"
            )
        return value

    return check


def _distribution_within(low: float, high: float) -> Any:
    from pydantic import AfterValidator

    return Annotated[Distribution, AfterValidator(_within(low, high))]


ProbabilityDistribution = _distribution_within(0.0, 1.0)
NonNegativeDistribution = _distribution_within(0.0, math.inf)


def number_or_distribution(value: Any) -> str:
    """Union tag of a field that takes a number or a distribution: a mapping is a distribution."""
    return "distribution" if isinstance(value, (dict, Distribution)) else "number"


def has_distributions(obj: Any) -> bool:
    """Whether any field below `obj` is still a distribution."""
    if isinstance(obj, Distribution):
        return True
    if isinstance(obj, BaseModel):
        return any(has_distributions(getattr(obj, name)) for name in type(obj).model_fields)
    if isinstance(obj, dict):
        return any(has_distributions(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(has_distributions(v) for v in obj)
    return False


def sample_distributions(obj: Any, rng: np.random.Generator) -> Any:
    """A copy of `obj` with every distribution replaced by one draw (in field order).

    Objects without distributions are returned as they are, so the walk is cheap and the
    order of draws depends only on the scenario's structure.
    """
    if isinstance(obj, Distribution):
        return obj.draw(rng)
    if isinstance(obj, BaseModel):
        updates = {}
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            new = sample_distributions(value, rng)
            if new is not value:
                updates[name] = new
        return obj.model_copy(update=updates) if updates else obj
    if isinstance(obj, dict):
        new_items = {k: sample_distributions(v, rng) for k, v in obj.items()}
        changed = any(new_items[k] is not obj[k] for k in obj)
        return new_items if changed else obj
    if isinstance(obj, list):
        new_list = [sample_distributions(v, rng) for v in obj]
        return new_list if any(a is not b for a, b in zip(new_list, obj, strict=True)) else obj
    return obj
