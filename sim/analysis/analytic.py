"""Closed forms the simulation is held against (Erlang loss, layered leakage, salvo equations).

These are the textbook results for the idealised cases the engagement core reduces to
when geometry, failures and electronic warfare are switched off:

- Erlang B: the blocking probability of an M/G/c/c loss system with offered load
  A = lambda * mean service time (insensitive to the service-time distribution),
  computed with the numerically stable recursion B(0) = 1,
  B(k) = A B(k-1) / (k + A B(k-1)). Reference: A. K. Erlang (1917); L. Kleinrock,
  *Queueing Systems, Vol. 1* (1975), section 3.7; D. Gross et al., *Fundamentals of
  Queueing Theory* (4th ed., 2008), section 2.5.
- Independent layers: a threat survives every layer with probability prod(1 - p_i).
- Salvo and shoot-look-shoot: k independent shots (or up to m looks of one shot each,
  stopping at the first kill) kill with probability 1 - (1 - pk)^k; shoot-look-shoot
  spends on average (1 - (1 - pk)^m) / pk rounds. Reference: A. R. Washburn and
  M. Kress, *Combat Modeling* (2009), chapters 2 and 9.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

__all__ = [
    "erlang_b",
    "expected_leakers",
    "layered_kill_probability",
    "salvo_kill_probability",
    "shoot_look_shoot_expected_shots",
    "shoot_look_shoot_kill_probability",
]


def _probability(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def erlang_b(channels: int, offered_load: float) -> float:
    """Erlang B blocking probability of `channels` servers offered `offered_load` erlangs."""
    c = _count(channels, "channels")
    if (
        isinstance(offered_load, bool)
        or not isinstance(offered_load, Real)
        or not math.isfinite(offered_load)
        or offered_load < 0.0
    ):
        raise ValueError(f"offered_load must be finite and >= 0, got {offered_load!r}")
    a = float(offered_load)
    blocking = 1.0
    for k in range(1, c + 1):
        blocking = a * blocking / (k + a * blocking)
    return blocking


def layered_kill_probability(pks: Sequence[float]) -> float:
    """Kill probability of independent layers with kill probabilities `pks`: 1 - prod(1 - p)."""
    survive = 1.0
    for k, p in enumerate(pks):
        survive *= 1.0 - _probability(p, f"pks[{k}]")
    return 1.0 - survive


def salvo_kill_probability(pk: float, shots: int) -> float:
    """Kill probability of `shots` independent rounds fired together: 1 - (1 - pk)^shots."""
    p = _probability(pk, "pk")
    return 1.0 - (1.0 - p) ** _count(shots, "shots")


def shoot_look_shoot_kill_probability(pk: float, max_looks: int) -> float:
    """Kill probability of up to `max_looks` single-round looks, stopping at the first kill."""
    p = _probability(pk, "pk")
    return 1.0 - (1.0 - p) ** _count(max_looks, "max_looks")


def shoot_look_shoot_expected_shots(pk: float, max_looks: int) -> float:
    """Mean rounds spent by shoot-look-shoot with up to `max_looks` looks: sum (1 - pk)^j."""
    p = _probability(pk, "pk")
    m = _count(max_looks, "max_looks")
    return float(m) if p == 0.0 else (1.0 - (1.0 - p) ** m) / p


def expected_leakers(n: float, p_kill: float) -> float:
    """Expected number of `n` threats that are not killed when each is killed w.p. `p_kill`."""
    if isinstance(n, bool) or not isinstance(n, Real) or not math.isfinite(n) or n < 0:
        raise ValueError(f"n must be finite and >= 0, got {n!r}")
    return float(n) * (1.0 - _probability(p_kill, "p_kill"))
