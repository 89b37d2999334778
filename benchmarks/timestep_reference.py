"""A naive time-stepped Mesa version of one night: the design salvo replaces.

Every agent is stepped every `DT_S` (10) simulated seconds. Threats move along their
polylines; every defence unit looks at every flying threat, compares the distance with
its radius for the threat's class and, with a free channel and rounds left, engages it;
the engagement resolves `engage_s` later with one kill draw. That is O(threats x units)
work per step, like a first version someone would write. It is the reference in the
timing ratios of `bench_night.py`, not a model to use: time is coarse (10 s) and the
rules are simplified, so its counts are only expected to be close to salvo's.

The night itself (routes, launch times, failure and background-EW times, unit positions
and parameters) is drawn by `sim.night.model.NightModel`, so both models fly the same night.

Run `python benchmarks/timestep_reference.py [SCENARIO] [--seed N]` to compare one night.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import mesa
import numpy as np

from sim.night.laydown import ThreatBatch, UnitBatch
from sim.night.model import NightModel, run_night
from sim.spec.scenario import Scenario, load_scenario
from sim.vocab import CLASSES

DT_S = 10.0
DECOY = CLASSES.index("decoy")

WAITING, FLYING, SHOT_DOWN, SUPPRESSED, LEAKED, FAILED = (
    "waiting",
    "flying",
    "shot_down",
    "suppressed",
    "leaked",
    "failed",
)
FINAL_STATES = (SHOT_DOWN, SUPPRESSED, LEAKED, FAILED)


class SteppedThreat(mesa.Agent):
    """One drone, decoy or missile flying a polyline at constant speed."""

    def __init__(self, model: TimeSteppedNight, batch: ThreatBatch, i: int) -> None:
        super().__init__(model)
        n = int(batch.n_points[i])
        self.points = [(float(x), float(y)) for x, y in batch.waypoints[i, :n]]
        self.cls = int(batch.cls[i])
        self.is_decoy = self.cls == DECOY
        self.ew_susceptibility = float(batch.ew_susceptibility[i])
        self.speed_kms = float(batch.speed_kms[i])
        self.t_launch = float(batch.t_launch[i])
        self.t_end = float(batch.t_end[i])
        self.t_fail = float(batch.t_fail[i])
        self.t_supp = float(batch.t_supp[i])
        self.x, self.y = self.points[0]
        self.leg = 0  # index of the leg being flown
        self.leg_start_km = 0.0  # distance flown at the start of that leg
        self.state = WAITING

    def step(self) -> None:
        if self.state in FINAL_STATES:
            return
        t = self.model.time_s
        if t < self.t_launch:
            return
        # the night ends for this threat by arrival, technical failure or background EW
        if t >= min(self.t_end, self.t_fail, self.t_supp):
            if self.t_fail <= self.t_supp and self.t_fail < self.t_end:
                self.state = FAILED
            elif self.t_supp < self.t_end:
                self.state = SUPPRESSED
            else:
                self.state = LEAKED
            return
        self.state = FLYING
        self._move_to((t - self.t_launch) * self.speed_kms)

    def _move_to(self, flown_km: float) -> None:
        """Put the threat `flown_km` along its polyline."""
        while self.leg < len(self.points) - 2:
            (x0, y0), (x1, y1) = self.points[self.leg], self.points[self.leg + 1]
            length = math.hypot(x1 - x0, y1 - y0)
            if flown_km <= self.leg_start_km + length:
                break
            self.leg_start_km += length
            self.leg += 1
        (x0, y0), (x1, y1) = self.points[self.leg], self.points[self.leg + 1]
        length = math.hypot(x1 - x0, y1 - y0)
        f = min(1.0, (flown_km - self.leg_start_km) / length) if length > 0 else 1.0
        self.x = x0 + f * (x1 - x0)
        self.y = y0 + f * (y1 - y0)


class Track:
    """What a unit knows about one threat while that threat is inside its radius."""

    __slots__ = ("engaged", "first_seen", "ignored", "in_flight", "last_seen")

    def __init__(self, t: float) -> None:
        self.first_seen = t
        self.last_seen = t
        self.engaged = False  # engaged at least once during this pass
        self.in_flight = False  # an engagement is under way
        self.ignored = False  # recognised as a decoy, or a loss-system unit was busy


class SteppedUnit(mesa.Agent):
    """One battery, fire group, fighter patrol, interceptor-drone team or EW site."""

    def __init__(self, model: TimeSteppedNight, batch: UnitBatch, u: int) -> None:
        super().__init__(model)
        self.x, self.y = (float(v) for v in batch.xy[u])
        self.radius = [float(r) for r in batch.radius_km[u]]
        self.pk = [float(p) for p in batch.pk[u]]
        self.suppression = [float(p) for p in batch.suppression[u]]
        self.free = int(batch.channels[u])
        self.magazine = int(batch.magazine[u])
        self.capacity = self.magazine
        self.reserve = int(batch.reserve[u])
        self.reload_s = float(batch.reload_s[u])
        self.reaction_s = float(batch.reaction_s[u])
        self.engage_s = float(batch.engage_s[u])
        self.shots = int(batch.shots[u])
        self.shoot_look_shoot = bool(batch.shoot_look_shoot[u])
        self.queue = bool(batch.queue[u])
        self.decoy_discrimination = float(batch.decoy_discrimination[u])
        self.is_ew = bool(batch.is_ew[u])
        self.tracks: dict[SteppedThreat, Track] = {}
        self.engagements: list[tuple[float, SteppedThreat, int]] = []  # (t_done, threat, rounds)
        self.reload_done: float | None = None
        self.shots_fired = 0

    def step(self) -> None:
        t = self.model.time_s
        self._finish_engagements(t)
        if self.reload_done is not None and t >= self.reload_done:
            load = min(self.capacity, self.reserve)
            self.magazine += load
            self.reserve -= load
            self.reload_done = None
        for threat in self.model.flying:
            if threat.state != FLYING:  # shot down by a unit stepped earlier
                continue
            r = self.radius[threat.cls]
            if r <= 0.0:
                continue
            dx, dy = threat.x - self.x, threat.y - self.y
            if dx * dx + dy * dy > r * r:
                continue
            track = self.tracks.get(threat)
            if track is None:
                track = self.tracks[threat] = self._new_track(threat, t)
            track.last_seen = t
            if self.is_ew or track.ignored or track.in_flight:
                continue
            if track.engaged and not self.shoot_look_shoot:
                continue
            if t < track.first_seen + self.reaction_s - self.engage_s:
                continue
            if self.free > 0 and self.magazine > 0:
                self._fire(threat, track, t)
            elif not self.queue and not track.engaged:
                track.ignored = True
        # forget threats that have left the envelope (a later pass starts a new track)
        self.tracks = {k: v for k, v in self.tracks.items() if v.last_seen == t}

    def _new_track(self, threat: SteppedThreat, t: float) -> Track:
        track = Track(t)
        rng = self.model.random
        if self.is_ew:
            p = self.suppression[threat.cls] * threat.ew_susceptibility
            if p > 0.0 and rng.random() < p:
                threat.state = SUPPRESSED
                self.model.suppressed_by_ew += 1
        elif threat.is_decoy and self.decoy_discrimination > 0.0:
            track.ignored = rng.random() < self.decoy_discrimination
        return track

    def _fire(self, threat: SteppedThreat, track: Track, t: float) -> None:
        rounds = min(self.shots, self.magazine)
        self.magazine -= rounds
        self.shots_fired += rounds
        self.free -= 1
        track.engaged = track.in_flight = True
        self.engagements.append((t + self.engage_s, threat, rounds))
        if self.magazine == 0 and self.reserve > 0 and self.reload_done is None:
            self.reload_done = t + self.reload_s

    def _finish_engagements(self, t: float) -> None:
        still_running = []
        for t_done, threat, rounds in self.engagements:
            if t_done > t:
                still_running.append((t_done, threat, rounds))
                continue
            self.free += 1
            track = self.tracks.get(threat)
            if track is not None:
                track.in_flight = False
            if threat.state != FLYING:
                continue
            # the interceptor meets the threat only if it is still inside the envelope
            r = self.radius[threat.cls]
            dx, dy = threat.x - self.x, threat.y - self.y
            if dx * dx + dy * dy > r * r:
                continue
            p_kill = 1.0 - (1.0 - self.pk[threat.cls]) ** rounds
            if self.model.random.random() < p_kill:
                threat.state = SHOT_DOWN
        self.engagements = still_running


class TimeSteppedNight(mesa.Model):
    """The night stepped every DT_S seconds: threats move, then every unit scans every threat."""

    def __init__(self, night: NightModel, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.time_s = 0.0
        self.suppressed_by_ew = 0
        threats, units = night.threat_batch, night.unit_batch
        for i in range(len(threats)):
            SteppedThreat(self, threats, i)
        for u in range(len(units)):
            SteppedUnit(self, units, u)
        self.threats = self.agents_by_type[SteppedThreat]
        self.units = self.agents_by_type[SteppedUnit]
        self.flying: list[SteppedThreat] = []
        self.time_s = min((a.t_launch for a in self.threats), default=0.0)

    def step(self) -> None:
        self.threats.do("step")
        self.flying = [a for a in self.threats if a.state == FLYING]
        self.units.do("step")
        if all(a.state in FINAL_STATES for a in self.threats):
            self.running = False
        self.time_s += DT_S

    def counts(self) -> dict[str, int]:
        """Threats per final state, plus `intercepted` (shot down + suppressed)."""
        counts = {s: 0 for s in FINAL_STATES}
        for a in self.threats:
            counts[a.state] += 1
        counts["intercepted"] = counts[SHOT_DOWN] + counts[SUPPRESSED]
        counts["launched"] = len(self.threats)
        return counts


def run_stepped_night(scenario: Scenario, seed: int) -> dict[str, int]:
    """Draw the night with NightModel(seed=seed), then run it time-stepped to the end."""
    night = NightModel(scenario, seed=seed)
    model = TimeSteppedNight(night, seed=seed)
    while model.running:
        model.step()
    counts = model.counts()
    counts["steps"] = model.steps
    return counts


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=root / "scenarios" / "aug-2025-night.yaml")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    start = time.perf_counter()
    stepped = run_stepped_night(scenario, args.seed)
    elapsed = time.perf_counter() - start
    salvo = run_night(scenario, np.random.default_rng(args.seed)).counts
    print(f"time-stepped: {elapsed:.1f} s, {stepped['steps']} steps of {DT_S:g} s")
    print(f"{'':12}{'salvo':>8}{'stepped':>9}")
    for key in ("launched", "intercepted", "shot_down", "suppressed", "leaked", "failed"):
        print(f"{key:12}{salvo[key + '.total']:8d}{stepped[key]:9d}")


if __name__ == "__main__":
    main()
