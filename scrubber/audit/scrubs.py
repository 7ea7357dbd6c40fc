"""Stored scrubs: each with its claim, its result, the rule set revision and the API key that asked
for it, its findings (for analytics), and the claim's lines as the latest version in the history.
"""
from __future__ import annotations

import builtins  # `list` is a method of the class: its annotations name the type as builtins.list
import datetime as dt
import json

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from scrubber.audit.database import Database
from scrubber.audit.history import history_rows, record_version
from scrubber.audit.queries import Page, aware, start_of, utcnow
from scrubber.audit.tables import FindingRecord, Scrub
from scrubber.contract.claim import Claim, ScrubResult

SCRUBS, FINDINGS = SQLModel.metadata.tables["scrub"], SQLModel.metadata.tables["finding"]  # as Core Tables


class ScrubLog:
    """The scrubs stored in the database, and their findings."""

    def __init__(self, db: Database):
        self._db = db

    def record(self, claim: Claim, result: ScrubResult, *, api_key_id: str | None = None,
               at: dt.datetime | None = None, owner: str | None = None) -> None:
        """Store a scrub, its findings, and the claim's lines as the latest version of that claim
        (scrubber.audit.history.record_version: `owner`, when given, is the only key whose claims its
        `replaces_claim_id` may replace). Returns once it is committed. Concurrent calls share one
        transaction (group commit): with SQLite, one commit for many scrubs instead of many writers
        queueing for the write lock."""
        at = at or utcnow()
        payer = claim.payer.id if claim.payer else None
        scrub = dict(
            scrub_id=result.scrub_id, created_at=at, claim_id=claim.claim_id, payer_id=payer,
            status=result.status, revision=result.ruleset.revision, api_key_id=api_key_id,
            finding_count=len(result.findings), claim=claim.model_dump_json(), result=result.model_dump_json())
        findings = [dict(scrub_id=result.scrub_id, created_at=at, payer_id=payer, rule_id=f.rule_id,
                         category=f.category, severity=f.severity) for f in result.findings]
        lines = history_rows(claim, result.scrub_id, at)

        def write(session: Session) -> None:
            # column values in one statement per table, without ORM objects: a batch stores each claim
            # before it reads the next, and building and flushing objects cost ten times the scrub
            session.execute(sa.insert(SCRUBS), [scrub])  # the scrub first: its findings refer to it
            if findings:
                session.execute(sa.insert(FINDINGS), findings)
            record_version(session, claim, lines, status=result.status, scrub_id=result.scrub_id,
                           api_key_id=api_key_id, at=at, owner=owner)

        self._db.write(write)

    def get(self, scrub_id: str) -> dict | None:
        with Session(self._db.engine) as session:
            row = session.get(Scrub, scrub_id)
            return _scrub_out(row) if row else None

    def list(self, *, claim_id: str | None = None, status: str | None = None, payer: str | None = None,
             rule_id: str | None = None, since: dt.date | None = None, until: dt.date | None = None,
             limit: int = 50, cursor: str | None = None, api_key_id: str | None = None,
             category: str | None = None, severity: str | None = None) -> Page:
        """Newest first; `cursor` is the last scrub_id of the previous page; `api_key_id`: only the
        scrubs that key sent. `rule_id`, `category`, `severity`: only the scrubs with a finding that
        has each of those given (one finding with all of them)."""
        query = select(Scrub)
        if api_key_id:
            query = query.where(Scrub.api_key_id == api_key_id)
        if claim_id:
            query = query.where(Scrub.claim_id == claim_id)
        if status:
            query = query.where(Scrub.status == status)
        if payer:
            query = query.where(Scrub.payer_id == payer)
        if since:
            query = query.where(Scrub.created_at >= start_of(since))
        if until:
            query = query.where(Scrub.created_at < start_of(until + dt.timedelta(days=1)))
        if rule_id or category or severity:
            findings = select(FindingRecord.scrub_id)
            if rule_id:
                findings = findings.where(FindingRecord.rule_id == rule_id)
            if category:
                findings = findings.where(FindingRecord.category == category)
            if severity:
                findings = findings.where(FindingRecord.severity == severity)
            query = query.where(col(Scrub.scrub_id).in_(findings))
        if cursor:
            query = query.where(Scrub.scrub_id < cursor)
        query = query.order_by(col(Scrub.scrub_id).desc()).limit(limit + 1)
        with Session(self._db.engine) as session:
            rows = list(session.exec(query))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page([_scrub_summary(r) for r in rows], rows[-1].scrub_id if more and rows else None)

    def stored_claims(self, *, since: dt.date | None = None, limit: int = 1000) -> builtins.list[tuple[str, Claim]]:
        """(scrub id, claim) of the newest scrub of each claim id (claims without an id: each scrub),
        newest first, at most `limit`: the corpus a rule change's impact is measured on."""
        query = select(Scrub.scrub_id, Scrub.claim_id, Scrub.claim)
        if since:
            query = query.where(Scrub.created_at >= start_of(since))
        query = query.order_by(col(Scrub.scrub_id).desc())
        out, seen = [], set()
        with Session(self._db.engine) as session:
            for scrub_id, claim_id, text in session.exec(query.execution_options(yield_per=500)):
                if claim_id is not None:
                    if claim_id in seen:
                        continue
                    seen.add(claim_id)
                try:
                    out.append((scrub_id, Claim.model_validate_json(text)))
                except ValueError:
                    continue  # stored by an older version of the claim model
                if len(out) >= limit:
                    break
        return out


def _scrub_summary(row: Scrub) -> dict:
    return {"scrub_id": row.scrub_id, "created_at": aware(row.created_at).isoformat(), "claim_id": row.claim_id,
            "payer_id": row.payer_id, "status": row.status, "finding_count": row.finding_count,
            "revision": row.revision}


def _scrub_out(row: Scrub) -> dict:
    return {**_scrub_summary(row), "api_key_id": row.api_key_id, "claim": json.loads(row.claim),
            "result": json.loads(row.result)}
