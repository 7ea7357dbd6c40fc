"""API keys: only a secret's hash is stored, the secret is shown once; roles, expiry, revocation and
rotation. A lookup is one indexed read, never cached, so that a revocation holds at once everywhere.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlmodel import Session, col, select

from scrubber.audit.database import Database
from scrubber.audit.queries import aware, utcnow
from scrubber.audit.tables import ApiKey
from scrubber.limits import MIN_SECRET_DISTINCT, MIN_SECRET_LENGTH

ROLES = ("submitter", "coder", "compliance", "admin")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_secret(secret: str) -> None:
    """A supplied API key (the bootstrap key) must be hard to guess: ValueError, in words, if not."""
    distinct = len(set(secret))
    if len(secret) < MIN_SECRET_LENGTH:
        why = f"it has {len(secret)} character{'s' if len(secret) != 1 else ''}"
    elif distinct < MIN_SECRET_DISTINCT:
        why = f"it has only {distinct} different characters"
    else:
        return
    raise ValueError(f"a supplied API key needs at least {MIN_SECRET_LENGTH} characters, at least "
                     f"{MIN_SECRET_DISTINCT} of them different; {why}")


def new_key_id() -> str:
    """A random key id (`key_` and 12 hex digits): it tells nothing about the secret."""
    return f"key_{secrets.token_hex(6)}"


class ApiKeys:
    """The API keys in the database."""

    def __init__(self, db: Database):
        self._db = db

    def create(self, role: str, label: str | None = None, secret: str | None = None,
                   expires_at: dt.datetime | None = None) -> tuple[str, str]:
        """A new key: (key id, secret). Only the secret's hash is stored; the secret is shown once.
        A supplied secret must be strong (`check_secret`); one already stored is left as it is (so
        that a bootstrap key is created once, and a revoked one stays revoked). The key id is random:
        it says nothing about the secret."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if secret is not None:
            check_secret(secret)
        secret = secret or f"sk_{secrets.token_urlsafe(32)}"
        with self._db.writer_lock(), Session(self._db.engine) as session:
            known = session.exec(select(ApiKey).where(ApiKey.key_hash == secret_hash(secret))).first()
            if known is not None:
                return known.key_id, secret
            key_id = new_key_id()
            session.add(ApiKey(key_id=key_id, key_hash=secret_hash(secret), role=role, label=label,
                               created_at=utcnow(), expires_at=expires_at))
            try:
                session.commit()
            except sa.exc.IntegrityError:  # another worker stored the same (bootstrap) secret just now
                session.rollback()
                known = session.exec(select(ApiKey).where(ApiKey.key_hash == secret_hash(secret))).first()
                if known is None:
                    raise
                return known.key_id, secret
        return key_id, secret

    def key_for(self, secret: str) -> ApiKey | None:
        """The key with this secret if it may be used now (not revoked, not expired): one indexed
        read, never cached, so that a revocation or an expiry holds from the next request on, in
        every worker process."""
        with Session(self._db.engine) as session:
            key = session.exec(select(ApiKey).where(ApiKey.key_hash == secret_hash(secret))).first()
        if key is None or key.revoked:
            return None
        if key.expires_at is not None and aware(key.expires_at) <= utcnow():
            return None
        return key

    def has_keys(self) -> bool:
        """Whether any key was ever created (a revoked or expired one counts): from then on every
        caller needs a key, so that revoking every key never opens the service to keyless callers."""
        with Session(self._db.engine) as session:
            return session.exec(select(ApiKey.key_id).limit(1)).first() is not None

    def all(self) -> list[ApiKey]:
        """Every key, oldest first (the rows carry the secret's hash: never show it)."""
        with Session(self._db.engine) as session:
            return list(session.exec(select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.key_id))))

    def revoke(self, key_id: str) -> tuple[ApiKey, bool]:
        """Revoke a key at once: (the key, whether it was revoked by this call). KeyError: no such key."""
        with self._db.writer_lock(), Session(self._db.engine) as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                raise KeyError(key_id)
            if key.revoked:
                return key, False
            key.revoked, key.revoked_at = True, utcnow()
            session.add(key)
            session.commit()
            session.refresh(key)
            return key, True

    def rotate(self, key_id: str) -> tuple[str, str]:
        """A new secret and a new key id with the key's role, label and expiry; the old key is revoked
        in the same transaction. (new key id, secret). KeyError: no such key; ValueError: the key is
        revoked or expired."""
        secret = f"sk_{secrets.token_urlsafe(32)}"
        with self._db.writer_lock(), Session(self._db.engine) as session:
            old = session.get(ApiKey, key_id)
            if old is None:
                raise KeyError(key_id)
            if old.revoked:
                raise ValueError(f"key {key_id} is revoked: create a new key with `scrubber keys create`")
            if old.expires_at is not None and aware(old.expires_at) <= utcnow():
                raise ValueError(f"key {key_id} has expired: create a new key with `scrubber keys create`")
            new_id, now = new_key_id(), utcnow()
            session.add(ApiKey(key_id=new_id, key_hash=secret_hash(secret), role=old.role, label=old.label,
                               created_at=now, expires_at=old.expires_at))
            old.revoked, old.revoked_at = True, now
            session.add(old)
            session.commit()
        return new_id, secret
