"""The user docs stay in step with the code: the scenario reference and the `salvo run` guide.

`docs/scenario-reference.md` is generated from the pydantic models by `sim.refdocs.scenario`; these
tests fail as soon as the schema changes without the committed file being regenerated, or when
a `salvo run` option is added without being explained in `docs/cli-run.md`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from sim.cli.parser import build_parser
from sim.refdocs import scenario as schema_docs
from sim.spec import scenario as sc
from sim.spec.reflect import model_title, yaml_key

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_MD = ROOT / "docs" / "scenario-reference.md"
CLI_RUN_MD = ROOT / "docs" / "cli-run.md"

# The models a user writes in a scenario file (the brief of the reference); all must be there.
EXPECTED_MODELS = (
    "Scenario",
    "Site",
    "Target",
    "DamageModel",
    "SalvoGroup",
    "Wave",
    "Route",
    "PointPlacement",
    "RingPlacement",
    "BeltPlacement",
    "RegionPlacement",
    "DefenceGroup",
    "EWSettings",
    "Observed",
    "ThreatType",
    "DefenceType",
)


@pytest.fixture(scope="module")
def generated() -> str:
    return schema_docs.generate()


def _sections(text: str) -> dict[str, str]:
    """`## Title` -> the section's text up to the next `## ` heading."""
    out: dict[str, str] = {}
    for chunk in text.split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        out[title.strip()] = body
    return out


def _scenario_models() -> list[type[BaseModel]]:
    """Every model with fields defined in sim/spec/scenario.py."""
    return [
        obj
        for _, obj in inspect.getmembers(sc, inspect.isclass)
        if issubclass(obj, BaseModel) and obj.__module__ == sc.__name__ and obj.model_fields
    ]


# --------------------------------------------------------------------------- reference


def test_committed_reference_matches_schema(generated):
    committed = REFERENCE_MD.read_text(encoding="utf-8") if REFERENCE_MD.exists() else ""
    assert committed == generated, (
        "docs/scenario-reference.md is out of date with sim/spec/scenario.py; regenerate it with\n"
        f"    {schema_docs.REGENERATE}\n"
        "and commit the result."
    )


def test_generation_is_deterministic(generated):
    assert schema_docs.generate() == generated
    run = [sys.executable, "-m", "sim.refdocs.scenario"]
    printed = subprocess.run(run, capture_output=True, check=True, cwd=ROOT).stdout
    assert printed.decode("utf-8") == generated


def test_every_model_has_a_section(generated):
    sections = _sections(generated)
    documented = {model_title(m) for m in schema_docs.documented_models()}
    assert set(EXPECTED_MODELS) <= documented
    assert {model_title(m) for m in _scenario_models()} <= documented
    for name in documented:
        assert name in sections, f"no '## {name}' section"


def test_every_field_of_every_model_is_documented(generated):
    sections = _sections(generated)
    for model in schema_docs.documented_models():
        body = sections[model_title(model)]
        first_doc_line = (model.__doc__ or "").strip().splitlines()[0]
        assert first_doc_line.split(":")[0] in body, f"{model.__name__}: docstring missing"
        for name, info in model.model_fields.items():
            key = yaml_key(name, info)
            assert f"| `{key}` |" in body, f"{model.__name__}.{key} missing from the reference"
            if info.description:
                assert " ".join(info.description.split()) in body


def test_aliases_are_shown_as_yaml_keys(generated):
    threat = _sections(generated)["ThreatType"]
    assert "| `class` | threat class |" in threat
    assert "| `class_` |" not in generated


@pytest.mark.parametrize(
    ("model", "key", "type_text"),
    [
        ("Site", "scatter_km", "number ≥ 0"),
        ("ThreatType", "failure_prob", "probability [0, 1], or [Distribution](#distribution)"),
        ("ThreatType", "speed_kmh", "number > 0"),
        ("Route", "waypoints", "list of [lon, lat]"),
        ("Route", "style", "one of: direct, dogleg, waypoints"),
        ("Scenario", "salvo", "mapping name → [SalvoGroup](#salvogroup)"),
        ("Scenario", "seed", "whole number ≥ 0"),
        ("BeltPlacement", "start", "[lon, lat]"),
        (
            "EWSettings",
            "suppression",
            "mapping threat class → probability [0, 1], or [Distribution](#distribution)",
        ),
        ("DefenceType", "engages", "list of threat classes"),
    ],
)
def test_types_are_human_readable(generated, model, key, type_text):
    assert f"| `{key}` | {type_text} |" in _sections(generated)[model]


def test_required_and_defaults(generated):
    sections = _sections(generated)
    assert "| `count` | whole number ≥ 0 | **required** |" in sections["SalvoGroup"]
    assert "| `aim_scatter_km` | number ≥ 0 | `5.0` |" in sections["Route"]
    assert "| `style` | one of: direct, dogleg, waypoints | `direct` |" in sections["Route"]
    # catalog has no model default, but the shipped catalogue is merged in when it is left out
    assert "| `catalog` | [Catalog](#catalog) | optional" in sections["Scenario"]


def test_placements_are_discriminated_by_kind(generated):
    placement = _sections(generated)["DefenceGroup"]
    for kind in ("point", "ring", "belt", "region"):
        model = f"{kind.capitalize()}Placement"
        assert f"[{model}](#{model.lower()}) (`kind: {kind}`)" in placement


def test_intro_explains_paths_overrides_and_errors(generated):
    for text in (
        "`salvo.shahed.count`",
        "`defences.kyiv_iris_t.count`",
        "`catalog.threats.shahed.speed_kmh`",
        "base: iris_t",
        "FILE:LINE: field.path: message",
        "status 2",
    ):
        assert text in generated
    # the error example is computed by the real validator
    assert "night.yaml:9: salvo.shahed.coutn: unknown field 'coutn'" in generated


def test_check_option(tmp_path, generated, capsys):
    good = tmp_path / "ref.md"
    good.write_text(generated, encoding="utf-8")
    assert schema_docs.main(["--check", str(good)]) == 0

    stale = tmp_path / "stale.md"
    stale.write_text(generated.replace("number ≥ 0", "number", 1), encoding="utf-8")
    assert schema_docs.main(["--check", str(stale)]) == 1
    err = capsys.readouterr().err
    assert "out of date" in err and "python -m sim.refdocs.scenario >" in err

    assert schema_docs.main(["--check", str(tmp_path / "missing.md")]) == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "committed"),
    [
        ("sim.refdocs.experiment", "docs/experiment-reference.md"),
        ("sim.refdocs.campaign", "docs/campaign-reference.md"),
    ],
)
def test_every_generated_reference_has_a_check_option(module, committed, tmp_path, capsys):
    main = importlib.import_module(module).main
    assert main(["--check", str(ROOT / committed)]) == 0
    stale = tmp_path / "stale.md"
    stale.write_text((ROOT / committed).read_text(encoding="utf-8") + "\nextra line\n")
    assert main(["--check", str(stale)]) == 1
    assert f"python -m {module} >" in capsys.readouterr().err


# --------------------------------------------------------------------------- cli-run.md


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise AssertionError("salvo has no subcommands")


@pytest.mark.parametrize("command", ["run", "catalog"])
def test_every_option_is_explained_in_cli_run_md(command):
    text = CLI_RUN_MD.read_text(encoding="utf-8")
    missing = []
    for action in _subparser(command)._actions:
        names = action.option_strings or [action.metavar or action.dest]
        missing += [f"`{name}`" for name in names if f"`{name}" not in text]
    assert not missing, f"salvo {command} options not in docs/cli-run.md: {', '.join(missing)}"


def test_cli_run_md_documents_the_results_folder():
    text = CLI_RUN_MD.read_text(encoding="utf-8")
    for name in ("runs.parquet", "summary.json", "manifest.json", "read_parquet", "salvo check"):
        assert name in text
    for column in ("point", "replication", "seed", "defender_cost_usd", "attacker_cost_usd"):
        assert f"`{column}`" in text
    for outcome in ("launched", "shot_down", "suppressed", "leaked", "failed", "intercepted"):
        assert f"`{outcome}`" in text
    for prefix in ("shots", "kills", "cost_usd", "hits", "killed", "injured", "buildings"):
        assert f"`{prefix}.<" in text
