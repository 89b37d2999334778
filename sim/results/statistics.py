"""Statistics of replications: mean, sd and quantiles, the t interval of the mean, and the
per-design-point statistics of a sweep's summary.csv.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.vocab import (
    CLASSES,
    REPORTED_CLASSES,
)

STAT_KEYS: tuple[str, ...] = ("mean", "sd", "p05", "p50", "p95")


def finite_or_none(x: Any) -> float | None:
    """Return x as a plain float, or None for NaN/inf, because JSON has no NaN."""
    value = float(x)
    return value if math.isfinite(value) else None


def describe(values: Iterable[float] | np.ndarray | pd.Series) -> dict[str, float | None]:
    """Return mean, sd (ddof=1) and 5/50/95 % quantiles as plain floats for JSON reports."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        return dict.fromkeys(STAT_KEYS)
    sd = float(np.std(arr, ddof=1)) if arr.size > 1 else 0.0
    p05, p50, p95 = np.quantile(arr, [0.05, 0.5, 0.95])
    return {
        "mean": finite_or_none(np.mean(arr)),
        "sd": finite_or_none(sd),
        "p05": finite_or_none(p05),
        "p50": finite_or_none(p50),
        "p95": finite_or_none(p95),
    }


def mean_ci(
    values: Iterable[float] | np.ndarray | pd.Series, level: float = 0.95
) -> tuple[float, float]:
    """Return the Student-t confidence interval of the mean, to quantify Monte Carlo error."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(np.mean(arr))
    if arr.size < 2:
        return (mean, mean)
    sd = float(np.std(arr, ddof=1))
    if not math.isfinite(sd) or sd == 0.0:
        return (mean, mean)
    lo, hi = stats.t.interval(level, df=arr.size - 1, loc=mean, scale=sd / math.sqrt(arr.size))
    return (float(lo), float(hi))


def runs_column(runs: pd.DataFrame, name: str) -> np.ndarray:
    """Return a runs column as a float array, failing clearly if the contract is broken."""
    if name not in runs.columns:
        raise KeyError(f"runs table has no column {name!r}")
    return runs[name].to_numpy(dtype=float)


# summary.csv: metric x group x statistic columns, named "<metric>.<group>.<stat>"
SWEEP_METRICS: tuple[str, ...] = ("intercept_rate", "intercepted", "leaked")
SWEEP_STATS: tuple[str, ...] = ("mean", "sd", "ci95_low", "ci95_high", "p05", "p50", "p95")
# "drones" are drones with decoys and "missiles" every missile class, as the Air Force reports
SWEEP_GROUPS: dict[str, tuple[str, ...]] = {
    "total": CLASSES,
    **{cls: (cls,) for cls in CLASSES},
    "drones": REPORTED_CLASSES["drone"],
    "missiles": REPORTED_CLASSES["missile"],
}


def point_stats(values: np.ndarray) -> dict[str, float]:
    """describe() plus the 95 % CI of the mean, as floats (NaN when undefined)."""
    base = describe(values)
    lo, hi = mean_ci(values, 0.95) if values.size else (math.nan, math.nan)
    out = {
        "mean": base["mean"],
        "sd": base["sd"],
        "ci95_low": lo,
        "ci95_high": hi,
        "p05": base["p05"],
        "p50": base["p50"],
        "p95": base["p95"],
    }
    return {k: math.nan if v is None else float(v) for k, v in out.items()}


def sweep_point_stats(runs: pd.DataFrame) -> dict[str, float]:
    """Statistics of one design point's replications, the columns of a summary.csv row.

    For every group (``total``, each class, ``drones`` = drone + decoy, ``missiles``):
    ``launched.<group>`` (mean launched) and, for intercepted, leaked and intercept rate
    (intercepted / launched, over replications that launched at least one of the group),
    ``<metric>.<group>.<stat>`` with stat in mean, sd (ddof 1), ci95_low / ci95_high
    (Student-t 95 % interval of the mean), p05, p50, p95.
    """
    if len(runs) == 0:
        raise ValueError("no replications to summarise")
    counts = {
        (outcome, cls): runs_column(runs, f"{outcome}.{cls}")
        for outcome in ("launched", "intercepted", "leaked")
        for cls in CLASSES
    }

    def total(outcome: str, members: tuple[str, ...]) -> np.ndarray:
        return np.sum([counts[outcome, cls] for cls in members], axis=0)

    row: dict[str, float] = {}
    for group, members in SWEEP_GROUPS.items():
        row[f"launched.{group}"] = float(np.mean(total("launched", members)))
    for metric in SWEEP_METRICS:
        for group, members in SWEEP_GROUPS.items():
            if metric == "intercept_rate":
                launched = total("launched", members)
                keep = launched > 0
                values = total("intercepted", members)[keep] / launched[keep]
            else:
                values = total(metric, members)
            for stat, value in point_stats(np.asarray(values, dtype=float)).items():
                row[f"{metric}.{group}.{stat}"] = value
    return row


def metric_stats(values: np.ndarray, replications: int) -> dict[str, float]:
    """`n` (replications with a value), `share` (n / replications) and the statistics of the
    values that are there (NaN and missing left out): mean, sd, 95 % CI of the mean, 5/50/95 %
    quantiles."""
    arr = np.asarray(values, dtype=float)
    finite = arr[np.isfinite(arr)]
    out = {"n": float(finite.size), "share": finite.size / replications if replications else 0.0}
    out.update(point_stats(finite))
    return out


def totals_stats(runs: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Statistics (`metric_stats`) of every total, in column order. For `ran_out_day.<type>`
    `share` is the share of replications in which the type ran out and the statistics are
    those of its run-out day among them (`p50`: the median day)."""
    reps = len(runs)
    skip = {"point", "replication", "seed"}
    return {
        column: metric_stats(runs[column].to_numpy(dtype=float, na_value=np.nan), reps)
        for column in runs.columns
        if column not in skip and runs[column].dtype != object
    }
