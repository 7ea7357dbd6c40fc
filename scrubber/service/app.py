"""The HTTP API (FastAPI): thin routes over the pipeline and the audit store. `create_app` builds the
application: its state (the rules in force, the audit store, the reference data), start-up and shut-down,
middleware, the problem+json exception handlers, and the routers of scrubber.service.routes.

Errors are RFC 9457 problem+json. API keys travel in X-API-Key; with no key stored at all, the
service answers only clients on the loopback interface (and `scrubber serve` binds there).
"""
from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scrubber.audit.keys import check_secret
from scrubber.audit.store import AuditStore
from scrubber.intake.parse import field_errors
from scrubber.pipeline.routing import PayerRouter
from scrubber.pipeline.scrubber import Scrubber
from scrubber.refdata.baseline import open_reference
from scrubber.refdata.store import ReferenceData
from scrubber.ruleset.payers import load_deployment
from scrubber.service.auth import Authenticate
from scrubber.service.body_limits import BodyLimit
from scrubber.service.current import Current, published_generation, warn_if_changed
from scrubber.service.observability import RequestContext
from scrubber.service.problems import ApiError, problem, problem_responses
from scrubber.service.retention import RetentionSchedule
from scrubber.service.routes import claims, codes, data, operations, rules, scrubs, stats, submissions, ui
from scrubber.settings import settings

log = logging.getLogger("scrubber.service.app")


def create_app(scrubber: Scrubber | None = None, store: AuditStore | None = None,
               reference: ReferenceData | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = []
        retention_days = settings().retention_days  # a bad value stops the start-up, saying why
        bootstrap_key = settings().bootstrap_key
        if bootstrap_key:
            try:
                check_secret(bootstrap_key)
            except ValueError as exc:
                raise ValueError(f"SCRUBBER_BOOTSTRAP_KEY is too weak: {exc}") from None
        if app.state.store is None:
            app.state.store = AuditStore()
            owned.append(app.state.store)
        if bootstrap_key:
            app.state.store.create_key("admin", label="bootstrap", secret=bootstrap_key)
        if app.state.reference is None:
            app.state.reference = open_reference(settings().data_dir)
        # read before the files: a reload meanwhile is caught up
        generation, published_revision = published_generation(app.state.store)
        built_current = app.state.current is None
        if built_current:
            deployment = load_deployment(settings().rules_dir, settings().payers_dir)
            app.state.current = Current(PayerRouter(deployment, app.state.reference, app.state.store), owned=True)
            warn_if_changed(published_revision, deployment.revision)
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
            if built_current:  # closed: a later start-up of this app (tests run several) loads its own
                app.state.current = None
            for thing in owned:
                thing.close()
            if app.state.store in owned:
                app.state.store = None

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
        if request.url.path.startswith("/v1/claims/scrub"):
            return problem(422, "invalid-claim", "The claim is not valid",
                           f"{len(errors)} field{'s' if len(errors) != 1 else ''} of the request "
                           f"{'are' if len(errors) != 1 else 'is'} invalid", errors, str(request.url.path))
        return problem(422, "invalid-request", "The request is not valid",
                       f"{len(errors)} field{'s' if len(errors) != 1 else ''} of the request "
                       f"{'are' if len(errors) != 1 else 'is'} invalid", errors, str(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # e.g. not UTF-8
            return problem(422, "invalid-claim" if request.url.path.startswith("/v1/claims/scrub") else "invalid-request",
                           "The request is not valid", "the body is not valid JSON text (UTF-8)",
                           [{"field": "(body)", "message": "must be JSON text in UTF-8"}], str(request.url.path))
        kinds = {404: "not-found", 405: "method-not-allowed", 413: "too-large", 415: "unsupported-media-type"}
        return problem(exc.status_code, kinds.get(exc.status_code, "http-error"), str(exc.detail),
                       str(exc.detail), instance=str(request.url.path),
                       headers=dict(exc.headers) if exc.headers is not None else None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error")
        return problem(500, "internal-error", "Internal error",
                       "the scrubber could not finish this request; it has been logged", instance=str(request.url.path))

    for resource in (operations, claims, submissions, scrubs, stats, rules, codes, data, ui):  # the order in the document
        app.include_router(resource.router)
    return app
