"""Launch nights drawn from an attacker fitted to the record (`salvo calibrate-attacker`).

A campaign whose attacker policy is `kind: fitted` launches, night by night, what
`launch_schedule` draws from the fit for its calendar (the launch nights of at least the
fit's threshold of threats, mass or ordinary, their size and their counts by reported class);
`sim.analysis.attacker` uses `sample_nights`, the same draws as a table, to check the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special, stats

from sim.spec.attacker_fit import AttackerFit, component_location, month_of
from sim.vocab import OBSERVED_CLASSES

__all__ = [
    "COMPONENTS",
    "MONTH_MODES",
    "LaunchSchedule",
    "launch_schedule",
    "sample_nights",
    "truncated_draws",
]

COMPONENTS: tuple[str, ...] = ("ordinary", "mass")
MonthMode = Literal["fitted", "replay", "fresh"]
# how the months of the fit are drawn: `fitted` (each fitted month its own size level and mass
# share), `replay` (months with full counts at the mass share or size scale that reproduces
# their full count), `fresh` (a fresh month effect every month: what else the process could do)
MONTH_MODES: tuple[str, ...] = ("fitted", "replay", "fresh")


@dataclass(frozen=True)
class LaunchSchedule:
    """One draw of the launch nights over consecutive days: per day whether it is a mass
    night and the threats launched by reported class (all 0 on days without a launch night)."""

    days: pd.DatetimeIndex
    mass: np.ndarray  # bool, one per day
    counts: np.ndarray  # int64, days x OBSERVED_CLASSES

    @property
    def sizes(self) -> np.ndarray:
        """Threats launched per day."""
        return self.counts.sum(axis=1)


def _frozen(family: str, loc: float, ls: float) -> Any:
    if family == "lognormal":
        return stats.lognorm(s=math.exp(ls), scale=math.exp(loc))
    return stats.gamma(a=math.exp(ls), scale=math.exp(loc - ls))


def truncated_draws(
    family: str, rng: np.random.Generator, t: float, loc: float, ls: float, n: int
) -> np.ndarray:
    """n draws of a component left-truncated at t (inverse CDF on [F(t), 1])."""
    if n == 0:
        return np.zeros(0)
    dist = _frozen(family, loc, ls)
    low = float(dist.cdf(t))
    u = low + (1.0 - low) * rng.random(n)
    return np.maximum(dist.ppf(np.minimum(u, 1.0 - 1e-15)), t)


def launch_schedule(
    fit: AttackerFit,
    start: Any,
    end: Any,
    rng: np.random.Generator,
    *,
    months: MonthMode = "fitted",
) -> LaunchSchedule:
    """Draw the launch nights (>= threshold threats) of the days `start <= date < end`.

    Day by day: a launch night with the month's `rate_per_day`; a mass night with the
    month's mass share; its size from that component (truncated, rounded); its class counts
    Dirichlet-multinomial with the component's (quarter's) shares and concentration. Outside
    the fitted window the forecast holds (`fit.forecast`). With `months="replay"`, months with
    full counts use their replay mass share and size scale (their expected threats are the
    full counts). A fit with a month effect uses each fitted month's own effect (its posterior
    mean) and draws a fresh one, N(0, sd^2), for every month outside the window, or for every
    month with `months="fresh"` (what else the same process could have done).
    """
    if months not in MONTH_MODES:
        raise ValueError(f"months must be one of {', '.join(MONTH_MODES)}, not {months!r}")
    replay, fresh_effects = months == "replay", months == "fresh"
    days = pd.date_range(
        pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(), inclusive="left"
    )
    month = np.array([month_of(d) for d in days])
    unique = list(dict.fromkeys(month))
    at = np.array([unique.index(m) for m in month], dtype=int)
    sizes = [fit.size_of(m) for m in unique]
    effect_on = fit.size.month_effect.get("on")
    effect_sd = float(fit.size.month_effect.get("sd") or 0.0)
    shares, scales = [], []
    for m, month_size in zip(unique, sizes, strict=True):
        replayed = fit.replay_of(m) if replay else None
        share, scale = month_size.mass_share, 0.0
        if effect_on and (fresh_effects or fit.month(m) is None):
            drawn = effect_sd * float(rng.standard_normal()) - month_size.effect
            if effect_on == "share":
                share = float(special.expit(special.logit(share) + drawn))
            else:
                scale = drawn
        if replayed:
            share, scale = replayed[0], math.log(replayed[1])
        shares.append(share)
        scales.append(scale)
    rate = np.array([min(fit.rate_per_day(m), 1.0) for m in unique] + [0.0])[at]
    share = np.array([*shares, 0.0])[at]
    launch = rng.random(len(days)) < rate
    mass = (rng.random(len(days)) < share) & launch
    size = np.zeros(len(days), dtype=np.int64)
    family, t = fit.size.family, fit.size.truncated_at
    for u, month_size in enumerate(sizes):
        for c, comp in enumerate((month_size.ordinary, month_size.mass)):
            where = np.flatnonzero((at == u) & launch & (mass == bool(c)))
            loc, ls = component_location(family, comp)
            draws = truncated_draws(family, rng, t, loc + scales[u], ls, len(where))
            size[where] = np.floor(draws + 0.5).astype(np.int64)
    counts = np.zeros((len(days), len(OBSERVED_CLASSES)), dtype=np.int64)
    for c, name in enumerate(COMPONENTS):
        for u, m in enumerate(unique):
            where = np.flatnonzero((at == u) & launch & (mass == bool(c)))
            if len(where) == 0:
                continue
            shares, concentration = fit.composition[name].at(m)
            alpha = np.array([shares[k] for k in OBSERVED_CLASSES]) * concentration
            p = rng.dirichlet(np.maximum(alpha, 1e-9), size=len(where))
            counts[where] = rng.multinomial(size[where], p)
    return LaunchSchedule(days=days, mass=mass, counts=counts)


def sample_nights(
    fit: AttackerFit,
    start: Any,
    end: Any,
    rng: np.random.Generator,
    *,
    replay: bool = False,
    fresh_effects: bool = False,
) -> pd.DataFrame:
    """`launch_schedule` as a table of its launch nights: one row per launch night with
    `date`, `mass`, `size` and one column per reported class (summing to `size`)."""
    months: MonthMode = "replay" if replay else "fresh" if fresh_effects else "fitted"
    schedule = launch_schedule(fit, start, end, rng, months=months)
    launch = schedule.sizes > 0
    out = pd.DataFrame({"date": schedule.days, "mass": schedule.mass, "size": schedule.sizes})
    for k, name in enumerate(OBSERVED_CLASSES):
        out[name] = schedule.counts[:, k]
    return out[launch].reset_index(drop=True)
