"""The parameters by name, and the per-quarter posture at any date (interpolated)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.spec.calibration import QUARTERLY, Calibration, Posture


def flat_parameters(calibration: Calibration) -> dict[str, float]:
    """Every parameter by name: scalars, `deep.<class>.<logit|slope|rsd>`, `<key>@Q` for the
    posture keys (`focus@Q` only if the builder has focus groups)."""
    p = calibration.parameters
    has_focus = any(b.focus for b in calibration.builder.buckets.values())
    out = {"mfg_pk": p.mfg_pk, "mfg_pk_rsd": p.mfg_pk_rsd, "reach_rsd": p.reach_rsd}
    out["ew_rsd"] = p.ew_rsd
    for cls, deep in p.deep.items():
        for key in ("logit", "slope", "rsd"):
            out[f"deep.{cls}.{key}"] = getattr(deep, key)
    for quarter, posture in sorted(calibration.posture.items()):
        for key in QUARTERLY:
            if key != "focus" or has_focus:
                out[f"{key}@{quarter}"] = getattr(posture, key)
    return out


def with_parameters(calibration: Calibration, values: Mapping[str, float]) -> Calibration:
    """A copy with the named parameters set (names as in `flat_parameters`)."""
    data = calibration.model_dump()
    for name, value in values.items():
        value = float(value)
        if "@" in name:
            key, quarter = name.split("@", 1)
            data["posture"][quarter][key] = value
        elif name.startswith("deep."):
            _, cls, key = name.split(".")
            data["parameters"]["deep"][cls][key] = value
        else:
            data["parameters"][name] = value
    return Calibration.model_validate(data)


def reshape_posture(calibration: Calibration, quarters: Sequence[str]) -> Calibration:
    """The same calibration with its posture table over `quarters` (values interpolated)."""
    table = {}
    for quarter in quarters:
        at = posture_at(calibration, quarter_midpoint(quarter))
        table[quarter] = Posture(**at)
    return calibration.model_copy(update={"posture": table})


def quarter_midpoint(quarter: str) -> pd.Timestamp:
    """The middle of a calendar quarter."""
    period = pd.Period(quarter, freq="Q")
    return period.start_time + (period.end_time - period.start_time) / 2


def quarters_between(first: pd.Timestamp, last: pd.Timestamp) -> list[str]:
    """Every calendar quarter from the one of `first` to the one of `last`."""
    periods = pd.period_range(pd.Timestamp(first).to_period("Q"), pd.Timestamp(last).to_period("Q"))
    return [str(p) for p in periods]


def interpolation_weights(quarters: Sequence[str], dates: Sequence[pd.Timestamp]) -> np.ndarray:
    """(dates, quarters) weights: linear between quarter midpoints, flat outside."""
    mids = np.array([quarter_midpoint(q).value for q in quarters], dtype=float)
    order = np.argsort(mids)
    mids = mids[order]
    t = np.array([pd.Timestamp(d).value for d in dates], dtype=float)
    weights = np.zeros((len(t), len(quarters)))
    for k, x in enumerate(t):
        if x <= mids[0] or len(mids) == 1:
            weights[k, order[0] if x <= mids[0] else order[-1]] = 1.0
        elif x >= mids[-1]:
            weights[k, order[-1]] = 1.0
        else:
            j = int(np.searchsorted(mids, x)) - 1
            frac = (x - mids[j]) / (mids[j + 1] - mids[j])
            weights[k, order[j]] = 1.0 - frac
            weights[k, order[j + 1]] = frac
    return weights


def posture_at(calibration: Calibration, date: Any) -> dict[str, float]:
    """The posture on a date (linear between quarter midpoints, flat outside)."""
    quarters = sorted(calibration.posture)
    w = interpolation_weights(quarters, [pd.Timestamp(date)])[0]
    return {
        key: float(sum(w[j] * getattr(calibration.posture[q], key) for j, q in enumerate(quarters)))
        for key in QUARTERLY
    }
