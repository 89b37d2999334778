"""Campaigns: stock conservation, budgets, determinism, the night model inside, bad input.

Most tests run a small synthetic campaign (a one-route template written to a temporary
folder, 30 days) that exercises every supply path: starting stock, production, dated
deliveries, budget orders with lead times, allied batteries, an interceptor-drone programme
with teams, long-range strike and low-stock rules. The shipped status-quo campaign is held
against the observed mid-2025 mass nights of `../shared/data/nights-calibration.csv`.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from sim.campaign.model import CampaignModel, CampaignSetup, largest_remainder, run_campaign
from sim.night.laydown import NightPlan
from sim.night.model import NightModel, run_night
from sim.refdocs.campaign import REGENERATE, reference_markdown
from sim.spec.campaign import Campaign, campaign_from_data, load_campaign
from sim.spec.scenario import load_scenario
from sim.spec.yamlio import InputError, load_yaml_text
from sim.vocab import CLASSES

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
STATUS_QUO = SCENARIOS / "campaign-status-quo.yaml"
CALIBRATION_CSV = Path(__file__).parents[2] / "shared" / "data" / "nights-calibration.csv"
REFERENCE_MD = ROOT / "docs" / "campaign-reference.md"

# ------------------------------------------------------------------ a small synthetic world

# every threat flies due north along 32 E from 48 N to 52 N, past the units standing on it
TEMPLATE_TEXT = """\
name: corridor
time_window_h: [0.0, 12.0]
launch_sites: {south: {lon: 32.0, lat: 48.0}}
targets: {city: {lon: 32.0, lat: 52.0}}
salvo:
  drones: {type: shahed, count: 40, launch_sites: [south], targets: [city],
           launch_window_h: [0.0, 2.0], route: {style: direct, aim_scatter_km: 3.0}}
  missiles: {type: kh101, count: 4, launch_sites: [south], targets: [city],
             launch_window_h: [1.0, 1.5], route: {style: direct, aim_scatter_km: 1.0}}
defences:
  iris: {type: iris_t, count: 2, placement: {kind: belt, start: [32.0, 49.5], end: [32.0, 50.5]}}
  patriot: {type: patriot, count: 1, placement: {kind: point, lon: 32.0, lat: 51.5}}
  mfg: {type: mobile_fire_group, count: 6,
        placement: {kind: belt, start: [32.0, 49.0], end: [32.0, 51.0]}}
"""
TEMPLATE: dict[str, Any] = yaml.safe_load(TEMPLATE_TEXT)

START = "2025-09-25"  # the 1st of October falls inside the 30 days: a second budget allotment
GOOD_TEXT = f"""\
name: corridor-campaign
seed: 5
template: template.yaml
calendar:
  start: '{START}'
  days: 30
attacker:
  stock: {{shahed: 300, kh101: 20}}
  production_per_day: {{shahed: 20.0, kh101: 0.5}}
  launch_capacity_per_night: 60
  policy:
    kind: mass
    every_days: 5
    first_day: 2
    mass_night: {{size: {{mean: 55, cv: 0.2}}, composition: {{shahed: 10, kh101: 1}}}}
    other_nights:
      size: {{mean: 25, cv: 0.5}}
      composition: {{shahed: 1}}
defender:
  stock: {{iris_t: 60, patriot: 10}}
  production_per_month: {{iris_t: 30.0}}
  deliveries:
    - {{date: '2025-10-05', type: iris_t, quantity: 20}}
  budget:
    per_month_usd: 10_000_000
    programmes:
      pac3: {{type: patriot, unit_cost_usd: 4_000_000, lead_time_days: 5, share: 1.0,
             max_per_month: 2}}
  rules:
    iris_t: {{hold_below: 0.3, engage_only: [cruise]}}
    patriot: {{max_rounds_per_night: 6}}
investments:
  allied_batteries:
    allied_nasams: {{arrival: '2025-10-07', type: nasams, count: 1, missiles: 12,
                    placement: {{kind: point, lon: 32.0, lat: 50.0}}}}
  interceptor_drones:
    start: '2025-09-27'
    ramp_days: 10
    type: interceptor_drone
    drones_per_year: 36_525
    cost_per_drone_usd: 1000
    budget_usd: 1_500_000
    interceptor_share: 0.5
    teams:
      drones_per_team: 100
      groups:
        new_teams: {{type: interceptor_drone, count: 4,
                    placement: {{kind: belt, start: [32.0, 49.2], end: [32.0, 50.8]}}}}
  long_range_strike:
    missiles_per_day: 2.0
    cost_per_missile_usd: 1_000_000
    budget_per_month_usd: 20_000_000
    effect: {{production_cut_per_missile: 0.01, launch_capacity_cut_per_missile: 0.005,
             max_cut: 0.5}}
"""
CAMPAIGN: dict[str, Any] = yaml.safe_load(GOOD_TEXT)


def write_campaign(folder: Path, campaign: dict, template: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "template.yaml").write_text(yaml.safe_dump(template or TEMPLATE), encoding="utf-8")
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corridor(tmp_path_factory) -> Campaign:
    return load_campaign(write_campaign(tmp_path_factory.mktemp("corridor"), CAMPAIGN))


@pytest.fixture(scope="module")
def corridor_run(corridor) -> tuple[pd.DataFrame, dict]:
    return run_campaign(corridor, np.random.default_rng(11))


def tracked(nights: pd.DataFrame) -> list[str]:
    return [c.removeprefix("stock.") for c in nights if c.startswith("stock.")]


# ------------------------------------------------------------------ stocks


def test_the_synthetic_campaign_exercises_every_supply_path(corridor_run):
    nights, totals = corridor_run
    assert tracked(nights) == ["iris_t", "patriot", "nasams", "interceptor_drone"]
    assert nights["produced.iris_t"].sum() > 0
    assert nights["delivered.iris_t"].sum() >= 20
    assert nights["delivered.patriot"].sum() > 0  # budget orders arrived
    assert nights["delivered.nasams"].sum() == 12  # with the allied battery
    assert nights["produced.interceptor_drone"].sum() > 0
    assert nights["held.iris_t"].any() and not nights["held.iris_t"].all()
    assert (nights["loaded.patriot"] <= 6).all()
    assert nights["strike_missiles"].sum() > 0 and nights["production_cut"].iloc[-1] > 0
    assert nights["active_units"].iloc[-1] > nights["active_units"].iloc[0]
    assert nights["mass_night"].sum() == 6
    for t in tracked(nights):
        empty = np.flatnonzero(nights[f"stock.{t}"].to_numpy() == 0)
        assert totals[f"ran_out_day.{t}"] == (int(empty[0]) if len(empty) else None)


def test_stocks_are_conserved_every_night_for_every_type(corridor, corridor_run):
    nights, _ = corridor_run
    for t in tracked(nights):
        start = nights[f"stock_start.{t}"].to_numpy()
        end = nights[f"stock.{t}"].to_numpy()
        flows = (
            nights[f"produced.{t}"].to_numpy()
            + nights[f"delivered.{t}"].to_numpy()
            - nights[f"spent.{t}"].to_numpy()
        )
        np.testing.assert_array_equal(start + flows, end, err_msg=t)
        np.testing.assert_array_equal(start[1:], end[:-1], err_msg=t)
        assert start[0] == corridor.defender.stock.get(t, 0)
    for t in ("shahed", "kh101"):
        start = nights[f"attacker_stock_start.{t}"].to_numpy()
        end = nights[f"attacker_stock.{t}"].to_numpy()
        made = nights[f"attacker_produced.{t}"].to_numpy()
        np.testing.assert_array_equal(start + made - nights[f"attacker_launched.{t}"], end)
        np.testing.assert_array_equal(start[1:], end[:-1])
    assert (nights["attacker_launched.shahed"] + nights["attacker_launched.kh101"]).equals(
        nights["launched"]
    )


def test_stocks_never_go_negative_and_units_never_fire_more_than_they_hold(corridor_run):
    nights, _ = corridor_run
    for t in tracked(nights):
        assert (nights[f"stock.{t}"] >= 0).all(), t
        available = nights[f"stock_start.{t}"] + nights[f"produced.{t}"]
        available += nights[f"delivered.{t}"]
        assert (nights[f"loaded.{t}"] <= available).all(), t
        assert (nights[f"spent.{t}"] <= nights[f"loaded.{t}"]).all(), t
    assert (nights.filter(like="attacker_stock.") >= 0).all().all()


def test_a_type_without_stock_never_fires(tmp_path):
    spec = copy.deepcopy(CAMPAIGN)
    spec["defender"]["stock"] = {"iris_t": 0, "patriot": 0}
    spec["defender"]["production_per_month"] = {}
    spec["defender"]["deliveries"] = []
    spec["defender"]["budget"] = {}
    spec["investments"] = {}
    nights, totals = run_campaign(
        load_campaign(write_campaign(tmp_path, spec)), np.random.default_rng(3)
    )
    for t in ("iris_t", "patriot"):
        assert (nights[f"spent.{t}"] == 0).all() and (nights[f"stock.{t}"] == 0).all()
        assert totals[f"ran_out_day.{t}"] == 0
    assert nights["spent.mobile_fire_group"].sum() > 0  # untracked units still fire


def test_template_with_distributions_is_drawn_anew_each_night(tmp_path):
    template = copy.deepcopy(TEMPLATE)
    template["ew"] = {"suppression": {"drone": {"dist": "uniform", "low": 0.0, "high": 0.6}}}
    campaign = load_campaign(write_campaign(tmp_path, CAMPAIGN, template))
    assert campaign.template_scenario.has_distributions
    first, _ = run_campaign(campaign, np.random.default_rng(8))
    again, _ = run_campaign(campaign, np.random.default_rng(8))
    pd.testing.assert_frame_equal(first, again)
    for t in tracked(first):
        flows = first[f"produced.{t}"] + first[f"delivered.{t}"] - first[f"spent.{t}"]
        assert (first[f"stock_start.{t}"] + flows == first[f"stock.{t}"]).all()
    assert first["suppressed"].nunique() > 3


def test_an_empty_magazine_does_not_fire():
    scenario = load_scenario(SCENARIOS / "aug-2025-night.yaml")
    plan = NightPlan.from_scenario(scenario)
    columns = {k: plan.unit_columns[k].copy() for k in ("magazine", "reserve")}
    empty = np.arange(len(columns["magazine"])) % 2 == 0
    columns["magazine"][empty] = 0
    columns["reserve"][empty] = 0
    night = NightModel(scenario, rng=np.random.default_rng(1), plan=plan, unit_columns=columns)
    night.run()
    assert night.unit_shots[~empty].sum() > 0
    assert (night.unit_shots[empty] == 0).all()


# ------------------------------------------------------------------ money


def test_money_spent_never_exceeds_budget(corridor, corridor_run):
    nights, totals = corridor_run
    assert (nights["budget_spent_usd"] <= nights["budget_allotted_usd"] + 1e-6).all()
    assert nights["budget_spent_usd"].iloc[-1] > 0  # the budget was used
    assert np.isclose(nights["defender_procurement_usd"].sum(), totals["budget_spent_usd"])
    drones = corridor.investments.interceptor_drones
    assert (nights["drone_programme_spent_usd"] <= drones.budget_usd).all()
    assert nights["drone_programme_spent_usd"].iloc[-1] == drones.budget_usd  # it binds
    assert (nights["strike_spent_usd"] <= nights["strike_allotted_usd"] + 1e-6).all()
    allotments = 2  # day 0 and 1 October
    assert totals["budget_allotted_usd"] == allotments * corridor.defender.budget.per_month_usd


def test_drone_balance_starts_at_the_articles_ratio_and_moves_with_frontline_drones(
    corridor_run,
):
    nights, _ = corridor_run
    assert nights["drone_ratio"].iloc[0] == pytest.approx(1.1)  # programme not started yet
    assert nights["frontline_drones_made"].sum() > 0
    moved = nights["frontline_drones_made"] > 0
    assert (nights.loc[moved, "drone_ratio"] < 1.1).all()
    assert (nights["interceptor_drones_made"] + nights["frontline_drones_made"]).sum() == 1500


# ------------------------------------------------------------------ determinism


def test_same_seed_gives_the_same_campaign(corridor):
    first, totals_1 = run_campaign(corridor, np.random.default_rng(42))
    again, totals_2 = run_campaign(corridor, np.random.default_rng(42))
    pd.testing.assert_frame_equal(first, again)
    assert totals_1 == totals_2
    other, _ = run_campaign(corridor, np.random.default_rng(43))
    assert not first["intercepted"].equals(other["intercepted"])


def test_setup_can_be_shared_between_replications(corridor):
    setup = CampaignSetup.from_campaign(corridor)
    shared, _ = run_campaign(corridor, np.random.default_rng(7), setup=setup)
    fresh, _ = run_campaign(corridor, np.random.default_rng(7))
    pd.testing.assert_frame_equal(shared, fresh)


def test_nights_table_has_the_columns_the_runner_needs(corridor_run):
    nights, _ = corridor_run
    for column in ("day", "launched", "intercepted", "leaked", "defender_cost_usd",
                   "attacker_cost_usd", "stock.iris_t", "date", "cost_exchange"):  # fmt: skip
        assert column in nights, column
    assert list(nights["day"]) == list(range(30))
    assert str(nights["date"].iloc[0])[:10] == START
    for cls in CLASSES:
        assert f"launched.{cls}" in nights and f"intercepted.{cls}" in nights


def test_finished_nights_and_campaigns_are_not_kept_alive(corridor):
    # Mesa's class-level Agent._ids holds every model that made an agent unless released
    before = len(mesa.Agent._ids)
    run_campaign(corridor, np.random.default_rng(5))
    assert len(mesa.Agent._ids) == before


def test_campaign_model_steps_one_day_at_a_time(corridor):
    model = CampaignModel(corridor, rng=np.random.default_rng(1))
    model.step()
    model.step()
    assert model.day == 2 and len(model.rows) == 2 and model.running
    nights, _ = model.run()
    assert len(nights) == 30 and not model.running


# ------------------------------------------------------------------ the night model inside


def test_night_model_overrides_default_to_no_change():
    scenario = load_scenario(SCENARIOS / "aug-2025-night.yaml")
    plan = NightPlan.from_scenario(scenario)
    counts = {gid: g.count for gid, g in scenario.salvo.items()}
    columns = {k: plan.unit_columns[k].copy() for k in ("magazine", "reserve", "radius_km")}
    base = run_night(scenario, np.random.default_rng(9), plan)
    same = NightModel(
        scenario, rng=np.random.default_rng(9), plan=plan, counts=counts,
        unit_columns=columns, agent_views=False,
    ).run()  # fmt: skip
    assert base.as_row() == same.as_row()


def unlimited(campaign: dict, nights: int) -> dict:
    """The template's own salvo every night; both sides' stocks far beyond any use."""
    spec = copy.deepcopy(campaign)
    spec["calendar"]["days"] = nights
    spec["attacker"] = {
        "stock": {"shahed": 10**9, "kh101": 10**9},
        "policy": {"kind": "steady"},  # template size and composition
    }
    spec["defender"] = {"stock": {"iris_t": 10**9, "patriot": 10**9}}
    spec["investments"] = {}
    return spec


def compare_with_single_nights(campaign: Campaign, n: int) -> tuple[np.ndarray, np.ndarray]:
    nights, _ = run_campaign(campaign, np.random.default_rng(2024))
    template = campaign.template_scenario
    plan = NightPlan.from_scenario(template)
    singles = np.array(
        [
            run_night(template, np.random.default_rng([2025, r]), plan).counts["intercepted.total"]
            for r in range(n)
        ]
    )
    launched = sum(g.count for g in template.salvo.values())
    assert (nights["launched"] == launched).all()
    return nights["intercepted"].to_numpy(), singles


def assert_same_distribution(a: np.ndarray, b: np.ndarray) -> None:
    """Means within 4 standard errors and a two-sample KS test not rejecting at 0.1 %."""
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    assert abs(a.mean() - b.mean()) <= 4 * se + 1e-9, (a.mean(), b.mean(), se)
    assert stats.ks_2samp(a, b).pvalue > 1e-3


def test_unlimited_stocks_give_the_single_night_intercept_distribution(tmp_path):
    spec = unlimited(CAMPAIGN, nights=150)
    campaign = load_campaign(write_campaign(tmp_path, spec))
    a, b = compare_with_single_nights(campaign, 150)
    assert a.std() > 0 and b.std() > 0
    assert_same_distribution(a, b)


@pytest.mark.slow  # about 10 s: 200 reference nights in a campaign and 200 single nights
def test_unlimited_stocks_reference_template(tmp_path):
    spec = unlimited(CAMPAIGN, nights=200)
    spec["template"] = str(SCENARIOS / "aug-2025-night.yaml")
    spec["attacker"]["stock"] = {t: 10**9 for t in ("shahed", "gerbera", "kh101", "kalibr",
                                                   "kh59", "iskander_m", "kinzhal")}  # fmt: skip
    spec["defender"]["stock"] = {t: 10**9 for t in ("patriot", "iris_t", "nasams", "s300")}
    campaign = load_campaign(write_campaign(tmp_path, spec))
    a, b = compare_with_single_nights(campaign, 200)
    assert_same_distribution(a, b)


def test_hold_rule_keeps_iris_t_for_missiles(corridor_run):
    nights, _ = corridor_run
    held = nights[nights["held.iris_t"]]
    no_missiles = held[held["launched.cruise"] == 0]
    assert len(no_missiles) > 0
    assert (no_missiles["spent.iris_t"] == 0).all()


def test_allied_battery_fires_only_after_it_arrives(corridor_run):
    nights, _ = corridor_run
    arrival = (pd.Timestamp("2025-10-07") - pd.Timestamp(START)).days
    assert (nights["spent.nasams"].iloc[:arrival] == 0).all()
    assert nights["spent.nasams"].iloc[arrival:].sum() > 0


# ------------------------------------------------------------------ observed mid-2025


def mid_2025_mass_night_range() -> tuple[float, float]:
    """Intercept rate (destroyed + lost) / launched of the nights of 300+ threats, Q2-Q3 2025."""
    if not CALIBRATION_CSV.is_file():
        pytest.skip(f"calibration data not found at {CALIBRATION_CSV} (../shared/data)")
    data = pd.read_csv(CALIBRATION_CSV, parse_dates=["date"])
    mid = data[(data["date"] >= "2025-04-01") & (data["date"] <= "2025-09-30")]
    mass = mid[mid["total_launched"] >= 300]
    rate = (mass["total_destroyed"] + mass["total_lost"]) / mass["total_launched"]
    assert len(rate) >= 10
    return float(rate.min()), float(rate.max())


def test_status_quo_mass_nights_stay_in_the_observed_mid_2025_range():
    low, high = mid_2025_mass_night_range()
    campaign = load_campaign(STATUS_QUO)
    nights, totals = run_campaign(campaign, np.random.default_rng(campaign.seed))
    assert totals["mass_nights"] >= 15
    assert nights.loc[nights["mass_night"], "launched"].mean() > 400  # they are mass nights
    assert low <= totals["mass_intercept_rate"] <= high, (low, totals["mass_intercept_rate"], high)


@pytest.mark.slow  # about 25 s: one replication of each calibrated campaign
@pytest.mark.parametrize("name", ["funding-shortfall", "drone-deal", "allied-air-defence",
                                  "long-range-strike", "forecast"])  # fmt: skip
def test_every_shipped_campaign_runs_and_conserves(name):
    campaign = load_campaign(SCENARIOS / f"campaign-{name}.yaml")
    nights, _ = run_campaign(campaign, np.random.default_rng(1))
    assert len(nights) == campaign.calendar.days
    for t in tracked(nights):
        flows = nights[f"produced.{t}"] + nights[f"delivered.{t}"] - nights[f"spent.{t}"]
        assert (nights[f"stock_start.{t}"] + flows == nights[f"stock.{t}"]).all()
        assert (nights[f"stock.{t}"] >= 0).all()
    assert (nights["budget_spent_usd"] <= nights["budget_allotted_usd"] + 1e-6).all()


# ------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (614, [384, 190, 20, 14, 1, 4, 1], [384, 190, 20, 14, 1, 4, 1]),
        (10, [1, 1, 1], [4, 3, 3]),
        (5, [0, 2, 0], [0, 5, 0]),
        (0, [1, 2], [0, 0]),
        (7, [0, 0], [0, 0]),
    ],
)
def test_largest_remainder(total, weights, expected):
    assert largest_remainder(total, np.array(weights)).tolist() == expected


# ------------------------------------------------------------------ bad input


def line_of(text: str, marker: str) -> int:
    assert text.count(marker) == 1, f"marker {marker!r} must occur exactly once"
    return text[: text.index(marker)].count("\n") + 1


BAD_CASES = [
    pytest.param("  launch_capacity_per_night: 60", "  launch_capacity_per_nite: 60",
                 "launch_capacity_per_nite", "attacker.launch_capacity_per_nite",
                 ["unknown field", "did you mean 'launch_capacity_per_night'?"], id="unknown-key"),
    pytest.param("  start: '2025-09-25'", "  start: next monday", "start: next monday",
                 "calendar.start", ["expected a date"], id="bad-date"),
    pytest.param("  start: '2025-09-25'", "  start: 2025-13-45", "start: 2025-13-45",
                 "calendar.start", ["'2025-13-45' is not a valid date"], id="impossible-date"),
    pytest.param("  days: 30", "  days: 0", "days: 0", "calendar.days",
                 ["0 is not allowed", "greater than 0"], id="zero-days"),
    pytest.param("{shahed: 1}", "{shahd: 1}", "{shahd: 1}",
                 "attacker.policy.other_nights.composition.shahd",
                 ["unknown threat type 'shahd'", "did you mean 'shahed'?"], id="unknown-threat"),
    pytest.param("{shahed: 1}", "{kalibr: 1}", "{kalibr: 1}",
                 "attacker.policy.other_nights.composition.kalibr",
                 ["no salvo group in the template"], id="type-not-in-template"),
    pytest.param("{iris_t: 60,", "{iris: 60,", "{iris: 60,", "defender.stock.iris",
                 ["unknown defence type 'iris'", "did you mean 'iris_t'?"], id="unknown-defence"),
    pytest.param("{iris_t: 60,", "{ew: 60,", "{ew: 60,", "defender.stock.ew",
                 ["EW type"], id="ew-has-no-rounds"),
    pytest.param("share: 1.0", "share: 1.5", "share: 1.5",
                 "defender.budget.programmes.pac3.share",
                 ["1.5 is not allowed", "less than or equal to 1"], id="share-above-1"),
    pytest.param("{date: '2025-10-05'", "{date: '2025-09-01'", "date: '2025-09-01'",
                 "defender.deliveries.0.date", ["before the campaign starts"],
                 id="delivery-before-start"),
    pytest.param("    kind: mass", "    kind: masss", "kind: masss", "attacker.policy.kind",
                 ["did you mean 'mass'?"], id="unknown-policy"),
    pytest.param("    every_days: 5", "    every_days: five", "every_days: five",
                 "attacker.policy.every_days", ["valid integer"], id="wrong-type"),
    pytest.param("    allied_nasams:", "    iris:", "    iris:",
                 "investments.allied_batteries.iris", ["already exists"], id="group-name-clash"),
    pytest.param("template: template.yaml", "template: missing.yaml", "template: missing",
                 "template", ["cannot read night scenario 'missing.yaml'"], id="no-template"),
    pytest.param("    iris_t: {hold_below", "    gepard: {hold_below",
                 "gepard: {hold_below", "defender.rules.gepard",
                 ["has no stock in this campaign"], id="rule-untracked"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "marker", "path", "fragments"), BAD_CASES)
def test_bad_campaign_reports_file_line_path_message(tmp_path, old, new, marker, path, fragments):
    assert GOOD_TEXT.count(old) == 1, old
    text = GOOD_TEXT.replace(old, new)
    write_campaign(tmp_path, CAMPAIGN)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_campaign(bad)
    message = str(info.value)
    expected = f"{bad}:{line_of(text, marker)}: {path}: "
    assert message.startswith(expected), message
    for fragment in fragments:
        assert fragment in message
    assert len(message.splitlines()) == 1, message


def test_errors_inside_the_template_name_the_template(tmp_path):
    template = copy.deepcopy(TEMPLATE)
    template["salvo"]["drones"]["count"] = -1
    write_campaign(tmp_path, CAMPAIGN, template)
    with pytest.raises(InputError) as info:
        load_campaign(tmp_path / "campaign.yaml")
    assert str(info.value).startswith(f"{tmp_path / 'template.yaml'}:")
    assert "salvo.drones.count" in str(info.value)


def test_good_campaign_text_loads(tmp_path):
    write_campaign(tmp_path, CAMPAIGN)
    campaign = campaign_from_data(load_yaml_text(GOOD_TEXT, str(tmp_path / "campaign.yaml")))
    assert campaign.template_scenario.name == "corridor"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("campaign-*.yaml")), ids=lambda p: p.stem)
def test_shipped_campaigns_load_and_cite_sources(path):
    campaign = load_campaign(path)
    assert campaign.name == path.stem
    assert campaign.sources and campaign.calendar.end == dt.date(2026, 3, 1)  # to 28 Feb 2026
    text = path.read_text(encoding="utf-8")
    assert "ASSUMPTION" in text


def test_campaign_reference_is_up_to_date():
    committed = REFERENCE_MD.read_text(encoding="utf-8") if REFERENCE_MD.exists() else ""
    assert committed == reference_markdown(), (
        f"docs/campaign-reference.md is out of date; regenerate it with\n    {REGENERATE}"
    )


@pytest.mark.slow  # about 10 s: four replications of the status quo
def test_python_example_in_cli_campaign_md_runs(monkeypatch, capsys):
    text = (ROOT / "docs" / "cli-campaign.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```python")[1:]]
    block = next(b for b in blocks if "run_campaign(" in b)  # one replication at a time
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/cli-campaign.md", "exec"), namespace)
    assert len(namespace["runs"]) == 3
    assert "stock.patriot" in capsys.readouterr().out
