"""Scores of predictive intervals against observed counts.

The interval score of a central (1 - alpha) interval [l, u] for an observation y is
(u - l) + (2 / alpha) (l - y) [y < l] + (2 / alpha) (y - u) [y > u] (Gneiting & Raftery 2007,
"Strictly proper scoring rules, prediction, and estimation", JASA 102, eq. 43): the width,
plus a penalty for a miss that grows with its distance. Lower is better; it rewards an
interval that is narrow and covers, where coverage or width alone can be gamed.
"""

from __future__ import annotations

import numpy as np

ALPHA = 0.1  # the 5-95 % interval


def interval_score(
    observed: np.ndarray, low: np.ndarray, high: np.ndarray, alpha: float = ALPHA
) -> np.ndarray:
    """The interval score of each observation against its central (1 - alpha) interval."""
    observed, low, high = (np.asarray(a, float) for a in (observed, low, high))
    below = np.clip(low - observed, 0.0, None)
    above = np.clip(observed - high, 0.0, None)
    return (high - low) + (2.0 / alpha) * (below + above)


def interval_scores(
    observed: np.ndarray, median: np.ndarray, low: np.ndarray, high: np.ndarray
) -> dict[str, float]:
    """Coverage of the 90 % interval, its mean width, its mean interval score, and the mean
    absolute error of the median."""
    observed, median = np.asarray(observed, float), np.asarray(median, float)
    low, high = np.asarray(low, float), np.asarray(high, float)
    if len(observed) == 0:
        return {
            "coverage90": float("nan"),
            "mean_width90": float("nan"),
            "interval_score90": float("nan"),
            "mae_median": float("nan"),
        }
    inside = (observed >= low) & (observed <= high)
    return {
        "coverage90": float(inside.mean()),
        "mean_width90": float((high - low).mean()),
        "interval_score90": float(interval_score(observed, low, high).mean()),
        "mae_median": float(np.abs(observed - median).mean()),
    }
