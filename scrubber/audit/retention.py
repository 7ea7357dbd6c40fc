"""Retention: purging old scrubs (stored claims, results, findings) after adding their counts to the
roll-ups behind /v1/stats, so that the statistics stay the same.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col, delete, func, select

from scrubber.audit.database import Database
from scrubber.audit.queries import as_date as _as_date, day_of as _day, start_of
from scrubber.audit.tables import FindingRecord, FindingRollup, Scrub, ScrubRollup

# a fixed key for pg_advisory_xact_lock: one purge at a time across processes
PURGE_LOCK_KEY = 0x5C2B_9E11


@dataclass
class Purged:
    """What a purge removed: scrubs (stored claims and results) and their findings."""
    before: dt.date
    scrubs: int
    findings: int


class Retention:
    """Purges of the scrubs created before a day."""

    def __init__(self, db: Database):
        self._db = db

    def purge(self, *, before: dt.date) -> Purged:
        """Delete the scrubs created before `before` (00:00 UTC) with their stored claims, results
        and findings, in one transaction that first adds their counts to the roll-ups behind
        /v1/stats (ScrubRollup, FindingRollup), so the statistics stay the same. The claim-line
        history (no names or birth dates, a hashed member id) and the access log are kept.
        Processes purging at once take turns (SQLite: the writer lock; PostgreSQL: an advisory
        lock), so that nothing is counted twice; purging again is a no-op."""
        cutoff = start_of(before)
        dialect = self._db.engine.dialect.name
        with self._db.writer_lock(), self._db.engine.connect() as connection:
            try:
                with connection.begin():
                    scrubs, findings = self._purge_in(connection, cutoff, dialect)
            finally:
                if dialect == "sqlite":
                    connection.exec_driver_sql("PRAGMA secure_delete=OFF")
        return Purged(before=before, scrubs=scrubs, findings=findings)

    def _purge_in(self, connection, cutoff: dt.datetime, dialect: str) -> tuple[int, int]:
        """The purge's transaction: roll up, then delete; (scrubs, findings) deleted."""
        old = select(Scrub.scrub_id).where(Scrub.created_at < cutoff)
        scrub_day, finding_day = _day(Scrub.created_at, dialect), _day(FindingRecord.created_at, dialect)
        if dialect == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PURGE_LOCK_KEY})
        elif dialect == "sqlite":
            connection.exec_driver_sql("PRAGMA secure_delete=ON")  # purged claims are zeroed in the file
        scrub_rows = [{"day": _as_date(day), "payer_id": payer_id, "status": status, "scrubs": n}
                      for day, payer_id, status, n in connection.execute(
                          select(scrub_day, col(Scrub.payer_id), col(Scrub.status), func.count())
                          .where(col(Scrub.created_at) < cutoff)
                          .group_by(scrub_day, col(Scrub.payer_id), col(Scrub.status)))]
        finding_rows = [{"day": _as_date(day), "payer_id": payer_id, "rule_id": rule_id, "category": category,
                         "severity": severity, "findings": n, "scrubs": scrubs}
                        for day, payer_id, rule_id, category, severity, n, scrubs in connection.execute(
                            sa.select(finding_day, col(FindingRecord.payer_id), col(FindingRecord.rule_id),
                                   col(FindingRecord.category), col(FindingRecord.severity), func.count(),
                                   func.count(func.distinct(FindingRecord.scrub_id)))
                            .where(col(FindingRecord.scrub_id).in_(old))
                            .group_by(finding_day, col(FindingRecord.payer_id), col(FindingRecord.rule_id),
                                      col(FindingRecord.category), col(FindingRecord.severity)))]
        if scrub_rows:
            connection.execute(sa.insert(ScrubRollup), scrub_rows)
        if finding_rows:
            connection.execute(sa.insert(FindingRollup), finding_rows)
        findings = connection.execute(delete(FindingRecord).where(col(FindingRecord.scrub_id).in_(old))).rowcount
        scrubs = connection.execute(delete(Scrub).where(col(Scrub.created_at) < cutoff)).rowcount
        return scrubs, findings
