"""The HTTP API (FastAPI): thin routes over the pipeline and the audit store.

Errors are RFC 9457 problem+json. API keys travel in X-API-Key; with no key stored at all, the
service answers only clients on the loopback interface (and `scrubber serve` binds there).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import itertools
import json
import tempfile
import threading
import logging
from contextlib import asynccontextmanager
from contextvars import copy_context
from dataclasses import dataclass
from typing import IO, Annotated, Any, AsyncIterator, Callable, Iterator, Literal

from fastapi import Body, Depends, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from scrubber import limits

from scrubber.settings import settings

from scrubber.pipeline.enrich import coding_edits as code_edits
from scrubber.audit.store import AuditStore
from scrubber.service import access
from scrubber.audit.store import check_secret
from scrubber.service.body_limits import BodyLimit
from scrubber.service.auth import ANY_ROLE, COMPLIANCE, RULE_READERS, SCRUBBING, Authenticate, Caller, require
from scrubber.contract.claim import PRINTABLE, Claim, IsoDate, ScrubResult
from scrubber.service.observability import RequestContext, count_result, metrics_payload
from scrubber.service.problems import ApiError, problem, problem_responses
from scrubber.intake.items import (Item, count_ndjson_records, fhir_items, in_words, ndjson_file_items, object_items,
                             judge_item, output_line, x12_items)
from scrubber.intake.parse import TooDeep, field_errors, loads
from scrubber.intake.x12 import X12Error
from scrubber.workflows.examples import run_examples
from scrubber.workflows.impact import ImpactStopped, measure
from scrubber.pipeline.routing import PayerRouter
from scrubber.ruleset.payers import Current, load_deployment, load_deployment_texts
from scrubber.pipeline.scrubber import Scrubber
from scrubber.service.retention import RetentionSchedule
from scrubber.refdata.store import ReferenceData
from scrubber.refdata.baseline import open_reference
from scrubber.ruleset.loader import RuleSetError
from scrubber.ruleset.yaml_source import YamlError, load_document

log = logging.getLogger("scrubber.service.app")
BATCH_GROUP = 16  # records scrubbed per trip to the thread pool, and sent together


@dataclass
class Progress:
    """How far one batch response has got: records scrubbed (and stored), and whether all were."""
    done: int = 0
    complete: bool = False


class BatchResponse(StreamingResponse):
    """The NDJSON records of a batch, streamed. When the response ends, however it ends (a client
    that went away included), the spooled request body is closed, the record generator is closed
    at once, and if not every record was done one log line says how many of how many were
    (`remaining()` counts the records never read; counted off the event loop)."""

    media_type = "application/x-ndjson"

    def __init__(self, records: AsyncIterator[bytes], progress: Progress, remaining: Callable[[], int],
                 body: IO[bytes] | None = None):
        super().__init__(records)
        self.progress, self.remaining, self.body = progress, remaining, body

    async def __call__(self, scope, receive, send) -> None:
        reason = "the client went away"
        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:
            if not isinstance(exc, ClientDisconnect):
                reason = f"an error stopped it ({type(exc).__name__})"
            raise
        finally:  # nothing reads the body any more: the generator is done, or waits at a `yield`
            if self.progress.complete:
                if self.body is not None:
                    self.body.close()
            else:
                threading.Thread(target=copy_context().run, name="batch-abandoned", daemon=True,
                                 args=(_log_abandoned, self.progress.done, self.remaining, self.body, reason)).start()
            await self.body_iterator.aclose()


def _log_abandoned(done: int, remaining: Callable[[], int], body: IO[bytes] | None, reason: str) -> None:
    try:
        total = done + remaining()
    finally:
        if body is not None:
            body.close()
    log.info(f"batch abandoned: {done} of {total} claims were done when the response stopped ({reason}); "
             "the rest were not scrubbed")


# ----------------------------------------------------------------------------- response models


class ScrubSummary(BaseModel):
    scrub_id: str
    created_at: str
    claim_id: str | None
    payer_id: str | None
    status: Literal["pass", "warn", "fail"]
    finding_count: int
    revision: str


class StoredScrub(ScrubSummary):
    api_key_id: str | None
    claim: dict[str, Any]
    result: ScrubResult


class ScrubPage(BaseModel):
    items: list[ScrubSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class ClaimAccessRecord(BaseModel):
    id: int
    at: str
    key_id: str | None = Field(description="the key that read; null: a loopback caller while no key exists")
    role: str
    action: Literal["get", "list"] = Field(description="get: one stored scrub; list: a page of summaries")
    scrub_id: str | None
    claim_id: str | None
    detail: dict[str, Any] = Field(description="list: the filters given and the count returned")


class ClaimAccessPage(BaseModel):
    items: list[ClaimAccessRecord]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class FailingRule(BaseModel):
    rule_id: str
    failed_scrubs: int
    share_of_scrubs: float | None


class Stats(BaseModel):
    from_: str | None = Field(alias="from")
    to: str | None
    payer: str | None
    scrubs: int
    passed: int
    warned: int
    failed: int
    clean_claim_rate: float | None = Field(description="share of scrubs with no error (pass or warn)")
    findings_by_category: dict[str, int]
    findings_by_rule: dict[str, int]
    top_failing_rules: list[FailingRule]


class RuleSummary(BaseModel):
    id: str
    title: str
    category: str
    severity: str
    status: str
    carc: str | None
    rarc: str | None
    effective_from: dt.date | None
    effective_to: dt.date | None
    source: str
    revision: str


class RuleDetail(RuleSummary):
    definition: dict[str, Any] = Field(description="the rule as written in its file")


class RuleList(BaseModel):
    revision: str
    rules: list[RuleSummary]


class LintProblem(BaseModel):
    file: str
    line: int
    column: int
    message: str
    rule_id: str | None


class Validation(BaseModel):
    valid: bool
    rules: int
    problems: list[LintProblem]


def lint_rule_text(current: Current, name: str, text: str) -> Validation:
    """Lint one rule file or payer profile (`text`, as `name`) with the rules in force; loads nothing.
    CPU-bound: call it off the event loop. A file the YAML loader refuses (an alias, nesting too deep,
    too many values: see scrubber.ruleset.yaml_source) is answered by that problem alone, at once."""
    try:
        load_document(text, name)
    except YamlError as exc:
        return Validation(valid=False, rules=0, problems=[LintProblem(**exc.problem.as_dict())])
    sources = {n: t for n, t in current.sources().items() if n != name}
    sources[name] = text
    try:
        checked = load_deployment_texts(*current.split(sources))
    except RuleSetError as exc:
        return Validation(valid=False, rules=0, problems=[LintProblem(**p.as_dict()) for p in exc.problems])
    rules = len({c.rule.id for _, ruleset in checked.rulesets() for c in ruleset.program.rules if c.source == name})
    return Validation(valid=True, rules=rules, problems=[])


class CodeInfo(BaseModel):
    system: Literal["icd10cm", "hcpcs", "cpt", "modifier", "pos"]
    code: str = Field(description="the code as looked up (ICD-10-CM with its dot)")
    date: dt.date = Field(description="the date of service it was judged on")
    valid: bool = Field(description="may be billed on that date")
    status: str = Field(description="valid, header, unknown, not_yet_valid, deleted, terminated, "
                                    "not_yet_effective, valid_shape or invalid_shape")
    detail: str
    billable: bool | None = Field(None, description="ICD-10-CM: a billable code (false for a header)")
    description: str | None = None
    children: list[str] = Field(default_factory=list, description="ICD-10-CM header: its billable codes")
    fiscal_year: int | None = Field(None, description="ICD-10-CM: the fiscal year's code set used")
    effective_date: dt.date | None = None
    termination_date: dt.date | None = None


AS_OF = ("judge the claim by the rules and payer policies in force on this date instead of on its "
         "dates of service (what-if; the reference code sets still follow the dates of service)")


class Reloaded(BaseModel):
    revision: str
    previous_revision: str
    rules: int = Field(description="base rules in force")
    payers: list[str] = Field(description="payer profiles in force")
    examples_passed: int


class CandidateFile(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(max_length=200, pattern=r"^(rules|payers)/[\w./-]+\.ya?ml$",
                      description="rules/<file>.yaml or payers/<file>.yaml; replaces the file of that name")
    text: str = Field(max_length=2 * 1024 * 1024)


class ImpactRequest(BaseModel):
    model_config = {"extra": "forbid"}
    files: list[CandidateFile] = Field(min_length=1, max_length=50)
    since: dt.date | None = Field(None, description="stored claims scrubbed since this date (default: all)")
    limit: int = Field(1000, ge=1, le=10000, description="at most this many stored claims, newest first")
    claims: list[Claim] = Field(default_factory=list, max_length=1000,
                                description="a corpus to use instead of the stored claims")


class RuleImpactOut(BaseModel):
    rule_id: str
    newly_fired: int
    no_longer_fired: int
    example_claims_fired: list[str]
    example_claims_cleared: list[str]


class Impact(BaseModel):
    current_revision: str
    candidate_revision: str
    claims: int
    changed_claims: int
    newly_failing: int
    newly_passing: int
    status_changes: dict[str, int]
    rules: list[RuleImpactOut]
    added_rules: list[str]
    removed_rules: list[str]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, bool]
    revision: str | None


# ----------------------------------------------------------------------------- the app


CLIENT_GONE = "the client went away"
POLL_S = 0.5  # how often a long request looks whether its client is still there


async def _watch(request: Request, worker: asyncio.Future, cancel: threading.Event, limit_s: float) -> str | None:
    """Wait for `worker` (a thread's work), looking every POLL_S whether the client went away or
    `limit_s` has passed; then set `cancel`, so that the work stops at its next step, and say why.
    None: the work finished by itself."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    try:
        while True:
            done, _ = await asyncio.wait({worker}, timeout=POLL_S)
            if done:
                return None
            if await request.is_disconnected():
                cancel.set()
                return CLIENT_GONE
            if loop.time() >= deadline:
                cancel.set()
                return f"it ran past its time limit of {limit_s:g} s"
    except BaseException:  # this request is cancelled (the server stops): the work stops too
        cancel.set()
        raise


def rules_in_force(request: Request) -> Current:
    """The rules in force in this worker process, first brought up to the generation the last reload
    published in the shared database (a reload through another worker): one primary-key read. Every
    request that depends on the rule set takes its rules from here. Blocking: call it off the event loop."""
    current: Current | None = request.app.state.current
    if current is None or current.generation is None:  # the lifespan did not run: no database to follow
        return current
    try:
        generation, published = request.app.state.store.rules_generation()
    except SQLAlchemyError:  # the database is down (/readyz says so): the rules in hand stay in force
        return current
    if generation > current.generation:
        current.catch_up(generation, lambda: _load_published(request.app, generation, published))
    return current


def _load_published(app: FastAPI, generation: int, published: str | None) -> PayerRouter | None:
    """The rule and payer files as they are on disk now, for a worker that catches up with the reload
    of `generation` (its examples ran in the worker that reloaded); None when they no longer load
    (then this worker keeps its rules, and says so)."""
    current = app.state.current
    try:
        deployment = load_deployment(settings().rules_dir, settings().payers_dir)
    except RuleSetError as exc:
        log.error(f"the rule files of reload {generation} (revision {published}) no longer load here "
                  f"({len(exc.problems)} problem(s), the first: {exc.problems[0]}); this worker stays on "
                  f"revision {current.revision}", extra={"generation": generation})
        return None
    _warn_if_changed(published, deployment.revision)
    log.info("rules caught up with a reload in another worker", extra={
        "revision": deployment.revision, "previous_revision": current.revision, "generation": generation})
    return PayerRouter(deployment, app.state.reference, app.state.store)


def _published(store: AuditStore) -> tuple[int, str | None]:
    """(generation, revision) the last reload published; (0, None) when the database cannot say."""
    try:
        return store.rules_generation()
    except SQLAlchemyError:
        return 0, None


def _warn_if_changed(published: str | None, loaded: str) -> None:
    if published is not None and published != loaded:
        log.warning(f"the rule files changed after the last reload: it published revision {published}, the "
                    f"files on disk are revision {loaded}; this worker runs {loaded}, as loaded (reload again "
                    "to run the same revision everywhere)", extra={"revision": loaded})


def create_app(scrubber: Scrubber | None = None, store: AuditStore | None = None,
               reference: ReferenceData | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = []
        retention_days = settings().retention_days  # a bad value stops the start-up, saying why
        if settings().bootstrap_key:
            try:
                check_secret(settings().bootstrap_key)
            except ValueError as exc:
                raise ValueError(f"SCRUBBER_BOOTSTRAP_KEY is too weak: {exc}") from None
        if app.state.store is None:
            app.state.store = AuditStore()
            owned.append(app.state.store)
        if settings().bootstrap_key:
            app.state.store.create_key("admin", label="bootstrap", secret=settings().bootstrap_key)
        if app.state.reference is None:
            app.state.reference = open_reference(settings().data_dir)
        generation, published = _published(app.state.store)  # before the files: a reload meanwhile is caught up
        if app.state.current is None:
            deployment = load_deployment(settings().rules_dir, settings().payers_dir)
            app.state.current = Current(PayerRouter(deployment, app.state.reference, app.state.store), owned=True)
            _warn_if_changed(published, deployment.revision)
        app.state.current.generation = generation
        log.info("rules loaded", extra={"revision": app.state.current.revision, "generation": generation})
        retention = RetentionSchedule(app.state.store, retention_days) if retention_days else None
        if retention is not None:
            retention.start()  # purges now, then every 6 hours
        try:
            yield
        finally:
            if retention is not None:
                retention.stop()
            app.state.current.close()
            for thing in owned:
                thing.close()

    app = FastAPI(
        title="Claim scrubber", version="1.0.0", lifespan=lifespan,
        description="Checks US medical claims against coding-edit and payer rules before submission. "
                    "Send your API key in X-API-Key. Errors are RFC 9457 problem+json.",
        responses=problem_responses(422),
    )
    app.state.store, app.state.reference = store, reference
    app.state.current = Current(scrubber, owned=False) if scrubber is not None else None
    app.state.reload_lock = threading.Lock()
    app.add_middleware(BodyLimit)  # innermost of the three: bodies are read only after authentication
    app.add_middleware(Authenticate)
    app.add_middleware(RequestContext)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return problem(exc.status, exc.kind, exc.title, exc.detail, exc.errors, str(request.url.path), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        errors = [e.as_dict() for e in field_errors(exc.errors())]
        if request.url.path.startswith("/v1/claims/"):
            return problem(422, "invalid-claim", "The claim is not valid",
                           f"{len(errors)} field{'s' if len(errors) != 1 else ''} of the request "
                           f"{'are' if len(errors) != 1 else 'is'} invalid", errors, str(request.url.path))
        return problem(422, "invalid-request", "The request is not valid",
                       f"{len(errors)} field{'s' if len(errors) != 1 else ''} of the request "
                       f"{'are' if len(errors) != 1 else 'is'} invalid", errors, str(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # e.g. not UTF-8
            return problem(422, "invalid-claim" if request.url.path.startswith("/v1/claims/") else "invalid-request",
                           "The request is not valid", "the body is not valid JSON text (UTF-8)",
                           [{"field": "(body)", "message": "must be JSON text in UTF-8"}], str(request.url.path))
        kinds = {404: "not-found", 405: "method-not-allowed", 413: "too-large", 415: "unsupported-media-type"}
        return problem(exc.status_code, kinds.get(exc.status_code, "http-error"), str(exc.detail),
                       str(exc.detail), instance=str(request.url.path), headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error")
        return problem(500, "internal-error", "Internal error",
                       "the scrubber could not finish this request; it has been logged", instance=str(request.url.path))

    def scrub_and_record(request: Request, claim: Claim, caller: Caller, as_of: dt.date | None = None) -> ScrubResult:
        with rules_in_force(request).use() as scrubber:
            judged = scrubber.judge(claim, as_of=as_of)
        result = judged.result
        request.state.scrub_id = result.scrub_id  # for the request's log line
        request.app.state.store.record(judged.claim, result, api_key_id=caller.key_id)  # the claim as judged
        count_result(result)
        return result

    # -- operations

    @app.get("/healthz", tags=["operations"], response_model=Health)
    def healthz() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @app.get("/readyz", tags=["operations"], response_model=Readiness, responses=problem_responses(503))
    def readyz(request: Request):
        """Readiness: rules and reference data loaded, database reachable."""
        current, reference = rules_in_force(request), request.app.state.reference
        scrubber_ = current.scrubber if current is not None else None
        checks = {"rules_loaded": scrubber_ is not None and len(scrubber_.program.rules) > 0,
                  "reference_data_loaded": reference is not None and bool(reference.icd10cm_years),
                  "database_reachable": request.app.state.store is not None and request.app.state.store.reachable()}
        if not all(checks.values()):
            failing = ", ".join(name.replace("_", " ") for name, ok in checks.items() if not ok)
            response = problem(503, "not-ready", "Not ready", f"not ready: {failing} failed",
                               instance="/readyz")
            response.body = response.render({**json.loads(response.body), "checks": checks})
            response.headers["content-length"] = str(len(response.body))
            return response
        return Readiness(status="ready", checks=checks, revision=scrubber_.ruleset.revision)

    @app.get("/metrics", tags=["operations"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"},
                        **problem_responses(401, 403)})
    def metrics(caller: Annotated[Caller, Depends(require(*ANY_ROLE))]) -> Response:
        """Prometheus metrics: requests and latency by route, scrubs by status, findings by category and rule."""
        payload, content_type = metrics_payload()
        return Response(payload, media_type=content_type)

    # -- scrubbing

    @app.post("/v1/claims/scrub", tags=["scrubbing"], response_model=ScrubResult,
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

    @app.post("/v1/claims/scrub/batch", tags=["scrubbing"], operation_id="scrub_batch",
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
        body, first = await _read_body(request, _batch_limit)
        try:
            if not first:
                raise ApiError(422, "invalid-request", "The request is not valid",
                               "the body is empty: send a JSON array or NDJSON of claims")
            if first == b"[":
                values = iter(await run_in_threadpool(_json_array, body))
                body.close()
                return _respond(request, caller, object_items(values), as_of, remaining=lambda: sum(1 for _ in values))
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
        return _respond(request, caller, ndjson_file_items(body), as_of,
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

    async def _read_body(request: Request, limit_for: Callable[[bytes], tuple[int, str]]) -> tuple[IO[bytes], bytes]:
        """The whole request body, read before any answer is sent (so that answering never competes
        with reading), kept in memory up to limits.SPOOL_MEMORY_BYTES and in a temporary file past
        that; and its first byte that is not white space (b"" for none). `limit_for(first byte)`
        gives the most bytes such a body may have and what it is called: past it, a 413 at once,
        before the rest is read. A client that goes away meanwhile gets nothing done and one log
        line (and a 499 no one reads). The caller closes the file."""
        body = tempfile.SpooledTemporaryFile(max_size=limits.SPOOL_MEMORY_BYTES)
        first, size = b"", 0
        limit, what = limit_for(first)
        try:
            async for chunk in request.stream():
                if not first and (first := chunk.lstrip(b" \t\r\n")[:1]):
                    limit, what = limit_for(first)
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "too-large", "Request too large",
                                   f"{what} is at most {in_words(limit)}; split it into several requests")
                body.write(chunk)
            body.seek(0)
        except ClientDisconnect:
            body.close()
            log.info(f"request abandoned: the client went away while sending its body, after {size} bytes; "
                     "nothing was scrubbed")
            raise ApiError(499, "client-closed-request", "Client closed request",
                           "the client went away while sending the body") from None
        except BaseException:
            body.close()
            raise
        return body, first

    async def _whole_text(request: Request, what: str) -> str:
        """The whole body as text (at most limits.MAX_WHOLE_BODY_BYTES), UTF-8 or a 422."""
        body, _ = await _read_body(request, lambda first: (limits.MAX_WHOLE_BODY_BYTES, what))
        try:
            with body:
                return await run_in_threadpool(lambda: body.read().decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(422, "invalid-request", "The request is not valid", "the body is not UTF-8 text") from None

    def _respond(request: Request, caller: Caller, items: Iterator[Item], as_of=None, *,
                 remaining: Callable[[], int], body: IO[bytes] | None = None) -> BatchResponse:
        """The response that scrubs `items` as it is sent (see BatchResponse and _results)."""
        progress = Progress()
        return BatchResponse(_results(request, caller, items, as_of, progress), progress, remaining, body)

    async def _results(request: Request, caller: Caller, items: Iterator[Item], as_of, progress: Progress,
                       ) -> AsyncIterator[bytes]:
        """The output records of `items`, in order, scrubbed BATCH_GROUP at a time in the thread
        pool, all on the rules in force when the batch started. A client that goes away abandons
        the records not yet scrubbed (a group already in the thread pool is finished: each scrub
        is stored whole or not at all)."""
        scrubber = (await run_in_threadpool(rules_in_force, request)).hold()
        try:
            while group := await run_in_threadpool(_scrub_items, request, caller, scrubber, items, as_of, progress):
                yield group
            progress.complete = True
        finally:
            scrubber.release()

    def _scrub_items(request: Request, caller: Caller, scrubber, items: Iterator[Item], as_of,
                     progress: Progress) -> bytes:
        """The output of the next BATCH_GROUP items (b"" when none is left); each claim's scrub is
        stored before the next one is read."""
        out = []
        for item in itertools.islice(items, BATCH_GROUP):
            out.append(_scrub_one(request, caller, scrubber, item, as_of))
            progress.done += 1
        request.state.claim_count = progress.done  # for the request's log line
        return b"".join(out)

    def _scrub_one(request: Request, caller: Caller, scrubber, item: Item, as_of=None) -> bytes:
        judged_claim, record = judge_item(scrubber, item, as_of=as_of)
        if isinstance(record, ScrubResult):
            if judged_claim is not None:
                request.app.state.store.record(judged_claim, record, api_key_id=caller.key_id)
            count_result(record)
        return output_line(record)

    @app.post("/v1/claims/scrub/x12", tags=["scrubbing"], operation_id="scrub_x12",
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
        text = await _whole_text(request, "an X12 interchange")
        items = x12_items(io.StringIO(text, newline=""))
        first = await run_in_threadpool(_first_x12_item, items)
        rest = itertools.chain([first], items)
        return _respond(request, caller, rest, remaining=lambda: sum(1 for _ in rest))

    def _first_x12_item(items: Iterator[Item]) -> Item:
        try:
            first = next(items, None)
        except X12Error as exc:
            raise ApiError(422, "invalid-x12", "The interchange cannot be read", str(exc)) from None
        if first is None:
            raise ApiError(422, "invalid-x12", "The interchange cannot be read", "it holds no claim")
        return first

    @app.post("/v1/claims/scrub/fhir", tags=["scrubbing"], operation_id="scrub_fhir",
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
        text = await _whole_text(request, "a FHIR resource")
        try:
            items = iter(await run_in_threadpool(lambda: list(fhir_items(text))))
        except ValueError as exc:
            raise ApiError(422, "invalid-fhir", "The FHIR resource cannot be read", str(exc)) from None
        return _respond(request, caller, items, remaining=lambda: sum(1 for _ in items))

    # -- the audit trail and statistics

    @app.get("/v1/scrubs/{scrub_id}", tags=["audit"], response_model=StoredScrub, operation_id="get_scrub",
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

    @app.get("/v1/scrubs", tags=["audit"], response_model=ScrubPage, operation_id="list_scrubs",
             responses=problem_responses(401, 403))
    def list_scrubs(request: Request, caller: Annotated[Caller, Depends(require(*ANY_ROLE))],
                    claim_id: Annotated[str | None, Query(max_length=80, pattern=PRINTABLE)] = None,
                    status: Literal["pass", "warn", "fail"] | None = None,
                    payer: Annotated[str | None, Query(max_length=40, pattern=PRINTABLE)] = None,
                    rule_id: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
                    from_: Annotated[IsoDate | None, Query(alias="from")] = None,
                    to: Annotated[IsoDate | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    cursor: Annotated[str | None, Query(max_length=26, pattern=PRINTABLE)] = None) -> ScrubPage:
        """Stored scrubs, newest first, filtered; page with `cursor`. A submitter lists only what its
        own key sent. Every list is recorded (the filters and the count)."""
        store = request.app.state.store
        page = store.list(claim_id=claim_id, status=status, payer=payer, rule_id=rule_id, since=from_, until=to,
                          limit=limit, cursor=cursor, api_key_id=access.owner_filter(caller))
        filters = {"claim_id": claim_id, "status": status, "payer": payer, "rule_id": rule_id,
                   "from": from_.isoformat() if from_ else None, "to": to.isoformat() if to else None,
                   "limit": limit, "cursor": cursor}
        store.record_access(key_id=caller.key_id, role=caller.role, action="list",
                            detail={"filters": {k: v for k, v in filters.items() if v is not None},
                                    "count": len(page.items)})
        return ScrubPage(items=page.items, next_cursor=page.next_cursor)

    @app.get("/v1/audit/access", tags=["audit"], response_model=ClaimAccessPage, operation_id="list_claim_access",
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

    @app.get("/v1/stats", tags=["audit"], response_model=Stats, operation_id="get_stats",
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

    # -- rules

    def _summary(rule, compiled, revision: str) -> dict:
        return {"id": rule.id, "title": rule.title, "category": rule.category, "severity": rule.severity,
                "status": rule.status, "carc": rule.carc, "rarc": rule.rarc,
                "effective_from": rule.effective.from_, "effective_to": rule.effective.to,
                "source": compiled.source, "revision": revision}

    @app.get("/v1/rules", tags=["rules"], response_model=RuleList, operation_id="list_rules",
             responses=problem_responses(401, 403))
    def list_rules(request: Request, caller: Annotated[Caller, Depends(require(*RULE_READERS))]) -> RuleList:
        """The rules in force, with their source file and the rule set revision."""
        ruleset = rules_in_force(request).scrubber.ruleset
        return RuleList(revision=ruleset.revision,
                        rules=[_summary(c.rule, c, ruleset.revision) for c in ruleset.program.rules])

    @app.post("/v1/rules/validate", tags=["rules"], response_model=Validation, operation_id="validate_rules",
              responses=problem_responses(401, 403, 413, 422),
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/yaml": {"schema": {"type": "string", "minLength": 1}},
                  "text/plain": {"schema": {"type": "string", "minLength": 1}}}}})
    async def validate_rules(request: Request, caller: Annotated[Caller, Depends(require(*COMPLIANCE))],
                             name: Annotated[str, Query(max_length=200, pattern=r"^[\w./-]+\.ya?ml$")] = "rules/new.yaml"
                             ) -> Validation:
        """Lint a rule file (YAML in the body) together with the rules in force, as `name` (a file of
        the same name is replaced): every problem with file:line:column. Nothing is loaded."""
        raw = await request.body()
        if len(raw) > limits.MAX_RULE_FILE_BYTES:
            raise ApiError(413, "too-large", "Rule file too large",
                           f"a rule file is at most {limits.MAX_RULE_FILE_BYTES // limits.MB} MB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Validation(valid=False, rules=0, problems=[LintProblem(
                file=name, line=1, column=1, message="the file is not UTF-8 text", rule_id=None)])
        if not text.strip(" \t\r\n"):
            raise ApiError(422, "invalid-request", "The request is not valid",
                           "the body is empty: send the YAML text of a rule file",
                           [{"field": "(body)", "message": "must be the YAML text of a rule file"}])
        current = await run_in_threadpool(rules_in_force, request)
        return await run_in_threadpool(lint_rule_text, current, name, text)

    @app.post("/v1/rules/reload", tags=["rules"], response_model=Reloaded, operation_id="reload_rules",
              responses=problem_responses(401, 403, 409, 422))
    def reload_rules(request: Request, caller: Annotated[Caller, Depends(require("admin"))]) -> Reloaded:
        """Load the rule and payer files again, off to the side: lint them, run every example, and
        only then swap them in, atomically. Requests in flight finish on the rule set they started
        with; a set with a problem or a failing example never replaces the running one, and the
        reply says why."""
        if not request.app.state.reload_lock.acquire(blocking=False):
            raise ApiError(409, "reload-running", "A reload is already running", "try again when it has finished")
        try:
            current = request.app.state.current
            previous = current.revision
            try:
                deployment = load_deployment(settings().rules_dir, settings().payers_dir)
            except RuleSetError as exc:
                raise ApiError(422, "rules-invalid", "The rule files have problems",
                               f"{len(exc.problems)} problem(s); the running rule set {previous} stays in force",
                               [{"field": f"{p.file}:{p.line}:{p.column}", "message": p.message}
                                for p in exc.problems[:200]]) from None
            results = run_examples(deployment, request.app.state.reference)
            failed = [r for r in results if not r.passed]
            if failed:
                raise ApiError(422, "examples-failed", "Rule examples fail",
                               f"{len(failed)} of {len(results)} example(s) fail; the running rule set "
                               f"{previous} stays in force",
                               [{"field": r.where, "message": f"{r.rule_id}: example '{r.name}': {r.why}"}
                                for r in failed[:200]]) from None
            router = PayerRouter(deployment, request.app.state.reference, request.app.state.store)
            # the other worker processes catch up with the generation published here
            generation = current.replace(router, lambda: request.app.state.store.publish_rules(deployment.revision))
            log.info("rules reloaded", extra={"revision": deployment.revision, "previous_revision": previous,
                                              "generation": generation})
            return Reloaded(revision=deployment.revision, previous_revision=previous,
                            rules=len(deployment.base.program.rules), payers=sorted(deployment.payers),
                            examples_passed=len(results))
        finally:
            request.app.state.reload_lock.release()

    @app.post("/v1/rules/impact", tags=["rules"], response_model=Impact, operation_id="rules_impact",
              responses={**problem_responses(401, 403, 413, 422),
                         503: {**problem_responses(503)[503],
                               "description": "the run took longer than its time limit (impact-timeout); the "
                                              "detail says how many claims were measured"}})
    async def rules_impact(request: Request, body: ImpactRequest,
                           caller: Annotated[Caller, Depends(require(*COMPLIANCE))]):
        """What a change would do before it is deployed: the candidate files (added to, or replacing
        files of the same name in, the rules and payers in force) and the running set re-scrub the
        stored claims (the newest scrub of each claim id, since a date) or the claims given, and
        the reply counts, rule by rule, the claims that would newly be reported or no longer be.
        The run stops when its client goes away, and after a time limit with a 503."""
        cancel, corpus_size = threading.Event(), [0]

        def run() -> Impact:
            current = rules_in_force(request)
            sources = current.sources()
            for f in body.files:
                sources[f.name] = f.text
            try:
                candidate = load_deployment_texts(*current.split(sources))
            except RuleSetError as exc:
                raise ApiError(422, "rules-invalid", "The candidate files have problems",
                               f"{len(exc.problems)} problem(s)",
                               [{"field": f"{p.file}:{p.line}:{p.column}", "message": p.message}
                                for p in exc.problems[:200]]) from None
            if body.claims:
                corpus = [(c.claim_id or f"#{i + 1}", c) for i, c in enumerate(body.claims)]
            else:
                corpus = [(c.claim_id or sid, c) for sid, c in request.app.state.store.stored_claims(
                    since=body.since, limit=body.limit)]
            corpus_size[0] = len(corpus)
            with current.use() as running:
                deployment = getattr(running, "deployment", None)
                if deployment is None:
                    deployment = load_deployment_texts(*current.split(current.sources()))
                report = measure(deployment, candidate, corpus, reference=request.app.state.reference,
                                 history=request.app.state.store, cancel=cancel)
            return Impact(**report.as_dict())

        worker = asyncio.ensure_future(run_in_threadpool(run))
        reason = await _watch(request, worker, cancel, limits.IMPACT_TIMEOUT_S)
        try:
            return await worker
        except ImpactStopped as stopped:
            log.info(f"impact run stopped: {reason}; {stopped.claims} of {corpus_size[0]} claims measured")
            if reason == CLIENT_GONE:
                return Response(status_code=499)  # nobody is listening: nginx's "client closed request"
            raise ApiError(503, "impact-timeout", "The impact run took too long",
                           f"the run stopped after {limits.IMPACT_TIMEOUT_S:g} s, when {stopped.claims} of "
                           f"{corpus_size[0]} claims had been measured; measure fewer claims (a later `since`, "
                           f"a smaller `limit`, or a smaller `claims` corpus)", headers={"Retry-After": "60"}) from None

    # after /v1/rules/validate, so that other methods on that path answer 405 Allow: POST
    @app.get("/v1/rules/{rule_id}", tags=["rules"], response_model=RuleDetail, operation_id="get_rule",
             responses=problem_responses(401, 403, 404, 405))
    def get_rule(request: Request, rule_id: Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")],
                 caller: Annotated[Caller, Depends(require(*RULE_READERS))]) -> RuleDetail:
        """One rule as written, with its examples."""
        if rule_id == "validate":  # the path of POST /v1/rules/validate, not a rule
            raise ApiError(405, "method-not-allowed", "Method Not Allowed", "/v1/rules/validate takes POST",
                           headers={"Allow": "POST"})
        ruleset = rules_in_force(request).scrubber.ruleset
        for compiled in ruleset.program.rules:
            if compiled.rule.id == rule_id:
                return RuleDetail(**_summary(compiled.rule, compiled, ruleset.revision),
                                  definition=compiled.rule.model_dump(mode="json", by_alias=True))
        raise ApiError(404, "not-found", "No such rule", f"no rule in force has the id {rule_id!r}")

    # -- code lookup

    @app.get("/v1/codes/{system}/{code}", tags=["codes"], response_model=CodeInfo, operation_id="look_up_code",
             responses=problem_responses(401, 403))
    def look_up_code(request: Request, system: Literal["icd10cm", "hcpcs", "cpt", "modifier", "pos"],
                     code: Annotated[str, Path(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9.]+$")],
                     caller: Annotated[Caller, Depends(require(*ANY_ROLE))],
                     date: Annotated[IsoDate | None, Query(description="date of service (default: today)")] = None,
                     ) -> CodeInfo:
        """Is this code valid on a date of service, billable, and what is it: ICD-10-CM (by the fiscal
        year's code set; a header code lists its billable children), HCPCS Level II and modifiers
        (with their effective and termination dates), place of service; CPT: its shape only."""
        found = code_edits.look_up(request.app.state.reference, system, code, date or dt.date.today())
        return CodeInfo(**{**found.__dict__, "children": list(found.children)})

    return app
