"""Figures and reports (sim.viz, sim.viz.report, `salvo plot`, `salvo report`).

Every figure kind is drawn from a small results folder made here (the reference scenario run
in-process with a few nights and traces; synthetic sweep and Sobol' files in the formats
`salvo sweep` writes); each PNG must exist, have the expected pixel size and not be blank.
Bad folders exit with status 2 naming the file; identical inputs give identical bytes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from helpers import DPI, ROOT, call, is_blank, pixels, png_size

from sim.results.statistics import sweep_point_stats
from sim.viz.nightmap import draw_night_maps, read_night_traces
from sim.viz.readers import read_run
from sim.viz.registry import figure_kinds, select_kinds
from sim.viz.report import write_report
from sim.viz.run import fig_defence, fig_intercepted, fig_leaked
from sim.viz.style import PlotOptions, save_figure
from sim.vocab import TRACE_FILES

REFERENCE = ROOT / "scenarios" / "aug-2025-night.yaml"
BORDERS = ROOT.parent / "shared" / "data" / "borders.geojson"  # read in place, never copied


def copy_results(
    src: Path, dst: Path, *, skip: tuple[str, ...] = (), figures: bool = False
) -> Path:
    """Copy a results folder's files (and its figures/ if asked)."""
    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.is_file() and item.name not in skip:
            shutil.copy2(item, dst / item.name)
    if figures:
        shutil.copytree(src / "figures", dst / "figures")
    return dst


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """The reference scenario, 4 nights, the first 2 traced (so two night maps)."""
    out = tmp_path_factory.mktemp("plots") / "aug"
    code, _, err = call(
        [
            "run",
            str(REFERENCE),
            "-n",
            "4",
            "--workers",
            "1",
            "--trace",
            "2",
            "-q",
            "--out",
            str(out),
        ]
    )
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def plotted(run_dir) -> tuple[Path, list[str]]:
    code, stdout, err = call(["plot", str(run_dir), "--dpi", str(DPI)])
    assert code == 0, err
    return run_dir, stdout.split()


# --------------------------------------------------------------------------- blank check


def test_blank_check_can_fail(tmp_path):
    blank = tmp_path / "blank.png"
    matplotlib.image.imsave(blank, np.ones((20, 30, 3)))
    assert is_blank(blank)


# --------------------------------------------------------------------------- run figures


def test_run_figures_are_written_and_printed(plotted):
    folder, printed = plotted
    figures = folder / "figures"
    expected = ["intercepted", "leaked", "defence", "night-map-0", "night-map-1"]
    assert printed == [str(figures / f"{name}.png") for name in expected]
    for name in expected:
        path = figures / f"{name}.png"
        assert path.is_file()
        assert not is_blank(path), name


@pytest.mark.parametrize(
    ("name", "inches"),
    [
        ("intercepted", (13.0, 4.6)),  # three panels: all, drones incl. decoys, missiles
        ("leaked", (11.4, 8.0)),  # five classes and the total on a 3 x 2 grid
        ("defence", (11.0, 6.1)),  # eleven defence types: 0.34 in each + 2.4 in
    ],
)
def test_run_figure_pixel_sizes(plotted, name, inches):
    folder, _ = plotted
    width, height = png_size(folder / "figures" / f"{name}.png")
    assert (width, height) == pixels(*inches)


def test_night_map_size_follows_the_map(plotted):
    folder, _ = plotted
    width, height = png_size(folder / "figures" / "night-map-0.png")
    assert width == 12 * DPI
    assert 6 * DPI <= height <= 11 * DPI


def test_single_trace_gives_night_map_png_with_borders(tmp_path, run_dir):
    if not BORDERS.is_file():
        pytest.skip("../shared/data/borders.geojson is not available")
    out = tmp_path / "one"  # a folder holding only the trace of replication 1
    out.mkdir()
    for name in TRACE_FILES:
        table = pd.read_parquet(run_dir / name)
        if "replication" in table:
            table = table[table["replication"] == 1]
        table.to_parquet(out / name)
    code, stdout, err = call(["plot", str(out), "--dpi", str(DPI), "--borders", str(BORDERS)])
    assert code == 0, err
    path = out / "figures" / "night-map.png"
    assert stdout.split() == [str(path)]
    assert not is_blank(path)
    # the outline is drawn: the land grey fills much of the map
    image = matplotlib.image.imread(path)[..., :3]
    land = np.all(np.abs(image - 0xF4 / 255) < 0.01, axis=-1).mean()
    assert land > 0.1
    assert not (out / "borders.geojson").exists()


def test_run_figures_show_observed_values(run_dir):
    run = read_run(run_dir)
    fig = fig_intercepted(run)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("observed 577" in t for t in titles)
    assert any("observed 546" in t for t in titles)
    assert any("observed 31" in t for t in titles)
    assert "aug-2025-night" in "".join(t.get_text() for t in fig.texts + fig.artists)


def test_every_run_figure_is_labelled(run_dir):
    run = read_run(run_dir)
    for fig in (fig_intercepted(run), fig_leaked(run), fig_defence(run)):
        assert fig.get_suptitle()
        assert fig.legends or any(ax.get_legend() for ax in fig.axes)
        for ax in fig.axes:
            if ax.get_visible():
                assert ax.get_xlabel() and ax.get_title()


# --------------------------------------------------------------------------- determinism


def test_identical_inputs_give_identical_png_bytes(tmp_path, plotted):
    folder, _ = plotted
    options = PlotOptions(dpi=DPI)
    fig = fig_intercepted(read_run(folder))
    path = save_figure(fig, tmp_path / "intercepted.png", options)
    assert path.read_bytes() == (folder / "figures" / "intercepted.png").read_bytes()
    # the night map, drawn again from the same trace files
    traces = read_night_traces(folder, options)
    [(stem, fig), *_] = draw_night_maps(traces, options)
    path = save_figure(fig, tmp_path / f"{stem}.png", options)
    assert path.read_bytes() == (folder / "figures" / "night-map-0.png").read_bytes()


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_identical_inputs_give_identical_svg_and_pdf_bytes(tmp_path, run_dir, fmt):
    options = PlotOptions(fmt=fmt, dpi=DPI)
    paths = []
    for k in range(2):
        fig = fig_intercepted(read_run(run_dir))  # drawn anew from the same files
        paths.append(save_figure(fig, tmp_path / f"{k}" / f"intercepted.{fmt}", options))
    data = paths[0].read_bytes()
    assert data == paths[1].read_bytes()
    assert len(data) > 1000
    assert b"CreationDate" not in data and b"<dc:date>" not in data


def test_palette_pngs_are_smaller_and_deterministic(tmp_path, run_dir):
    run = read_run(run_dir)
    plain = save_figure(fig_defence(run), tmp_path / "plain.png", PlotOptions(dpi=DPI))
    small = [
        save_figure(
            fig_defence(run),
            tmp_path / f"small{k}.png",
            PlotOptions(dpi=DPI, palette=True),
        )
        for k in range(2)
    ]
    assert small[0].stat().st_size < plain.stat().st_size
    assert small[0].read_bytes() == small[1].read_bytes()
    assert png_size(small[0]) == png_size(plain) == pixels(11.0, 6.1)
    assert not is_blank(small[0])
    code, _, err = call(["plot", str(run_dir), "--dpi", str(DPI), "--palette", "--format", "svg"])
    assert code == 2 and "--palette" in err  # PNG only


# --------------------------------------------------------------------------- bad input


def _bad_run(tmp_path, run_dir, name: str, *, drop: str | None = None, garbage: str | None = None):
    folder = copy_results(run_dir, tmp_path / name, skip=(drop,) if drop else ())
    if garbage:
        (folder / garbage).write_bytes(b"this is not what it should be\n")
    return folder


@pytest.mark.parametrize(
    ("case", "drop", "garbage", "named"),
    [
        ("no-runs", "runs.parquet", None, "runs.parquet"),
        ("no-summary", "summary.json", None, "summary.json"),
        ("corrupt-runs", None, "runs.parquet", "runs.parquet"),
        ("corrupt-summary", None, "summary.json", "summary.json"),
        ("no-routes", "trace-routes.parquet", None, "trace-routes.parquet"),
        ("corrupt-threats", None, "trace-threats.parquet", "trace-threats.parquet"),
    ],
)
@pytest.mark.parametrize("command", ["plot", "report"])
def test_missing_or_corrupt_files_exit_2_naming_the_file(
    tmp_path, run_dir, case, drop, garbage, named, command
):
    folder = _bad_run(tmp_path, run_dir, case, drop=drop, garbage=garbage)
    code, stdout, err = call([command, str(folder), "--dpi", str(DPI)])
    assert code == 2, (stdout, err)
    assert named in err
    assert str(folder) in err
    assert "Traceback" not in err
    assert not (folder / "report.md").exists()


def test_report_names_a_corrupt_manifest(tmp_path, run_dir):
    folder = _bad_run(tmp_path, run_dir, "manifest", garbage="manifest.json")
    code, _, err = call(["report", str(folder)])
    assert code == 2 and "manifest.json" in err and "not valid JSON" in err
    assert not (folder / "report.md").exists()


def test_summary_without_outcomes_is_named(tmp_path, run_dir):
    folder = copy_results(run_dir, tmp_path / "partial")
    summary = json.loads((folder / "summary.json").read_text())
    del summary["outcomes"]
    (folder / "summary.json").write_text(json.dumps(summary))
    code, _, err = call(["plot", str(folder)])
    assert code == 2 and "summary.json" in err and "outcomes" in err


def test_runs_without_needed_columns_is_named(tmp_path, run_dir):
    folder = copy_results(run_dir, tmp_path / "columns")
    runs = pd.read_parquet(folder / "runs.parquet").drop(columns=["leaked.cruise"])
    runs.to_parquet(folder / "runs.parquet")
    code, _, err = call(["plot", str(folder)])
    assert code == 2 and "runs.parquet" in err and "leaked.cruise" in err


@pytest.mark.parametrize("what", ["empty", "absent"])
def test_folder_without_results_exits_2(tmp_path, what):
    folder = tmp_path / what
    if what == "empty":
        folder.mkdir()
    code, _, err = call(["plot", str(folder)])
    assert code == 2 and str(folder) in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing"),
        ("{not json", "not valid JSON"),
        ('{"type": "FeatureCollection", "features": []}', "no outlines"),
        ('{"type": "FeatureCollection", "features": [{"geometry": {"type": "Blob"}}]}', "Blob"),
    ],
)
def test_bad_borders_file_exits_2_naming_it(tmp_path, run_dir, content, message):
    borders = tmp_path / "borders.geojson"
    if content is not None:
        borders.write_text(content)
    folder = copy_results(run_dir, tmp_path / "b")
    code, _, err = call(["plot", str(folder), "--borders", str(borders)])
    assert code == 2
    assert str(borders) in err and message in err
    assert not (folder / "figures").exists()


# --------------------------------------------------------------------------- registry


def test_kinds_are_chosen_by_files(tmp_path, run_dir):
    assert [k.name for k in select_kinds(run_dir)] == ["run", "night-map"]
    untraced = copy_results(run_dir, tmp_path / "untraced", skip=TRACE_FILES)
    assert [k.name for k in select_kinds(untraced)] == ["run"]
    for marker, kind in [
        ("summary.csv", "sweep"),
        ("sensitivity.csv", "sobol"),
        ("nights.parquet", "campaign"),
    ]:
        folder = tmp_path / kind
        folder.mkdir()
        (folder / marker).write_text("")
        assert kind in [k.name for k in figure_kinds().values() if k.selected_by(folder)]


def _fake_runs(rng: np.random.Generator, n: int, drones: int, level: float) -> pd.DataFrame:
    """Replications with plausible counts for every class (the columns sweeps summarise)."""
    data: dict[str, np.ndarray] = {}
    launched = {"drone": drones, "decoy": drones // 2, "cruise": 20, "ballistic": 4}
    launched |= {"hypersonic": 0}
    for cls, count in launched.items():
        intercepted = rng.binomial(count, level, size=n)
        data[f"launched.{cls}"] = np.full(n, count)
        data[f"intercepted.{cls}"] = intercepted
        data[f"leaked.{cls}"] = count - intercepted
    return pd.DataFrame(data)


def _write_sweep(folder: Path, grid: dict[str, list], *, sobol: bool = False) -> Path:
    """summary.csv, parameters.csv (and sensitivity.csv) in the formats `salvo sweep` writes."""
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True)
    names = list(grid)
    points = [dict(zip(names, values, strict=True)) for values in _product(grid)]
    rows = []
    for p, values in enumerate(points):
        drones = int(values.get("salvo.shahed.count", 300))
        level = 0.95 - 0.3 * float(values.get("ew.suppression.drone", 0.1))
        row = {"point": p, **values, "replications": 5}
        row |= sweep_point_stats(_fake_runs(rng, 5, drones, level))
        rows.append(row)
    pd.DataFrame(rows).to_csv(folder / "summary.csv", index=False)
    params = pd.DataFrame(
        {
            "name": [n.rsplit(".", 2)[-2] for n in names],
            "column": names,
            "kind": "lever",
            "path": names,
            "expression": "",
        }
    )
    params.to_csv(folder / "parameters.csv", index=False)
    if sobol:
        sens = pd.DataFrame(
            [
                {
                    "output": out,
                    "parameter": n.rsplit(".", 2)[-2],
                    "path": n,
                    "kind": "lever",
                    "S1": s1,
                    "S1_conf": 0.1,
                    "ST": s1 + 0.1,
                    "ST_conf": 0.12,
                }
                for out in ("intercept_rate.total", "leaked.total")
                for n, s1 in zip(names, (0.6, 0.2, 0.05), strict=False)
            ]
        )
        sens.to_csv(folder / "sensitivity.csv", index=False)
    return folder


def _product(grid: dict[str, list]) -> list[tuple]:
    import itertools

    return list(itertools.product(*grid.values()))


@pytest.mark.parametrize(
    ("grid", "figures", "inches"),
    [
        (
            {"ew.suppression.drone": [0.0, 0.1, 0.2, 0.3]},
            ["sweep-line", "sweep-classes"],
            [(12.3, 7.0), (12.0, 4.9)],
        ),
        (
            {"ew.suppression.drone": [0.0, 0.2, 0.4], "salvo.shahed.count": [200, 400]},
            ["sweep-heatmap"],
            [(12.0, 5.2)],
        ),
        (
            {
                "ew.suppression.drone": [0.0, 0.4],
                "salvo.shahed.count": [200, 400],
                "defences.kyiv_mfg.count": [10, 20],
            },
            ["sweep-scatter"],
            [(11.2, 6.6)],
        ),
    ],
)
def test_sweep_figures(tmp_path, grid, figures, inches):
    folder = _write_sweep(tmp_path / "sweep", grid)
    code, stdout, err = call(["plot", str(folder), "--dpi", str(DPI)])
    assert code == 0, err
    assert stdout.split() == [str(folder / "figures" / f"{f}.png") for f in figures]
    for name, (w, h) in zip(figures, inches, strict=True):
        path = folder / "figures" / f"{name}.png"
        assert png_size(path) == pixels(w, h), name
        assert not is_blank(path)


def test_sobol_figure(tmp_path):
    grid = {"ew.suppression.drone": [0.0, 0.4], "salvo.shahed.count": [200, 400]}
    folder = _write_sweep(tmp_path / "sobol", grid, sobol=True)
    code, stdout, err = call(["plot", str(folder), "--dpi", str(DPI)])
    assert code == 0, err
    path = folder / "figures" / "sobol.png"
    assert str(path) in stdout.split()
    assert png_size(path) == pixels(11.8, 3.6)
    assert not is_blank(path)


def test_sweep_missing_parameters_csv_is_named(tmp_path):
    folder = _write_sweep(tmp_path / "sweep", {"ew.suppression.drone": [0.0, 0.2]})
    (folder / "parameters.csv").unlink()
    code, _, err = call(["plot", str(folder)])
    assert code == 2 and "parameters.csv" in err


# --------------------------------------------------------------------------- report


def test_report_writes_markdown_and_self_contained_html(tmp_path, plotted):
    folder = copy_results(plotted[0], tmp_path / "rep", figures=True)
    (folder / "figures" / "intercepted.png").unlink()
    code, stdout, err = call(["report", str(folder), "--dpi", str(DPI)])
    assert code == 0, err
    assert stdout.split() == [str(folder / "report.md"), str(folder / "report.html")]
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# salvo results: aug-2025-night")
    assert "## What was run" in md and "salvo run" in md
    assert "intercept rate:" in md  # the summary table of sim.results.summary.format_summary
    assert "## Observed versus simulated" in md
    assert "| all threats (of 614 launched) | 577 |" in md
    for name in ("intercepted", "leaked", "defence", "night-map-0", "night-map-1"):
        assert f"(figures/{name}.png)" in md
        assert (folder / "figures" / f"{name}.png").is_file()  # drawn because missing
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 5
    assert 'src="figures/' not in page
    assert "<table>" in page and "observed" in page


def test_report_keeps_existing_figures(tmp_path, plotted):
    folder = copy_results(plotted[0], tmp_path / "keep", figures=True)
    before = {p.name: p.stat().st_mtime_ns for p in (folder / "figures").iterdir()}
    code, _, err = call(["report", str(folder)])
    assert code == 0, err
    after = {p.name: p.stat().st_mtime_ns for p in (folder / "figures").iterdir()}
    assert after == before


def test_report_of_a_sweep_lists_design_points(tmp_path):
    grid = {"ew.suppression.drone": [0.0, 0.4], "salvo.shahed.count": [200, 400]}
    folder = _write_sweep(tmp_path / "s", grid, sobol=True)
    paths = write_report(folder, dpi=DPI)
    md = paths[0].read_text(encoding="utf-8")
    assert "## Design points" in md and "## Sobol' indices" in md
    assert "(figures/sobol.png)" in md and "(figures/sweep-heatmap.png)" in md
    assert "manifest.json is missing" in md


# --------------------------------------------------------------------------- docs


def _subparser(name: str):
    import argparse

    from sim.cli.parser import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise AssertionError("salvo has no subcommands")


@pytest.mark.parametrize("command", ["plot", "report"])
def test_every_option_is_explained_in_cli_plot_md(command):
    text = (ROOT / "docs" / "cli-plot.md").read_text(encoding="utf-8")
    missing = []
    for action in _subparser(command)._actions:
        names = action.option_strings or [action.metavar or action.dest]
        missing += [f"`{name}`" for name in names if f"`{name}" not in text]
    assert not missing, f"salvo {command} options not in docs/cli-plot.md: {', '.join(missing)}"


def test_readme_figures_are_small_committed_pngs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    figures = [line.split("](", 1)[1].rstrip(")") for line in text.splitlines() if "![" in line]
    assert 2 <= len(figures) <= 3
    for rel in figures:
        path = ROOT / rel
        assert path.suffix == ".png" and path.parent == ROOT / "docs" / "figures"
        assert path.stat().st_size < 150_000, rel
        assert not is_blank(path)
    assert "salvo plot results/aug --borders ../shared/data/borders.geojson" in text
