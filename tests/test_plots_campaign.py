"""Campaign figures and reports (sim.viz.campaign, `salvo plot` / `salvo report` on a
`salvo campaign` folder).

The results folder is made here in the layout `salvo campaign` writes: the template status quo
(`tests/data/campaign-template-status-quo.yaml`) cut to 20 days (two mass nights; Buk and
S-300 run out, the others do not), three replications
run in-process with `sim.campaign.model.run_campaign`, `nights.parquet` (replication × day),
`runs.parquet` (the totals of each replication), `summary.json`, `summary.csv` and a
`manifest.json` with `"kind": "campaign"`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import DPI, ROOT, call, is_blank, pixels, png_size

from sim.campaign.model import CampaignSetup, run_campaign
from sim.spec.campaign import load_campaign
from sim.viz.campaign import (
    draw_campaign,
    fig_intercept_rate,
    fig_ran_out,
    quantiles,
    ran_out_days,
    read_campaign,
    replication_totals,
)
from sim.viz.registry import select_kinds
from sim.viz.style import PlotOptions, save_figure

CAMPAIGN = ROOT / "tests" / "data" / "campaign-template-status-quo.yaml"
DAYS = 20
REPLICATIONS = 3
FIGURES = [
    "campaign-stock",
    "campaign-intercept-rate",
    "campaign-spend",
    "campaign-cost-exchange",
    "campaign-ran-out",
]
INCHES = {
    "campaign-stock": (12.6, 6.5),  # seven interceptor types: 4 x 2 panels
    "campaign-intercept-rate": (12.0, 6.6),
    "campaign-spend": (12.6, 4.8),  # value expended and money into supply
    "campaign-cost-exchange": (12.6, 4.8),
    "campaign-ran-out": (12.0, 6.3),  # seven types: 0.5 in each + 2.8 in
}


def write_campaign_folder(folder: Path, days: int = DAYS, replications: int = REPLICATIONS):
    """A campaign results folder as `salvo campaign` writes it; returns (folder, totals)."""
    campaign = load_campaign(CAMPAIGN)
    campaign = campaign.model_copy(
        update={"calendar": campaign.calendar.model_copy(update={"days": days})}
    )
    setup = CampaignSetup.from_campaign(campaign)
    nights, totals = [], []
    for r in range(replications):
        rng = np.random.default_rng(np.random.SeedSequence(campaign.seed, spawn_key=(0, r)))
        table, total = run_campaign(campaign, rng, setup=setup)
        nights.append(table.assign(replication=r)[["replication", *table.columns]])
        totals.append({"replication": r, **total})
    folder.mkdir(parents=True)
    pd.concat(nights, ignore_index=True).to_parquet(folder / "nights.parquet", index=False)
    runs = pd.DataFrame(totals)
    runs.to_parquet(folder / "runs.parquet", index=False)
    manifest = {
        "kind": "campaign",
        "command": f"campaign {CAMPAIGN.name} --replications {replications}",
        "campaign": {"name": campaign.name, "path": str(CAMPAIGN)},
        "inputs": {"campaign": {"path": str(CAMPAIGN), "sha256": "0" * 64}},
        "seed": campaign.seed,
        "replications": replications,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    summary = {"campaign": campaign.name, "replications": replications, "seed": campaign.seed}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    stats = runs.drop(columns="replication").select_dtypes("number").describe().T
    stats.to_csv(folder / "summary.csv")
    return folder, runs


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    return write_campaign_folder(tmp_path_factory.mktemp("campaign") / "status-quo")


@pytest.fixture(scope="module")
def plotted(campaign_dir) -> tuple[Path, list[str]]:
    folder, _ = campaign_dir
    code, stdout, err = call(["plot", str(folder), "--dpi", str(DPI)])
    assert code == 0, err
    return folder, stdout.split()


def copy_folder(src: Path, dst: Path, *, skip: tuple[str, ...] = ()) -> Path:
    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.is_file() and item.name not in skip:
            shutil.copy2(item, dst / item.name)
    return dst


# --------------------------------------------------------------------------- figures


def test_campaign_figures_are_written_and_printed(plotted):
    folder, printed = plotted
    assert printed == [str(folder / "figures" / f"{name}.png") for name in FIGURES]


@pytest.mark.parametrize("name", FIGURES)
def test_campaign_figure_size_and_content(plotted, name):
    folder, _ = plotted
    path = folder / "figures" / f"{name}.png"
    assert png_size(path) == pixels(*INCHES[name])
    assert not is_blank(path)


def test_campaign_kind_supersedes_run_and_sweep(campaign_dir):
    folder, _ = campaign_dir
    assert (folder / "summary.json").exists() and (folder / "summary.csv").exists()
    assert [kind.name for kind in select_kinds(folder)] == ["campaign"]


def test_every_campaign_figure_is_labelled(campaign_dir):
    results = read_campaign(campaign_dir[0])
    for name, fig in draw_campaign(results, PlotOptions(dpi=DPI)):
        assert fig.get_suptitle(), name
        assert fig.legends, name
        texts = "".join(t.get_text() for t in fig.texts + fig.artists)
        assert f"template-status-quo · {REPLICATIONS} replications · {DAYS} days" in texts, name
        assert "campaign campaign" not in texts
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert all(ax.get_title() for ax in visible), name
        assert any("day of the campaign" in ax.get_xlabel() for ax in visible) or any(
            "day (0 = 2025-09-01)" in ax.get_xlabel() for ax in visible
        ), name
        assert any(ax.get_ylabel() for ax in visible), name


def test_figures_mark_mass_nights_and_what_ran_out(campaign_dir):
    results = read_campaign(campaign_dir[0])
    fig = fig_intercept_rate(results)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    mass = int(results.nights.groupby("day")["mass_night"].mean().ge(0.5).sum())
    assert mass == 2 and f"mass night ({mass})" in labels
    fig = fig_ran_out(results)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("never") == 5  # patriot, samp_t, iris_t, nasams, interceptor drones
    assert any(t.startswith(f"{REPLICATIONS}/{REPLICATIONS}, median day") for t in texts)


def test_identical_inputs_give_identical_png_bytes(tmp_path, plotted):
    folder, _ = plotted
    results = read_campaign(folder)
    options = PlotOptions(dpi=DPI)
    for name, fig in draw_campaign(results, options):
        path = save_figure(fig, tmp_path / f"{name}.png", options)
        assert path.read_bytes() == (folder / "figures" / f"{name}.png").read_bytes(), name


# --------------------------------------------------------------------------- statistics


def test_ran_out_days_match_the_campaign_totals(campaign_dir):
    folder, runs = campaign_dir
    results = read_campaign(folder)
    table = ran_out_days(results)
    assert list(table.columns) == results.stock_types
    for kind in table.columns:
        expected = runs[f"ran_out_day.{kind}"].astype(float).to_numpy()
        np.testing.assert_array_equal(table[kind].to_numpy(), expected)
    assert table["buk"].notna().all() and table["patriot"].isna().all()


def test_replication_totals_match_the_campaign_totals(campaign_dir):
    folder, runs = campaign_dir
    totals = replication_totals(read_campaign(folder))
    for column in (
        "launched",
        "intercept_rate",
        "mass_intercept_rate",
        "defender_cost_usd",
        "cost_exchange",
        "cost_per_intercept_usd",
        "stock.patriot",
        "drone_ratio_end",
    ):
        np.testing.assert_allclose(
            totals[column].to_numpy(), runs[column].astype(float), rtol=1e-12
        )


def test_quantiles_ignore_missing_days():
    matrix = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan], [4.0, np.nan, 6.0]])
    q = quantiles(matrix)
    assert q.shape == (3, 3)
    assert q[1][0] == 2.0 and np.isnan(q[1][1]) and q[1][2] == 5.0


# --------------------------------------------------------------------------- optional files


def test_only_nights_parquet_is_needed(tmp_path, campaign_dir):
    keep = ("nights.parquet",)
    folder = copy_folder(
        campaign_dir[0],
        tmp_path / "bare",
        skip=tuple(p.name for p in campaign_dir[0].iterdir() if p.name not in keep),
    )
    code, stdout, err = call(["plot", str(folder), "--dpi", str(DPI)])
    assert code == 0, err
    assert len(stdout.split()) == len(FIGURES)
    results = read_campaign(folder)
    assert results.name == "bare" and results.replications == REPLICATIONS
    assert f"seed {results.seed}" not in results.subtitle()  # no manifest: seed unknown
    code, _, err = call(["report", str(folder), "--dpi", str(DPI)])
    assert code == 0, err
    assert "manifest.json is missing" in (folder / "report.md").read_text(encoding="utf-8")


def test_name_and_replications_are_read_defensively(tmp_path, campaign_dir):
    folder = copy_folder(campaign_dir[0], tmp_path / "odd", skip=("summary.json",))
    manifest = {"kind": "campaign", "replications": "three", "extra": {"name": "from-extra"}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    results = read_campaign(folder)
    assert results.name == "from-extra"
    assert results.replications == REPLICATIONS
    (folder / "manifest.json").write_text(json.dumps({"kind": "campaign", "replications": 99}))
    assert read_campaign(folder).replications == REPLICATIONS  # what it holds


# --------------------------------------------------------------------------- bad input


def _bad(tmp_path: Path, src: Path, case: str) -> Path:
    """A copy of the campaign folder damaged as ``case`` says."""
    folder = copy_folder(
        src, tmp_path / case, skip=("nights.parquet",) if case == "no-nights" else ()
    )
    nights_path = folder / "nights.parquet"
    if case in ("corrupt-nights", "corrupt-runs", "corrupt-manifest"):
        name = {"corrupt-nights": "nights", "corrupt-runs": "runs", "corrupt-manifest": "manifest"}
        suffix = "json" if case == "corrupt-manifest" else "parquet"
        (folder / f"{name[case]}.{suffix}").write_bytes(b"this is not what it should be\n")
    elif case == "no-cost-column":
        pd.read_parquet(nights_path).drop(columns="defender_cost_usd").to_parquet(nights_path)
    elif case == "no-stock-columns":
        nights = pd.read_parquet(nights_path)
        nights.drop(columns=[c for c in nights if c.startswith("stock.")]).to_parquet(nights_path)
    elif case == "no-rows":
        pd.read_parquet(nights_path).iloc[:0].to_parquet(nights_path)
    elif case == "text-day":
        nights = pd.read_parquet(nights_path)
        nights.assign(day=nights["day"].astype(str)).to_parquet(nights_path)
    elif case == "duplicate-day":
        nights = pd.read_parquet(nights_path)
        pd.concat([nights, nights.iloc[:1]]).to_parquet(nights_path)
    return folder


@pytest.mark.parametrize(
    ("case", "named", "message"),
    [
        ("no-nights", "nights.parquet", "missing"),
        ("corrupt-nights", "nights.parquet", "not a readable Parquet file"),
        ("no-cost-column", "nights.parquet", "defender_cost_usd"),
        ("no-stock-columns", "nights.parquet", "stock.<interceptor type>"),
        ("no-rows", "nights.parquet", "no rows"),
        ("text-day", "nights.parquet", "day is not numeric"),
        ("duplicate-day", "nights.parquet", "more than once"),
        ("corrupt-runs", "runs.parquet", "not a readable Parquet file"),
        ("corrupt-manifest", "manifest.json", "not valid JSON"),
    ],
)
@pytest.mark.parametrize("command", ["plot", "report"])
def test_bad_campaign_files_exit_2_naming_the_file(
    tmp_path, campaign_dir, case, named, message, command
):
    folder = _bad(tmp_path, campaign_dir[0], case)
    code, stdout, err = call([command, str(folder), "--dpi", str(DPI)])
    assert code == 2, (stdout, err)
    assert str(folder / named) in err and message in err
    assert "Traceback" not in err
    assert not (folder / "figures").exists()
    assert not (folder / "report.md").exists()


# --------------------------------------------------------------------------- report


def test_campaign_report(tmp_path, plotted):
    folder = copy_folder(plotted[0], tmp_path / "report")
    code, stdout, err = call(["report", str(folder), "--dpi", str(DPI)])
    assert code == 0, err
    assert stdout.split() == [str(folder / "report.md"), str(folder / "report.html")]
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# salvo results: template-status-quo")
    assert f"{REPLICATIONS} replications · {DAYS} days from 2025-09-01" in md
    assert "## What was run" in md and "salvo campaign" in md
    assert "## Summary" in md and "| intercept rate, all nights |" in md
    assert "| stock at the end: interceptor_drone |" in md
    assert "## When the stocks run out" in md
    assert f"| buk | {REPLICATIONS} of {REPLICATIONS} (100 %) |" in md
    assert "| patriot | 0 of 3 (0 %) | never | – |" in md
    for name in FIGURES:
        assert f"(figures/{name}.png)" in md
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
