"""Plain-text tables of the catalogue for `salvo catalog` (what a scenario author needs)."""

from __future__ import annotations

from sim.results.tables import text_table
from sim.spec.scenario import Catalog
from sim.vocab import CLASSES


def _per_class(values: dict[str, float], fmt: str) -> str:
    shown = [format(values.get(c, 0.0), fmt) for c in CLASSES]
    return "/".join(shown)


def _usd(value: float) -> str:
    if value >= 1e6:
        return f"${value / 1e6:.2f}M"
    if value >= 1e3:
        return f"${value / 1e3:.0f}k"
    return f"${value:.0f}"


def format_catalog(catalog: Catalog, *, sources: bool = True) -> str:
    """Threat and defence tables, then (optionally) every number's source."""
    lines = ["THREAT TYPES"]
    lines += text_table(
        ["id", "class", "name", "km/h", "alt m", "cost", "fail", "accuracy", "EW susc."],
        [
            [tid, t.class_, t.name, f"{t.speed_kmh:g}", f"{t.altitude_m:g}", _usd(t.cost_usd),
             f"{t.failure_prob:.2f}", f"{t.accuracy:.2f}", f"{t.ew_susceptibility:.2f}"]
            for tid, t in catalog.threats.items()
        ],
        numeric=False,
    )  # fmt: skip
    lines += ["", "DEFENCE TYPES  (per class: " + "/".join(CLASSES) + ")"]
    lines += text_table(
        ["id", "kind", "range km", "pk / EW suppression", "ch", "mag+res", "react s",
         "engage s", "doctrine", "cost/shot"],
        [
            [did, d.kind, _per_class(d.range_km, "g"),
             _per_class(d.suppression if d.is_ew else d.pk, ".2f"), str(d.channels),
             f"{d.magazine}+{d.reserve}", f"{d.reaction_s:g}", f"{d.engage_s:g}",
             f"{d.shots_per_engagement}x {d.doctrine}", _usd(d.cost_per_shot_usd)]
            for did, d in catalog.defences.items()
        ],
        numeric=False,
    )  # fmt: skip
    if sources:
        lines += ["", "SOURCES"]
        for section in (catalog.threats, catalog.defences):
            for type_id, entry in section.items():
                lines.append(f"{type_id} ({entry.name}):")
                lines += [f"  {field}: {text}" for field, text in entry.sources.items()]
    return "\n".join(lines)
