"""The fit: free parameters (`--params`), block-wise Powell search, standard errors."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from sim.analysis.calibrate import DEFAULT_CRITERION
from sim.analysis.calibrate.emulator import Emulator
from sim.analysis.calibrate.objective import BLOCKS, Objective, block_of
from sim.analysis.calibrate.simulate import RESULT_COLUMNS, simulate_spec
from sim.analysis.numeric import central_hessian
from sim.night.builder import NightRow, night_spec
from sim.results.manifest import file_sha256
from sim.spec.calibration import Calibration, Fit, default_bounds, load_template
from sim.spec.observed import OBSERVED_CLASSES
from sim.spec.posture import (
    flat_parameters,
    quarter_midpoint,
    quarters_between,
    reshape_posture,
    with_parameters,
)
from sim.spec.yamlio import OptionError, load_yaml


class ParamsError(OptionError):
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
            from sim.spec.yamlio import suggest

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
    count, best, best_x = 0, math.inf, x0

    def f(x: np.ndarray) -> float:
        nonlocal count, best, best_x
        trial = dict(values)
        trial.update(zip(names, np.clip(x, low, high), strict=True))
        value = objective.block_nll(block, trial)
        count += 1
        if value < best:
            best, best_x = value, np.clip(x, low, high)
        if progress and count % 250 == 0:
            print(f"calibrate: {block}: {count} evaluations, objective {best:.2f}",
                  file=sys.stderr, flush=True)  # fmt: skip
        return value

    x = _minimise(f, x0, low, high, max_evaluations)
    if best < f(x):  # Powell stopped by the evaluation limit: keep the best point it saw
        x = best_x
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
            diag = np.diag(np.linalg.inv(central_hessian(g, x[sub], steps[sub])))
        except np.linalg.LinAlgError:
            diag = np.full(len(sub), np.nan)
        for k, d in zip(sub, diag, strict=True):
            ses[names[k]] = float(math.sqrt(d)) if d > 0 else None
    return value, ses


# replications of the full model that check the emulator on the reference night after a fit
ANCHOR_CHECK_REPLICATIONS = 300


def anchor_model_offset(
    objective: Objective, calibration: Calibration, replications: int, seed: int
) -> float:
    """The full model's mean intercepted drones on the anchor night(s) minus the emulator's
    (the quantity the anchor holds), at `calibration`'s parameters; fixed seeds."""
    values = flat_parameters(calibration)
    m = objective.drone_moments(values)
    emulated = (m["w"] * m["mu"])[objective.anchor].sum(axis=1)
    template = load_template(calibration.template)
    simulated = []
    for k, row in enumerate(r for r, a in zip(objective.rows, objective.anchor, strict=True) if a):
        spec = night_spec(template, row, calibration)
        spec.lost_all = 0.0  # the anchor holds the model's count, not the reporting's
        sims = simulate_spec(spec, replications, seed, point=90_000 + k)
        simulated.append(sims[:, RESULT_COLUMNS.index("drone")].mean())
    return float(np.mean(np.array(simulated) - emulated))


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
    criterion: str = DEFAULT_CRITERION,
    anchor_check: int = ANCHOR_CHECK_REPLICATIONS,
) -> FitResult:
    """Fit the free parameters to the nights (blocks drone, cruise, ballistic in turn).

    `criterion` scores the drone block (`sim.analysis.calibrate.CRITERIA`; missiles are always
    fitted by likelihood). Standard errors (inverse Hessian of the objective) are computed when
    `errors` is true, for drones only with the likelihood. If the reference night is among the
    nights and `anchor_check` > 0, the drone fit is checked on it with that many replications
    of the full model and refitted once with the model-minus-emulator difference of its mean
    (`anchor_model_offset`).
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
        if block == "drone" and objective.anchor.any() and anchor_check > 0:
            # the anchor holds the emulated mean; check it with the model itself and refit
            # the drones with the difference, so that the model reproduces the reference night
            objective.anchor_offset = anchor_model_offset(
                objective, with_parameters(start, values), anchor_check, seed
            )
            if progress:
                print(f"calibrate: reference night: model - emulator = "
                      f"{objective.anchor_offset:+.2f} drones; refitting the drones",
                      file=sys.stderr, flush=True)  # fmt: skip
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
        sha256=file_sha256(data) if data and Path(data).is_file() else "",
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
