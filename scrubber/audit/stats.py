"""Counts for /v1/stats: the stored scrubs and findings plus the roll-ups of purged ones."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlmodel import Session, func, select

from scrubber.audit.database import Database
from scrubber.audit.queries import start_of
from scrubber.audit.tables import FindingRecord, FindingRollup, Scrub, ScrubRollup


class ScrubStatistics:
    """Counts over a window of days (UTC) and a payer, the same before and after a purge."""

    def __init__(self, db: Database):
        self._db = db

    def summary(self, *, since: dt.date | None = None, until: dt.date | None = None,
              payer: str | None = None, top: int = 10) -> dict[str, Any]:
        """Counts over the stored scrubs and findings plus the roll-ups of purged ones, in the same
        window (days, UTC) and for the same payer: a purge never changes them."""
        def window(query, table):
            if since:
                query = query.where(table.created_at >= start_of(since))
            if until:
                query = query.where(table.created_at < start_of(until + dt.timedelta(days=1)))
            if payer:
                query = query.where(table.payer_id == payer)
            return query

        def rolled(query, table):
            if since:
                query = query.where(table.day >= since)
            if until:
                query = query.where(table.day <= until)
            if payer:
                query = query.where(table.payer_id == payer)
            return query

        def counts(*queries) -> Counter[str]:
            total: Counter[str] = Counter()
            for query in queries:
                for name, n in session.exec(query):
                    total[name] += int(n)
            return total

        with Session(self._db.engine) as session:
            by_status = counts(window(select(Scrub.status, func.count()), Scrub).group_by(Scrub.status),
                               rolled(select(ScrubRollup.status, func.sum(ScrubRollup.scrubs)), ScrubRollup)
                               .group_by(ScrubRollup.status))
            by_category = counts(
                window(select(FindingRecord.category, func.count()), FindingRecord).group_by(FindingRecord.category),
                rolled(select(FindingRollup.category, func.sum(FindingRollup.findings)), FindingRollup)
                .group_by(FindingRollup.category))
            by_rule = counts(
                window(select(FindingRecord.rule_id, func.count()), FindingRecord).group_by(FindingRecord.rule_id),
                rolled(select(FindingRollup.rule_id, func.sum(FindingRollup.findings)), FindingRollup)
                .group_by(FindingRollup.rule_id))
            failing = counts(
                window(select(FindingRecord.rule_id, func.count(func.distinct(FindingRecord.scrub_id))), FindingRecord)
                .where(FindingRecord.severity == "error").group_by(FindingRecord.rule_id),
                rolled(select(FindingRollup.rule_id, func.sum(FindingRollup.scrubs)), FindingRollup)
                .where(FindingRollup.severity == "error").group_by(FindingRollup.rule_id))
        total = sum(by_status.values())
        clean = by_status.get("pass", 0) + by_status.get("warn", 0)
        return {
            "from": since.isoformat() if since else None, "to": until.isoformat() if until else None, "payer": payer,
            "scrubs": total, "passed": by_status.get("pass", 0), "warned": by_status.get("warn", 0),
            "failed": by_status.get("fail", 0), "clean_claim_rate": round(clean / total, 4) if total else None,
            "findings_by_category": dict(sorted(by_category.items())),
            "findings_by_rule": dict(sorted(by_rule.items())),
            "top_failing_rules": [{"rule_id": rule, "failed_scrubs": n,
                                   "share_of_scrubs": round(n / total, 4) if total else None}
                                  for rule, n in sorted(failing.items(), key=lambda item: (-item[1], item[0]))[:top]],
        }
