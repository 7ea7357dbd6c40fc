"""API keys and roles: who is calling, and may they call this.

Keys travel in X-API-Key and are looked up (hashed) in the audit store on every request: one
indexed read, never cached, so that a revoked or expired key is refused from the next request on,
in every worker process. `Authenticate` (ASGI middleware) does it before anything reads the request
body and puts the `Caller` in `request.state.caller`; `require(*roles)` then checks the role.

With no key ever created, only loopback clients are answered, as admin; once a key exists (even a
revoked or expired one) every path but the public ones needs a valid key.
"""
from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from scrubber.audit.keys import ROLES
from scrubber.audit.store import AuditStore
from scrubber.service.problems import ApiError, problem

Role = Literal["submitter", "coder", "compliance", "admin"]
LOOPBACK_ROLE = "admin"  # no key created yet: loopback clients may do everything
# answered without a key: liveness, readiness and the API's own documentation
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
                          "/ui", "/ui/"})
PUBLIC_PREFIXES = ("/ui/static/",)  # the workbench's page and its files: no data, the key is asked for inside
REFUSED = "this API key is unknown, revoked or expired"
CHALLENGE = {"WWW-Authenticate": "X-API-Key"}

# declares the scheme in the OpenAPI document; the key itself is checked by Authenticate
api_key_header = APIKeyHeader(name="X-API-Key", scheme_name="ApiKey", auto_error=False,
                              description="an API key made with `scrubber keys create`")


class Caller(BaseModel):
    """Who is calling: the key's id (None: a loopback caller while no key exists) and its role."""

    key_id: str | None
    role: str


def _is_loopback(host: str | None) -> bool:
    if host in (None, "testclient", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def authenticate(store: AuditStore, secret: str | None, host: str | None) -> Caller:
    """The caller of a request with this X-API-Key (or none) from this client address; ApiError
    401 (no key, or one that is unknown, revoked or expired) or 403 (no key exists yet and the
    client is not on the loopback interface)."""
    if secret:
        key = store.key_for(secret)
        if key is not None:
            return Caller(key_id=key.key_id, role=key.role)
    if not store.has_keys():
        if _is_loopback(host):
            return Caller(key_id=None, role=LOOPBACK_ROLE)
        raise ApiError(403, "loopback-only", "Loopback only",
                       "no API key exists yet: this service answers only on the loopback interface")
    if not secret:
        raise ApiError(401, "unauthorized", "API key required", "send your API key in the X-API-Key header",
                       headers=CHALLENGE)
    raise ApiError(401, "unauthorized", "Unknown API key", REFUSED, headers=CHALLENGE)


class Authenticate:
    """Pure ASGI middleware: authenticates every request but those to PUBLIC_PATHS from its headers
    alone (the body is never read here, so a refused request costs no upload), answers 401 / 403
    problems itself, and hands the `Caller` on in `scope["state"]["caller"]`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or scope["path"].startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        secret = next((value.decode("latin-1") for name, value in scope.get("headers") or ()
                       if name.lower() == b"x-api-key"), None)
        client = scope.get("client")
        try:
            caller = await run_in_threadpool(authenticate, scope["app"].state.store, secret,
                                             client[0] if client else None)
        except ApiError as exc:
            response = problem(exc.status, exc.kind, exc.title, exc.detail, instance=scope["path"],
                               headers=exc.headers)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


def require(*roles: str):
    """A dependency: the authenticated caller, who must have one of `roles` (admin always may)."""
    allowed = set(roles) | {"admin"}

    def dependency(request: Request,
                   x_api_key: Annotated[str | None, Depends(api_key_header)] = None) -> Caller:
        caller = getattr(request.state, "caller", None)
        if caller is None:  # an app built without Authenticate: authenticate here
            caller = authenticate(request.app.state.store, x_api_key,
                                  request.client.host if request.client else None)
        if caller.role not in allowed:
            raise ApiError(403, "forbidden", "Not allowed for this role",
                           f"a {caller.role} key may not call this; it needs one of: {', '.join(sorted(allowed))}")
        return caller

    return dependency


ANY_ROLE = ROLES
SCRUBBING = ("submitter", "coder")
RULE_READERS = ("compliance", "coder")
COMPLIANCE = ("compliance",)
