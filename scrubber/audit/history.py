"""The claim-line history in the database: the pipeline's ClaimHistory
(scrubber.pipeline.enrich.history) for cross-claim edits.

Only the latest version of each claim (by claim_id) is kept, so a re-scrub or a replacement
(frequency 7) never matches itself, and a void (frequency 8) takes the claim out of the history.
Member ids are kept there only as a hash.
"""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, delete, select

from scrubber.audit.database import Database
from scrubber.audit.tables import ClaimLine
from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.history import PriorLine, history_lines, match_prior, member_hash


def history_rows(claim: Claim, scrub_id: str, at: dt.datetime) -> list[ClaimLine]:
    """The claim's lines as history rows (scrubber.pipeline.enrich.history.history_lines)."""
    return [ClaimLine(scrub_id=scrub_id, recorded_at=at, **vars(line)) for line in history_lines(claim)]


def forget_claim(session: Session, claim_id: str) -> None:
    """Take a claim's lines out of the history (its next version replaces them)."""
    session.exec(delete(ClaimLine).where(col(ClaimLine.claim_id) == claim_id))


class ClaimLineHistory:
    """The members' earlier claim lines, as stored with their scrubs."""

    def __init__(self, db: Database):
        self._db = db

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
        with Session(self._db.engine) as session:
            rows = list(session.exec(query.order_by(col(ClaimLine.recorded_at), col(ClaimLine.id))))
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
        with Session(self._db.engine) as session:
            return sorted({(r.service_date, r.procedure_code, r.claim_id) for r in session.exec(query)})
