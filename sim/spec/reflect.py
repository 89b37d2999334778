"""Looking inside the file models' type annotations: what a field holds, and how it is named.

Three places walk the annotations of the pydantic file models: `sim.spec.yamlio` (to clean
pydantic's error locations and list the fields allowed where an unknown one was written),
`sim.spec.paths` (to check an experiment's dotted path against a schema) and the generated
references in `sim.refdocs` (to list the models and describe each field's type). They share
these functions, so a type reads the same in an error message and in the docs.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.spec.types import Weights
from sim.vocab import CLASSES

# --------------------------------------------------------------------------- walking


def members(tp: Any) -> list[Any]:
    """Flatten Annotated / Optional / Union / NewType / type aliases into concrete candidates."""
    origin = get_origin(tp)
    if origin is Annotated:
        return members(get_args(tp)[0])
    if is_union(tp):
        out: list[Any] = []
        for arg in get_args(tp):
            if arg is not type(None):
                out.extend(members(arg))
        return out
    supertype = getattr(tp, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return members(supertype)
    alias_value = getattr(tp, "__value__", None)  # `type X = ...` / TypeAliasType
    if alias_value is not None and not isinstance(tp, type):
        return members(alias_value)
    return [tp]


def is_union(tp: Any) -> bool:
    """Whether `tp` is a `Union[...]` or an `X | Y`."""
    origin = get_origin(tp)
    return origin is Union or origin is types.UnionType


def non_none(args: Sequence[Any]) -> list[Any]:
    """The members of a union's arguments other than None."""
    return [a for a in args if a is not type(None)]


def is_model(tp: Any) -> bool:
    """Whether `tp` is a pydantic model class."""
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def yaml_key(name: str, info: FieldInfo) -> str:
    """The key a field has in a YAML file (its alias, e.g. `class` for `class_`)."""
    return info.alias or name


def fields_of(tp: Any) -> dict[str, tuple[str, Any]] | None:
    """Map every accepted key of a model/dataclass to (display name, annotation); else None."""
    pyd_fields = getattr(tp, "__pydantic_fields__", None) if isinstance(tp, type) else None
    if isinstance(pyd_fields, dict):
        out: dict[str, tuple[str, Any]] = {}
        for name, info in pyd_fields.items():
            shown = yaml_key(name, info)
            entry = (shown, info.annotation)
            out[shown] = entry
            if isinstance(info.validation_alias, str):
                out[info.validation_alias] = entry
            out.setdefault(name, entry)
        return out
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        try:
            hints = typing.get_type_hints(tp, include_extras=True)
        except Exception:  # unresolved forward references: names are still useful
            hints = {}
        return {f.name: (f.name, hints.get(f.name, Any)) for f in dataclasses.fields(tp) if f.init}
    return None


def child_types(candidates: list[Any], part: Any) -> list[Any]:
    """The candidate types one step below `candidates`: at field, key or item `part`."""
    out: list[Any] = []
    for tp in candidates:
        out.extend(_child_type(tp, part))
    return out


def _child_type(tp: Any, part: Any) -> list[Any]:
    fields = fields_of(tp)
    if fields is not None:
        entry = fields.get(part) if isinstance(part, str) else None
        return members(entry[1]) if entry is not None else []
    origin = get_origin(tp)
    args = get_args(tp)
    if not isinstance(origin, type) or not args:
        return []
    if issubclass(origin, collections.abc.Mapping):
        return members(args[1]) if len(args) == 2 else []
    if not isinstance(part, int):
        return []
    if issubclass(origin, tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            return members(args[0])
        return members(args[part]) if 0 <= part < len(args) else []
    if issubclass(origin, (collections.abc.Sequence, collections.abc.Set)):
        return members(args[0])
    return []


def models_in(tp: Any) -> list[type[BaseModel]]:
    """Model classes mentioned anywhere in an annotation, in order of appearance."""
    if is_model(tp):
        return [tp]
    out: list[type[BaseModel]] = []
    for arg in get_args(tp):
        for model in models_in(arg):
            if model not in out:
                out.append(model)
    return out


def reachable_models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """Every model reachable from ``root``, depth first in field order (``root`` first)."""
    order: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in order:
            return
        order.append(model)
        for info in model.model_fields.values():
            for child in models_in(info.annotation):
                visit(child)

    visit(root)
    return order


# --------------------------------------------------------------------------- naming


def model_title(model: type[BaseModel]) -> str:
    """The name a model has in the docs and in messages: its `title`, else its class name.

    A model whose class is named apart from a Mesa agent (`TargetSpec`) keeps the name a
    file's author knows (`Target`) through `model_config = ConfigDict(title=...)`.
    """
    return model.model_config.get("title") or model.__name__


def model_link(model: type[BaseModel]) -> str:
    """A Markdown link to the model's section of a generated reference."""
    title = model_title(model)
    return f"[{title}](#{title.lower()})"


def constraints(metadata: Sequence[Any]) -> dict[str, Any]:
    """Bounds and string rules from pydantic/annotated-types metadata (nested Field()s too)."""
    found: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            found.update(constraints(item.metadata))
            continue
        for attr in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(item, attr, None)
            if value is not None:
                found[attr] = value
    return found


def unwrap(tp: Any, metadata: Sequence[Any] = ()) -> tuple[Any, dict[str, Any]]:
    """Strip `Annotated[...]`, returning the bare type and its constraints."""
    extra = list(metadata)
    while get_origin(tp) is Annotated:
        args = get_args(tp)
        tp, extra = args[0], [*extra, *args[1:]]
    return tp, constraints(extra)


def _num(x: float) -> str:
    return f"{x:g}"


def _number(kind: str, c: dict[str, Any]) -> str:
    lo, hi = c.get("ge"), c.get("le")
    if kind == "number" and "gt" not in c and "lt" not in c:
        if (lo, hi) == (0, 1):
            return "probability [0, 1]"
        if (lo, hi) == (-180, 180):
            return "longitude [-180, 180]"
        if (lo, hi) == (-90, 90):
            return "latitude [-90, 90]"
    low = f"≥ {_num(c['ge'])}" if "ge" in c else f"> {_num(c['gt'])}" if "gt" in c else ""
    high = f"≤ {_num(c['le'])}" if "le" in c else f"< {_num(c['lt'])}" if "lt" in c else ""
    if low and high:
        left = "[" if "ge" in c else "("
        right = "]" if "le" in c else ")"
        lo_v = c.get("ge", c.get("gt"))
        hi_v = c.get("le", c.get("lt"))
        return f"{kind} in {left}{_num(lo_v)}, {_num(hi_v)}{right}"
    return f"{kind} {low or high}".strip()


def _short(tp: Any, metadata: Sequence[Any] = ()) -> str:
    """Compact element names inside a fixed-length list (`[lon, lat]`, `[number, number]`)."""
    text = type_text(tp, metadata)
    return {"longitude [-180, 180]": "lon", "latitude [-90, 90]": "lat"}.get(text, text)


def _literal_text(values: Sequence[Any]) -> str:
    if tuple(values) == CLASSES:
        return "threat class"
    if len(values) == 1:
        return f"`{values[0]}`"
    return "one of: " + ", ".join(str(v) for v in values)


def _key_text(tp: Any) -> str:
    tp, _ = unwrap(tp)
    if tp is str:
        return "name"
    if get_origin(tp) is Literal:
        values = get_args(tp)
        return "threat class" if tuple(values) == CLASSES else " / ".join(values)
    return type_text(tp)


def type_text(tp: Any, metadata: Sequence[Any] = ()) -> str:
    """A human-readable description of a field's type, e.g. "list of [lon, lat]"."""
    tp, c = unwrap(tp, metadata)
    origin, args = get_origin(tp), get_args(tp)
    if is_union(tp) and len(non_none(args)) == 1:  # `X | None`: optional-ness is shown apart
        return type_text(non_none(args)[0])
    if is_model(tp):
        return model_link(tp)
    if tp is bool:
        return "true / false"
    if tp is int:
        return _number("whole number", c)
    if tp is float:
        return _number("number", c)
    if tp is str:
        if "pattern" in c:
            return f"text matching `{c['pattern']}`"
        if "min_length" in c:
            return f"text (at least {c['min_length']} characters)"
        return "text"
    if origin is Literal:
        return _literal_text(args)
    if origin is list:
        item, _ = unwrap(args[0])
        if item is str:
            return "list of text"
        text = type_text(args[0])
        return "list of threat classes" if text == "threat class" else f"list of {text}"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {type_text(args[0])}"
        return "[" + ", ".join(_short(a) for a in args) + "]"
    if origin is dict:
        key, value = args
        value_bare, _ = unwrap(value)
        value_text = "text" if value_bare is str else type_text(value)
        return f"mapping {_key_text(key)} → {value_text}"
    if is_union(tp):
        members_text = [type_text(a) for a in non_none(args)]
        if all(m.startswith("[") and "](#" in m for m in members_text):
            return "one of: " + ", ".join(members_text)
        if tp == Weights:
            return "list of names (equal weights), or mapping name → weight ≥ 0"
        return ", or ".join(members_text)
    return getattr(tp, "__name__", str(tp))
