"""Observed nights: read and check a nights CSV into a tidy table of counts per class, and the
full monthly counts of such nights (`read_month_counts`).

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

import calendar
import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.spec.yamlio import ErrorLine, InputError, OptionError
from sim.vocab import OBSERVED_CLASSES

# a night of the record: at least this many drones and missiles (`../shared/data/README.md`)
MIN_THREATS = 30
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
    is not a whole number >= 0, destroyed + lost > launched, a bad or repeated date, a
    `total_*` column that disagrees with the classes, a file that is not UTF-8 text or whose
    columns are separated by semicolons. A file saved by a spreadsheet (a UTF-8 byte-order
    mark, CRLF line ends) reads as the same data.
    """
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError.single(file, f"cannot read file: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError.single(
            file, f"not a UTF-8 text file (byte {err.start}): expected a CSV of nights"
        ) from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise InputError.single(file, "empty file: expected a header row and nights")
    if len(rows[0]) == 1 and rows[0][0].count(";") >= 2:
        raise InputError(
            [ErrorLine(file, 1, "", "the columns are separated by ';': salvo reads comma-"
                       "separated files (save the sheet as CSV with commas)")]
        )  # fmt: skip
    header = [name.strip() for name in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(
            [ErrorLine(file, 1, column, "required column is missing") for column in missing]
        )
    index = {name: k for k, name in enumerate(header)}
    errors: list[ErrorLine] = []
    records = []
    seen: dict[pd.Timestamp, int] = {}
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
        if record["date"] in seen:
            errors.append(
                ErrorLine(file, line_no, "date", f"{row[index['date']].strip()} is given twice "
                          f"(first on line {seen[record['date']]})")  # type: ignore[index]
            )  # fmt: skip
            continue
        seen[record["date"]] = line_no  # type: ignore[index]
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
        errors += _total_errors(file, line_no, row, index, record)
        records.append(record)
    if errors:
        raise InputError(errors)
    if not records:
        raise InputError.single(file, "no nights in the file")
    return _tidy(pd.DataFrame.from_records(records))


def _total_errors(
    file: str, line: int, row: list[str], index: dict[str, int], record: dict[str, object]
) -> list[ErrorLine]:
    """`total_launched`, `total_destroyed`, `total_lost` (where the file has them) must be the
    sums of the classes' columns."""
    errors = []
    for what in ("launched", "destroyed", "lost"):
        column = f"total_{what}"
        keys = [f"{cls}_{what}" for cls in RAW_CLASSES]
        if column not in index or not all(k in record for k in keys):
            continue
        text = row[index[column]].strip()
        expected = sum(int(record[k]) for k in keys)  # type: ignore[call-overload]
        try:
            value = int(text)
        except ValueError:
            errors.append(ErrorLine(file, line, column, f"not a whole number: {text!r}"))
            continue
        if value != expected:
            errors.append(
                ErrorLine(file, line, column, f"{value} is not the sum of the classes' "
                          f"{what} counts ({expected})")
            )  # fmt: skip
    return errors


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


def days_in_month(month: str) -> int:
    """Days in a month given as YYYY-MM."""
    year, mon = (int(x) for x in month.split("-"))
    return calendar.monthrange(year, mon)[1]


_HEADING = re.compile(r"^##\s+full monthly counts", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


# --------------------------------------------------------------------------- monthly counts


@dataclass(frozen=True)
class MonthCount:
    """One month of the full record: nights with >= 30 threats and the threats on them."""

    month: str  # YYYY-MM, by the date of the report
    nights: int
    threats: int
    in_sample: int | None = None  # of those nights in the calibration CSV, if the file says
    line: int | None = None  # where it was read


@dataclass(frozen=True)
class MonthCounts:
    """The full monthly counts of one file, keyed by month (`YYYY-MM`)."""

    source: str
    sha256: str
    months: dict[str, MonthCount]

    def __contains__(self, month: object) -> bool:
        return month in self.months

    def __getitem__(self, month: str) -> MonthCount:
        return self.months[month]

    def __len__(self) -> int:
        return len(self.months)


def _whole(text: str) -> int:
    """A whole number as written in a table: `1,656`, `1 656`, `1_656` or `1656`."""
    cleaned = re.sub(r"[,_\s\u202f\u2009\u00a0]", "", text)
    if not re.fullmatch(r"[+-]?\d+", cleaned):
        raise ValueError(f"not a whole number: {text.strip()!r}")
    return int(cleaned)


def _check_row(
    file: str, line: int, cells: dict[str, str], seen: dict[str, int], errors: list[ErrorLine]
) -> MonthCount | None:
    """Validate one row (`month`, `nights`, `threats`, optional `in_sample`) of either format."""
    month = cells["month"].strip()
    found = _MONTH.match(month)
    if not found or not 1 <= int(found.group(2)) <= 12:
        errors.append(
            ErrorLine(file, line, "month", f"expected a month such as 2025-09, got {month!r}")
        )
        return None
    if month in seen:
        errors.append(
            ErrorLine(file, line, "month", f"{month} is given twice (first on line {seen[month]})")
        )
        return None
    seen[month] = line
    values: dict[str, int | None] = {}
    for column in ("nights", "threats", "in_sample"):
        text = cells.get(column)
        if text is None or (column == "in_sample" and not text.strip()):
            values[column] = None
            continue
        try:
            values[column] = _whole(text)
        except ValueError as err:
            errors.append(ErrorLine(file, line, column, str(err)))
            return None
        if values[column] < 0:  # type: ignore[operator]
            errors.append(ErrorLine(file, line, column, f"{values[column]} is negative"))
            return None
    nights, threats, in_sample = values["nights"], values["threats"], values["in_sample"]
    assert nights is not None and threats is not None
    days = days_in_month(month)
    if nights > days:
        errors.append(
            ErrorLine(file, line, "nights", f"{nights} nights in {month}, which has {days} days")
        )
        return None
    if threats < MIN_THREATS * nights:
        errors.append(
            ErrorLine(
                file, line, "threats",
                f"{threats} threats on {nights} nights of at least {MIN_THREATS} threats each "
                f"(at least {MIN_THREATS * nights})",
            )
        )  # fmt: skip
        return None
    if in_sample is not None and in_sample > nights:
        errors.append(ErrorLine(file, line, "in_sample", f"{in_sample} sampled of {nights} nights"))
        return None
    return MonthCount(month, nights, threats, in_sample, line)


def _read_csv_counts(
    file: str, text: str
) -> tuple[list[tuple[int, dict[str, str]]], list[ErrorLine]]:
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return [], [
            ErrorLine(file, None, "", "empty file: expected a header `month,nights,threats`")
        ]
    header = [name.strip().lower() for name in rows[0]]
    missing = [c for c in ("month", "nights", "threats") if c not in header]
    if missing:
        return [], [ErrorLine(file, 1, c, "required column is missing") for c in missing]
    out = []
    errors = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            errors.append(
                ErrorLine(file, line, "", f"expected {len(header)} columns, got {len(row)}")
            )
            continue
        out.append((line, dict(zip(header, row, strict=True))))
    return out, errors


def _table_cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") else body
    return [cell.strip() for cell in body.split("|")]


def _read_markdown_counts(
    file: str, text: str
) -> tuple[list[tuple[int, dict[str, str]]], list[ErrorLine]]:
    lines = text.splitlines()
    start = next((k for k, line in enumerate(lines) if _HEADING.match(line.strip())), None)
    if start is None:
        return [], [ErrorLine(file, None, "", "no '## Full monthly counts' section")]
    header_at = None
    for k in range(start + 1, len(lines)):
        stripped = lines[k].strip()
        if stripped.startswith("## "):
            break
        if stripped.startswith("|"):
            header_at = k
            break
    if header_at is None:
        where = ErrorLine(file, start + 1, "", "no table under '## Full monthly counts'")
        return [], [where]
    names = [cell.lower() for cell in _table_cells(lines[header_at])]
    roles: dict[str, int] = {}
    for k, name in enumerate(names):
        if name == "month":
            roles.setdefault("month", k)
        elif "csv" in name or "sample" in name:
            roles.setdefault("in_sample", k)
        elif "nights" in name:
            roles.setdefault("nights", k)
        elif "threats" in name:
            roles.setdefault("threats", k)
    missing = [c for c in ("month", "nights", "threats") if c not in roles]
    if missing:
        return [], [
            ErrorLine(file, header_at + 1, c, "no such column in the table's header")
            for c in missing
        ]
    if header_at + 1 >= len(lines) or not re.fullmatch(
        r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?", lines[header_at + 1].strip()
    ):
        return [], [ErrorLine(file, header_at + 2, "", "expected the table's |---| separator row")]
    out, errors = [], []
    for k in range(header_at + 2, len(lines)):
        if not lines[k].strip().startswith("|"):
            break
        cells = _table_cells(lines[k])
        if len(cells) != len(names):
            errors.append(
                ErrorLine(file, k + 1, "", f"expected {len(names)} cells, got {len(cells)}")
            )
            continue
        out.append((k + 1, {role: cells[index] for role, index in roles.items()}))
    if not out and not errors:
        errors.append(ErrorLine(file, header_at + 1, "", "the table has no rows"))
    return out, errors


def read_month_counts(path: str | Path) -> MonthCounts:
    """Read the full monthly counts of nights with >= 30 threats and the threats on them.

    A `.csv` file has the header `month,nights,threats` (and optionally `in_sample`); any
    other file is read as Markdown: the first table under the heading `## Full monthly counts`
    (as in `../shared/data/README.md`), its columns found by their headers (`month`, one with
    "nights", one with "threats", and one naming the CSV for the sampled nights). Thousands
    separators are allowed. Raises InputError (`FILE:LINE: column: message`) on bad input: an
    unreadable file, a missing section, table or column, a bad month, a repeated month, a
    count that is not a whole number >= 0, more nights than days, fewer threats than 30 per
    night, or more sampled nights than nights.
    """
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        message = getattr(err, "strerror", None) or str(err)
        raise InputError.single(file, f"cannot read file: {message}") from None
    reader = _read_csv_counts if path.suffix.lower() == ".csv" else _read_markdown_counts
    rows, errors = reader(file, text)
    seen: dict[str, int] = {}
    months: dict[str, MonthCount] = {}
    for line, cells in rows:
        row = _check_row(file, line, cells, seen, errors)
        if row is not None:
            months[row.month] = row
    if errors:
        raise InputError(errors)
    if not months:
        raise InputError.single(file, "no months in the file")
    ordered = dict(sorted(months.items()))
    return MonthCounts(source=file, sha256=hashlib.sha256(raw).hexdigest(), months=ordered)
