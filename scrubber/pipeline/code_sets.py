"""Which diagnosis code set a claim is coded in: the claim's date and the ICD revision of its diagnoses.

ICD-10-CM replaced ICD-9-CM for dates of service from 2015-10-01. A diagnosis is taken as ICD-9-CM when
its sender says so (`code_system: icd9cm`: 837 HI qualifiers BK/BF, FHIR system
http://hl7.org/fhir/sid/icd-9-cm), or when it names no code system and the claim's date is before
2015-10-01. The claim's date is its first line date of service, else the statement period's first day
(837I DTP*434, FHIR billablePeriod.start of an institutional Claim), else the submission date (the
codes of a claim without any date of service are those in force when it was sent).
"""
from __future__ import annotations

import datetime as dt

from scrubber.contract.claim import Claim, Diagnosis

ICD10_START = dt.date(2015, 10, 1)  # the first date of service coded in ICD-10-CM


def claim_date(claim: Claim) -> tuple[dt.date | None, str]:
    """The claim's date for its diagnoses and what it is, in words: ('first date of service',
    'statement date' or 'submission date'); (None, '') for a claim without any date."""
    dates = [line.service_date for line in claim.lines if line.service_date is not None]
    if dates:
        return min(dates), "first date of service"
    if claim.statement_from is not None:
        return claim.statement_from, "statement date"
    if claim.submission_date is not None:
        return claim.submission_date, "submission date"
    return None, ""


def is_icd9(diagnosis: Diagnosis, day: dt.date | None) -> bool:
    """Whether a diagnosis is an ICD-9-CM code (see the module docstring)."""
    if diagnosis.code_system is not None:
        return diagnosis.code_system == "icd9cm"
    return day is not None and day < ICD10_START
