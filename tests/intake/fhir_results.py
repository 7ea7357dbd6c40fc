"""What the FHIR reader gave for one resource, as the FHIR intake tests look at it."""
from __future__ import annotations

from typing import Any

from scrubber.contract.claim import Claim
from scrubber.intake.fhir import read_fhir
from scrubber.intake.parse import ClaimError


def only(results: list) -> Any:
    """The one thing the reader gave (a claim as JSON, or a ClaimError)."""
    assert len(results) == 1
    return results[0][1]


def mapped(resource: dict[str, Any]) -> dict[str, Any]:
    """The claim (as JSON) the reader made of a resource, which the contract accepts."""
    result = only(read_fhir(resource))
    assert isinstance(result, dict), (result, getattr(result, "errors", None))
    Claim.model_validate(result)
    return result


def errors(result: Any) -> list[tuple[str, str]]:
    """(field, message) of each error of a ClaimError."""
    assert isinstance(result, ClaimError), result
    return [(e.field, e.message) for e in result.errors]
