"""Tests for sim.spec.yamlio: user-facing `FILE:LINE: path: message` errors for YAML input."""

from __future__ import annotations

import pickle
import textwrap
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.spec.yamlio import (
    ErrorLine,
    InputError,
    LoadedYaml,
    PathError,
    format_errors,
    load_yaml,
    load_yaml_text,
    suggest,
    unknown_message,
    validate,
)

# --- small models standing in for the real scenario schema ----------------------------------


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    lat: float


class Threat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: Annotated[int, Field(ge=0)]
    hit_probability: Annotated[float, Field(ge=0, le=1)] = 0.5
    altitude_m: int | list[int] = 100
    launch_sites: list[Site] = []
    targets: dict[str, float] = {}


class Radar(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["radar"]
    range_km: float


class Gun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["gun"]
    rounds: int


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    cities: list[str] = []
    salvo: dict[str, Threat] = {}
    defences: list[Annotated[Radar | Gun, Field(discriminator="kind")]] = []

    @model_validator(mode="after")
    def _targets_exist(self) -> Scenario:
        for threat_name, threat in self.salvo.items():
            for target in threat.targets:
                if target not in self.cities:
                    message = unknown_message("target", target, self.cities)
                    raise PathError(("salvo", threat_name, "targets", target), message)
        return self


def write(tmp_path, text: str, name: str = "scenario.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return str(path)


def errors_of(excinfo: pytest.ExceptionInfo[InputError]) -> list[str]:
    return str(excinfo.value).splitlines()


def check(tmp_path, text: str) -> tuple[str, list[str]]:
    """Load + validate a file expected to be bad; return (file, printed lines)."""
    file = write(tmp_path, text)
    with pytest.raises(InputError) as excinfo:
        validate(Scenario, load_yaml(file))
    return file, errors_of(excinfo)


# --- formatting ------------------------------------------------------------------------------


def test_error_line_str_format_exactly():
    err = ErrorLine(file="s.yaml", line=7, path="salvo.shahed.count", message="bad")
    assert str(err) == "s.yaml:7: salvo.shahed.count: bad"
    assert str(ErrorLine("s.yaml", None, "a.b", "bad")) == "s.yaml: a.b: bad"
    assert str(ErrorLine("s.yaml", 3, "", "bad")) == "s.yaml:3: bad"
    assert str(ErrorLine("s.yaml", None, "", "bad")) == "s.yaml: bad"


def test_error_line_message_is_kept_on_one_line():
    assert str(ErrorLine("s.yaml", 1, "a", "first\nsecond")) == "s.yaml:1: a: first second"


def test_format_errors_sorts_by_line_then_path():
    errors = [
        ErrorLine("f", 9, "b", "m"),
        ErrorLine("f", 2, "z", "m"),
        ErrorLine("f", 9, "a", "m"),
        ErrorLine("f", None, "", "whole file"),
    ]
    assert format_errors(errors).splitlines() == [
        "f: whole file",
        "f:2: z: m",
        "f:9: a: m",
        "f:9: b: m",
    ]


def test_input_error_str_and_pickle():
    err = InputError([ErrorLine("f", 2, "x", "m2"), ErrorLine("f", 1, "y", "m1")])
    assert str(err) == "f:1: y: m1\nf:2: x: m2"
    clone = pickle.loads(pickle.dumps(err))
    assert clone.errors == err.errors
    assert str(clone) == str(err)


def test_suggest():
    assert suggest("shahd", ["kalibr", "shahed", "iskander"]) == "shahed"
    assert suggest("zzz", ["kalibr", "shahed"]) is None
    assert suggest("SHAHED", ["shahed"]) == "shahed"
    assert unknown_message("threat type", "shahd", ["shahed"]) == (
        "unknown threat type 'shahd'; did you mean 'shahed'?"
    )
    assert (
        unknown_message("threat type", "x", ["a", "b"]) == "unknown threat type 'x'; allowed: a, b"
    )


# --- loading ---------------------------------------------------------------------------------


def test_valid_file_loads_with_key_lines(tmp_path):
    file = write(
        tmp_path,
        """
        name: demo
        cities: [kyiv, lviv]
        salvo:
          shahed:
            count: 40
            launch_sites:
              - name: a
                lat: 1.5
        """,
    )
    loaded = load_yaml(file)
    assert isinstance(loaded, LoadedYaml)
    assert loaded.file == file
    assert loaded.data["salvo"]["shahed"]["count"] == 40
    assert loaded.lines[("salvo",)] == 3
    assert loaded.lines[("salvo", "shahed", "count")] == 5
    assert loaded.lines[("cities", 1)] == 2
    assert loaded.lines[("salvo", "shahed", "launch_sites", 0)] == 7
    assert loaded.lines[("salvo", "shahed", "launch_sites", 0, "lat")] == 8
    # Unknown tail: fall back to the longest known prefix; nothing known at all: None.
    assert loaded.line_of(["salvo", "shahed", "count", "nope", 3]) == 5
    assert loaded.line_of(("nothing",)) == 1  # the root mapping starts on line 1
    assert LoadedYaml(data={}, file="f", lines={}).line_of(("a",)) is None
    scenario = validate(Scenario, loaded)
    assert isinstance(scenario, Scenario)
    assert scenario.salvo["shahed"].launch_sites[0].lat == 1.5


def test_syntax_error_reports_line(tmp_path):
    file = write(
        tmp_path,
        """
        name: demo
        salvo:
          shahed: count: 3
        """,
    )
    with pytest.raises(InputError) as excinfo:
        load_yaml(file)
    (line,) = errors_of(excinfo)
    assert line.startswith(f"{file}:3: invalid YAML: mapping values are not allowed here")


def test_unclosed_flow_sequence_reports_a_line():
    with pytest.raises(InputError) as excinfo:
        load_yaml_text("a: 1\nb: [1, 2\n", file="x.yaml")
    (err,) = excinfo.value.errors
    assert err.file == "x.yaml"
    assert err.line is not None and err.line >= 2
    assert err.message.startswith("invalid YAML:")


def test_duplicate_key(tmp_path):
    file = write(
        tmp_path,
        """
        name: demo
        salvo:
          shahed:
            count: 3
            count: 4
        """,
    )
    with pytest.raises(InputError) as excinfo:
        load_yaml(file)
    assert errors_of(excinfo) == [f"{file}:5: duplicate key 'count'"]


def test_merge_keys_may_be_overridden_without_duplicate_error():
    loaded = load_yaml_text(
        "base: &b {count: 1, hit_probability: 0.2}\nsalvo:\n  shahed:\n    <<: *b\n    count: 5\n"
    )
    assert loaded.data["salvo"]["shahed"] == {"count": 5, "hit_probability": 0.2}
    assert loaded.line_of(("salvo", "shahed", "count")) == 5


def test_top_level_list_rejected(tmp_path):
    file = write(tmp_path, "- name: demo\n- name: other\n")
    with pytest.raises(InputError) as excinfo:
        load_yaml(file)
    assert errors_of(excinfo) == [
        f"{file}:1: top level must be a mapping of `field: value`, got a list"
    ]


def test_empty_file_rejected(tmp_path):
    file = write(tmp_path, "# nothing but a comment\n")
    with pytest.raises(InputError) as excinfo:
        load_yaml(file)
    (err,) = excinfo.value.errors
    assert (err.file, err.line, err.path) == (file, None, "")
    assert "empty" in err.message


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InputError) as excinfo:
        load_yaml(missing)
    assert errors_of(excinfo) == [f"{missing}: cannot read file: No such file or directory"]


def test_unsafe_tags_are_rejected():
    with pytest.raises(InputError) as excinfo:
        load_yaml_text("name: !!python/object/apply:os.system ['true']\n", file="evil.yaml")
    (err,) = excinfo.value.errors
    assert err.line == 1
    assert "invalid YAML" in err.message


# --- validation ------------------------------------------------------------------------------


def test_unknown_key_with_suggestion_and_line(tmp_path):
    file, lines = check(
        tmp_path,
        """
        name: demo
        salvo:
          shahed:
            count: 3
            hit_probabilty: 0.4
        """,
    )
    assert lines == [
        f"{file}:5: salvo.shahed.hit_probabilty: unknown field 'hit_probabilty'; "
        "did you mean 'hit_probability'?"
    ]


def test_unknown_key_without_close_match_lists_allowed(tmp_path):
    file, lines = check(
        tmp_path,
        """
        name: demo
        salvo:
          shahed:
            count: 3
            launch_sites:
              - name: a
                lat: 1.0
              - name: b
                xyzzy: 2.0
                lat: 3.0
        """,
    )
    assert lines == [
        f"{file}:9: salvo.shahed.launch_sites.1.xyzzy: unknown field 'xyzzy'; allowed: name, lat"
    ]


def test_unknown_key_in_dict_of_models_entry_missing_field_reported_too(tmp_path):
    file, lines = check(
        tmp_path,
        """
        name: demo
        salvo:
          shahed:
            count: 3
          kalibr:
            cont: 3
        """,
    )
    assert lines == [
        f"{file}:5: salvo.kalibr.count: required field 'count' is missing",
        f"{file}:6: salvo.kalibr.cont: unknown field 'cont'; did you mean 'count'?",
    ]


def test_negative_count_line_and_path(tmp_path):
    file, lines = check(
        tmp_path,
        """
        name: demo
        salvo:
          shahed:
            hit_probability: 0.3
            count: -5
        """,
    )
    assert lines == [
        f"{file}:5: salvo.shahed.count: "
        "-5 is not allowed: Input should be greater than or equal to 0"
    ]


def test_probability_outside_unit_interval(tmp_path):
    file, lines = check(
        tmp_path,
        """
        name: demo
        salvo:
          shahed:
            count: 1
            hit_probability: 1.5
          kalibr:
            count: 1
            hit_probability: -0.1
        """,
    )
    assert lines == [
        f"{file}:5: salvo.shahed.hit_probability: "
        "1.5 is not allowed: Input should be less than or equal to 1",
        f"{file}:8: salvo.kalibr.hit_probability: "
        "-0.1 is not allowed: Input should be greater than or equal to 0",
    ]


def test_wrong_type_shows_input(tmp_path):
    file, lines = check(
        tmp_path,
        """
        name: demo
        salvo:
          shahed:
            count: many
        """,
    )
    assert lines == [
        f"{file}:4: salvo.shahed.count: "
        "Input should be a valid integer, unable to parse string as an integer (got 'many')"
    ]


def test_union_tags_dropped_from_path(tmp_path):
    file, lines = check(
        tmp_path,
        """
        name: demo
        salvo:
          shahed:
            count: 1
            altitude_m: high
        """,
    )
    assert lines
    for line in lines:
        assert line.startswith(f"{file}:5: salvo.shahed.altitude_m: "), line
        assert "list[int]" not in line.split(": ")[1]


def test_discriminated_union_errors_use_user_path(tmp_path):
    file, lines = check(
        tmp_path,
        """
        name: demo
        defences:
          - kind: radar
            range_km: 30
          - kind: gun
            rouns: 100
          - kind: rader
        """,
    )
    assert lines == [
        f"{file}:5: defences.1.rounds: required field 'rounds' is missing",
        f"{file}:6: defences.1.rouns: unknown field 'rouns'; did you mean 'rounds'?",
        f"{file}:7: defences.2.kind: Input tag 'rader' found using 'kind' does not match any "
        "of the expected tags: 'radar', 'gun'; did you mean 'radar'?",
    ]


def test_path_error_from_model_validator(tmp_path):
    file, lines = check(
        tmp_path,
        """
        name: demo
        cities: [kyiv, lviv]
        salvo:
          shahed:
            count: 10
            targets:
              lviv: 0.5
              kiev: 0.5
        """,
    )
    assert lines == [
        f"{file}:8: salvo.shahed.targets.kiev: unknown target 'kiev'; did you mean 'kyiv'?"
    ]


def test_plain_value_error_prefix_stripped():
    class Window(BaseModel):
        start: float
        end: float

        @model_validator(mode="after")
        def _ordered(self) -> Window:
            if self.end < self.start:
                raise ValueError("end must not be before start")
            return self

    class Doc(BaseModel):
        window: Window

    loaded = load_yaml_text("window:\n  start: 5\n  end: 1\n", file="w.yaml")
    with pytest.raises(InputError) as excinfo:
        validate(Doc, loaded)
    assert str(excinfo.value) == "w.yaml:1: window: end must not be before start"


def test_validation_context_is_passed():
    class Doc(BaseModel):
        n: int

        @model_validator(mode="after")
        def _limit(self, info) -> Doc:
            if self.n > info.context["max_n"]:
                raise PathError(("n",), f"must be at most {info.context['max_n']}")
            return self

    loaded = load_yaml_text("n: 7\n", file="c.yaml")
    assert validate(Doc, loaded, context={"max_n": 10}).n == 7
    with pytest.raises(InputError) as excinfo:
        validate(Doc, loaded, context={"max_n": 5})
    assert str(excinfo.value) == "c.yaml:1: n: must be at most 5"


def test_many_errors_all_reported_in_line_order(tmp_path):
    file, lines = check(
        tmp_path,
        """
        nme: demo
        salvo:
          shahed:
            count: -1
            hit_probability: 2
            launch_sites:
              - name: a
                lat: north
          kalibr:
            count: 3
            colour: red
        """,
    )
    assert lines == [
        f"{file}:1: name: required field 'name' is missing",
        f"{file}:1: nme: unknown field 'nme'; did you mean 'name'?",
        f"{file}:4: salvo.shahed.count: "
        "-1 is not allowed: Input should be greater than or equal to 0",
        f"{file}:5: salvo.shahed.hit_probability: "
        "2 is not allowed: Input should be less than or equal to 1",
        f"{file}:8: salvo.shahed.launch_sites.0.lat: "
        "Input should be a valid number, unable to parse string as a number (got 'north')",
        f"{file}:11: salvo.kalibr.colour: unknown field 'colour'; allowed: count, "
        "hit_probability, altitude_m, launch_sites, targets",
    ]
