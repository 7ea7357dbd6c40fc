"""Step 2 of the pipeline: put a parsed claim into canonical form.

ICD-10-CM codes are accepted with or without the dot and in any case (E119 = e11.9 = E11.9); ICD-9-CM codes
(scrubber.pipeline.code_sets) are only trimmed and upper-cased, never given an ICD-10 dot;
procedure codes and modifiers are upper-cased; a missing submission_date is today; pointers written as CMS-1500 letters (A-L) or
digit strings become integers; lines without a line_number get the next number not already used.
Nothing is dropped: a value that cannot be made canonical is kept as sent, for the rules.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re
from functools import lru_cache
from typing import Any

from scrubber.contract.claim import Claim, Line
from scrubber.pipeline.code_sets import claim_date, is_icd9

_ICD10 = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")


@lru_cache(maxsize=65536)
def diagnosis_code(code: str) -> str:
    """E119 / e11.9 / ' E11.9 ' -> E11.9; anything not shaped like ICD-10-CM is only upper-cased."""
    text = code.strip().upper()
    bare = text[:3] + text[4:] if text[3:4] == "." else text
    if not _ICD10.fullmatch(bare):
        return text
    return bare if len(bare) == 3 else f"{bare[:3]}.{bare[3:]}"


def pointer(value: int | str) -> int | str:
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if text.isascii() and text.isdigit() and len(text) <= 2:
        return int(text)
    if len(text) == 1 and "A" <= text <= "L":
        return ord(text) - ord("A") + 1
    return value


# The hyphenated NDC forms and where each gets its leading zero to become 11 digits (5-4-2): the
# labeler (4-4-2), the product (5-3-2) or the package (5-4-1) part (FDA NDC Directory; CMS ASP files).
_NDC_PARTS = re.compile(r"([0-9]{4,5})-([0-9]{3,4})-([0-9]{1,2})")
_NDC_WIDTHS = {(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)}


def ndc_11(ndc: str) -> str:
    """A hyphenated NDC as 11 digits: 0641-0367-21 -> 00641036721, 00641-367-21 -> 00641036721,
    00641-0367-1 -> 00641036701, 00641-0367-21 -> 00641036721. Any other text loses only its hyphens
    (an unhyphenated 10-digit NDC cannot be padded: which part lacks its zero cannot be told)."""
    found = _NDC_PARTS.fullmatch(ndc)
    if found is None or tuple(len(part) for part in found.groups()) not in _NDC_WIDTHS:
        return ndc.replace("-", "")
    labeler, product, package = found.groups()
    return labeler.zfill(5) + product.zfill(4) + package.zfill(2)


def _upper(value: str | None) -> str | None:
    return value.strip().upper() if value is not None else None


def _line(line: Line) -> Line:
    """The line in canonical form: the same object when nothing changes, else a changed copy."""
    changes: dict[str, Any] = {}
    if line.procedure_code is not None and (code := _upper(line.procedure_code)) != line.procedure_code:
        changes["procedure_code"] = code
    if line.modifiers and (modifiers := [m.strip().upper() for m in line.modifiers if m.strip()]) != line.modifiers:
        changes["modifiers"] = modifiers
    if not all(type(p) is int for p in line.diagnosis_pointers):
        changes["diagnosis_pointers"] = [pointer(p) for p in line.diagnosis_pointers]
    if line.ndc and "-" in line.ndc:
        changes["ndc"] = ndc_11(line.ndc)
    if line.place_of_service == "":
        changes["place_of_service"] = None
    return line.model_copy(update=changes) if changes else line


def normalise(claim: Claim, *, today: dt.date | None = None) -> Claim:
    """The claim in canonical form, as a new claim: the one given is never changed (what the caller
    keeps is what it sent; what is judged and stored is what this returns). Parts that need no change
    are shared, not copied."""
    updates: dict = {}
    if claim.submission_date is None:
        updates["submission_date"] = today or dt.date.today()
    day, _ = claim_date(claim)  # ICD-9-CM codes keep their form: E8888 is not E88.88
    diagnoses = [d.model_copy(update={"code": code}) if d.code is not None and (
                     code := d.code.strip().upper() if is_icd9(d, day) else diagnosis_code(d.code)) != d.code
                 else d for d in claim.diagnoses]
    if any(new is not old for new, old in zip(diagnoses, claim.diagnoses)):
        updates["diagnoses"] = diagnoses
    lines = [_line(line) for line in claim.lines]
    if any(line.line_number is None for line in lines):  # the lowest numbers the sender did not use
        taken = {line.line_number for line in lines}
        free = itertools.filterfalse(taken.__contains__, itertools.count(1))  # lazy (compiled too)
        lines = [line.model_copy(update={"line_number": next(free)}) if line.line_number is None else line
                 for line in lines]
    if any(new is not old for new, old in zip(lines, claim.lines)):
        updates["lines"] = lines
    if claim.place_of_service == "":
        updates["place_of_service"] = None
    if claim.patient is not None and claim.patient.sex is not None and (sex := _upper(claim.patient.sex)) != claim.patient.sex:
        updates["patient"] = claim.patient.model_copy(update={"sex": sex})
    if claim.payer is not None and claim.payer.id is not None and (payer := payer_id(claim.payer.id)) != claim.payer.id:
        updates["payer"] = claim.payer.model_copy(update={"id": payer})
    return claim.model_copy(update=updates) if updates else claim


def payer_id(value: str) -> str:
    """A payer id as it is matched and stored: trimmed, lower case ("Medicare " -> "medicare")."""
    return value.strip().lower()
