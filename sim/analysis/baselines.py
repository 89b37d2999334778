"""Statistical baselines: predictors of a night's intercepted counts fitted to observed nights,
the peers the calibrated model is scored against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.spec.observed import SCORED


@dataclass
class QuarterlyRateBaseline:
    """Per class, the pooled intercept rate of each calendar quarter of the fitting nights
    (the overall rate where a quarter has few launches), with the 5-95 % quantiles of the
    relative residuals of the fitting nights as the interval. The predictor to beat."""

    rates: dict[str, dict[str, float]]  # class -> quarter -> rate
    overall: dict[str, float]
    residual_q05: dict[str, float]
    residual_q95: dict[str, float]
    min_launches: int = 50

    @classmethod
    def fit(cls, nights: pd.DataFrame, *, min_launches: int = 50) -> QuarterlyRateBaseline:
        """Fit on observed nights (as from `load_nights`)."""
        rates: dict[str, dict[str, float]] = {}
        overall: dict[str, float] = {}
        q05: dict[str, float] = {}
        q95: dict[str, float] = {}
        for c in SCORED:
            launched, intercepted = nights[f"launched.{c}"], nights[f"intercepted.{c}"]
            overall[c] = float(intercepted.sum() / launched.sum()) if launched.sum() else 0.0
            grouped = nights.groupby("quarter")[[f"launched.{c}", f"intercepted.{c}"]].sum()
            rates[c] = {
                quarter: float(row.iloc[1] / row.iloc[0])
                for quarter, row in grouped.iterrows()
                if row.iloc[0] >= min_launches
            }
            model = cls(rates, overall, {}, {}, min_launches)
            expected = model.expected(nights, c)
            used = expected > 0
            residual = (intercepted[used] - expected[used]) / expected[used]
            q05[c] = float(np.quantile(residual, 0.05)) if used.any() else 0.0
            q95[c] = float(np.quantile(residual, 0.95)) if used.any() else 0.0
        return cls(rates, overall, q05, q95, min_launches)

    def rate(self, cls: str, quarter: str) -> float:
        """The fitted rate of a class in a quarter (overall rate if the quarter is thin)."""
        return self.rates[cls].get(quarter, self.overall[cls])

    def expected(self, nights: pd.DataFrame, cls: str) -> pd.Series:
        """Median prediction: launched x rate of the night's quarter."""
        rate = nights["quarter"].map(lambda q: self.rate(cls, q))
        return nights[f"launched.{cls}"] * rate

    def predict(self, nights: pd.DataFrame) -> pd.DataFrame:
        """Median and 5-95 % interval per class, clipped to [0, launched]."""
        out = pd.DataFrame(index=nights.index)
        for c in SCORED:
            median = self.expected(nights, c)
            launched = nights[f"launched.{c}"]
            out[f"median.{c}"] = median
            out[f"p05.{c}"] = (median * (1 + self.residual_q05[c])).clip(lower=0, upper=launched)
            out[f"p95.{c}"] = (median * (1 + self.residual_q95[c])).clip(lower=0, upper=launched)
        return out
