"""API keys and roles: who may call what.

Keys travel in X-API-Key and are looked up (hashed) in the audit store. With no key stored at
all, only loopback clients are answered, as admin; once a key exists every endpoint that asks
for a role needs one.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import BaseModel

from scrubber.audit import ROLES, ApiKey, AuditStore
from scrubber.problems import ApiError

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
