"""How long one campaign replication takes, against one reference night measured in the same run.

    python benchmarks/bench_campaign.py [CAMPAIGN ...] [--repeat N] [--quick] [--json PATH]
    python benchmarks/bench_campaign.py --all --replications 100 --workers 2

Measures on one core (pinned to CPU 0 where the OS allows), in one run:
  (a) one replication of the reference night, `sim.night.model.run_night(scenario,
      numpy.random.default_rng(seed))` with model construction and plan included, exactly as
      `bench_night.py` (a) does; median of --repeat runs;
  (b) one replication of each campaign (default `scenarios/campaign-status-quo.yaml`; `--all`:
      every `scenarios/campaign-*.yaml`), `sim.campaign.model.run_campaign(campaign,
      numpy.random.default_rng(seed), setup=setup)` with the set-up shared, as every replication
      after a worker's first runs (file reading and validation excluded); median of --repeat
      runs; and, once, the first replication with its set-up (`first s`: for a calibrated
      campaign the night builder's work for every date, done once per worker process);
and prints each campaign's time, its ratio to (a) (machine-independent: how many reference
nights one campaign costs), the time per night, and the target (< 1 s per 180-night
replication on one core).

With `--replications R --workers W` it also runs R replications of each campaign on W
processes (not pinned) and reports the wall time against the issue's target (180 days x 100
replications in under 3 minutes on this 2-core machine).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import mesa
import numpy as np

from sim.campaign.model import CampaignSetup, run_campaign
from sim.night.model import run_night
from sim.spec.campaign import load_campaign
from sim.spec.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "scenarios" / "aug-2025-night.yaml"
DEFAULT = ROOT / "scenarios" / "campaign-status-quo.yaml"
TARGET_REPLICATION_S = 1.0  # one 180-night replication, one core
TARGET_BATCH_S = 180.0  # 100 replications of 180 nights on the machine's cores


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


def timed(fn, repeats: int) -> list[float]:
    """Wall times in seconds of `repeats` calls of `fn`, after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _replications(path: str, seed: int, replications: list[int]) -> int:
    campaign = load_campaign(path)
    setup = CampaignSetup.from_campaign(campaign)
    for r in replications:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, r)))
        run_campaign(campaign, rng, setup=setup)
    return len(replications)


def batch(path: Path, seed: int, replications: int, workers: int) -> float:
    """Wall time of `replications` replications on `workers` processes (spawned)."""
    chunks = [list(range(replications))[w::workers] for w in range(workers)]
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        done = sum(pool.map(_replications, [str(path)] * workers, [seed] * workers, chunks))
    assert done == replications
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time campaign replications.")
    parser.add_argument("campaigns", nargs="*", type=Path, help="campaign files (default: "
                        "scenarios/campaign-status-quo.yaml)")  # fmt: skip
    parser.add_argument("--all", action="store_true", help="every scenarios/campaign-*.yaml")
    parser.add_argument("--repeat", type=int, default=5, help="repeats (median; default 5)")
    parser.add_argument("--quick", action="store_true", help="2 repeats (a rough look)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--replications", type=int, default=0, metavar="R",
                        help="also time R replications on --workers processes")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, metavar="W")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write numbers")
    args = parser.parse_args(argv)
    repeat = 2 if args.quick else max(1, args.repeat)
    paths = sorted((ROOT / "scenarios").glob("campaign-*.yaml")) if args.all else args.campaigns
    paths = paths or [DEFAULT]
    pinned = pin_to_one_core()
    load_before = load_average()
    print(
        f"salvo campaign benchmark: python {platform.python_version()}, numpy {np.__version__}, "
        f"mesa {mesa.__version__}, {pinned}; seed {args.seed}; median of {repeat}; "
        f"load average {load_before}",
        flush=True,
    )

    reference = load_scenario(REFERENCE)

    def reference_night() -> float:
        """Median of 5 reference nights now (the machine's speed at this moment)."""
        return statistics.median(
            timed(lambda: run_night(reference, np.random.default_rng(args.seed)), 5)
        )

    night_times = [reference_night()]
    print(f"(a) reference night: {night_times[0] * 1e3:.1f} ms", flush=True)

    results = []
    print(
        f"\n{'campaign':30}{'nights':>7}{'threats':>9}{'first s':>8}{'time s':>8}{'min s':>7}"
        f"{'ms/night':>9}"
        f"{'x night':>8}  target"
    )
    for path in paths:
        campaign = load_campaign(path)
        gc.collect()
        start = time.perf_counter()
        setup = CampaignSetup.from_campaign(campaign)
        nights, _ = run_campaign(campaign, np.random.default_rng(args.seed), setup=setup)
        first = time.perf_counter() - start  # the set-up and the first replication
        times, ratios = [], []
        for _ in range(repeat):  # interleaved, so a busy moment affects both sides
            before = reference_night()
            gc.collect()
            start = time.perf_counter()
            run_campaign(campaign, np.random.default_rng(args.seed), setup=setup)
            elapsed = time.perf_counter() - start
            after = reference_night()
            night_times += [before, after]
            times.append(elapsed)
            ratios.append(elapsed / statistics.mean([before, after]))
        median = statistics.median(times)
        days = campaign.calendar.days
        row = {
            "campaign": path.stem,
            "nights": days,
            "threats": int(nights["launched"].sum()),
            "s": median,
            "first_s": first,
            "s_all": times,
            "ms_per_night": median * 1e3 / days,
            "ratio_to_reference_night": statistics.median(ratios),
            "pass": median * 180 / days < TARGET_REPLICATION_S,
        }
        results.append(row)
        verdict = "PASS" if row["pass"] else "MISS"
        print(
            f"{path.stem:30}{days:7d}{row['threats']:9d}{first:8.2f}{median:8.2f}{min(times):7.2f}"
            f"{row['ms_per_night']:9.1f}{row['ratio_to_reference_night']:8.0f}  "
            f"< {TARGET_REPLICATION_S:g} s per 180 nights: {verdict}",
            flush=True,
        )
    night_s = statistics.median(night_times)
    load_after = load_average()
    print(
        f"reference night over the run: median {night_s * 1e3:.1f} ms, "
        f"min {min(night_times) * 1e3:.1f} ms; 'x night' = campaign / reference night; "
        f"load average {load_before} -> {load_after}"
    )

    if args.replications > 0:
        if hasattr(os, "sched_setaffinity"):  # the workers inherit the pin otherwise
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        print(f"\n{args.replications} replications on {args.workers} processes (wall time):")
        for row, path in zip(results, paths, strict=True):
            wall = batch(path, args.seed, args.replications, args.workers)
            row["batch"] = {"replications": args.replications, "workers": args.workers,
                            "wall_s": wall, "pass": wall < TARGET_BATCH_S}  # fmt: skip
            verdict = "PASS" if wall < TARGET_BATCH_S else "MISS"
            print(f"  {path.stem:32}{wall:8.1f} s   < {TARGET_BATCH_S:g} s: {verdict}", flush=True)

    if args.json is not None:
        out = {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "mesa": mesa.__version__,
            "platform": platform.platform(),
            "pinned": pinned,
            "load_average": [load_before, load_after],
            "seed": args.seed,
            "reference_night_ms": night_s * 1e3,
            "reference_night_ms_all": [t * 1e3 for t in night_times],
            "campaigns": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
