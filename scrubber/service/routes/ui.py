"""The web workbench: `/ui` serves the single page (`index.html`) and `/ui/static/{name}` its scripts and
styles from scrubber/service/ui/static/, with a Content-Security-Policy that allows nothing but the
service itself; `/v1/whoami` tells the page which role the signed-in key has, so that it offers only the
screens that role may use. The pages call the same API, with the same key and roles, as any client."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from pydantic import BaseModel

from scrubber.service.auth import ANY_ROLE, Caller, require
from scrubber.service.problems import ApiError, problem_responses

router = APIRouter(tags=["workbench"])

STATIC = Path(__file__).resolve().parent.parent / "ui" / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
UI_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
              "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
STATIC_NAME = re.compile(r"^[a-z][a-z0-9_-]*\.(html|js|css|svg|png)$")  # flat names only: no path can escape


class Whoami(BaseModel):
    """The caller's role and key id (None: a loopback caller while no key exists); nothing else."""

    role: str
    key_id: str | None


def _page_file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=UI_HEADERS)


@router.get("/ui", include_in_schema=False)
@router.get("/ui/", include_in_schema=False)
def workbench() -> FileResponse:
    """The workbench page; its scripts ask for the API key and call the API with it."""
    return _page_file(STATIC / "index.html")


@router.get("/ui/static/{name:path}", include_in_schema=False)
def static_file(name: str) -> FileResponse:
    """A script, style sheet or image of the workbench, by its flat file name (any other path: 404)."""
    path = STATIC / name
    if not STATIC_NAME.match(name) or not path.is_file():
        raise ApiError(404, "not-found", "Not found", f"the workbench has no file {name!r}", headers=UI_HEADERS)
    return _page_file(path)


@router.get("/v1/whoami", response_model=Whoami, operation_id="whoami", responses=problem_responses(401, 403))
def whoami(caller: Annotated[Caller, Depends(require(*ANY_ROLE))]) -> Whoami:
    """The role and key id of the API key sent: what the workbench shows depends on it."""
    return Whoami(role=caller.role, key_id=caller.key_id)
