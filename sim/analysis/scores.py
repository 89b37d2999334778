"""Scores of predictive intervals against observed counts."""

from __future__ import annotations

import numpy as np


def interval_scores(
    observed: np.ndarray, median: np.ndarray, low: np.ndarray, high: np.ndarray
) -> dict[str, float]:
    """Coverage of the interval, its mean width, and the mean absolute error of the median."""
    observed, median = np.asarray(observed, float), np.asarray(median, float)
    low, high = np.asarray(low, float), np.asarray(high, float)
    if len(observed) == 0:
        return {
            "coverage90": float("nan"),
            "mean_width90": float("nan"),
            "mae_median": float("nan"),
        }
    inside = (observed >= low) & (observed <= high)
    return {
        "coverage90": float(inside.mean()),
        "mean_width90": float((high - low).mean()),
        "mae_median": float(np.abs(observed - median).mean()),
    }
