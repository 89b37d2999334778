"""Figures and reports of campaign sweeps (`salvo plot` / `salvo report` on the folder that
`salvo sweep` writes for an experiment naming `campaign:`).

The folders are made here by running the real sweep on tests/data/campaign-small.yaml (12
days, a few hundredths of a second a replication): one varied parameter (and one held
constant), two parameters on a grid, and a small Sobol' design.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import DPI, call, is_blank, pixels, png_size

from sim.viz.campaign_sweep import read_campaign_sweep, wilson_interval
from sim.viz.registry import select_kinds

DATA = Path(__file__).resolve().parent / "data"
HEAD = """\
name: {name}
campaign: campaign-small.yaml
seed: 7
replications: {replications}
"""
ONE = """\
design: {type: grid}
parameters:
  patriots:
    kind: lever
    path: defender.stock.patriot
    values: [2, 6, 40]
  ew: # held at one value: the figures are drawn against patriots alone
    kind: uncertainty
    path: night.ew.suppression.drone
    values: [0.1]
"""
TWO = """\
design: {type: grid}
parameters:
  patriots:
    kind: lever
    path: defender.stock.patriot
    values: [2, 40]
  ew:
    kind: uncertainty
    path: night.ew.suppression.drone
    values: [0.0, 0.4]
"""
SOBOL = """\
design: {type: sobol, base_samples: 4}
parameters:
  patriots: {kind: lever, path: defender.stock.patriot, low: 2, high: 40, distribution: integer}
  ew: {kind: uncertainty, path: night.ew.suppression.drone, low: 0.0, high: 0.5}
  iris: {kind: lever, path: defender.stock.iris_t, low: 10, high: 60, distribution: integer}
"""
LINE_FIGURES = {"campaign-sweep-line": (13.2, 4.9), "campaign-sweep-ran-out": (12.6, 4.9)}


def run_sweep(folder: Path, name: str, design: str, replications: int) -> Path:
    """Run `salvo sweep` on a campaign experiment written into `folder`; return the results."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in ("campaign-small.yaml", "campaign-small-night.yaml"):
        shutil.copy(DATA / file, folder / file)
    experiment = folder / f"{name}.yaml"
    text = HEAD.format(name=name, replications=replications) + design
    experiment.write_text(text, encoding="utf-8")
    out = folder / name
    code, _, err = call(["sweep", str(experiment), "--out", str(out), "-w", "1", "-q"])
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def one(tmp_path_factory) -> Path:
    return run_sweep(tmp_path_factory.mktemp("campaign-sweep"), "one", ONE, 3)


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Path:
    return run_sweep(tmp_path_factory.mktemp("campaign-sweep"), "two", TWO, 2)


@pytest.fixture(scope="module")
def sobol(tmp_path_factory) -> Path:
    return run_sweep(tmp_path_factory.mktemp("campaign-sweep"), "sobol", SOBOL, 2)


def copy_folder(src: Path, dst: Path) -> Path:
    """The results files of a folder, without figures or report."""
    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.is_file() and not item.name.startswith("report."):
            shutil.copy2(item, dst / item.name)
    return dst


def plot(folder: Path, *extra: str) -> list[str]:
    code, stdout, err = call(["plot", str(folder), "--dpi", str(DPI), *extra])
    assert code == 0, err
    return stdout.split()


# --------------------------------------------------------------------------- figures


def test_folder_is_a_campaign_sweep_not_a_night_sweep(one, sobol):
    assert json.loads((one / "manifest.json").read_text())["kind"] == "campaign-sweep"
    assert [k.name for k in select_kinds(one)] == ["campaign-sweep"]
    assert [k.name for k in select_kinds(sobol)] == ["campaign-sweep"]  # not sobol


def test_one_parameter_figures(tmp_path, one):
    folder = copy_folder(one, tmp_path / "one")
    paths = plot(folder)
    assert paths == [str(folder / "figures" / f"{name}.png") for name in LINE_FIGURES]
    for name, (w, h) in LINE_FIGURES.items():
        path = folder / "figures" / f"{name}.png"
        assert png_size(path) == pixels(w, h), name
        assert not is_blank(path), name


def test_constant_parameter_is_left_out_of_the_layout(one):
    results = read_campaign_sweep(one)
    assert results.parameters["column"].tolist() == ["defender.stock.patriot"]
    assert results.constant["column"].tolist() == ["night.ew.suppression.drone"]
    assert "campaign campaign-small of 12 days" in results.subtitle()
    assert "3 design points × 3 replications · seed 7" in results.subtitle()


def test_ran_out_shares_are_those_of_the_summary(one):
    results = read_campaign_sweep(one)
    table = results.ran_out()
    assert set(table["type"]) == {"iris_t", "patriot"}
    for kind in ("iris_t", "patriot"):
        shares = table[table["type"] == kind].sort_values("point")["share"].tolist()
        expected = results.summary.sort_values("point")[f"ran_out_day.{kind}.share"].tolist()
        assert shares == pytest.approx(expected)
    assert ((table["low"] <= table["share"]) & (table["share"] <= table["high"])).all()


def test_wilson_interval():
    low, high = wilson_interval(0, 4)
    assert low == 0.0 and high == pytest.approx(0.4899, abs=1e-4)
    low, high = wilson_interval(3, 3)
    assert high == 1.0 and low == pytest.approx(0.4385, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_two_parameter_heatmap(tmp_path, two):
    folder = copy_folder(two, tmp_path / "two")
    path = folder / "figures" / "campaign-sweep-heatmap.png"
    assert plot(folder) == [str(path)]
    assert png_size(path) == pixels(12.0, 5.2)
    assert not is_blank(path)


def test_sobol_design_draws_scatter_and_sobol_indices(tmp_path, sobol):
    folder = copy_folder(sobol, tmp_path / "sobol")
    outputs = set(pd.read_csv(folder / "sensitivity.csv")["output"])
    assert outputs == {"intercept_rate", "mass_intercept_rate", "cost_exchange"}
    paths = plot(folder)
    assert paths == [
        str(folder / "figures" / f"{n}.png") for n in ("campaign-sweep-scatter", "sobol")
    ]
    assert png_size(Path(paths[0])) == pixels(11.2, 9.9)  # 3 parameters x 3 outputs
    assert png_size(Path(paths[1])) == pixels(17.4, 4.1)  # 3 outputs, 3 parameters
    for path in paths:
        assert not is_blank(Path(path))


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_identical_inputs_give_identical_bytes(tmp_path, one, two, fmt):
    for source in (one, two):
        first = copy_folder(source, tmp_path / f"{source.name}-a")
        second = copy_folder(source, tmp_path / f"{source.name}-b")
        a, b = plot(first, "--format", fmt), plot(second, "--format", fmt)
        assert len(a) == len(b) > 0
        for pa, pb in zip(a, b, strict=True):
            assert Path(pa).read_bytes() == Path(pb).read_bytes(), pa


def test_folder_without_manifest_is_recognised_by_its_summary(tmp_path, two):
    folder = copy_folder(two, tmp_path / "bare")
    (folder / "manifest.json").unlink()
    assert [k.name for k in select_kinds(folder)] == ["campaign-sweep"]
    assert plot(folder) == [str(folder / "figures" / "campaign-sweep-heatmap.png")]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("runs.parquet", b"not parquet at all", "not a readable Parquet file"),
        ("summary.csv", b'point,"unclosed\n1,2\n', "not a readable CSV file"),
        ("summary.csv", b"point,x\n0,1\n", "missing column(s)"),
        ("parameters.csv", b"name\nx\n", "missing column(s) column"),
        ("runs.parquet", None, "missing"),
        ("summary.csv", None, "missing"),
    ],
)
@pytest.mark.parametrize("command", ["plot", "report"])
def test_bad_files_exit_2_naming_the_file(tmp_path, one, name, content, message, command):
    folder = copy_folder(one, tmp_path / "bad")
    if content is None:
        (folder / name).unlink()
    else:
        (folder / name).write_bytes(content)
    code, stdout, err = call([command, str(folder)])
    assert code == 2, err
    assert f"{folder / name}" in err and message in err
    assert "Traceback" not in err and stdout == ""
    assert not (folder / "figures").exists() and not (folder / "report.md").exists()


def test_runs_of_other_design_points_are_named(tmp_path, one):
    folder = copy_folder(one, tmp_path / "other")
    runs = pd.read_parquet(folder / "runs.parquet")
    runs[runs["point"] != 2].to_parquet(folder / "runs.parquet", index=False)
    code, _, err = call(["plot", str(folder)])
    assert code == 2 and f"{folder / 'runs.parquet'}: its design points" in err


# --------------------------------------------------------------------------- report


def test_report_lists_design_points_and_figures(tmp_path, one):
    folder = copy_folder(one, tmp_path / "report")
    code, stdout, err = call(["report", str(folder), "--dpi", str(DPI)])
    assert code == 0, err
    assert stdout.split() == [str(folder / "report.md"), str(folder / "report.html")]
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# salvo results: one\n")
    assert "Campaign sweep `one` of campaign `campaign-small`: 3 design points" in md
    assert "## What was run" in md and "| command | salvo sweep |" in md
    assert "## Design points" in md
    header = next(line for line in md.splitlines() if line.startswith("| point |"))
    assert "defender.stock.patriot" in header and "night.ew.suppression.drone" in header
    assert "intercept rate % [95 % CI]" in header and "cost exchange [95 % CI]" in header
    assert "patriot ran out: share (median day)" in header
    rows = [line for line in md.splitlines() if line.startswith("| 0 |")]
    assert len(rows) == 1 and "| 2 | 0.1 | 3 |" in rows[0]
    for name in LINE_FIGURES:
        assert f"(figures/{name}.png)" in md
        assert (folder / "figures" / f"{name}.png").is_file()
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(LINE_FIGURES)


def test_report_of_a_sobol_design_has_the_indices(tmp_path, sobol):
    folder = copy_folder(sobol, tmp_path / "report")
    code, _, err = call(["report", str(folder), "--dpi", str(DPI)])
    assert code == 0, err
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "## Design points" in md and "## Sobol' indices" in md
    assert "| mass_intercept_rate | patriots |" in md
    assert "(figures/sobol.png)" in md and "(figures/campaign-sweep-scatter.png)" in md
