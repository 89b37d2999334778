"""Tests for sim.spec.scenario: the reference scenario, catalogue overrides and bad-input errors.

Bad scenarios are made by editing the text of the reference scenario, so every error's line
number is computed from the text written (never copied from the program's output).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.spec.catalog import CATALOG_DIR
from sim.spec.scenario import load_catalog, load_scenario
from sim.spec.yamlio import ErrorLine, InputError

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scenarios" / "aug-2025-night.yaml"
# bad inputs are made by editing a frozen copy, so refitting the reference never moves them
BAD_INPUT_BASE = ROOT / "tests" / "data" / "bad-input-base.yaml"
REF_TEXT = BAD_INPUT_BASE.read_text(encoding="utf-8")


def line_of(text: str, marker: str) -> int:
    """1-based line of the only occurrence of ``marker`` in ``text``."""
    assert text.count(marker) == 1, f"marker {marker!r} must occur exactly once"
    return text[: text.index(marker)].count("\n") + 1


def edited(old: str, new: str) -> str:
    """The reference text with the only occurrence of ``old`` replaced by ``new``."""
    assert REF_TEXT.count(old) == 1, f"{old!r} must occur exactly once in the reference"
    return REF_TEXT.replace(old, new)


def write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_scenario(path)
    return info.value


# (id, old text, new text, marker on the expected line, expected path, message fragments)
APPEND_DEFENCES = "    gerbera: {failure_prob: 0.02}\n"
BAD_CASES = [
    pytest.param(
        "    count: 14 # observed",
        "    count: 14: observed",
        "count: 14: observed",
        "",
        ["invalid YAML", "mapping values are not allowed"],
        id="yaml-syntax",
    ),
    pytest.param(
        "    count: 14 # observed\n",
        "    count: 14 # observed\n    cuont: 3\n",
        "cuont: 3",
        "salvo.kalibr.cuont",
        ["unknown field 'cuont'", "did you mean 'count'?"],
        id="unknown-key-close",
    ),
    pytest.param(
        "    count: 14 # observed\n",
        "    count: 14 # observed\n    xyzzy: 3\n",
        "xyzzy: 3",
        "salvo.kalibr.xyzzy",
        ["unknown field 'xyzzy'", "allowed:", "launch_sites"],
        id="unknown-key-far",
    ),
    pytest.param(
        "seed: 20250821",
        "seeed: 20250821",
        "seeed:",
        "seeed",
        ["unknown field 'seeed'", "did you mean 'seed'?"],
        id="unknown-key-top-level",
    ),
    pytest.param(
        "placement: {kind: ring, target: kyiv, radius_km: 15}}",
        "placement: {kind: ring, target: kyiv, radius_km: 15, radius: 3}}",
        "radius: 3}",
        "defences.kyiv_patriot.placement.radius",
        ["unknown field 'radius'", "did you mean 'radius_km'?"],
        id="unknown-key-placement",
    ),
    pytest.param(
        "shahed: {failure_prob: 0.01}",
        "shahed: {failure_prob: 0.01, sped_kmh: 150}",
        "sped_kmh",
        "catalog.threats.shahed.sped_kmh",
        ["unknown field 'sped_kmh'", "did you mean 'speed_kmh'?"],
        id="unknown-key-catalog",
    ),
    pytest.param(
        "    count: 14 # observed",
        "    count: many",
        "count: many",
        "salvo.kalibr.count",
        ["valid integer", "'many'"],
        id="wrong-type-count",
    ),
    pytest.param(
        "suppression: {drone: 0.25",
        "suppression: {drone: lots",
        "drone: lots",
        "ew.suppression.drone",
        ["valid number", "'lots'"],
        id="wrong-type-probability",
    ),
    pytest.param(
        "    count: 14 # observed",
        "    count: -5",
        "count: -5",
        "salvo.kalibr.count",
        ["-5 is not allowed", "greater than or equal to 0"],
        id="negative-salvo-count",
    ),
    pytest.param(
        "kyiv_gepard: {type: gepard, count: 8,",
        "kyiv_gepard: {type: gepard, count: -8,",
        "count: -8",
        "defences.kyiv_gepard.count",
        ["-8 is not allowed", "greater than or equal to 0"],
        id="negative-defence-count",
    ),
    pytest.param(
        "suppression: {drone: 0.25",
        "suppression: {drone: 1.5",
        "drone: 1.5",
        "ew.suppression.drone",
        ["1.5 is not allowed", "less than or equal to 1"],
        id="probability-above-1",
    ),
    pytest.param(
        "shahed: {failure_prob: 0.01}",
        "shahed: {failure_prob: -0.1}",
        "failure_prob: -0.1",
        "catalog.threats.shahed.failure_prob",
        ["-0.1 is not allowed", "greater than or equal to 0"],
        id="probability-below-0",
    ),
    pytest.param(
        APPEND_DEFENCES,
        APPEND_DEFENCES + "  defences:\n    patriot: {pk: {drone: 1.2}}\n",
        "pk: {drone: 1.2}",
        "catalog.defences.patriot.pk.drone",
        ["1.2 is not allowed", "less than or equal to 1"],
        id="probability-pk-override",
    ),
    pytest.param(
        "    type: kalibr",
        "    type: kalibrr",
        "type: kalibrr",
        "salvo.kalibr.type",
        ["unknown threat type 'kalibrr'", "did you mean 'kalibr'?"],
        id="unknown-threat-type",
    ),
    pytest.param(
        "kyiv_nasams: {type: nasams,",
        "kyiv_nasams: {type: nasam,",
        "type: nasam,",
        "defences.kyiv_nasams.type",
        ["unknown defence type 'nasam'", "did you mean 'nasams'?"],
        id="unknown-defence-type",
    ),
    pytest.param(
        "launch_sites: [black_sea]",
        "launch_sites: [black_see]",
        "black_see",
        "salvo.kalibr.launch_sites.black_see",
        ["unknown launch site 'black_see'", "did you mean 'black_sea'?"],
        id="undefined-launch-site-list",
    ),
    pytest.param(
        "launch_sites: {belgorod: 1, crimea: 1}",
        "launch_sites: {belgorod: 1, krimea: 1}",
        "krimea",
        "salvo.iskander_m.launch_sites.krimea",
        ["unknown launch site 'krimea'", "did you mean 'crimea'?"],
        id="undefined-launch-site-weights",
    ),
    pytest.param(
        "targets: [zaporizhzhia]",
        "targets: [zaporizhia]",
        "[zaporizhia]",
        "salvo.kh59.targets.zaporizhia",
        ["unknown target 'zaporizhia'", "did you mean 'zaporizhzhia'?"],
        id="undefined-salvo-target",
    ),
    pytest.param(
        "{kind: ring, target: lviv, radius_km: 20}",
        "{kind: ring, target: lvov, radius_km: 20}",
        "target: lvov",
        "defences.lviv_iris_t.placement.target",
        ["unknown target 'lvov'", "did you mean 'lviv'?"],
        id="undefined-ring-target-close",
    ),
    pytest.param(
        "{kind: ring, target: lviv, radius_km: 20}",
        "{kind: ring, target: atlantis, radius_km: 20}",
        "target: atlantis",
        "defences.lviv_iris_t.placement.target",
        ["unknown target 'atlantis'", "defined:", "kyiv", "lviv"],
        id="undefined-ring-target-far",
    ),
]


@pytest.mark.parametrize(("old", "new", "marker", "path", "fragments"), BAD_CASES)
def test_bad_scenario_reports_file_line_path_message(
    tmp_path: Path, old: str, new: str, marker: str, path: str, fragments: list[str]
) -> None:
    text = edited(old, new)
    bad = write(tmp_path, text)
    line = line_of(text, marker)
    err = load_error(bad)
    assert len(err.errors) == 1, err.errors
    (error,) = err.errors
    assert isinstance(error, ErrorLine)
    assert (error.file, error.line, error.path) == (str(bad), line, path)
    for fragment in fragments:
        assert fragment in error.message
    where = f"{bad}:{line}: {path}: " if path else f"{bad}:{line}: "
    assert str(err) == where + error.message
    assert "\n" not in str(err)


def test_unknown_catalog_base_is_reported_at_base(tmp_path: Path) -> None:
    text = REF_TEXT + "  defences:\n    iris_x: {base: iris_tt, magazine: 30}\n"
    bad = write(tmp_path, text)
    (error,) = load_error(bad).errors
    assert (error.file, error.line, error.path) == (
        str(bad),
        line_of(text, "base: iris_tt"),
        "catalog.defences.iris_x.base",
    )
    assert "unknown base type 'iris_tt'" in error.message
    assert "did you mean 'iris_t'?" in error.message


def test_missing_and_empty_files_are_whole_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    (error,) = load_error(missing).errors
    assert (error.file, error.line, error.path) == (str(missing), None, "")
    assert "cannot read file" in error.message
    assert str(load_error(missing)).startswith(f"{missing}: ")

    empty = write(tmp_path, "# nothing here\n", "empty.yaml")
    (error,) = load_error(empty).errors
    assert (error.file, error.line, error.path) == (str(empty), None, "")
    assert "empty" in error.message


@pytest.mark.parametrize(
    ("old", "new", "marker", "path"),
    [
        ("    count: 14 # observed", "    count: yes", "count: yes", "salvo.kalibr.count"),
        (
            "shahed: {failure_prob: 0.01}",
            "shahed: {failure_prob: true}",
            "failure_prob: true",
            "catalog.threats.shahed.failure_prob",
        ),
    ],
    ids=["count-yes", "probability-true"],
)
def test_boolean_is_a_wrong_type_for_numbers(
    tmp_path: Path, old: str, new: str, marker: str, path: str
) -> None:
    text = edited(old, new)
    bad = write(tmp_path, text)
    (error,) = load_error(bad).errors
    assert (error.line, error.path) == (line_of(text, marker), path)


# --------------------------------------------------------------------------- reference


def test_reference_scenario_loads_with_observed_launch_counts() -> None:
    scenario = load_scenario(REFERENCE)
    launched = scenario.launched_by_class()
    assert launched["drone"] + launched["decoy"] == 574
    assert launched["cruise"] + launched["ballistic"] + launched["hypersonic"] == 40
    assert sum(launched.values()) == 614


# --------------------------------------------------------------------------- catalogue


def test_catalog_override_changes_only_the_named_field(tmp_path: Path) -> None:
    base = load_scenario(REFERENCE).catalog
    text = edited("shahed: {failure_prob: 0.01}", "shahed: {failure_prob: 0.01, speed_kmh: 150}")
    changed = load_scenario(write(tmp_path, text, "override.yaml")).catalog

    before = base.threats["shahed"].model_dump()
    after = changed.threats["shahed"].model_dump()
    assert before["speed_kmh"] != 150
    assert after["speed_kmh"] == 150
    assert {k: v for k, v in after.items() if k != "speed_kmh"} == {
        k: v for k, v in before.items() if k != "speed_kmh"
    }
    for tid in base.threats:
        if tid != "shahed":
            assert changed.threats[tid] == base.threats[tid]
    assert changed.defences == base.defences
    # the shipped defaults are untouched by an override
    assert load_catalog().threats["shahed"].speed_kmh == 175


def test_new_type_with_base_inherits(tmp_path: Path) -> None:
    text = edited("lviv_iris_t: {type: iris_t,", "lviv_iris_t: {type: iris_t_er,")
    text += (
        "  defences:\n"
        "    iris_t_er:\n"
        "      base: iris_t\n"
        '      name: "IRIS-T SLM, extended range"\n'
        "      range_km: {cruise: 80}\n"
    )
    scenario = load_scenario(write(tmp_path, text, "based.yaml"))
    parent = scenario.catalog.defences["iris_t"].model_dump()
    child = scenario.catalog.defences["iris_t_er"].model_dump()
    assert child["name"] == "IRIS-T SLM, extended range"
    assert child["range_km"] == {**parent["range_km"], "cruise": 80}
    for field in parent:
        if field not in {"name", "range_km"}:
            assert child[field] == parent[field], field
    assert scenario.defence_type("lviv_iris_t").name == "IRIS-T SLM, extended range"
    assert "base" not in child


def _numeric(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, dict) and any(_numeric(v) for v in value.values())


CATALOG_ENTRIES = [
    pytest.param(file.name, type_id, entry, id=f"{file.stem}-{type_id}")
    for file in sorted(CATALOG_DIR.glob("*.yaml"))
    for type_id, entry in yaml.safe_load(file.read_text(encoding="utf-8")).items()
]


def test_catalog_files_are_found() -> None:
    assert (CATALOG_DIR / "threats.yaml").is_file()
    assert (CATALOG_DIR / "defences.yaml").is_file()
    assert len(CATALOG_ENTRIES) >= 20


@pytest.mark.parametrize(("file", "type_id", "entry"), CATALOG_ENTRIES)
def test_every_catalog_number_has_a_source(file: str, type_id: str, entry: dict) -> None:
    sources = entry.get("sources") or {}
    missing = [k for k, v in entry.items() if k != "sources" and _numeric(v) and k not in sources]
    assert not missing, f"{file}: {type_id}: numbers without a source: {missing}"
    empty = [k for k, text in sources.items() if not str(text).strip()]
    assert not empty, f"{file}: {type_id}: empty sources: {empty}"
