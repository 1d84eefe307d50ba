"""What a refused /api/v1 request answers: an HTTP status and a `<failureDetails>` (§4.6)."""
from __future__ import annotations

from dataclasses import dataclass, field

# parameterError `error` values: the document's two (§6.11), and ours for an absent one
INVALID = 'invalidValue'
TOO_LONG = 'valueTooLong'
MISSING = 'missing'


@dataclass(frozen=True)
class ParameterError:
    parameter: str
    error: str = INVALID


@dataclass(eq=False)   # an exception stays hashable
class CiscoError(Exception):
    """`status` with `<failureDetails>` naming `reason` (e.g. dialTransformDoesNotExist) and
    any parameter errors."""
    status: int
    reason: str | None = None
    params: list[ParameterError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


def parameter_errors(errors: list[ParameterError]) -> CiscoError:
    return CiscoError(400, params=errors)
