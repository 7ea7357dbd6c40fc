"""Scrubbing: one claim (JSON), or a batch (a JSON array or NDJSON of claims, an X12 837 interchange, a
FHIR Claim or Bundle) answered as NDJSON."""
from __future__ import annotations

import datetime as dt
import io
import itertools
import json
from typing import IO, Annotated, Any, Iterator

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from scrubber import limits
from scrubber.contract.claim import Claim, IsoDate, ScrubResult
from scrubber.intake.items import Item, count_ndjson_records, fhir_items, ndjson_file_items, object_items, x12_items
from scrubber.intake.parse import TooDeep, loads
from scrubber.intake.x12 import X12Error
from scrubber.service.access import owner_filter
from scrubber.service.auth import SCRUBBING, Caller, require
from scrubber.service.batch_response import respond
from scrubber.service.current import rules_in_force
from scrubber.service.observability import count_result
from scrubber.service.problems import ApiError, problem_responses
from scrubber.service.request_bodies import read_body, whole_text

router = APIRouter(tags=["scrubbing"])

AS_OF = ("judge the claim by the rules and payer policies in force on this date instead of on its "
         "dates of service (what-if; the reference code sets still follow the dates of service)")


def scrub_and_record(request: Request, claim: Claim, caller: Caller, as_of: dt.date | None = None) -> ScrubResult:
    with rules_in_force(request).use() as scrubber:
        judged = scrubber.judge(claim, as_of=as_of)
    result = judged.result
    request.state.scrub_id = result.scrub_id  # for the request's log line
    request.app.state.store.record(judged.claim, result, api_key_id=caller.key_id,  # the claim as judged
                                   owner=owner_filter(caller))
    count_result(result)
    return result


@router.post("/v1/claims/scrub", response_model=ScrubResult,
             responses={200: {"description": "the scrub result: pass, warn or fail with findings",
                              "links": {"GetScrubById": {"operationId": "get_scrub",
                                                         "parameters": {"scrub_id": "$response.body#/scrub_id"}}}},
                        **problem_responses(401, 403, 413)},
             operation_id="scrub_claim")
def scrub_claim(request: Request, claim: Annotated[Claim, Body()],
                caller: Annotated[Caller, Depends(require(*SCRUBBING))],
                as_of: Annotated[IsoDate | None, Query(description=AS_OF)] = None) -> ScrubResult:
    """One claim in, one scrub result out, stored in the audit trail. Content problems (an invalid
    code, a bad NPI check digit, a future date) are findings in a 200 response; only a claim that
    is not shaped like the contract gets a 422. The claim's payer.id picks its payer profile."""
    return scrub_and_record(request, claim, caller, as_of)


@router.post("/v1/claims/scrub/batch", operation_id="scrub_batch",
             responses={200: {"description": "NDJSON: one scrub result per claim, in order; a claim that "
                                             "cannot be read gives an error record in its place",
                              "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                        **problem_responses(401, 403, 413)},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Claim"}}},
                 "application/x-ndjson": {"schema": {"type": "string"}}}}})
async def scrub_batch(request: Request, caller: Annotated[Caller, Depends(require(*SCRUBBING))],
                      as_of: Annotated[IsoDate | None, Query(description=AS_OF)] = None):
    """A JSON array or NDJSON of claims in; NDJSON results out, one per claim, in order. One bad
    claim (or line) yields an error record in its place and never aborts the batch. The whole
    body is read before the first result is sent (kept on disk past a few MB, so memory stays
    flat): at most 512 MB of NDJSON, with lines of at most 8 MB, or 64 MB as a JSON array."""
    body, first = await read_body(request, _batch_limit)
    try:
        if not first:
            raise ApiError(422, "invalid-request", "The request is not valid",
                           "the body is empty: send a JSON array or NDJSON of claims")
        if first == b"[":
            values = iter(await run_in_threadpool(_json_array, body))
            body.close()
            return respond(request, caller, object_items(values), as_of, remaining=lambda: sum(1 for _ in values))
        head = body.read(4096)
        body.seek(0)
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not merely a character cut in two at the end of the head
                raise ApiError(422, "invalid-request", "The request is not valid",
                               "the body is not UTF-8 text") from None
    except BaseException:
        body.close()
        raise
    return respond(request, caller, ndjson_file_items(body), as_of,
                   remaining=lambda: count_ndjson_records(body), body=body)


def _batch_limit(first: bytes) -> tuple[int, str]:
    if first == b"[":
        return limits.MAX_WHOLE_BODY_BYTES, "a batch sent as a JSON array (send NDJSON for more)"
    return limits.MAX_NDJSON_BATCH_BYTES, "a batch sent as NDJSON"


def _json_array(body: IO[bytes]) -> list[Any]:
    """The values of a body that is a JSON array, parsed whole; any other body is a 422."""
    try:
        return loads(body.read())
    except TooDeep:
        detail = f"the body is nested deeper than {limits.MAX_JSON_DEPTH} levels"
    except UnicodeDecodeError:
        detail = "the body is not UTF-8 text"
    except json.JSONDecodeError as exc:
        detail = f"the body is not a valid JSON array: {exc}"
    raise ApiError(422, "invalid-request", "The request is not valid", detail,
                   [{"field": "(body)", "message": detail.removeprefix("the body ")}])


@router.post("/v1/claims/scrub/x12", operation_id="scrub_x12",
             responses={200: {"description": "NDJSON: one scrub result per claim (CLM) of the interchange, in "
                                             "order; X12 structure problems are findings of their claim",
                              "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                        **problem_responses(401, 403, 413)},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/plain": {"schema": {"type": "string", "description": "an X12 837P or 837I interchange"}},
                 "application/edi-x12": {"schema": {"type": "string"}}}}})
async def scrub_x12(request: Request, caller: Annotated[Caller, Depends(require(*SCRUBBING))]):
    """An X12 837P (005010X222A1/A2) or 837I (005010X223A2/A3) interchange in, one result per claim
    out. Segment problems (undeclared separators, missing segments or elements, a pointer like
    1.00, ICD-9 qualifiers after 2015-10-01) are findings of their claim; one broken claim never
    loses its siblings. A body that does not begin with an ISA segment is a 422."""
    text = await whole_text(request, "an X12 interchange")
    items = x12_items(io.StringIO(text, newline=""))
    first = await run_in_threadpool(_first_x12_item, items)
    rest = itertools.chain([first], items)
    return respond(request, caller, rest, remaining=lambda: sum(1 for _ in rest))


def _first_x12_item(items: Iterator[Item]) -> Item:
    try:
        first = next(items, None)
    except X12Error as exc:
        raise ApiError(422, "invalid-x12", "The interchange cannot be read", str(exc)) from None
    if first is None:
        raise ApiError(422, "invalid-x12", "The interchange cannot be read", "it holds no claim")
    return first


@router.post("/v1/claims/scrub/fhir", operation_id="scrub_fhir",
             responses={200: {"description": "NDJSON: one scrub result per FHIR Claim, in order; a Claim that "
                                             "cannot be mapped gives an error record in its place",
                              "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                        **problem_responses(401, 403, 413)},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/fhir+json": {"schema": {"type": "object"}},
                 "application/json": {"schema": {"type": "object"}}}}})
async def scrub_fhir(request: Request, caller: Annotated[Caller, Depends(require(*SCRUBBING))]):
    """A FHIR R4 Claim, or a Bundle of Claims (with the Patient, Coverage, Organization and
    Practitioner resources they reference), in; one result per Claim out."""
    text = await whole_text(request, "a FHIR resource")
    try:
        items = iter(await run_in_threadpool(lambda: list(fhir_items(text))))
    except ValueError as exc:
        raise ApiError(422, "invalid-fhir", "The FHIR resource cannot be read", str(exc)) from None
    return respond(request, caller, items, remaining=lambda: sum(1 for _ in items))
