"""The last step of the pipeline: the audit trail, findings for analytics, the claim-line history
and API keys, in SQLModel (SQLite by default, PostgreSQL in production; schema by Alembic).

Every scrub is stored with its claim, its result, the rule set revision and the API key that asked
for it. Claim lines are kept as history for cross-claim edits: the latest version of each claim
(by claim_id) only, so a re-scrub or a replacement (frequency 7) never matches itself, and a void
(frequency 8) takes the claim out of the history. Member ids are kept there only as a hash.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import queue
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Field, Session, SQLModel, col, delete, func, select

from scrubber.settings import settings
from scrubber.contract.claim import Claim, ScrubResult
from scrubber.owner_only import private_directory, private_file
from scrubber.limits import MIN_SECRET_DISTINCT, MIN_SECRET_LENGTH
from scrubber.pipeline.enrich.history import PriorLine, history_lines, match_prior, member_hash

ROLES = ("submitter", "coder", "compliance", "admin")
RULES_STATE = "rules"  # the ServiceState row of the rule set generation: {"generation": n, "revision": r}


# ----------------------------------------------------------------------------- tables


class Scrub(SQLModel, table=True):
    scrub_id: str = Field(primary_key=True, max_length=26)
    created_at: dt.datetime = Field(index=True)
    claim_id: str | None = Field(default=None, index=True, max_length=80)
    payer_id: str | None = Field(default=None, index=True, max_length=40)
    status: str = Field(index=True, max_length=4)
    revision: str = Field(max_length=40)
    api_key_id: str | None = Field(default=None, index=True, max_length=40)
    finding_count: int = 0
    claim: str = Field(sa_type=sa.Text)  # the normalised claim, JSON
    result: str = Field(sa_type=sa.Text)  # the scrub result, JSON


class FindingRecord(SQLModel, table=True):
    __tablename__ = "finding"
    id: int | None = Field(default=None, primary_key=True)
    scrub_id: str = Field(index=True, max_length=26, foreign_key="scrub.scrub_id")
    created_at: dt.datetime = Field(index=True)
    payer_id: str | None = Field(default=None, max_length=40)
    rule_id: str = Field(index=True, max_length=64)
    category: str = Field(index=True, max_length=40)
    severity: str = Field(max_length=8)


class ClaimLine(SQLModel, table=True):
    __tablename__ = "claim_line"
    id: int | None = Field(default=None, primary_key=True)
    claim_id: str = Field(index=True, max_length=80)
    scrub_id: str = Field(max_length=26)
    member_hash: str = Field(index=True, max_length=64)
    payer_id: str | None = Field(default=None, max_length=40)
    line_number: int
    service_date: dt.date = Field(index=True)
    procedure_code: str = Field(max_length=40)
    modifiers: str = Field(default="", sa_type=sa.Text)
    units: str = Field(max_length=20)
    billing_npi: str | None = Field(default=None, max_length=40)
    recorded_at: dt.datetime


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    key_id: str = Field(primary_key=True, max_length=40)
    key_hash: str = Field(unique=True, max_length=64)
    role: str = Field(max_length=20)
    label: str | None = Field(default=None, max_length=200)
    created_at: dt.datetime
    revoked: bool = False
    expires_at: dt.datetime | None = None  # none: never expires
    revoked_at: dt.datetime | None = None


class ClaimAccess(SQLModel, table=True):
    """Who read which stored claim, and when (every GET of a scrub, every list of scrubs)."""
    __tablename__ = "claim_access"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(index=True)
    key_id: str | None = Field(default=None, index=True, max_length=40)  # none: loopback without keys
    role: str = Field(max_length=20)
    action: str = Field(max_length=20)  # "get" (one stored claim) or "list" (summaries)
    scrub_id: str | None = Field(default=None, index=True, max_length=26)
    claim_id: str | None = Field(default=None, max_length=80)
    detail: str = Field(default="", sa_type=sa.Text)  # JSON: filters and count for a list


class ServiceState(SQLModel, table=True):
    """Small shared facts every worker process must agree on (the rule set generation)."""
    __tablename__ = "service_state"
    name: str = Field(primary_key=True, max_length=40)
    value: str = Field(sa_type=sa.Text)  # JSON
    updated_at: dt.datetime


RULES_GENERATION = sa.select(ServiceState.__table__.c.value).where(ServiceState.__table__.c.name == RULES_STATE)


class ScrubRollup(SQLModel, table=True):
    """Counts of purged scrubs per day, payer and status: /v1/stats keeps them after a purge."""
    __tablename__ = "scrub_rollup"
    id: int | None = Field(default=None, primary_key=True)
    day: dt.date = Field(index=True)
    payer_id: str | None = Field(default=None, max_length=40)
    status: str = Field(max_length=4)
    scrubs: int


class FindingRollup(SQLModel, table=True):
    """Counts of purged findings per day, payer, rule and severity (findings, and distinct scrubs)."""
    __tablename__ = "finding_rollup"
    id: int | None = Field(default=None, primary_key=True)
    day: dt.date = Field(index=True)
    payer_id: str | None = Field(default=None, max_length=40)
    rule_id: str = Field(max_length=64)
    category: str = Field(max_length=40)
    severity: str = Field(max_length=8)
    findings: int
    scrubs: int


# ----------------------------------------------------------------------------- the database


def database_url() -> str:
    return settings().database_url or f"sqlite:///{Path(settings().data_dir) / 'scrubber.db'}"


def make_engine(url: str | None = None) -> sa.Engine:
    url = url or database_url()
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            private_directory(Path(path).parent)
            for companion in ("", "-wal", "-shm"):  # SQLite gives new -wal and -shm files the database's mode
                if companion == "" or Path(path + companion).exists():
                    private_file(path + companion)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):  # WAL: readers never block the writer
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the latest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)


def _aware(moment: dt.datetime) -> dt.datetime:
    """A stored time as UTC (SQLite gives it back without its zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


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


class GroupCommit:
    """One writer thread: each `write` waits until its rows are committed, and rows that arrive
    while a transaction is running go together into the next one. If a batch fails, every write in
    it gets the error (none is lost silently)."""

    MAX_BATCH = 256

    def __init__(self, write_batch):
        self._write_batch = write_batch
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def write(self, claim_id: str | None, rows: list) -> None:
        done = {"event": threading.Event(), "error": None}
        self._queue.put((claim_id, rows, done))
        done["event"].wait()
        if done["error"] is not None:
            raise done["error"]

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                self._write_batch([(claim_id, rows) for claim_id, rows, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for _, _, done in batch:
                    done["error"] = exc
            for _, _, done in batch:
                done["event"].set()


# a fixed key for pg_advisory_xact_lock: one purge at a time across processes
PURGE_LOCK_KEY = 0x5C2B_9E11


def _day(column, dialect: str):
    """The UTC calendar day of a stored time, in SQL."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite keeps UTC times as text


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@dataclass
class Purged:
    """What a purge removed: scrubs (stored claims and results) and their findings."""
    before: dt.date
    scrubs: int
    findings: int


@dataclass
class Page:
    items: list[dict]
    next_cursor: str | None


class AuditStore:
    """The service's database: scrubs, findings, claim-line history and API keys."""

    def __init__(self, url: str | None = None, *, run_migrations: bool = True):
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        if run_migrations:
            migrate(self.engine)
        self._committer = GroupCommit(self._write)
        path = sa.engine.make_url(self.url).database if self.url.startswith("sqlite") else None
        self._lock_path = f"{path}.writer-lock" if path and path != ":memory:" else None
        if self._lock_path:
            private_file(self._lock_path)

    @contextlib.contextmanager
    def _writer_lock(self):
        """SQLite: the worker processes take turns to write through a file lock. The kernel wakes
        the next writer at once, where SQLite's own busy handler would sleep and poll (up to
        100 ms a turn: seconds of latency under load). PostgreSQL needs no such thing."""
        if self._lock_path is None:
            yield
            return
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        self._committer.close()
        self.engine.dispose()

    def reachable(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    # -- scrubs

    def record(self, claim: Claim, result: ScrubResult, *, api_key_id: str | None = None,
               at: dt.datetime | None = None) -> None:
        """Store a scrub, its findings, and the claim's lines as the latest version of that claim.
        Returns once it is committed. Concurrent calls share one transaction (group commit): with
        SQLite, one commit for many scrubs instead of many writers queueing for the write lock."""
        at = at or _utcnow()
        payer = claim.payer.id if claim.payer else None
        rows: list[SQLModel] = [Scrub(
            scrub_id=result.scrub_id, created_at=at, claim_id=claim.claim_id, payer_id=payer,
            status=result.status, revision=result.ruleset.revision, api_key_id=api_key_id,
            finding_count=len(result.findings), claim=claim.model_dump_json(), result=result.model_dump_json())]
        rows += [FindingRecord(scrub_id=result.scrub_id, created_at=at, payer_id=payer, rule_id=f.rule_id,
                               category=f.category, severity=f.severity) for f in result.findings]
        self._committer.write(claim.claim_id, rows + history_rows(claim, result.scrub_id, at))

    def _write(self, batch: list[tuple[str | None, list[SQLModel]]]) -> None:
        with self._writer_lock(), Session(self.engine) as session:
            for claim_id, rows in batch:
                if claim_id:  # the claim's earlier lines leave the history: this is its latest version
                    session.exec(delete(ClaimLine).where(ClaimLine.claim_id == claim_id))
                session.add(rows[0])  # the scrub first: its findings refer to it
                session.flush()
                session.add_all(rows[1:])
                session.flush()
            session.commit()

    def get(self, scrub_id: str) -> dict | None:
        with Session(self.engine) as session:
            row = session.get(Scrub, scrub_id)
            return _scrub_out(row) if row else None

    def list(self, *, claim_id: str | None = None, status: str | None = None, payer: str | None = None,
             rule_id: str | None = None, since: dt.date | None = None, until: dt.date | None = None,
             limit: int = 50, cursor: str | None = None, api_key_id: str | None = None) -> Page:
        """Newest first; `cursor` is the last scrub_id of the previous page; `api_key_id`: only the
        scrubs that key sent."""
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
            query = query.where(Scrub.created_at >= _start_of(since))
        if until:
            query = query.where(Scrub.created_at < _start_of(until + dt.timedelta(days=1)))
        if rule_id:
            query = query.where(col(Scrub.scrub_id).in_(
                select(FindingRecord.scrub_id).where(FindingRecord.rule_id == rule_id)))
        if cursor:
            query = query.where(Scrub.scrub_id < cursor)
        query = query.order_by(col(Scrub.scrub_id).desc()).limit(limit + 1)
        with Session(self.engine) as session:
            rows = list(session.exec(query))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page([_scrub_summary(r) for r in rows], rows[-1].scrub_id if more and rows else None)

    def stored_claims(self, *, since: dt.date | None = None, limit: int = 1000) -> list[tuple[str, Claim]]:
        """(scrub id, claim) of the newest scrub of each claim id (claims without an id: each scrub),
        newest first, at most `limit`: the corpus a rule change's impact is measured on."""
        query = select(Scrub.scrub_id, Scrub.claim_id, Scrub.claim)
        if since:
            query = query.where(Scrub.created_at >= _start_of(since))
        query = query.order_by(col(Scrub.scrub_id).desc())
        out, seen = [], set()
        with Session(self.engine) as session:
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

    def stats(self, *, since: dt.date | None = None, until: dt.date | None = None,
              payer: str | None = None, top: int = 10) -> dict[str, Any]:
        """Counts over the stored scrubs and findings plus the roll-ups of purged ones, in the same
        window (days, UTC) and for the same payer: a purge never changes them."""
        def window(query, table):
            if since:
                query = query.where(table.created_at >= _start_of(since))
            if until:
                query = query.where(table.created_at < _start_of(until + dt.timedelta(days=1)))
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

        with Session(self.engine) as session:
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

    # -- retention

    def purge(self, *, before: dt.date) -> Purged:
        """Delete the scrubs created before `before` (00:00 UTC) with their stored claims, results
        and findings, in one transaction that first adds their counts to the roll-ups behind
        /v1/stats (ScrubRollup, FindingRollup), so the statistics stay the same. The claim-line
        history (no names or birth dates, a hashed member id) and the access log are kept.
        Processes purging at once take turns (SQLite: the writer lock; PostgreSQL: an advisory
        lock), so that nothing is counted twice; purging again is a no-op."""
        cutoff = _start_of(before)
        dialect = self.engine.dialect.name
        with self._writer_lock(), self.engine.connect() as connection:
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
                          select(scrub_day, Scrub.payer_id, Scrub.status, func.count())
                          .where(Scrub.created_at < cutoff).group_by(scrub_day, Scrub.payer_id, Scrub.status))]
        finding_rows = [{"day": _as_date(day), "payer_id": payer_id, "rule_id": rule_id, "category": category,
                         "severity": severity, "findings": n, "scrubs": scrubs}
                        for day, payer_id, rule_id, category, severity, n, scrubs in connection.execute(
                            select(finding_day, FindingRecord.payer_id, FindingRecord.rule_id,
                                   FindingRecord.category, FindingRecord.severity, func.count(),
                                   func.count(func.distinct(FindingRecord.scrub_id)))
                            .where(col(FindingRecord.scrub_id).in_(old))
                            .group_by(finding_day, FindingRecord.payer_id, FindingRecord.rule_id,
                                      FindingRecord.category, FindingRecord.severity))]
        if scrub_rows:
            connection.execute(sa.insert(ScrubRollup), scrub_rows)
        if finding_rows:
            connection.execute(sa.insert(FindingRollup), finding_rows)
        findings = connection.execute(delete(FindingRecord).where(col(FindingRecord.scrub_id).in_(old))).rowcount
        scrubs = connection.execute(delete(Scrub).where(Scrub.created_at < cutoff)).rowcount
        return scrubs, findings

    # -- claim-line history

    def prior_lines(self, claim: Claim) -> dict[int, PriorLine]:
        """For each line of the claim, a line of another (not voided) claim for the same member
        billing the same service: date, code, modifiers, units and billing NPI."""
        member = claim.patient.member_id if claim.patient else None
        dates = {line.service_date for line in claim.lines if line.service_date}
        if not member or not dates:
            return {}
        query = select(ClaimLine).where(ClaimLine.member_hash == member_hash(member),
                                        col(ClaimLine.service_date).in_(dates))
        if claim.claim_id:
            query = query.where(ClaimLine.claim_id != claim.claim_id)
        with Session(self.engine) as session:
            rows = list(session.exec(query.order_by(ClaimLine.recorded_at, ClaimLine.id)))
        return match_prior(claim, rows)

    def services(self, claim: Claim, codes: frozenset[str], start: dt.date | None,
                 end: dt.date) -> list[tuple[dt.date, str, str]]:
        """(date, code, claim id) of the member's services of these codes on other claims, dated
        from `start` (None: ever) through `end`."""
        member = claim.patient.member_id if claim.patient else None
        if not member:
            return []
        query = select(ClaimLine).where(ClaimLine.member_hash == member_hash(member),
                                        col(ClaimLine.procedure_code).in_(codes), ClaimLine.service_date <= end)
        if start is not None:
            query = query.where(ClaimLine.service_date >= start)
        if claim.claim_id:
            query = query.where(ClaimLine.claim_id != claim.claim_id)
        with Session(self.engine) as session:
            return sorted({(r.service_date, r.procedure_code, r.claim_id) for r in session.exec(query)})

    # -- API keys

    def create_key(self, role: str, label: str | None = None, secret: str | None = None,
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
        with self._writer_lock(), Session(self.engine) as session:
            known = session.exec(select(ApiKey).where(ApiKey.key_hash == _hash(secret))).first()
            if known is not None:
                return known.key_id, secret
            key_id = new_key_id()
            session.add(ApiKey(key_id=key_id, key_hash=_hash(secret), role=role, label=label,
                               created_at=_utcnow(), expires_at=expires_at))
            try:
                session.commit()
            except sa.exc.IntegrityError:  # another worker stored the same (bootstrap) secret just now
                session.rollback()
                known = session.exec(select(ApiKey).where(ApiKey.key_hash == _hash(secret))).first()
                if known is None:
                    raise
                return known.key_id, secret
        return key_id, secret

    def key_for(self, secret: str) -> ApiKey | None:
        """The key with this secret if it may be used now (not revoked, not expired): one indexed
        read, never cached, so that a revocation or an expiry holds from the next request on, in
        every worker process."""
        with Session(self.engine) as session:
            key = session.exec(select(ApiKey).where(ApiKey.key_hash == _hash(secret))).first()
        if key is None or key.revoked:
            return None
        if key.expires_at is not None and _aware(key.expires_at) <= _utcnow():
            return None
        return key

    def has_keys(self) -> bool:
        """Whether any key was ever created (a revoked or expired one counts): from then on every
        caller needs a key, so that revoking every key never opens the service to keyless callers."""
        with Session(self.engine) as session:
            return session.exec(select(ApiKey.key_id).limit(1)).first() is not None

    def keys(self) -> list[ApiKey]:
        """Every key, oldest first (the rows carry the secret's hash: never show it)."""
        with Session(self.engine) as session:
            return list(session.exec(select(ApiKey).order_by(ApiKey.created_at, ApiKey.key_id)))

    def revoke_key(self, key_id: str) -> tuple[ApiKey, bool]:
        """Revoke a key at once: (the key, whether it was revoked by this call). KeyError: no such key."""
        with self._writer_lock(), Session(self.engine) as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                raise KeyError(key_id)
            if key.revoked:
                return key, False
            key.revoked, key.revoked_at = True, _utcnow()
            session.add(key)
            session.commit()
            session.refresh(key)
            return key, True

    def rotate_key(self, key_id: str) -> tuple[str, str]:
        """A new secret and a new key id with the key's role, label and expiry; the old key is revoked
        in the same transaction. (new key id, secret). KeyError: no such key; ValueError: the key is
        revoked or expired."""
        secret = f"sk_{secrets.token_urlsafe(32)}"
        with self._writer_lock(), Session(self.engine) as session:
            old = session.get(ApiKey, key_id)
            if old is None:
                raise KeyError(key_id)
            if old.revoked:
                raise ValueError(f"key {key_id} is revoked: create a new key with `scrubber keys create`")
            if old.expires_at is not None and _aware(old.expires_at) <= _utcnow():
                raise ValueError(f"key {key_id} has expired: create a new key with `scrubber keys create`")
            new_id, now = new_key_id(), _utcnow()
            session.add(ApiKey(key_id=new_id, key_hash=_hash(secret), role=old.role, label=old.label,
                               created_at=now, expires_at=old.expires_at))
            old.revoked, old.revoked_at = True, now
            session.add(old)
            session.commit()
        return new_id, secret

    # -- who read which stored claim

    def record_access(self, *, key_id: str | None, role: str, action: str, scrub_id: str | None = None,
                      claim_id: str | None = None, detail: dict | None = None) -> None:
        """Record one read of stored claims; returns once it is committed (so that nothing is shown
        that was not recorded). `detail` holds filters and counts, never claim content."""
        self._committer.write(None, [ClaimAccess(at=_utcnow(), key_id=key_id, role=role, action=action,
                                                 scrub_id=scrub_id, claim_id=claim_id,
                                                 detail=json.dumps(detail or {}, sort_keys=True))])

    def accesses(self, *, key_id: str | None = None, scrub_id: str | None = None, since: dt.date | None = None,
                 until: dt.date | None = None, limit: int = 100, cursor: int | None = None) -> Page:
        """The access log, newest first; `cursor` is the last id of the previous page."""
        query = select(ClaimAccess)
        if key_id:
            query = query.where(ClaimAccess.key_id == key_id)
        if scrub_id:
            query = query.where(ClaimAccess.scrub_id == scrub_id)
        if since:
            query = query.where(ClaimAccess.at >= _start_of(since))
        if until:
            query = query.where(ClaimAccess.at < _start_of(until + dt.timedelta(days=1)))
        if cursor is not None:
            query = query.where(ClaimAccess.id < cursor)
        query = query.order_by(col(ClaimAccess.id).desc()).limit(limit + 1)
        with Session(self.engine) as session:
            rows = list(session.exec(query))
        more = len(rows) > limit
        rows = rows[:limit]
        items = [{"id": r.id, "at": _aware(r.at).isoformat(), "key_id": r.key_id, "role": r.role,
                  "action": r.action, "scrub_id": r.scrub_id, "claim_id": r.claim_id,
                  "detail": json.loads(r.detail or "{}")} for r in rows]
        return Page(items, str(rows[-1].id) if more and rows else None)

    # -- the rule set generation, shared by the worker processes

    def rules_generation(self) -> tuple[int, str | None]:
        """(generation, revision) of the rule set the last reload published; (0, None) before any.
        One primary-key read: every request that depends on the rules asks."""
        with self.engine.connect() as connection:
            value = connection.execute(RULES_GENERATION).scalar()
        if value is None:
            return 0, None
        state = json.loads(value)
        return int(state["generation"]), state.get("revision")

    def publish_rules(self, revision: str) -> int:
        """Record that a reload put `revision` in force: the next generation, returned. Concurrent
        reloads (in several processes) each get their own generation."""
        try:
            return self._next_generation(revision)
        except sa.exc.IntegrityError:  # another process inserted the first generation meanwhile
            return self._next_generation(revision)

    def _next_generation(self, revision: str) -> int:
        with self._writer_lock(), Session(self.engine) as session:
            row = session.exec(select(ServiceState).where(ServiceState.name == RULES_STATE).with_for_update()).first()
            generation = (json.loads(row.value)["generation"] if row is not None else 0) + 1
            value = json.dumps({"generation": generation, "revision": revision})
            if row is None:
                row = ServiceState(name=RULES_STATE, value=value, updated_at=_utcnow())
            else:
                row.value, row.updated_at = value, _utcnow()
            session.add(row)
            session.commit()
            return generation

    def delete_everything(self) -> None:
        """For tests: an empty database (the schema stays)."""
        with Session(self.engine) as session:
            for table in (FindingRecord, ClaimLine, Scrub, ApiKey, ClaimAccess, ServiceState, ScrubRollup,
                          FindingRollup):
                session.exec(delete(table))
            session.commit()


def history_rows(claim: Claim, scrub_id: str, at: dt.datetime) -> list[ClaimLine]:
    """The claim's lines as history rows (scrubber.pipeline.enrich.history.history_lines)."""
    return [ClaimLine(scrub_id=scrub_id, recorded_at=at, **vars(line)) for line in history_lines(claim)]


def _scrub_summary(row: Scrub) -> dict:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.timezone.utc)
    return {"scrub_id": row.scrub_id, "created_at": created.isoformat(), "claim_id": row.claim_id,
            "payer_id": row.payer_id, "status": row.status, "finding_count": row.finding_count,
            "revision": row.revision}


def _scrub_out(row: Scrub) -> dict:
    return {**_scrub_summary(row), "api_key_id": row.api_key_id, "claim": json.loads(row.claim),
            "result": json.loads(row.result)}
