"""The claim contract's structural validation (shared/contract.md, scrubber/intake/parse.py, scrubber/contract/claim.py).

Structure only: wrong types, unknown claim_type, missing lines are refused with every bad field
named at once; content problems are left for the rules.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from typing import Any, Callable

import pytest

from scrubber.contract.claim import Claim
from scrubber.intake.parse import ClaimError, claim_from_json, claim_from_object
from tests.contract_example import CONTRACT_CLAIM as CONTRACT_EXAMPLE



def example(change: Callable[[dict], Any] | None = None) -> dict:
    claim = copy.deepcopy(CONTRACT_EXAMPLE)
    if change is not None:
        change(claim)
    return claim


def refused(claim: dict) -> ClaimError:
    with pytest.raises(ClaimError) as caught:
        claim_from_object(claim)
    return caught.value


def refused_text(text: str) -> ClaimError:
    with pytest.raises(ClaimError) as caught:
        claim_from_json(text)
    return caught.value


def fields_of(error: ClaimError) -> set[str]:
    return {e.field for e in error.errors}


# ----------------------------------------------------------------------------- a valid claim


def test_contract_example_parses_from_json_text():
    claim = claim_from_json(json.dumps(CONTRACT_EXAMPLE))

    assert isinstance(claim, Claim)
    assert claim.claim_id == "PCN-000123"
    assert claim.claim_type == "professional"
    assert claim.submission_date == dt.date(2026, 11, 27)
    assert claim.patient.birth_date == dt.date(1950, 3, 14)
    assert [d.code for d in claim.diagnoses] == ["E11.9", "I10"]
    line = claim.lines[0]
    assert line.charge == Decimal("125.00")
    assert line.service_date == dt.date(2026, 11, 1)
    assert line.diagnosis_pointers == [1, 2]
    assert line.modifiers == ["25"]
    assert claim.total_charge == Decimal("125.00")


def test_contract_example_parses_from_object():
    claim = claim_from_object(example())

    assert claim.billing_provider.npi == "1912301953"
    assert claim.place_of_service == "11"
    assert claim.lines[0].units == Decimal(1)


# ----------------------------------------------------------------------------- dates


def test_boolean_birth_date_is_refused():
    error = refused(example(lambda c: c["patient"].update(birth_date=True)))

    assert fields_of(error) == {"patient.birth_date"}
    assert "YYYY-MM-DD" in error.errors[0].message


def test_integer_service_date_is_refused():
    error = refused(example(lambda c: c["lines"][0].update(service_date=20260101)))

    assert fields_of(error) == {"lines[0].service_date"}
    assert "YYYY-MM-DD" in error.errors[0].message


def test_impossible_calendar_date_is_refused():
    error = refused(example(lambda c: c["lines"][0].update(service_date="2026-02-30")))

    assert [(e.field, e.message) for e in error.errors] == [
        ("lines[0].service_date", "'2026-02-30' is not a calendar date")]


def test_date_with_a_time_is_refused():
    error = refused(example(lambda c: c.update(submission_date="2026-11-27T10:00:00")))

    assert fields_of(error) == {"submission_date"}


# ----------------------------------------------------------------------------- whole numbers


@pytest.mark.parametrize("text", ["1e30", "1E+400", "-1e30"])
def test_a_huge_json_number_as_a_line_number_is_refused_not_a_crash(text):
    """Decimal("1E+30") // 1 raises InvalidOperation: the range is checked first (a batch answered
    an empty body for such a line before)."""
    body = json.dumps(example()).replace('"line_number": 1', f'"line_number": {text}', 1)

    error = refused_text(body)

    assert [(e.field, e.message) for e in error.errors] == [
        ("lines[0].line_number", "must be a line number: a whole number from 1 to 999999")]


# ----------------------------------------------------------------------------- money


def test_boolean_charge_is_refused():
    error = refused(example(lambda c: c["lines"][0].update(charge=True)))

    assert fields_of(error) == {"lines[0].charge"}
    assert "not true/false" in error.errors[0].message


@pytest.mark.parametrize("amount, expected", [
    (125, Decimal("125.00")),
    (125.5, Decimal("125.50")),
    (Decimal("125.55"), Decimal("125.55")),
    ("125", Decimal("125.00")),
    ("125.5", Decimal("125.50")),
    ("125.55", Decimal("125.55")),
    ("0.00", Decimal("0.00")),
])
def test_numbers_and_decimal_strings_with_at_most_two_places_are_money(amount, expected):
    claim = claim_from_object(example(lambda c: c["lines"][0].update(charge=amount)))

    assert claim.lines[0].charge == expected


def test_json_number_with_two_places_is_money():
    claim = claim_from_json(json.dumps(example()).replace('"charge": "125.00"', '"charge": 125.50'))

    assert claim.lines[0].charge == Decimal("125.50")


@pytest.mark.parametrize("amount", ["125.505", 125.505, Decimal("125.505")])
def test_amount_with_three_decimal_places_is_refused(amount):
    error = refused(example(lambda c: c["lines"][0].update(charge=amount)))

    assert fields_of(error) == {"lines[0].charge"}
    assert "at most 2 decimal places" in error.errors[0].message


def test_json_number_with_three_decimal_places_is_refused():
    text = json.dumps(example()).replace('"total_charge": "125.00"', '"total_charge": 125.505')

    with pytest.raises(ClaimError) as caught:
        claim_from_json(text)

    assert fields_of(caught.value) == {"total_charge"}


def test_money_with_non_ascii_digits_is_refused():
    error = refused(example(lambda c: c["lines"][0].update(charge="\uff11\uff12\uff15.00")))  # "１２５.00"

    assert fields_of(error) == {"lines[0].charge"}


# ----------------------------------------------------------------------------- claim shape


def test_unknown_claim_type_is_refused():
    error = refused(example(lambda c: c.update(claim_type="dental")))

    assert [(e.field, e.message) for e in error.errors] == [
        ("claim_type", "must be 'professional' or 'institutional'")]


def test_missing_lines_is_refused():
    error = refused(example(lambda c: c.pop("lines")))

    assert [(e.field, e.message) for e in error.errors] == [("lines", "is required")]


def test_empty_lines_list_is_refused():
    error = refused(example(lambda c: c.update(lines=[])))

    assert fields_of(error) == {"lines"}


def test_unknown_top_level_field_is_refused():
    error = refused(example(lambda c: c.update(patient_name="Ann Lee")))

    assert [(e.field, e.message) for e in error.errors] == [
        ("patient_name", "is not a field of the claim contract")]


def test_unknown_field_on_a_line_is_refused_with_its_path():
    error = refused(example(lambda c: c["lines"][0].update(cpt="99213")))

    assert fields_of(error) == {"lines[0].cpt"}


def test_every_bad_field_is_reported_at_once():
    def break_many(c: dict) -> None:
        c["claim_type"] = "dental"
        c["patient"]["birth_date"] = True
        c["lines"][0]["units"] = "one"
        c["lines"][0]["charge"] = True
        c["lines"].append({**c["lines"][0], "units": 1, "charge": "10.00", "service_date": 20260101,
                           "line_number": 2})
        c["total_charge"] = "1.234"

    error = refused(example(break_many))

    assert fields_of(error) == {"claim_type", "patient.birth_date", "lines[0].units", "lines[0].charge",
                                "lines[1].service_date", "total_charge"}
    assert error.detail == "6 fields of the claim are invalid"


def test_non_json_text_is_a_claim_error():
    with pytest.raises(ClaimError) as caught:
        claim_from_json("claim_type=professional")

    assert caught.value.detail.startswith("the body is not valid JSON")


def test_json_that_is_not_an_object_is_a_claim_error():
    with pytest.raises(ClaimError) as caught:
        claim_from_json("[1, 2]")

    assert [(e.field, e.message) for e in caught.value.errors] == [("(body)", "must be a JSON object")]


def test_place_of_service_as_a_number_is_refused():
    error = refused(example(lambda c: c.update(place_of_service=11)))

    assert [(e.field, e.message) for e in error.errors] == [
        ("place_of_service", "must be text (a string in quotes), got int")]


def test_line_place_of_service_as_a_number_is_refused():
    error = refused(example(lambda c: c["lines"][0].update(place_of_service=11)))

    assert fields_of(error) == {"lines[0].place_of_service"}


# ----------------------------------------------------------------------------- diagnosis pointers


def test_diagnosis_pointers_accept_integers_letters_and_digit_strings():
    claim = claim_from_object(example(lambda c: c["lines"][0].update(
        diagnosis_pointers=[1, "A", "L", "2"])))

    assert claim.lines[0].diagnosis_pointers == [1, "A", "L", "2"]


@pytest.mark.parametrize("pointer", [True, 1.5, None, {"dx": 1}])
def test_diagnosis_pointer_that_is_neither_number_nor_text_is_refused_once(pointer):
    error = refused(example(lambda c: c["lines"][0].update(diagnosis_pointers=[1, pointer])))

    assert [(e.field, e.message) for e in error.errors] == [
        ("lines[0].diagnosis_pointers[1]", "must be a diagnosis number (1-12) or letter (A-L)")]
