"""The field types every file format uses: numbers, probabilities, coordinates, the model base.

Scenario, campaign and experiment files share these, so they are defined once. All are
strict: YAML's `yes`/`on`/`true` are booleans, never a count or a probability, a quoted
number is text, and a number must be finite.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Base for every file model: unknown keys are errors, values are validated on assignment,
    and every number is finite (YAML's `.inf` and `.nan` are errors, not a radius or a speed)."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )


# the name of a scenario, campaign or experiment: it names the default results folder
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0.0, le=1.0, strict=True, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0.0, strict=True, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0.0, strict=True, allow_inf_nan=False)]
NonNegInt = Annotated[int, Field(ge=0, strict=True)]
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, strict=True, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0, strict=True, allow_inf_nan=False)]
LonLat = tuple[Longitude, Latitude]
# names with equal weights, or a mapping name -> weight (launch sites, targets of a salvo group)
Weights = list[str] | dict[str, NonNegFloat]
