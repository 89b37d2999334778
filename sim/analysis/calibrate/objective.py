"""The fit's objective: the nights' intercepted counts under the emulated model."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy import special

from sim.analysis.calibrate import CRITERIA, DEFAULT_CRITERION
from sim.analysis.calibrate.emulator import Emulator
from sim.analysis.calibrate.mixture import (
    beta_draws,
    beta_table,
    binom_logpmf,
    frac_index,
    logmeanexp,
    mixture_quantiles,
    norm_logpdf,
    wis,
)
from sim.night.builder import NightRow
from sim.spec.calibration import (
    DEEP_CLASSES,
    REFERENCE_ANCHOR_SD,
    REFERENCE_DATE,
    ROUTES,
    Bucket,
    Calibration,
)
from sim.spec.observed import OBSERVED_CLASSES
from sim.spec.posture import flat_parameters, interpolation_weights

# smoothness of the posture from one quarter to the next (random-walk prior sd)
POSTURE_STEP_SD = {"ew": 0.1, "reach_km": 0.75, "bmd": 0.3, "lost_all": 0.1, "focus": 0.1}
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
        criterion: str = DEFAULT_CRITERION,
    ) -> None:
        if criterion not in CRITERIA:
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
        # the full model's mean intercepted drones on the anchor night minus the emulator's
        # (set by `fit_calibration` after a first fit; 0: the emulator is taken as it is)
        self.anchor_offset = 0.0
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(77,)))
        self.idx = np.stack(
            [np.stack([rng.permutation(draws) for _ in range(n)]) for _ in _DIMS], axis=-1
        )  # (nights, draws, dims)
        self.table = beta_table(draws)
        self.evaluations = 0
        grid = emulator.grid
        self._n_drone = frac_index(
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
            c: frac_index(
                np.log(np.array(grid.missiles, float)), np.log(np.maximum(self.launched[c], 1))
            )
            for c in ("cruise", "ballistic", "hypersonic")
        }
        buckets = calibration.builder.buckets
        self._drone_route = self._routes(buckets.get("drone"), emulator.drone_groups)
        self._has_focus = any(route == "focus" for _, route, _ in self._drone_route)
        self._missile_route = {
            c: self._routes(buckets.get(c), emulator.missile_groups)
            for c in ("cruise", "ballistic", "hypersonic")
        }

    @staticmethod
    def _routes(bucket: Bucket | None, groups: list[str]) -> list[tuple[int, str, float]]:
        if bucket is None:
            return []
        out = []
        for route in ROUTES:
            weights = getattr(bucket, route)
            if not weights or (route == "focus" and not bucket.near):
                continue
            total = sum(weights.values())
            out += [(groups.index(g), route, w / total) for g, w in weights.items()]
        return out

    def _at_size(self, members: list[int], sizes: np.ndarray) -> np.ndarray:
        """The drone tables of `members` at per-night salvo sizes: (members, 4, nights*R*K)."""
        tab = self.emulator.drone_tables[members]  # (members, 4, R, K, N)
        n0, fn = frac_index(
            np.log(np.array(self.emulator.grid.drones, float)), np.log(np.maximum(sizes, 1.0))
        )
        at_n = (1 - fn) * tab[..., n0] + fn * tab[..., n0 + 1]  # (members, 4, R, K, nights)
        return np.ascontiguousarray(at_n.transpose(0, 1, 4, 2, 3)).reshape(len(members), 4, -1)

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
        """Mixture components of intercepted and of suppressed drones per night: mean and
        variance (nights, C) and weights `w` (nights, C), summing to 1 per night.

        The components are the night-level draws (C = draws) or, with focus groups, the draws
        of a dispersed night (weight 1 - focus) and of a concentrated raid (weight focus), in
        which the near share flies the focus groups (C = 2 draws). The focus groups' fractions
        are taken at the size of the night's mean near share (their own saturation)."""
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
        focus_members = [g for g, route, _ in self._drone_route if route == "focus"]
        tables = self._drone_at_n
        if focus_members:
            mean_deep = special.expit(
                values["deep.drone.logit"] + values["deep.drone.slope"] * self.log_size
            )
            tables = tables.copy()
            tables[focus_members] = self._at_size(
                focus_members, (1.0 - mean_deep) * self.launched["drone"]
            )
        n_reach, n_pk = len(grid.reach), len(grid.pk)
        r0, fr = frac_index(np.array(grid.reach), reach)
        n = self.launched["drone"][:, None]
        base = np.arange(nights)[:, None] * (n_reach * n_pk) + r0 * n_pk
        at_k = {}
        for typ in ("drone", "decoy"):
            members = [g for g, _, _ in self._drone_route if em.drone_types[g] == typ]
            if not members:
                continue
            k0, fk = frac_index(np.array(grid.pk), k[typ])
            sub = tables[members]  # (members, 4, nights * R * K)
            flat = base + k0
            corners = (
                ((1 - fr) * (1 - fk), flat), ((1 - fr) * fk, flat + 1),
                (fr * (1 - fk), flat + n_pk), (fr * fk, flat + n_pk + 1),
            )  # fmt: skip
            values_k = sum(w * np.take(sub, idx, axis=2) for w, idx in corners)
            at_k.update({g: values_k[j] for j, g in enumerate(members)})
        per_group = {}
        for g, _, _ in self._drone_route:
            q, big_f, a, e = at_k[g]
            sg = s[em.drone_types[g]]
            per_group[g] = (sg * big_f + (1 - sg) * q, sg * a + (1 - sg) * e)
        # a dispersed night (near groups) and, with focus groups, a concentrated raid
        scenarios = [("deep", "near")] + ([("deep", "focus")] if focus_members else [])
        parts = {key: [] for key in ("mu", "var", "mu_lost", "var_lost")}
        for flying in scenarios:
            mean_p, second, binvar = np.zeros_like(d), np.zeros_like(d), np.zeros_like(d)
            mean_s, binvar_s = np.zeros_like(d), np.zeros_like(d)
            for g, route, w in self._drone_route:
                if route not in flying:
                    continue
                p, supp = per_group[g]
                share = w * (d if route == "deep" else 1 - d)
                mean_p += share * p
                second += share * p * p
                binvar += share * p * (1 - p)
                mean_s += share * supp
                binvar_s += share * supp * (1 - supp)
            parts["mu"].append(n * mean_p)
            parts["var"].append(n * (em.inflation * binvar + second - mean_p**2) + 1.0 / 12.0)
            parts["mu_lost"].append(n * mean_s)
            parts["var_lost"].append(n * binvar_s + 1.0 / 12.0)
        out = {key: np.concatenate(v, axis=1) for key, v in parts.items()}
        draws = d.shape[1]
        if focus_members:
            focus = np.clip(self._series(values, "focus"), 0.0, 0.95)[:, None]
            w = np.concatenate([np.repeat(1 - focus, draws, 1), np.repeat(focus, draws, 1)], 1)
            out["w"] = w / draws
        else:
            out["w"] = np.full(d.shape, 1.0 / draws)
        return out

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
                m["mu"][has], m["var"][has], top=n[has], top_mass=lost_all[has],
                weights=m["w"][has],
            )  # fmt: skip
            loss = wis(y[has, 0], quantiles).sum()
            if lost.any():
                quantiles = mixture_quantiles(
                    m["mu_lost"][lost], m["var_lost"][lost], weights=m["w"][lost]
                )
                loss += wis(self.lost[lost], quantiles).sum()
        else:
            log_w = np.log(np.maximum(m["w"], 1e-300))
            density = np.exp(special.logsumexp(norm_logpdf(y, m["mu"], m["var"]) + log_w, axis=1))
            mass = (1.0 - lost_all) * density + lost_all * (y[:, 0] == n)
            loss = -np.log(np.maximum(mass, 1e-300))[has].sum()
            if lost.any():
                yl = self.lost[:, None]
                log_lost = norm_logpdf(yl, m["mu_lost"], m["var_lost"]) + log_w
                loss -= special.logsumexp(log_lost, axis=1)[lost].sum()
        keys = ("ew", "reach_km", "lost_all") + (("focus",) if self._has_focus else ())
        penalty = self._prior(values, keys)
        if self.anchor.any():
            mean = (m["w"] * m["mu"])[self.anchor].sum(axis=1) + self.anchor_offset
            sd = REFERENCE_ANCHOR_SD["drone"]
            penalty += 0.5 * float(((mean - y[self.anchor, 0]) ** 2).sum()) / sd**2
        return float(loss + penalty)

    # ---- missiles
    def missile_probability(self, values: Mapping[str, float], cls: str) -> np.ndarray:
        """(nights, draws) probability that a missile of the class is intercepted."""
        em = self.emulator
        bmd = self._series(values, "bmd")
        b0, fb = frac_index(np.array(em.grid.bmd), bmd)
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
        return float(-logmeanexp(binom_logpmf(y, n, p))[has].sum())

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
        m = self.drone_moments(values)
        model = (m["w"] * m["mu"]).sum(axis=1)
        out = {"drone": (1 - lost_all) * model + lost_all * self.launched["drone"]}
        for cls in ("cruise", "ballistic", "hypersonic"):
            if self._missile_route[cls]:
                out[cls] = self.launched[cls] * self.missile_probability(values, cls).mean(axis=1)
            else:
                out[cls] = np.zeros(len(self.rows))
        return out
