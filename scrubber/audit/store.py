"""The last step of the pipeline: the audit store, the service's database, composed of its parts:

- `scrubs` (scrubber.audit.scrubs): the audit trail, every scrub with its claim, result, rule set
  revision and API key, and its findings for analytics;
- `history` (scrubber.audit.history): the claim-line history, the pipeline's ClaimHistory, and
  what the billing system said it did with each claim (submitted, voided, replaced);
- `statistics` (scrubber.audit.stats) and `retention` (scrubber.audit.retention): /v1/stats and
  purges that keep it the same;
- `api_keys` (scrubber.audit.keys), `access_log` (scrubber.audit.access_log) and `rules_generation`
  (scrubber.audit.rules_generation): who may call, who read what, which rules are in force.

`AuditStore`'s methods are its one public face; each hands over to a part. Tables are in
scrubber.audit.tables, the engine, schema and group commit in scrubber.audit.database.
"""
from __future__ import annotations

import builtins  # `list` is a method of the class: its annotations name the type as builtins.list
import datetime as dt
from typing import Any

from sqlmodel import Session, delete

from scrubber.audit.access_log import AccessLog
from scrubber.audit.database import Database
from scrubber.audit.history import ClaimLineHistory
from scrubber.audit.keys import ApiKeys
from scrubber.audit.queries import Page
from scrubber.audit.retention import Purged, Retention
from scrubber.audit.rules_generation import RulesGeneration
from scrubber.audit.scrubs import ScrubLog
from scrubber.audit.stats import ScrubStatistics
from scrubber.audit.tables import ALL_TABLES, ApiKey
from scrubber.contract.claim import Claim, ScrubResult
from scrubber.pipeline.enrich.history import HistoryLine, PriorLine, SubmissionChange


class AuditStore:
    """The service's database: scrubs, findings, claim-line history, API keys and the access log."""

    def __init__(self, url: str | None = None, *, run_migrations: bool = True):
        self.db = Database(url, run_migrations=run_migrations)
        self.url, self.engine = self.db.url, self.db.engine
        self.scrubs = ScrubLog(self.db)
        self.history = ClaimLineHistory(self.db)
        self.statistics = ScrubStatistics(self.db)
        self.retention = Retention(self.db)
        self.api_keys = ApiKeys(self.db)
        self.access_log = AccessLog(self.db)
        self.rules_state = RulesGeneration(self.db)

    def close(self) -> None:
        self.db.close()

    def reachable(self) -> bool:
        return self.db.reachable()

    # -- scrubs (scrubber.audit.scrubs)

    def record(self, claim: Claim, result: ScrubResult, *, api_key_id: str | None = None,
               at: dt.datetime | None = None, owner: str | None = None) -> None:
        self.scrubs.record(claim, result, api_key_id=api_key_id, at=at, owner=owner)

    def get(self, scrub_id: str) -> dict | None:
        return self.scrubs.get(scrub_id)

    def list(self, *, claim_id: str | None = None, status: str | None = None, payer: str | None = None,
             rule_id: str | None = None, since: dt.date | None = None, until: dt.date | None = None,
             limit: int = 50, cursor: str | None = None, api_key_id: str | None = None,
             category: str | None = None, severity: str | None = None) -> Page:
        return self.scrubs.list(claim_id=claim_id, status=status, payer=payer, rule_id=rule_id, since=since,
                                until=until, limit=limit, cursor=cursor, api_key_id=api_key_id,
                                category=category, severity=severity)

    def stored_claims(self, *, since: dt.date | None = None, limit: int = 1000) -> builtins.list[tuple[str, Claim]]:
        return self.scrubs.stored_claims(since=since, limit=limit)

    def stats(self, *, since: dt.date | None = None, until: dt.date | None = None,
              payer: str | None = None, top: int = 10) -> dict[str, Any]:
        return self.statistics.summary(since=since, until=until, payer=payer, top=top)

    def rule_counts(self, *, since: dt.date, until: dt.date | None = None) -> dict[tuple[str, str | None], int]:
        return self.statistics.rule_counts(since=since, until=until)

    def purge(self, *, before: dt.date) -> Purged:
        return self.retention.purge(before=before)

    # -- claim-line history (scrubber.audit.history): the pipeline's ClaimHistory

    def prior_lines(self, claim: Claim) -> dict[int, PriorLine]:
        return self.history.prior_lines(claim)

    def services(self, claim: Claim, codes: frozenset[str], start: dt.date | None,
                 end: dt.date) -> builtins.list[tuple[dt.date, str, str]]:
        return self.history.services(claim, codes, start, end)

    def member_lines(self, claim: Claim, start: dt.date, end: dt.date) -> builtins.list[HistoryLine]:
        return self.history.member_lines(claim, start, end)

    def mark_submissions(self, changes: builtins.list[SubmissionChange], *, key_id: str | None, role: str,
                         owner: str | None = None) -> builtins.list[bool | None]:
        return self.history.mark(changes, key_id=key_id, role=role, owner=owner)

    # -- API keys (scrubber.audit.keys)

    def create_key(self, role: str, label: str | None = None, secret: str | None = None,
                   expires_at: dt.datetime | None = None) -> tuple[str, str]:
        return self.api_keys.create(role, label, secret, expires_at)

    def key_for(self, secret: str) -> ApiKey | None:
        return self.api_keys.key_for(secret)

    def has_keys(self) -> bool:
        return self.api_keys.has_keys()

    def keys(self) -> builtins.list[ApiKey]:
        return self.api_keys.all()

    def revoke_key(self, key_id: str) -> tuple[ApiKey, bool]:
        return self.api_keys.revoke(key_id)

    def rotate_key(self, key_id: str) -> tuple[str, str]:
        return self.api_keys.rotate(key_id)

    # -- who read which stored claim (scrubber.audit.access_log)

    def record_access(self, *, key_id: str | None, role: str, action: str, scrub_id: str | None = None,
                      claim_id: str | None = None, detail: dict | None = None) -> None:
        self.access_log.record(key_id=key_id, role=role, action=action, scrub_id=scrub_id, claim_id=claim_id,
                               detail=detail)

    def accesses(self, *, key_id: str | None = None, scrub_id: str | None = None, since: dt.date | None = None,
                 until: dt.date | None = None, limit: int = 100, cursor: int | None = None) -> Page:
        return self.access_log.entries(key_id=key_id, scrub_id=scrub_id, since=since, until=until, limit=limit,
                                       cursor=cursor)

    # -- the rule set generation, shared by the worker processes (scrubber.audit.rules_generation)

    def rules_generation(self) -> tuple[int, str | None]:
        return self.rules_state.current()

    def publish_rules(self, revision: str) -> int:
        return self.rules_state.publish(revision)

    def delete_everything(self) -> None:
        """For tests: an empty database (the schema stays)."""
        with Session(self.engine) as session:
            for table in ALL_TABLES:
                session.exec(delete(table))
            session.commit()
