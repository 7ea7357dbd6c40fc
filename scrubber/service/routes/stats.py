"""Statistics over the stored scrubs: clean-claim rate, findings by category and rule, the rules that
fail most claims."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from scrubber.contract.claim import PRINTABLE, IsoDate
from scrubber.service.auth import ANY_ROLE, Caller, require
from scrubber.service.models import Stats
from scrubber.service.problems import ApiError, problem_responses

router = APIRouter(tags=["audit"])


@router.get("/v1/stats", response_model=Stats, operation_id="get_stats",
            responses=problem_responses(401, 403))
def stats(request: Request, caller: Annotated[Caller, Depends(require(*ANY_ROLE))],
          from_: Annotated[IsoDate | None, Query(alias="from")] = None,
          to: Annotated[IsoDate | None, Query()] = None,
          payer: Annotated[str | None, Query(max_length=40, pattern=PRINTABLE)] = None) -> Stats:
    """Clean-claim rate, findings by category and by rule, and the rules that fail most claims."""
    if from_ and to and to < from_:
        raise ApiError(422, "invalid-request", "The request is not valid", "`to` is before `from`",
                       [{"field": "to", "message": "must be on or after `from`"}])
    return Stats(**request.app.state.store.stats(since=from_, until=to, payer=payer))
