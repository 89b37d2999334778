"""Tests for the `salvo` command line (sim.cli.app): bad input, results folders, reproducibility.

Most cases call `sim.cli.app.main` in-process; one runs `python -m sim` in a subprocess to prove the
real exit status and that no traceback escapes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scenarios" / "aug-2025-night.yaml"
# bad inputs are made by editing a frozen copy, so refitting the reference never moves them
BAD_INPUT_BASE = ROOT / "tests" / "data" / "bad-input-base.yaml"
REF_TEXT = BAD_INPUT_BASE.read_text(encoding="utf-8")

FIELD_ERROR = re.compile(r"^[^:]+:\d+: [\w.\-]+: .+$")
SYNTAX_ERROR = re.compile(r"^[^:]+:\d+: invalid YAML: .+$")
FILE_ERROR = re.compile(r"^[^:]+: .+$")

OUTCOMES = ("intercepted", "shot_down", "suppressed", "leaked", "failed")
STATS = ("mean", "sd", "p05", "p50", "p95")
CLASSES = ("drone", "decoy", "cruise", "ballistic", "hypersonic")


def edited(old: str, new: str) -> str:
    assert REF_TEXT.count(old) == 1, f"{old!r} must occur exactly once in the reference"
    return REF_TEXT.replace(old, new)


def line_of(text: str, marker: str) -> int:
    assert text.count(marker) == 1, f"marker {marker!r} must occur exactly once"
    return text[: text.index(marker)].count("\n") + 1


COUNT = "    count: 14 # observed"

# (old text, new text, marker on the error line or None for whole-file errors, field path)
BAD = {
    "yaml-syntax": ("    count: 14 # observed", "    count: 14: observed", "14: observed", ""),
    "unknown-key": (
        "    count: 14 # observed\n",
        "    count: 14 # observed\n    cuont: 3\n",
        "cuont",
        "salvo.kalibr.cuont",
    ),
    "wrong-type": (COUNT, "    count: many", "count: many", "salvo.kalibr.count"),
    "negative-count": (COUNT, "    count: -5", "count: -5", "salvo.kalibr.count"),
    "probability": (
        "suppression: {drone: 0.25",
        "suppression: {drone: 1.5",
        "drone: 1.5",
        "ew.suppression.drone",
    ),
    "unknown-threat-type": (
        "    type: kalibr",
        "    type: kalibrr",
        "kalibrr",
        "salvo.kalibr.type",
    ),
    "unknown-defence-type": (
        "kyiv_nasams: {type: nasams,",
        "kyiv_nasams: {type: nasam,",
        "nasam,",
        "defences.kyiv_nasams.type",
    ),
    "undefined-launch-site": (
        "launch_sites: [black_sea]",
        "launch_sites: [black_see]",
        "black_see",
        "salvo.kalibr.launch_sites.black_see",
    ),
    "undefined-salvo-target": (
        "targets: [zaporizhzhia]",
        "targets: [zaporizhia]",
        "[zaporizhia]",
        "salvo.kh59.targets.zaporizhia",
    ),
    "undefined-ring-target": (
        "{kind: ring, target: lviv, radius_km: 20}",
        "{kind: ring, target: lvov, radius_km: 20}",
        "lvov",
        "defences.lviv_iris_t.placement.target",
    ),
    "unknown-catalog-base": (
        "    gerbera: {failure_prob: 0.02}\n",
        "    gerbera: {failure_prob: 0.02}\n  defences:\n    iris_x: {base: iris_tt}\n",
        "iris_tt",
        "catalog.defences.iris_x.base",
    ),
    "empty-file": (None, "# nothing\n", None, ""),
}


@pytest.fixture(params=sorted(BAD))
def bad(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, int | None, str]:
    """A bad scenario file in tmp_path with its expected error line and field path."""
    old, new, marker, path = BAD[request.param]
    text = new if old is None else edited(old, new)
    file = tmp_path / "bad.yaml"
    file.write_text(text, encoding="utf-8")
    return file, (None if marker is None else line_of(text, marker)), path


def assert_error_lines(stderr: str, file: Path, line: int | None, path: str) -> None:
    lines = stderr.splitlines()
    assert lines, "no error message"
    assert "Traceback" not in stderr
    for text in lines:
        assert text.startswith(f"{file}:"), text
        if line is None:
            assert FILE_ERROR.match(text), text
        elif path:
            assert FIELD_ERROR.match(text), text
        else:
            assert SYNTAX_ERROR.match(text), text
    expected = str(file) if line is None else f"{file}:{line}"
    expected += f": {path}: " if path else ": "
    assert any(t.startswith(expected) for t in lines), (expected, lines)


def test_bad_input_run_exits_2_and_writes_nothing(call, bad, tmp_path: Path) -> None:
    file, line, path = bad
    res = tmp_path / "tmp" / "res"
    code, stdout, stderr = call(["run", str(file), "--out", str(res), "-n", "2"])
    assert code == 2
    assert stdout == ""
    assert_error_lines(stderr, file, line, path)
    assert not res.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]

    code_check, stdout_check, stderr_check = call(["check", str(file)])
    assert code_check == 2
    assert stdout_check == ""
    assert stderr_check == stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_bad_input_leaves_existing_results_untouched_even_with_force(
    call, snapshot, tmp_path: Path
) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(edited("    count: 14 # observed", "    count: -5"), encoding="utf-8")
    res = tmp_path / "res"
    res.mkdir()
    (res / "summary.json").write_text("{}", encoding="utf-8")
    before = snapshot(res)
    code, stdout, stderr = call(["run", str(file), "--out", str(res), "-n", "2", "--force"])
    assert (code, stdout) == (2, "")
    assert "salvo.kalibr.count" in stderr
    assert snapshot(res) == before


def test_missing_scenario_file_is_a_whole_file_error(call, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    res = tmp_path / "res"
    code, stdout, stderr = call(["run", str(missing), "--out", str(res), "-n", "2"])
    assert (code, stdout) == (2, "")
    assert_error_lines(stderr, missing, None, "")
    assert not res.exists()


def test_subprocess_bad_input_real_exit_status_no_traceback(tmp_path: Path) -> None:
    text = edited("    type: kalibr", "    type: kalibrr")
    file = tmp_path / "bad.yaml"
    file.write_text(text, encoding="utf-8")
    res = tmp_path / "tmp" / "res"
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(file), "--out", str(res), "-n", "2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert_error_lines(proc.stderr, file, line_of(text, "kalibrr"), "salvo.kalibr.type")
    assert not res.exists()


def test_check_reference_scenario_ok(call) -> None:
    code, stdout, stderr = call(["check", str(REFERENCE)])
    assert code == 0
    assert stderr == ""
    assert "ok" in stdout and "614 threats" in stdout


def test_check_several_files_reports_every_bad_one(call, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(edited("    type: kalibr", "    type: kalibrr"), encoding="utf-8")
    code, stdout, stderr = call(["check", str(REFERENCE), str(bad)])
    assert code == 2
    assert f"{REFERENCE}: ok" in stdout
    assert stderr.startswith(f"{bad}:") and "salvo.kalibr.type" in stderr


# --------------------------------------------------------------------------- good runs


@pytest.fixture(scope="module")
def reference_run(call, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("ref") / "D"
    argv = ["run", str(REFERENCE), "-n", "4", "--workers", "1", "--out", str(out)]
    code, stdout, _ = call(argv)
    return out, code, stdout


def test_run_writes_results_folder(reference_run) -> None:
    out, code, stdout = reference_run
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "runs.parquet",
        "summary.json",
    ]
    assert str(out) in stdout
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 4

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("scenario", "replications", "seed", "launched", "outcomes"):
        assert key in summary
    assert summary["scenario"] == "aug-2025-night"
    assert summary["replications"] == 4
    assert summary["seed"] == 20250821
    assert summary["launched"]["total"] == 614
    for cls in CLASSES:
        assert cls in summary["launched"]
    assert summary["launched"]["drone"] + summary["launched"]["decoy"] == 574
    for outcome in OUTCOMES:
        entry = summary["outcomes"][outcome]
        for stat in STATS:
            assert stat in entry, (outcome, stat)
        assert "by_class" in entry
        for by_cls in entry["by_class"].values():
            assert set(STATS) <= set(by_cls)

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert isinstance(manifest, dict) and manifest


def test_existing_results_need_force(call, snapshot, reference_run, tmp_path: Path) -> None:
    out = tmp_path / "D"
    shutil.copytree(reference_run[0], out)
    before = snapshot(out)

    code, stdout, stderr = call(["run", str(REFERENCE), "-n", "2", "-w", "1", "-o", str(out)])
    assert (code, stdout) == (2, "")
    assert "--force" in stderr and "Traceback" not in stderr
    assert snapshot(out) == before

    argv = ["run", str(REFERENCE), "-n", "2", "-w", "1", "-o", str(out), "--force", "-q"]
    code, _, _ = call(argv)
    assert code == 0
    assert len(pd.read_parquet(out / "runs.parquet")) == 2
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["replications"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D"]  # no temporary folders left


def test_json_prints_exactly_the_summary(call, tmp_path: Path) -> None:
    out = tmp_path / "J"
    argv = ["run", str(REFERENCE), "-n", "2", "--workers", "1", "--out", str(out), "--json"]
    code, stdout, _ = call(argv)
    assert code == 0
    assert json.loads(stdout) == json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def seeded_runs(call, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    base = tmp_path_factory.mktemp("seeded")
    frames = {}
    for name, seed, executor in (
        ("a_w1", 11, ["--workers", "1"]),
        ("a_w2", 11, ["--workers", "2"]),
        ("a_dask", 11, ["--dask", "local", "--workers", "2"]),
        ("b_w1", 12, ["--workers", "1"]),
    ):
        out = base / name
        argv = ["run", str(REFERENCE), "-n", "6", "--seed", str(seed), *executor]
        code, _, stderr = call([*argv, "--out", str(out), "-q"])
        assert code == 0, stderr
        frames[name] = pd.read_parquet(out / "runs.parquet")
    return frames


def test_same_seed_reproduces_across_worker_counts(seeded_runs) -> None:
    assert len(seeded_runs["a_w1"]) == 6
    pd.testing.assert_frame_equal(seeded_runs["a_w1"], seeded_runs["a_w2"])


def test_same_seed_reproduces_on_a_dask_cluster(seeded_runs) -> None:
    pd.testing.assert_frame_equal(seeded_runs["a_w1"], seeded_runs["a_dask"])


def test_seed_changes_results(seeded_runs) -> None:
    assert not seeded_runs["a_w1"].equals(seeded_runs["b_w1"])


# --------------------------------------------------------------------------- catalog, help


def test_catalog_lists_types_and_sources(call) -> None:
    code, stdout, _ = call(["catalog"])
    assert code == 0
    for type_id in ("shahed", "kh101", "patriot", "iris_t"):
        assert type_id in stdout
    assert "sources" in stdout.lower()


def test_catalog_json(call) -> None:
    code, stdout, _ = call(["catalog", "--json"])
    assert code == 0
    data = json.loads(stdout)
    assert {"shahed", "kh101"} <= set(data["threats"])
    assert {"patriot", "iris_t"} <= set(data["defences"])
    assert data["threats"]["shahed"]["sources"]


def test_help(call) -> None:
    code, stdout, _ = call(["--help"])
    assert code == 0
    for command in ("run", "check", "catalog"):
        assert command in stdout
    code, stdout, _ = call(["run", "--help"])
    assert code == 0
    for option in ("--replications", "--seed", "--workers", "--out", "--force", "--json"):
        assert option in stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-n", "0"], "at least 1"),
        (["--seed", "-1"], "0 or more"),
        (["--workers", "0"], "at least 1"),
        (["-n", "lots"], "whole number"),
    ],
    ids=["n-0", "seed-negative", "workers-0", "n-not-a-number"],
)
def test_bad_cli_values_exit_2(call, tmp_path: Path, args: list[str], fragment: str) -> None:
    res = tmp_path / "res"
    code, stdout, stderr = call(["run", str(REFERENCE), "--out", str(res), *args])
    assert code == 2
    assert stdout == ""
    assert fragment in stderr
    assert not res.exists()


def test_no_command_is_a_usage_error(call) -> None:
    code, _, stderr = call([])
    assert code == 2
    assert "usage" in stderr
