"""Bad input as a hostile user writes it (issue 13): each case must exit with status 2, name the
file, line and field, show no traceback, and leave no results folder behind.

The catalogue starts with non-finite numbers (item 5 of the issue: `.inf` and `.nan` used to
pass validation and give wrong answers with exit status 0, or a traceback in a campaign).
The fault tests at the end hold the results folder's lock (a second writer while a child
process holds it, a lock left by a killed process; item 2) and the chunk checksums (a chunk
damaged on disk is recomputed on `--resume`; item 3).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pytest
from helpers import call, night_row, write_nights_csv

from sim.results.chunks import ChunkStore
from sim.results.lock import FolderLock, ResultsFolderLockedError
from sim.spec.observed import REQUIRED_COLUMNS, load_nights
from sim.spec.yamlio import InputError
from sim.vocab import CHECKSUMS_FILE, CHUNKS_DIR

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "tests" / "data" / "bad-input-base.yaml"  # a frozen reference night
CAMPAIGN = ROOT / "tests" / "data" / "campaign-small.yaml"


def edited(source: Path, old: str, new: str, folder: Path) -> Path:
    """A copy of `source` in `folder` (with its neighbours, for relative paths) with one edit."""
    text = source.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {source.name}"
    for neighbour in source.parent.glob("*.yaml"):
        (folder / neighbour.name).write_text(neighbour.read_text(encoding="utf-8"))
    target = folder / source.name
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


# (id, file, old text, new text, command, expected "LINE: field: message" pattern)
CASES = [
    ("ring-radius-inf", SCENARIO, "target: kyiv, radius_km: 15}", "target: kyiv, radius_km: .inf}",
     "run", r":131: defences\.kyiv_patriot\.placement\.radius_km: \.inf is not allowed"),
    ("ring-radius-nan", SCENARIO, "target: kyiv, radius_km: 15}", "target: kyiv, radius_km: .nan}",
     "check", r":131: defences\.kyiv_patriot\.placement\.radius_km: \.nan is not a number"),
    ("ew-suppression-nan", SCENARIO, "suppression: {drone: 0.25,", "suppression: {drone: .nan,",
     "run", r":187: ew\.suppression\.drone.*\.nan is not a number"),
    ("salvo-count-inf", SCENARIO, "count: 384 #", "count: .inf #",
     "run", r":76: salvo\.shahed\.count: "),
    ("campaign-size-inf", CAMPAIGN, "mass_night: {size: {mean: 55,",
     "mass_night: {size: {mean: .inf,", "campaign",
     r":18: attacker\.policy\.mass_night\.size\.mean: \.inf is not allowed"),
    ("campaign-cv-negative-inf", CAMPAIGN, "size: {mean: 20, cv: 0.5}",
     "size: {mean: 20, cv: -.inf}", "campaign",
     r":19: attacker\.policy\.other_nights\.size\.cv: -\.inf is not allowed"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "old", "new", "command", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_bad_input_exits_2_names_the_line_and_writes_nothing(
    tmp_path: Path, source: Path, old: str, new: str, command: str, expected: str
) -> None:
    bad = edited(source, old, new, tmp_path)
    out = tmp_path / "results"
    argv = [command, str(bad)] + ([] if command == "check" else ["-n", "2", "--out", str(out)])
    code, stdout, stderr = call(argv)
    assert code == 2, (stdout, stderr)
    assert "Traceback" not in stderr
    assert re.search(re.escape(str(bad)) + expected, stderr), stderr
    assert not out.exists()


# --------------------------------------------------------------------------- --force (item 1)

REFERENCE = ROOT / "scenarios" / "aug-2025-night.yaml"


def test_run_force_never_deletes_a_users_folder_or_file(tmp_path: Path) -> None:
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("three years of work")
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for target in (thesis, notes):
        code, _, stderr = call(["run", str(REFERENCE), "-n", "2", "--out", str(target), "--force"])
        assert code == 2 and "Traceback" not in stderr
        assert f"{target}" in stderr and "--force" in stderr
    assert (thesis / "chapter1.tex").read_text() == "three years of work"
    assert notes.read_text() == "mine"
    assert {p.name for p in tmp_path.iterdir()} == {"thesis", "notes.txt"}


def test_run_force_refuses_a_device_a_fifo_and_a_link(tmp_path: Path) -> None:
    # `--out /dev/null --force` once replaced /dev/null with a folder (run as root); the test
    # makes its own device (as root) and FIFO, so that a regression cannot harm the machine
    specials = []
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    specials.append(fifo)
    if os.geteuid() == 0:
        device = tmp_path / "null"
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        specials.append(device)
    for special in specials:
        argv = ["run", str(REFERENCE), "-n", "2", "--out", str(special), "--force"]
        code, _, stderr = call(argv)
        assert code == 2 and "is not a folder" in stderr, stderr
        assert not special.is_dir() and special.exists()
    real = tmp_path / "real"
    real.mkdir()
    (real / "keep.txt").write_text("kept")
    link = tmp_path / "link"
    link.symlink_to(real)
    code, _, stderr = call(["run", str(REFERENCE), "-n", "2", "--out", str(link), "--force"])
    assert code == 2 and link.is_symlink() and (real / "keep.txt").read_text() == "kept"


def test_run_force_replaces_a_folder_salvo_wrote(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["run", str(REFERENCE), "-n", "2", "-q", "--out", str(out)]
    assert call(argv)[0] == 0
    (out / "stale.txt").write_text("from an older run")
    code, _, stderr = call([*argv, "--force"])
    assert code == 0, stderr
    assert not (out / "stale.txt").exists() and (out / "manifest.json").exists()


# --------------------------------------------------------------------------- file kinds (item 8)


@pytest.mark.parametrize(
    ("command", "file", "kind", "hint"),
    [
        (["run"], "scenarios/campaign-status-quo.yaml", "a campaign", "salvo campaign"),
        (["campaign"], "scenarios/aug-2025-night.yaml", "a scenario", "salvo run"),
        (["sweep"], "scenarios/calibrated.yaml", "a calibration", "salvo validate --scenario"),
        (["run"], "experiments/saturation.yaml", "an experiment", "salvo sweep"),
    ],
    ids=["campaign-to-run", "scenario-to-campaign", "calibration-to-sweep", "experiment-to-run"],
)
def test_a_file_of_another_kind_is_named_with_its_command(
    tmp_path: Path, command: list[str], file: str, kind: str, hint: str
) -> None:
    out = tmp_path / "out"
    code, _, stderr = call([*command, str(ROOT / file), "--out", str(out)])
    assert code == 2 and "Traceback" not in stderr
    assert f"this is {kind} file" in stderr and f"use `{hint} " in stderr
    assert len(stderr.strip().splitlines()) == 1  # one line, not a wall of schema errors
    assert not out.exists()


def test_validate_names_a_scenario_given_as_the_calibration(tmp_path: Path) -> None:
    csv = ROOT.parent / "shared" / "data" / "nights-calibration.csv"
    if not csv.exists():
        pytest.skip("needs ../shared/data")
    argv = ["validate", str(csv), "--scenario", str(ROOT / "scenarios" / "aug-2025-night.yaml"),
            "--out", str(tmp_path / "v")]  # fmt: skip
    code, _, stderr = call(argv)
    assert code == 2 and "this is a scenario file, not a calibration file" in stderr


def test_check_validates_every_shipped_file_by_its_kind() -> None:
    files = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted(
        (ROOT / "experiments").glob("*.yaml")
    )
    code, stdout, stderr = call(["check", *map(str, files)])
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    assert len(lines) == len(files) and all(": ok: " in line for line in lines)
    kinds = " ".join(lines)
    assert "campaign 'campaign-status-quo'" in kinds and "experiment 'saturation'" in kinds
    assert "calibration of" in kinds and "attacker fit of 136 nights" in kinds


def test_check_reports_a_broken_campaign_as_a_campaign(tmp_path: Path) -> None:
    bad = edited(CAMPAIGN, "mass_night: {size: {mean: 55,", "mass_night: {size: {mean: -5,",
                 tmp_path)  # fmt: skip
    code, _, stderr = call(["check", str(bad)])
    assert code == 2
    assert re.search(re.escape(str(bad)) + r":18: attacker\.policy\.mass_night\.size\.mean", stderr)
    assert "salvo:" not in stderr and "required field 'salvo'" not in stderr


# --------------------------------------------------------------------------- nights CSV (item 7)


def nights_text(rows: list[list], header: list[str] | None = None, sep: str = ",") -> str:
    header = header or list(REQUIRED_COLUMNS)
    return "\n".join(sep.join(str(v) for v in r) for r in [header, *rows]) + "\n"


ROWS = [
    night_row("2025-09-01", drone_launched=100, drone_destroyed=90),
    night_row("2025-09-02", drone_launched=60, drone_destroyed=50, cruise_launched=4),
]


def test_a_spreadsheet_csv_with_bom_and_crlf_reads_as_the_same_nights(tmp_path: Path) -> None:
    plain = write_nights_csv(tmp_path, ROWS)
    saved = tmp_path / "excel.csv"
    saved.write_bytes(b"\xef\xbb\xbf" + nights_text(ROWS).replace("\n", "\r\n").encode())
    assert load_nights(saved).drop(columns="line").equals(load_nights(plain).drop(columns="line"))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (nights_text(ROWS, sep=";").encode(), r":1: .*separated by ';'"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", r": not a UTF-8 text file"),
        (nights_text([*ROWS, night_row("2025-09-01", drone_launched=40)]).encode(),
         r":4: date: 2025-09-01 is given twice \(first on line 2\)"),
    ],
    ids=["semicolons", "binary", "duplicate-date"],
)  # fmt: skip
def test_a_bad_nights_file_is_named_with_its_line(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "nights.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_nights(path)
    assert re.search(re.escape(str(path)) + expected, str(info.value)), str(info.value)
    code, _, stderr = call(["validate", str(path), "--out", str(tmp_path / "v")])
    assert code == 2 and "Traceback" not in stderr and not (tmp_path / "v").exists()


def test_totals_that_disagree_with_the_classes_are_errors(tmp_path: Path) -> None:
    header = [*REQUIRED_COLUMNS, "total_launched", "total_destroyed", "total_lost"]
    good = [*ROWS[0], 100, 90, 0]
    bad = [*ROWS[1], 64, 51, 0]  # 60 drones + 4 cruise launched, 50 destroyed
    path = tmp_path / "nights.csv"
    path.write_text(nights_text([good, bad], header))
    with pytest.raises(InputError) as info:
        load_nights(path)
    text = str(info.value)
    assert (
        f"{path}:3: total_destroyed: 51 is not the sum of the classes' destroyed counts (50)"
        in text
    )
    assert "total_launched" not in text  # 64 is right


# --------------------------------------------------------------------------- one writer (item 2)

NIGHT = """\
name: tiny-night
seed: 3
time_window_h: [0, 6]
launch_sites:
  kursk: {lon: 35.95, lat: 51.75}
targets:
  kyiv: {lon: 30.52, lat: 50.45}
salvo:
  shahed: {type: shahed, count: 12, launch_sites: [kursk], targets: [kyiv],
           launch_window_h: [0, 2]}
defences:
  kyiv_mfg:
    {type: mobile_fire_group, count: 4, placement: {kind: ring, target: kyiv, radius_km: 30}}
"""

EXPERIMENT = """\
name: tiny
scenario: night.yaml
seed: 5
replications: 2
design: {type: grid}
parameters:
  mfg: {kind: lever, path: defences.kyiv_mfg.count, values: [2, 6]}
"""

# a child process that takes the results folder's lock and holds it until its stdin closes
HOLD_LOCK = """\
import sys
from sim.results.lock import locked_results_folder
with locked_results_folder(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def tiny_experiment(folder: Path) -> Path:
    """A two-point, two-replication sweep of a 12-drone night (milliseconds a night)."""
    (folder / "night.yaml").write_text(NIGHT, encoding="utf-8")
    file = folder / "tiny.yaml"
    file.write_text(EXPERIMENT, encoding="utf-8")
    return file


def hold_lock(out: Path) -> subprocess.Popen:
    """A child process holding the lock of results folder `out` (returns once it holds it)."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline() == "locked\n"
    return child


def lock_file(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


@pytest.mark.parametrize("command", ["run", "sweep", "campaign"])
def test_a_second_writer_is_refused_while_the_folder_is_locked(
    tmp_path: Path, snapshot, command: str
) -> None:
    # two `salvo sweep --force --out D` a moment apart once left points of both seeds in D
    files = {"run": REFERENCE, "sweep": tiny_experiment(tmp_path), "campaign": CAMPAIGN}
    out = tmp_path / "D"
    out.mkdir()  # a results folder salvo wrote, that --force may replace
    (out / "manifest.json").write_text(json.dumps({"command": command, "seed": 5}))
    (out / "runs.parquet").write_bytes(b"the first writer's rows")
    before = snapshot(out)
    child = hold_lock(out)
    try:
        argv = [command, str(files[command]), "-n", "2", "-w", "1", "-q", "--out", str(out)]
        code, _, stderr = call([*argv, "--force"])
        assert code == 2 and "Traceback" not in stderr, stderr
        assert f"results folder {out} is in use by another salvo process (PID {child.pid}" in (
            stderr
        )
        assert snapshot(out) == before
        code, _, stderr = call([*argv, "--resume"] if command != "run" else argv)
        assert code == 2 and f"PID {child.pid}" in stderr and snapshot(out) == before
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    assert not lock_file(out).exists()  # released and deleted by its holder


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    file = tiny_experiment(tmp_path)
    out = tmp_path / "D"
    child = hold_lock(out)
    child.kill()  # SIGKILL: no clean-up; the kernel lets go of its lock
    child.wait()
    assert json.loads(lock_file(out).read_text())["pid"] == child.pid  # the file is left
    code, _, stderr = call(["sweep", str(file), "-w", "1", "-q", "--out", str(out)])
    assert code == 0, stderr
    assert (out / "runs.parquet").exists()
    assert {p.name for p in tmp_path.iterdir()} == {"night.yaml", "tiny.yaml", "D"}


def test_the_lock_lives_beside_the_folder_so_force_cannot_remove_it(tmp_path: Path) -> None:
    out = tmp_path / "D"
    child = hold_lock(out)
    try:
        assert lock_file(out).exists() and not out.exists()  # nothing inside, nothing created
        with pytest.raises(ResultsFolderLockedError) as info:
            FolderLock(tmp_path / "x" / ".." / "D").acquire()  # another spelling, the same lock
        assert info.value.holder is not None and info.value.holder["pid"] == child.pid
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()


# --------------------------------------------------------------------------- checksums (item 3)


def interrupted_after(monkeypatch: pytest.MonkeyPatch, writes: int) -> None:
    """Make the run stop (as Ctrl-C does) at the chunk write after `writes` writes."""
    original = ChunkStore.write_table
    count = {"n": 0}

    def write_table(self: ChunkStore, table: pa.Table, point: int, first: int) -> Path:
        if count["n"] == writes:
            raise KeyboardInterrupt
        count["n"] += 1
        return original(self, table, point, first)

    monkeypatch.setattr(ChunkStore, "write_table", write_table)


def corrupt(chunk: Path) -> None:
    """Flip the bytes of one numeric column's values in a chunk: the same size, still a
    readable Arrow file, other numbers (as a bad disk or a stray write leaves it)."""
    table = feather.read_table(chunk)
    data = bytearray(chunk.read_bytes())
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            values = column.combine_chunks().buffers()[1].to_pybytes()
            if data.count(values) == 1 and any(values):
                start = data.index(values)
                size = len(data)
                data[start : start + len(values)] = bytes(b ^ 0xFF for b in values)
                chunk.write_bytes(bytes(data))
                assert len(data) == size and not feather.read_table(chunk).equals(table)
                return
    raise AssertionError(f"no column of {chunk} to corrupt")


def test_a_corrupted_chunk_of_a_sweep_is_recomputed_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tiny_experiment(tmp_path)
    argv = ["sweep", str(file), "-w", "1", "-q", "--chunk-size", "1"]
    assert call([*argv, "--out", str(tmp_path / "whole")])[0] == 0
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        interrupted_after(patch, 3)
        assert call([*argv, "--out", str(out)])[0] == 130
    chunks = out / CHUNKS_DIR
    saved = sorted(chunks.glob("p*.arrow"))
    assert len(saved) == 3
    corrupt(saved[0])
    record = chunks / CHECKSUMS_FILE  # a run killed between a chunk and its checksum:
    lines = record.read_text().splitlines(keepends=True)
    record.write_text("".join(line for line in lines if saved[1].name not in line))
    code, _, stderr = call([*argv, "--out", str(out), "--resume"])
    assert code == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["experiment"]["replications_resumed"] == 1  # saved[2] only
    for name in ("runs.parquet", "summary.csv", "parameters.csv"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_a_corrupted_chunk_of_a_campaign_is_recomputed_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["campaign", str(CAMPAIGN), "-n", "4", "-w", "1", "-q", "--chunk-size", "1"]
    assert call([*argv, "--out", str(tmp_path / "whole")])[0] == 0
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        interrupted_after(patch, 6)  # the nights and the totals of three replications
        assert call([*argv, "--out", str(out)])[0] == 130
    chunks = out / CHUNKS_DIR
    corrupt(chunks / "p000000-r000000.arrow")  # totals
    corrupt(chunks / "nights" / "p000000-r000001.arrow")  # one night of another replication
    code, _, stderr = call([*argv, "--out", str(out), "--resume"])
    assert code == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["campaign"]["replications_resumed"] == 1
    for name in ("nights.parquet", "runs.parquet", "summary.csv", "summary.json"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


# --------------------------------------------------------------------------- bounded jobs (item 4)


def salvo_subprocess(argv: list[str], timeout: float = 60) -> tuple[int, str, str]:
    """Run `salvo ARGV` in a child process, killed after `timeout` seconds: a safety net for a
    test of something that used to hang in C code (a huge power), which no alarm interrupts."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sim", *argv], capture_output=True, text=True,
            timeout=timeout, cwd=ROOT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"salvo {' '.join(argv)} still ran after {timeout} s")
    return done.returncode, done.stdout, done.stderr


# (id, derived value, expected message); each used to hang, fill the memory or give a
# number no results column holds
UNBOUNDED = [
    ("power-tower", "9**9**9", r"9 \*\* 387420489 would be about 10\*\*369693100, beyond the "
     r"limit of whole numbers"),
    ("float-power", "10.0 ** (mfg * 200)",
     r"10 \*\* 400 would be about 10\*\*400, beyond the limit of numbers, about 1\.8e308"),
    ("product-chain", "mfg * 1000000000 * 1000000000 * 1000000000",
     r"a number of about 28 digits is beyond the limit of whole numbers, 9223372036854775807"),
    ("round-digits", "round(mfg, -10**18)",
     r"round to -1000000000000000000 digits is beyond the limit of 30"),
    ("negative-root", "(-mfg) ** 0.5", r"-2 \*\* 0\.5 is not a real number"),
]  # fmt: skip


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in UNBOUNDED],
                         ids=[c[0] for c in UNBOUNDED])  # fmt: skip
@pytest.mark.parametrize("command", ["check", "sweep"])
def test_a_derived_value_is_computed_with_bounded_arithmetic(
    tmp_path: Path, command: str, value: str, expected: str
) -> None:
    # `9**9**9` in an experiment used to hang `salvo check` and `salvo sweep` for ever
    file = tiny_experiment(tmp_path)
    text = file.read_text(encoding="utf-8")
    derived = f"derived:\n  drones:\n    path: salvo.shahed.count\n    value: '{value}'\n"
    file.write_text(text + derived, encoding="utf-8")
    out = tmp_path / "results"
    argv = [command, str(file)] + ([] if command == "check" else ["-n", "1", "--out", str(out)])
    code, stdout, stderr = salvo_subprocess(argv)
    assert code == 2, (stdout, stderr)
    assert "Traceback" not in stderr
    where = re.escape(f"{file}:11: derived.drones.value: design point 0 (mfg=2): ")
    assert re.search(where + f"(?:{expected})", stderr), stderr
    assert not out.exists()


def test_an_expression_too_long_or_too_deep_is_refused(tmp_path: Path) -> None:
    file = tiny_experiment(tmp_path)
    text = file.read_text(encoding="utf-8")
    for value, message in [
        ("1" + " + 1" * 300, "the expression is 1201 characters long, more than the limit of 1000"),
        ("-" * 60 + "mfg", "the expression is nested more than 50 levels deep"),
    ]:
        derived = f"derived:\n  drones:\n    path: salvo.shahed.count\n    value: '{value}'\n"
        file.write_text(text + derived, encoding="utf-8")
        code, _, stderr = call(["check", str(file)])
        assert code == 2 and "Traceback" not in stderr, stderr
        assert f"{file}:11: derived.drones.value: {message}" in stderr, stderr


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_workers_beyond_the_machine_are_capped_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # `-n 40 -w 1000` used to start a thousand worker processes and take over 4 GB
    from sim.experiments import executors

    monkeypatch.setattr(executors, "worker_capacity", lambda: (1, "1 core"), raising=False)
    file = tiny_experiment(tmp_path) if command == "sweep" else tmp_path / "night.yaml"
    if command == "run":
        file.write_text(NIGHT, encoding="utf-8")
    out = tmp_path / "results"
    code, _, stderr = call([command, str(file), "-n", "2", "-w", "1000", "-q", "--out", str(out)])
    assert code == 0, stderr
    message = "salvo: -w 1000 is more worker processes than this machine holds (1 core); running 1"
    assert message in stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert json.dumps(manifest).count('"workers": 1') >= 1, manifest


def test_worker_capacity_counts_cores_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.experiments import executors

    monkeypatch.setattr(executors, "default_workers", lambda: 64)
    monkeypatch.setattr(executors, "available_memory", lambda: 2 * 2**30, raising=False)
    capacity, why = executors.worker_capacity()
    assert capacity == 2 * 2**30 // executors.WORKER_MEMORY == 5
    assert why == "64 cores, 2.0 GB of memory available at about 0.4 GB a worker"
    monkeypatch.setattr(executors, "available_memory", lambda: None)
    assert executors.worker_capacity() == (64, "64 cores")
    assert executors.capped_workers(None) == 64 and executors.capped_workers(3) == 3


def test_workers_beyond_the_hard_bound_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "results"
    file = tiny_experiment(tmp_path)
    code, _, stderr = call(["sweep", str(file), "-w", "5000", "--out", str(out)])
    assert code == 2 and "Traceback" not in stderr
    assert "argument -w/--workers: must be at most 4096 (more cores than one machine has)" in (
        stderr
    )
    assert not out.exists()


# (id, edit of the tiny night, extra options, expected "LINE: field: message" or option message)
LARGE_JOBS = [
    ("ten-million-threats", ("count: 12,", "count: 10000000,"), [],
     r":9: salvo\.shahed\.count: a night of 10,000,000 threats and 4 defence units is beyond "
     r"the limit of 100,000 threats a night; use --allow-large to run it anyway"),
    ("a-million-units", ("count: 4,", "count: 1000000,"), [],
     r":13: defences\.kyiv_mfg\.count: a night of 12 threats and 1,000,000 defence units is "
     r"beyond the limit of 10,000 defence units a night; use --allow-large"),
    ("threat-unit-pairs", ("count: 12,", "count: 90000,"),
     [], r":9: salvo\.shahed\.count: .* is 360,000,000 threat-unit pairs, beyond the limit of "
     r"50,000,000 a night"),
    ("a-billion-nights", None, ["-n", "1000000000"],
     r"salvo: -n 1,000,000,000 nights is beyond the limit of 1,000,000 nights a job"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "options", "expected"), [c[1:] for c in LARGE_JOBS],
                         ids=[c[0] for c in LARGE_JOBS])  # fmt: skip
def test_a_job_beyond_the_limits_is_refused_before_it_starts(
    tmp_path: Path, edit: tuple[str, str] | None, options: list[str], expected: str
) -> None:
    # `count: 10000000` on one salvo group passed `salvo check`, then took over 4 GB in 7 s
    night = NIGHT if edit is None else NIGHT.replace(*edit)
    if "90000" in night:
        night = night.replace("count: 4,", "count: 4000,")  # 360,000,000 pairs
    file = tmp_path / "night.yaml"
    file.write_text(night, encoding="utf-8")
    out = tmp_path / "results"
    code, stdout, stderr = salvo_subprocess(["run", str(file), "--out", str(out), *options])
    assert code == 2, (stdout, stderr)
    assert "Traceback" not in stderr
    assert re.search((re.escape(str(file)) if edit else "") + expected, stderr), stderr
    assert not out.exists() and not lock_file(out).exists()


def test_allow_large_lifts_the_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.experiments import limits

    monkeypatch.setattr(limits, "MAX_THREATS_PER_NIGHT", 10)  # the tiny night is "large"
    file = tmp_path / "night.yaml"
    file.write_text(NIGHT, encoding="utf-8")
    out = tmp_path / "results"
    argv = ["run", str(file), "-n", "2", "-w", "1", "-q", "--out", str(out)]
    code, _, stderr = call(argv)
    assert code == 2 and "beyond the limit of 10 threats a night" in stderr and not out.exists()
    code, _, stderr = call([*argv, "--allow-large"])
    assert code == 0 and (out / "manifest.json").is_file(), stderr


# ------------------------------------------------------------------ job size: sweeps, campaigns

HUGE_GRID = """\
name: huge
scenario: {scenario}
replications: 10
design: {{type: grid}}
parameters:
  ew: {{kind: lever, path: ew.suppression.drone, values: {ew}}}
  shahed: {{kind: lever, path: salvo.shahed.count, values: {counts}}}
  gerbera: {{kind: lever, path: salvo.gerbera.count, values: {counts}}}
  kh101: {{kind: lever, path: salvo.kh101.count, values: {few}}}
"""


@pytest.mark.parametrize("command", ["check", "sweep"])
def test_a_grid_of_millions_of_points_is_refused_before_it_is_built(
    tmp_path: Path, command: str
) -> None:
    # a 2-million-point grid printed nothing for a minute while memory grew
    file = tmp_path / "huge.yaml"
    file.write_text(
        HUGE_GRID.format(
            scenario=ROOT / "scenarios" / "aug-2025-night.yaml",
            ew=[round(0.05 * k, 2) for k in range(1, 11)],
            counts=list(range(1, 101)),
            few=list(range(1, 21)),
        ),
        encoding="utf-8",
    )
    out = tmp_path / "results"
    argv = [command, str(file)] + (["--out", str(out)] if command == "sweep" else [])
    code, _, stderr = call(argv)
    assert code == 2 and "Traceback" not in stderr
    assert f"{file}:4: design: 2,000,000 design points x 10 replications is 20,000,000" in stderr
    assert "beyond the limit of 1,000,000 nights a job" in stderr
    assert not out.exists() and not lock_file(out).exists()


def test_a_campaign_of_millions_of_nights_is_refused_before_it_starts(tmp_path: Path) -> None:
    out = tmp_path / "results"
    code, _, stderr = call(["campaign", str(CAMPAIGN), "-n", "100000", "--out", str(out)])
    assert code == 2 and "Traceback" not in stderr
    assert "100,000 replications x 12 days is 1,200,000 nights, beyond the limit" in stderr
    assert "--allow-large" in stderr and not out.exists() and not lock_file(out).exists()


def test_allow_large_lifts_the_sweep_and_campaign_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sim.experiments import limits

    monkeypatch.setattr(limits, "MAX_NIGHTS_PER_JOB", 5)  # the tiny jobs are "large"
    jobs = [
        ["campaign", str(CAMPAIGN), "-n", "1"],  # 12 nights
        ["sweep", str(ROOT / "experiments" / "ew-strength.yaml"), "-n", "1"],  # 8 nights
    ]
    for k, argv in enumerate(jobs):
        out = tmp_path / f"results-{k}"
        argv = [*argv, "-w", "1", "-q", "--out", str(out)]
        code, _, stderr = call(argv)
        assert code == 2 and "beyond the limit of 5 nights a job" in stderr and not out.exists()
        code, _, stderr = call([*argv, "--allow-large"])
        assert code == 0 and (out / "manifest.json").is_file(), stderr
