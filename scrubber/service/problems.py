"""Errors as RFC 9457 problem details (application/problem+json), for every endpoint."""
from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from scrubber.errors import ScrubberError

PROBLEM = "application/problem+json"


class ApiError(ScrubberError):
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


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    words = {401: "no API key, or an unknown one", 403: "the key's role may not call this",
             404: "not found", 405: "this path takes another method", 409: "another request of this kind is running",
             413: "the request is too large",
             422: "the request is not valid", 503: "not ready"}
    return {code: {"description": words[code], "model": Problem, "content": {PROBLEM: {}}} for code in codes}
