"""An attacker fitted to the record: the launch process of nights with at least 30 threats.

The campaign's attacker needs four things from the observed nights (issue 14): how many
nights a month carry at least `THRESHOLD` threats, how big they are (ordinary and mass
nights), what they are made of (drone / cruise / ballistic / hypersonic) given their size,
and how mass nights follow one another. `fit_attacker` estimates all four from the nights of
`sim.spec.observed.load_nights` (a random sample, about 70 %, of such nights; `missile_mixed`
already apportioned) and the full monthly counts that `read_month_counts` reads
(`../shared/data/README.md`); `sim.campaign.launches.sample_nights` draws nights from the
fit with an explicit `numpy.random.Generator`. The fit's records are
`sim.spec.attacker_fit.AttackerFit`; `AttackerFit.to_dict()` is the YAML file.

The model, one day at a time (day d of month m):

- **launch night** with probability r_m = N_m / days_m (N_m the full count of nights with
  >= 30 threats; without full counts, the sample's count over the sampling fraction);
- **mass night** (given a launch night) with probability pi (the mass share);
- **size** from that component, left-truncated at 29.5 and rounded (the record holds no
  smaller nights, so the likelihood is truncated too). Components are gamma or lognormal,
  whichever has the higher likelihood (the KS statistic of the PIT is reported too); the mass
  component's location is at least `MIN_RATIO` times the ordinary one's, which is what makes
  "mass" mean a distinct kind of night rather than the upper tail of a skewed one;
- a **month effect**: every month's size level (or logit share) is shifted by
  u_m ~ N(0, sd^2), integrated out by Gauss-Hermite quadrature: months differ by more than
  nights drawn independently would make them;
- **composition**: class counts Dirichlet-multinomial given the size, shares and
  concentration per component (by quarter where a likelihood-ratio test says they drift).
  Drones include decoys: the reports count them together, so the record cannot split them.

Which parts drift is a model choice made by the data: the mass share and the mass/ordinary
ratio may be fixed or vary by quarter, the size level fixed, by quarter or by month; BIC
chooses among all of them (and one-component baselines); a month effect is then kept if a
likelihood-ratio test rejects sd = 0 (a boundary test: p = P(chi2_1 > LR) / 2). A night is
*called* mass when its posterior probability of the mass component exceeds 1/2 (composition
report, cadence, tests); the model itself never thresholds.

The full monthly counts enter the likelihood as data on the nights *left out* of the sample:
a month with N_m nights, n_m of them sampled with sizes summing to S_m, had N_m - n_m other
nights carrying exactly T_m - S_m threats, a sum of draws (normal approximation). Each month's
z = (T_m - expected) / sd and their chi2 check the fit against the full counts. Because a
month's total varies by about a fifth under the fitted process, a statistical fit does not
(and should not) hit every month; the per-month **replay** (the mass share, or a size scale,
with which the month's expected total is exactly T_m) is what a status-quo hindcast uses.

The cadence of mass nights is reported, not modelled beyond the per-night share: the gaps
between the sample's mass nights, their coefficient of variation, a permutation test of
"more regular than independent nights" (mass labels shuffled among the sampled nights of each
quarter, which keeps the thinning by the sample and slow drift), and the full record's gap
mean and CV deconvolved from independent thinning (a renewal process thinned with probability
f has gaps E[G] / f and CV^2 = f CV_G^2 + 1 - f).

Beyond the fitted window the fit holds the last quarter's share and composition, the pooled
launch rate of the last `FORECAST_MONTHS` months and draws a fresh month effect every month
(a persistence forecast; `AttackerFit.forecast`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import optimize, special, stats

from sim.analysis.numeric import central_hessian
from sim.results.files import ResultsExistError, write_bytes_atomic
from sim.results.manifest import file_sha256
from sim.results.tables import text_table
from sim.spec.attacker_fit import (
    AttackerFit,
    CadenceFit,
    CompositionFit,
    MonthFit,
    MonthSize,
    QuarterComposition,
    SizeFit,
    component_location,
    component_record,
    month_of,
    quarter_of,
)
from sim.spec.observed import (
    MIN_THREATS,
    OBSERVED_CLASSES,
    MonthCounts,
    days_in_month,
    load_nights,
    read_month_counts,
)
from sim.spec.yamlio import OptionError

__all__ = [
    "CLASSES",
    "FORECAST_MONTHS",
    "THRESHOLD",
    "fit_attacker",
    "fit_attacker_file",
    "fit_cadence",
    "format_attacker_fit",
    "mass_probability",
]

THRESHOLD = MIN_THREATS  # a night of the record
CLASSES: tuple[str, ...] = OBSERVED_CLASSES  # drone (with decoys), cruise, ballistic, hypersonic
FAMILIES: tuple[str, ...] = ("lognormal", "gamma")
DRIFTING: tuple[str, ...] = ("share", "size", "mass_ratio")  # what may vary by period
DRIFT_UNITS: tuple[str, ...] = ("quarter", "month")
FORECAST_MONTHS = 3
MONTH_EFFECTS: tuple[str, ...] = ("size", "share")
GH_NODES = 11  # Gauss-Hermite nodes for the month effect
MIN_RATIO = 3.0  # a mass night's typical size (component location) over an ordinary one's, at least
_LOGIT_BOUND = 15.0


def _period_of(month: str, unit: str) -> str:
    return {"quarter": quarter_of(month), "month": month, "all": "all"}[unit]


def _r(x: float | None, digits: int = 6) -> float | None:
    """A float rounded to `digits` significant digits, for the YAML record (None stays)."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


# =========================================================================== size model
# Internal parameters (theta), per month of the window (each block constant over its unit):
#   logit of the mass share;  loc0: the ordinary component's location (lognormal mu = log
#   median; gamma log mean); ratio: the mass location minus loc0 (at least log 2, so the mass
#   component is the upper one); ls0, ls1: log spreads (lognormal log sigma; gamma log shape),
#   never drifting. "size" drift moves both components together (the attacker's scale),
#   "mass_ratio" drift moves the mass nights relative to the ordinary ones.

_RANK = {None: 0, "quarter": 1, "month": 2}
# The units each part may drift by in the automatic search: only the attacker's size level
# may move month by month (the full monthly totals inform it); the mass share and the mass
# ratio rest on a few mass nights a month, so at most by quarter.
_GRID_UNITS: dict[str, tuple[str | None, ...]] = {
    "share": (None, "quarter"),
    "size": (None, "quarter", "month"),
    "mass_ratio": (None, "quarter"),
}


def _comp_logpdf(
    family: str, x: np.ndarray, loc: np.ndarray, ls: np.ndarray, log_x: np.ndarray | None = None
) -> np.ndarray:
    log_x = np.log(x) if log_x is None else log_x
    if family == "lognormal":
        z = (log_x - loc) / np.exp(ls)
        return -log_x - ls - 0.5 * math.log(2 * math.pi) - 0.5 * z * z
    shape = np.exp(ls)
    log_scale = loc - ls
    return (
        (shape - 1.0) * log_x - x * np.exp(-log_scale) - shape * log_scale - special.gammaln(shape)
    )


def _comp_logsf(family: str, t: float, loc: np.ndarray, ls: np.ndarray) -> np.ndarray:
    if family == "lognormal":
        return special.log_ndtr((loc - math.log(t)) / np.exp(ls))
    return np.log(np.maximum(special.gammaincc(np.exp(ls), t * np.exp(ls - loc)), 1e-300))


def _comp_cdf(family: str, x: np.ndarray, loc: np.ndarray, ls: np.ndarray) -> np.ndarray:
    if family == "lognormal":
        return special.ndtr((np.log(x) - loc) / np.exp(ls))
    return special.gammainc(np.exp(ls), x * np.exp(ls - loc))


def _comp_moments(
    family: str, t: float, loc: np.ndarray, ls: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """E[X] and E[X^2] of a component left-truncated at t (in logs, so that it never
    overflows or divides 0 by 0 far from the optimum)."""
    if family == "lognormal":
        sigma = np.exp(ls)
        a0 = special.log_ndtr((loc - math.log(t)) / sigma)
        a1 = special.log_ndtr((loc + sigma**2 - math.log(t)) / sigma)
        a2 = special.log_ndtr((loc + 2 * sigma**2 - math.log(t)) / sigma)
        return np.exp(loc + sigma**2 / 2 + a1 - a0), np.exp(2 * loc + 2 * sigma**2 + a2 - a0)
    shape = np.exp(ls)
    u = t * np.exp(ls - loc)

    def log_q(a: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(special.gammaincc(a, u), 1e-300))

    q0 = log_q(shape)
    m1 = np.exp(loc + log_q(shape + 1) - q0)
    m2 = np.exp(2 * loc - ls + np.log1p(shape) + log_q(shape + 2) - q0)
    return m1, m2


@dataclass(frozen=True)
class _Spec:
    """A candidate size model: family, the unit each part drifts by, one or two components,
    and an optional month random effect (on the size level or on the logit of the share)."""

    family: str
    drift: tuple[tuple[str, str], ...]  # (part, unit), parts in DRIFTING order
    mixture: bool = True
    effect: str | None = None  # None, "size" or "share"

    def unit(self, part: str) -> str | None:
        return dict(self.drift).get(part)

    @property
    def drift_text(self) -> str:
        return ", ".join(f"{part} by {unit}" for part, unit in self.drift) or "none"

    @property
    def label(self) -> str:
        comps = "2-component" if self.mixture else "1-component"
        effect = f"; month effect on {self.effect}" if self.effect else ""
        return f"{self.family} {comps}, drift: {self.drift_text}{effect}"

    def nests(self, other: _Spec) -> bool:
        """Whether `other` is a special case of this spec (a start for it)."""
        return (
            other.family == self.family
            and other.mixture <= self.mixture
            and other.effect in (None, self.effect)
            and all(_RANK[other.unit(p)] <= _RANK[self.unit(p)] for p in DRIFTING)
        )


class _Layout:
    """Where each parameter sits in theta, its name and bounds, per month of the window."""

    def __init__(self, spec: _Spec, months: Sequence[str]) -> None:
        self.spec, self.months = spec, tuple(months)
        names: list[str] = []
        bounds: list[tuple[float, float]] = []

        def block(name: str, unit: str | None, lo: float, hi: float) -> np.ndarray:
            labels = [_period_of(m, unit or "all") for m in months]
            periods = list(dict.fromkeys(labels))
            first = len(names)
            names.extend(f"{name}[{p}]" if unit else name for p in periods)
            bounds.extend([(lo, hi)] * len(periods))
            return np.array([first + periods.index(label) for label in labels])

        lognormal = spec.family == "lognormal"
        ls_lo, ls_hi = (math.log(0.03), math.log(3.0)) if lognormal else (math.log(0.05), 8.0)
        loc_name = "ordinary.mu" if lognormal else "ordinary.log_mean"
        ls_name = "log_sigma" if lognormal else "log_shape"
        self.share = (
            block("logit_mass_share", spec.unit("share"), -_LOGIT_BOUND, _LOGIT_BOUND)
            if spec.mixture
            else None
        )
        self.loc0 = block(loc_name, spec.unit("size"), 1.0, 9.0)
        self.ratio = (
            block("mass.log_ratio", spec.unit("mass_ratio"), math.log(MIN_RATIO), 4.0)
            if spec.mixture
            else None
        )
        self.ls = [int(block(f"ordinary.{ls_name}", None, ls_lo, ls_hi)[0])]
        if spec.mixture:
            self.ls.append(int(block(f"mass.{ls_name}", None, ls_lo, ls_hi)[0]))
        self.tau = (
            int(block(f"month_effect.{spec.effect}.log_sd", None, math.log(0.01), math.log(3.0))[0])
            if spec.effect
            else None
        )
        self.names = names
        self.bounds = bounds

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per month, for a batch theta (B, n): logit share (B, M; -inf with one component),
        locations (B, C, M) and log spreads (B, C), all at month effect 0."""
        theta = np.atleast_2d(theta)
        loc0 = theta[:, self.loc0]
        if self.share is None or self.ratio is None:
            logit = np.full_like(loc0, -np.inf)
            return logit, loc0[:, None, :], theta[:, self.ls]
        loc = np.stack([loc0, loc0 + theta[:, self.ratio]], axis=1)
        return theta[:, self.share], loc, theta[:, self.ls]

    def tau_of(self, theta: np.ndarray) -> np.ndarray | None:
        """The month effect's sd for a batch theta (B,), or None without one."""
        return None if self.tau is None else np.exp(np.atleast_2d(theta)[:, self.tau])

    def pack(
        self, logit: np.ndarray, loc: np.ndarray, ls: np.ndarray, tau: float = 0.15
    ) -> np.ndarray:
        """theta from per-month values (each parameter: the mean over its months)."""
        theta = np.zeros(len(self.names))
        pairs = [(self.loc0, loc[0])]
        if self.share is not None and self.ratio is not None:
            ratio = loc[1] - loc[0] if loc.shape[0] > 1 else np.full_like(loc[0], 1.2)
            pairs += [(self.share, logit), (self.ratio, ratio)]
        for ix, values in pairs:
            values = np.nan_to_num(np.asarray(values, float), neginf=-_LOGIT_BOUND)
            for k in np.unique(ix):
                theta[k] = float(values[ix == k].mean())
        ls = np.asarray(ls, float)
        for c, k in enumerate(self.ls):
            theta[k] = float(ls[min(c, len(ls) - 1)] - (0.5 if c >= len(ls) else 0.0))
        if self.tau is not None:
            theta[self.tau] = math.log(tau)
        lo, hi = np.array(self.bounds).T
        return np.clip(theta, lo, hi)

    def convert(self, other: _Layout, theta: np.ndarray) -> np.ndarray:
        """A fitted theta of another layout (same family and months) as a start for this."""
        logit, loc, ls = other.unpack(theta)
        logit = logit[0] if other.share is not None else np.full(len(self.months), -4.0)
        tau = other.tau_of(theta)
        return self.pack(logit, loc[0], ls[0], float(tau[0]) if tau is not None else 0.15)


@dataclass
class _SizeData:
    x: np.ndarray  # sampled sizes (threats launched), float
    month: np.ndarray  # month index (in the window) of each night
    hidden_u: np.ndarray  # per month with left-out nights: their total threats
    hidden_k: np.ndarray  # ... how many nights were left out
    hidden_month: np.ndarray  # ... and the month's index
    t: float  # truncation point of the continuous model (THRESHOLD - 1/2)
    n_months: int

    def __post_init__(self) -> None:
        order = np.argsort(self.month, kind="stable")
        self.x, self.month = self.x[order], self.month[order]
        self.order = order  # nights are held sorted by month (sums by month without BLAS)
        self.log_x = np.log(self.x)
        edges = np.searchsorted(self.month, np.arange(self.n_months + 1))
        self.month_first, self.month_end = edges[:-1], edges[1:]

    def by_month(self, values: np.ndarray) -> np.ndarray:
        """Sum per-night values (..., N) by month -> (..., M)."""
        cum = np.concatenate([np.zeros((*values.shape[:-1], 1)), np.cumsum(values, axis=-1)], -1)
        return cum[..., self.month_end] - cum[..., self.month_first]


# Gauss-Hermite (probabilists') nodes and log weights for integrating over N(0, 1)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(GH_NODES)
_GH_LOGW = np.log(_GH_W / math.sqrt(2 * math.pi))


def _mixture_moments(
    family: str, t: float, logit: np.ndarray, loc: np.ndarray, ls: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the truncated mixture; logit (..., M), loc (..., C, M), ls (..., C)."""
    m1, m2 = _comp_moments(family, t, loc[..., 0, :], ls[..., 0:1])
    if loc.shape[-2] > 1:
        pi = special.expit(logit)
        n1, n2 = _comp_moments(family, t, loc[..., 1, :], ls[..., 1:2])
        m1, m2 = (1 - pi) * m1 + pi * n1, (1 - pi) * m2 + pi * n2
    return m1, np.maximum(m2 - m1**2, 1e-9)


def _core(
    family: str, logit: np.ndarray, loc: np.ndarray, ls: np.ndarray, data: _SizeData
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Per night log-likelihood (..., N), per night log posterior of the mass component
    (..., N) or None, and per month log-likelihood of the left-out nights' totals (..., M)."""
    t, at = data.t, data.month
    # the truncation terms depend on the month only: computed per month, then per night
    lo = _comp_logpdf(family, data.x, loc[..., 0, at], ls[..., 0:1], data.log_x)
    lo = lo - _comp_logsf(family, t, loc[..., 0, :], ls[..., 0:1])[..., at]
    if loc.shape[-2] > 1:
        lm = _comp_logpdf(family, data.x, loc[..., 1, at], ls[..., 1:2], data.log_x)
        lm = lm - _comp_logsf(family, t, loc[..., 1, :], ls[..., 1:2])[..., at]
        a = special.log_expit(-logit[..., at]) + lo
        b = special.log_expit(logit[..., at]) + lm
        nights = np.logaddexp(a, b)
        post = b - nights
    else:
        nights, post = lo, None
    hidden = np.zeros((*nights.shape[:-1], data.n_months))
    if len(data.hidden_u):
        mean, var = _mixture_moments(family, t, logit, loc, ls)
        q, k = data.hidden_month, data.hidden_k
        z = (data.hidden_u - k * mean[..., q]) ** 2 / (k * var[..., q])
        hidden[..., q] = -0.5 * z - 0.5 * np.log(2 * math.pi * k * var[..., q])
    return nights, post, hidden


def _shifted(
    layout: _Layout, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Parameters per quadrature node of the month effect: logit (B, J, M), loc (B, J, C, M),
    ls (B, 1, C) and the shifts (B, J); without an effect J = 1 and no shifts."""
    logit, loc, ls = layout.unpack(theta)
    tau = layout.tau_of(theta)
    if tau is None:
        return logit[:, None], loc[:, None], ls[:, None], None
    shift = tau[:, None] * _GH_X[None, :]
    if layout.spec.effect == "share":
        return logit[:, None] + shift[..., None], loc[:, None], ls[:, None], shift
    return logit[:, None], loc[:, None] + shift[..., None, None], ls[:, None], shift


def _by_month(
    layout: _Layout, theta: np.ndarray, data: _SizeData
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Per month log-likelihood (B, M), integrated over the month effect; the per night log
    posterior of the mass component per node (B, J, N) or None; and the posterior weights of
    the nodes per month (B, J, M) (all 1 without an effect)."""
    logit, loc, ls, shift = _shifted(layout, np.atleast_2d(theta))
    nights, post, hidden = _core(layout.spec.family, logit, loc, ls, data)
    joint = data.by_month(nights) + hidden  # (B, J, M)
    if shift is None:
        return joint[:, 0], post, np.ones_like(joint)
    joint = joint + _GH_LOGW[None, :, None]
    per_month = special.logsumexp(joint, axis=1)
    return per_month, post, np.exp(joint - per_month[:, None, :])


def _loglik(layout: _Layout, theta: np.ndarray, data: _SizeData) -> np.ndarray:
    """Log-likelihood of a batch theta (B, n) -> (B,)."""
    total = _by_month(layout, theta, data)[0].sum(axis=1)
    return np.where(np.isfinite(total), total, -1e12)


def _steps(theta: np.ndarray) -> np.ndarray:
    return 1e-5 * np.maximum(1.0, np.abs(theta))


def _value_and_grad(
    theta: np.ndarray, layout: _Layout, data: _SizeData
) -> tuple[float, np.ndarray]:
    """Negative log-likelihood and its gradient (central differences in one batch)."""
    n = len(theta)
    h = _steps(theta)
    batch = np.vstack([theta, theta + np.diag(h), theta - np.diag(h)])
    values = -_loglik(layout, batch, data)
    return float(values[0]), (values[1 : n + 1] - values[n + 1 :]) / (2 * h)


def _hessian(layout: _Layout, theta: np.ndarray, data: _SizeData) -> np.ndarray:
    """Central-difference Hessian of the negative log-likelihood (one batch)."""
    n = len(theta)
    h = _steps(theta) * 10
    eye = np.diag(h)
    pairs = [(i, j) for i in range(n) for j in range(i)]
    signs = [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    rows = [theta] + [theta + eye[i] for i in range(n)] + [theta - eye[i] for i in range(n)]
    rows += [theta + a * eye[i] + b * eye[j] for i, j in pairs for a, b in signs]
    values = -_loglik(layout, np.array(rows), data)
    f0, plus, minus = values[0], values[1 : n + 1], values[n + 1 : 2 * n + 1]
    out = np.diag((plus - 2 * f0 + minus) / h**2)
    cross = values[2 * n + 1 :].reshape(len(pairs), 4)
    for (i, j), (pp, pm, mp, mm) in zip(pairs, cross, strict=True):
        out[i, j] = out[j, i] = (pp - pm - mp + mm) / (4 * h[i] * h[j])
    return out


def _em_init(
    y: np.ndarray, iterations: int = 60
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """A two-component normal mixture on log sizes (no truncation): the optimiser's start."""
    mu = np.quantile(y, [0.4, 0.97])
    sd = np.array([y.std(), y.std() / 2]) + 1e-3
    w = 0.1
    r = np.zeros_like(y)
    for _ in range(iterations):
        a = np.log1p(-w) + stats.norm.logpdf(y, mu[0], sd[0])
        b = math.log(w) + stats.norm.logpdf(y, mu[1], sd[1])
        r = np.exp(b - np.logaddexp(a, b))
        w = float(np.clip(r.mean(), 1e-3, 1 - 1e-3))
        for c, weight in enumerate((1 - r, r)):
            total = weight.sum() + 1e-9
            mu[c] = (weight * y).sum() / total
            sd[c] = math.sqrt((weight * (y - mu[c]) ** 2).sum() / total) + 1e-3
    if mu[1] < mu[0]:
        mu, sd, r, w = mu[::-1].copy(), sd[::-1].copy(), 1 - r, 1 - w
    return w, mu, sd, r


def _start(layout: _Layout, data: _SizeData) -> np.ndarray:
    """A start for theta from an EM on log sizes, per month where there are enough nights."""
    family = layout.spec.family
    M = len(layout.months)
    y = np.log(data.x)
    w, _, _, r = _em_init(y)
    weights = (1 - r, r) if layout.spec.mixture else (np.ones_like(y),)
    loc = np.zeros((len(weights), M))
    ls = np.zeros(len(weights))
    for c, weight in enumerate(weights):
        total = weight.sum() + 1e-9
        if family == "lognormal":
            glob = (weight * y).sum() / total
            ls[c] = 0.5 * math.log((weight * (y - glob) ** 2).sum() / total + 1e-6)
        else:
            mean = (weight * data.x).sum() / total
            var = (weight * (data.x - mean) ** 2).sum() / total + 1.0
            glob, ls[c] = math.log(mean), math.log(mean * mean / var)
        for m in range(M):
            inside = data.month == m
            wm = weight[inside]
            if wm.sum() < 2.0:
                loc[c, m] = glob
            elif family == "lognormal":
                loc[c, m] = (wm * y[inside]).sum() / wm.sum()
            else:
                loc[c, m] = math.log((wm * data.x[inside]).sum() / wm.sum())
    share = np.array([r[data.month == m].mean() if (data.month == m).any() else w
                      for m in range(M)])  # fmt: skip
    if loc.shape[0] > 1:
        loc[1] = np.maximum(loc[1], loc[0] + math.log(MIN_RATIO) + 0.05)
    logit = special.logit(np.clip(share, 1e-4, 1 - 1e-4))
    return layout.pack(logit, loc, ls)


def _optimise(
    layout: _Layout, data: _SizeData, starts: Sequence[np.ndarray]
) -> tuple[np.ndarray, float]:
    """Maximum likelihood from each start (L-BFGS-B); the best optimum and its log-likelihood."""
    best, best_value = np.asarray(starts[0]), math.inf
    for theta0 in starts:
        result = optimize.minimize(
            _value_and_grad, theta0, args=(layout, data), jac=True, method="L-BFGS-B",
            bounds=layout.bounds, options={"maxiter": 3000, "ftol": 1e-10, "gtol": 1e-6},
        )  # fmt: skip
        if result.fun < best_value:
            best, best_value = result.x, float(result.fun)
    return best, -best_value


_Fitted = dict[_Spec, tuple[_Layout, np.ndarray, float]]


def _fit_specs(
    specs: Sequence[_Spec], months: Sequence[str], data: _SizeData, done: _Fitted | None = None
) -> _Fitted:
    """Fit every spec not in `done`, simplest first; each starts from the EM start and from
    the best fit among the specs it nests, so that a richer model never ends below a simpler
    one by a poor local optimum."""
    order = sorted(
        specs,
        key=lambda s: (s.mixture, s.effect is not None, sum(_RANK[s.unit(p)] for p in DRIFTING)),
    )
    fitted: _Fitted = dict(done or {})
    for spec in order:
        if spec in fitted:
            continue
        layout = _Layout(spec, months)
        starts = [_start(layout, data)]
        nested = [v for s, v in fitted.items() if spec.nests(s) and s != spec]
        if nested:
            other_layout, theta, _ = max(nested, key=lambda v: v[2])
            starts.append(layout.convert(other_layout, theta))
            if spec.effect:  # the fit without the effect is the start (the EM one is poor)
                starts = starts[1:]
        theta, ll = _optimise(layout, data, starts)
        fitted[spec] = (layout, theta, ll)
    return fitted


def _drift_grid(
    family: str,
    drift: tuple[tuple[str, str], ...] | None,
    effects: Sequence[str | None] = (None,),
) -> list[_Spec]:
    """Every drift structure (each part fixed, by quarter or by month), or the one given, with
    each of `effects`; and the one-component baselines."""
    if drift is not None:
        grid = [drift]
    else:
        options = [_GRID_UNITS[part] for part in DRIFTING]
        grid = [
            tuple((part, unit) for part, unit in zip(DRIFTING, units, strict=True) if unit)
            for units in product(*options)
        ]
    specs = [_Spec(family, d, effect=e) for d in grid for e in effects]
    sizes = {dict(d).get("size") for d in grid}
    specs += [_Spec(family, (("size", u),) if u else (), mixture=False) for u in sizes]
    return specs


# =========================================================================== composition


def _dm_loglik(log_alpha: np.ndarray, y: np.ndarray, n: np.ndarray, w: np.ndarray) -> float:
    """Weighted Dirichlet-multinomial log-likelihood (without the multinomial coefficient)."""
    alpha = np.exp(log_alpha)
    total = alpha.sum()
    ll = special.gammaln(total) - special.gammaln(n + total)
    ll = ll + (special.gammaln(y + alpha) - special.gammaln(alpha)).sum(axis=1)
    return float((w * ll).sum())


def _fit_dm(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float, np.ndarray | None]:
    """Weighted DM fit: (alpha, log-likelihood, covariance of log alpha or None)."""
    n = y.sum(axis=1)
    shares = (w[:, None] * y).sum(axis=0) / max((w * n).sum(), 1e-9)
    start = np.log(np.maximum(shares, 1e-6) * 10.0)

    def objective(la: np.ndarray) -> float:
        return -_dm_loglik(la, y, n, w)

    result = optimize.minimize(objective, start, method="L-BFGS-B", bounds=[(-14.0, 12.0)] * 4)
    try:
        cov = np.linalg.inv(
            central_hessian(objective, result.x, 1e-4 * np.maximum(1.0, np.abs(result.x)))
        )
        cov = cov if np.all(np.diag(cov) > 0) else None
    except np.linalg.LinAlgError:
        cov = None
    return np.exp(result.x), -float(result.fun), cov


MIN_QUARTER_NIGHTS = 3.0


def _composition(
    nights: pd.DataFrame, mass_post: np.ndarray, quarters: np.ndarray
) -> dict[str, CompositionFit]:
    y = nights[[f"launched.{c}" for c in CLASSES]].to_numpy(float)
    out = {}
    for name, w in (("ordinary", 1.0 - mass_post), ("mass", mass_post)):
        alpha, ll, cov = _fit_dm(y, w)
        total = alpha.sum()
        shares = alpha / total
        se: list[float | None] = [None] * len(CLASSES)
        if cov is not None:
            jac = np.diag(shares) - np.outer(shares, shares)
            se = [float(v) for v in np.sqrt(np.maximum(np.diag(jac @ cov @ jac.T), 0.0))]
        by_q: dict[str, QuarterComposition] = {}
        ll_q = 0.0
        for q in sorted(set(quarters)):
            inside = quarters == q
            if w[inside].sum() < MIN_QUARTER_NIGHTS:
                continue
            alpha_q, ll_one, _ = _fit_dm(y[inside], w[inside])
            ll_q += ll_one
            by_q[str(q)] = QuarterComposition(
                nights=_r(float(w[inside].sum()), 4),
                shares={c: _r(float(v)) for c, v in zip(CLASSES, alpha_q / alpha_q.sum(),
                                                          strict=True)},
                concentration=_r(float(alpha_q.sum())),
            )  # fmt: skip
        p_value = None
        if len(by_q) > 1:
            used = np.isin(quarters, list(by_q))
            ll_pooled = _fit_dm(y[used], w[used])[1]
            df = len(CLASSES) * (len(by_q) - 1)
            p_value = float(stats.chi2.sf(max(2 * (ll_q - ll_pooled), 0.0), df))
        out[name] = CompositionFit(
            component=name,
            nights=_r(float(w.sum()), 5),
            shares={c: _r(float(v)) for c, v in zip(CLASSES, shares, strict=True)},
            shares_se={c: _r(v, 3) for c, v in zip(CLASSES, se, strict=True)},
            concentration=_r(float(total)),
            loglik=_r(ll, 8),
            by_quarter=by_q,
            drift_lrt_p=_r(p_value, 3),
            drifts=p_value is not None and p_value < 0.05,
        )
    return out


# =========================================================================== cadence


def _gap_cv(days: np.ndarray) -> float:
    gaps = np.diff(days)
    return float(gaps.std(ddof=1) / gaps.mean()) if len(gaps) > 1 and gaps.mean() > 0 else math.nan


def fit_cadence(
    dates: pd.Series,
    is_mass: np.ndarray,
    groups: np.ndarray,
    within: str,
    fraction_of: Callable[[str, str], float | None],
    permutations: int,
    seed: int,
) -> CadenceFit:
    day = ((dates - pd.Timestamp("1970-01-01")).dt.days).to_numpy()
    mass_days = np.sort(day[is_mass])
    count = len(mass_days)
    none = dict.fromkeys(
        ["mean_gap_days", "sd_gap_days", "cv", "min_gap_days", "median_gap_days",
         "full_mean_gap_days", "full_cv", "null_cv_mean", "null_cv_q05", "p_more_regular",
         "sampling_fraction"],
    )  # fmt: skip
    if count < 3:
        return CadenceFit(
            mass_nights=count, first=None, last=None, gaps=max(count - 1, 0), **none,
            permutations=0, permuted_within=within, verdict="too few mass nights to say",
        )  # fmt: skip
    gaps = np.diff(mass_days)
    mean, sd = float(gaps.mean()), float(gaps.std(ddof=1))
    cv = sd / mean
    first = pd.Timestamp(mass_days[0], unit="D").date()
    last = pd.Timestamp(mass_days[-1], unit="D").date()
    f = fraction_of(month_of(first), month_of(last))
    rng = np.random.default_rng(seed)
    null = np.empty(permutations)
    labels = is_mass.copy()
    order = np.argsort(day)
    day_sorted, groups_sorted, labels_sorted = day[order], groups[order], labels[order]
    blocks = [np.flatnonzero(groups_sorted == g) for g in np.unique(groups_sorted)]
    for k in range(permutations):
        shuffled = labels_sorted.copy()
        for ix in blocks:
            shuffled[ix] = rng.permutation(labels_sorted[ix])
        null[k] = _gap_cv(day_sorted[shuffled])
    null = null[np.isfinite(null)]
    p = float((np.sum(null <= cv) + 1) / (len(null) + 1))
    full_mean = full_cv = None
    if f is not None:
        full_mean = mean * f
        full_cv = math.sqrt(max(cv * cv - (1.0 - f), 0.0) / f)
    if p < 0.05:
        verdict = "more regular than independent nights (p < 0.05)"
    elif p > 0.95:
        verdict = "more clustered than independent nights (p > 0.95)"
    else:
        verdict = "consistent with independent nights (mass share per night), not more regular"
    return CadenceFit(
        mass_nights=count,
        first=str(first),
        last=str(last),
        gaps=len(gaps),
        mean_gap_days=_r(mean, 4),
        sd_gap_days=_r(sd, 4),
        cv=_r(cv, 4),
        min_gap_days=int(gaps.min()),
        median_gap_days=_r(float(np.median(gaps)), 4),
        sampling_fraction=_r(f, 4),
        full_mean_gap_days=_r(full_mean, 4),
        full_cv=_r(full_cv, 4),
        null_cv_mean=_r(float(null.mean()), 4),
        null_cv_q05=_r(float(np.quantile(null, 0.05)), 4),
        p_more_regular=_r(p, 3),
        permutations=permutations,
        permuted_within=within,
        verdict=verdict,
    )


# =========================================================================== the fit


def _timestamp(value: Any) -> pd.Timestamp:
    return pd.Timestamp(value).normalize()


def _months_between(start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
    last = end - pd.Timedelta(days=1)
    return [str(p) for p in pd.period_range(start.to_period("M"), last.to_period("M"), freq="M")]


def _parse_drift(drift: str | dict[str, str] | None) -> tuple[tuple[str, str], ...] | None:
    """ "none", "share:quarter+size:month" (unit quarter when left out) or {part: unit}."""
    if drift is None:
        return None
    if isinstance(drift, str):
        pairs = {}
        for item in drift.split("+"):
            item = item.strip()
            if item and item != "none":
                part, _, unit = item.partition(":")
                pairs[part.strip()] = unit.strip() or "quarter"
    else:
        pairs = dict(drift)
    for part, unit in pairs.items():
        if part not in DRIFTING:
            raise ValueError(f"unknown drift part {part!r}; allowed: {', '.join(DRIFTING)}")
        if unit not in DRIFT_UNITS:
            raise ValueError(f"unknown drift unit {unit!r}; allowed: {', '.join(DRIFT_UNITS)}")
    return tuple((p, pairs[p]) for p in DRIFTING if p in pairs)


def _month_size(
    label: str, family: str, t: float, logit: float, loc: np.ndarray, ls: np.ndarray,
    share_se: float | None, effect: float = 0.0,
) -> MonthSize:  # fmt: skip
    comps = []
    for c in range(2):
        m1, m2 = _comp_moments(family, t, np.array(loc[c]), np.array(ls[c]))
        natural = {
            k: _r(v) for k, v in component_record(family, float(loc[c]), float(ls[c])).items()
        }
        sd = math.sqrt(max(float(m2 - m1**2), 0.0))
        comps.append(natural | {"mean": _r(float(m1)), "sd": _r(sd)})
    mean, var = _mixture_moments(family, t, np.array([logit]), loc[:, None], ls)
    x = np.arange(THRESHOLD, 10_001, dtype=float)
    lo = _comp_logpdf(family, x, loc[0], ls[0]) - _comp_logsf(family, t, loc[0], ls[0])
    lm = _comp_logpdf(family, x, loc[1], ls[1]) - _comp_logsf(family, t, loc[1], ls[1])
    b = special.log_expit(logit) + lm
    post = b - np.logaddexp(special.log_expit(-logit) + lo, b)
    above = np.flatnonzero((post > math.log(0.5)) & (x > comps[0]["mean"]))
    return MonthSize(
        month=label,
        mass_share=_r(float(special.expit(logit))),
        mass_share_se=share_se,
        ordinary=comps[0],
        mass=comps[1],
        mean=_r(float(mean[0])),
        sd=_r(math.sqrt(float(var[0]))),
        mass_above=int(x[above[0]]) if len(above) and logit > -_LOGIT_BOUND + 1e-3 else None,
        effect=_r(effect, 4) or 0.0,
    )


def _natural_parameters(
    layout: _Layout, theta: np.ndarray, cov: np.ndarray | None
) -> tuple[dict[str, float], dict[str, float | None]]:
    """Parameters on their natural scale (share, ratio, sigma or shape) with delta-method SEs;
    none for a parameter at a bound or with a singular curvature."""
    values: dict[str, float] = {}
    errors: dict[str, float | None] = {}
    se = np.sqrt(np.maximum(np.diag(cov), 0.0)) if cov is not None else np.full(len(theta), np.nan)
    for k, name in enumerate(layout.names):
        lo, hi = layout.bounds[k]
        at_bound = min(theta[k] - lo, hi - theta[k]) < 1e-3
        s = None if (at_bound or not np.isfinite(se[k]) or se[k] == 0) else float(se[k])
        if name.startswith("logit_"):
            v, new = float(special.expit(theta[k])), name.removeprefix("logit_")
            d = v * (1 - v)
        elif ".log_" in name and "log_mean" not in name:
            v, new = math.exp(theta[k]), name.replace("log_", "")
            d = v
        else:
            v, new, d = float(theta[k]), name, 1.0
        values[new] = _r(v)
        errors[new] = _r(d * s, 3) if s is not None else None
    return values, errors


def _pit(
    family: str, logit: np.ndarray, loc: np.ndarray, ls: np.ndarray, data: _SizeData
) -> np.ndarray:
    """Probability integral transform of each night under its month's truncated mixture
    (per month parameters: logit (M,), loc (C, M), ls (C,))."""
    at = data.month
    pi = special.expit(logit[at])
    weights = [1 - pi, pi] if loc.shape[0] > 1 else [np.ones(len(at))]
    cdf = np.zeros(len(data.x))
    for c, weight in enumerate(weights):
        low = _comp_cdf(family, np.array(data.t), loc[c, at], ls[c])
        cdf += weight * (_comp_cdf(family, data.x, loc[c, at], ls[c]) - low) / (1 - low)
    return cdf


def _forecast_theta(layout: _Layout, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Per-part values beyond the window (month effect 0): month-drifting parts the mean of
    their last FORECAST_MONTHS months, quarter-drifting parts the last quarter's, constant
    parts as fitted."""
    logit, loc, ls = (v[0] for v in layout.unpack(theta))
    tail = slice(-FORECAST_MONTHS, None)

    def hold(values: np.ndarray, part: str) -> float:
        monthly = layout.spec.unit(part) == "month"
        return float(values[tail].mean()) if monthly else float(values[-1])

    loc0 = hold(loc[0], "size")
    ratio = hold(loc[1] - loc[0], "mass_ratio")
    return hold(logit, "share"), np.array([loc0, loc0 + ratio]), ls


def _effect_mean(
    family: str, t: float, logit: float, loc: np.ndarray, ls: np.ndarray, effect: str | None,
    tau: float,
) -> float:  # fmt: skip
    """Mean size per launch night averaged over a month effect N(0, tau^2)."""
    shift = tau * _GH_X if effect else np.zeros(1)
    logits = np.full(len(shift), logit) + (shift if effect == "share" else 0.0)
    locs = loc[None, :, None] + (shift[:, None, None] if effect == "size" else 0.0)
    mean, _ = _mixture_moments(
        family, t, logits[:, None], np.broadcast_to(locs, (len(shift), 2, 1)), ls
    )
    weights = np.exp(_GH_LOGW) if effect else np.ones(1)
    return float((weights * mean[:, 0]).sum() / weights.sum())


def _replay(
    family: str, t: float, loc: np.ndarray, ls: np.ndarray, target: float
) -> tuple[float, float]:
    """(mass share, size scale) whose truncated mixture mean is `target`: the share alone
    when one in [0, 1] does it, else the share at its bound and both components scaled."""
    means = [float(_comp_moments(family, t, np.array(loc[c]), np.array(ls[c]))[0]) for c in (0, 1)]
    share = (target - means[0]) / (means[1] - means[0])
    if 0.0 <= share <= 1.0:
        return share, 1.0
    share = min(max(share, 0.0), 1.0)
    logit_share = special.logit(min(max(share, 1e-12), 1 - 1e-12))

    def gap(log_scale: float) -> float:
        mean, _ = _mixture_moments(family, t, np.array([logit_share]), loc[:, None] + log_scale, ls)
        return float(mean[0]) - target

    return share, math.exp(optimize.brentq(gap, -5.0, 5.0, xtol=1e-10))


def fit_attacker(
    nights: pd.DataFrame,
    month_counts: MonthCounts | None,
    start: Any,
    end: Any,
    *,
    sampling_fraction: float | None = None,
    families: Sequence[str] = FAMILIES,
    drift: str | dict[str, str] | None = None,
    criterion: str = "bic",
    month_effect: str = "auto",
    use_full_threats: bool = True,
    data: str | Path | None = None,
    permutations: int = 2000,
    seed: int = 0,
) -> AttackerFit:
    """Fit the launch process to the nights with `start <= date < end`.

    `nights` is what `sim.spec.observed.load_nights` returns (a sample of the nights with at
    least `THRESHOLD` threats; `missile_mixed` already apportioned to cruise and ballistic);
    `month_counts` the full monthly counts (`read_month_counts`), or None. Months without full
    counts scale the sample's nights by `sampling_fraction` (then required).

    The size model's drift is chosen by `criterion` ("bic" or "aic") over every structure
    (each of share, size and mass_ratio fixed, by quarter or by month) with the first of
    `families`; the other families are then fitted with that structure and the best
    log-likelihood wins (the same number of parameters). `drift` fixes the structure instead:
    "none", or e.g. "share:quarter+size:month". With `use_full_threats` the left-out nights'
    monthly threat totals enter the likelihood. `data` is the nights file, for its sha256 in
    the record; `permutations` and `seed` drive the cadence permutation test only.
    """
    start_ts, end_ts = _timestamp(start), _timestamp(end)
    if end_ts <= start_ts:
        raise ValueError(f"empty window: end {end_ts.date()} is not after start {start_ts.date()}")
    if not families or any(f not in FAMILIES for f in families):
        raise ValueError(f"families must be some of {', '.join(FAMILIES)}, got {families}")
    if criterion not in ("bic", "aic"):
        raise ValueError(f"criterion must be 'bic' or 'aic', got {criterion!r}")
    if month_effect not in ("auto", "none", *MONTH_EFFECTS):
        raise ValueError(f"month_effect must be auto, none, size or share, got {month_effect!r}")
    if sampling_fraction is not None and not 0.0 < sampling_fraction <= 1.0:
        raise ValueError(f"sampling_fraction must be in (0, 1], got {sampling_fraction}")
    chosen_drift = _parse_drift(drift)
    window = nights[(nights["date"] >= start_ts) & (nights["date"] < end_ts)].sort_values("date")
    window = window.reset_index(drop=True)
    if window.empty:
        raise ValueError(f"no nights from {start_ts.date()} to {end_ts.date()}")
    small = window["launched.total"] < THRESHOLD
    if small.any():
        first = window.loc[small.idxmax()]
        raise ValueError(
            f"{int(small.sum())} nights have fewer than {THRESHOLD} threats (first "
            f"{first['date'].date()}: {int(first['launched.total'])}); the model is of nights "
            f"with at least {THRESHOLD}"
        )
    months = _months_between(start_ts, end_ts)
    month_of_night = window["date"].map(month_of).to_numpy()
    notes: list[str] = []

    # ---------------------------------------------------------------- launch nights per month
    n_in = {m: int((month_of_night == m).sum()) for m in months}
    s_in = {m: int(window.loc[month_of_night == m, "launched.total"].sum()) for m in months}
    first_day = {m: pd.Timestamp(m + "-01") for m in months}
    complete = {
        m: first_day[m] >= start_ts and first_day[m] + pd.offsets.MonthBegin(1) <= end_ts
        for m in months
    }
    counts = month_counts.months if month_counts is not None else {}
    counted = [m for m in months if m in counts]
    fraction = sampling_fraction
    if fraction is None:
        full = sum(counts[m].nights for m in counted if complete[m])
        fraction = sum(n_in[m] for m in counted if complete[m]) / full if full else None
    hidden: list[tuple[int, float, float]] = []
    full_nights: dict[str, tuple[float, str]] = {}
    for k, m in enumerate(months):
        if m in counts:
            row = counts[m]
            if complete[m] and n_in[m] > row.nights:
                raise ValueError(f"{m}: {n_in[m]} nights in the sample but {row.nights} in the "
                                 f"full counts")  # fmt: skip
            if row.in_sample is not None and complete[m] and row.in_sample != n_in[m]:
                notes.append(f"{m}: the counts say {row.in_sample} nights are in the CSV; "
                             f"the data hold {n_in[m]}")  # fmt: skip
            full_nights[m] = (float(row.nights), "full")
            if complete[m]:
                k_left, u_left = row.nights - n_in[m], row.threats - s_in[m]
                if (k_left == 0 and u_left != 0) or u_left < THRESHOLD * k_left:
                    raise ValueError(
                        f"{m}: the full counts ({row.nights} nights, {row.threats} threats) leave "
                        f"{u_left} threats for the {k_left} nights not in the sample"
                    )
                if k_left > 0 and use_full_threats:
                    hidden.append((k, float(u_left), float(k_left)))
        elif fraction is not None:
            month_end = first_day[m] + pd.offsets.MonthBegin(1)
            covered = (min(month_end, end_ts) - max(first_day[m], start_ts)).days
            full_nights[m] = (n_in[m] / fraction * days_in_month(m) / max(covered, 1), "scaled")
        else:
            raise ValueError(f"{m} is not in the full monthly counts: give sampling_fraction")

    # ---------------------------------------------------------------- sizes
    size_data = _SizeData(
        x=window["launched.total"].to_numpy(float),
        month=np.array([months.index(m) for m in month_of_night]),
        hidden_u=np.array([h[1] for h in hidden]),
        hidden_k=np.array([h[2] for h in hidden]),
        hidden_month=np.array([h[0] for h in hidden], dtype=int),
        t=THRESHOLD - 0.5,
        n_months=len(months),
    )
    t = size_data.t
    n_obs = len(window) + len(hidden)

    def score(ll: float, k: int, how: str = criterion) -> float:
        return -2 * ll + k * (math.log(n_obs) if how == "bic" else 2.0)

    # 1. the drift structure, without a month effect, by the criterion
    fitted = _fit_specs(_drift_grid(families[0], chosen_drift), months, size_data)
    mixtures = [s for s in fitted if s.mixture]
    base = min(mixtures, key=lambda s: score(fitted[s][2], len(fitted[s][1])))
    # 2. a month random effect on the size level or on the share, by likelihood ratio (the
    #    null tau = 0 is on the boundary: p = P(chi2_1 > LR) / 2)
    effects = [e for e in MONTH_EFFECTS if month_effect in ("auto", e)]
    if effects:
        fitted |= _fit_specs(
            [*fitted, *(_Spec(base.family, base.drift, effect=e) for e in effects)],
            months, size_data, done=fitted,
        )  # fmt: skip
    effect_table = {}
    for e in effects:
        ll_e = fitted[_Spec(base.family, base.drift, effect=e)][2]
        lr = max(2 * (ll_e - fitted[base][2]), 0.0)
        effect_table[e] = {"loglik": _r(ll_e, 8), "lr": _r(lr, 5),
                           "p": _r(0.5 * float(stats.chi2.sf(lr, 1)), 3)}  # fmt: skip
    chosen_effect = None
    if effect_table:
        e_best = max(effect_table, key=lambda e: float(effect_table[e]["loglik"] or -math.inf))
        if month_effect != "auto" or (effect_table[e_best]["p"] or 1.0) < 0.05:
            chosen_effect = e_best
    # 3. the family, by log-likelihood at that structure (same number of parameters)
    for family in families[1:]:
        extra = _drift_grid(family, base.drift, (None, chosen_effect))
        fitted |= _fit_specs(extra, months, size_data)
    same = [s for s in fitted if s.mixture and s.drift == base.drift and s.effect == chosen_effect]
    best = max(same, key=lambda s: fitted[s][2])
    layout, theta, ll = fitted[best]

    # per month: the month effect's posterior, conditional parameters and expectations
    logit_j, loc_j, ls_j, shift = _shifted(layout, theta[None, :])
    _, log_post, node_w = _by_month(layout, theta[None, :], size_data)
    node_w = node_w[0]  # (J, M)
    effect_mean = (
        (node_w * shift[0][:, None]).sum(axis=0) if shift is not None else np.zeros(len(months))
    )
    logit, loc, ls = (v[0] for v in layout.unpack(theta))
    if best.effect == "share":
        logit = logit + effect_mean
    elif best.effect == "size":
        loc = loc + effect_mean[None, :]
    mean_j, _ = _mixture_moments(best.family, t, logit_j[0], loc_j[0], ls_j[0])  # (J, M)
    post_mean_size = (node_w * mean_j).sum(axis=0) if shift is not None else mean_j[0]
    post = np.zeros(len(window))
    if log_post is not None:  # back from the month order of size_data to the window's order
        post[size_data.order] = (np.exp(log_post[0]) * node_w[:, size_data.month]).sum(axis=0)

    family_table: dict[str, dict[str, float | None]] = {}
    for s in same:
        lay, th, ll_s = fitted[s]
        lg, lc, lsp = (v[0] for v in lay.unpack(th))
        if s == best:
            lg, lc = logit, loc
        ks = stats.kstest(_pit(s.family, lg, lc, lsp, size_data), "uniform")
        family_table[s.family] = {
            "loglik": _r(ll_s, 8), "aic": _r(score(ll_s, len(th), "aic"), 8),
            "ks": _r(float(ks.statistic), 4), "ks_p": _r(float(ks.pvalue), 3),
        }  # fmt: skip
    candidates = sorted(
        (
            {"model": s.label, "family": s.family, "drift": s.drift_text,
             "month_effect": s.effect, "components": 2 if s.mixture else 1,
             "loglik": _r(v[2], 8), "n_params": len(v[1]),
             "aic": _r(score(v[2], len(v[1]), "aic"), 8),
             "bic": _r(score(v[2], len(v[1]), "bic"), 8)}
            for s, v in fitted.items()
        ),
        key=lambda c: c[criterion],
    )  # fmt: skip
    hess = _hessian(layout, theta, size_data)
    cov = np.linalg.pinv(hess) if np.all(np.isfinite(hess)) else None
    values, errors = _natural_parameters(layout, theta, cov)
    share_ix = layout.share if layout.share is not None else []
    share_names = [layout.names[k].removeprefix("logit_") for k in share_ix]
    month_sizes = tuple(
        _month_size(m, best.family, t, float(logit[k]), loc[:, k], ls, errors.get(share_names[k]),
                    float(effect_mean[k]))
        for k, m in enumerate(months)
    )  # fmt: skip
    tau = float(layout.tau_of(theta)[0]) if layout.tau is not None else 0.0  # type: ignore[index]
    f_logit, f_loc, f_ls = _forecast_theta(layout, theta)
    forecast_size = _month_size("forecast", best.family, t, f_logit, f_loc, f_ls, None, 0.0)
    if best.effect:
        marginal = _effect_mean(best.family, t, f_logit, f_loc, f_ls, best.effect, tau)
        forecast_size = forecast_size.model_copy(update={"mean": _r(marginal)})
    fam = family_table[best.family]
    tau_name = f"month_effect.{best.effect}.sd"
    size = SizeFit(
        family=best.family,
        drift=dict(best.drift),
        criterion=criterion,
        month_effect=(
            {"on": best.effect, "sd": _r(tau), "sd_se": errors.get(tau_name),
             "tests": effect_table}
            if best.effect
            else {"on": None, "tests": effect_table}
        ),
        threshold=THRESHOLD,
        truncated_at=t,
        uses_full_threats=bool(hidden),
        loglik=_r(ll, 8),
        n_params=len(theta),
        n_obs=n_obs,
        aic=_r(score(ll, len(theta), "aic"), 8),
        bic=_r(score(ll, len(theta), "bic"), 8),
        ks=fam["ks"],  # type: ignore[arg-type]
        ks_p=fam["ks_p"],  # type: ignore[arg-type]
        parameters=values,
        standard_errors=errors,
        months=month_sizes,
        forecast=forecast_size,
        candidates=tuple(candidates),
        families=family_table,
    )  # fmt: skip

    # ---------------------------------------------------------------- months
    month_fits = []
    for k, m in enumerate(months):
        nights_m, source = full_nights[m]
        days = days_in_month(m)
        rate = nights_m / days
        rate_var = rate * (1 - min(rate, 1.0)) / days
        if source == "scaled" and fraction is not None:
            rate_var += n_in[m] * (1 - fraction) / (fraction * days) ** 2
        expected = nights_m * float(post_mean_size[k])
        sd = month_sizes[k].sd * math.sqrt(nights_m)
        threats = counts[m].threats if m in counts else None
        replay = None
        if threats and nights_m > 0:
            replay = _replay(best.family, t, loc[:, k], ls, threats / nights_m)
        month_fits.append(
            MonthFit(
                month=m, days=days, complete=bool(complete[m]), nights_in_sample=n_in[m],
                threats_in_sample=s_in[m], nights=_r(nights_m), nights_source=source,
                rate_per_day=_r(rate), rate_se=_r(math.sqrt(rate_var), 3), threats=threats,
                expected_threats=_r(expected),
                error=_r(expected / threats - 1.0, 4) if threats else None,
                sd_threats=_r(sd), z=_r((threats - expected) / sd, 4) if threats else None,
                replay_mass_share=_r(replay[0]) if replay else None,
                replay_scale=_r(replay[1]) if replay else None,
                replay_mass_nights=_r(replay[0] * nights_m, 4) if replay else None,
            )
        )  # fmt: skip
    checked = [f for f in month_fits if f.z is not None and f.complete]
    chi2 = float(sum(f.z**2 for f in checked))  # type: ignore[operator]
    monthly_check = {
        "what": "full monthly threats against the fit: z = (full - expected) / sd of a month's "
        "total under the fit given its month effect; chi2 = sum of z^2 over the complete "
        "months with full counts (in-sample: the totals are in the likelihood)",
        "months": len(checked),
        "chi2": _r(chi2, 5),
        "p": _r(float(stats.chi2.sf(chi2, len(checked))), 3) if checked else None,
        "max_abs_error": _r(max((abs(f.error) for f in checked if f.error is not None),
                                default=math.nan), 4),
    }  # fmt: skip

    # ---------------------------------------------------------------- composition, cadence
    quarters = np.array([quarter_of(m) for m in month_of_night])
    composition = _composition(window, post, quarters)

    def fraction_of(first: str, last: str) -> float | None:
        inside = [m for m in counted if first <= m <= last and complete[m]]
        if not inside:
            return fraction
        return sum(n_in[m] for m in inside) / sum(counts[m].nights for m in inside)

    cadence = fit_cadence(window["date"], post > 0.5, quarters, "quarter", fraction_of,
                       permutations, seed)  # fmt: skip

    # ---------------------------------------------------------------- forecast, record
    tail = [m for m in months if complete[m]][-FORECAST_MONTHS:] or months[-FORECAST_MONTHS:]
    forecast_rate = sum(full_nights[m][0] for m in tail) / sum(days_in_month(m) for m in tail)
    forecast = {
        "rule": f"persistence: launch nights per day pooled over the last {len(tail)} months "
        f"of the window; sizes as `size.forecast` (parts drifting by month: the mean of their "
        f"last {FORECAST_MONTHS} months; by quarter: the last quarter's), with a fresh month "
        f"effect drawn for every month when the fit has one; composition: the last quarter's "
        f"where it drifts",
        "rate_per_day": _r(forecast_rate),
        "rate_months": tail,
    }
    method = (
        f"Launch nights per day: the full monthly counts of nights with >= {THRESHOLD} threats "
        f"over the days of the month (the sample's count / sampling fraction where not given). "
        f"Sizes: maximum likelihood, two-component {best.family} mixture left-truncated at "
        f"{t} (sizes rounded), the mass component's location at least {MIN_RATIO:g} times the "
        f"ordinary one's; "
        f"its drift ({best.drift_text}) chosen by {criterion.upper()} among "
        f"{sum(1 for s in fitted if s.family == families[0] and not s.effect)} {families[0]} "
        f"models (mass share and mass/ordinary ratio fixed or by quarter, size level fixed, by "
        f"quarter or by month; one component as a baseline); then a month random effect "
        f"N(0, sd^2) on the size level or on the logit share (Gauss-Hermite quadrature), kept "
        f"if a likelihood-ratio test rejects sd = 0 at 5 % (chosen: {best.effect or 'none'}); "
        f"then the family by log-likelihood at that structure"
        + ("; the left-out nights' monthly threat totals in the likelihood, as sums of draws "
           "(normal approximation)" if hidden else "")
        + ". Composition: Dirichlet-multinomial per component, nights weighted by their "
        "posterior component probabilities; drones include decoys. Cadence: gaps between "
        "nights called mass (posterior > 1/2), permutation test within quarters, thinning "
        "deconvolved as for a renewal process."
    )  # fmt: skip
    return AttackerFit(
        data=str(data) if data is not None else None,
        data_sha256=file_sha256(data) if data is not None and Path(data).is_file() else None,
        counts=month_counts.source if month_counts is not None else None,
        counts_sha256=month_counts.sha256 if month_counts is not None else None,
        start=str(start_ts.date()),
        end=str(end_ts.date()),
        threshold=THRESHOLD,
        nights=len(window),
        sampling_fraction=_r(fraction, 4),
        method=method,
        months=tuple(month_fits),
        size=size,
        composition=composition,
        cadence=cadence,
        forecast=forecast,
        monthly_check=monthly_check,
        notes=tuple(notes),
    )


def mass_probability(fit: AttackerFit, nights: pd.DataFrame) -> np.ndarray:
    """Posterior probability that each night (a `load_nights` frame) is a mass night."""
    family, t = fit.size.family, fit.size.truncated_at
    out = np.zeros(len(nights))
    for k, (date, size) in enumerate(zip(nights["date"], nights["launched.total"], strict=True)):
        month = fit.size_of(month_of(date))
        x = np.array(float(size))
        terms = []
        for share, comp in ((1 - month.mass_share, month.ordinary), (month.mass_share, month.mass)):
            loc, ls = component_location(family, comp)
            density = _comp_logpdf(family, x, np.array(loc), np.array(ls))
            density = density - _comp_logsf(family, t, np.array(loc), np.array(ls))
            terms.append(math.log(share) + float(density) if share > 0 else -math.inf)
        out[k] = math.exp(terms[1] - np.logaddexp(*terms)) if math.isfinite(terms[1]) else 0.0
    return out


# =========================================================================== from files


FIT_HEADER = (
    "# salvo attacker fit: the launch process fitted to observed nights (sim.analysis.attacker;\n"
    "# written by `salvo calibrate-attacker`). Plain data: months (launch nights per day, threats\n"
    "# against the full counts), size (ordinary and mass components), composition by class,\n"
    "# cadence of mass nights, forecast, the record of the fit.\n"
)


def fit_attacker_file(
    nights_path: str | Path,
    out: str | Path,
    *,
    month_counts: str | Path | None = None,
    start: Any = None,
    end: Any = None,
    sampling_fraction: float | None = None,
    force: bool = False,
    seed: int = 0,
) -> AttackerFit:
    """Fit the launch process to the nights CSV from `start` (default: its first night) to
    before `end` (default: the day after its last) and write the fit as YAML to `out`.

    `month_counts` is the full monthly counts file (`read_month_counts`); without it the
    sample is scaled by `sampling_fraction`. Bad files raise InputError, an existing `out`
    without `force` ResultsExistError, a bad window or option OptionError.
    """
    out = Path(out)
    if out.exists() and not force:
        raise ResultsExistError(out)
    nights = load_nights(nights_path)
    counts = read_month_counts(month_counts) if month_counts else None
    if counts is None and sampling_fraction is None:
        raise OptionError("give --month-counts (the full monthly counts) or --sampling-fraction")
    first, last = nights["date"].min(), nights["date"].max()
    start = pd.Timestamp(start) if start is not None else first
    end = pd.Timestamp(end) if end is not None else last + pd.Timedelta(days=1)
    try:
        fit = fit_attacker(
            nights, counts, start, end, sampling_fraction=sampling_fraction,
            data=nights_path, seed=seed,
        )  # fmt: skip
    except ValueError as err:
        raise OptionError(str(err)) from None
    text = yaml.safe_dump(fit.to_dict(), sort_keys=False, width=100, allow_unicode=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, (FIT_HEADER + text).encode("utf-8"))
    return fit


def format_attacker_fit(fit: AttackerFit) -> str:
    """What the fit says, for the terminal: per month the launch nights per day and the
    threats against the full counts; the mass share, sizes, composition and cadence."""
    rows = []
    for m in fit.months:
        rows.append([
            m.month,
            f"{m.rate_per_day:.2f}",
            f"{m.nights:.0f} ({m.nights_source})",
            f"{m.expected_threats:,.0f}",
            "–" if m.threats is None else f"{m.threats:,}",
            "–" if m.error is None else f"{100 * m.error:+.1f} %",
        ])  # fmt: skip
    lines = [
        f"attacker fitted to {fit.nights} nights from {fit.start} to before {fit.end} "
        f"(nights of at least {fit.threshold} threats)",
        "",
        *text_table(
            ["month", "nights/day", "nights", "fitted threats", "full count", "error"], rows
        ),
        "",
        f"cadence of mass nights: {fit.cadence.mass_nights} in the sample, full-record mean gap "
        f"{_text(fit.cadence.full_mean_gap_days, '.1f')} days "
        f"(CV {_text(fit.cadence.full_cv, '.2f')})",
    ]
    return "\n".join(lines) + "\n"


def _text(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)
