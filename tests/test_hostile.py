"""Bad input as a hostile user writes it (issue 13): each case must exit with status 2, name the
file, line and field, show no traceback, and leave no results folder behind.

The catalogue starts with non-finite numbers (item 5 of the issue: `.inf` and `.nan` used to
pass validation and give wrong answers with exit status 0, or a traceback in a campaign).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from helpers import call, night_row, write_nights_csv

from sim.spec.observed import REQUIRED_COLUMNS, load_nights
from sim.spec.yamlio import InputError

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
