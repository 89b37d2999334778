"""Reports of results folders (``salvo report``): report.md (figures linked) and a
self-contained report.html with what was run, the summary tables and the figures.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.results.summary import format_summary
from sim.viz.campaign import (
    CAMPAIGN_KIND,
    CampaignResults,
    ran_out_days,
    read_campaign,
    replication_totals,
)
from sim.viz.campaign_sweep import (
    CAMPAIGN_SWEEP_KIND,
    CampaignSweepResults,
    read_campaign_sweep,
    value_text,
)
from sim.viz.readers import (
    SweepResults,
    experiment_name,
    read_csv,
    read_optional_json,
    read_run,
    read_sweep,
)
from sim.viz.registry import plot_results, select_kinds
from sim.viz.style import DEFAULT_DPI, usd_text
from sim.vocab import (
    GROUP_LABELS,
    MANIFEST_FILE,
    NIGHTS_FILE,
    REPORT_HTML,
    REPORT_MD,
    RUNS_FILE,
    SENSITIVITY_FILE,
    SUMMARY_FILE,
    SWEEP_SUMMARY_FILE,
)

_CAPTIONS = {
    "intercepted": "Threats intercepted per night (shot down + suppressed): the distribution "
    "over the simulated nights, its mean and 5–95 % range, and the observed count where the "
    "scenario records one.",
    "leaked": "Leakers per night by threat class: threats that reached their aim point.",
    "defence": "Interceptors fired, kills and the cost of the rounds fired per night, by defence "
    "type (mean; whiskers span 5–95 % of nights).",
    "night-map": "One simulated night: routes flown, defence envelopes (drone engagement "
    "radius) and where each threat ended.",
    "sweep-line": "Intercept rate and leakers against the varied parameter, as the Air Force "
    "reports (all threats, drones incl. decoys, missiles): mean over nights, 95 % confidence "
    "interval of the mean and 5–95 % of nights.",
    "sweep-classes": "Intercept rate and leakers against the varied parameter, one line per "
    "threat class (mean over nights; band: 95 % confidence interval of the mean).",
    "sweep-heatmap": "Mean intercept rate and mean leakers per night over the two varied "
    "parameters.",
    "sweep-scatter": "Every design point's mean intercept rate and leakers (95 % confidence "
    "interval) against each varied parameter.",
    "sobol": "First-order (S1) and total (ST) Sobol' indices of the per-point means with 95 % "
    "confidence intervals, sorted by ST.",
    "campaign-stock": "Interceptor stock by type after each night, one panel per type on its own "
    "scale (median over replications, band: 5–95 % of replications).",
    "campaign-intercept-rate": "Intercept rate per night (intercepted per launched) with mass "
    "nights marked; below, threats launched and leakers per night (median, 5–95 % band).",
    "campaign-spend": "Cumulative spend of each side: the value of the interceptors fired and of "
    "the threats launched, and the money each side put into supply (median, 5–95 % band).",
    "campaign-cost-exchange": "Cumulative defender spend (interceptors fired) per cumulative "
    "attacker spend (threats launched), and per threat intercepted (median, 5–95 % band).",
    "campaign-ran-out": "The first day each interceptor stock was empty after the night, one dot "
    "per replication, and the share of replications in which it ran out.",
    "campaign-sweep-line": "Campaign intercept rate over all nights and over mass nights, and "
    "the cost-exchange ratio, against the varied parameter: mean over replications, 95 % "
    "confidence interval of the mean, 5–95 % of replications and each replication.",
    "campaign-sweep-ran-out": "Share of replications in which each interceptor stock ran out "
    "(band: 95 % Wilson interval) and the day it did (median, whiskers 5–95 % of the "
    "replications that ran out), against the varied parameter.",
    "campaign-sweep-heatmap": "Mean campaign intercept rate and mean cost-exchange ratio over "
    "the two varied parameters.",
    "campaign-sweep-scatter": "Every design point's mean campaign intercept rate (all nights, "
    "mass nights) and cost-exchange ratio (95 % confidence interval) against each parameter.",
}
MAX_SWEEP_ROWS = 40


@dataclass
class Report:
    """The report's content, rendered to Markdown and HTML."""

    title: str
    intro: str
    manifest_rows: list[tuple[str, str]] = field(default_factory=list)
    summary_text: str | None = None
    observed_header: list[str] = field(default_factory=list)
    observed_rows: list[list[str]] = field(default_factory=list)
    tables: list[tuple[str, str, list[str], list[list[str]]]] = field(default_factory=list)
    # (heading, text above, header, rows): the design points of a sweep, Sobol' indices
    figures: list[tuple[str, Path]] = field(default_factory=list)  # (caption, path)
    notes: list[str] = field(default_factory=list)

    def add_provenance(self, manifest: Mapping[str, Any] | None) -> None:
        """The manifest's rows, or a note that the folder has none."""
        if manifest is not None:
            self.manifest_rows = manifest_rows(manifest)
        else:
            self.notes.append(f"{MANIFEST_FILE} is missing: the provenance is unknown.")


# --------------------------------------------------------------------------- content


def _short(text: Any, n: int = 12) -> str:
    text = str(text)
    return text if len(text) <= n else text[:n]


def manifest_rows(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The essentials of manifest.json as (label, value) rows."""
    rows: list[tuple[str, str]] = []
    if "command" in manifest:
        rows.append(("command", f"salvo {manifest['command']}"))
    for role, entry in (manifest.get("inputs") or {}).items():
        if isinstance(entry, Mapping):
            sha = entry.get("sha256")
            rows.append(
                (
                    f"input: {role}",
                    f"{entry.get('path')}" + (f" (sha256 {_short(sha)}…)" if sha else ""),
                )
            )
    for key, label in (
        ("replications", "replications"),
        ("seed", "base seed"),
        ("workers", "workers"),
        ("created_utc", "created (UTC)"),
    ):
        if manifest.get(key) is not None:
            rows.append((label, str(manifest[key])))
    if isinstance(manifest.get("wall_time_s"), int | float):
        rows.append(("wall time", f"{manifest['wall_time_s']:.1f} s"))
    versions = manifest.get("versions") or {}
    if versions:
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    commit = manifest.get("git_commit")
    if commit:
        dirty = manifest.get("git_dirty")
        state = " (uncommitted changes)" if dirty else ""
        rows.append(("git commit", f"{_short(commit)}{state}"))
    return rows


def _simulated(summary: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    intercepted = (summary.get("outcomes") or {}).get("intercepted") or {}
    if key == "total":
        return intercepted
    for table in ("by_reported_class", "by_class"):
        entry = (intercepted.get(table) or {}).get(key)
        if entry:
            return entry
    return None


def _num(x: Any, digits: int = 1) -> str:
    if x is None:
        return "–"
    x = float(x)
    return f"{x:.0f}" if x.is_integer() else f"{x:.{digits}f}"


def observed_table(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Observed versus simulated intercepted counts (and intercept rate), or empty lists."""
    observed = summary.get("observed")
    if not isinstance(observed, Mapping) or not isinstance(observed.get("intercepted"), Mapping):
        return [], []
    launched_obs = observed.get("launched") if isinstance(observed.get("launched"), Mapping) else {}
    header = [
        "intercepted",
        "observed",
        "simulated mean",
        "simulated 90 % range (p05–p95)",
        "observed inside?",
    ]
    rows: list[list[str]] = []
    for key, obs in observed["intercepted"].items():
        sim = _simulated(summary, key)
        label = GROUP_LABELS.get(key, key)
        if key in launched_obs:
            label += f" (of {_num(launched_obs[key])} launched)"
        if obs is None or not sim or sim.get("mean") is None:
            rows.append([label, _num(obs), "–", "–", "no simulated value"])
            continue
        lo, hi = sim.get("p05"), sim.get("p95")
        inside = lo is not None and hi is not None and lo <= float(obs) <= hi
        rows.append(
            [
                label,
                _num(obs),
                _one(sim["mean"]),
                f"{_one(lo)}–{_one(hi)}",
                "yes" if inside else "**no**",
            ]
        )
    rate = summary.get("intercept_rate") or {}
    obs_total, obs_launched = observed["intercepted"].get("total"), launched_obs.get("total")
    if obs_total is not None and obs_launched and rate.get("mean") is not None:
        obs_rate = float(obs_total) / float(obs_launched)
        lo, hi = rate.get("p05"), rate.get("p95")
        inside = lo is not None and hi is not None and lo <= obs_rate <= hi
        rows.append(
            [
                "intercept rate",
                f"{100 * obs_rate:.1f} %",
                f"{100 * rate['mean']:.1f} %",
                f"{100 * lo:.1f}–{100 * hi:.1f} %" if lo is not None and hi is not None else "–",
                "yes" if inside else "**no**",
            ]
        )
    return header, rows


def _pct(x: Any) -> str:
    """A rate as a percentage, clipped to 0–100 (a t interval of few nights can overshoot)."""
    if x is None or not np.isfinite(float(x)):
        return "–"
    return f"{min(100.0, max(0.0, 100 * float(x))):.1f}"


def _one(x: Any) -> str:
    return "–" if x is None or not np.isfinite(float(x)) else f"{float(x):.1f}"


def sweep_table(sweep: SweepResults) -> tuple[str, str, list[str], list[list[str]]]:
    """The design points of a sweep: parameter values, intercept rate and leakers."""
    columns = [str(c) for c in sweep.parameters["column"]]
    header = ["point", *columns, "intercept rate % [95 % CI]", "leakers [5–95 % of nights]"]
    rows = []
    for _, row in sweep.summary.head(MAX_SWEEP_ROWS).iterrows():
        rate = (
            f"{_pct(row['intercept_rate.total.mean'])} "
            f"[{_pct(row.get('intercept_rate.total.ci95_low'))}–"
            f"{_pct(row.get('intercept_rate.total.ci95_high'))}]"
        )
        leaked = (
            f"{_one(row['leaked.total.mean'])} "
            f"[{_one(row.get('leaked.total.p05'))}–{_one(row.get('leaked.total.p95'))}]"
        )
        values = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in (row[c] for c in columns)]
        rows.append([str(int(row["point"])), *values, rate, leaked])
    text = "Mean over the nights of each design point (all threats)."
    if len(sweep.summary) > MAX_SWEEP_ROWS:
        text += (
            f" The first {MAX_SWEEP_ROWS} of {len(sweep.summary)} points; all are in summary.csv."
        )
    return "Design points", text, header, rows


def sensitivity_table(folder: Path) -> tuple[str, str, list[str], list[list[str]]]:
    """Sobol' indices as in sensitivity.csv."""
    sens = read_csv(folder / SENSITIVITY_FILE, ("output", "parameter", "S1", "ST"))
    header = ["output", "parameter", "S1 ± 95 % half-width", "ST ± 95 % half-width"]
    rows = [
        [
            str(r["output"]),
            str(r["parameter"]),
            f"{r['S1']:.3f} ± {r.get('S1_conf', float('nan')):.3f}",
            f"{r['ST']:.3f} ± {r.get('ST_conf', float('nan')):.3f}",
        ]
        for _, r in sens.iterrows()
    ]
    return "Sobol' indices", "First-order (S1) and total (ST) indices.", header, rows


# (column of sim.viz.campaign.replication_totals, label, format)
_CAMPAIGN_TOTALS = (
    ("intercept_rate", "intercept rate, all nights", "pct"),
    ("mass_intercept_rate", "intercept rate, mean of mass nights", "pct"),
    ("launched", "threats launched", "count"),
    ("intercepted", "threats intercepted", "count"),
    ("leaked", "leakers", "count"),
    ("defender_cost_usd", "defender: value of interceptors fired", "usd"),
    ("attacker_cost_usd", "attacker: value of threats launched", "usd"),
    ("cost_exchange", "cost-exchange ratio (defender per attacker US$)", "ratio"),
    ("cost_per_intercept_usd", "defender spend per threat intercepted", "usd"),
    ("drone_ratio_end", "drone ratio at the end (attacker : defender)", "ratio"),
)


def _campaign_value(x: float, how: str) -> str:
    if not np.isfinite(x):
        return "–"
    if how == "pct":
        return f"{100 * x:.1f} %"
    if how == "usd" and abs(x) >= 1e9:
        return f"${x / 1e9:,.2f}B"
    if how == "usd":
        return usd_text(x)
    if how == "ratio":
        return f"{x:.2f}"
    return f"{x:,.0f}"


def campaign_totals_table(
    results: CampaignResults,
) -> tuple[str, str, list[str], list[list[str]]]:
    """Per-replication totals of the campaign: mean, median and 5–95 % of replications."""
    totals = replication_totals(results)
    rows = []
    specs = [
        *_CAMPAIGN_TOTALS,
        *((f"stock.{k}", f"stock at the end: {k}", "count") for k in results.stock_types),
    ]
    for column, label, how in specs:
        if column not in totals:
            continue
        values = totals[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            continue
        p05, p50, p95 = np.quantile(values, [0.05, 0.5, 0.95])
        cells = [_campaign_value(float(v), how) for v in (np.mean(values), p50, p05, p95)]
        rows.append([label, cells[0], cells[1], f"{cells[2]} – {cells[3]}"])
    header = ["over the whole campaign", "mean", "median", "5–95 % of replications"]
    text = f"Totals of each of the {len(totals)} replications, from {NIGHTS_FILE}"
    if results.runs is not None:
        text += f" ({RUNS_FILE} holds every total of each replication)"
    return "Summary", text + ".", header, rows


def campaign_ran_out_table(
    results: CampaignResults,
) -> tuple[str, str, list[str], list[list[str]]]:
    """Per interceptor type: how often and when its stock ran out."""
    table = ran_out_days(results)
    rows = []
    for kind in table.columns:
        days = table[kind].dropna().to_numpy(dtype=float)
        share = f"{len(days)} of {len(table)} ({100 * len(days) / len(table):.0f} %)"
        if len(days) == 0:
            rows.append([kind, share, "never", "–"])
            continue
        p05, p50, p95 = np.quantile(days, [0.05, 0.5, 0.95])
        rows.append([kind, share, f"{p50:.0f}", f"{p05:.0f} – {p95:.0f}"])
    header = ["interceptor type", "ran out in", "median day", "5–95 % of those that ran out"]
    start = f"; day 0 is {results.start}" if results.start else ""
    text = f"The first day its stock was 0 after the night{start}."
    return "When the stocks run out", text, header, rows


def build_campaign_report(folder: Path, results: CampaignResults) -> Report:
    """The report of a ``salvo campaign`` folder, without its figures."""
    report = Report(
        title=f"salvo results: {results.name}",
        intro=f"Campaign `{results.name}`: {results.subtitle().split(' · ', 1)[1]}. "
        f"Results folder `{folder}`.",
    )
    report.add_provenance(results.manifest)
    report.tables += [campaign_totals_table(results), campaign_ran_out_table(results)]
    return report


def _ci_cell(row: Mapping[str, Any], metric: str, how: str) -> str:
    """'mean [ci95_low–ci95_high]' of a campaign-sweep summary.csv metric."""
    values = [row.get(f"{metric}.{s}") for s in ("mean", "ci95_low", "ci95_high")]
    if how == "pct":
        mean, low, high = (_pct(v) for v in values)
        return f"{mean} [{low}–{high}]"
    if values[0] is None or not np.isfinite(float(values[0])):
        return "–"
    mean, low, high = (float(v) if v is not None else float("nan") for v in values)
    low = max(0.0, low) if np.isfinite(low) else low
    return f"{mean:.3f} [{low:.3f}–{high:.3f}]"


def campaign_sweep_table(
    results: CampaignSweepResults,
) -> tuple[str, str, list[str], list[list[str]]]:
    """The design points of a campaign sweep: parameter values, campaign totals, run-outs."""
    columns = [str(c) for c in (*results.parameters["column"], *results.constant["column"])]
    ran_out = results.ran_out()
    kinds = [k for k in results.ran_out_types if ran_out.loc[ran_out["type"] == k, "k"].sum() > 0]
    never = [k for k in results.ran_out_types if k not in kinds]
    header = [
        "point",
        *columns,
        "replications",
        "intercept rate % [95 % CI]",
        "mass-night intercept rate % [95 % CI]",
        "cost exchange [95 % CI]",
        "leakers (mean)",
        "defender spend (mean)",
        "attacker spend (mean)",
        *(f"{k} ran out: share (median day)" for k in kinds),
    ]
    counts = results.replication_counts
    rows = []
    for _, row in results.summary.head(MAX_SWEEP_ROWS).iterrows():
        point = int(row["point"])
        values = [value_text(row[c]) for c in columns]
        cells = [
            str(point),
            *values,
            str(int(counts.get(point, 0))),
            _ci_cell(row, "intercept_rate", "pct"),
            _ci_cell(row, "mass_intercept_rate", "pct"),
            _ci_cell(row, "cost_exchange", "ratio"),
            _campaign_value(float(row.get("leaked.mean", float("nan"))), "count"),
            _campaign_value(float(row.get("defender_cost_usd.mean", float("nan"))), "usd"),
            _campaign_value(float(row.get("attacker_cost_usd.mean", float("nan"))), "usd"),
        ]
        for kind in kinds:
            entry = ran_out[(ran_out["point"] == point) & (ran_out["type"] == kind)]
            if entry.empty:
                cells.append("–")
                continue
            e = entry.iloc[0]
            day = f" (day {e['p50']:.0f})" if e["k"] > 0 else ""
            cells.append(f"{int(e['k'])}/{int(e['n'])}{day}")
        rows.append(cells)
    text = (
        "Totals over the whole campaign, mean over the replications of each design point (95 % "
        "confidence interval of the mean); spend is the value of the interceptors fired and of "
        "the threats launched; a stock ran out when it was 0 after a night."
    )
    if never:
        text += f" Never ran out at any design point: {', '.join(never)}."
    if len(results.summary) > MAX_SWEEP_ROWS:
        text += (
            f" The first {MAX_SWEEP_ROWS} of {len(results.summary)} points; all are in "
            f"{SWEEP_SUMMARY_FILE}."
        )
    return "Design points", text, header, rows


def build_campaign_sweep_report(folder: Path, results: CampaignSweepResults) -> Report:
    """The report of a ``salvo sweep`` of a campaign experiment, without its figures."""
    campaign = f" of campaign `{results.campaign_name}`" if results.campaign_name else ""
    seed = (results.manifest or {}).get("seed")
    seed_text = f", base seed {seed}" if seed is not None else ""
    report = Report(
        title=f"salvo results: {results.experiment_name}",
        intro=f"Campaign sweep `{results.experiment_name}`{campaign}: {len(results.summary)} "
        f"design points × {results.replication_text}{seed_text}. Results folder `{folder}`.",
    )
    report.add_provenance(results.manifest)
    report.tables.append(campaign_sweep_table(results))
    if (folder / SENSITIVITY_FILE).exists():
        report.tables.append(sensitivity_table(folder))
    return report


def _caption(stem: str) -> str:
    if stem.startswith("night-map-"):
        return f"Night map of replication {stem.rsplit('-', 1)[1]}. " + _CAPTIONS["night-map"]
    return _CAPTIONS.get(stem, stem)


def build_report(
    folder: Path | str, *, borders: Path | str | None = None, dpi: int = DEFAULT_DPI
) -> Report:
    """Collect the report of a results folder, drawing missing PNG figures first."""
    folder = Path(folder)
    kinds = select_kinds(folder)  # a folder with nothing recognisable is bad input
    if any(kind.name == CAMPAIGN_SWEEP_KIND for kind in kinds):
        results = read_campaign_sweep(folder)
        report = build_campaign_sweep_report(folder, results)
        paths = plot_results(folder, fmt="png", dpi=dpi, only_missing=True)
        report.figures = [(_caption(p.stem), p) for p in paths]
        return report
    if any(kind.name == CAMPAIGN_KIND for kind in kinds):
        report = build_campaign_report(folder, read_campaign(folder))
        paths = plot_results(folder, fmt="png", dpi=dpi, only_missing=True)
        report.figures = [(_caption(p.stem), p) for p in paths]
        return report
    summary = read_optional_json(folder / SUMMARY_FILE)
    manifest = read_optional_json(folder / MANIFEST_FILE)

    name = (summary or {}).get("scenario") or experiment_name(manifest) or folder.name
    report = Report(title=f"salvo results: {name}", intro="")
    if summary is not None:
        report.intro = (
            f"Scenario `{name}`: {summary.get('replications')} simulated nights, "
            f"base seed {summary.get('seed')}. Results folder `{folder}`."
        )
    else:
        report.intro = f"Results folder `{folder}`."
    report.add_provenance(manifest)
    if summary is not None:
        read_run(folder)  # checks runs.parquet and summary.json before reporting them
        report.summary_text = format_summary(summary)
        report.observed_header, report.observed_rows = observed_table(summary)
    if (folder / SWEEP_SUMMARY_FILE).exists():
        report.tables.append(sweep_table(read_sweep(folder)))
    if (folder / SENSITIVITY_FILE).exists():
        report.tables.append(sensitivity_table(folder))

    paths = plot_results(folder, fmt="png", dpi=dpi, borders=borders, only_missing=True)
    report.figures = [(_caption(p.stem), p) for p in paths]
    return report


# --------------------------------------------------------------------------- rendering


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(esc(c) for c in row) + " |" for row in rows)
    return lines


def render_markdown(report: Report, folder: Path) -> str:
    """The report as Markdown, figures linked relative to the results folder."""
    lines = [f"# {report.title}", "", report.intro, ""]
    if report.manifest_rows:
        lines += ["## What was run", ""]
        lines += _md_table(["", ""], [[k, v] for k, v in report.manifest_rows])
        lines.append("")
    if report.summary_text:
        lines += ["## Summary", "", "Mean over nights [5 %–95 % of nights].", "", "```text"]
        lines += [report.summary_text.rstrip("\n"), "```", ""]
    if report.observed_rows:
        lines += ["## Observed versus simulated", ""]
        lines.append(
            "The observed count is *inside* when it lies within the 5–95 % range of the "
            "simulated nights."
        )
        lines.append("")
        lines += _md_table(report.observed_header, report.observed_rows)
        lines.append("")
    for heading, text, header, rows in report.tables:
        lines += [f"## {heading}", "", text, ""]
        lines += _md_table(header, rows)
        lines.append("")
    if report.figures:
        lines += ["## Figures", ""]
        for caption, path in report.figures:
            rel = path.relative_to(folder).as_posix()
            lines += [f"![{path.stem}]({rel})", "", f"*{caption}*", ""]
    if report.notes:
        lines += ["## Notes", ""]
        lines += [f"- {note}" for note in report.notes]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


_CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 75em;
       margin: 2em auto; padding: 0 1em; color: #202020; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #C8C8C8; padding: 0.25em 0.6em; text-align: left; }
th { background: #F0F0F0; }
pre { background: #F7F7F7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
figure { margin: 1.2em 0; } img { max-width: 100%; height: auto; }
figcaption { font-style: italic; color: #404040; }
""".strip()


def _inline_md(text: str) -> str:
    """Escape text for HTML, turning `code` and **bold** into tags."""
    out = html.escape(text)
    parts = out.split("`")
    out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = out.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def _html_table(header: list[str], rows: list[list[str]], *, head: bool = True) -> list[str]:
    lines = ["<table>"]
    if head:
        lines.append("<tr>" + "".join(f"<th>{_inline_md(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        lines.append("<tr>" + "".join(f"<td>{_inline_md(c)}</td>" for c in row) + "</tr>")
    lines.append("</table>")
    return lines


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (figures embedded as base64 PNG)."""
    title = html.escape(report.title)
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{title}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{title}</h1>",
        f"<p>{_inline_md(report.intro)}</p>",
    ]
    if report.manifest_rows:
        lines.append("<h2>What was run</h2>")
        lines += _html_table([], [[k, v] for k, v in report.manifest_rows], head=False)
    if report.summary_text:
        lines.append("<h2>Summary</h2>")
        lines.append("<p>Mean over nights [5 %–95 % of nights].</p>")
        lines.append(f"<pre>{html.escape(report.summary_text.rstrip())}</pre>")
    if report.observed_rows:
        lines.append("<h2>Observed versus simulated</h2>")
        lines.append(
            "<p>The observed count is <em>inside</em> when it lies within the 5–95 % range of "
            "the simulated nights.</p>"
        )
        lines += _html_table(report.observed_header, report.observed_rows)
    for heading, text, header, rows in report.tables:
        lines.append(f"<h2>{html.escape(heading)}</h2>")
        lines.append(f"<p>{_inline_md(text)}</p>")
        lines += _html_table(header, rows)
    if report.figures:
        lines.append("<h2>Figures</h2>")
        for caption, path in report.figures:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            lines.append("<figure>")
            lines.append(f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">')
            lines.append(f"<figcaption>{html.escape(caption)}</figcaption>")
            lines.append("</figure>")
    if report.notes:
        lines.append("<h2>Notes</h2>")
        lines.append("<ul>" + "".join(f"<li>{_inline_md(n)}</li>" for n in report.notes) + "</ul>")
    lines += ["</body>", "</html>"]
    return "\n".join(lines) + "\n"


def write_report(
    folder: Path | str, *, borders: Path | str | None = None, dpi: int = DEFAULT_DPI
) -> list[Path]:
    """Write report.md and report.html into the results folder; return their paths.

    Raises ``sim.results.files.ResultsFileError`` (naming the file) for missing or unreadable
    inputs.
    """
    folder = Path(folder)
    report = build_report(folder, borders=borders, dpi=dpi)
    md_path, html_path = folder / REPORT_MD, folder / REPORT_HTML
    md_path.write_text(render_markdown(report, folder), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return [md_path, html_path]
