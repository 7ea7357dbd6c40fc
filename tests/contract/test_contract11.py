"""The contract 1.1 claim fields (shared/contract.md "Fields added in version 1.1";
scrubber/contract/claim.py): the example is accepted as written, a JSON/NDJSON round trip keeps every
value, and structural mistakes are refused naming the field, while content (a CLIA or NDC shape, a unit
outside the vocabulary) is left for the rules."""
from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from typing import Any, Callable

import pytest
from fastapi.testclient import TestClient

from scrubber.contract.claim import Claim
from scrubber.intake.items import ndjson_items
from scrubber.intake.parse import ClaimError, claim_from_json, claim_from_object
from scrubber.service.app import create_app
from tests.contract_example import CONTRACT_11_FIELDS, CONTRACT_CLAIM, assert_problem

PROVIDER = {"npi": "1316936223", "taxonomy": "207R00000X", "tax_id": None, "last_name": "Wilson",
            "first_name": "Larry"}


def example_11(change: Callable[[dict], Any] | None = None) -> dict[str, Any]:
    claim = {**copy.deepcopy(CONTRACT_CLAIM), **copy.deepcopy(CONTRACT_11_FIELDS)}
    claim.update(ordering_provider=dict(PROVIDER), supervising_provider=dict(PROVIDER),
                 attending_provider=dict(PROVIDER), operating_provider=dict(PROVIDER),
                 service_facility={"npi": "1003000126", "last_name": "Example Lab"})
    claim["lines"][0].update(ordering_provider=dict(PROVIDER), rendering_provider={"npi": "1679576722"})
    if change is not None:
        change(claim)
    return claim


def refused(claim: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ClaimError) as caught:
        claim_from_object(claim)
    return [(e.field, e.message) for e in caught.value.errors]


def test_the_contract_11_example_is_accepted_as_written():
    claim = claim_from_object({**copy.deepcopy(CONTRACT_CLAIM), **copy.deepcopy(CONTRACT_11_FIELDS)})
    assert claim.clia_number == "05D0642827"
    line = claim.lines[0]
    assert (line.ndc, line.ndc_quantity, line.ndc_unit, line.anesthesia_minutes) == (
        "00641036721", Decimal(1), "ML", None)
    assert (claim.statement_from, claim.statement_to) == (dt.date(2026, 11, 1), dt.date(2026, 11, 3))
    assert (claim.admission_type, claim.admission_source, claim.admission_hour, claim.patient_status) == (
        "1", "7", "13", "01")
    assert claim.condition_codes == ["07"]
    assert [(o.code, o.date) for o in claim.occurrence_codes] == [("11", dt.date(2026, 10, 30))]
    assert [(s.code, s.from_, s.to) for s in claim.occurrence_spans] == [
        ("70", dt.date(2026, 10, 1), dt.date(2026, 10, 5))]
    assert [(v.code, v.amount) for v in claim.value_codes] == [("80", Decimal("2.00"))]
    assert [(p.code, p.date) for p in claim.procedures] == [("0SRC0J9", dt.date(2026, 11, 1))]


def test_a_10_claim_has_empty_11_fields():
    claim = claim_from_object(copy.deepcopy(CONTRACT_CLAIM))
    assert (claim.clia_number, claim.ordering_provider, claim.lines[0].ndc_quantity, claim.condition_codes,
            claim.procedures) == (None, None, None, [], [])


def test_json_round_trip_keeps_every_11_value():
    claim = claim_from_object(example_11())
    dumped = json.loads(claim.model_dump_json())
    assert dumped["occurrence_spans"] == [{"code": "70", "from": "2026-10-01", "to": "2026-10-05"}]  # `from`
    assert dumped["value_codes"] == [{"code": "80", "amount": "2.00"}]
    assert dumped["lines"][0]["ndc_quantity"] == 1
    assert dumped["ordering_provider"] == PROVIDER
    assert dumped["service_facility"]["last_name"] == "Example Lab"
    assert claim_from_json(json.dumps(dumped)) == claim


def test_ndjson_intake_carries_the_11_fields():
    lines = [json.dumps(example_11()).encode(), json.dumps(CONTRACT_CLAIM).encode()]
    first, second = [item.claim for item in ndjson_items(lines)]
    assert first.lines[0].ordering_provider.last_name == "Wilson"
    assert first.occurrence_spans[0].from_ == dt.date(2026, 10, 1)
    assert second.ordering_provider is None


def test_content_is_not_structure_a_bad_clia_ndc_unit_or_condition_code_is_accepted():
    claim = claim_from_object(example_11(lambda c: (c.update(clia_number="CLIA?", condition_codes=["ZZZ"]),
                                                    c["lines"][0].update(ndc_unit="BOX", ndc_quantity=-2))))
    assert (claim.clia_number, claim.condition_codes, claim.lines[0].ndc_unit, claim.lines[0].ndc_quantity) == (
        "CLIA?", ["ZZZ"], "BOX", Decimal(-2))


@pytest.mark.parametrize("change,field,message", [
    (lambda c: c["lines"][0].update(ndc_quantity="1.5"), "lines[0].ndc_quantity",
     "must be a drug quantity (a number), such as 1.5"),
    (lambda c: c["lines"][0].update(ndc_quantity=1.0005), "lines[0].ndc_quantity",
     "must be a drug quantity (a number) with at most 3 decimal places"),
    (lambda c: c["lines"][0].update(anesthesia_minutes=12.5), "lines[0].anesthesia_minutes",
     "must be a number of minutes: a whole number from 0 to 99999"),
    (lambda c: c["lines"][0].update(ndc_unit=1), "lines[0].ndc_unit", "must be text (a string in quotes), got int"),
    (lambda c: c.update(clia_number=5), "clia_number", "must be text (a string in quotes), got int"),
    (lambda c: c.update(statement_from=20261101), "statement_from", "must be a date written as YYYY-MM-DD"),
    (lambda c: c.update(condition_codes="07"), "condition_codes", "must be a valid list"),
    (lambda c: c["occurrence_spans"][0].update({"from": True}), "occurrence_spans[0].from",
     "must be a date written as YYYY-MM-DD"),
    (lambda c: c["occurrence_spans"][0].update(from_="2026-10-01"), "occurrence_spans[0].from_",
     "is not a field of the claim contract"),
    (lambda c: c["value_codes"][0].update(amount=True), "value_codes[0].amount",
     "must be an amount such as \"125.00\", not true/false"),
    (lambda c: c["procedures"][0].update(date="2026-02-30"), "procedures[0].date",
     "'2026-02-30' is not a calendar date"),
    (lambda c: c["ordering_provider"].update(last_name=["W"]), "ordering_provider.last_name",
     "must be text (a string in quotes), got list"),
    (lambda c: c["lines"][0]["rendering_provider"].update(npi_number="1"), "lines[0].rendering_provider.npi_number",
     "is not a field of the claim contract"),
])
def test_a_wrong_type_is_refused_naming_the_field(change, field, message):
    assert refused(example_11(change)) == [(field, message)]


@pytest.mark.parametrize("key,limit", [("condition_codes", 24), ("occurrence_codes", 24), ("occurrence_spans", 24),
                                       ("value_codes", 24), ("procedures", 25)])
def test_lists_are_bounded(key, limit):
    entry = example_11()[key][0]
    assert claim_from_object(example_11(lambda c: c.update({key: [entry] * limit})))
    errors = refused(example_11(lambda c: c.update({key: [entry] * (limit + 1)})))
    assert [field for field, _ in errors] == [key]
    assert str(limit) in errors[0][1]


def test_the_api_answers_422_naming_the_11_field_and_scrubs_the_11_example():
    with TestClient(create_app()) as client:
        body = assert_problem(client.post("/v1/claims/scrub", json=example_11(
            lambda c: c["lines"][0].update(anesthesia_minutes="45"))), 422, "invalid-claim")
        assert body["errors"] == [{"field": "lines[0].anesthesia_minutes",
                                   "message": "must be a number of minutes: a whole number from 0 to 99999"}]
        response = client.post("/v1/claims/scrub", json=example_11())
        assert response.status_code == 200, response.text
        assert response.json()["claim_id"] == "PCN-000123"


def test_model_is_the_documented_schema():
    schema = Claim.model_json_schema(by_alias=True)
    spans = schema["$defs"]["OccurrenceSpan"]["properties"]
    assert set(spans) == {"code", "from", "to"}
    assert schema["properties"]["procedures"]["maxItems"] == 25
