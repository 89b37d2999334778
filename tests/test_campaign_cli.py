"""`salvo campaign` end to end, and sweeps of campaign experiments.

The campaign is tests/data/campaign-small.yaml (12 days of a 44-threat corridor night, a few
hundredths of a second a replication). The serial run is the reference: two worker processes,
a run killed and resumed, and a run resumed from hand-made chunks must give the same files,
byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.campaign.model import run_campaign
from sim.cli.parser import build_parser
from sim.experiments import campaigns as cr
from sim.experiments.replications import replication_rng
from sim.results.chunks import ChunkStore
from sim.spec import experiment as ex
from sim.spec.campaign import load_campaign
from sim.vocab import CHUNKS_DIR, STATE_FILE

DATA = Path(__file__).resolve().parent / "data"
CAMPAIGN = DATA / "campaign-small.yaml"
TEMPLATE = DATA / "campaign-small-night.yaml"
REPS = 5
DAYS = 12
OUTPUT_FILES = ("nights.parquet", "runs.parquet", "summary.csv", "summary.json")
REQUIRED = ["replication", "day", "launched", "intercepted", "leaked"]
REQUIRED += ["defender_cost_usd", "attacker_cost_usd"]


def copy_campaign(folder: Path, text: str | None = None) -> Path:
    """The small campaign (optionally with other text) and its template in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(TEMPLATE, folder / TEMPLATE.name)
    file = folder / CAMPAIGN.name
    file.write_text(text if text is not None else CAMPAIGN.read_text(), encoding="utf-8")
    return file


def campaign_argv(out: Path, *extra: str, file: Path = CAMPAIGN) -> list[str]:
    return ["campaign", str(file), "--out", str(out), "-n", str(REPS), *extra]


@pytest.fixture(scope="module")
def serial(call, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The reference: the small campaign run serially, one replication per chunk."""
    out = tmp_path_factory.mktemp("serial") / "out"
    code, stdout, stderr = call(campaign_argv(out, "-w", "1", "--chunk-size", "1"))
    assert code == 0, stderr
    return out, stdout


# --------------------------------------------------------------------------- outputs


def test_folder_holds_the_results_files(serial: tuple[Path, str]) -> None:
    out, stdout = serial
    names = {p.name for p in out.iterdir()}
    assert names == {*OUTPUT_FILES, "manifest.json"}  # no .chunks left
    assert f"wrote {out}/ (nights.parquet, runs.parquet" in stdout


def test_nights_parquet_columns_and_rows(serial: tuple[Path, str]) -> None:
    out, _ = serial
    nights = pd.read_parquet(out / "nights.parquet")
    assert nights.columns[0] == "replication"
    assert set(REQUIRED) <= set(nights.columns)
    tracked = load_campaign(CAMPAIGN).tracked_types()
    assert tracked == ["iris_t", "patriot"]
    assert [c for c in nights.columns if c.startswith("stock.")] == [f"stock.{t}" for t in tracked]
    assert len(nights) == REPS * DAYS
    assert nights.groupby("replication")["day"].apply(list).tolist() == [list(range(DAYS))] * REPS
    assert pq.read_schema(out / "nights.parquet").field("date").type == pa.date32()
    assert str(nights["date"].iloc[0]) == "2025-09-01"


def test_nights_and_runs_are_run_campaign_with_the_replication_seed(
    serial: tuple[Path, str],
) -> None:
    """Columns exactly as run_campaign returns them, replication r seeded with (seed, 0, r)."""
    out, _ = serial
    campaign = load_campaign(CAMPAIGN)
    nights, totals = run_campaign(campaign, replication_rng(campaign.seed, 0, 3))
    saved = pd.read_parquet(out / "nights.parquet")
    mine = saved[saved["replication"] == 3].drop(columns="replication").reset_index(drop=True)
    assert list(mine.columns) == list(nights.columns)
    nights["date"] = nights["date"].dt.date
    pd.testing.assert_frame_equal(mine, nights, check_dtype=False)
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs.columns) == ["replication", *totals]
    assert runs["replication"].tolist() == list(range(REPS))
    row = runs.iloc[3].to_dict()
    for key, value in totals.items():
        if value is None:
            assert pd.isna(row[key]), key
        else:
            assert row[key] == pytest.approx(value, nan_ok=True), key


def test_summary_is_the_statistics_of_runs(serial: tuple[Path, str]) -> None:
    out, stdout = serial
    runs = pd.read_parquet(out / "runs.parquet")
    csv = pd.read_csv(out / "summary.csv").set_index("metric")
    assert list(csv.columns) == ["n", "share", *cr.STATS]
    rate = runs["intercept_rate"]
    assert csv.loc["intercept_rate", "mean"] == pytest.approx(rate.mean())
    assert csv.loc["intercept_rate", "sd"] == pytest.approx(rate.std(ddof=1))
    assert csv.loc["intercept_rate", "p95"] == pytest.approx(rate.quantile(0.95))
    assert (
        csv.loc["intercept_rate", "ci95_low"] < rate.mean() < csv.loc["intercept_rate", "ci95_high"]
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replications"] == REPS and summary["days"] == DAYS
    assert summary["totals"]["cost_exchange"]["mean"] == pytest.approx(runs["cost_exchange"].mean())
    for type_id in ("iris_t", "patriot"):
        days = runs[f"ran_out_day.{type_id}"].dropna()
        info = summary["ran_out"][type_id]
        assert info["share"] == pytest.approx(len(days) / REPS)
        assert csv.loc[f"ran_out_day.{type_id}", "share"] == pytest.approx(len(days) / REPS)
        if len(days):
            assert info["median_day"] == pytest.approx(days.median())
        else:
            assert info["median_day"] is None
    assert "intercept rate" in stdout and "mass-night intercept rate" in stdout
    assert "cost exchange" in stdout and "ran out" in stdout


def test_manifest(serial: tuple[Path, str]) -> None:
    out, _ = serial
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "campaign" and manifest["command"] == "campaign"
    assert manifest["seed"] == load_campaign(CAMPAIGN).seed
    assert manifest["replications"] == REPS
    assert set(manifest["inputs"]) == {"campaign", "template"}
    assert len(manifest["inputs"]["campaign"]["sha256"]) == 64
    assert manifest["executor"] == {"kind": "serial", "workers": 1}
    assert manifest["campaign"]["files"][-1] == "manifest.json"
    assert "salvo-sim" in manifest["versions"] and "git_commit" in manifest


def test_two_workers_give_identical_files(call, serial: tuple[Path, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, stderr = call(campaign_argv(out, "-w", "2", "--chunk-size", "2", "-q"))
    assert code == 0, stderr
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (serial[0] / name).read_bytes(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["executor"] == {"kind": "processes", "workers": 2}


@pytest.mark.slow  # a LocalCluster takes several seconds to start
def test_dask_local_cluster_gives_identical_files(
    call, serial: tuple[Path, str], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    code, _, stderr = call(campaign_argv(out, "--dask", "local", "-w", "2", "-q"))
    assert code == 0, stderr
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (serial[0] / name).read_bytes(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["executor"]["kind"] == "dask"


def test_seed_option_changes_the_numbers(call, serial: tuple[Path, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert call(campaign_argv(out, "-w", "1", "-q", "--seed", "99"))[0] == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 99
    assert (out / "runs.parquet").read_bytes() != (serial[0] / "runs.parquet").read_bytes()


def test_quiet_prints_only_the_folder(call, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = call(campaign_argv(out, "-w", "1", "-q"))
    assert code == 0 and stderr == ""
    assert stdout.startswith(f"wrote {out}/") and stdout.count("\n") == 1


def test_progress_goes_to_stderr(call, tmp_path: Path) -> None:
    code, _, stderr = call(campaign_argv(tmp_path / "out", "-w", "1", "--chunk-size", "1"))
    assert code == 0
    assert f"replications: {REPS}/{REPS} (100 %)" in stderr


def test_help_reads_like_a_manual() -> None:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    text = action.choices["campaign"].format_help()  # type: ignore[union-attr]
    for option in ("--replications", "--seed", "--workers", "--dask", "--out", "--resume"):
        assert option in text
    for word in ("nights.parquet", "runs.parquet", "summary.csv", "manifest.json", "status 2"):
        assert word in text


# --------------------------------------------------------------------------- bad input


def test_bad_campaign_exits_2_with_file_line_and_writes_nothing(call, tmp_path: Path) -> None:
    text = CAMPAIGN.read_text().replace("every_days: 4", "every_days: -4")
    file = copy_campaign(tmp_path, text)
    out = tmp_path / "out"
    code, stdout, stderr = call(["campaign", str(file), "--out", str(out)])
    assert code == 2 and stdout == ""
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "every_days" in t)
    assert f"{file}:{line}: attacker.policy.every_days:" in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_bad_yaml_and_missing_file_exit_2(call, tmp_path: Path) -> None:
    file = copy_campaign(tmp_path, CAMPAIGN.read_text() + "calendar: [oops\n")
    code, _, stderr = call(["campaign", str(file), "--out", str(tmp_path / "out")])
    assert code == 2 and str(file) in stderr and not (tmp_path / "out").exists()
    code, _, stderr = call(["campaign", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")])
    assert code == 2 and "nope.yaml" in stderr and not (tmp_path / "o").exists()


def test_existing_folder_is_refused_and_left_alone(call, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, stderr = call(campaign_argv(out, "-w", "1"))
    assert code == 2
    assert f"results folder {out} exists; use --resume" in stderr and "--force" in stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    code, _, stderr = call(campaign_argv(out, "-w", "1", "--force"))
    assert code == 2 and "not a salvo results folder" in stderr


def test_force_replaces_a_results_folder(call, serial: tuple[Path, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(serial[0], out)
    (out / "runs.parquet").write_bytes(b"stale")
    code, _, stderr = call(campaign_argv(out, "-w", "1", "-q", "--force"))
    assert code == 0, stderr
    assert (out / "runs.parquet").read_bytes() == (serial[0] / "runs.parquet").read_bytes()


# --------------------------------------------------------------------------- resume


def _saved_chunks(out: Path, blocks: list[tuple[int, ...]]) -> None:
    """Chunks of `blocks` saved as an interrupted run leaves them."""
    prepared = cr.prepare_campaign(CAMPAIGN, replications=REPS)
    chunks = out / CHUNKS_DIR
    (chunks / cr.NIGHTS_DIR).mkdir(parents=True)
    (chunks / STATE_FILE).write_text(json.dumps({"fingerprint": prepared.fingerprint}))
    runs, nights = ChunkStore(chunks), ChunkStore(chunks / cr.NIGHTS_DIR)
    for block in blocks:
        task = cr.CampaignTask(prepared.pickled, 0, prepared.seed, block)
        chunk = cr.run_campaign_task(task)
        assert chunk.nights is not None
        nights.write_table(chunk.nights, 0, block[0])
        runs.write_table(chunk.runs, 0, block[0])


def test_resume_runs_only_the_missing_replications(
    call, serial: tuple[Path, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _saved_chunks(out, [(0,), (2, 3)])
    chunks = out / CHUNKS_DIR
    # killed between the nights chunk and the totals chunk of replication 4: runs again
    orphan = chunks / cr.NIGHTS_DIR / "p000000-r000004.arrow"
    shutil.copy(chunks / cr.NIGHTS_DIR / "p000000-r000000.arrow", orphan)
    (chunks / ".p000000-r000001.arrow.tmp-1").write_bytes(b"half a chunk")
    code, stdout, stderr = call(campaign_argv(out, "--resume", "-w", "1", "-q"))
    assert code == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["campaign"]["replications_resumed"] == 3
    assert manifest["campaign"]["replications_run_in_this_session"] == 2
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (serial[0] / name).read_bytes(), name
    assert not chunks.exists()
    # resuming a complete folder runs nothing
    code, stdout, _ = call(campaign_argv(out, "--resume", "-w", "1", "-q"))
    assert code == 0 and "already complete; nothing was run" in stdout


def test_resume_refuses_other_inputs(call, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert call(campaign_argv(out, "-w", "1", "-q"))[0] == 0
    code, _, stderr = call(campaign_argv(out, "-w", "1", "-q", "--resume", "--seed", "3"))
    assert code == 2 and "holds a different campaign" in stderr


def test_resume_after_sigkill_gives_the_same_files(
    call, salvo_process, wait_for_chunks, tmp_path: Path
) -> None:
    many = ["-n", "60", "-w", "1", "-q"]
    reference = tmp_path / "reference"
    code, _, stderr = call(["campaign", str(CAMPAIGN), "--out", str(reference), *many])
    assert code == 0, stderr
    out = tmp_path / "killed"
    proc = salvo_process("campaign", CAMPAIGN, "--out", out, *many, "--chunk-size", "1")
    wait_for_chunks(out, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "nights.parquet").exists(), "the run finished before it was killed"
    saved = len(list((out / CHUNKS_DIR).glob("p*.arrow")))
    assert 1 <= saved < 60
    code, _, stderr = call(["campaign", str(CAMPAIGN), "--out", str(out), "--resume", *many])
    assert code == 0, stderr
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(
    call, salvo_process, wait_for_chunks, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = salvo_process(
        "campaign", CAMPAIGN, "--out", out, "-n", "200", "-w", "2", "--chunk-size", "2"
    )
    wait_for_chunks(out, proc, 2)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr and "salvo campaign" in stderr and "--resume" in stderr
    assert not (out / "nights.parquet").exists()
    code, _, err = call(["campaign", str(CAMPAIGN), "--out", str(out), "--resume", "-n", "200"])
    assert code == 0, err


# --------------------------------------------------------------------------- campaign sweeps

SWEEP = """\
name: small-campaign-sweep
campaign: campaign-small.yaml
seed: 7
replications: 3
design: {type: grid}
parameters:
  patriots:
    kind: lever
    path: defender.stock.patriot
    values: [6, 40]
  ew:
    kind: uncertainty
    path: night.ew.suppression.drone
    values: [0.0]
"""


def test_campaign_sweep_with_two_points(call, tmp_path: Path) -> None:
    copy_campaign(tmp_path)
    file = tmp_path / "sweep.yaml"
    file.write_text(SWEEP, encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, stderr = call(["sweep", str(file), "--out", str(out), "-w", "1", "-q"])
    assert code == 0, stderr
    assert "2 campaigns x 3 replications" in stdout and "intercept rate" in stdout
    names = {p.name for p in out.iterdir()}
    assert names == {"runs.parquet", "summary.csv", "parameters.csv", "manifest.json"}
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 2 * 3
    head = ["point", "replication", "seed", "defender.stock.patriot", "night.ew.suppression.drone"]
    assert list(runs.columns[:5]) == head
    assert "intercept_rate" in runs.columns and "ran_out_day.patriot" in runs.columns
    assert runs.groupby("point")["stock.patriot"].mean().is_monotonic_increasing
    summary = pd.read_csv(out / "summary.csv")
    assert summary["point"].tolist() == [0, 1]
    assert summary["defender.stock.patriot"].tolist() == [6, 40]
    for column in ("intercept_rate.mean", "cost_exchange.ci95_low", "ran_out_day.patriot.share"):
        assert column in summary.columns
    means = runs.groupby("point")["intercept_rate"].mean().tolist()
    assert summary["intercept_rate.mean"].tolist() == pytest.approx(means)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "campaign-sweep"
    assert set(manifest["inputs"]) == {"experiment", "campaign", "template"}
    # design point 1, replication r: the campaign with that stock, seeded (seed, 1, r)
    prepared = ex.prepare(file)
    campaign = prepared.scenario_for(1)
    assert campaign.defender.stock["patriot"] == 40
    _, totals = run_campaign(campaign, replication_rng(7, 1, 2))
    row = runs[(runs["point"] == 1) & (runs["replication"] == 2)].iloc[0]
    assert row["intercepted"] == totals["intercepted"]
    assert row["defender_cost_usd"] == pytest.approx(totals["defender_cost_usd"])


def test_campaign_sweep_checks_every_design_point_first(call, tmp_path: Path) -> None:
    copy_campaign(tmp_path)
    text = SWEEP.replace("values: [6, 40]", "values: [6, -1]").replace(
        "path: night.ew.suppression.drone", "path: night.ew.suppression.dron"
    )
    file = tmp_path / "sweep.yaml"
    file.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    code, _, stderr = call(["sweep", str(file), "--out", str(out)])
    assert code == 2 and not out.exists()
    assert f"{file}:13: parameters.ew.path: unknown key of ew.suppression 'dron'" in stderr
    assert "did you mean 'drone'?" in stderr
    file.write_text(text.replace(".dron\n", ".drone\n"), encoding="utf-8")
    code, _, stderr = call(["sweep", str(file), "--out", str(out)])
    assert code == 2 and not out.exists()
    assert f"{file}:10: parameters.patriots.values.1: design point 1 sets " in stderr
    assert "defender.stock.patriot=-1" in stderr


def test_experiment_names_a_scenario_or_a_campaign(call, tmp_path: Path) -> None:
    copy_campaign(tmp_path)
    file = tmp_path / "sweep.yaml"
    file.write_text(SWEEP.replace("campaign:", "scenario: x.yaml\ncampaign:"), encoding="utf-8")
    code, _, stderr = call(["sweep", str(file)])
    assert code == 2 and f"{file}:3: campaign: give either `scenario`" in stderr
    file.write_text(SWEEP.replace("path: defender.stock.patriot", "path: salvo.x"))
    code, _, stderr = call(["sweep", str(file)])
    assert code == 2 and "set it with night.salvo.x" in stderr


def test_example_campaign_experiment_is_valid() -> None:
    prepared = ex.prepare(
        Path(__file__).resolve().parents[1] / "experiments/campaign-deliveries.yaml"
    )
    assert prepared.is_campaign and len(prepared.points) == 4
    campaign = prepared.scenario_for(0)
    patriot = campaign.defender.deliveries[:5]
    assert all(d.type == "patriot" and d.quantity == 0 for d in patriot)
    assert prepared.scenario_for(3).defender.deliveries[4].quantity == 80
