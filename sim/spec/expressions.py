"""The small arithmetic language of an experiment's `derived` values.

A `derived` entry computes a value for each design point from the parameters, e.g.
``round(drones * 384 / 574)``: numbers, names, ``+ - * / // % **``, unary minus,
parentheses and the functions round, floor, ceil, int, float, min, max, abs. The text is
parsed with Python's `ast` and only those nodes are allowed, so nothing else can run.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from sim.spec.yamlio import unknown_message

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "int": int,
    "float": float,
    "min": min,
    "max": max,
    "abs": abs,
}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
FUNCTION_NAMES = frozenset(_FUNCTIONS)


def parse_expression(text: str) -> tuple[ast.Expression, list[str]]:
    """Parse a `derived` expression; return its tree and the variable names it uses.

    Allowed: numbers, names, + - * / // % **, unary minus, parentheses and calls of round,
    floor, ceil, int, float, min, max, abs. Raises ValueError with a readable message.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"invalid expression '{text}': {err.msg}") from None
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                shown = ast.unparse(node.func)
                raise ValueError(unknown_message("function", shown, _FUNCTIONS))
            if node.keywords:
                raise ValueError(f"{node.func.id}() takes positional arguments only")
        elif isinstance(node, ast.Name):
            if node.id not in _FUNCTIONS and node.id not in names:
                names.append(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ValueError(
                    f"only numbers may be written in an expression, not {node.value!r}"
                )
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ValueError(f"operator '{ast.unparse(node)}' is not allowed")
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise ValueError(f"operator in '{ast.unparse(node)}' is not allowed")
        elif not isinstance(node, ast.Expression | ast.Load | ast.operator | ast.unaryop):
            raise ValueError(f"'{ast.unparse(node)}' is not allowed in an expression")
    return tree, names


def evaluate(tree: ast.Expression, env: dict[str, Any]) -> Any:
    """Evaluate a tree from `parse_expression` with the variables in `env`."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.Call):
            return _FUNCTIONS[node.func.id](*(ev(arg) for arg in node.args))  # type: ignore[attr-defined]
        raise ValueError(f"cannot evaluate '{ast.unparse(node)}'")  # pragma: no cover

    return ev(tree)
