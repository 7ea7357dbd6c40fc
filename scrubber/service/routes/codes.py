"""Code look-up: is a code valid on a date of service, billable, and what is it."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from scrubber.contract.claim import IsoDate
from scrubber.pipeline.enrich import coding_edits as code_edits
from scrubber.service.auth import ANY_ROLE, Caller, require
from scrubber.service.models import CodeInfo
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
    (with their effective and termination dates), place of service; CPT: its shape only."""
    found = code_edits.look_up(request.app.state.reference, system, code, date or dt.date.today())
    return CodeInfo(**{**found.__dict__, "children": list(found.children)})
