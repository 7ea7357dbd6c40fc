"""Request body limits, enforced while the body is read: a pure ASGI middleware.

Each endpoint has a size limit (scrubber.limits; the README's "Limits" table). A request that
declares a larger Content-Length is answered 413 at once, before a byte of its body is read; a
body sent without one (chunked) is counted as it arrives and refused as soon as it passes the limit.
A body that pauses longer than the chunk timeout between two parts is answered 408. The app behind
never parses more than the limit. The middleware sits inside authentication, so a caller without
a key gets 401 and never has a body read at all.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.exceptions import HTTPException

from scrubber import limits
from scrubber.service.problems import problem

# the endpoints with their own limit; any other path: limits.MAX_OTHER_BYTES
LIMITS: dict[str, int] = {
    "/v1/claims/scrub": limits.MAX_CLAIM_BYTES,
    "/v1/claims/scrub/batch": limits.MAX_NDJSON_BATCH_BYTES,  # a JSON array: MAX_WHOLE_BODY_BYTES, by its handler
    "/v1/claims/scrub/x12": limits.MAX_WHOLE_BODY_BYTES,
    "/v1/claims/scrub/fhir": limits.MAX_WHOLE_BODY_BYTES,
    "/v1/rules/validate": limits.MAX_RULE_FILE_BYTES,
    "/v1/rules/impact": limits.MAX_IMPACT_BYTES,
    "/v1/claims/submissions": limits.MAX_SUBMISSIONS_BYTES,
}

# seconds a body may pause between two parts; read when the middleware is built (tests shorten it)
CHUNK_TIMEOUT_S = limits.BODY_CHUNK_TIMEOUT_S


def limit_for(path: str) -> int:
    """The most bytes a request body to this path may hold."""
    return LIMITS.get(path, limits.MAX_OTHER_BYTES)


def size_text(size: int) -> str:
    """A limit as people read it: "4 MB", "64 KB"."""
    if size >= limits.MB:
        return f"{size / limits.MB:g} MB"
    return f"{size / 1024:g} KB"


class BodyRefused(HTTPException):
    """Raised from `receive` inside the app when its body is too large or stalls. An HTTPException,
    so that the app handles it quietly (no traceback); the middleware answers in its place."""

    def __init__(self, status: int, kind: str, title: str, detail: str):
        super().__init__(status, detail)
        self.kind, self.title = kind, title

    def response(self, path: str):
        return problem(self.status_code, self.kind, self.title, self.detail, instance=path,
                       headers={"Connection": "close"})


def too_large(path: str, limit: int, what: str) -> BodyRefused:
    return BodyRefused(413, "too-large", "Request body too large",
                       f"the body of a request to {path} may be at most {size_text(limit)}; {what}")


@dataclass
class _Reading:
    """How far the body of one request has been read, and the refusal that stopped it (if any)."""
    received: int = 0
    done: bool = False
    refused: BodyRefused | None = None
    started: bool = False  # the response has started


class BodyLimit:
    """Pure ASGI middleware: the body of each request is limited in size (by its path) and in the
    time between two of its parts, while it is read."""

    def __init__(self, app):
        self.app = app
        self.chunk_timeout = CHUNK_TIMEOUT_S

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = limit_for(path)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await too_large(path, limit, f"this one declares {declared} bytes").response(path)(scope, receive, send)
            return

        state = _Reading()

        async def limited_receive():
            if state.refused is not None:
                return {"type": "http.disconnect"}  # the app stops reading; the middleware answers
            if state.done:
                return await receive()  # the body is complete: waiting now is waiting for a disconnect
            try:
                message = await asyncio.wait_for(receive(), self.chunk_timeout)
            except asyncio.TimeoutError:
                refused = state.refused = BodyRefused(
                    408, "request-timeout", "Request body too slow",
                    f"no part of the body arrived for {self.chunk_timeout:g} s; send the body without pausing")
                raise refused from None
            if message["type"] == "http.request":
                state.received += len(message.get("body", b""))
                state.done = not message.get("more_body", False)
                if state.received > limit:
                    refused = state.refused = too_large(path, limit, "this one is larger")
                    raise refused
            else:
                state.done = True
            return message

        async def guarded_send(message):
            if state.refused is not None and not state.started:
                return  # the app's own answer to the refusal: ours goes out instead
            if message["type"] == "http.response.start":
                state.started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if state.refused is None or state.started:
                raise
        if state.refused is not None and not state.started:
            await state.refused.response(path)(scope, receive, send)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None
