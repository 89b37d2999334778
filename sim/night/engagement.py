"""The event-driven engagement core: who shoots at what, when, and with what result.

Input is the list of envelope windows (threat i is inside unit u's intercept envelope from
t_in to t_out), plus per-threat and per-unit parameters. Events are walked in time order:
a unit can first have an interceptor meet a threat `reaction_s` after it enters the
envelope, so it fires `engage_s` (fly-out and kill assessment) before that, taking a free
channel, if it has rounds and the intercept falls before the threat leaves; a busy
unit keeps the threat in a queue (most urgent first) if its doctrine allows; an
engagement resolves `engage_s` later with one kill draw for the rounds fired; after a
miss a shoot-look-shoot unit fires again while the threat is still inside. Magazines
empty and reload from the unit's reserve. EW sites suppress instead of shooting.

Plain Python lists and a heap: at a few thousand windows per night this is faster than
any vectorised alternative, and it is exact in continuous time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from sim.vocab import FLYING, NO_UNIT, SHOT_DOWN, SUPPRESSED

_RESOLVE, _RELOAD = 0, 1
_EPS = 1e-9


class UniformStream:
    """Uniform(0, 1) draws from a Generator, fetched in blocks of `block` as they are needed.

    Call it for one draw, or take `next` of `draws` in a hot loop (no Python call per draw).
    """

    def __init__(self, rng: np.random.Generator, block: int = 2048) -> None:
        self.draws: Iterator[float] = itertools.chain.from_iterable(_chunks(rng, block))

    def __call__(self) -> float:
        return next(self.draws)


def _chunks(rng: np.random.Generator, block: int, chunk: int = 256) -> Iterator[list[float]]:
    """Blocks of uniforms from `rng`, handed out as lists of `chunk` (made only when reached)."""
    while True:
        values = rng.random(block)
        for start in range(0, block, chunk):
            yield values[start : start + chunk].tolist()


@dataclass
class UnitParams:
    """Per-unit engagement parameters, one row per unit (numpy arrays).

    `sim.night.laydown.UnitBatch`, a night's units, extends it with their groups and positions.
    """

    pk: np.ndarray  # (units, classes) single-shot kill probability
    suppression: np.ndarray  # (units, classes) EW suppression probability
    channels: np.ndarray
    magazine: np.ndarray
    reserve: np.ndarray
    reload_s: np.ndarray
    reaction_s: np.ndarray
    engage_s: np.ndarray
    shots: np.ndarray  # rounds per engagement
    shoot_look_shoot: np.ndarray  # bool
    queue: np.ndarray  # bool
    decoy_discrimination: np.ndarray
    is_ew: np.ndarray  # bool


@dataclass
class ThreatParams:
    """Per-threat parameters the core needs."""

    cls: np.ndarray  # class index
    t_start: np.ndarray  # s, launch time (nothing is fired at a threat before it exists)
    t_stop: np.ndarray  # s, when the threat stops being engageable (arrival, failure, EW loss)
    is_decoy: np.ndarray  # bool
    ew_susceptibility: np.ndarray


@dataclass
class EngagementOutcome:
    """What the defence did: threat states at the end of the core, shots and kills per unit."""

    state: np.ndarray  # FLYING (not stopped by the defence), SHOT_DOWN or SUPPRESSED
    killer: np.ndarray  # unit index or NO_UNIT
    t_state: np.ndarray  # s, time of the kill or suppression (nan while flying)
    shots: np.ndarray  # rounds fired per unit
    engagements: np.ndarray  # engagements started per unit
    magazine_left: np.ndarray  # rounds left per unit (ready + reserve)
    shot_log: list[tuple[float, int, int, int]] = field(default_factory=list)
    # (time, unit, threat, rounds) for every engagement, kept only when asked


def run_engagements(
    window_threat: np.ndarray,
    window_unit: np.ndarray,
    t_in: np.ndarray,
    t_out: np.ndarray,
    threats: ThreatParams,
    units: UnitParams,
    uniform: UniformStream,
    *,
    log_shots: bool = False,
    cache: dict | None = None,
) -> EngagementOutcome:
    """Walk all engagement opportunities of one night in time order.

    `cache` (a dict kept by the caller, e.g. the night's plan) holds the Python lists of
    unit parameters between nights that pass the same arrays, so they are made once.
    """
    n_threats = len(threats.cls)
    n_units = len(units.channels)
    state = [FLYING] * n_threats
    killer = [NO_UNIT] * n_threats
    t_state = [float("nan")] * n_threats
    shots_fired = [0] * n_units
    engagements = [0] * n_units

    w_threat = window_threat.tolist()
    w_unit = window_unit.tolist()
    w_out = t_out.tolist()
    cls = threats.cls.tolist()
    t_stop = threats.t_stop.tolist()
    is_decoy = threats.is_decoy.tolist()
    susceptibility = threats.ew_susceptibility.tolist()

    def listed(name: str, as_int: bool = False) -> list:
        return _listed(cache, name, getattr(units, name), as_int)

    pk = listed("pk")
    supp = listed("suppression")
    free = list(listed("channels", True))  # lists the loop changes are copies
    mag = list(listed("magazine", True))
    capacity = listed("magazine", True)
    reserve = list(listed("reserve", True))
    reload_s = listed("reload_s")
    engage_s = listed("engage_s")
    shots_per = listed("shots", True)
    sls = listed("shoot_look_shoot")
    queues = listed("queue")
    discrimination = listed("decoy_discrimination")
    is_ew = listed("is_ew")
    waiting: dict[int, list[tuple[float, int]]] = {}  # per unit, made when first needed
    shot_log: list[tuple[float, int, int, int]] = []

    # the first kill assessment can come `reaction_s` after entry, so the first round is fired
    # `engage_s` before that (units see threats before they enter the intercept envelope);
    # opportunities are sorted once and merged with the event heap
    t_open = np.maximum(
        t_in + units.reaction_s[window_unit] - units.engage_s[window_unit],
        threats.t_start[window_threat],
    )
    # opportunities that can never lead to an engagement are dropped here, vectorised: the
    # threat stops first, or (for shooters) the envelope is too short for one intercept
    useful = (t_open < threats.t_stop[window_threat]) & (
        units.is_ew[window_unit] | (t_open + units.engage_s[window_unit] <= t_out + _EPS)
    )
    candidates = np.flatnonzero(useful)
    order = candidates[np.argsort(t_open[candidates], kind="stable")]
    open_order = order.tolist()
    open_times = t_open[order].tolist()
    open_threat = window_threat[order].tolist()
    open_unit = window_unit[order].tolist()
    heap: list[tuple[float, int, int, int, int]] = []  # (time, kind, seq, a, b)
    seq = itertools.count(1)  # ties in time and kind go in the order events were made
    push, pop = heapq.heappush, heapq.heappop
    draw = uniform.draws.__next__ if isinstance(uniform, UniformStream) else uniform

    def engage(u: int, w: int, t: float) -> bool:
        if free[u] <= 0 or mag[u] <= 0 or t + engage_s[u] > w_out[w] + _EPS:
            return False
        rounds = shots_per[u] if shots_per[u] <= mag[u] else mag[u]
        mag[u] -= rounds
        free[u] -= 1
        shots_fired[u] += rounds
        engagements[u] += 1
        if log_shots:
            shot_log.append((t, u, w_threat[w], rounds))
        push(heap, (t + engage_s[u], _RESOLVE, next(seq), w, rounds))
        if mag[u] == 0 and reserve[u] > 0:
            push(heap, (t + reload_s[u], _RELOAD, next(seq), u, 0))
        return True

    def serve_waiting(u: int, t: float) -> None:
        queue = waiting[u]
        while queue and free[u] > 0 and mag[u] > 0:
            _, w = pop(queue)
            i = w_threat[w]
            if state[i] == FLYING and t < t_stop[i]:
                engage(u, w, t)

    def run_events(until: float) -> None:
        """Resolve engagements and finish reloads due at or before `until`, in time order."""
        while heap and heap[0][0] <= until:
            t, kind, _, a, b = pop(heap)
            if kind == _RESOLVE:
                w, rounds = a, b
                u = w_unit[w]
                i = w_threat[w]
                free[u] += 1
                if state[i] == FLYING and t < t_stop[i]:
                    p_kill = 1.0 - (1.0 - pk[u][cls[i]]) ** rounds
                    if draw() < p_kill:
                        state[i] = SHOT_DOWN
                        killer[i] = u
                        t_state[i] = t
                    elif sls[u] and not engage(u, w, t) and queues[u]:
                        push(waiting.setdefault(u, []), (w_out[w], w))
            else:  # reload complete
                u = a
                load = capacity[u] if capacity[u] <= reserve[u] else reserve[u]
                mag[u] += load
                reserve[u] -= load
            if waiting.get(u):
                serve_waiting(u, t)

    # opportunities in time order; events due at the same time or earlier go first
    for w, t, i, u in zip(open_order, open_times, open_threat, open_unit, strict=True):
        if heap and heap[0][0] <= t:
            run_events(t)
        if state[i] != FLYING:  # (useful opportunities open before their threat stops)
            continue
        if is_ew[u]:
            p = supp[u][cls[i]] * susceptibility[i]
            if p > 0.0 and draw() < p:
                state[i] = SUPPRESSED
                killer[i] = u
                t_state[i] = t
            continue
        if is_decoy[i] and discrimination[u] > 0.0 and draw() < discrimination[u]:
            continue
        if not engage(u, w, t) and queues[u] and t + engage_s[u] <= w_out[w] + _EPS:
            push(waiting.setdefault(u, []), (w_out[w], w))
    run_events(float("inf"))

    return EngagementOutcome(
        state=np.asarray(state, dtype=np.int8),
        killer=np.asarray(killer, dtype=np.int64),
        t_state=np.asarray(t_state, dtype=float),
        shots=np.asarray(shots_fired, dtype=np.int64),
        engagements=np.asarray(engagements, dtype=np.int64),
        magazine_left=np.asarray(mag, dtype=np.int64) + np.asarray(reserve, dtype=np.int64),
        shot_log=shot_log,
    )


def _listed(cache: dict | None, name: str, array: np.ndarray, as_int: bool) -> list:
    """`array` as a Python list (of ints if `as_int`), from `cache` while it is the same array.

    The cached list is shared: callers copy it before changing it.
    """
    if cache is not None:
        hit = cache.get(name)
        if hit is not None and hit[0] is array:
            return hit[1]
    values = (array.astype(int) if as_int else array).tolist()
    if cache is not None:
        cache[name] = (array, values)
    return values
