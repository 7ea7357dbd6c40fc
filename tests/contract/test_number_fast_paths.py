"""Whole numbers and ISO date strings, the usual values of a claim, are read by a short path first
(scrubber/contract/claim.py): at the edges of each range they are accepted and refused exactly as the
general path does."""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

from scrubber.intake.parse import ClaimError, claim_from_object
from tests.contract_example import CONTRACT_CLAIM


def _line(**fields) -> dict:
    claim = copy.deepcopy(CONTRACT_CLAIM)
    claim["lines"][0].update(fields)
    return claim


def _errors(claim: dict) -> list[tuple[str, str]]:
    with pytest.raises(ClaimError) as caught:
        claim_from_object(claim)
    return [(e.field, e.message) for e in caught.value.errors]


@pytest.mark.parametrize("units", [0, 1, 9_999_999, -9_999_999])
def test_whole_units_inside_the_range_are_exact_decimals(units):
    line = claim_from_object(_line(units=units)).lines[0]
    assert line.units == Decimal(units) and line.units.as_tuple().exponent == 0


@pytest.mark.parametrize("units", [10_000_000, -10_000_000, 10**30])
def test_whole_units_outside_the_range_are_refused(units):
    assert _errors(_line(units=units)) == [("lines[0].units", "must be a number of units below 10,000,000")]


def test_true_is_not_a_number_of_units():
    assert _errors(_line(units=True)) == [("lines[0].units", "must be a number of units, such as 1")]


@pytest.mark.parametrize("number", [1, 999_999])
def test_line_numbers_at_the_ends_of_the_range_are_kept(number):
    assert claim_from_object(_line(line_number=number)).lines[0].line_number == number


@pytest.mark.parametrize("number", [0, 1_000_000, True])
def test_line_numbers_outside_the_range_are_refused(number):
    assert _errors(_line(line_number=number)) == [
        ("lines[0].line_number", "must be a line number: a whole number from 1 to 999999")]


def test_an_iso_date_string_is_a_date_and_a_bad_one_is_named():
    assert claim_from_object(_line(service_date="2026-02-28")).lines[0].service_date == dt.date(2026, 2, 28)
    assert _errors(_line(service_date="2026-02-30")) == [
        ("lines[0].service_date", "'2026-02-30' is not a calendar date")]
    assert _errors(_line(service_date="2026-2-28")) == [
        ("lines[0].service_date", "must be a date written as YYYY-MM-DD")]


@pytest.mark.parametrize(("charge", "expected"), [(" 125.5 ", Decimal("125.50")), ("-0.01", Decimal("-0.01")),
                                                    ("999999999.99", Decimal("999999999.99"))])
def test_money_strings_are_trimmed_and_read_to_the_cent(charge, expected):
    line = claim_from_object(_line(charge=charge)).lines[0]
    assert line.charge == expected and line.charge.as_tuple().exponent == -2
