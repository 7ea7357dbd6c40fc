"""Canonical form of a parsed claim (scrubber/pipeline/normalise.py)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from scrubber.contract.claim import Claim
from scrubber.pipeline.normalise import normalise
from scrubber.intake.parse import claim_from_object

TODAY = dt.date(2026, 2, 3)


def normalised(*, diagnoses: list[str] | None = None, lines: list[dict] | None = None,
               **claim: Any) -> Claim:
    data = {"claim_type": "professional", "submission_date": "2026-01-15",
            "diagnoses": [{"code": c} for c in (diagnoses or ["I10"])],
            "lines": lines if lines is not None else [{"procedure_code": "99213"}], **claim}
    data = {k: v for k, v in data.items() if v is not None}
    return normalise(claim_from_object(data), today=TODAY)


# ----------------------------------------------------------------------------- ICD-10-CM codes


@pytest.mark.parametrize("sent, canonical", [
    ("E119", "E11.9"),
    ("e11.9", "E11.9"),
    ("e119", "E11.9"),
    ("E11.9", "E11.9"),
    ("I10", "I10"),
    ("i10", "I10"),
    ("s72.001a", "S72.001A"),
    ("S72001A", "S72.001A"),
    (" E11.9 ", "E11.9"),
])
def test_icd10_code_becomes_dotted_upper_case(sent, canonical):
    claim = normalised(diagnoses=[sent])

    assert claim.diagnoses[0].code == canonical


def test_every_diagnosis_is_normalised_in_order():
    claim = normalised(diagnoses=["E119", "i10", "s72.001a"])

    assert [d.code for d in claim.diagnoses] == ["E11.9", "I10", "S72.001A"]


def test_code_not_shaped_like_icd10_is_only_upper_cased():
    claim = normalised(diagnoses=["e1", "250.00"])

    assert [d.code for d in claim.diagnoses] == ["E1", "250.00"]


@pytest.mark.parametrize("sent", ["E11.90.1", "E1.19"])
def test_code_with_misplaced_dot_is_kept_as_sent(sent):
    claim = normalised(diagnoses=[sent])

    assert claim.diagnoses[0].code == sent


# ----------------------------------------------------------------------------- procedures and modifiers


def test_procedure_code_is_upper_cased():
    claim = normalised(lines=[{"procedure_code": "j1100"}])

    assert claim.lines[0].procedure_code == "J1100"


def test_modifiers_are_upper_cased():
    claim = normalised(lines=[{"procedure_code": "27447", "modifiers": ["lt", "Rt", "59"]}])

    assert claim.lines[0].modifiers == ["LT", "RT", "59"]


# ----------------------------------------------------------------------------- diagnosis pointers


@pytest.mark.parametrize("sent, canonical", [
    ("B", 2),
    ("b", 2),
    ("A", 1),
    ("L", 12),
    ("3", 3),
    ("12", 12),
    (4, 4),
])
def test_pointer_letters_and_digit_strings_become_integers(sent, canonical):
    claim = normalised(lines=[{"procedure_code": "99213", "diagnosis_pointers": [sent]}])

    assert claim.lines[0].diagnosis_pointers == [canonical]


@pytest.mark.parametrize("sent", ["1.00", "M", "013"])
def test_pointer_that_is_not_a_number_or_letter_is_kept_as_sent(sent):
    claim = normalised(lines=[{"procedure_code": "99213", "diagnosis_pointers": [1, sent]}])

    assert claim.lines[0].diagnosis_pointers == [1, sent]


def test_superscript_digit_pointer_is_kept_as_sent():
    claim = normalised(lines=[{"procedure_code": "99213", "diagnosis_pointers": ["\u00b2"]}])

    assert claim.lines[0].diagnosis_pointers == ["\u00b2"]


# ----------------------------------------------------------------------------- line numbers, dates


def test_missing_line_number_is_filled_from_position():
    claim = normalised(lines=[{"procedure_code": "99213"}, {"procedure_code": "36415"},
                              {"procedure_code": "80053"}])

    assert [line.line_number for line in claim.lines] == [1, 2, 3]


def test_given_line_number_is_kept_and_others_get_the_lowest_unused_numbers():
    claim = normalised(lines=[{"procedure_code": "99213"}, {"procedure_code": "36415", "line_number": 1},
                              {"procedure_code": "80053"}])

    assert [line.line_number for line in claim.lines] == [2, 1, 3]


def test_missing_submission_date_becomes_today():
    claim = normalised(submission_date=None)

    assert claim.submission_date == TODAY


def test_given_submission_date_is_kept():
    claim = normalised(submission_date="2025-12-31")

    assert claim.submission_date == dt.date(2025, 12, 31)
