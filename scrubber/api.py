"""The HTTP API (FastAPI): thin routes over the pipeline and the audit store.

Errors are RFC 9457 problem+json. API keys travel in X-API-Key; with no key stored at all, the
service answers only clients on the loopback interface (and `scrubber serve` binds there).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import secrets
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any, Iterator, Literal

from fastapi import Body, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from scrubber import config
from scrubber.audit import ROLES, ApiKey, AuditStore, ClaimHistory
from scrubber.claim import PRINTABLE, Claim, IsoDate, ScrubResult
from scrubber.observability import LATENCY, REQUESTS, count_result, metrics_payload, request_id
from scrubber.parse import ClaimError, field_errors, read_claims
from scrubber.pipeline import Scrubber
from scrubber.ruleset import RuleSetError, load_ruleset, load_texts

log = logging.getLogger("scrubber.api")

PROBLEM = "application/problem+json"
MAX_BATCH_BYTES = 64 * 1024 * 1024


class ApiError(Exception):
    def __init__(self, status: int, kind: str, title: str, detail: str, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail
        self.errors, self.headers = errors, headers or {}


def problem(status: int, kind: str, title: str, detail: str, errors: list[dict] | None = None,
            instance: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{kind}", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class Problem(BaseModel):
    """RFC 9457 problem details (`errors`: every bad field; `checks`: readiness checks)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
    checks: dict[str, bool] | None = None


def _problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    words = {401: "no API key, or an unknown one", 403: "the key's role may not call this",
             404: "not found", 405: "this path takes another method", 413: "the request is too large",
             422: "the request is not valid", 503: "not ready"}
    return {code: {"description": words[code], "model": Problem, "content": {PROBLEM: {}}} for code in codes}


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


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, bool]
    revision: str | None


# ----------------------------------------------------------------------------- authentication


Role = Literal["submitter", "coder", "compliance", "admin"]
LOOPBACK_ROLE = "admin"  # no key stored at all: loopback clients may do everything


class Caller(BaseModel):
    key_id: str | None
    role: str


def _is_loopback(host: str | None) -> bool:
    if host in (None, "testclient", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class KeyCache:
    """Key lookups, cached briefly so that a request does not cost a database read."""

    def __init__(self, store: AuditStore, ttl: float = 30.0):
        self.store, self.ttl = store, ttl
        self._keys: dict[str, tuple[float, ApiKey | None]] = {}
        self._any: tuple[float, bool] = (0.0, False)
        self._lock = threading.Lock()

    def any_key(self) -> bool:
        """Whether any key exists. "Yes" is cached; "no" is asked again on every request, so that
        the first key created takes effect at once."""
        now = time.monotonic()
        if not self._any[1] or now > self._any[0]:
            self._any = (now + self.ttl, self.store.has_keys())
        return self._any[1]

    def lookup(self, secret: str) -> ApiKey | None:
        now = time.monotonic()
        with self._lock:
            hit = self._keys.get(secret)
        if hit is None or now > hit[0]:
            hit = (now + self.ttl, self.store.key_for(secret))
            with self._lock:
                if len(self._keys) > 10_000:
                    self._keys.clear()
                self._keys[secret] = hit
        return hit[1]

    def forget(self) -> None:
        with self._lock:
            self._keys.clear()
        self._any = (0.0, False)


def require(*roles: str):
    """A dependency: the caller's key must exist and have one of `roles` (admin always may)."""
    allowed = set(roles) | {"admin"}

    def dependency(request: Request,
                   x_api_key: Annotated[str | None, Depends(_api_key_header)] = None) -> Caller:
        keys: KeyCache = request.app.state.keys
        if not keys.any_key():
            if _is_loopback(request.client.host if request.client else None):
                return Caller(key_id=None, role=LOOPBACK_ROLE)
            raise ApiError(403, "loopback-only", "Loopback only",
                           "no API key exists yet: this service answers only on the loopback interface")
        if not x_api_key:
            raise ApiError(401, "unauthorized", "API key required", "send your API key in the X-API-Key header",
                           headers={"WWW-Authenticate": "X-API-Key"})
        key = keys.lookup(x_api_key)
        if key is None:
            raise ApiError(401, "unauthorized", "Unknown API key", "this API key is unknown or revoked",
                           headers={"WWW-Authenticate": "X-API-Key"})
        if key.role not in allowed:
            raise ApiError(403, "forbidden", "Not allowed for this role",
                           f"a {key.role} key may not call this; it needs one of: {', '.join(sorted(allowed))}")
        return Caller(key_id=key.key_id, role=key.role)

    return dependency


def _api_key_header(request: Request) -> str | None:
    return request.headers.get("x-api-key")


ANY_ROLE = ROLES
SCRUBBING = ("submitter", "coder")
RULE_READERS = ("compliance", "coder")
COMPLIANCE = ("compliance",)


# ----------------------------------------------------------------------------- the app


class RequestContext:
    """Pure ASGI middleware: a request id on every request and response, one structured log line
    and the HTTP metrics per request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        rid = given if given and given.isprintable() else secrets.token_hex(8)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # here, not in an app-level handler, so that the log line and the 500 keep the request id
            log.exception("unexpected error")
            if status.get("started"):
                raise
            response = problem(500, "internal-error", "Internal error",
                               "the scrubber could not finish this request; it has been logged",
                               instance=scope.get("path"))
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], path, str(status["code"])).inc()
            LATENCY.labels(scope["method"], path).observe(elapsed)
            log.info("request", extra={"method": scope["method"], "path": path, "status": status["code"],
                                       "duration_ms": round(elapsed * 1000, 2)})
            request_id.reset(token)


def create_app(scrubber: Scrubber | None = None, store: AuditStore | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = []
        if app.state.store is None:
            app.state.store = AuditStore()
            owned.append(app.state.store)
        if config.bootstrap_key():
            app.state.store.create_key("admin", label="bootstrap", secret=config.bootstrap_key())
        app.state.keys = KeyCache(app.state.store)
        if app.state.scrubber is None:
            app.state.scrubber = Scrubber(load_ruleset(config.rules_dir()),
                                          enrichers=(ClaimHistory(app.state.store),))
            owned.append(app.state.scrubber)
        log.info("rules loaded", extra={"revision": app.state.scrubber.ruleset.revision})
        try:
            yield
        finally:
            for thing in owned:
                thing.close()

    app = FastAPI(
        title="Claim scrubber", version="1.0.0", lifespan=lifespan,
        description="Checks US medical claims against coding-edit and payer rules before submission. "
                    "Send your API key in X-API-Key. Errors are RFC 9457 problem+json.",
        responses=_problem_responses(422),
    )
    app.state.scrubber, app.state.store = scrubber, store
    if store is not None:
        app.state.keys = KeyCache(store)
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

    def scrub_and_record(request: Request, claim: Claim, caller: Caller) -> ScrubResult:
        result = request.app.state.scrubber.scrub(claim)
        request.app.state.store.record(claim, result, api_key_id=caller.key_id)
        count_result(result)
        return result

    # -- operations

    @app.get("/healthz", tags=["operations"], response_model=Health)
    def healthz() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @app.get("/readyz", tags=["operations"], response_model=Readiness, responses=_problem_responses(503))
    def readyz(request: Request):
        """Readiness: rules and reference data loaded, database reachable."""
        from scrubber import codesets

        scrubber_ = request.app.state.scrubber
        checks = {"rules_loaded": scrubber_ is not None and len(scrubber_.program.rules) > 0,
                  "reference_data_loaded": bool(codesets.place_of_service()),
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
                        **_problem_responses(401, 403)})
    def metrics(caller: Annotated[Caller, Depends(require(*ANY_ROLE))]) -> Response:
        """Prometheus metrics: requests and latency by route, scrubs by status, findings by category and rule."""
        payload, content_type = metrics_payload()
        return Response(payload, media_type=content_type)

    # -- scrubbing

    @app.post("/v1/claims/scrub", tags=["scrubbing"], response_model=ScrubResult,
              responses={200: {"description": "the scrub result: pass, warn or fail with findings",
                               "links": {"GetScrubById": {"operationId": "get_scrub",
                                                          "parameters": {"scrub_id": "$response.body#/scrub_id"}}}},
                         **_problem_responses(401, 403)},
              operation_id="scrub_claim")
    def scrub_claim(request: Request, claim: Annotated[Claim, Body()],
                    caller: Annotated[Caller, Depends(require(*SCRUBBING))]) -> ScrubResult:
        """One claim in, one scrub result out, stored in the audit trail. Content problems (an invalid
        code, a bad NPI check digit, a future date) are findings in a 200 response; only a claim that
        is not shaped like the contract gets a 422."""
        return scrub_and_record(request, claim, caller)

    @app.post("/v1/claims/scrub/batch", tags=["scrubbing"], operation_id="scrub_batch",
              responses={200: {"description": "NDJSON: one scrub result per claim, in order; a claim that "
                                              "cannot be read gives an error record in its place",
                               "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                         **_problem_responses(401, 403, 413)},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Claim"}}},
                  "application/x-ndjson": {"schema": {"type": "string"}}}}})
    async def scrub_batch(request: Request, caller: Annotated[Caller, Depends(require(*SCRUBBING))]):
        """A JSON array or NDJSON stream of claims in; NDJSON results out, one per claim, in order.
        One bad claim yields an error record for that claim and never aborts the batch."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BATCH_BYTES:
                raise ApiError(413, "too-large", "Batch too large",
                               f"a batch is at most {MAX_BATCH_BYTES // (1024 * 1024)} MB; split it")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(422, "invalid-request", "The request is not valid", "the body is not UTF-8 text") from None
        if not text.strip():
            raise ApiError(422, "invalid-request", "The request is not valid",
                           "the body is empty: send a JSON array or NDJSON of claims")

        def results() -> Iterator[bytes]:
            for index, item in read_claims(text):
                if isinstance(item, ClaimError):
                    record = {"index": index, "error": {"type": "/problems/invalid-claim", "title": "The claim is not valid",
                                                        "status": 422, "detail": item.detail,
                                                        "errors": [e.as_dict() for e in item.errors]}}
                    yield (JSONResponse(record).body + b"\n")
                    continue
                result = scrub_and_record(request, item, caller)
                yield result.model_dump_json().encode() + b"\n"

        return StreamingResponse(results(), media_type="application/x-ndjson")

    # -- the audit trail and statistics

    @app.get("/v1/scrubs/{scrub_id}", tags=["audit"], response_model=StoredScrub, operation_id="get_scrub",
             responses=_problem_responses(401, 403, 404))
    def get_scrub(request: Request, scrub_id: Annotated[str, Path(max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")],
                  caller: Annotated[Caller, Depends(require(*ANY_ROLE))]) -> StoredScrub:
        """A stored scrub: the claim as checked, its result, the rule set revision, the key, the time."""
        found = request.app.state.store.get(scrub_id)
        if found is None:
            raise ApiError(404, "not-found", "No such scrub", f"no scrub has the id {scrub_id!r}")
        return StoredScrub(**found)

    @app.get("/v1/scrubs", tags=["audit"], response_model=ScrubPage, operation_id="list_scrubs",
             responses=_problem_responses(401, 403))
    def list_scrubs(request: Request, caller: Annotated[Caller, Depends(require(*ANY_ROLE))],
                    claim_id: Annotated[str | None, Query(max_length=80, pattern=PRINTABLE)] = None,
                    status: Literal["pass", "warn", "fail"] | None = None,
                    payer: Annotated[str | None, Query(max_length=40, pattern=PRINTABLE)] = None,
                    rule_id: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
                    from_: Annotated[IsoDate | None, Query(alias="from")] = None,
                    to: Annotated[IsoDate | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    cursor: Annotated[str | None, Query(max_length=26, pattern=PRINTABLE)] = None) -> ScrubPage:
        """Stored scrubs, newest first, filtered; page with `cursor`."""
        page = request.app.state.store.list(claim_id=claim_id, status=status, payer=payer, rule_id=rule_id,
                                            since=from_, until=to, limit=limit, cursor=cursor)
        return ScrubPage(items=page.items, next_cursor=page.next_cursor)

    @app.get("/v1/stats", tags=["audit"], response_model=Stats, operation_id="get_stats",
             responses=_problem_responses(401, 403))
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
             responses=_problem_responses(401, 403))
    def list_rules(request: Request, caller: Annotated[Caller, Depends(require(*RULE_READERS))]) -> RuleList:
        """The rules in force, with their source file and the rule set revision."""
        ruleset = request.app.state.scrubber.ruleset
        return RuleList(revision=ruleset.revision,
                        rules=[_summary(c.rule, c, ruleset.revision) for c in ruleset.program.rules])

    @app.post("/v1/rules/validate", tags=["rules"], response_model=Validation, operation_id="validate_rules",
              responses=_problem_responses(401, 403, 413, 422),
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/yaml": {"schema": {"type": "string", "minLength": 1}},
                  "text/plain": {"schema": {"type": "string", "minLength": 1}}}}})
    async def validate_rules(request: Request, caller: Annotated[Caller, Depends(require(*COMPLIANCE))],
                             name: Annotated[str, Query(max_length=200, pattern=r"^[\w./-]+\.ya?ml$")] = "rules/new.yaml"
                             ) -> Validation:
        """Lint a rule file (YAML in the body) together with the rules in force, as `name` (a file of
        the same name is replaced): every problem with file:line:column. Nothing is loaded."""
        raw = await request.body()
        if len(raw) > 2 * 1024 * 1024:
            raise ApiError(413, "too-large", "Rule file too large", "a rule file is at most 2 MB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Validation(valid=False, rules=0, problems=[LintProblem(
                file=name, line=1, column=1, message="the file is not UTF-8 text", rule_id=None)])
        if not text.strip(" \t\r\n"):
            raise ApiError(422, "invalid-request", "The request is not valid",
                           "the body is empty: send the YAML text of a rule file",
                           [{"field": "(body)", "message": "must be the YAML text of a rule file"}])
        running = request.app.state.scrubber.ruleset
        texts = [(n, t) for n, t in running.sources.items() if n != name] + [(name, text)]
        try:
            checked = load_texts(texts)
        except RuleSetError as exc:
            return Validation(valid=False, rules=0, problems=[LintProblem(**p.as_dict()) for p in exc.problems])
        return Validation(valid=True, rules=sum(1 for c in checked.program.rules if c.source == name), problems=[])

    # after /v1/rules/validate, so that other methods on that path answer 405 Allow: POST
    @app.get("/v1/rules/{rule_id}", tags=["rules"], response_model=RuleDetail, operation_id="get_rule",
             responses=_problem_responses(401, 403, 404, 405))
    def get_rule(request: Request, rule_id: Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")],
                 caller: Annotated[Caller, Depends(require(*RULE_READERS))]) -> RuleDetail:
        """One rule as written, with its examples."""
        if rule_id == "validate":  # the path of POST /v1/rules/validate, not a rule
            raise ApiError(405, "method-not-allowed", "Method Not Allowed", "/v1/rules/validate takes POST",
                           headers={"Allow": "POST"})
        ruleset = request.app.state.scrubber.ruleset
        for compiled in ruleset.program.rules:
            if compiled.rule.id == rule_id:
                return RuleDetail(**_summary(compiled.rule, compiled, ruleset.revision),
                                  definition=compiled.rule.model_dump(mode="json", by_alias=True))
        raise ApiError(404, "not-found", "No such rule", f"no rule in force has the id {rule_id!r}")

    return app
