"""The HTTP API (FastAPI): thin routes over the pipeline; errors are RFC 9457 problem+json."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from scrubber import config
from scrubber.claim import Claim, ScrubResult
from scrubber.parse import FieldError, field_path
from scrubber.pipeline import Scrubber
from scrubber.ruleset import load_ruleset

log = logging.getLogger("scrubber.api")

PROBLEM = "application/problem+json"


def problem(status: int, kind: str, title: str, detail: str, errors: list[dict] | None = None,
            instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{kind}", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


_PROBLEM_SCHEMA = {"content": {PROBLEM: {"schema": {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "instance": {"type": "string"},
                   "errors": {"type": "array", "items": {
                       "type": "object", "required": ["field", "message"],
                       "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}}}}


def _validation_errors(exc: RequestValidationError) -> list[dict]:
    from scrubber.parse import _message

    out: dict[tuple, FieldError] = {}
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p != "body" and not (isinstance(p, str) and (
            p in ("int", "str", "constrained-str") or p.startswith("function-"))))
        if err["type"] == "json_invalid":
            loc, message = (), f"the body is not valid JSON: {err.get('ctx', {}).get('error', 'syntax error')}"
        elif not loc and isinstance(err.get("input"), (str, bytes)):
            message = "must be a JSON object (the claim), sent with Content-Type: application/json"
        elif not loc and err["type"] in ("model_attributes_type", "dict_type", "model_type"):
            message = "must be a JSON object (the claim)"
        else:
            message = _message(err)
        if "diagnosis_pointers" in loc and len(loc) > loc.index("diagnosis_pointers") + 1:
            message = "must be a diagnosis number (1-12) or letter (A-L)"
        fe = FieldError(field_path(loc), message)
        out[(fe.field, fe.message)] = fe
    return [e.as_dict() for e in out.values()]


def create_app(scrubber: Scrubber | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "scrubber", None) is None:
            app.state.scrubber = Scrubber(load_ruleset(config.rules_dir()))
        log.info("rules loaded: revision %s, %d rules", app.state.scrubber.ruleset.revision,
                 len(app.state.scrubber.program.rules))
        yield

    app = FastAPI(
        title="Claim scrubber", version="1.0.0", lifespan=lifespan,
        description="Checks US medical claims against coding-edit and payer rules before submission.",
        responses={422: {"description": "the claim is not structurally valid", **_PROBLEM_SCHEMA}},
    )
    app.state.scrubber = scrubber

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        errors = _validation_errors(exc)
        return problem(422, "invalid-claim", "The claim is not valid",
                       f"{len(errors)} field{'s' if len(errors) != 1 else ''} of the request "
                       f"{'are' if len(errors) != 1 else 'is'} invalid", errors, str(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        kinds = {404: "not-found", 405: "method-not-allowed", 413: "too-large", 415: "unsupported-media-type"}
        response = problem(exc.status_code, kinds.get(exc.status_code, "http-error"), str(exc.detail),
                           str(exc.detail), instance=str(request.url.path))
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return problem(500, "internal-error", "Internal error",
                       "the scrubber could not finish this request; it has been logged", instance=str(request.url.path))

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.post("/v1/claims/scrub", tags=["scrubbing"], response_model=ScrubResult,
              responses={200: {"description": "the scrub result: pass, warn or fail with findings"}})
    def scrub_claim(request: Request, claim: Annotated[Claim, Body()]) -> ScrubResult:
        """One claim in, one scrub result out. Content problems (an invalid code, a bad NPI check
        digit, a future date) are findings in a 200 response; only a claim that is not shaped like
        the contract gets a 422."""
        return request.app.state.scrubber.scrub(claim)

    return app
