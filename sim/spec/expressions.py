"""The small arithmetic language of an experiment's `derived` values.

A `derived` entry computes a value for each design point from the parameters, e.g.
``round(drones * 384 / 574)``: numbers, names, ``+ - * / // % **``, unary minus,
parentheses and the functions round, floor, ceil, int, float, min, max, abs. The text is
parsed with Python's `ast` and only those nodes are allowed, so nothing else can run.

The arithmetic is bounded, so no expression can hang or fill the memory (`9**9**9` would
compute a number of 370 million digits): the text is at most `MAX_EXPRESSION_CHARS` long and
nested at most `MAX_DEPTH` deep, every whole-number result lies within `MAX_INT`, every
fractional result is finite, and a power or a `round` to a number of digits is checked
*before* it is computed. A value beyond a limit is refused with ExpressionLimitError.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from sim.spec.yamlio import unknown_message

# Limits of the arithmetic. No real experiment comes near them: derived values are counts,
# shares, ranges and costs of at most a few hundred characters and a few levels of brackets.
# the longest expression text: a real one is a line (`round(drones * 384 / 574)`)
MAX_EXPRESSION_CHARS = 1000
# the deepest nesting of operators, calls and brackets (evaluation recurses once a level)
MAX_DEPTH = 50
# the largest whole number a result may have: a results column of whole numbers is int64
# (Arrow, pandas), and no count, seed or cost exceeds it; bigger ones cost time and memory
# without bound (Python integers have no size limit)
MAX_INT = 2**63 - 1
# the largest magnitude of a fractional result: the float range (beyond it: inf)
MAX_FLOAT = 1.7976931348623157e308
# the most decimal digits `round(x, n)` may round to, either way (`round(5, -10**18)`
# computes 10**(10**18)); a float has 17 significant digits, an int64 19
MAX_ROUND_DIGITS = 30


class ExpressionLimitError(ValueError):
    """A derived value would be beyond the bounds of the arithmetic (too big, not finite)."""


def _show(value: Any) -> str:
    """A number as a message shows it: short, whatever its size."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    return f"{value:g}" if isinstance(value, float) else str(value)


def checked_round(*args: Any) -> Any:
    """`round(x)` or `round(x, n)` with `n` at most MAX_ROUND_DIGITS either way."""
    if len(args) == 2 and isinstance(args[1], int) and abs(args[1]) > MAX_ROUND_DIGITS:
        raise ExpressionLimitError(
            f"round to {_show(args[1])} digits is beyond the limit of {MAX_ROUND_DIGITS}"
        )
    return round(*args)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "round": checked_round,
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
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ValueError(
            f"the expression is {len(text)} characters long, more than the limit of "
            f"{MAX_EXPRESSION_CHARS}"
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        reason = err.msg if isinstance(err, SyntaxError) else str(err) or type(err).__name__
        raise ValueError(f"invalid expression '{text}': {reason}") from None
    if depth(tree) > MAX_DEPTH:
        raise ValueError(f"the expression is nested more than {MAX_DEPTH} levels deep")
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
            bounded(node.value)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ValueError(f"operator '{ast.unparse(node)}' is not allowed")
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise ValueError(f"operator in '{ast.unparse(node)}' is not allowed")
        elif not isinstance(node, ast.Expression | ast.Load | ast.operator | ast.unaryop):
            raise ValueError(f"'{ast.unparse(node)}' is not allowed in an expression")
    return tree, names


def depth(node: ast.AST) -> int:
    """How deeply `node` nests (1 for a number or a name), without recursion."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(current))
    return deepest


def bounded(value: Any) -> Any:
    """`value` if it is a real number within the limits, else ExpressionLimitError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ExpressionLimitError(
                f"{_show(value)} is beyond the limit of whole numbers, {MAX_INT} (2**63 - 1)"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionLimitError(f"the result is {value}, not a finite number")
        return value
    if isinstance(value, complex):
        raise ExpressionLimitError("the result is not a real number")
    return value


def checked_power(base: Any, exponent: Any) -> Any:
    """`base ** exponent`, refused before it is computed if the result would be beyond the
    limits (a whole number beyond MAX_INT, a fraction beyond the float range)."""
    bounded(base)
    bounded(exponent)
    if isinstance(base, int | float) and isinstance(exponent, int | float):
        if base < 0 and isinstance(exponent, float) and not exponent.is_integer():
            raise ExpressionLimitError(f"{_show(base)} ** {_show(exponent)} is not a real number")
        if base != 0 and abs(base) != 1:
            magnitude = math.log10(abs(base)) * exponent  # log10 of the result's magnitude
            whole = isinstance(base, int) and isinstance(exponent, int) and exponent >= 0
            limit = math.log10(MAX_INT) if whole else math.log10(MAX_FLOAT)
            if magnitude > limit:
                kind = "whole numbers, 2**63 - 1" if whole else "numbers, about 1.8e308"
                raise ExpressionLimitError(
                    f"{_show(base)} ** {_show(exponent)} would be about 10**{magnitude:.0f}, "
                    f"beyond the limit of {kind}"
                )
    return bounded(operator.pow(base, exponent))


def evaluate(tree: ast.Expression, env: dict[str, Any]) -> Any:
    """Evaluate a tree from `parse_expression` with the variables in `env`, with every result
    within the limits of the arithmetic (ExpressionLimitError otherwise)."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow):
                return checked_power(left, right)
            return bounded(_BINARY[type(node.op)](bounded(left), bounded(right)))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.Call):
            args = [bounded(ev(arg)) for arg in node.args]
            return bounded(_FUNCTIONS[node.func.id](*args))  # type: ignore[attr-defined]
        raise ValueError(f"cannot evaluate '{ast.unparse(node)}'")  # pragma: no cover

    return ev(tree)
