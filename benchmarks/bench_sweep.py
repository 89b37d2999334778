"""How fast `salvo sweep` runs the reference night, and whether its memory stays flat.

    python benchmarks/bench_sweep.py [--quick] [--json PATH]

Measures, in one run, on this machine:
  (a) replications per second of the reference night (scenarios/aug-2025-night.yaml) through
      the sweep's executors: serially, and with 2 worker processes once the pool is warm
      (workers started and `sim` imported), and their ratio (target: >= 1.7x);
  (b) whole `salvo sweep`s of the reference night (one design point, chunks written, final
      files assembled) of 1,000 and 10,000 replications with 2 processes, each in a fresh
      Python process: wall time (target for 10,000: < 180 s) and peak resident memory of the
      parent and of the largest worker (resource.getrusage), which should not grow with the
      number of replications.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "scenarios" / "aug-2025-night.yaml"
TARGET_RATIO = 1.7
TARGET_BIG_S = 180.0

EXPERIMENT = """\
name: bench-reference-night
scenario: {scenario}
seed: 20250821
replications: {replications}
design: {{type: grid}}
parameters:
  ew_drone:  # the reference value: one design point, the reference night itself
    kind: uncertainty
    path: ew.suppression.drone
    values: [0.25]
"""


def write_experiment(folder: Path, replications: int) -> Path:
    """An experiment of one design point: the reference night as it is."""
    file = folder / f"bench-{replications}.yaml"
    file.write_text(EXPERIMENT.format(scenario=REFERENCE, replications=replications), "utf-8")
    return file


def _noop(_: object) -> int:
    return os.getpid()


def rates(replications: int, chunk: int) -> dict[str, float]:
    """Replications per second through SerialExecutor and a warm 2-process pool."""
    from sim.runner import ProcessExecutor, SerialExecutor, Task, chunked, run_task
    from sim.scenario import load_scenario

    scenario = load_scenario(REFERENCE)
    tasks = [Task(scenario, 0, 1, block) for block in chunked(range(replications), chunk)]
    out: dict[str, float] = {}
    with SerialExecutor() as serial:
        list(serial.map_unordered(run_task, tasks[:1]))  # warm-up (imports, caches)
        started = time.perf_counter()
        done = sum(len(rows) for rows in serial.map_unordered(run_task, tasks))
        out["serial_s"] = time.perf_counter() - started
        out["serial_reps_per_s"] = done / out["serial_s"]
    started = time.perf_counter()
    with ProcessExecutor(2) as pool:
        # start both workers and import sim in them before timing
        list(pool.map_unordered(run_task, [Task(scenario, 0, 1, (0,))] * 4))
        out["pool_start_s"] = time.perf_counter() - started
        started = time.perf_counter()
        done = sum(len(rows) for rows in pool.map_unordered(run_task, tasks))
        out["processes_s"] = time.perf_counter() - started
    out["processes_reps_per_s"] = done / out["processes_s"]
    out["ratio"] = out["processes_reps_per_s"] / out["serial_reps_per_s"]
    return out


def one_sweep(replications: int) -> dict[str, float]:
    """A whole sweep in this process (called in a fresh child by `sweep_in_child`)."""
    from sim import experiment

    with tempfile.TemporaryDirectory() as tmp:
        file = write_experiment(Path(tmp), replications)
        prepared = experiment.prepare(file)
        started = time.perf_counter()
        experiment.run_sweep(prepared, Path(tmp) / "out", workers=2, progress=False)
        wall = time.perf_counter() - started
    return {
        "replications": replications,
        "wall_s": wall,
        "reps_per_s": replications / wall,
        "peak_rss_parent_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def sweep_in_child(replications: int) -> dict[str, float]:
    """`one_sweep` in a fresh interpreter, so peak memory is this sweep's alone."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(replications)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer replications (no 10,000)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(one_sweep(args.child)))
        return 0

    rate_reps = 300 if args.quick else 1000
    sizes = (200, 1000) if args.quick else (1000, 10_000)
    print(f"salvo sweep benchmark on {platform.node()} ({os.cpu_count()} CPUs), {REFERENCE.name}")
    load = os.getloadavg()[0]
    print(f"load average before: {load:.2f}" + (" (busy: numbers are low)" if load > 0.5 else ""))
    measured = rates(rate_reps, chunk=25)
    print(
        f"(a) {rate_reps} replications: serial {measured['serial_reps_per_s']:.1f} rep/s, "
        f"2 processes {measured['processes_reps_per_s']:.1f} rep/s (pool start "
        f"{measured['pool_start_s']:.1f} s not counted) -> ratio {measured['ratio']:.2f}x "
        f"(target >= {TARGET_RATIO}x: {'PASS' if measured['ratio'] >= TARGET_RATIO else 'MISS'})"
    )
    sweeps = []
    for n in sizes:
        result = sweep_in_child(n)
        sweeps.append(result)
        verdict = ""
        if n == 10_000:
            ok = result["wall_s"] < TARGET_BIG_S
            verdict = f" (target < {TARGET_BIG_S:.0f} s: {'PASS' if ok else 'MISS'})"
        print(
            f"(b) sweep of {n} replications, 2 processes: {result['wall_s']:.1f} s "
            f"({result['reps_per_s']:.1f} rep/s){verdict}; peak RSS parent "
            f"{result['peak_rss_parent_mb']:.0f} MB, largest worker "
            f"{result['peak_rss_worker_mb']:.0f} MB"
        )
    small, big = sweeps
    growth = {k: big[k] - small[k] for k in ("peak_rss_parent_mb", "peak_rss_worker_mb")}
    flat = all(v < 50 for v in growth.values())
    print(
        f"    memory from {small['replications']} to {big['replications']} replications: "
        f"parent {growth['peak_rss_parent_mb']:+.0f} MB, worker "
        f"{growth['peak_rss_worker_mb']:+.0f} MB ({'flat' if flat else 'GROWS'})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        numbers = {"load_before": load, "rates": measured, "sweeps": sweeps}
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
