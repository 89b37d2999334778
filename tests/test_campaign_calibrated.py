"""Campaigns whose nights are the calibrated night of their date (`calibration:`).

The calibrated night is the one `salvo validate` simulates (`sim.night.builder`); a campaign
adds the stocks of the day. These tests hold: the file rules (the attacker counted by
reported class, the calibration's template), the campaign's night being the builder's night,
the books balancing, and interceptors that run out costing intercepts (money -> stocks ->
intercepts as a mechanism: no Patriot or SAMP-T rounds, no ballistic intercepts).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.campaign.model import CampaignSetup, run_campaign
from sim.night.builder import NightRow, night_spec
from sim.spec.campaign import campaign_from_data
from sim.spec.yamlio import InputError, load_yaml_text
from sim.vocab import OBSERVED_CLASSES

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = ROOT / "scenarios" / "calibrated.yaml"
REFERENCE_NIGHT = ROOT / "scenarios" / "aug-2025-night.yaml"


def campaign_text(
    *,
    days: int = 12,
    defender: str = "stock: {patriot: 400, samp_t: 100, interceptor_drone: 500}",
    attacker_stock: str = "{drone: 3000, cruise: 200, ballistic: 120, hypersonic: 20}",
    head: str = f"calibration: {CALIBRATION}",
) -> str:
    """A small calibrated campaign: a mass night every 3 days with ballistic missiles."""
    return f"""\
name: calibrated-test
seed: 11
{head}
calendar: {{start: 2025-10-20, days: {days}}}
attacker:
  stock: {attacker_stock}
  production_per_day: {{drone: 50.0, ballistic: 1.5}}
  policy:
    kind: mass
    every_days: 3
    mass_night:
      size: {{mean: 300, cv: 0.2}}
      composition: {{drone: 270, cruise: 15, ballistic: 12, hypersonic: 3}}
    other_nights:
      size: {{mean: 60, cv: 0.3}}
      composition: {{drone: 58, ballistic: 2}}
defender:
  {defender}
"""


def load(text: str, tmp_path: Path):
    return campaign_from_data(load_yaml_text(text, str(tmp_path / "campaign.yaml")))


def test_the_calibration_names_the_template(tmp_path):
    campaign = load(campaign_text(), tmp_path)
    assert campaign.night_calibration is not None
    assert campaign.template_path == Path(campaign.night_calibration.template)
    assert campaign.calibration_path == CALIBRATION


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (dict(attacker_stock="{shahed: 100}"), "attacker.stock.shahed", "reported class"),
        (dict(head="calibration: missing.yaml"), "calibration", "cannot read calibration file"),
        (
            dict(head=f"calibration: {CALIBRATION}\ntemplate: {REFERENCE_NIGHT}"),
            "template",
            "the calibration was made with",
        ),
        (dict(head=""), "template", "give a template night scenario or a calibration"),
    ],
)
def test_bad_calibrated_campaigns_name_file_line_and_field(tmp_path, change, where, message):
    with pytest.raises(InputError) as err:
        load(campaign_text(**change), tmp_path)
    text = str(err.value)
    assert "campaign.yaml:" in text and where in text and message in text, text


def test_a_campaign_night_is_the_builders_night(tmp_path):
    """The campaign's night of a date draws exactly what `NightSpec.draw` draws for that
    date and those launches (same generator state): validate's night, not a copy of it."""
    campaign = load(campaign_text(), tmp_path)
    setup = CampaignSetup.from_campaign(campaign)
    launch = np.array([250, 12, 6, 2])
    date = pd.Timestamp("2025-11-03").date()
    draft = setup.nights.draft(date, launch, np.random.default_rng(5))
    launched = dict(zip(OBSERVED_CLASSES, launch.tolist(), strict=True))
    row = NightRow(date=pd.Timestamp(date), launched=launched)
    spec = night_spec(setup.nights.data, row, campaign.night_calibration)
    drawn = spec.draw(np.random.default_rng(5))
    assert draft.counts == drawn.counts
    assert sum(draft.counts.values()) == launch.sum()
    np.testing.assert_array_equal(draft.base["radius_km"], drawn.columns["radius_km"])
    for key, value in draft.drawn.items():
        np.testing.assert_array_equal(value, drawn.columns[key])


@pytest.fixture(scope="module")
def calibrated_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calibrated")
    campaign = load(campaign_text(), tmp)
    setup = CampaignSetup.from_campaign(campaign)
    runs = [run_campaign(campaign, np.random.default_rng(seed), setup=setup) for seed in (1, 2)]
    return campaign, setup, runs


def test_the_books_balance_by_class(calibrated_runs):
    campaign, setup, runs = calibrated_runs
    assert setup.threat_types == list(OBSERVED_CLASSES)
    for nights, _ in runs:
        for c in OBSERVED_CLASSES:
            start, made = nights[f"attacker_stock_start.{c}"], nights[f"attacker_produced.{c}"]
            launched, stock = nights[f"attacker_launched.{c}"], nights[f"attacker_stock.{c}"]
            assert (start + made - launched == stock).all()
            assert (stock >= 0).all()
            simulated = nights[f"launched.{c}"] + (nights["launched.decoy"] if c == "drone" else 0)
            assert (simulated == launched).all(), c  # the night flies what the attacker launched
        for t in setup.tracked:
            books = (
                nights[f"stock_start.{t}"] + nights[f"produced.{t}"] + nights[f"delivered.{t}"]
                - nights[f"spent.{t}"]
            )  # fmt: skip
            assert (books == nights[f"stock.{t}"]).all(), t
            assert (nights[f"spent.{t}"] <= nights[f"loaded.{t}"]).all(), t
        # every threat shot down is credited to the defence type that shot it down, and EW
        # types are credited with suppressions only
        defences = campaign.template_scenario.catalog.defences
        kinetic = [t for t in setup.defence_types if not defences[t].is_ew]
        ew = [t for t in setup.defence_types if defences[t].is_ew]
        assert ew and kinetic
        downed = nights[[f"downed_by.{t}" for t in kinetic]].sum(axis=1)
        assert (downed == nights["shot_down"]).all()
        assert (nights[[f"downed_by.{t}" for t in ew]].sum(axis=1) <= nights["suppressed"]).all()
        assert nights["downed_by.interceptor_drone"].sum() > 0


def test_same_seed_same_calibrated_campaign(calibrated_runs):
    campaign, setup, runs = calibrated_runs
    again, _ = run_campaign(campaign, np.random.default_rng(1), setup=setup)
    pd.testing.assert_frame_equal(runs[0][0], again)
    fresh, _ = run_campaign(campaign, np.random.default_rng(1))  # a setup of its own
    pd.testing.assert_frame_equal(runs[0][0], fresh)


def test_no_bmd_rounds_no_ballistic_intercepts(tmp_path, calibrated_runs):
    """Only Patriot and SAMP-T engage ballistic missiles: with their stocks at 0 none is
    intercepted, with stocks the calibrated defence intercepts some (about a fifth)."""
    _, _, runs = calibrated_runs
    with_stock = sum(int(n["intercepted.ballistic"].sum()) for n, _ in runs)
    launched = sum(int(n["launched.ballistic"].sum()) for n, _ in runs)
    assert launched > 60 and with_stock / launched > 0.05
    empty = load(campaign_text(defender="stock: {patriot: 0, samp_t: 0}"), tmp_path)
    setup = CampaignSetup.from_campaign(empty)
    for seed in (1, 2):
        nights, totals = run_campaign(empty, np.random.default_rng(seed), setup=setup)
        assert nights["launched.ballistic"].sum() > 30
        assert nights["intercepted.ballistic"].sum() == 0
        assert nights["loaded.patriot"].sum() == 0 and totals["spent.patriot"] == 0


def test_the_calibration_is_an_input_of_the_results_folder(tmp_path):
    """The manifest records the calibration file (path, sha256, text) and its text is part of
    the fingerprint: a changed calibration is other inputs, so `--resume` refuses the folder."""
    from sim.experiments.campaigns import prepare_campaign, run_campaigns
    from sim.spec.yamlio import text_sha256

    calibration = tmp_path / "calibration.yaml"
    template = CALIBRATION.parent / "calibration-template.yaml"
    text = CALIBRATION.read_text(encoding="utf-8").replace(
        "template: calibration-template.yaml", f"template: {template}"
    )
    calibration.write_text(text, encoding="utf-8")
    path = tmp_path / "campaign.yaml"
    path.write_text(campaign_text(days=3, head=f"calibration: {calibration}"), encoding="utf-8")
    prepared = prepare_campaign(path, replications=1)
    run_campaigns(prepared, tmp_path / "out", workers=1, progress=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["calibration"]["path"] == str(calibration)
    assert manifest["campaign"]["calibration_sha256"] == text_sha256(text)
    assert manifest["campaign"]["calibration_text"] == text
    calibration.write_text(text + "\n# edited\n", encoding="utf-8")
    assert prepare_campaign(path, replications=1).fingerprint != prepared.fingerprint
