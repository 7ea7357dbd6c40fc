"""What a billing system did with the claims it scrubbed: submitted, voided or replaced them. This decides
what counts in the claim history (scrubber.pipeline.enrich.history.counts; README "Claim history")."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from scrubber import limits
from scrubber.contract.claim import IsoDate, Text80
from scrubber.pipeline.enrich.history import SubmissionChange
from scrubber.service import access
from scrubber.service.auth import Caller, require
from scrubber.service.problems import problem_responses

router = APIRouter(tags=["claim history"])

# a claim id: printable, and not only white space (which is stripped: nothing would be left)
CLAIM_ID = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
SUBMITTERS = ("submitter",)  # a billing system's key (and admin); a submitter changes only its own claims


class Submission(BaseModel):
    """What happened to one claim, by its claim id."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    claim_id: Annotated[str, Field(min_length=1, max_length=80, pattern=CLAIM_ID)] = Field(
        description="the claim id it was scrubbed with")
    status: Literal["submitted", "voided", "replaced"] = Field(
        description="submitted: sent to the payer (its lines count, whatever its scrub said); voided or "
                    "replaced: its lines no longer count")
    replaced_by: Text80 | None = Field(default=None, description="with `replaced`: the claim id that replaces it")
    date: IsoDate | None = Field(default=None, description="when it was submitted, voided or replaced")

    @field_validator("replaced_by")
    @classmethod
    def _only_when_replaced(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if info.data.get("status", "replaced") != "replaced":
            raise ValueError("is only for the status `replaced`")
        if value == info.data.get("claim_id"):
            raise ValueError("must not be the claim's own id")
        return value


class SubmissionOutcome(BaseModel):
    claim_id: str
    status: str
    result: Literal["applied", "unknown"] = Field(
        description="applied; unknown: no claim with this id was scrubbed (for a submitter key: by this key)")
    counts: bool | None = Field(description="whether the claim's lines count in the claim history now; null: unknown")


class SubmissionsResult(BaseModel):
    applied: int
    unknown: int
    items: list[SubmissionOutcome] = Field(description="one per item sent, in order")


@router.post("/v1/claims/submissions", response_model=SubmissionsResult, operation_id="record_submissions",
             responses=problem_responses(401, 403, 413))
def record_submissions(
        request: Request,
        body: Annotated[list[Submission], Body(min_length=1, max_length=limits.MAX_SUBMISSIONS)],
        caller: Annotated[Caller, Depends(require(*SUBMITTERS))]) -> SubmissionsResult:
    """What the billing system did with claims it scrubbed: 1 to 10,000 items, applied in order in one
    transaction. A submitted claim counts in the claim history whatever its scrub said; a voided or
    replaced one no longer counts. A claim id never scrubbed (for a submitter key: never scrubbed
    last by this key) is answered `unknown`, and the others are still applied. Each change is
    recorded with the caller's key and the time."""
    changes = [SubmissionChange(claim_id=item.claim_id, status=item.status, replaced_by=item.replaced_by,
                                date=item.date) for item in body]
    marked = request.app.state.store.mark_submissions(changes, key_id=caller.key_id, role=caller.role,
                                                      owner=access.owner_filter(caller))
    items = [SubmissionOutcome(claim_id=c.claim_id, status=c.status, result="unknown" if m is None else "applied",
                               counts=m) for c, m in zip(changes, marked)]
    applied = sum(1 for m in marked if m is not None)
    return SubmissionsResult(applied=applied, unknown=len(items) - applied, items=items)
