"""Example claims in rule files: completed from a clean claim, so an example names only what matters.

An example passes when its rule fires exactly if the rule's id is in `expect`, and every other
id listed in `expect` fires too.
"""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

BASE_CLAIM: dict[str, Any] = {
    "claim_id": "EXAMPLE-1",
    "claim_type": "professional",
    "frequency_code": "1",
    "submission_date": "2026-01-15",
    "payer": {"id": "medicare", "name": "Medicare Part B"},
    "patient": {"member_id": "1EG4TE5MK73", "first_name": "Pat", "last_name": "Example",
                "birth_date": "1970-01-01", "sex": "F"},
    "billing_provider": {"npi": "1234567893", "taxonomy": "207Q00000X", "tax_id": "123456789"},
    "place_of_service": "11",
    "diagnoses": [{"code": "I10"}],
}
BASE_LINE: dict[str, Any] = {
    "procedure_code": "99213", "modifiers": [], "units": 1, "charge": "100.00",
    "service_date": "2026-01-05", "diagnosis_pointers": [1],
}
EXAMPLE_TODAY = dt.date(2026, 1, 15)  # examples never depend on the day they are run
_MERGED = ("payer", "patient", "billing_provider", "rendering_provider", "referring_provider")


def complete_claim(partial: dict[str, Any]) -> dict[str, Any]:
    """The example's claim over a clean base claim: named blocks merge, lines merge over a clean
    line, total_charge defaults to the sum of the line charges, and null removes a value."""
    claim = copy.deepcopy(BASE_CLAIM)
    for key, value in partial.items():
        if key in _MERGED and isinstance(value, dict) and isinstance(claim.get(key), dict):
            claim[key] = {**claim[key], **value}
        elif key == "lines" and isinstance(value, list):
            claim["lines"] = [{**BASE_LINE, **line} if isinstance(line, dict) else line for line in value]
        else:
            claim[key] = value
    claim.setdefault("lines", [dict(BASE_LINE)])
    if "total_charge" not in partial:
        try:
            claim["total_charge"] = str(sum(Decimal(str(line["charge"])) for line in claim["lines"]))
        except Exception:  # a malformed charge: the claim model reports it
            pass
    return _drop_nulls(claim)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value
