"""Step 2 of the pipeline: put a parsed claim into canonical form.

ICD-10-CM codes are accepted with or without the dot and in any case (E119 = e11.9 = E11.9);
procedure codes and modifiers are upper-cased; a missing submission_date is today; pointers written as CMS-1500 letters (A-L) or
digit strings become integers; lines without a line_number get the next number not already used.
Nothing is dropped: a value that cannot be made canonical is kept as sent, for the rules.
"""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

from scrubber.contract.claim import Claim

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


def _upper(value: str | None) -> str | None:
    return value.strip().upper() if value is not None else None


def _set(model, name: str, value) -> None:
    """Change a field of a just-validated model in place, only when the value changes."""
    if getattr(model, name) != value:
        setattr(model, name, value)


def normalise(claim: Claim, *, today: dt.date | None = None) -> Claim:
    """Canonical form, in place (the claim was just parsed for this scrub)."""
    if claim.submission_date is None:
        claim.submission_date = today or dt.date.today()
    for diagnosis in claim.diagnoses:
        if diagnosis.code is not None:
            _set(diagnosis, "code", diagnosis_code(diagnosis.code))
    taken = {line.line_number for line in claim.lines}
    free = (n for n in range(1, 10**6) if n not in taken)
    for line in claim.lines:
        if line.line_number is None:  # the lowest number the sender did not use
            line.line_number = next(free)
        if line.procedure_code is not None:
            _set(line, "procedure_code", _upper(line.procedure_code))
        if line.modifiers:
            _set(line, "modifiers", [m.strip().upper() for m in line.modifiers if m.strip()])
        if not all(type(p) is int for p in line.diagnosis_pointers):
            line.diagnosis_pointers = [pointer(p) for p in line.diagnosis_pointers]
        if line.ndc:
            _set(line, "ndc", line.ndc.replace("-", ""))
        if line.place_of_service == "":
            line.place_of_service = None
    if claim.place_of_service == "":
        claim.place_of_service = None
    if claim.patient is not None and claim.patient.sex is not None:
        _set(claim.patient, "sex", _upper(claim.patient.sex))
    if claim.payer is not None and claim.payer.id is not None:
        _set(claim.payer, "id", claim.payer.id.strip().lower())
    return claim
