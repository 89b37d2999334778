"""`salvo sweep` end to end: seeding independent of the executor, resume after a kill, outputs.

A small scenario (80 drones, 21 defence units; a few ms a night) keeps the runs short. The
serial run is the reference; processes and a Dask LocalCluster must give the same runs.parquet
contents, a run killed with SIGKILL and resumed the same files, byte for byte.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.experiments import sweep
from sim.experiments.progress import Progress
from sim.experiments.replications import Task, run_replications, run_task
from sim.results.chunks import ChunkStore
from sim.results.statistics import SWEEP_STATS, sweep_point_stats
from sim.spec import experiment as ex
from sim.vocab import CHUNKS_DIR, STATE_FILE

ROOT = Path(__file__).resolve().parents[1]

NIGHT = """\
name: small-night
seed: 11
time_window_h: [0, 12]
launch_sites:
  kursk: {lon: 35.95, lat: 51.75, scatter_km: 15}
targets:
  kyiv: {lon: 30.52, lat: 50.45}
  kharkiv: {lon: 36.23, lat: 49.99}
salvo:
  shahed:
    type: shahed
    count: 60
    launch_sites: [kursk]
    targets: {kyiv: 2, kharkiv: 1}
    launch_window_h: [0, 4]
    route: {style: dogleg, dogleg_km: 60}
  gerbera:
    type: gerbera
    count: 20
    launch_sites: [kursk]
    targets: [kyiv]
    launch_window_h: [0, 4]
defences:
  kyiv_iris_t: {type: iris_t, count: 1, placement: {kind: ring, target: kyiv, radius_km: 20}}
  kyiv_mfg:
    {type: mobile_fire_group, count: 10, placement: {kind: ring, target: kyiv, radius_km: 30}}
  belt_mfg:
    type: mobile_fire_group
    count: 10
    placement: {kind: belt, start: [33.0, 51.5], end: [35.5, 50.4]}
ew:
  suppression: {drone: 0.2, decoy: 0.3}
"""

GRID = """\
name: small
scenario: night.yaml
seed: 5
replications: 3
design: {type: grid}
parameters:
  mfg:
    kind: lever
    path: defences.kyiv_mfg.count
    values: [4, 20]
"""

OUTPUT_FILES = ("runs.parquet", "summary.csv", "parameters.csv")


def write(folder: Path, text: str = GRID, name: str = "exp.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "night.yaml").write_text(NIGHT, encoding="utf-8")
    file = folder / name
    file.write_text(text, encoding="utf-8")
    return file


@pytest.fixture(scope="module")
def serial(call, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the grid experiment run serially."""
    folder = tmp_path_factory.mktemp("serial")
    file = write(folder)
    code, stdout, stderr = call(["sweep", str(file), "--out", str(folder / "out"), "-w", "1"])
    assert code == 0, stderr
    assert "wrote" in stdout
    return folder / "out"


def runs_of(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "runs.parquet").sort_values(["point", "replication"])


# --------------------------------------------------------------------------- outputs


def test_runs_parquet_columns_and_rows(serial: Path) -> None:
    runs = pd.read_parquet(serial / "runs.parquet")
    assert len(runs) == 2 * 3
    assert list(runs.columns[:4]) == ["point", "replication", "seed", "defences.kyiv_mfg.count"]
    for column in ("point", "replication", "seed", "defences.kyiv_mfg.count"):
        assert pd.api.types.is_integer_dtype(runs[column]), column
    assert runs[["point", "replication"]].values.tolist() == [
        [p, r] for p in range(2) for r in range(3)
    ]
    assert set(runs["seed"]) == {5}
    assert runs["defences.kyiv_mfg.count"].tolist() == [4, 4, 4, 20, 20, 20]
    assert not [c for c in runs.columns if "time" in c or "wall" in c]
    kind = pq.read_schema(serial / "runs.parquet").field("defences.kyiv_mfg.count").metadata
    assert kind[b"salvo.kind"] == b"lever"


def test_runs_equal_salvo_run_of_each_design_point(serial: Path) -> None:
    """Same outcome columns as `salvo run`, and replication r of point p is seeded (5, (p, r))."""
    prepared = ex.prepare(serial.parent / "exp.yaml")
    runs = runs_of(serial)
    for point in range(2):
        alone = run_replications(prepared.scenario_for(point), 3, seed=5, point=point)
        mine = runs[runs["point"] == point].drop(columns=["defences.kyiv_mfg.count"])
        assert list(mine.columns) == list(alone.columns)
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), alone, check_dtype=False)


def test_summary_csv_is_the_statistics_of_runs(serial: Path) -> None:
    summary = pd.read_csv(serial / "summary.csv")
    runs = runs_of(serial)
    assert summary["point"].tolist() == [0, 1]
    assert summary["defences.kyiv_mfg.count"].tolist() == [4, 20]
    assert summary["replications"].tolist() == [3, 3]
    for point in range(2):
        expected = sweep_point_stats(runs[runs["point"] == point])
        row = summary.iloc[point]
        for column in ("intercept_rate.total.mean", "leaked.total.p95", "intercepted.drone.sd"):
            assert row[column] == pytest.approx(expected[column], rel=1e-12)
    # no missile is launched: their groups are left out
    assert not [c for c in summary.columns if ".cruise." in c or ".missiles." in c]
    for stat in SWEEP_STATS:
        assert f"intercept_rate.decoy.{stat}" in summary.columns


def test_manifest_and_parameters(serial: Path) -> None:
    manifest = json.loads((serial / "manifest.json").read_text())
    exp = manifest["experiment"]
    text = (serial.parent / "exp.yaml").read_text()
    assert exp["experiment_text"] == text
    assert exp["scenario_text"] == NIGHT
    assert exp["experiment_sha256"] == manifest["inputs"]["experiment"]["sha256"]
    assert manifest["seed"] == 5 and manifest["replications"] == 3
    assert manifest["executor"] == {"kind": "serial", "workers": 1}
    assert manifest["design"]["parameters"][0]["kind"] == "lever"
    assert "wall_time_s" in manifest and "versions" in manifest
    params = pd.read_csv(serial / "parameters.csv")
    assert params[["name", "column", "kind"]].values.tolist() == [
        ["mfg", "defences.kyiv_mfg.count", "lever"]
    ]
    assert not (serial / CHUNKS_DIR).exists()


# --------------------------------------------------------------------------- executors


def test_processes_give_identical_files(call, serial: Path, tmp_path: Path) -> None:
    file = write(tmp_path)
    out = tmp_path / "out"
    code, _, stderr = call(["sweep", str(file), "--out", str(out), "-w", "2", "--chunk-size", "1"])
    assert code == 0, stderr
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (serial / name).read_bytes(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["executor"] == {"kind": "processes", "workers": 2}


@pytest.mark.slow  # a LocalCluster takes several seconds to start
def test_dask_local_cluster_gives_identical_runs(call, serial: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    file = write(tmp_path)
    out = tmp_path / "out"
    argv = ["sweep", str(file), "--out", str(out), "--dask", "local", "-w", "2", "-q"]
    code, _, stderr = call(argv)
    assert code == 0, stderr
    pd.testing.assert_frame_equal(runs_of(out), runs_of(serial))
    assert (out / "summary.csv").read_bytes() == (serial / "summary.csv").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["executor"]["kind"] == "dask"
    assert manifest["executor"]["address"] == "local"


# --------------------------------------------------------------------------- resume and refusal

SLOW_GRID = GRID.replace("replications: 3", "replications: 40").replace(
    "values: [4, 20]", "values: [4, 12, 20]"
)


def test_resume_after_sigkill_gives_the_same_files(
    call, salvo_process, wait_for_chunks, tmp_path: Path
) -> None:
    file = write(tmp_path, SLOW_GRID)
    reference = tmp_path / "reference"
    code, _, stderr = call(["sweep", str(file), "--out", str(reference), "-w", "1", "-q"])
    assert code == 0, stderr

    out = tmp_path / "killed"
    proc = salvo_process("sweep", file, "--out", out, "-w", "1", "--chunk-size", "2", "-q")
    wait_for_chunks(out, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "runs.parquet").exists(), "the run finished before it was killed"
    saved = len(list((out / CHUNKS_DIR).glob("p*.arrow")))
    assert 1 <= saved < 3 * 40 / 2

    code, _, stderr = call(["sweep", str(file), "--out", str(out), "--resume", "-w", "1", "-q"])
    assert code == 0, stderr
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["experiment"]["replications_resumed"] == 2 * saved
    assert manifest["experiment"]["replications_run_in_this_session"] == 120 - 2 * saved
    assert not (out / CHUNKS_DIR).exists()


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(
    call, salvo_process, wait_for_chunks, tmp_path: Path
) -> None:
    file = write(tmp_path, SLOW_GRID)
    out = tmp_path / "out"
    proc = salvo_process("sweep", file, "--out", out, "-w", "2", "--chunk-size", "2")
    wait_for_chunks(out, proc, 2)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr and "--resume" in stderr and str(out) in stderr
    assert not (out / "runs.parquet").exists()
    code, _, err = call(["sweep", str(file), "--out", str(out), "--resume", "-w", "1", "-q"])
    assert code == 0, err
    reference = tmp_path / "reference"
    assert call(["sweep", str(file), "--out", str(reference), "-w", "1", "-q"])[0] == 0
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.slow
@pytest.mark.parametrize("to_group", [False, True], ids=["kill-salvo", "kill-process-group"])
def test_sigterm_stops_like_ctrl_c_and_says_how_to_resume(
    call, salvo_process, wait_for_chunks, tmp_path: Path, to_group: bool
) -> None:
    # `kill PID` (or a scheduler's time limit on the whole group): the workers ignore it, the
    # command stops them, keeps what finished and says how to go on, as for Ctrl-C
    file = write(tmp_path, SLOW_GRID)
    out = tmp_path / "out"
    proc = salvo_process("sweep", file, "--out", out, "-w", "2", "--chunk-size", "2")
    wait_for_chunks(out, proc, 2)
    if to_group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr and "resume with:" in stderr and str(out) in stderr
    code, _, err = call(["sweep", str(file), "--out", str(out), "--resume", "-w", "1", "-q"])
    assert code == 0, err
    assert (out / "runs.parquet").exists()


def test_resume_fills_the_gaps_between_saved_chunks(call, serial: Path, tmp_path: Path) -> None:
    """Saved replications 0, 2 of point 0 and 1 of point 1: only the other three run."""
    file = write(tmp_path)
    prepared = ex.prepare(file)
    out = tmp_path / "out"
    chunks = out / CHUNKS_DIR
    chunks.mkdir(parents=True)
    (chunks / STATE_FILE).write_text(json.dumps({"fingerprint": prepared.fingerprint}))
    store = ChunkStore(chunks)
    for point, reps in ((0, (0,)), (0, (2,)), (1, (1,))):
        store.write(run_task(Task(prepared.scenario_for(point), point, 5, reps)))
    (chunks / ".p000001-r000000.arrow.tmp-1").write_bytes(b"half a chunk")
    code, _, stderr = call(["sweep", str(file), "--out", str(out), "--resume", "-w", "1", "-q"])
    assert code == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["experiment"]["replications_resumed"] == 3
    assert manifest["experiment"]["replications_run_in_this_session"] == 3
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (serial / name).read_bytes(), name


def test_runs_parquet_bytes_do_not_depend_on_chunking(
    call, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "ROW_GROUP", 4)  # several row groups from 6 rows
    file = write(tmp_path)
    outs = []
    for size in ("1", "2", "3"):
        out = tmp_path / f"out{size}"
        argv = ["sweep", str(file), "--out", str(out), "-w", "1", "-q", "--chunk-size", size]
        assert call(argv)[0] == 0
        outs.append((out / "runs.parquet").read_bytes())
    assert outs[0] == outs[1] == outs[2]
    assert pq.ParquetFile(tmp_path / "out1" / "runs.parquet").metadata.num_row_groups == 2


def test_existing_folder_is_refused_and_left_alone(
    call, snapshot, serial: Path, tmp_path: Path
) -> None:
    file = write(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    code, stdout, stderr = call(["sweep", str(file), "--out", str(out), "-w", "1"])
    assert (code, stdout) == (2, "")
    assert "exists" in stderr and "--resume" in stderr and "--force" in stderr
    # --force replaces only a results folder, never an arbitrary one
    code, _, stderr = call(["sweep", str(file), "--out", str(out), "-w", "1", "--force"])
    assert code == 2 and "not a salvo results folder" in stderr
    code, _, stderr = call(["sweep", str(file), "--out", str(out), "-w", "1", "--resume"])
    assert code == 2 and "not written by salvo sweep" in stderr
    assert snapshot(out) == before


def test_resume_refuses_another_experiment_and_force_replaces(
    call, snapshot, tmp_path: Path
) -> None:
    file = write(tmp_path)
    out = tmp_path / "out"
    assert call(["sweep", str(file), "--out", str(out), "-w", "1", "-q"])[0] == 0
    before = snapshot(out)
    for argv in (["--seed", "6"], ["-n", "4"]):
        code, _, stderr = call(["sweep", str(file), "--out", str(out), "--resume", *argv])
        assert code == 2 and "different experiment" in stderr, argv
    file.write_text(GRID.replace("values: [4, 20]", "values: [4, 21]"))
    code, _, stderr = call(["sweep", str(file), "--out", str(out), "--resume"])
    assert code == 2 and "different experiment" in stderr
    assert snapshot(out) == before
    code, _, stderr = call(["sweep", str(file), "--out", str(out), "-w", "1", "--force", "-q"])
    assert code == 0, stderr
    assert pd.read_csv(out / "summary.csv")["defences.kyiv_mfg.count"].tolist() == [4, 21]


def test_resume_of_a_complete_folder_runs_nothing(
    call, snapshot, serial: Path, tmp_path: Path
) -> None:
    out = tmp_path / "copy"
    out.mkdir()
    for p in serial.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    before = snapshot(out)
    code, stdout, stderr = call(
        ["sweep", str(serial.parent / "exp.yaml"), "--out", str(out), "--resume"]
    )
    assert code == 0, stderr
    assert "already complete" in stdout
    assert snapshot(out) == before


def test_resume_and_force_are_exclusive(call, tmp_path: Path) -> None:
    file = write(tmp_path)
    code, _, stderr = call(["sweep", str(file), "--resume", "--force"])
    assert code == 2 and "not allowed with" in stderr


# --------------------------------------------------------------------------- sobol, progress


def test_sobol_sweep_writes_sensitivity(call, tmp_path: Path) -> None:
    text = (
        "name: s\nscenario: night.yaml\nseed: 2\nreplications: 2\n"
        "design: {type: sobol, base_samples: 4}\nparameters:\n"
        "  ew: {kind: uncertainty, path: ew.suppression.drone, low: 0.0, high: 0.6}\n"
        "  mfg: {kind: lever, path: defences.kyiv_mfg.count, low: 0, high: 30, "
        "distribution: integer}\n"
    )
    file = write(tmp_path, text)
    out = tmp_path / "out"
    code, stdout, stderr = call(["sweep", str(file), "--out", str(out), "-w", "1", "-q"])
    assert code == 0, stderr
    assert len(pd.read_csv(out / "summary.csv")) == 4 * (2 + 2)
    sens = pd.read_csv(out / "sensitivity.csv")
    assert sens[["output", "parameter", "kind"]].values.tolist() == [
        ["intercept_rate.total", "ew", "uncertainty"],
        ["intercept_rate.total", "mfg", "lever"],
        ["leaked.total", "ew", "uncertainty"],
        ["leaked.total", "mfg", "lever"],
    ]
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(sens.columns)
    assert "Sobol' indices" in stdout


def test_progress_lines_per_decile_and_after_resume(capsys: pytest.CaptureFixture) -> None:
    bar = Progress(20, initial=6)
    for _ in range(7):
        bar.update(2)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "replications: 8/20 (40 %)",
        "replications: 10/20 (50 %)",
        "replications: 12/20 (60 %)",
        "replications: 14/20 (70 %)",
        "replications: 16/20 (80 %)",
        "replications: 18/20 (90 %)",
        "replications: 20/20 (100 %)",
    ]
    quiet = Progress(20, enabled=False)
    quiet.update(20)
    assert capsys.readouterr().err == ""


def test_quiet_sweep_prints_no_progress(call, tmp_path: Path) -> None:
    file = write(tmp_path)
    code, _, stderr = call(["sweep", str(file), "--out", str(tmp_path / "q"), "-w", "1", "-q"])
    assert code == 0 and stderr == ""
    code, _, stderr = call(["sweep", str(file), "--out", str(tmp_path / "v"), "-w", "1"])
    assert code == 0 and "replications: 6/6 (100 %)" in stderr
