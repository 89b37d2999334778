"""Observed nights: read and check a nights CSV into a tidy table of counts per class.

The CSV format is the one of `../shared/data/nights-calibration.csv` (its README explains
every column): per night, launched / destroyed / lost counts for the classes drone, cruise,
ballistic, hypersonic and missile_mixed (rows that lump ballistic and cruise missiles).
"Intercepted" as the model reports it is destroyed + lost.

Mixed rows are apportioned to cruise and ballistic by one documented rule, used everywhere
(scenario building, validation, the baselines): launched and intercepted mixed missiles are
split between cruise and ballistic in proportion to that night's itemised cruise and
ballistic launches (half and half when the night itemises neither), rounding so that the
split parts add up to the mixed counts exactly.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from sim.spec.yamlio import ErrorLine, InputError, OptionError

OBSERVED_CLASSES: tuple[str, ...] = ("drone", "cruise", "ballistic", "hypersonic")
RAW_CLASSES: tuple[str, ...] = (*OBSERVED_CLASSES, "missile_mixed")
SCORED: tuple[str, ...] = ("total", *OBSERVED_CLASSES)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "date",
    *(f"{cls}_{what}" for cls in RAW_CLASSES for what in ("launched", "destroyed", "lost")),
)


def _split(count: int, cruise_weight: int, ballistic_weight: int) -> tuple[int, int]:
    """Split `count` into (cruise, ballistic) in proportion to the weights (1:1 if both 0)."""
    if cruise_weight + ballistic_weight == 0:
        cruise_weight = ballistic_weight = 1
    cruise = round(count * cruise_weight / (cruise_weight + ballistic_weight))
    return cruise, count - cruise


def load_nights(path: str | Path) -> pd.DataFrame:
    """Read and check a nights CSV; one row per night with launched/intercepted per class.

    Raises InputError with `FILE:LINE: column: message` for a missing column, a count that
    is not a whole number >= 0, destroyed + lost > launched, or a bad date.
    """
    path = Path(path)
    file = str(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as err:
        raise InputError.single(file, f"cannot read file: {err.strerror or err}") from None
    if not rows:
        raise InputError.single(file, "empty file: expected a header row and nights")
    header = [name.strip() for name in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(
            [ErrorLine(file, 1, column, "required column is missing") for column in missing]
        )
    index = {name: k for k, name in enumerate(header)}
    errors: list[ErrorLine] = []
    records = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            errors.append(ErrorLine(file, line_no, "", f"expected {len(header)} columns"))
            continue
        record: dict[str, object] = {"line": line_no}
        try:
            record["date"] = pd.Timestamp(row[index["date"]].strip())
        except ValueError:
            errors.append(ErrorLine(file, line_no, "date", f"not a date: {row[index['date']]!r}"))
            continue
        for column in REQUIRED_COLUMNS[1:]:
            text = row[index[column]].strip()
            try:
                value = int(text)
            except ValueError:
                errors.append(ErrorLine(file, line_no, column, f"not a whole number: {text!r}"))
                continue
            if value < 0:
                errors.append(ErrorLine(file, line_no, column, f"{value} is negative"))
            record[column] = value
        for cls in RAW_CLASSES:
            keys = [f"{cls}_{w}" for w in ("launched", "destroyed", "lost")]
            if all(k in record for k in keys):
                launched, destroyed, lost = (int(record[k]) for k in keys)  # type: ignore[arg-type]
                if min(launched, destroyed, lost) >= 0 and destroyed + lost > launched:
                    errors.append(
                        ErrorLine(
                            file,
                            line_no,
                            f"{cls}_destroyed",
                            f"destroyed ({destroyed}) + lost ({lost}) exceed launched ({launched})",
                        )
                    )
        records.append(record)
    if errors:
        raise InputError(errors)
    if not records:
        raise InputError.single(file, "no nights in the file")
    return _tidy(pd.DataFrame.from_records(records))


def _tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """Apportion mixed rows and name columns `launched.<cls>`, `intercepted.<cls>`."""
    out = pd.DataFrame({"line": raw["line"], "date": raw["date"]})
    out["quarter"] = raw["date"].dt.to_period("Q").astype(str)
    for cls in OBSERVED_CLASSES:
        out[f"launched.{cls}"] = raw[f"{cls}_launched"].astype(int)
        out[f"intercepted.{cls}"] = (raw[f"{cls}_destroyed"] + raw[f"{cls}_lost"]).astype(int)
        out[f"lost.{cls}"] = raw[f"{cls}_lost"].astype(int)
    mixed_launched = raw["missile_mixed_launched"].astype(int).to_numpy()
    mixed_intercepted = (raw["missile_mixed_destroyed"] + raw["missile_mixed_lost"]).to_numpy()
    for k in np.flatnonzero(mixed_launched):
        weights = int(raw["cruise_launched"].iloc[k]), int(raw["ballistic_launched"].iloc[k])
        for what, count in (("launched", mixed_launched[k]), ("intercepted", mixed_intercepted[k])):
            cruise, ballistic = _split(int(count), *weights)
            out.loc[out.index[k], f"{what}.cruise"] += cruise
            out.loc[out.index[k], f"{what}.ballistic"] += ballistic
    out["launched.total"] = out[[f"launched.{c}" for c in OBSERVED_CLASSES]].sum(axis=1)
    out["intercepted.total"] = out[[f"intercepted.{c}" for c in OBSERVED_CLASSES]].sum(axis=1)
    out["mixed_missiles"] = mixed_launched
    return out.reset_index(drop=True)


def nights_between(
    nights: pd.DataFrame,
    since: dt.date | None = None,
    until: dt.date | None = None,
    *,
    what: str = "nights",
) -> pd.DataFrame:
    """The nights dated `since` (inclusive) to `until` (exclusive); either bound may be open.

    Raises OptionError when no night is left, naming the window, so a fit or a score is never
    silently made on nothing.
    """
    dates = nights["date"].dt.date
    keep = np.ones(len(nights), dtype=bool)
    if since is not None:
        keep &= (dates >= since).to_numpy()
    if until is not None:
        keep &= (dates < until).to_numpy()
    if not keep.any():
        window = f"from {since or 'the start'} until {until or 'the end'}"
        raise OptionError(f"no {what} {window} (the file has {nights['date'].min().date()} to "
                          f"{nights['date'].max().date()})")  # fmt: skip
    return nights[keep].reset_index(drop=True)
