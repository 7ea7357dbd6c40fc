"""Code look-up: is a code valid on a date of service, billable, and what is it; for HCPCS and CPT codes,
their Medicare physician fee schedule facts (PPRRVU) on that date. Code search: the codes of a system valid
on a date, by code prefix or words of the description."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from scrubber.contract.claim import IsoDate
from scrubber.pipeline.enrich import coding_edits as code_edits
from scrubber.refdata.code_search import MAX_LIMIT, CodeSearchError, SearchSystem
from scrubber.refdata.icd10cm import fiscal_year
from scrubber.refdata.store import ReferenceData
from scrubber.service.auth import ANY_ROLE, Caller, require
from scrubber.service.models import CodeFound, CodeInfo, CodeSearchResult, FeeScheduleFacts
from scrubber.service.problems import ApiError, problem_responses

router = APIRouter(tags=["codes"])
SEARCH_QUERY = r"^[ .,'/()-]*[A-Za-z0-9][A-Za-z0-9 .,'/()-]*$"  # at least one letter or digit; no LIKE wildcard


@router.get("/v1/codes/{system}", response_model=CodeSearchResult, operation_id="search_codes",
            responses=problem_responses(401, 403))
def search_codes(request: Request, system: SearchSystem,
                 caller: Annotated[Caller, Depends(require(*ANY_ROLE))],
                 q: Annotated[str, Query(min_length=1, max_length=100, pattern=SEARCH_QUERY,
                                         description="a code prefix (E11.6, A01) or words of the description")],
                 on: Annotated[IsoDate | None, Query(description="the date the codes must be valid on (default: today)")] = None,
                 limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"at most this many codes (1-{MAX_LIMIT})")] = 20,
                 ) -> CodeSearchResult:
    """Search ICD-10-CM (in the fiscal year's code set, headers included), HCPCS Level II, modifiers
    (HCPCS Level II and the CPT modifiers by their number) or place of service codes valid on a date:
    codes that start with `q`, then codes whose description holds every word of `q`. CPT codes are
    AMA-licensed and not shipped: look one up by `GET /v1/codes/cpt/{code}`."""
    reference: ReferenceData = request.app.state.reference
    day = on or dt.date.today()
    try:
        found = reference.search_codes(system, q, day, limit)
    except CodeSearchError as exc:
        raise ApiError(422, "invalid-request", "The request is not valid", str(exc),
                       [{"field": exc.field, "message": str(exc)}]) from None
    codes = [CodeFound(code=code_edits.dotted(m.code) if system == "icd10cm" else m.code, description=m.description,
                       billable=m.billable, effective_date=m.effective_date, termination_date=m.termination_date)
             for m in found]
    if system == "modifier":  # CPT modifiers have no shipped description: found by their number only
        number = q.strip()
        cpt = [CodeFound(code=m, description="CPT modifier (AMA: no description shipped)")
               for m in sorted(code_edits.CPT_MODIFIERS) if m.startswith(number)]
        codes = (cpt + codes)[:limit]
    year = None
    if system == "icd10cm" and reference.icd10cm_years:
        year = reference.icd10cm_year_for(fiscal_year(day))
    return CodeSearchResult(system=system, query=q, date=day, fiscal_year=year, codes=codes)


@router.get("/v1/codes/{system}/{code}", response_model=CodeInfo, operation_id="look_up_code",
            responses=problem_responses(401, 403))
def look_up_code(request: Request, system: code_edits.CodeSystem,
                 code: Annotated[str, Path(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9.]+$")],
                 caller: Annotated[Caller, Depends(require(*ANY_ROLE))],
                 date: Annotated[IsoDate | None, Query(description="date of service (default: today)")] = None,
                 ) -> CodeInfo:
    """Is this code valid on a date of service, billable, and what is it: ICD-10-CM (by the fiscal
    year's code set; a header code lists its billable children), ICD-10-PCS (by the fiscal year's
    code set, no descriptions), HCPCS Level II and modifiers
    (with their effective and termination dates), place of service; CPT: its shape only. HCPCS and
    CPT codes also get their row of the Medicare PFS Relative Value file in the release used for the
    date (`fee_schedule`: status code and its meaning, PC/TC, global days, the modifier indicators,
    the modifier rows), or `fee_schedule_note` saying why there is none."""
    reference = request.app.state.reference
    found = code_edits.look_up(reference, system, code, date or dt.date.today())
    info = CodeInfo(**{**dataclasses.asdict(found), "children": list(found.children)})
    if system in ("hcpcs", "cpt"):
        info.fee_schedule, info.fee_schedule_note = fee_schedule_facts(reference, found.code, found.date)
    return info


def fee_schedule_facts(reference: ReferenceData, code: str, day: dt.date) -> tuple[FeeScheduleFacts | None, str | None]:
    """A code's PPRRVU facts on a date, or None and why."""
    release = reference.fee_schedule_release(day)
    if release is None:
        if not reference.fee_schedule_releases:
            return None, "no PFS Relative Value file (PPRRVU) is loaded"
        oldest_start, oldest, _ = reference.fee_schedule_releases[0]
        return None, f"no PPRRVU release loaded is in force on {day} (the oldest, {oldest}, starts {oldest_start})"
    entry = reference.fee_schedule(code, day)
    if entry is None:
        return None, f"{code} is not in the PFS Relative Value file, release {release}"
    return FeeScheduleFacts(
        release=entry.release, effective_from=entry.effective_from, effective_to=entry.effective_to,
        status=entry.status, status_meaning=entry.status_meaning, pctc=entry.pctc, global_days=entry.global_days,
        mult_proc=entry.mult_proc, bilateral=entry.bilateral, assistant=entry.assistant, co_surgeon=entry.co_surgeon,
        team=entry.team, endo_base=entry.endo_base, imaging_family=entry.imaging_family,
        modifiers=list(reference.fee_schedule_modifiers(code, day))), None
