"""A campaign against the months that happened: simulated month by month (median and 90 %
band over replications) beside the observed nights of the same months.

Both sides count only nights with at least 30 threats launched, the definition of a night in
the observed data (`../shared/data/README.md`). Intercept rates are pooled per month
(intercepted / launched over the month's nights) and, as the row ``all``, over the whole
window. The observed rates come from the nights CSV, a sample of the nights; the observed
threats and nights per month come from the full monthly counts when they are given
(`sim.spec.observed.read_month_counts`), since the sample holds only some of the nights.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sim.results.files import write_bytes_atomic
from sim.results.lock import locked_results_folder
from sim.results.tables import text_table
from sim.spec.observed import MIN_THREATS, MonthCounts, days_in_month, nights_between
from sim.vocab import HINDCAST_FILE, NIGHTS_FILE

ALL = "all"  # the row pooled over every month of the window
# rate -> (simulated classes, observed classes): the Air Force counts decoys as drones
RATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "drone_rate": (("drone", "decoy"), ("drone",)),
    "missile_rate": (("cruise", "ballistic", "hypersonic"), ("cruise", "ballistic", "hypersonic")),
    "ballistic_rate": (("ballistic",), ("ballistic",)),
}
COUNTS: tuple[str, ...] = ("threats", "nights")
METRICS: tuple[str, ...] = (*RATES, *COUNTS)
QUANTILES: tuple[float, float, float] = (0.05, 0.5, 0.95)


def _month(dates: pd.Series) -> pd.Series:
    return pd.to_datetime(dates).dt.strftime("%Y-%m")


def simulated_months(nights: pd.DataFrame, *, min_threats: int = MIN_THREATS) -> pd.DataFrame:
    """Per replication and month (and ``all``): nights with at least `min_threats` launched,
    the threats on them, and launched / intercepted of each rate's classes.

    `nights` is a campaign's nights table (nights.parquet: replication x day)."""
    kept = nights[nights["launched"] >= min_threats].copy()
    kept["month"] = _month(kept["date"])
    sums: dict[str, pd.Series] = {"threats": kept["launched"], "nights": kept["launched"] * 0 + 1}
    for rate, (classes, _) in RATES.items():
        sums[f"launched.{rate}"] = kept[[f"launched.{c}" for c in classes]].sum(axis=1)
        sums[f"intercepted.{rate}"] = kept[[f"intercepted.{c}" for c in classes]].sum(axis=1)
    frame = pd.DataFrame(sums).assign(replication=kept["replication"], month=kept["month"])
    months = sorted(_month(nights["date"]).unique())
    replications = sorted(nights["replication"].unique())
    grid = pd.MultiIndex.from_product([replications, months], names=["replication", "month"])
    monthly = frame.groupby(["replication", "month"]).sum().reindex(grid, fill_value=0)
    pooled = monthly.groupby(level="replication").sum()
    pooled.index = pd.MultiIndex.from_product([replications, [ALL]], names=monthly.index.names)
    return pd.concat([monthly, pooled]).reset_index()


def observed_months(
    observed: pd.DataFrame,
    months: list[str],
    month_counts: MonthCounts | None = None,
    *,
    min_threats: int = MIN_THREATS,
) -> pd.DataFrame:
    """Per month of `months` (and ``all``): the observed intercept rates from the nights
    (`sim.spec.observed.load_nights`) with at least `min_threats` launched, and the threats
    and nights from `month_counts` (`sim.spec.observed.read_month_counts`; NaN where a month
    is not in them, or without them)."""
    kept = observed[observed["launched.total"] >= min_threats].copy()
    kept["month"] = _month(kept["date"])
    kept = kept[kept["month"].isin(months)]
    rows = []
    for month in [*months, ALL]:
        part = kept if month == ALL else kept[kept["month"] == month]
        row: dict[str, object] = {"month": month, "sample_nights": len(part)}
        for rate, (_, classes) in RATES.items():
            launched = part[[f"launched.{c}" for c in classes]].to_numpy().sum()
            intercepted = part[[f"intercepted.{c}" for c in classes]].to_numpy().sum()
            row[rate] = intercepted / launched if launched else np.nan
        for count in COUNTS:
            row[count] = _full_count(month_counts, months if month == ALL else [month], count)
        rows.append(row)
    return pd.DataFrame(rows)


def _full_count(counts: MonthCounts | None, months: list[str], what: str) -> float:
    if counts is None or any(m not in counts for m in months):
        return np.nan
    return float(sum(getattr(counts[m], what) for m in months))


def compare_months(simulated: pd.DataFrame, observed: pd.DataFrame) -> pd.DataFrame:
    """One row per month and metric: the simulated 5 / 50 / 95 % over replications (a rate
    pooled within each replication's month), the observed value and whether it is inside."""
    rows = []
    for month, part in simulated.groupby("month", sort=False):
        obs = observed.set_index("month").loc[month] if month in set(observed["month"]) else None
        for metric in METRICS:
            if metric in RATES:
                launched = part[f"launched.{metric}"].to_numpy(dtype=float)
                with np.errstate(invalid="ignore", divide="ignore"):
                    values = part[f"intercepted.{metric}"].to_numpy(dtype=float) / launched
                values = values[launched > 0]
            else:
                values = part[metric].to_numpy(dtype=float)
            p05, p50, p95 = np.quantile(values, QUANTILES) if values.size else (np.nan,) * 3
            value = float(obs[metric]) if obs is not None else np.nan
            inside = bool(p05 <= value <= p95) if np.isfinite(value) and values.size else None
            rows.append({"month": month, "metric": metric, "p05": p05, "p50": p50, "p95": p95,
                         "observed": value, "inside": inside,
                         "replications": int(values.size)})  # fmt: skip
    months = [*sorted(set(simulated["month"]) - {ALL}), ALL]
    table = pd.DataFrame(rows)
    table["month"] = pd.Categorical(table["month"], categories=months, ordered=True)
    table["metric"] = pd.Categorical(table["metric"], categories=METRICS, ordered=True)
    table = table.sort_values(["month", "metric"]).reset_index(drop=True)
    return table.astype({"month": str, "metric": str})


def hindcast(
    folder: str | Path,
    observed: pd.DataFrame,
    month_counts: MonthCounts | None = None,
    *,
    write: bool = True,
) -> pd.DataFrame:
    """Compare the campaign results folder `folder` month by month with the observed nights of
    the campaign's months; with `write`, save the table as ``hindcast.csv`` in the folder."""
    folder = Path(folder)
    nights = pd.read_parquet(folder / NIGHTS_FILE)
    start, end = pd.to_datetime(nights["date"]).min(), pd.to_datetime(nights["date"]).max()
    window = nights_between(
        observed, start.date(), (end + pd.Timedelta(days=1)).date(), what="observed nights"
    )
    simulated = simulated_months(nights)
    months = sorted(set(simulated["month"]) - {ALL})
    table = compare_months(simulated, observed_months(window, months, month_counts))
    covered = _month(pd.Series(pd.to_datetime(nights["date"]).unique())).value_counts()
    table["days"] = table["month"].map(lambda m: int(covered.sum() if m == ALL else covered[m]))
    if write:
        with locked_results_folder(folder):  # not while another salvo replaces the folder
            write_bytes_atomic(folder / HINDCAST_FILE, table.to_csv(index=False).encode("utf-8"))
    return table


def check_observed_window(observed: pd.DataFrame, start: dt.date, days: int) -> None:
    """OptionError unless some observed night falls in the campaign's calendar (checked before
    a campaign runs, so a mistaken --observed file costs nothing)."""
    end = start + dt.timedelta(days=days)
    nights_between(observed, start, end, what="observed nights in the campaign")


LABELS: Mapping[str, str] = {
    "drone_rate": "drone intercept rate",
    "missile_rate": "missile intercept rate",
    "ballistic_rate": "ballistic intercept rate",
    "threats": "threats launched (nights >= 30)",
    "nights": "nights with >= 30 threats",
}


def format_hindcast(table: pd.DataFrame) -> str:
    """The comparison as a text table: per metric and month, simulated median [5-95 %] and
    observed, and how many months fall inside the band."""
    lines = ["simulated (median [5–95 %] over replications) against observed, nights >= 30:"]
    months = list(dict.fromkeys(table["month"]))
    for metric in METRICS:
        part = table[table["metric"] == metric].set_index("month")
        is_rate = metric in RATES
        rows = []
        for month in months:
            r = part.loc[month]
            if is_rate:
                sim = f"{100 * r.p50:.1f} [{100 * r.p05:.1f}–{100 * r.p95:.1f}] %"
                obs = "–" if not np.isfinite(r.observed) else f"{100 * r.observed:.1f} %"
            else:
                sim = f"{r.p50:,.0f} [{r.p05:,.0f}–{r.p95:,.0f}]"
                obs = "–" if not np.isfinite(r.observed) else f"{r.observed:,.0f}"
            verdict = {True: "inside", False: "OUTSIDE"}.get(r.inside, "")
            rows.append([month, sim, obs, verdict])
        monthly = part.drop(index=ALL, errors="ignore")
        inside = int(monthly["inside"].eq(True).sum())
        judged = int(monthly["inside"].notna().sum())
        lines += ["", f"{LABELS[metric]}: {inside} of {judged} months inside the 90 % band"]
        lines += text_table(["month", "simulated", "observed", ""], rows)
    if "days" in table:
        days = table.drop_duplicates("month").set_index("month")["days"]
        partial = [f"{m} ({days[m]} of {days_in_month(m)} days)" for m in months
                   if m != ALL and days[m] < days_in_month(m)]  # fmt: skip
        if partial:
            lines += ["", "the campaign covers part of " + ", ".join(partial) + "; the observed "
                      "counts are of whole months"]  # fmt: skip
    return "\n".join(lines) + "\n"
