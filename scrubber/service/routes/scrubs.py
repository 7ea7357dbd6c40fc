"""Stored scrubs (the audit trail, read per caller's rights and every read recorded) and the log of
those reads."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from scrubber.contract.claim import PRINTABLE, IsoDate
from scrubber.service import access
from scrubber.service.auth import ANY_ROLE, Caller, require
from scrubber.service.models import ClaimAccessPage, ScrubPage, StoredScrub
from scrubber.service.problems import ApiError, problem_responses

router = APIRouter(tags=["audit"])


@router.get("/v1/scrubs/{scrub_id}", response_model=StoredScrub, operation_id="get_scrub",
            responses=problem_responses(401, 403, 404))
def get_scrub(request: Request, scrub_id: Annotated[str, Path(max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")],
              caller: Annotated[Caller, Depends(require(*ANY_ROLE))]) -> StoredScrub:
    """A stored scrub: the claim as checked, its result, the rule set revision, the key, the time.
    A submitter reads only what its own key sent; PHI is masked ("***") but for coder and admin;
    the key is shown to admin and to the key itself. Every read is recorded."""
    found = request.app.state.store.get(scrub_id)
    if found is None or not access.may_see(caller, found):
        raise ApiError(404, "not-found", "No such scrub", f"no scrub has the id {scrub_id!r}")
    request.app.state.store.record_access(key_id=caller.key_id, role=caller.role, action="get",
                                          scrub_id=scrub_id, claim_id=found["claim_id"])
    return StoredScrub(**access.shown(caller, found))


@router.get("/v1/scrubs", response_model=ScrubPage, operation_id="list_scrubs",
            responses=problem_responses(401, 403))
def list_scrubs(request: Request, caller: Annotated[Caller, Depends(require(*ANY_ROLE))],
                claim_id: Annotated[str | None, Query(max_length=80, pattern=PRINTABLE)] = None,
                status: Literal["pass", "warn", "fail"] | None = None,
                payer: Annotated[str | None, Query(max_length=40, pattern=PRINTABLE)] = None,
                rule_id: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
                category: Annotated[str | None, Query(max_length=40, pattern=PRINTABLE,
                                                      description="scrubs with a finding of this category")] = None,
                severity: Annotated[Literal["error", "warning", "info"] | None,
                                    Query(description="scrubs with a finding of this severity")] = None,
                from_: Annotated[IsoDate | None, Query(alias="from")] = None,
                to: Annotated[IsoDate | None, Query()] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                cursor: Annotated[str | None, Query(max_length=26, pattern=PRINTABLE)] = None) -> ScrubPage:
    """Stored scrubs, newest first, filtered; page with `cursor`. `rule_id`, `category` and `severity`
    select the scrubs with a finding that has all of those given (the scrubs behind a /v1/stats count:
    `severity=error` with `rule_id` gives those behind `top_failing_rules`). A submitter lists only what
    its own key sent. Every list is recorded (the filters and the count)."""
    store = request.app.state.store
    page = store.list(claim_id=claim_id, status=status, payer=payer, rule_id=rule_id, since=from_, until=to,
                      limit=limit, cursor=cursor, api_key_id=access.owner_filter(caller),
                      category=category, severity=severity)
    filters = {"claim_id": claim_id, "status": status, "payer": payer, "rule_id": rule_id,
               "category": category, "severity": severity,
               "from": from_.isoformat() if from_ else None, "to": to.isoformat() if to else None,
               "limit": limit, "cursor": cursor}
    store.record_access(key_id=caller.key_id, role=caller.role, action="list",
                        detail={"filters": {k: v for k, v in filters.items() if v is not None},
                                "count": len(page.items)})
    return ScrubPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/v1/audit/access", response_model=ClaimAccessPage, operation_id="list_claim_access",
            responses=problem_responses(401, 403))
def list_claim_access(request: Request, caller: Annotated[Caller, Depends(require("admin"))],
                      key_id: Annotated[str | None, Query(max_length=40, pattern=PRINTABLE)] = None,
                      scrub_id: Annotated[str | None, Query(max_length=26, pattern=PRINTABLE)] = None,
                      from_: Annotated[IsoDate | None, Query(alias="from")] = None,
                      to: Annotated[IsoDate | None, Query()] = None,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100,
                      cursor: Annotated[str | None, Query(max_length=18, pattern=r"^[0-9]{1,18}$")] = None,
                      ) -> ClaimAccessPage:
    """Who read which stored claim, and when: every GET of a scrub and every list of scrubs,
    newest first, by key, scrub and date; page with `cursor`. Admin only."""
    page = request.app.state.store.accesses(key_id=key_id, scrub_id=scrub_id, since=from_, until=to,
                                            limit=limit, cursor=int(cursor) if cursor else None)
    return ClaimAccessPage(items=page.items, next_cursor=page.next_cursor)
