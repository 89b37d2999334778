"""The attacker fitted to the record (sim.analysis.attacker): the monthly counts reader on both
formats and on bad input, recovery of known parameters from synthetic nights, the sampler, the
cadence test, and the fit on the real nights against the full monthly counts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import call, night_row, write_nights_csv

from sim.analysis.attacker import (
    CLASSES,
    fit_attacker,
    fit_cadence,
    mass_probability,
)
from sim.campaign.launches import sample_nights
from sim.spec.observed import MonthCount, MonthCounts, load_nights, read_month_counts
from sim.spec.yamlio import InputError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CALIBRATION = DATA / "nights-calibration.csv"
README = DATA / "README.md"
RECENT = ["2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]

# --------------------------------------------------------------------------- monthly counts

TABLE = """\
# Observed data

Some text.

## Full monthly counts (launches only)
Intro line.

| month | nights ≥ 30 threats | threats launched on them | of those nights in the CSV |
|---|---|---|---|
| 2025-01 | 31 | 2,709 | 18 |
| 2025-02 | 26 | 3,684 | 18 |

## borders.geojson
| not | this table |
|---|---|
| 2025-03 | 1 |
"""


def test_reads_the_shared_readme():
    counts = read_month_counts(README)
    assert len(counts) == 18
    assert sorted(counts.months) == list(counts.months)
    assert min(counts.months) == "2024-09" and max(counts.months) == "2026-02"
    assert counts["2024-10"] == MonthCount("2024-10", 20, 1656, 13, counts["2024-10"].line)
    assert counts["2025-10"].threats == 5568
    assert sum(c.nights for c in counts.months.values()) == 485
    assert len(counts.sha256) == 64


def test_reads_markdown_and_csv_alike(tmp_path):
    md = tmp_path / "README.md"
    md.write_text(TABLE, encoding="utf-8")
    csv = tmp_path / "counts.csv"
    csv.write_text('month,nights,threats\n2025-01,31,"2,709"\n2025-02,26,3684\n', encoding="utf-8")
    from_md, from_csv = read_month_counts(md), read_month_counts(csv)
    assert [(c.month, c.nights, c.threats) for c in from_md.months.values()] == [
        ("2025-01", 31, 2709),
        ("2025-02", 26, 3684),
    ]
    assert [(c.month, c.nights, c.threats) for c in from_csv.months.values()] == [
        (c.month, c.nights, c.threats) for c in from_md.months.values()
    ]
    assert from_md["2025-01"].in_sample == 18 and from_csv["2025-01"].in_sample is None
    assert from_md["2025-02"].line == 11  # only the table under the heading is read
    assert "2025-03" not in from_md


@pytest.mark.parametrize(
    ("row", "field", "fragment"),
    [
        ("2025-13,3,100", "month", "expected a month"),
        ("2025-1,3,100", "month", "expected a month"),
        ("2025-01,x,100", "nights", "not a whole number"),
        ("2025-01,-1,100", "nights", "negative"),
        ("2025-02,29,1000", "nights", "has 28 days"),
        ("2025-01,10,299", "threats", "at least 300"),
        ("2025-01,5,200\n2025-01,5,200", "month", "given twice"),
        ("2025-01,3,100,4", "in_sample", "4 sampled of 3"),
    ],
)
def test_bad_csv_rows_name_file_line_and_field(tmp_path, row, field, fragment):
    path = tmp_path / "counts.csv"
    header = "month,nights,threats" + (",in_sample" if row.count(",") == 3 else "")
    path.write_text(header + "\n" + row + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_month_counts(path)
    message = str(err.value)
    line = 3 if "given twice" in fragment else 2
    assert f"{path}:{line}: {field}: " in message
    assert fragment in message


def test_bad_files_are_input_errors(tmp_path):
    no_section = tmp_path / "a.md"
    no_section.write_text("# Data\n\n| month | nights | threats |\n|---|---|---|\n", "utf-8")
    missing_column = tmp_path / "b.csv"
    missing_column.write_text("month,nights\n2025-01,3\n", "utf-8")
    bad_cell = tmp_path / "c.md"
    bad_cell.write_text(TABLE.replace("| 2,709 |", "| many |"), "utf-8")
    cases = [
        (no_section, "no '## Full monthly counts' section"),
        (missing_column, f"{missing_column}:1: threats: required column is missing"),
        (bad_cell, f"{bad_cell}:10: threats: not a whole number: 'many'"),
        (tmp_path / "none.csv", "cannot read file"),
    ]
    for path, fragment in cases:
        with pytest.raises(InputError) as err:
            read_month_counts(path)
        assert fragment in str(err.value), str(err.value)


# --------------------------------------------------------------------------- synthetic nights

MONTHS = [str(p) for p in pd.period_range("2024-07", "2025-12", freq="M")]
TRUE = {
    "rate": 0.85,
    "share": {"2024Q3": 0.05, "2024Q4": 0.05, "2025Q1": 0.15, "2025Q2": 0.15, "2025Q3": 0.25,
              "2025Q4": 0.25},
    "ordinary": (6.0, 100.0),  # gamma shape, mean
    "mass": (9.0, 450.0),
    "tau": 0.15,  # sd of the month effect on log size
    "ordinary_shares": (0.975, 0.008, 0.015, 0.002),
    "mass_shares": (0.93, 0.045, 0.02, 0.005),
    "concentration": 30.0,
}  # fmt: skip
FRACTION = 0.7


def _gamma_truncated(rng, shape, mean, n):
    out = np.empty(0)
    while len(out) < n:
        draws = rng.gamma(shape, mean / shape, size=2 * n + 10)
        out = np.concatenate([out, draws[draws >= 29.5]])
    return np.floor(out[:n] + 0.5).astype(int)


def _synthetic(seed: int = 7):
    """Every night of MONTHS drawn from the model with TRUE, then a random FRACTION of them
    written as a nights CSV; and the full monthly counts."""
    rng = np.random.default_rng(seed)
    rows, full = [], {}
    for month in MONTHS:
        days = pd.date_range(month + "-01", periods=pd.Period(month).days_in_month)
        effect = math.exp(TRUE["tau"] * rng.standard_normal())
        share = TRUE["share"][str(pd.Period(month).asfreq("Q"))]
        nights = threats = 0
        for day in days:
            if rng.random() >= TRUE["rate"]:
                continue
            mass = rng.random() < share
            shape, mean = TRUE["mass" if mass else "ordinary"]
            size = int(_gamma_truncated(rng, shape, mean * effect, 1)[0])
            alpha = np.array(TRUE["mass_shares" if mass else "ordinary_shares"])
            counts = rng.multinomial(size, rng.dirichlet(alpha * TRUE["concentration"]))
            nights, threats = nights + 1, threats + size
            if rng.random() < FRACTION:
                launched = {f"{c}_launched": int(n) for c, n in zip(CLASSES, counts, strict=True)}
                rows.append(night_row(str(day.date()), **launched))
        full[month] = MonthCount(month, nights, threats)
    return rows, MonthCounts("synthetic", "", full)


@pytest.fixture(scope="module")
def synthetic_fit(tmp_path_factory):
    rows, counts = _synthetic()
    path = write_nights_csv(tmp_path_factory.mktemp("synthetic"), rows)
    nights = load_nights(path)
    fit = fit_attacker(
        nights, counts, "2024-07-01", "2026-01-01", drift="share:quarter",
        month_effect="size", families=("gamma",), data=path, permutations=200,
    )  # fmt: skip
    return nights, counts, fit


def test_recovers_known_parameters(synthetic_fit):
    """Tolerances: within 3 standard errors of the truth, and within the stated bounds."""
    nights, counts, fit = synthetic_fit
    assert 300 <= len(nights) <= 400  # several hundred sampled nights
    par, se = fit.size.parameters, fit.size.standard_errors
    truths = {
        "ordinary.log_mean": (math.log(TRUE["ordinary"][1]), 0.06),
        "ordinary.shape": (TRUE["ordinary"][0], 1.5),
        "mass.ratio": (TRUE["mass"][1] / TRUE["ordinary"][1], 0.6),
        "mass.shape": (TRUE["mass"][0], 4.0),
        "month_effect.size.sd": (TRUE["tau"], 0.08),
    }
    for quarter in ("2024Q3", "2025Q1", "2025Q3", "2025Q4"):
        truths[f"mass_share[{quarter}]"] = (TRUE["share"][quarter], 0.08)
    for name, (truth, bound) in truths.items():
        assert abs(par[name] - truth) <= bound, (name, par[name], truth)
        assert se[name] is not None and abs(par[name] - truth) <= 3 * se[name], (name, se[name])
    # launch nights per day: exactly the full counts over the days
    for month in fit.months:
        assert month.rate_per_day == pytest.approx(counts[month.month].nights / month.days)
        assert month.nights_source == "full"
    # composition: the sampled nights' shares
    for name, key in (("ordinary", "ordinary_shares"), ("mass", "mass_shares")):
        for cls, truth in zip(CLASSES, TRUE[key], strict=True):
            assert fit.composition[name].shares[cls] == pytest.approx(truth, abs=0.012), (name, cls)
    assert fit.sampling_fraction == pytest.approx(FRACTION, abs=0.05)
    assert fit.size.month_effect["on"] == "size"
    assert fit.monthly_check["p"] > 0.01


def test_fit_record_is_plain_yaml(synthetic_fit):
    _, _, fit = synthetic_fit
    record = fit.to_dict()
    assert yaml.safe_load(yaml.safe_dump(record)) == record
    assert len(record["data_sha256"]) == 64 and record["nights"] == fit.nights
    assert {"size", "composition", "cadence", "months", "forecast", "method"} <= set(record)


def test_sampler_reproduces_the_fit(synthetic_fit):
    """Nights drawn from the fit have its launch rate, mean size, mass share and composition."""
    nights, _, fit = synthetic_fit
    rng = np.random.default_rng(11)
    drawn = pd.concat(
        [sample_nights(fit, "2025-07-01", "2026-01-01", rng) for _ in range(20)], ignore_index=True
    )
    assert (drawn["size"] >= 30).all()
    assert (drawn[list(CLASSES)].sum(axis=1) == drawn["size"]).all()
    days = 20 * 184
    expected_nights = sum(fit.month(m).nights for m in MONTHS[-6:])  # type: ignore[union-attr]
    assert len(drawn) == pytest.approx(20 * expected_nights, rel=0.05)
    expected = sum(fit.expected_threats(m) for m in MONTHS[-6:]) * 20
    assert drawn["size"].sum() == pytest.approx(expected, rel=0.05)
    share = fit.size_of("2025-08").mass_share
    assert drawn["mass"].mean() == pytest.approx(share, abs=0.03)
    mass = drawn[drawn["mass"]]
    cruise = mass["cruise"].sum() / mass["size"].sum()
    assert cruise == pytest.approx(fit.composition["mass"].at("2025-08")[0]["cruise"], rel=0.15)
    assert len(drawn) < days
    # same generator seed, same nights
    a = sample_nights(fit, "2025-07-01", "2025-08-01", np.random.default_rng(3))
    b = sample_nights(fit, "2025-07-01", "2025-08-01", np.random.default_rng(3))
    pd.testing.assert_frame_equal(a, b)
    # the nights called mass are the big ones
    probability = mass_probability(fit, nights)
    sizes = nights["launched.total"].to_numpy()
    assert sizes[probability > 0.5].min() > sizes[probability < 0.5].mean() * 2


def test_cadence_tells_regular_from_independent():
    """Mass nights every 5 days, thinned to 70 %, are more regular than independent nights;
    mass nights drawn independently are not."""
    rng = np.random.default_rng(5)
    days = pd.Series(pd.date_range("2025-01-01", "2025-12-31"))
    quarters = days.dt.to_period("Q").astype(str).to_numpy()
    regular = (np.arange(len(days)) % 5) == 0
    independent = rng.random(len(days)) < 0.2
    keep = rng.random(len(days)) < 0.7
    for is_mass, regular_expected in ((regular, True), (independent, False)):
        result = fit_cadence(
            days[keep].reset_index(drop=True), is_mass[keep], quarters[keep], "quarter",
            lambda first, last: 0.7, 500, 0,
        )  # fmt: skip
        assert (result.p_more_regular < 0.05) == regular_expected, result
        if regular_expected:
            assert result.full_mean_gap_days == pytest.approx(5.0, rel=0.15)
            assert result.full_cv < 0.35


def test_fit_refuses_inconsistent_input(synthetic_fit):
    nights, counts, _ = synthetic_fit
    with pytest.raises(ValueError, match="give sampling_fraction"):
        fit_attacker(nights, None, "2025-01-01", "2025-04-01", drift="none", month_effect="none")
    short = MonthCounts("x", "", {m: MonthCount(m, 1, 30) for m in counts.months})
    with pytest.raises(ValueError, match="nights in the sample but 1 in the full counts"):
        fit_attacker(nights, short, "2025-01-01", "2025-04-01", drift="none", month_effect="none")
    with pytest.raises(ValueError, match="unknown drift part"):
        fit_attacker(nights, counts, "2025-01-01", "2025-04-01", drift="shares:quarter")
    scaled = fit_attacker(
        nights, None, "2025-01-01", "2025-07-01", sampling_fraction=0.7, drift="none",
        month_effect="none", families=("gamma",), permutations=10,
    )  # fmt: skip
    assert all(m.nights_source == "scaled" for m in scaled.months)
    in_sample = sum(m.nights_in_sample for m in scaled.months)
    assert sum(m.nights for m in scaled.months) == pytest.approx(in_sample / 0.7)


# --------------------------------------------------------------------------- the real nights


@pytest.fixture(scope="module")
def real_fit():
    """The structure the automatic search selects on these data (see the slow test), fitted
    alone to keep the suite fast."""
    return fit_attacker(
        load_nights(CALIBRATION), read_month_counts(README), "2024-09-01", "2026-03-01",
        drift="share:quarter", month_effect="size", families=("gamma",), data=CALIBRATION,
        permutations=200,
    )  # fmt: skip


def test_real_fit_is_consistent_with_the_full_monthly_counts(real_fit):
    """The fit's expected threats per month against the README's full counts: each month of
    2025-09..2026-02 within 2.5 sd of a month's total under the fit and within 20 %, the six
    months together within 5 %, and no month of the window rejected as a whole (chi2)."""
    full = read_month_counts(README)
    for month in RECENT:
        fitted = real_fit.month(month)
        assert fitted is not None and fitted.threats == full[month].threats
        assert abs(fitted.z) < 2.5, (month, fitted.z)
        assert abs(fitted.error) < 0.20, (month, fitted.error)
    expected = sum(real_fit.month(m).expected_threats for m in RECENT)  # type: ignore[union-attr]
    assert expected == pytest.approx(sum(full[m].threats for m in RECENT), rel=0.05)
    assert real_fit.monthly_check["p"] > 0.05
    # mass nights: none before 2025, a fifth or so of the nights from mid-2025
    assert real_fit.size_of("2024-12").mass_share < 0.01
    assert 0.1 < real_fit.size_of("2025-10").mass_share < 0.35
    assert (
        real_fit.size_of("2025-10").mass["mean"] > 3 * real_fit.size_of("2025-10").ordinary["mean"]
    )


def test_real_hindcast_replays_threats_per_month_within_15_percent(real_fit):
    """The hindcast of 1 Sep 2025 - 28 Feb 2026 (issue 14's acceptance): nights drawn with the
    record's monthly replay give threats per month within 15 % of the full counts."""
    full = read_month_counts(README)
    rng = np.random.default_rng(2025)
    totals = []
    for _ in range(60):
        drawn = sample_nights(real_fit, "2025-09-01", "2026-03-01", rng, replay=True)
        totals.append(drawn.groupby(drawn["date"].dt.strftime("%Y-%m"))["size"].sum())
    mean = pd.concat(totals, axis=1).fillna(0).mean(axis=1)
    for month in RECENT:
        assert mean[month] == pytest.approx(full[month].threats, rel=0.15), month
        assert real_fit.expected_threats(month, replay=True) == full[month].threats


@pytest.mark.slow
def test_real_automatic_selection():
    """The full search on the real nights: gamma beats lognormal, the mass share drifts by
    quarter, a month effect on size is supported, mass nights are not more regular than
    independent nights; and a fit on the nights before October 2025 says the same."""
    nights, counts = load_nights(CALIBRATION), read_month_counts(README)
    for end in ("2026-03-01", "2025-10-01"):
        fit = fit_attacker(nights, counts, "2024-09-01", end)
        assert fit.size.family == "gamma"
        assert fit.size.drift == {"share": "quarter"}
        assert fit.size.month_effect["on"] == "size"
        assert fit.size.month_effect["tests"]["size"]["p"] < 0.001
        assert fit.size.families["gamma"]["loglik"] > fit.size.families["lognormal"]["loglik"]
        assert fit.cadence.p_more_regular > 0.05


DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (DATA / "nights-calibration.csv").exists(), reason="needs ../shared/data")
def test_calibrate_attacker_writes_the_fit_and_refuses_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "fit.yaml"
    argv = ["calibrate-attacker", str(DATA / "nights-calibration.csv"), "--month-counts",
            str(DATA / "README.md"), "--from", "2025-09-01", "--to", "2026-03-01",
            "--out", str(out)]  # fmt: skip
    code, stdout, stderr = call(argv)
    assert code == 0, stderr
    fit = yaml.safe_load(out.read_text())
    assert fit["start"] == "2025-09-01" and fit["end"] == "2026-03-01"
    assert [m["month"] for m in fit["months"]] == [f"2025-{m:02d}" for m in (9, 10, 11, 12)] + [
        "2026-01", "2026-02"
    ]  # fmt: skip
    # six months of 4,600-5,800 threats: the fit carries their total within 5 %
    fitted = sum(m["expected_threats"] for m in fit["months"])
    assert abs(fitted / sum(m["threats"] for m in fit["months"]) - 1) < 0.05
    assert "2025-09" in stdout and "full count" in stdout
    code, _, stderr = call(argv)  # the file exists now
    assert code == 2 and "exists" in stderr
    code, _, stderr = call([*argv[:2], "--out", str(tmp_path / "x.yaml")])
    assert code == 2 and "--month-counts" in stderr and not (tmp_path / "x.yaml").exists()
