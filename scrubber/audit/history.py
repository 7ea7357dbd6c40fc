"""The claim-line history in the database: the pipeline's ClaimHistory
(scrubber.pipeline.enrich.history) for cross-claim edits.

Only the latest version of each claim (by claim_id) is kept, so a re-scrub or a replacement
(frequency 7) never matches itself, and a void (frequency 8) takes the claim out of the history.
Member ids are kept there only as a hash.

What counts is the pipeline's rule (scrubber.pipeline.enrich.history.counts): each claim id has a
state (`claim_state`: its latest scrub's status and key, and what the billing system said it did
with it), and each of its lines carries whether the claim counts now (`claim_line.counts`), so that
look-ups read one index (member, date of service). Every change of what the billing system said is
logged in `claim_status_change` (who, when, from which request or scrub).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, SQLModel, col, select

from scrubber.audit.database import Database
from scrubber.audit.queries import utcnow
from scrubber.audit.tables import ClaimLine, ClaimState, ClaimStatusChange
from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.history import (
    HistoryLine,
    PriorLine,
    SubmissionChange,
    counts,
    history_lines,
    match_prior,
    member_hash,
)

HISTORY_FIELDS = tuple(HistoryLine.__dataclass_fields__)
PRIOR_FIELDS = ("claim_id", "line_number", "service_date", "procedure_code", "modifiers", "units", "billing_npi")
IN_CHUNK = 500  # claim ids per IN (...) list: well inside SQLite's and PostgreSQL's bound parameters

# The history's statements, built once: a batch runs them for every claim, and building a statement is
# most of the cost of a small indexed read. "claim_id" is the asking claim's own id ("" when it has
# none: no stored line has an empty id), whose lines never match it.
CLAIM_LINES = SQLModel.metadata.tables["claim_line"]  # the table of ClaimLine, as a Core Table
_LINE = CLAIM_LINES.c
_OTHER_COUNTING = (_LINE.member_hash == sa.bindparam("member"), _LINE.counts.is_(True),
                   _LINE.claim_id != sa.bindparam("claim_id"))
_PRIOR = (sa.select(*(_LINE[name] for name in PRIOR_FIELDS))
          .where(*_OTHER_COUNTING, _LINE.service_date.in_(sa.bindparam("dates", expanding=True)),
                 _LINE.procedure_code.in_(sa.bindparam("codes", expanding=True)))
          .order_by(_LINE.recorded_at, _LINE.id))
_SERVICES = (sa.select(_LINE.service_date, _LINE.procedure_code, _LINE.claim_id)
             .where(*_OTHER_COUNTING, _LINE.procedure_code.in_(sa.bindparam("codes", expanding=True)),
                    _LINE.service_date >= sa.bindparam("start"), _LINE.service_date <= sa.bindparam("end")))
_MEMBER_LINES = (sa.select(*(_LINE[name] for name in HISTORY_FIELDS))
                 .where(*_OTHER_COUNTING, _LINE.service_date >= sa.bindparam("start"),
                        _LINE.service_date <= sa.bindparam("end"))
                 .order_by(_LINE.service_date, _LINE.claim_id, _LINE.line_number))
_FORGET = sa.delete(CLAIM_LINES).where(_LINE.claim_id == sa.bindparam("claim_id"))


def history_rows(claim: Claim, scrub_id: str, at: dt.datetime) -> list[dict]:
    """The claim's lines as `claim_line` rows (scrubber.pipeline.enrich.history.history_lines), as
    column values: they are inserted in one statement, without ORM objects (record_version)."""
    return [{"scrub_id": scrub_id, "recorded_at": at, **vars(line)} for line in history_lines(claim)]


def forget_claim(session: Session, claim_id: str) -> None:
    """Take a claim's lines out of the history (its next version replaces them)."""
    session.execute(_FORGET, {"claim_id": claim_id})


def claim_state(session: Session, claim_id: str, at: dt.datetime) -> ClaimState:
    """The claim id's state row, made when it has none. SQLite: the writer lock (Database.writer_lock)
    makes each write transaction the only one, so a read then an insert cannot race. PostgreSQL: two
    workers may write the same claim id at once, so the row is made with insert-or-nothing and taken
    for update (they take turns; neither fails)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(postgresql.insert(ClaimState).values(claim_id=claim_id, updated_at=at)
                        .on_conflict_do_nothing(index_elements=["claim_id"]))
        return session.exec(select(ClaimState).where(ClaimState.claim_id == claim_id)
                            .with_for_update().execution_options(populate_existing=True)).one()
    state = session.get(ClaimState, claim_id)
    if state is None:
        state = ClaimState(claim_id=claim_id, updated_at=at)
        session.add(state)
    return state


def set_counting(session: Session, claim_ids: Iterable[str], counting: bool) -> None:
    """Whether these claims' lines count, on every line."""
    ids = list(claim_ids)
    for start in range(0, len(ids), IN_CHUNK):
        session.execute(sa.update(ClaimLine).where(col(ClaimLine.claim_id).in_(ids[start:start + IN_CHUNK]))
                        .values(counts=counting))


def record_version(session: Session, claim: Claim, rows: list[dict], *, status: str, scrub_id: str,
                   api_key_id: str | None, at: dt.datetime, owner: str | None) -> None:
    """The claim's latest version into the history, in the scrub's transaction: its state (this
    scrub, and `submission_status: submitted` when the claim says so), its lines in place of the
    earlier version's, counting or not; and, when it counts, the claim it `replaces_claim_id` no
    longer does (only a claim last scrubbed with `owner`'s key, when `owner` is given)."""
    if not claim.claim_id:
        return  # nothing could ever match it: it leaves no lines (history_lines)
    state = claim_state(session, claim.claim_id, at)
    state.scrub_status, state.scrub_id, state.api_key_id, state.updated_at = status, scrub_id, api_key_id, at
    if claim.submission_status == "submitted" and state.submission != "submitted":
        state.submission, state.replaced_by, state.submission_date = "submitted", None, None
        session.add(ClaimStatusChange(at=at, claim_id=claim.claim_id, status="submitted", key_id=api_key_id,
                                      scrub_id=scrub_id))
    counting = counts(state.scrub_status, state.submission)
    forget_claim(session, claim.claim_id)
    if rows:
        session.execute(sa.insert(CLAIM_LINES), [{**row, "counts": counting} for row in rows])
    session.add(state)
    earlier_id = claim.replaces_claim_id
    if counting and earlier_id and earlier_id != claim.claim_id:
        earlier = session.get(ClaimState, earlier_id)
        if earlier is not None and (owner is None or earlier.api_key_id == owner) and (
                earlier.submission, earlier.replaced_by) != ("replaced", claim.claim_id):
            earlier.submission, earlier.replaced_by, earlier.submission_date = "replaced", claim.claim_id, None
            earlier.updated_at = at
            session.add(earlier)
            session.add(ClaimStatusChange(at=at, claim_id=earlier_id, status="replaced", replaced_by=claim.claim_id,
                                          key_id=api_key_id, scrub_id=scrub_id))
            set_counting(session, [earlier_id], False)


class ClaimLineHistory:
    """The members' earlier claim lines, as stored with their scrubs."""

    def __init__(self, db: Database):
        self._db = db

    def prior_lines(self, claim: Claim) -> dict[int, PriorLine]:
        """For each line of the claim, a line of another (not voided) claim for the same member
        billing the same service: date, code, modifiers, units and billing NPI. Reads only the
        member's counting lines of the claim's dates and codes, and only the columns matching needs
        (a member with thousands of earlier lines costs an index range, not thousands of objects)."""
        member = claim.patient.member_id if claim.patient else None
        dates = sorted({line.service_date for line in claim.lines if line.service_date})
        codes = sorted({line.procedure_code for line in claim.lines if line.procedure_code})
        if not member or not dates or not codes:
            return {}
        with self._db.engine.connect() as connection:
            rows = connection.execute(_PRIOR, {"member": member_hash(member), "dates": dates, "codes": codes,
                                               "claim_id": claim.claim_id or ""}).all()
        return match_prior(claim, rows)

    def services(self, claim: Claim, codes: frozenset[str], start: dt.date | None,
                 end: dt.date) -> list[tuple[dt.date, str, str]]:
        """(date, code, claim id) of the member's services of these codes on other claims, dated
        from `start` (None: ever) through `end`."""
        member = claim.patient.member_id if claim.patient else None
        if not member:
            return []
        with self._db.engine.connect() as connection:
            rows = connection.execute(_SERVICES, {"member": member_hash(member), "codes": sorted(codes),
                                                  "start": start or dt.date.min, "end": end,
                                                  "claim_id": claim.claim_id or ""})
            return sorted({(day, code, claim_id) for day, code, claim_id in rows})

    def member_lines(self, claim: Claim, start: dt.date, end: dt.date) -> list[HistoryLine]:
        """The member's counting lines on other claims dated `start` through `end`, by date, claim id
        and line number (index ix_claim_line_member_date)."""
        member = claim.patient.member_id if claim.patient else None
        if not member or end < start:
            return []
        with self._db.engine.connect() as connection:
            rows = connection.execute(_MEMBER_LINES, {"member": member_hash(member), "start": start, "end": end,
                                                      "claim_id": claim.claim_id or ""})
            return [HistoryLine(*row) for row in rows]

    def mark(self, changes: list[SubmissionChange], *, key_id: str | None, role: str,
             owner: str | None = None) -> list[bool | None]:
        """What the billing system did with these claims, in order, in one transaction, each logged with
        the caller's key and role. For each change, whether the claim counts after it, or None when the
        claim id is not in the history (or, with `owner`, was last scrubbed with another key: as if
        absent)."""
        out: list[bool | None] = []

        def write(session: Session) -> None:
            out.clear()
            at = utcnow()
            ids = sorted({c.claim_id for c in changes})
            states: dict[str, ClaimState] = {}
            for start in range(0, len(ids), IN_CHUNK):
                query = select(ClaimState).where(col(ClaimState.claim_id).in_(ids[start:start + IN_CHUNK]))
                states.update((s.claim_id, s) for s in session.exec(query.with_for_update()))
            counting: dict[str, bool] = {}
            for change in changes:
                state = states.get(change.claim_id)
                if state is None or (owner is not None and state.api_key_id != owner):
                    out.append(None)
                    continue
                state.submission, state.submission_date = change.status, change.date
                state.replaced_by = change.replaced_by if change.status == "replaced" else None
                state.updated_at = at
                session.add(state)
                session.add(ClaimStatusChange(at=at, claim_id=change.claim_id, status=change.status,
                                              replaced_by=state.replaced_by, status_date=change.date,
                                              key_id=key_id, role=role))
                counting[change.claim_id] = counts(state.scrub_status, state.submission)
                out.append(counting[change.claim_id])
            for value in (True, False):
                set_counting(session, [cid for cid, c in counting.items() if c is value], value)
            session.flush()

        self._db.write(write)
        return out
