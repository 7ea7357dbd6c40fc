"""The access log: who read which stored claim, and when (every GET of a scrub, every list of scrubs)."""
from __future__ import annotations

import datetime as dt
import json

from sqlmodel import Session, col, select

from scrubber.audit.database import Database
from scrubber.audit.queries import Page, aware, start_of, utcnow
from scrubber.audit.tables import ClaimAccess

MAX_ROW_ID = 2**31 - 1  # the id column is an INTEGER (PostgreSQL: 32 bits); a cursor is compared only within it


class AccessLog:
    """Reads of stored claims, recorded before anything is shown."""

    def __init__(self, db: Database):
        self._db = db

    def record(self, *, key_id: str | None, role: str, action: str, scrub_id: str | None = None,
               claim_id: str | None = None, detail: dict | None = None) -> None:
        """Record one read of stored claims; returns once it is committed (so that nothing is shown
        that was not recorded). `detail` holds filters and counts, never claim content."""
        row = ClaimAccess(at=utcnow(), key_id=key_id, role=role, action=action, scrub_id=scrub_id,
                          claim_id=claim_id, detail=json.dumps(detail or {}, sort_keys=True))
        self._db.write(lambda session: session.add(row))

    def entries(self, *, key_id: str | None = None, scrub_id: str | None = None, since: dt.date | None = None,
                until: dt.date | None = None, limit: int = 100, cursor: int | None = None) -> Page:
        """The access log, newest first; `cursor` is the last id of the previous page."""
        query = select(ClaimAccess)
        if key_id:
            query = query.where(ClaimAccess.key_id == key_id)
        if scrub_id:
            query = query.where(ClaimAccess.scrub_id == scrub_id)
        if since:
            query = query.where(ClaimAccess.at >= start_of(since))
        if until:
            query = query.where(ClaimAccess.at < start_of(until + dt.timedelta(days=1)))
        if cursor is not None and cursor <= MAX_ROW_ID:  # a larger cursor is past every id: no bound
            query = query.where(col(ClaimAccess.id) < cursor)
        query = query.order_by(col(ClaimAccess.id).desc()).limit(limit + 1)
        with Session(self._db.engine) as session:
            rows = list(session.exec(query))
        more = len(rows) > limit
        rows = rows[:limit]
        items = [{"id": r.id, "at": aware(r.at).isoformat(), "key_id": r.key_id, "role": r.role,
                  "action": r.action, "scrub_id": r.scrub_id, "claim_id": r.claim_id,
                  "detail": json.loads(r.detail or "{}")} for r in rows]
        return Page(items, str(rows[-1].id) if more and rows else None)
