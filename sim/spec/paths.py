"""Dotted paths (``salvo.shahed.count``): checked against a file's schema and data, then set.

An experiment names each field it varies by its dotted path, in a scenario or a campaign.
`resolve_path` walks the path down the schema (the pydantic models' annotations, via
`sim.spec.reflect`) and the file's data together, so a misspelt field or an unknown group
name is reported before anything runs; `set_path` writes a value there in the raw data.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from sim.spec.reflect import is_model, members, type_text, yaml_key
from sim.spec.scenario import Scenario
from sim.spec.yamlio import unknown_message


def _tag_matches(model: type[BaseModel], node: dict) -> bool:
    """False if `node` sets a single-valued Literal field (a union tag) to another value."""
    for name, info in model.model_fields.items():
        key = yaml_key(name, info)
        literal = [a for a in members(info.annotation) if get_origin(a) is Literal]
        if key in node and literal and node[key] not in get_args(literal[0]):
            return False
    return True


_KEY_WHAT: dict[tuple[str, ...], str] = {
    ("salvo",): "salvo group",
    ("defences",): "defence group",
    ("launch_sites",): "launch site",
    ("targets",): "target",
    ("catalog", "threats"): "threat type",
    ("catalog", "defences"): "defence type",
}


def resolve_path(
    text: str,
    data: dict,
    catalog_ids: dict[str, list[str]],
    *,
    root: type[BaseModel] = Scenario,
    what: str = "scenario",
) -> tuple[Any, ...]:
    """Check a dotted path against the scenario schema (or `root`'s) and the file's data.

    Returns the path's parts (list items as ints). A field may be absent from the file if the
    schema has it (it is then created); names the file chooses (salvo and defence groups,
    sites, targets) must exist in it, catalogue types in the catalogue. Raises ValueError with
    a message (and a did-you-mean suggestion) otherwise.
    """
    kinds: list[Any] = [root]
    node: Any = data
    present = True
    out: list[Any] = []
    for raw in text.split("."):
        here = ".".join(str(p) for p in out)
        models = [t for t in kinds if is_model(t)]
        maps = [t for t in kinds if get_origin(t) is dict]
        seqs = [t for t in kinds if get_origin(t) in (list, tuple)]
        if present and node is not None:
            if isinstance(node, dict):
                seqs = []
                models = [m for m in models if _tag_matches(m, node)] or models
            elif isinstance(node, list):
                models, maps = [], []
            else:
                models, maps, seqs = [], [], []
        part: Any = raw
        if models:
            fields: dict[str, list[Any]] = {}
            for model in models:
                for name, info in model.model_fields.items():
                    fields.setdefault(yaml_key(name, info), []).append(info.annotation)
            if raw not in fields:
                message = unknown_message("field", raw, fields)
                where = f" in {here}" if here else f" at the top of a {what}"
                raise ValueError(message.replace(f"'{raw}'", f"'{raw}'{where}", 1))
            kinds = [m for ann in fields[raw] for m in members(ann)]
        elif maps:
            key_type, value_type = get_args(maps[0])
            literals = [k for k in members(key_type) if get_origin(k) is Literal]
            if literals:
                allowed = list(get_args(literals[0]))
            else:
                allowed = list(node) if present and isinstance(node, dict) else []
                for extra in catalog_ids.get(here, []):
                    if extra not in allowed:
                        allowed.append(extra)
            if raw not in allowed:
                what = _KEY_WHAT.get(tuple(out), f"key of {here}")
                raise ValueError(unknown_message(what, raw, allowed))
            kinds = members(value_type)
        elif seqs:
            if not present or not isinstance(node, list):
                raise ValueError(
                    f"{here} is not written in the scenario, so its items cannot be set one by "
                    f"one; vary the whole of {here}"
                )
            if not raw.isdigit():
                raise ValueError(
                    f"{here} is a list: name an item by its number 0-{len(node) - 1}, not '{raw}'"
                )
            part = int(raw)
            if part >= len(node):
                raise ValueError(f"{here} has {len(node)} items (0-{len(node) - 1}), not {part}")
            args = get_args(seqs[0])
            if get_origin(seqs[0]) is list or (len(args) == 2 and args[1] is Ellipsis):
                kinds = members(args[0])
            else:
                kinds = members(args[part]) if part < len(args) else [Any]
        else:
            shown = type_text(kinds[0]) if kinds else "a value"
            raise ValueError(f"{here} is a single value ({shown}); it has no field '{raw}'")
        out.append(part)
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int)
        if present and (in_dict or in_list):
            node = node[part]
        else:
            present, node = False, None
    return tuple(out)


def set_path(data: dict, parts: Sequence[Any], value: Any) -> None:
    """Set `value` at `parts` in raw scenario data, creating absent mappings on the way."""
    node: Any = data
    for part in parts[:-1]:
        child = node[part] if isinstance(node, list) else node.get(part)
        if not isinstance(child, dict | list):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = copy.deepcopy(value)
