"""A run's summary: ``summary.json`` from the runs table, and its plain-text report for the
terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from sim.results.files import jsonable
from sim.results.statistics import describe, finite_or_none, mean_ci, runs_column
from sim.results.tables import text_table
from sim.vocab import (
    CLASSES,
    GROUP_LABELS,
    OUTCOME_LABELS,
    REPORTED_CLASSES,
)

# Outcomes summarised in summary["outcomes"], in report order.
SUMMARY_OUTCOMES: tuple[str, ...] = ("intercepted", "shot_down", "suppressed", "leaked", "failed")
DEFENCE_METRICS: tuple[str, ...] = ("shots", "kills", "cost_usd")
TARGET_METRICS: tuple[str, ...] = ("hits", "killed", "injured", "buildings")
_TABLE_OUTCOMES = ("shot_down", "suppressed", "intercepted", "leaked", "failed")


def _suffixes(columns: Iterable[str], prefix: str) -> list[str]:
    """Return names after ``prefix.`` in column order, to discover defence types and targets."""
    head = prefix + "."
    return [c[len(head) :] for c in columns if isinstance(c, str) and c.startswith(head)]


def _ordered_union(*lists: list[str]) -> list[str]:
    """Merge name lists keeping first-seen order, so reports follow the table's column order."""
    seen: dict[str, None] = {}
    for names in lists:
        for name in names:
            seen.setdefault(name, None)
    return list(seen)


def _launched_mean(values: np.ndarray) -> int | float:
    """Return the launched mean, as an int when every replication launched the same count."""
    if values.size and np.all(values == values[0]) and float(values[0]).is_integer():
        return int(values[0])
    return float(np.mean(values))


def summarise_runs(
    runs: pd.DataFrame,
    *,
    scenario: str,
    seed: int,
    observed: dict | None = None,
) -> dict:
    """Aggregate the per-replication runs table into the JSON-serialisable summary.json dict."""
    if len(runs) == 0:
        raise ValueError("runs table is empty; nothing to summarise")

    launched = {cls: runs_column(runs, f"launched.{cls}") for cls in CLASSES}
    launched_total = runs_column(runs, "launched.total")
    active = [cls for cls in CLASSES if np.any(launched[cls] > 0)]

    summary: dict[str, Any] = {
        "scenario": str(scenario),
        "replications": len(runs),
        "seed": int(seed),
        "launched": {"total": _launched_mean(launched_total)},
    }
    for cls in CLASSES:
        summary["launched"][cls] = _launched_mean(launched[cls])

    outcomes: dict[str, Any] = {}
    for outcome in SUMMARY_OUTCOMES:
        entry: dict[str, Any] = describe(runs_column(runs, f"{outcome}.total"))
        entry["by_class"] = {cls: describe(runs_column(runs, f"{outcome}.{cls}")) for cls in active}
        entry["by_reported_class"] = {
            group: describe(sum(runs_column(runs, f"{outcome}.{cls}") for cls in members))
            for group, members in REPORTED_CLASSES.items()
        }
        outcomes[outcome] = entry
    summary["outcomes"] = outcomes

    intercepted_total = runs_column(runs, "intercepted.total")
    has_launch = launched_total > 0
    rate = intercepted_total[has_launch] / launched_total[has_launch]
    rate_stats = describe(rate)
    if rate.size:
        lo, hi = mean_ci(rate, 0.95)
        ci95: list[float | None] = [finite_or_none(lo), finite_or_none(hi)]
    else:
        ci95 = [None, None]
    summary["intercept_rate"] = {
        "mean": rate_stats["mean"],
        "ci95": ci95,
        "p05": rate_stats["p05"],
        "p50": rate_stats["p50"],
        "p95": rate_stats["p95"],
    }

    columns = list(runs.columns)
    defence_types = _ordered_union(*(_suffixes(columns, m) for m in DEFENCE_METRICS))
    summary["defence"] = {
        dtype: {
            metric: describe(runs_column(runs, f"{metric}.{dtype}"))
            for metric in DEFENCE_METRICS
            if f"{metric}.{dtype}" in runs.columns
        }
        for dtype in defence_types
    }
    summary["cost_usd"] = {
        side: describe(runs_column(runs, f"{side}_cost_usd"))
        for side in ("defender", "attacker")
        if f"{side}_cost_usd" in runs.columns
    }
    targets = _ordered_union(*(_suffixes(columns, m) for m in TARGET_METRICS))
    summary["targets"] = {
        target: {
            metric: describe(runs_column(runs, f"{metric}.{target}"))
            for metric in TARGET_METRICS
            if f"{metric}.{target}" in runs.columns
        }
        for target in targets
    }
    if observed is not None:
        summary["observed"] = jsonable(observed)
    return summary


def _fmt_mean(x: float | None) -> str:
    """Format a mean with one decimal, or a dash when it is undefined."""
    return "–" if x is None else f"{x:.1f}"


def _fmt_num(x: float | None) -> str:
    """Format a quantile compactly: integer when whole, else one decimal."""
    if x is None:
        return "–"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _fmt_cell(st: Mapping[str, Any] | None) -> str:
    """Format a describe() dict as 'mean [p05–p95]' (one decimal) for the outcome table."""
    if not st or st.get("mean") is None:
        return "–"
    return f"{_fmt_mean(st['mean'])} [{_fmt_mean(st.get('p05'))}–{_fmt_mean(st.get('p95'))}]"


def _fmt_launched(x: int | float | None) -> str:
    """Format a launched mean: exact when integral, else one decimal."""
    if x is None:
        return "–"
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _fmt_usd(x: float | None) -> str:
    """Format a dollar amount with thousands separators."""
    return "–" if x is None else f"${x:,.0f}"


def _simulated_intercepted(summary: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """Find the simulated intercepted stats matching an observed key (total, group or class)."""
    intercepted = summary.get("outcomes", {}).get("intercepted", {})
    if key == "total":
        return intercepted
    if key in intercepted.get("by_reported_class", {}):
        return intercepted["by_reported_class"][key]
    return intercepted.get("by_class", {}).get(key)


def _simulated_launched(summary: Mapping[str, Any], key: str) -> float | None:
    """Return the simulated launched mean for a total, reported group or class key."""
    launched = summary.get("launched", {})
    if key in REPORTED_CLASSES:
        return float(sum(float(launched.get(c) or 0) for c in REPORTED_CLASSES[key]))
    value = launched.get(key)
    return None if value is None else float(value)


def _observed_lines(summary: Mapping[str, Any]) -> list[str]:
    """Compare observed interceptions with the simulated mean and 90 % interval."""
    observed = summary.get("observed") or {}
    obs_intercepted = observed.get("intercepted")
    if not isinstance(obs_intercepted, Mapping):
        return []
    obs_launched = observed.get("launched") if isinstance(observed.get("launched"), Mapping) else {}
    lines = ["", "observed vs simulated intercepted (90 % interval = p05–p95):"]
    for key, obs in obs_intercepted.items():
        sim = _simulated_intercepted(summary, key)
        label = GROUP_LABELS[key] if key in REPORTED_CLASSES else key
        if obs is None or not sim or sim.get("mean") is None:
            lines.append(f"  {label}: observed {obs}, no simulated value")
            continue
        lo, hi = sim.get("p05"), sim.get("p95")
        inside = lo is not None and hi is not None and lo <= obs <= hi
        verdict = "inside" if inside else "OUTSIDE"
        text = (
            f"  {label}: observed {_fmt_num(float(obs))} vs simulated "
            f"{_fmt_mean(sim['mean'])} [{_fmt_mean(lo)}–{_fmt_mean(hi)}] -> {verdict}"
        )
        if key in obs_launched and obs_launched[key] is not None:
            sim_launched = _simulated_launched(summary, key)
            text += f" (launched: observed {_fmt_launched(float(obs_launched[key]))}"
            text += f", simulated {_fmt_launched(sim_launched)})"
        lines.append(text)
    return lines


def format_summary(summary: dict) -> str:
    """Render a summary dict as a fixed-width plain-text report for the terminal."""
    lines = [
        f"scenario {summary.get('scenario')}: {summary.get('replications')} replications, "
        f"seed {summary.get('seed')}",
        "",
    ]
    launched = summary.get("launched", {})
    outcomes = summary.get("outcomes", {})
    headers = ["class"] + [OUTCOME_LABELS[o] for o in ("launched", *_TABLE_OUTCOMES)]
    rows: list[list[str]] = []
    by_class_keys = list(outcomes.get("intercepted", {}).get("by_class", {}))
    for cls in by_class_keys:
        rows.append(
            [cls, _fmt_launched(launched.get(cls))]
            + [_fmt_cell(outcomes.get(o, {}).get("by_class", {}).get(cls)) for o in _TABLE_OUTCOMES]
        )
    for group, members in REPORTED_CLASSES.items():
        group_launched = sum(float(launched.get(c) or 0) for c in members)
        if group_launched <= 0:
            continue
        rows.append(
            [GROUP_LABELS[group], _fmt_launched(group_launched)]
            + [
                _fmt_cell(outcomes.get(o, {}).get("by_reported_class", {}).get(group))
                for o in _TABLE_OUTCOMES
            ]
        )
    rows.append(
        ["total", _fmt_launched(launched.get("total"))]
        + [_fmt_cell(outcomes.get(o)) for o in _TABLE_OUTCOMES]
    )
    lines.extend(text_table(headers, rows))

    rate = summary.get("intercept_rate") or {}
    ci = rate.get("ci95") or [None, None]
    lines.append("")
    if rate.get("mean") is None:
        lines.append("intercept rate: n/a")
    else:
        ci_text = (
            f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f} %"
            if ci[0] is not None and ci[1] is not None
            else "n/a"
        )
        lines.append(f"intercept rate: {100 * rate['mean']:.1f} % (95 % CI {ci_text})")

    defence = summary.get("defence") or {}
    if defence:
        lines.append("")
        rows = [
            [
                dtype,
                _fmt_mean(m.get("shots", {}).get("mean")),
                _fmt_mean(m.get("kills", {}).get("mean")),
                _fmt_usd(m.get("cost_usd", {}).get("mean")),
            ]
            for dtype, m in defence.items()
        ]
        lines.extend(text_table(["defence (mean)", "shots", "kills", "cost"], rows))

    cost = summary.get("cost_usd") or {}
    if cost:
        parts = [f"{side} {_fmt_usd(st.get('mean'))}" for side, st in cost.items()]
        lines.append("")
        lines.append("cost (mean): " + ", ".join(parts))

    targets = summary.get("targets") or {}
    if targets:
        lines.append("")
        rows = [
            [target] + [_fmt_mean(m.get(metric, {}).get("mean")) for metric in TARGET_METRICS]
            for target, m in targets.items()
        ]
        lines.extend(text_table(["target (mean)", *TARGET_METRICS], rows))

    lines.extend(_observed_lines(summary))
    return "\n".join(lines) + "\n"
