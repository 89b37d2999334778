"""How long `salvo` takes to start: each light command's CPU time against `import numpy`.

    python benchmarks/bench_startup.py [--repeat N] [--json PATH]

Every command runs in a fresh interpreter (as a user starts it), `--repeat` times (default 7),
and the median CPU time (user + system of the child, from `resource`) is divided by the median
of `python -c "import numpy"` measured in the same run, interleaved with the commands, so the
ratio moves much less with the machine's load than the seconds do. Targets (issue 12):
`salvo --help` at most 3 times `import numpy`, `salvo check scenarios/aug-2025-night.yaml` at
most 5 times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ["-c", "import numpy"]
COMMANDS: dict[str, tuple[list[str], float | None]] = {
    "salvo --help": (["-m", "sim", "--help"], 3.0),
    "salvo check scenarios/aug-2025-night.yaml": (
        ["-m", "sim", "check", "scenarios/aug-2025-night.yaml"],
        5.0,
    ),
    "salvo catalog": (["-m", "sim", "catalog"], None),
    "salvo run --help": (["-m", "sim", "run", "--help"], None),
}


def cpu_seconds(args: list[str]) -> float:
    """CPU seconds (user + system) of one fresh `python ARGS` run from the repository root."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=os.environ
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (default 7)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)

    cpu_seconds(REFERENCE)  # warm the file cache
    reference: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, (command, _target) in COMMANDS.items():
            reference.append(cpu_seconds(REFERENCE))
            times[name].append(cpu_seconds(command))
    numpy_s = statistics.median(reference)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"python -c 'import numpy': {1000 * numpy_s:.0f} ms CPU (median of {len(reference)})")
    print(f"{'command':<44} {'ms CPU':>8} {'x numpy':>8} {'target':>7}  verdict")
    rows = []
    for name, (_command, target) in COMMANDS.items():
        median = statistics.median(times[name])
        ratio = median / numpy_s
        verdict = "" if target is None else ("PASS" if ratio <= target else "MISS")
        shown = "–" if target is None else f"≤ {target:g}"
        print(f"{name:<44} {1000 * median:>8.0f} {ratio:>8.2f} {shown:>7}  {verdict}")
        rows.append({"command": name, "cpu_s": median, "ratio": ratio, "target": target})
    print(f"load average (1 min): {load}")
    if args.json:
        args.json.write_text(
            json.dumps({"numpy_s": numpy_s, "commands": rows, "load": load}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
