"""How fast `salvo sweep` runs the reference night, and whether its memory stays flat.

    python benchmarks/bench_sweep.py [--quick] [--rates-only] [--json PATH]

Measures, in one run, on this machine:
  (a) replications per second of the reference night (scenarios/aug-2025-night.yaml) through
      the sweep's executors: serially, and with 2 worker processes once the pool is warm
      (workers started and `sim` imported), and their ratio (target: >= 1.7x), next to the
      same ratio for pure-Python CPU work (what the machine offers at the moment: other
      load on a shared machine caps both);
  (b) whole `salvo sweep`s of the reference night (one design point, chunks written, final
      files assembled) of 1,000 and 10,000 replications with 2 processes, each in a fresh
      Python process: wall time (target for 10,000: < 180 s) and peak resident memory of the
      parent (VmHWM, i.e. resource.getrusage's ru_maxrss of a fresh process) and of the
      largest worker (sampled from /proc), which should not grow with the number of
      replications.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
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


def burn(n: int) -> int:
    """Pure-Python CPU work, for the control measurement."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def control_ratio(n: int = 5_000_000) -> float:
    """Speed-up of 2 processes over 1 on pure CPU work: the most the machine offers now.

    On an idle 2-core machine it is about 2; other load on the machine lowers it, and the
    sweep's ratio with it.
    """
    import multiprocessing

    started = time.perf_counter()
    burn(n)
    burn(n)
    serial = time.perf_counter() - started
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(burn, [1, 1])
        started = time.perf_counter()
        pool.map(burn, [n, n])
        parallel = time.perf_counter() - started
    return serial / parallel


def rates(replications: int, chunk: int, rounds: int = 3) -> dict[str, float]:
    """Replications per second through SerialExecutor and a warm 2-process pool.

    `rounds` alternations of a serial and a parallel run of `replications / rounds` each; the
    best rate of each is kept, so a burst of other load on a shared machine spoils one round,
    not the result.
    """
    from sim.experiments.executors import ProcessExecutor, SerialExecutor
    from sim.experiments.replications import Task, chunked, run_task
    from sim.spec.scenario import load_scenario

    scenario = load_scenario(REFERENCE)
    per_round = max(chunk, replications // rounds)
    tasks = [Task(scenario, 0, 1, block) for block in chunked(range(per_round), chunk)]
    serial_rates, pool_rates = [], []
    started = time.perf_counter()
    with ProcessExecutor(2) as pool, SerialExecutor() as serial:
        # start both workers and import sim in them (and warm this process) before timing
        list(pool.map_unordered(run_task, [Task(scenario, 0, 1, (0,))] * 4))
        pool_start = time.perf_counter() - started
        list(serial.map_unordered(run_task, tasks[:1]))
        for _ in range(rounds):
            for executor, found in ((serial, serial_rates), (pool, pool_rates)):
                started = time.perf_counter()
                done = sum(len(rows) for rows in executor.map_unordered(run_task, tasks))
                found.append(done / (time.perf_counter() - started))
    out = {
        "rounds": rounds,
        "replications_per_round": per_round,
        "pool_start_s": pool_start,
        "serial_reps_per_s": max(serial_rates),
        "processes_reps_per_s": max(pool_rates),
        "serial_rates": serial_rates,
        "processes_rates": pool_rates,
    }
    out["ratio"] = out["processes_reps_per_s"] / out["serial_reps_per_s"]
    return out


def _rss_mb(pid: int | str, field: str = "VmRSS") -> float:
    """A /proc/PID/status memory field in MB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _descendants(root: int) -> list[int]:
    """Processes below `root` (workers, Dask nannies), from /proc."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parent.items() if pp == pid]
        found += kids
        frontier += kids
    return found


class WorkerMemory(threading.Thread):
    """Samples the resident memory of this process's descendants every 0.2 s.

    (getrusage(RUSAGE_CHILDREN) cannot be used: a spawned worker inherits its parent's peak
    across fork and exec.)
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for pid in _descendants(os.getpid()):
                self.peak_mb = max(self.peak_mb, _rss_mb(pid))


def one_sweep(replications: int) -> dict[str, float]:
    """A whole sweep in this process (called in a fresh child by `sweep_in_child`)."""
    from sim.experiments.sweep import run_sweep
    from sim.spec import experiment

    sampler = WorkerMemory()
    sampler.start()
    with tempfile.TemporaryDirectory() as tmp:
        file = write_experiment(Path(tmp), replications)
        prepared = experiment.prepare(file)
        started = time.perf_counter()
        run_sweep(prepared, Path(tmp) / "out", workers=2, progress=False)
        wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    return {
        "replications": replications,
        "wall_s": wall,
        "reps_per_s": replications / wall,
        # this process is a fresh interpreter: VmHWM (= getrusage's ru_maxrss) is its own
        "peak_rss_parent_mb": _rss_mb("self", "VmHWM"),
        "peak_rss_worker_mb": sampler.peak_mb,
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
    parser.add_argument("--rates-only", action="store_true", help="only (a), no whole sweeps")
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
    control = control_ratio()
    measured = rates(rate_reps, chunk=25)
    measured["control_ratio"] = control
    print(
        f"(a) {rate_reps} replications, best of 3 rounds: serial "
        f"{measured['serial_reps_per_s']:.1f} rep/s, "
        f"2 processes {measured['processes_reps_per_s']:.1f} rep/s (pool start "
        f"{measured['pool_start_s']:.1f} s not counted) -> ratio {measured['ratio']:.2f}x "
        f"(target >= {TARGET_RATIO}x: {'PASS' if measured['ratio'] >= TARGET_RATIO else 'MISS'})"
    )
    print(
        f"    control: pure-Python work, 2 processes vs 1: {control:.2f}x (about 2 on an idle "
        "machine; the ceiling for (a) now)"
    )
    sweeps: list[dict[str, float]] = []
    for n in () if args.rates_only else sizes:
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
    if not sweeps:
        return 0
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
