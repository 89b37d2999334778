"""Observed nights: CSV checks with FILE:LINE: column: message, mixed rows, baseline, scores."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import night_row, write_nights_csv

from sim.analysis.baselines import QuarterlyRateBaseline
from sim.analysis.scores import interval_scores
from sim.spec.observed import REQUIRED_COLUMNS, load_nights
from sim.spec.yamlio import InputError

CALIBRATION = Path(__file__).resolve().parents[2] / "shared" / "data" / "nights-calibration.csv"


def test_counts_and_intercepted_per_class(tmp_path):
    path = write_nights_csv(
        tmp_path,
        [night_row(drone_launched=100, drone_destroyed=80, drone_lost=5, cruise_launched=10,
              cruise_destroyed=9)],
    )  # fmt: skip
    nights = load_nights(path)
    assert nights.loc[0, "intercepted.drone"] == 85
    assert nights.loc[0, "intercepted.total"] == 94
    assert nights.loc[0, "launched.total"] == 110
    assert nights.loc[0, "quarter"] == "2025Q3"
    assert nights.loc[0, "line"] == 2


def test_mixed_missiles_are_apportioned_and_conserved(tmp_path):
    path = write_nights_csv(
        tmp_path,
        [
            night_row(cruise_launched=6, ballistic_launched=2, missile_mixed_launched=8,
                 missile_mixed_destroyed=3),
            night_row("2025-08-22", missile_mixed_launched=5, missile_mixed_destroyed=5),
        ],
    )  # fmt: skip
    nights = load_nights(path)
    # 3:1 itemised cruise:ballistic -> 6 + 2 of the 8 mixed
    assert (nights.loc[0, "launched.cruise"], nights.loc[0, "launched.ballistic"]) == (12, 4)
    assert nights.loc[0, "launched.total"] == 16
    assert nights.loc[0, "intercepted.cruise"] + nights.loc[0, "intercepted.ballistic"] == 3
    # none itemised -> half and half, all accounted for
    assert nights.loc[1, "launched.cruise"] + nights.loc[1, "launched.ballistic"] == 5
    assert nights.loc[1, "intercepted.total"] == 5


@pytest.mark.parametrize(
    ("edit", "column", "fragment"),
    [
        ({"drone_launched": -4}, "drone_launched", "negative"),
        ({"cruise_launched": "x"}, "cruise_launched", "not a whole number"),
        (
            {"drone_launched": 10, "drone_destroyed": 9, "drone_lost": 2},
            "drone_destroyed",
            "exceed",
        ),
    ],
)
def test_bad_rows_report_file_line_column(tmp_path, edit, column, fragment):
    rows = [night_row(drone_launched=50, drone_destroyed=40), night_row("2025-08-22", **edit)]
    path = write_nights_csv(tmp_path, rows)
    with pytest.raises(InputError) as err:
        load_nights(path)
    (error,) = err.value.errors
    assert (error.file, error.line, error.path) == (str(path), 3, column)
    assert fragment in error.message
    assert str(error).startswith(f"{path}:3: {column}: ")


def test_missing_column_is_reported_on_the_header_line(tmp_path):
    header = [c for c in REQUIRED_COLUMNS if c != "hypersonic_lost"]
    path = tmp_path / "n.csv"
    path.write_text(",".join(header) + "\n")
    with pytest.raises(InputError) as err:
        load_nights(path)
    assert str(err.value) == f"{path}:1: hypersonic_lost: required column is missing"


def test_bad_date(tmp_path):
    path = write_nights_csv(tmp_path, [night_row(date="yesterday")])
    with pytest.raises(InputError, match=r":2: date: not a date"):
        load_nights(path)


def test_baseline_uses_quarter_rates_and_falls_back_to_overall(tmp_path):
    rows = (
        [night_row(f"2025-01-1{d}", drone_launched=100, drone_destroyed=90) for d in range(3)]
        + [night_row(f"2025-04-1{d}", drone_launched=100, drone_destroyed=70) for d in range(3)]
        + [night_row("2025-07-10", drone_launched=10, drone_destroyed=10)]
    )
    nights = load_nights(write_nights_csv(tmp_path, rows))
    baseline = QuarterlyRateBaseline.fit(nights, min_launches=50)
    assert baseline.rate("drone", "2025Q1") == pytest.approx(0.9)
    assert baseline.rate("drone", "2025Q2") == pytest.approx(0.7)
    overall = (270 + 210 + 10) / 610
    assert baseline.rate("drone", "2025Q3") == pytest.approx(overall)


def test_baseline_on_the_calibration_file_covers_about_ninety_percent_in_sample():
    if not CALIBRATION.exists():
        pytest.skip(f"{CALIBRATION} not found (../shared beside the checkout)")
    nights = load_nights(CALIBRATION)
    assert len(nights) == 345
    prediction = QuarterlyRateBaseline.fit(nights).predict(nights)
    scores = interval_scores(
        nights["intercepted.total"], prediction["median.total"], prediction["p05.total"],
        prediction["p95.total"],
    )  # fmt: skip
    # 5-95 % residual quantiles in sample: about 90 % coverage by construction
    assert 0.85 <= scores["coverage90"] <= 0.95


def test_interval_scores_against_hand_computation():
    observed = np.array([10, 20, 30, 40])
    low, high = np.array([5, 25, 25, 0]), np.array([15, 30, 35, 39])
    median = np.array([10, 26, 29, 20])
    scores = interval_scores(observed, median, low, high)
    assert scores["coverage90"] == pytest.approx(2 / 4)
    assert scores["mean_width90"] == pytest.approx((10 + 5 + 10 + 39) / 4)
    assert scores["mae_median"] == pytest.approx((0 + 6 + 1 + 20) / 4)
    # widths 10, 5, 10, 39; misses: 20 is 5 below 25, 40 is 1 above 39; penalty 2 / 0.1 = 20
    assert scores["interval_score90"] == pytest.approx((10 + 5 + 10 + 39 + 20 * 5 + 20 * 1) / 4)
    assert pd.isna(interval_scores([], [], [], [])["coverage90"])
