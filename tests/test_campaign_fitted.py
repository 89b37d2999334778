"""Campaigns whose attacker launches as the attacker fitted to the record (`kind: fitted`).

The fit (`scenarios/attacker-fit.yaml`, written by `salvo calibrate-attacker` from the
calibration nights and the full monthly counts of `../shared/data/README.md`) says how many
launch nights a month carries, how big and of what they are. These tests hold: the file rules
(a fitted attacker needs a calibration; the fit file is read and checked with its own name and
line), the replay reproducing the full monthly counts (a statistical check against the README,
not against the code), the campaign launching exactly the drawn schedule when stocks allow and
no more than its stocks when they do not, and the fit file being an input of the folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.campaign.launches import launch_schedule
from sim.campaign.model import CampaignModel, run_campaign
from sim.spec.attacker_fit import load_attacker_fit
from sim.spec.campaign import campaign_from_data
from sim.spec.observed import read_month_counts
from sim.spec.yamlio import InputError, load_yaml_text
from sim.vocab import OBSERVED_CLASSES

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = ROOT / "scenarios" / "calibrated.yaml"
FIT = ROOT / "scenarios" / "attacker-fit.yaml"
README = ROOT.parent / "shared" / "data" / "README.md"


def campaign_text(
    *,
    days: int = 10,
    stock: str = "{drone: 20000, cruise: 2000, ballistic: 500, hypersonic: 100}",
    policy: str = f"{{kind: fitted, fit: {FIT}, months: replay}}",
    head: str = f"calibration: {CALIBRATION}",
) -> str:
    """A short calibrated campaign from 1 Sep 2025 with the fitted attacker."""
    return f"""\
name: fitted-test
seed: 3
{head}
calendar: {{start: 2025-09-01, days: {days}}}
attacker:
  stock: {stock}
  production_per_day: {{drone: 100.0}}
  policy: {policy}
defender:
  stock: {{patriot: 400, samp_t: 100}}
"""


def load(text: str, tmp_path: Path):
    return campaign_from_data(load_yaml_text(text, str(tmp_path / "campaign.yaml")))


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (dict(head=f"template: {CALIBRATION.parent / 'calibration-template.yaml'}"),
         "attacker.policy.kind", "give the campaign a calibration"),
        (dict(policy="{kind: fitted, fit: missing-fit.yaml}"),
         "attacker.policy.fit", "cannot read attacker fit file"),
        (dict(policy=f"{{kind: fitted, fit: {FIT}, months: replayed}}"),
         "attacker.policy.months", "replay"),
    ],
)  # fmt: skip
def test_bad_fitted_campaigns_name_file_line_and_field(tmp_path, change, where, message):
    with pytest.raises(InputError) as err:
        load(campaign_text(**change), tmp_path)
    text = str(err.value)
    assert "campaign.yaml:" in text and where in text and message in text, text


def test_a_bad_fit_file_is_named_with_its_line(tmp_path):
    data = yaml.safe_load(FIT.read_text(encoding="utf-8"))
    data["months"][2]["rate_per_day"] = "often"
    bad = tmp_path / "fit.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load(campaign_text(policy=f"{{kind: fitted, fit: {bad}}}"), tmp_path)
    text = str(err.value)
    assert f"{bad}:" in text and "months.2.rate_per_day" in text, text
    line = int(text.split(f"{bad}:")[1].split(":")[0])
    assert bad.read_text(encoding="utf-8").splitlines()[line - 1].strip() == "rate_per_day: often"


def test_the_fit_file_reads_back_as_written():
    fit = load_attacker_fit(FIT)
    assert fit.to_dict() == yaml.safe_load(FIT.read_text(encoding="utf-8"))


@pytest.mark.skipif(not README.is_file(), reason="needs ../shared/data/README.md")
def test_the_replay_reproduces_the_full_monthly_counts():
    """The mean monthly threats of replayed schedules equal the README's full counts of
    nights >= 30 (within 4 standard errors of the mean of 200 draws), and every month has
    about as many launch nights as the README counts."""
    fit = load_attacker_fit(FIT)
    counts = read_month_counts(README)
    rng = np.random.default_rng(20250901)
    draws = [
        launch_schedule(fit, "2025-09-01", "2026-03-01", rng, months="replay") for _ in range(200)
    ]
    months = np.array([f"{d.year:04d}-{d.month:02d}" for d in draws[0].days])
    for month in dict.fromkeys(months):
        inside = months == month
        threats = np.array([d.sizes[inside].sum() for d in draws])
        nights = np.array([(d.sizes[inside] > 0).sum() for d in draws])
        observed = counts[month]
        se = threats.std(ddof=1) / np.sqrt(len(threats))
        assert abs(threats.mean() - observed.threats) < 4 * se, month
        assert abs(nights.mean() - observed.nights) <= 1.5, month


def test_the_campaign_launches_the_drawn_schedule(tmp_path):
    """With stocks to spare the attacker launches exactly the schedule it drew at the start
    (every class, every night), the nights fly it, and the schedule is the fit's month by
    month (launch nights every day of September 2025, mass nights among them)."""
    campaign = load(campaign_text(), tmp_path)
    model = CampaignModel(campaign, rng=np.random.default_rng(8))
    schedule = model.attacker.schedule
    assert schedule is not None and len(schedule.days) == campaign.calendar.days
    nights, _ = model.run()
    for k, c in enumerate(OBSERVED_CLASSES):
        np.testing.assert_array_equal(nights[f"attacker_launched.{c}"], schedule.counts[:, k])
    np.testing.assert_array_equal(nights["mass_night"], schedule.mass)
    simulated = nights[[f"launched.{c}" for c in ("drone", "decoy", "cruise", "ballistic")]]
    assert simulated.to_numpy().sum() + nights["launched.hypersonic"].sum() == schedule.counts.sum()
    assert (schedule.sizes >= 30).all()  # the fit's rate in September 2025 is one a day


def test_stocks_bound_a_fitted_attacker(tmp_path):
    """A stock of 300 drones and 100 made a day: the attacker launches no more than it holds
    (the schedule asks for about 190 a night) and the books balance."""
    campaign = load(campaign_text(stock="{drone: 300, cruise: 50}"), tmp_path)
    nights, _ = run_campaign(campaign, np.random.default_rng(8))
    start, made = nights["attacker_stock_start.drone"], nights["attacker_produced.drone"]
    launched = nights["attacker_launched.drone"]
    assert (launched <= start + made).all()
    assert (start + made - launched == nights["attacker_stock.drone"]).all()
    assert launched.sum() <= 300 + 100 * len(nights)
    assert nights["attacker_launched.ballistic"].sum() == 0  # none held, none made


def test_the_fit_file_is_an_input_of_the_results_folder(tmp_path):
    from sim.experiments.campaigns import prepare_campaign, run_campaigns

    fit = tmp_path / "fit.yaml"
    fit.write_text(FIT.read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / "campaign.yaml"
    path.write_text(campaign_text(days=2, policy=f"{{kind: fitted, fit: {fit}}}"), "utf-8")
    prepared = prepare_campaign(path, replications=1)
    run_campaigns(prepared, tmp_path / "out", workers=1, progress=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["attacker_fit"]["path"] == str(fit)
    assert manifest["campaign"]["attacker_fit_text"] == fit.read_text(encoding="utf-8")
    fit.write_text(fit.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert prepare_campaign(path, replications=1).fingerprint != prepared.fingerprint


def test_the_forecast_campaign_sees_no_night_from_its_own_months():
    """`campaign-forecast.yaml` starts on 1 October 2025 and everything it fits to the record
    (the night calibration, the attacker) was fitted on nights before that date only."""
    from sim.spec.campaign import load_campaign

    campaign = load_campaign(ROOT / "scenarios" / "campaign-forecast.yaml")
    start = campaign.calendar.start.isoformat()
    calibration, fit = campaign.night_calibration, campaign.attacker_fit
    assert calibration is not None and calibration.fit is not None and fit is not None
    assert max(calibration.fit.dates) < start and calibration.fit.until == start
    assert fit.end == start and all(m.month < start[:7] for m in fit.months)
    assert campaign.attacker.policy.months == "fitted"  # no month of the forecast replayed
