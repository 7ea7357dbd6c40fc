"""Code look-up: is a code valid on a date of service, billable, and what is it; for HCPCS and CPT codes,
their Medicare physician fee schedule facts (PPRRVU) on that date."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from scrubber.contract.claim import IsoDate
from scrubber.pipeline.enrich import coding_edits as code_edits
from scrubber.refdata.store import ReferenceData
from scrubber.service.auth import ANY_ROLE, Caller, require
from scrubber.service.models import CodeInfo, FeeScheduleFacts
from scrubber.service.problems import problem_responses

router = APIRouter(tags=["codes"])


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
    info = CodeInfo(**{**found.__dict__, "children": list(found.children)})
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
