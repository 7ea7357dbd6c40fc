"""Counts for /v1/stats: the stored scrubs and findings plus the roll-ups of purged ones (overall, per
day and per payer), and how often each rule fired (GET /v1/rules' `fired_30d`)."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlmodel import Session, col, func, select

from scrubber.audit.database import Database
from scrubber.audit.queries import as_date, day_of, start_of
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

        def counts(*queries) -> Counter:
            """The queries' rows (a key's columns, then a count) summed by key: one column gives its value,
            several a tuple of them."""
            total: Counter = Counter()
            for query in queries:
                for *key, n in session.exec(query):
                    total[key[0] if len(key) == 1 else tuple(key)] += int(n or 0)
            return total

        scrub_day = day_of(Scrub.created_at, self._db.engine.dialect.name)

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
            day_status = counts(
                window(select(scrub_day, Scrub.status, func.count()), Scrub).group_by(scrub_day, Scrub.status),
                rolled(select(ScrubRollup.day, ScrubRollup.status, func.sum(ScrubRollup.scrubs)), ScrubRollup)
                .group_by(ScrubRollup.day, ScrubRollup.status))
            payer_status = counts(
                window(select(Scrub.payer_id, Scrub.status, func.count()), Scrub).group_by(Scrub.payer_id, Scrub.status),
                rolled(select(ScrubRollup.payer_id, ScrubRollup.status, func.sum(ScrubRollup.scrubs)), ScrubRollup)
                .group_by(ScrubRollup.payer_id, ScrubRollup.status))
            payer_findings = counts(
                window(select(FindingRecord.payer_id, func.count()), FindingRecord).group_by(FindingRecord.payer_id),
                rolled(select(FindingRollup.payer_id, func.sum(FindingRollup.findings)), FindingRollup)
                .group_by(FindingRollup.payer_id))
        by_day: dict[dt.date, Counter[str]] = {}
        for (day, status), n in day_status.items():
            by_day.setdefault(as_date(day), Counter())[status] += n
        by_payer: dict[str | None, Counter[str]] = {}
        for (payer_id, status), n in payer_status.items():
            by_payer.setdefault(payer_id, Counter())[status] += n
        total = sum(by_status.values())
        return {
            "from": since.isoformat() if since else None, "to": until.isoformat() if until else None, "payer": payer,
            **_tally(by_status),
            "findings_by_category": dict(sorted(by_category.items())),
            "findings_by_rule": dict(sorted(by_rule.items())),
            "top_failing_rules": [{"rule_id": rule, "failed_scrubs": n,
                                   "share_of_scrubs": round(n / total, 4) if total else None}
                                  for rule, n in sorted(failing.items(), key=lambda item: (-item[1], item[0]))[:top]],
            "by_day": [{"date": day.isoformat(), **_tally(by_day[day])} for day in sorted(by_day)],
            "by_payer": [{"payer": payer_id, **_tally(by_payer[payer_id]), "findings": payer_findings.get(payer_id, 0)}
                         for payer_id in sorted(by_payer, key=lambda p: (p is None, p or ""))],
        }

    def rule_counts(self, *, since: dt.date, until: dt.date | None = None) -> dict[tuple[str, str | None], int]:
        """How many findings each rule reported, by (rule id, the claim's payer id), in the scrubs created from
        `since` to `until` (days, UTC; until: no end), purged ones included."""
        with Session(self._db.engine) as session:
            stored = select(FindingRecord.rule_id, FindingRecord.payer_id, func.count()) \
                .where(FindingRecord.created_at >= start_of(since))
            rolled = select(FindingRollup.rule_id, FindingRollup.payer_id, func.sum(FindingRollup.findings)) \
                .where(FindingRollup.day >= since)
            if until:
                stored = stored.where(FindingRecord.created_at < start_of(until + dt.timedelta(days=1)))
                rolled = rolled.where(FindingRollup.day <= until)
            out: dict[tuple[str, str | None], int] = {}
            for query in (stored.group_by(col(FindingRecord.rule_id), col(FindingRecord.payer_id)),
                          rolled.group_by(col(FindingRollup.rule_id), col(FindingRollup.payer_id))):
                for rule_id, payer_id, n in session.exec(query):
                    out[(rule_id, payer_id)] = out.get((rule_id, payer_id), 0) + int(n or 0)
        return out


def _tally(by_status: Counter[str]) -> dict[str, Any]:
    """Scrubs, passed, warned, failed and the clean-claim rate (pass or warn) of some scrubs' statuses."""
    total = sum(by_status.values())
    clean = by_status.get("pass", 0) + by_status.get("warn", 0)
    return {"scrubs": total, "passed": by_status.get("pass", 0), "warned": by_status.get("warn", 0),
            "failed": by_status.get("fail", 0), "clean_claim_rate": round(clean / total, 4) if total else None}
