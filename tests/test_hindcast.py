"""A campaign against the observed months (sim.analysis.hindcast, `salvo campaign --observed`):
monthly sums and pooled rates against hand computations, the observed side from a nights CSV
and the full monthly counts, the 90 % band, and the command's files and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import DPI, call, night_row, png_size, write_nights_csv

from sim.analysis.hindcast import (
    ALL,
    compare_months,
    format_hindcast,
    hindcast,
    observed_months,
    simulated_months,
)
from sim.spec.observed import load_nights, read_month_counts

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = ROOT / "tests" / "data" / "campaign-small.yaml"  # 12 days from 2025-09-01
CLASSES = ("drone", "decoy", "cruise", "ballistic", "hypersonic")


def nights_table(rows: list[tuple[int, str, dict[str, tuple[int, int]]]]) -> pd.DataFrame:
    """A nights.parquet-like table from (replication, date, {class: (launched, intercepted)})."""
    records = []
    for replication, date, counts in rows:
        record = {"replication": replication, "date": pd.Timestamp(date)}
        for cls in CLASSES:
            launched, intercepted = counts.get(cls, (0, 0))
            record[f"launched.{cls}"] = launched
            record[f"intercepted.{cls}"] = intercepted
        record["launched"] = sum(record[f"launched.{c}"] for c in CLASSES)
        records.append(record)
    return pd.DataFrame(records)


NIGHTS = nights_table(
    [
        (0, "2025-09-01", {"drone": (40, 36), "decoy": (20, 20), "ballistic": (4, 1)}),
        (0, "2025-09-02", {"drone": (20, 20)}),  # fewer than 30 threats: not a night
        (0, "2025-10-01", {"drone": (100, 80), "cruise": (10, 5)}),
        (1, "2025-09-01", {"drone": (50, 40), "ballistic": (2, 2)}),
        (1, "2025-09-02", {"drone": (30, 27)}),
        (1, "2025-10-01", {"drone": (29, 29)}),  # not a night
    ]
)


def test_simulated_months_sum_the_nights_of_at_least_30_threats() -> None:
    table = simulated_months(NIGHTS).set_index(["replication", "month"])
    r0_sep = table.loc[(0, "2025-09")]
    assert r0_sep["nights"] == 1 and r0_sep["threats"] == 64
    assert r0_sep["launched.drone_rate"] == 60 and r0_sep["intercepted.drone_rate"] == 56
    assert r0_sep["launched.ballistic_rate"] == 4 and r0_sep["intercepted.ballistic_rate"] == 1
    r1_sep = table.loc[(1, "2025-09")]
    assert r1_sep["nights"] == 2 and r1_sep["threats"] == 82
    assert table.loc[(1, "2025-10")]["nights"] == 0  # the month is there, with nothing in it
    pooled = table.loc[(0, ALL)]
    assert pooled["threats"] == 64 + 110 and pooled["launched.missile_rate"] == 14
    assert pooled["intercepted.missile_rate"] == 6


def test_compare_months_gives_quantiles_over_replications_and_the_verdict() -> None:
    simulated = simulated_months(NIGHTS)
    observed = pd.DataFrame(
        [
            {"month": "2025-09", "drone_rate": 0.9, "missile_rate": 0.5, "ballistic_rate": 0.5,
             "threats": 90.0, "nights": 1.0},
            {"month": "2025-10", "drone_rate": 0.5, "missile_rate": np.nan,
             "ballistic_rate": np.nan, "threats": np.nan, "nights": np.nan},
            {"month": ALL, "drone_rate": 0.85, "missile_rate": 0.5, "ballistic_rate": 0.5,
             "threats": 200.0, "nights": 3.0},
        ]
    )  # fmt: skip
    table = compare_months(simulated, observed).set_index(["month", "metric"])
    # drone rate in September: replication 0 56/60, replication 1 (40 + 27)/80
    values = np.array([56 / 60, 67 / 80])
    row = table.loc[("2025-09", "drone_rate")]
    np.testing.assert_allclose([row.p05, row.p50, row.p95], np.quantile(values, [0.05, 0.5, 0.95]))
    assert row.inside  # 0.9 lies between 0.838 and 0.932
    assert not table.loc[("2025-09", "threats")].inside  # 90 against 64 and 82: 64.9-81.1
    # October: replication 1 launched nothing that counts, so only replication 0's rate is used
    assert table.loc[("2025-10", "drone_rate")].replications == 1
    assert pd.isna(table.loc[("2025-10", "threats")].inside)  # no observed value
    assert list(dict.fromkeys(table.index.get_level_values("month"))) == ["2025-09", "2025-10", ALL]


def test_observed_months_take_rates_from_the_sample_and_counts_from_the_full_record(
    tmp_path: Path,
) -> None:
    csv = write_nights_csv(
        tmp_path,
        [
            night_row("2025-09-03", drone_launched=100, drone_destroyed=80, drone_lost=10,
                      ballistic_launched=4, ballistic_destroyed=1),
            night_row("2025-09-20", drone_launched=50, drone_destroyed=45),
            night_row("2025-09-21", drone_launched=20, drone_destroyed=0),  # < 30: left out
            night_row("2025-10-02", drone_launched=60, drone_destroyed=30),
        ],
    )  # fmt: skip
    counts_file = tmp_path / "counts.csv"
    counts_file.write_text("month,nights,threats\n2025-09,25,3000\n2025-10,30,4000\n")
    observed = observed_months(
        load_nights(csv), ["2025-09", "2025-10"], read_month_counts(counts_file)
    ).set_index("month")
    assert observed.loc["2025-09", "drone_rate"] == pytest.approx(135 / 150)
    assert observed.loc["2025-09", "ballistic_rate"] == pytest.approx(0.25)
    assert observed.loc["2025-09", "sample_nights"] == 2
    assert observed.loc["2025-10", "threats"] == 4000 and observed.loc[ALL, "nights"] == 55
    assert observed.loc[ALL, "drone_rate"] == pytest.approx(165 / 210)
    without = observed_months(load_nights(csv), ["2025-09"]).set_index("month")
    assert np.isnan(without.loc["2025-09", "threats"])


@pytest.fixture(scope="module")
def observed_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("observed")
    return write_nights_csv(
        folder,
        [night_row(f"2025-09-{d:02d}", drone_launched=80 + d, drone_destroyed=70,
                   cruise_launched=4, cruise_destroyed=3) for d in range(1, 13)],
    )  # fmt: skip


def test_campaign_observed_writes_hindcast_and_its_figure(
    observed_csv: Path, tmp_path: Path
) -> None:
    counts = tmp_path / "counts.md"
    counts.write_text(
        "# data\n\n## Full monthly counts\n\n| month | nights | threats |\n|---|---|---|\n"
        "| 2025-09 | 29 | 4,000 |\n"
    )
    out = tmp_path / "hc"
    argv = ["campaign", str(CAMPAIGN), "--out", str(out), "-n", "3", "-w", "1",
            "--observed", str(observed_csv), "--month-counts", str(counts)]  # fmt: skip
    code, stdout, stderr = call(argv)
    assert code == 0, stderr
    table = pd.read_csv(out / "hindcast.csv")
    assert set(table["month"]) == {"2025-09", ALL}
    assert table.loc[table["metric"] == "threats", "observed"].tolist() == [4000.0, 4000.0]
    drone = table[(table["month"] == "2025-09") & (table["metric"] == "drone_rate")].iloc[0]
    assert drone["observed"] == pytest.approx(12 * 70 / sum(80 + d for d in range(1, 13)))
    assert "drone intercept rate:" in stdout and "12 of 30 days" in stdout
    code, stdout, _ = call([*argv, "--resume", "-q"])  # quiet: only the files
    assert code == 0 and "drone intercept rate" not in stdout and "hindcast.csv" in stdout
    # the library call without the full counts: the same simulated side, no observed counts
    again = hindcast(out, load_nights(observed_csv), write=False)
    rates = again["metric"].str.endswith("_rate")
    np.testing.assert_allclose(again.loc[rates, "p50"], table.loc[rates, "p50"])
    assert again.loc[~rates, "observed"].isna().all()
    code, stdout, stderr = call(["plot", str(out), "--dpi", str(DPI)])
    assert code == 0, stderr
    figure = out / "figures" / "campaign-hindcast.png"
    assert str(figure) in stdout and png_size(figure)[0] > 0


def test_campaign_observed_bad_input_runs_nothing(observed_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "never"
    base = ["campaign", str(CAMPAIGN), "--out", str(out), "-n", "2", "-w", "1", "-q"]
    code, _, stderr = call([*base, "--month-counts", str(observed_csv)])
    assert code == 2 and "--month-counts goes with --observed" in stderr
    late = write_nights_csv(tmp_path, [night_row("2026-05-01", drone_launched=50)])
    code, _, stderr = call([*base, "--observed", str(late)])
    assert code == 2 and "no observed nights in the campaign" in stderr
    broken = tmp_path / "broken.csv"
    shutil.copy(observed_csv, broken)
    broken.write_text(broken.read_text().replace("2025-09-03", "2025-09-3x"))
    code, _, stderr = call([*base, "--observed", str(broken)])
    assert code == 2 and f"{broken}:4: date" in stderr
    assert not out.exists()


def test_format_hindcast_counts_months_inside() -> None:
    simulated = simulated_months(NIGHTS)
    observed = pd.DataFrame(
        [{"month": m, "drone_rate": 0.9, "missile_rate": 0.5, "ballistic_rate": 0.5,
          "threats": 70.0, "nights": 1.0} for m in ("2025-09", "2025-10", ALL)]
    )  # fmt: skip
    text = format_hindcast(compare_months(simulated, observed))
    assert "drone intercept rate: 1 of 2 months inside the 90 % band" in text
    assert "OUTSIDE" in text and "inside" in text
