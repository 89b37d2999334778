"""Load user YAML files safely and turn every problem into a `FILE:LINE: path: message` line.

Scenario and experiment files are written by hand, so mistakes must be reported the way a compiler
reports them: one line per error, pointing at the line in the user's file, naming the field and
saying what is allowed. Nothing here prints or exits; callers catch :class:`InputError` and print
``str(err)`` (the CLI exits with status 2).

Typical use::

    loaded = load_yaml("scenarios/kyiv.yaml")
    scenario = validate(Scenario, loaded)
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin

import pydantic
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sim.spec.reflect import (
    child_types,
    fields_of,
    is_model,
    members,
    model_title,
    reachable_models,
)

__all__ = [
    "ErrorLine",
    "InputError",
    "LoadedYaml",
    "OptionError",
    "PathError",
    "format_errors",
    "load_yaml",
    "load_yaml_text",
    "require_kind",
    "require_known",
    "suggest",
    "text_sha256",
    "unknown_message",
    "validate",
    "validation_errors",
]

Path = tuple[Any, ...]
M = TypeVar("M", bound=pydantic.BaseModel)

# Longest repr of an input value that is still quoted in a message.
_MAX_SHOWN = 40

# pydantic error types for constraint violations: the value had the right type but was out of
# range, so the message leads with the offending value ("-5 is not allowed: ...").
_CONSTRAINT_TYPES = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "multiple_of",
        "finite_number",
        "string_too_short",
        "string_too_long",
        "string_pattern_mismatch",
        "too_short",
        "too_long",
        "decimal_max_digits",
        "decimal_max_places",
        "decimal_whole_digits",
        "date_past",
        "date_future",
        "datetime_past",
        "datetime_future",
    }
)

# pydantic prefixes for errors raised inside user validators.
_VALIDATOR_PREFIXES = {"value_error": "Value error, ", "assertion_error": "Assertion failed, "}

# Names pydantic uses as union-member tags in `loc` for builtin types.
_BUILTIN_TAGS = frozenset(
    {"int", "str", "float", "bool", "bytes", "list", "dict", "set", "tuple", "none", "decimal"}
)


# --------------------------------------------------------------------------------------------
# Error types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorLine:
    """One user-facing error: where it is (file, line, field path) and what is wrong."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        """Render as ``FILE:LINE: path: message``, dropping ``:LINE`` / ``path: `` when unknown."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        message = _one_line(self.message)
        return f"{where}: {self.path}: {message}" if self.path else f"{where}: {message}"


class InputError(Exception):
    """Bad user input; str() is the ready-to-print message.

    The message is one or more `FILE:LINE: path: message` lines, one per entry of ``errors``.
    """

    errors: list[ErrorLine]

    def __init__(self, errors: Iterable[ErrorLine]) -> None:
        self.errors = list(errors)
        # Keep the list as the only arg so the exception pickles (e.g. across dask workers).
        super().__init__(self.errors)

    def __str__(self) -> str:
        return format_errors(self.errors)

    @classmethod
    def single(
        cls, file: str, message: str, *, line: int | None = None, path: str = ""
    ) -> InputError:
        """Build an InputError holding a single ErrorLine (the common case)."""
        return cls([ErrorLine(file=file, line=line, path=path, message=message)])


class OptionError(ValueError):
    """A command-line option or function argument out of what is allowed (bad input, exit
    status 2 on the command line), such as a parameter list naming no parameter."""


class PathError(ValueError):
    """Raise from a pydantic validator to report an error at ``path`` below the validated object.

    pydantic reports a validator's error at the location of the model/field being validated; a
    cross-reference check in a top-level ``model_validator`` usually wants to point deeper, e.g.::

        raise PathError(("salvo", "shahed", "targets", "kiev"),
                        "unknown target 'kiev'; did you mean 'kyiv'?")

    :func:`validate` appends ``path`` to pydantic's location and reports ``message`` there.
    """

    def __init__(self, path: Sequence[Any], message: str) -> None:
        if isinstance(path, str):
            path = (path,)
        self.path: Path = tuple(path)
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.message))


def format_errors(errors: Iterable[ErrorLine]) -> str:
    """Join errors one per line, sorted by file, line (unknown first) and path; drop duplicates."""
    unique = dict.fromkeys(errors)
    ordered = sorted(unique, key=lambda e: (e.file, -1 if e.line is None else e.line, e.path))
    return "\n".join(str(e) for e in ordered)


def suggest(name: str, allowed: Iterable[str]) -> str | None:
    """Return the allowed name closest to ``name`` (for "did you mean ...?"), or None."""
    choices = [str(a) for a in allowed]
    matches = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    lowered = {c.lower(): c for c in choices}
    return lowered.get(str(name).lower())


def unknown_message(what: str, name: Any, allowed: Iterable[Any]) -> str:
    """Message for a name that is not one of ``allowed``.

    ``unknown_message("threat type", "shahd", ["shahed", "kalibr"])`` gives
    ``"unknown threat type 'shahd'; did you mean 'shahed'?"``; without a close match it lists the
    allowed names instead.
    """
    choices = [str(a) for a in allowed]
    head = f"unknown {what} '{name}'"
    if not choices:
        return f"{head}; nothing is allowed here"
    best = suggest(str(name), choices)
    if best is not None:
        return f"{head}; did you mean '{best}'?"
    return f"{head}; allowed: {', '.join(choices)}"


def require_known(name: str, known: Collection[str], path: Sequence[Any], what: str) -> None:
    """Raise PathError at ``path`` unless ``name`` is one of ``known`` (ids the file defines).

    The message suggests the closest id, or lists them all: ``unknown target 'kiev'; did you
    mean 'kyiv'?``, ``unknown launch site 'x'; defined: bryansk, kursk``.
    """
    if name not in known:
        hint = suggest(name, known)
        message = f"unknown {what} '{name}'"
        message += f"; did you mean '{hint}'?" if hint else f"; defined: {', '.join(sorted(known))}"
        raise PathError(path, message)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


@dataclass
class LoadedYaml:
    """Parsed YAML plus the line of every node, so later validation errors can point at lines."""

    data: Any
    file: str
    lines: dict[tuple, int] = field(default_factory=dict)

    def line_of(self, path: tuple | list) -> int | None:
        """1-based line of ``path``; else of its longest recorded prefix; else None."""
        parts = tuple(path)
        for end in range(len(parts), -1, -1):
            line = self.lines.get(parts[:end])
            if line is not None:
                return line
        return None


class _DuplicateKeyCheckingLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys instead of silently keeping the last one."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[Any, int]] = []

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                # Merge keys (`<<: *base`) may legitimately be overridden by explicit keys.
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        # Quote the key as written: `yes:` and `true:` are both the key True.
                        shown = key_node.value if isinstance(key_node, ScalarNode) else key
                        self.duplicates.append((shown, key_node.start_mark.line + 1))
                    seen.add(key)
                except TypeError:  # unhashable key: SafeConstructor reports it properly
                    pass
        return super().construct_mapping(node, deep=deep)


def text_sha256(text: str) -> str:
    """sha256 of a text (UTF-8), for fingerprints and manifests."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def inputs_fingerprint(parts: Iterable[str], replications: int, *, salt: bytes = b"") -> str:
    """sha256 of everything that fixes a run's numbers (the input texts, the seed as text, the
    replications): a resumed results folder must have the same."""
    digest = hashlib.sha256(salt)
    for part in parts:
        digest.update(text_sha256(part).encode())
    digest.update(str(replications).encode())
    return digest.hexdigest()


def load_yaml(path: str | os.PathLike[str]) -> LoadedYaml:
    """Read and parse a YAML file whose top level must be a mapping; raise InputError if bad."""
    file = os.fspath(path)
    try:
        with open(file, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise InputError.single(file, f"cannot read file: not valid UTF-8 ({exc.reason})") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError.single(file, f"cannot read file: {reason}") from None
    return load_yaml_text(text, file=file)


def load_yaml_text(text: str, file: str = "<string>") -> LoadedYaml:
    """Parse YAML from a string (tests, experiment overrides); same checks as :func:`load_yaml`."""
    loader: _DuplicateKeyCheckingLoader | None = None
    try:
        loader = _DuplicateKeyCheckingLoader(text)  # the reader already rejects bad characters
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
        lines: dict[tuple, int] = {}
        if root is not None and not loader.duplicates:
            lines[()] = root.start_mark.line + 1
            _record_lines(loader, root, (), lines, set())
    except yaml.MarkedYAMLError as exc:
        raise InputError([_syntax_error(file, exc)]) from None
    except yaml.YAMLError as exc:
        raise InputError([_reader_error(file, text, exc)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if loader.duplicates:
        raise InputError(
            ErrorLine(file, line, "", f"duplicate key '{key}'") for key, line in loader.duplicates
        )
    if root is None:
        raise InputError.single(file, "file is empty; expected a mapping of `field: value`")
    if not isinstance(data, dict):
        message = f"top level must be a mapping of `field: value`, got {_kind(data)}"
        raise InputError.single(file, message, line=lines[()])
    return LoadedYaml(data=data, file=file, lines=lines)


def _syntax_error(file: str, exc: yaml.MarkedYAMLError) -> ErrorLine:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or exc.context or "unknown problem"
    context = exc.context if exc.problem else None
    if not context:
        message = problem
    elif problem.startswith("but "):  # e.g. "expected a single document ..., but found another"
        message = f"{context}, {problem}"
    elif exc.context_mark is not None and exc.context_mark.line + 1 != line:
        message = f"{problem} ({context} started on line {exc.context_mark.line + 1})"
    else:
        message = f"{problem} ({context})"
    return ErrorLine(file=file, line=line, path="", message=f"invalid YAML: {message}")


def _reader_error(file: str, text: str, exc: yaml.YAMLError) -> ErrorLine:
    """Errors without a mark, in practice ReaderError for characters YAML does not allow."""
    position = getattr(exc, "position", None)
    character = getattr(exc, "character", None)
    line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
    if isinstance(character, int) and isinstance(position, int):
        reason = getattr(exc, "reason", "not allowed")
        message = f"invalid YAML: character #x{character:04x} is not allowed ({reason})"
    else:
        message = f"invalid YAML: {_one_line(str(exc))}"
    return ErrorLine(file=file, line=line, path="", message=message)


def _record_lines(
    loader: yaml.SafeLoader, node: Node, path: Path, lines: dict[tuple, int], seen: set[int]
) -> None:
    """Fill ``lines`` for everything below ``node`` (mapping entries get their key's line).

    Each collection node is walked once: a node reused through an alias is reported at the line
    where the alias is used (via the prefix fallback of ``line_of``), which also keeps
    "billion laughs" documents and recursive anchors from blowing up.
    """
    if id(node) in seen:
        return
    if isinstance(node, MappingNode):
        seen.add(id(node))
        # By now merge keys have been flattened into node.value; later entries win, like dicts.
        for key_node, value_node in node.value:
            try:
                key = loader.construct_object(key_node, deep=True)
                hash(key)
            except (yaml.YAMLError, TypeError):
                continue
            lines[(*path, key)] = key_node.start_mark.line + 1
            _record_lines(loader, value_node, (*path, key), lines, seen)
    elif isinstance(node, SequenceNode):
        seen.add(id(node))
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _record_lines(loader, item, (*path, index), lines, seen)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate(model_cls: type[M], loaded: LoadedYaml, *, context: dict | None = None) -> M:
    """Validate ``loaded.data`` as ``model_cls``; raise InputError listing every problem."""
    try:
        return model_cls.model_validate(loaded.data, context=context)
    except pydantic.ValidationError as exc:
        raise InputError(validation_errors(exc, loaded, model_cls)) from None


def validation_errors(
    exc: pydantic.ValidationError, loaded: LoadedYaml, model_cls: Any = None
) -> list[ErrorLine]:
    """Convert a pydantic ValidationError on ``loaded.data`` into ErrorLines (one per error).

    ``model_cls`` (the validated type) lets unknown-field errors list the allowed field names.
    """
    out = []
    for err in exc.errors():
        loc, parent_types = _clean_loc(tuple(err["loc"]), loaded.data, model_cls)
        ctx = err.get("ctx") or {}
        original = ctx.get("error")
        if isinstance(original, PathError):
            loc = (*loc, *original.path)
            message = original.message
        else:
            message = _message(err, loc, parent_types, loaded.data)
            if err["type"] == "union_tag_invalid":
                loc = _discriminator_loc(loc, ctx, loaded.data)
            elif err["type"] == "model_type" and model_cls is not None:
                message = _titled(message, ctx.get("class_name"), model_cls)
        path = ".".join(str(part) for part in loc)
        out.append(ErrorLine(loaded.file, loaded.line_of(loc), path, message))
    return out


def _titled(message: str, class_name: Any, model_cls: Any) -> str:
    """pydantic names a model by its class (`TargetSpec`); say the name the docs use (`Target`)."""
    for model in reachable_models(model_cls) if is_model(model_cls) else ():
        if model.__name__ == class_name:
            return message.replace(f"instance of {class_name}", f"instance of {model_title(model)}")
    return message


def _message(err: Any, loc: Path, parent_types: list[Any], data: Any) -> str:
    kind = err["type"]
    msg = err["msg"]
    value = err.get("input")
    if kind == "extra_forbidden":
        name = loc[-1] if loc else "?"
        allowed = _allowed_fields(parent_types)
        if allowed is None:
            return f"unknown field '{name}'"
        return unknown_message("field", name, allowed)
    if kind == "missing":
        return f"required field '{loc[-1]}' is missing" if loc else "required field is missing"
    if kind in _VALIDATOR_PREFIXES:
        prefix = _VALIDATOR_PREFIXES[kind]
        return msg.removeprefix(prefix) if len(msg) > len(prefix) else msg
    if kind == "union_tag_invalid":
        ctx = err.get("ctx") or {}
        tags = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        best = suggest(str(ctx.get("tag", "")), tags) if tags else None
        return f"{msg}; did you mean '{best}'?" if best else msg
    shown = _show(value)
    if kind == "finite_number" and isinstance(value, float):  # YAML's .inf, -.inf, .nan
        if math.isnan(value):
            return ".nan is not a number: expected a finite number"
        return f"{'-' if value < 0 else ''}.inf is not allowed: expected a finite number"
    if kind in _CONSTRAINT_TYPES:
        return f"{shown or 'value'} is not allowed: {msg}"
    if shown is not None:
        return f"{msg} (got {shown})"
    if isinstance(value, (dict, list)) and kind in {"model_type", "dataclass_type"}:
        return f"{msg} (got {_kind(value)})"
    return msg


def _discriminator_loc(loc: Path, ctx: dict, data: Any) -> Path:
    """Point a bad discriminated-union tag at the tag field itself (e.g. `threats.0.type`)."""
    field_name = str(ctx.get("discriminator", "")).strip("'\"")
    found, node = _lookup(data, loc)
    if found and isinstance(node, dict) and field_name in node:
        return (*loc, field_name)
    return loc


def _show(value: Any) -> str | None:
    """Short YAML-ish rendering of an input value, or None if it is too long to be useful."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float, str)):
        text = repr(value)
    elif isinstance(value, (dict, list)):
        return None
    else:
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else None


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _lookup(data: Any, path: Path) -> tuple[bool, Any]:
    node = data
    for part in path:
        if not _has_child(node, part):
            return False, None
        node = node[part]
    return True, node


def _has_child(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        try:
            return part in node
        except TypeError:
            return False
    if isinstance(node, list) and isinstance(part, int) and not isinstance(part, bool):
        return 0 <= part < len(node)
    return False


# --- Walking pydantic's loc alongside the data and the model's type annotations ---------------


def _clean_loc(loc: Path, data: Any, model_cls: Any) -> tuple[Path, list[Any]]:
    """Drop pydantic's union/validator tags from ``loc``; also return the types of its parent.

    A part is kept if it is a real key/index in the data, or a field name of the model at that
    point (a missing field), or, when the model is unknown, the last part under a mapping that
    does not look like a pydantic tag. The second result is the list of candidate types of the
    object containing the last kept part (used to list allowed field names).
    """
    kept: list[Any] = []
    node, have_node = data, True
    types_here: list[Any] = members(model_cls) if model_cls is not None else []
    parent_types: list[Any] = []
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if have_node and _has_child(node, part):
            keep = True
            node = node[part]
        elif _is_field(types_here, part) or (
            last and have_node and isinstance(node, dict) and _could_be_key(types_here, part)
        ):
            keep, have_node = True, False
        elif not have_node and not _looks_like_tag(types_here, part):
            keep = True
        else:
            keep = False
        if keep:
            kept.append(part)
            parent_types = types_here
            types_here = child_types(types_here, part)
        else:
            types_here = _narrow(types_here, part)
    return tuple(kept), parent_types


def _allowed_fields(candidates: list[Any]) -> list[str] | None:
    """Field names accepted at this point, if exactly one model type is possible; else None."""
    models = [fields for tp in candidates if (fields := fields_of(tp)) is not None]
    if len(models) != 1:
        return None
    return list(dict.fromkeys(shown for shown, _ in models[0].values()))


def _is_field(candidates: list[Any], part: Any) -> bool:
    return any(
        isinstance(part, str) and part in fields
        for tp in candidates
        if (fields := fields_of(tp)) is not None
    )


def _could_be_key(candidates: list[Any], part: Any) -> bool:
    """For a part missing from a mapping: a missing field name rather than a union tag?"""
    if any(fields_of(tp) is not None for tp in candidates):
        return False  # the model is known and `part` is not one of its fields
    return not _looks_like_tag(candidates, part)


def _looks_like_tag(candidates: list[Any], part: Any) -> bool:
    if not isinstance(part, str):
        return False
    if part in _BUILTIN_TAGS or any(ch in part for ch in "[]()"):
        return True
    return bool(_narrowed(candidates, part))


def _narrowed(candidates: list[Any], tag: str) -> list[Any]:
    """Union members a pydantic loc tag refers to: by class name or by a Literal field value."""
    by_name = [tp for tp in candidates if getattr(tp, "__name__", None) == tag]
    if by_name:
        return by_name
    out = []
    for tp in candidates:
        fields = fields_of(tp)
        if not fields:
            continue
        for _, annotation in fields.values():
            literals = [a for a in members(annotation) if get_origin(a) is Literal]
            if any(tag in get_args(lit) for lit in literals):
                out.append(tp)
                break
    return out


def _narrow(candidates: list[Any], tag: Any) -> list[Any]:
    if not isinstance(tag, str):
        return candidates
    return _narrowed(candidates, tag) or candidates


# --------------------------------------------------------------------------- file kinds

# kind -> (the command that takes it, top-level keys that only that kind of file has)
FILE_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    # in this order: a calibration file has `parameters` too
    "scenario": ("salvo run", ("salvo", "defences", "launch_sites")),
    "campaign": ("salvo campaign", ("calendar", "attacker", "defender")),
    "calibration": ("salvo validate --scenario", ("builder", "posture")),
    "experiment": ("salvo sweep", ("parameters", "design", "derived")),
    # told by its format tag only; it is used as a campaign's `attacker.policy.fit`
    "attacker fit": ("salvo check", ()),
}
FORMAT_KINDS = {"salvo-calibration/1": "calibration", "salvo-attacker-fit/1": "attacker fit"}


def file_kind(data: Any) -> str | None:
    """The kind of salvo file YAML data is, from its top-level keys (None if it says none)."""
    if not isinstance(data, Mapping):
        return None
    tag = data.get("format")
    if isinstance(tag, str) and tag in FORMAT_KINDS:
        return FORMAT_KINDS[tag]
    for kind, (_, keys) in FILE_KINDS.items():
        if any(key in data for key in keys):
            return kind
    return None


def require_kind(loaded: LoadedYaml, expected: str) -> None:
    """InputError naming the right command when the file is plainly another kind of salvo
    file (a campaign given to `salvo run`, say), instead of a wall of schema errors."""
    kind = file_kind(loaded.data)
    if kind is not None and kind != expected:
        command = FILE_KINDS[kind][0]
        article = "an" if kind[0] in "aeiou" else "a"
        wanted = "an" if expected[0] in "aeiou" else "a"
        raise InputError.single(
            loaded.file,
            f"this is {article} {kind} file, not {wanted} {expected} file: use "
            f"`{command} {loaded.file}`",
        )
