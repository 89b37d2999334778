"""How long one night takes: salvo's NightModel against a naive time-stepped Mesa model.

    python benchmarks/bench_night.py [--repeat N] [--quick] [--json PATH]

Measures on one core, in one run:
  (a) one replication of the reference night (scenarios/aug-2025-night.yaml) with salvo,
      `sim.night.model.run_night(scenario, numpy.random.default_rng(seed))`, model construction
      included, median of --repeat runs;
  (b) the same night with the time-stepped reference (`timestep_reference.py`, dt = 10 s);
  (c) a 10,000-threat night (every salvo group scaled by 10000/614);
  (d) scaling: threats 614 ... 10,000 x defence laydown x1, x2, x4, with the time per
      (threat x unit) pair, which should not grow as the night grows.
and prints each against the targets of the performance issue (PASS/MISS).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mesa
import numpy as np
from timestep_reference import DT_S, run_stepped_night

from sim.night.model import run_night
from sim.spec.scenario import Scenario, scenario_from_data
from sim.spec.yamlio import LoadedYaml, load_yaml

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "scenarios" / "aug-2025-night.yaml"
THREAT_COUNTS = (614, 1250, 2500, 5000, 10_000)
DEFENCE_SCALES = (1, 2, 4)
BIG_NIGHT = 10_000

# targets of the performance issue
TARGET_REFERENCE_MS = 20.0  # one reference night
TARGET_SPEEDUP = 200.0  # time-stepped reference / salvo on the reference night
TARGET_BIG_NIGHT_MS = 500.0  # one 10,000-threat night


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none): how busy the machine is."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def pin_to_one_core() -> str:
    """Run on CPU 0 only, where the OS allows it; say what happened."""
    try:
        os.sched_setaffinity(0, {0})
    except (AttributeError, OSError) as exc:
        return f"not pinned ({type(exc).__name__})"
    return "pinned to CPU 0"


def scaled_scenario(
    loaded: LoadedYaml, threats: int | None = None, defence_scale: int = 1
) -> Scenario:
    """The loaded scenario with the salvo scaled to `threats` in total and every defence
    group's count multiplied by `defence_scale`.

    Each salvo group is scaled by threats / total and rounded; the largest group absorbs
    the rounding so the total is exactly `threats`.
    """
    loaded = copy.deepcopy(loaded)
    salvo = loaded.data["salvo"]
    if threats is not None:
        total = sum(group["count"] for group in salvo.values())
        for group in salvo.values():
            group["count"] = round(group["count"] * threats / total)
        largest = max(salvo, key=lambda g: salvo[g]["count"])
        salvo[largest]["count"] += threats - sum(group["count"] for group in salvo.values())
    for group in loaded.data.get("defences", {}).values():
        group["count"] *= defence_scale
    return scenario_from_data(loaded)


def sizes(scenario: Scenario) -> tuple[int, int]:
    """(threats, defence units) of a scenario."""
    return (
        sum(g.count for g in scenario.salvo.values()),
        sum(g.count for g in scenario.defences.values()),
    )


def timed(fn: Callable[[], object], repeats: int, warmup: bool = True) -> tuple[list[float], list]:
    """Wall times in seconds of `repeats` calls of `fn` (after one untimed call), and results."""
    if warmup:
        fn()
    times, results = [], []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        results.append(result)
    return times, results


def salvo_night(scenario: Scenario, seed: int) -> Callable[[], object]:
    """One salvo replication with a fresh generator, as the runner does it."""
    return lambda: run_night(scenario, np.random.default_rng(seed))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time salvo's night model against a time-stepped reference."
    )
    parser.add_argument("--repeat", type=int, default=9, help="salvo repeats (median; default 9)")
    parser.add_argument(
        "--stepped-repeat", type=int, default=1, help="time-stepped repeats (default 1)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a rough look)")
    parser.add_argument("--seed", type=int, default=None, help="default: the scenario's seed")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write numbers")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else max(1, args.repeat)
    scale_repeat = 1 if args.quick else max(1, min(3, repeat))
    pinned = pin_to_one_core()
    load_before = load_average()

    loaded = load_yaml(REFERENCE)
    reference = scaled_scenario(loaded)
    seed = args.seed if args.seed is not None else reference.seed
    n_threats, n_units = sizes(reference)
    print(
        f"salvo night benchmark: python {platform.python_version()}, numpy {np.__version__}, "
        f"mesa {mesa.__version__}, {pinned}; seed {seed}; load average {load_before}"
    )

    # (a) the reference night with salvo
    salvo_times, salvo_results = timed(salvo_night(reference, seed), repeat)
    salvo_s = statistics.median(salvo_times)
    print(f"(a) reference night, salvo: median {salvo_s * 1e3:.1f} ms of {repeat}", flush=True)

    # (b) the same night, time-stepped (slow: no warm-up beyond what (a) did)
    stepped_times, stepped_results = timed(
        lambda: run_stepped_night(reference, seed), max(1, args.stepped_repeat), warmup=False
    )
    stepped_s = statistics.median(stepped_times)
    print(f"(b) reference night, time-stepped: {stepped_s:.1f} s", flush=True)

    # (c) a 10,000-threat night
    big = scaled_scenario(loaded, threats=BIG_NIGHT)
    big_times, _ = timed(salvo_night(big, seed), repeat)
    big_s = statistics.median(big_times)
    print(f"(c) 10,000-threat night, salvo: median {big_s * 1e3:.1f} ms of {repeat}", flush=True)

    # (d) scaling in threats and defence units
    scaling = []
    for scale in DEFENCE_SCALES:
        for threats in THREAT_COUNTS:
            scenario = scaled_scenario(loaded, threats=threats, defence_scale=scale)
            t, u = sizes(scenario)
            times, _ = timed(salvo_night(scenario, seed), scale_repeat)
            median = statistics.median(times)
            scaling.append(
                {
                    "threats": t,
                    "defence_scale": scale,
                    "units": u,
                    "ms": median * 1e3,
                    "ns_per_threat_unit": median * 1e9 / (t * u),
                }
            )
    print(flush=True)

    speedup = stepped_s / salvo_s
    rows = [
        (
            f"reference night, salvo ({n_threats} threats, {n_units} units)",
            f"{salvo_s * 1e3:10.1f} ms",
            f"<= {TARGET_REFERENCE_MS:g} ms",
            verdict(salvo_s * 1e3 <= TARGET_REFERENCE_MS),
        ),
        (f"reference night, time-stepped (dt {DT_S:g} s)", f"{stepped_s * 1e3:10.0f} ms", "", ""),
        (
            "time-stepped / salvo",
            f"{speedup:10.0f} x",
            f">= {TARGET_SPEEDUP:g} x",
            verdict(speedup >= TARGET_SPEEDUP),
        ),
        (
            f"{BIG_NIGHT:,}-threat night, salvo ({sizes(big)[1]} units)",
            f"{big_s * 1e3:10.1f} ms",
            f"<= {TARGET_BIG_NIGHT_MS:g} ms",
            verdict(big_s * 1e3 <= TARGET_BIG_NIGHT_MS),
        ),
    ]
    print(f"{'measure':54}{'time':>13}  {'target':12}result")
    for name, value, target, result in rows:
        print(f"{name:54}{value:>13}  {target:12}{result}")
    print(
        f"  salvo: median of {repeat} (min {min(salvo_times) * 1e3:.1f} ms); "
        f"time-stepped: {len(stepped_times)} run(s); 10k night: median of {repeat} "
        f"(min {min(big_times) * 1e3:.1f} ms)"
    )

    load_after = load_average()
    print(f"  load average {load_before} at the start, {load_after} at the end")

    salvo_counts = salvo_results[0].counts
    stepped_counts = stepped_results[0]
    print(
        f"\nsanity check, same night (seed {seed}): intercepted "
        f"salvo {salvo_counts['intercepted.total']}, "
        f"time-stepped {stepped_counts['intercepted']} of {stepped_counts['launched']} "
        f"(shot down {salvo_counts['shot_down.total']} vs {stepped_counts['shot_down']}, "
        f"suppressed {salvo_counts['suppressed.total']} vs {stepped_counts['suppressed']})"
    )

    print(f"\nscaling (salvo, median of {scale_repeat}); cost per pair should not grow:")
    print(
        f"{'threats':>8}{'defence':>9}{'units':>7}{'threats x units':>17}{'ms':>10}"
        f"{'ns / (threat x unit)':>22}"
    )
    for row in scaling:
        print(
            f"{row['threats']:8d}{'x' + str(row['defence_scale']):>9}{row['units']:7d}"
            f"{row['threats'] * row['units']:17,d}{row['ms']:10.1f}"
            f"{row['ns_per_threat_unit']:22.2f}"
        )

    if args.json is not None:
        out = {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "mesa": mesa.__version__,
            "platform": platform.platform(),
            "pinned": pinned,
            "load_average": [load_before, load_after],
            "seed": seed,
            "reference": {
                "threats": n_threats,
                "units": n_units,
                "salvo_ms": salvo_s * 1e3,
                "salvo_ms_all": [t * 1e3 for t in salvo_times],
                "stepped_ms": stepped_s * 1e3,
                "stepped_ms_all": [t * 1e3 for t in stepped_times],
                "speedup": speedup,
                "intercepted_salvo": salvo_counts["intercepted.total"],
                "intercepted_stepped": stepped_counts["intercepted"],
            },
            "night_10k": {
                "threats": BIG_NIGHT,
                "units": sizes(big)[1],
                "salvo_ms": big_s * 1e3,
                "salvo_ms_all": [t * 1e3 for t in big_times],
            },
            "scaling": scaling,
            "targets": {
                "reference_ms": {
                    "target": TARGET_REFERENCE_MS,
                    "pass": salvo_s * 1e3 <= TARGET_REFERENCE_MS,
                },
                "speedup": {"target": TARGET_SPEEDUP, "pass": speedup >= TARGET_SPEEDUP},
                "night_10k_ms": {
                    "target": TARGET_BIG_NIGHT_MS,
                    "pass": big_s * 1e3 <= TARGET_BIG_NIGHT_MS,
                },
            },
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
