"""Job estimates: how large a night and a job are, checked before any work starts.

A scenario may ask for any number of threats and units, and `-n` for any number of nights; a
night of ten million threats passes validation and then takes gigabytes within seconds. So
the work is estimated first (threats and defence units a night, nights in the job) and a job
beyond a limit is refused as bad input, with the estimate and the limit, unless the user
asks for it with `--allow-large`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from sim.spec.scenario import Scenario
from sim.spec.yamlio import ErrorLine, InputError, load_yaml

# The limits. Each is far beyond every shipped scenario and experiment (the largest real night
# had about 800 threats against about 100 units; the saturation sweep goes to 2,000 drones),
# and below what takes gigabytes or hours on a workstation.
# threats a night: each is an agent with its route and events (10,000,000 took over 4 GB)
MAX_THREATS_PER_NIGHT = 100_000
# defence units a night: each is an agent that every threat is checked against
MAX_UNITS_PER_NIGHT = 10_000
# threat-unit pairs a night (threats x units): the engagement work of one night
MAX_PAIRS_PER_NIGHT = 50_000_000
# nights of one job (design points x replications): each night is a row of runs.parquet
MAX_NIGHTS_PER_JOB = 1_000_000
# the option that lifts every limit
ALLOW_LARGE = "--allow-large"


@dataclass(frozen=True)
class JobEstimate:
    """The size of a job: threats and defence units of its largest night, and its nights."""

    threats: int
    units: int
    nights: int

    @property
    def pairs(self) -> int:
        """Threat-unit pairs a night (the engagement work)."""
        return self.threats * self.units


def estimate_job(scenario: Scenario, nights: int) -> JobEstimate:
    """The size of `nights` nights of `scenario`."""
    threats = sum(group.count for group in scenario.salvo.values())
    units = sum(group.count for group in scenario.defences.values())
    return JobEstimate(threats=threats, units=units, nights=nights)


HINT = f"use {ALLOW_LARGE} to run it anyway"


def nights_beyond(what: str) -> ErrorLine:
    """The refusal of a job of too many nights; `what` says how many and ends with its verb
    (`-n 1,000,000,000 nights is`)."""
    message = f"{what} beyond the limit of {MAX_NIGHTS_PER_JOB:,} nights a job; {HINT}"
    return ErrorLine("salvo", None, "", message)


def check_job(
    scenario: Scenario,
    source: str | Path,
    *,
    nights: int,
    nights_from: str,
    allow_large: bool = False,
) -> JobEstimate:
    """The estimate of the job; InputError (FILE:LINE: field: estimate and limit) if it is
    beyond a limit and not `allow_large`. `source` is the scenario's file (read again for the
    line numbers only when there is something to refuse); `nights_from` names what set the
    nights (`-n`)."""
    estimate = estimate_job(scenario, nights)
    if allow_large:
        return estimate
    errors: list[ErrorLine] = []
    read_source = functools.cache(lambda: load_yaml(source))

    def error(section: str, counts: dict[str, int], message: str) -> None:
        loaded = read_source()
        largest = max(counts, key=lambda name: counts[name])
        path = (section, largest, "count")
        errors.append(
            ErrorLine(loaded.file, loaded.line_of(path), ".".join(path), f"{message}; {HINT}")
        )

    threats = {gid: group.count for gid, group in scenario.salvo.items()}
    units = {uid: group.count for uid, group in scenario.defences.items()}
    night = f"a night of {estimate.threats:,} threats and {estimate.units:,} defence units"
    if estimate.threats > MAX_THREATS_PER_NIGHT:
        error("salvo", threats, f"{night} is beyond the limit of "
              f"{MAX_THREATS_PER_NIGHT:,} threats a night")  # fmt: skip
    if estimate.units > MAX_UNITS_PER_NIGHT:
        error("defences", units, f"{night} is beyond the limit of "
              f"{MAX_UNITS_PER_NIGHT:,} defence units a night")  # fmt: skip
    if not errors and estimate.pairs > MAX_PAIRS_PER_NIGHT:
        error("salvo", threats, f"{night} is {estimate.pairs:,} threat-unit pairs, beyond the "
              f"limit of {MAX_PAIRS_PER_NIGHT:,} a night")  # fmt: skip
    if estimate.nights > MAX_NIGHTS_PER_JOB:
        errors.append(nights_beyond(f"{nights_from} {estimate.nights:,} nights is"))
    if errors:
        raise InputError(errors)
    return estimate


def check_nights(nights: int, what: str, *, allow_large: bool = False) -> None:
    """InputError if a job of `nights` nights (`what` says how they add up, e.g. `-n 10 x
    181 days`) is beyond `MAX_NIGHTS_PER_JOB`, unless `allow_large`."""
    if allow_large or nights <= MAX_NIGHTS_PER_JOB:
        return
    raise InputError([nights_beyond(f"{what} is {nights:,} nights,")])
