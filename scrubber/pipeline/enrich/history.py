"""The claim history an enricher reads: earlier claims' lines of the same member, for the cross-claim
duplicate and frequency rules. `ClaimHistory` is what a history provides; the service's database
(scrubber.audit.history, through scrubber.audit.store.AuditStore) and `MemoryHistory` (rule examples,
tests, files) both provide it.

A history keeps the latest version of each claim (by claim id), with its state: a re-scrub or a
replacement (frequency 7) never matches itself, and a void (frequency 8) leaves no lines. Member ids
are kept only as a hash.

What counts (`counts`): only a claim that could have been sent to the payer. Its lines count when its
latest scrub passed or warned, or when the billing system said it was submitted (the claim field
`submission_status: "submitted"`, or POST /v1/claims/submissions); not when its latest scrub failed
(a failed claim was never sent: its corrected copy under a new claim id is no duplicate of it), and
never once the billing system said it was voided or replaced (or a counting claim named it in
`replaces_claim_id`). A claim whose scrub status is not known (recorded before states were kept, or
remembered without one) counts.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Iterable, Literal, Protocol

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.facts import Facts


@dataclass(frozen=True)
class PriorLine:
    """Where a line of the claim was billed before: another claim's id and line number."""
    claim_id: str
    line_number: int


@dataclass(frozen=True)
class HistoryLine:
    """One line a claim leaves in the history."""
    claim_id: str
    member_hash: str
    payer_id: str | None
    line_number: int
    service_date: dt.date
    procedure_code: str
    modifiers: str  # sorted, space-separated
    units: str
    billing_npi: str | None


SubmissionStatus = Literal["submitted", "voided", "replaced"]
SUBMISSION_STATUSES: tuple[str, ...] = SubmissionStatus.__args__  # type: ignore[attr-defined]
COUNTING_SCRUBS = frozenset({"pass", "warn"})


def counts(scrub_status: str | None, submission: str | None) -> bool:
    """Whether a claim's lines count in the history: what the billing system said first (submitted:
    yes; voided or replaced: no), else its latest scrub (pass or warn: yes; fail: no; not known: yes)."""
    if submission is not None:
        return submission == "submitted"
    return scrub_status is None or scrub_status in COUNTING_SCRUBS


@dataclass(frozen=True)
class SubmissionChange:
    """What a billing system says it did with a claim (POST /v1/claims/submissions): submitted it,
    voided it, or replaced it (by `replaced_by`, when known), on `date` (when given)."""
    claim_id: str
    status: SubmissionStatus
    replaced_by: str | None = None
    date: dt.date | None = None


@dataclass
class ClaimState:
    """A claim's state in MemoryHistory: its latest scrub's status and what the billing system said."""
    scrub_status: str | None = None
    submission: str | None = None
    replaced_by: str | None = None

    @property
    def counts(self) -> bool:
        return counts(self.scrub_status, self.submission)


class HistoryRow(Protocol):
    """What matching needs of a stored line (a HistoryLine, or the database's row): read-only."""

    @property
    def claim_id(self) -> str: ...
    @property
    def line_number(self) -> int: ...
    @property
    def service_date(self) -> dt.date: ...
    @property
    def procedure_code(self) -> str: ...
    @property
    def modifiers(self) -> str: ...  # sorted, space-separated
    @property
    def units(self) -> str: ...
    @property
    def billing_npi(self) -> str | None: ...


class ClaimHistory(Protocol):
    """Earlier claims of the same member, other than the claim itself."""

    def prior_lines(self, claim: Claim) -> dict[int, PriorLine]:
        """For each line of the claim, a line of another (not voided) claim for the same member billing the
        same service: date, code, modifiers, units and billing NPI."""
        ...

    def services(self, claim: Claim, codes: frozenset[str], start: dt.date | None,
                 end: dt.date) -> list[tuple[dt.date, str, str]]:
        """(date, code, claim id) of the member's services of these codes on other claims, dated from
        `start` (None: ever) through `end`."""
        ...

    def member_lines(self, claim: Claim, start: dt.date, end: dt.date) -> list[HistoryLine]:
        """The member's counting lines on other claims dated `start` through `end`, by date, claim id
        and line number (for the global-surgery edits)."""
        ...


def member_hash(member_id: str) -> str:
    return hashlib.sha256(member_id.encode()).hexdigest()


def history_lines(claim: Claim) -> list[HistoryLine]:
    """The lines a claim leaves in the history: none for a void (frequency 8), none without a claim id
    or member id (nothing could ever match them)."""
    member = claim.patient.member_id if claim.patient else None
    if not claim.claim_id or claim.frequency_code == "8" or not member:
        return []
    npi = claim.billing_provider.npi if claim.billing_provider else None
    return [HistoryLine(claim_id=claim.claim_id, member_hash=member_hash(member),
                        payer_id=claim.payer.id if claim.payer else None, line_number=line.line_number or 0,
                        service_date=line.service_date, procedure_code=line.procedure_code,
                        modifiers=" ".join(sorted(line.modifiers)), units=str(line.units), billing_npi=npi)
            for line in claim.lines if line.service_date is not None and line.procedure_code is not None]


def match_prior(claim: Claim, rows: Iterable[HistoryRow]) -> dict[int, PriorLine]:
    """Lines of `claim` that repeat a history row (same date, code, modifiers, units, billing NPI);
    `rows` are the member's lines of other claims, oldest first."""
    index: dict[tuple, HistoryRow] = {}
    for row in rows:
        index.setdefault((row.service_date, row.procedure_code, row.modifiers, row.units, row.billing_npi), row)
    npi = claim.billing_provider.npi if claim.billing_provider else None
    found = {}
    for line in claim.lines:
        hit = index.get((line.service_date, line.procedure_code, " ".join(sorted(line.modifiers)),
                         str(line.units), npi))
        if hit is not None and line.line_number is not None:
            found[line.line_number] = PriorLine(hit.claim_id, hit.line_number)
    return found


class MemoryHistory:
    """The claim history kept in memory: for rule examples, tests and files; same matching and the same
    rule of what counts as the store (scrubber.audit.history)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._rows: dict[tuple, list[HistoryLine]] = {}  # (member hash, date, code) -> rows
        self._keys_of: dict[str, list[tuple]] = {}  # claim id -> its keys
        self._states: dict[str, ClaimState] = {}  # claim id -> its state

    def remember(self, claim: Claim, status: str | None = None) -> None:
        """The claim as its latest version, scrubbed with `status` (pass, warn or fail; None: not known,
        as for a rule example's earlier claims, which count). Its `submission_status` and
        `replaces_claim_id` act as in the store."""
        claim_id = claim.claim_id or ""
        for key in self._keys_of.pop(claim_id, ()):
            self._rows[key] = [r for r in self._rows[key] if r.claim_id != claim.claim_id]
        for row in history_lines(claim):
            key = (row.member_hash, row.service_date, row.procedure_code)
            self._rows.setdefault(key, []).append(row)
            self._keys_of.setdefault(row.claim_id, []).append(key)
        if not claim.claim_id:
            return
        state = self._states.setdefault(claim.claim_id, ClaimState())
        state.scrub_status = status
        if claim.submission_status == "submitted":
            state.submission, state.replaced_by = "submitted", None
        earlier = claim.replaces_claim_id
        if state.counts and earlier and earlier != claim.claim_id and earlier in self._states:
            self._states[earlier].submission, self._states[earlier].replaced_by = "replaced", claim.claim_id

    def mark(self, change: SubmissionChange) -> bool:
        """What the billing system did with a claim; False when the claim is not in the history."""
        state = self._states.get(change.claim_id)
        if state is None:
            return False
        state.submission = change.status
        state.replaced_by = change.replaced_by if change.status == "replaced" else None
        return True

    def _counting(self, claim: Claim) -> list[HistoryLine]:
        """Every counting row of the claim's member on other claims."""
        member = claim.patient.member_id if claim.patient else None
        if not member:
            return []
        hashed = member_hash(member)
        return [r for (m, _, _), rows in self._rows.items() if m == hashed
                for r in rows if r.claim_id != claim.claim_id and self._counts(r.claim_id)]

    def _counts(self, claim_id: str) -> bool:
        state = self._states.get(claim_id)
        return state is None or state.counts

    def prior_lines(self, claim: Claim) -> dict[int, PriorLine]:
        member = claim.patient.member_id if claim.patient else None
        if not member:
            return {}
        hashed = member_hash(member)
        rows = [r for line in claim.lines for r in self._rows.get((hashed, line.service_date, line.procedure_code), ())
                if r.claim_id != claim.claim_id and self._counts(r.claim_id)]
        return match_prior(claim, rows)

    def services(self, claim: Claim, codes: frozenset[str], start: dt.date | None,
                 end: dt.date) -> list[tuple[dt.date, str, str]]:
        return sorted({(r.service_date, r.procedure_code, r.claim_id) for r in self._counting(claim)
                       if r.procedure_code in codes and (start is None or r.service_date >= start)
                       and r.service_date <= end})

    def member_lines(self, claim: Claim, start: dt.date, end: dt.date) -> list[HistoryLine]:
        return sorted((r for r in self._counting(claim) if start <= r.service_date <= end),
                      key=lambda r: (r.service_date, r.claim_id, r.line_number))


class PreviouslyBilled:
    """An enricher: marks each line already billed on another claim of the same member
    (`previously_billed_in`, read by the duplicate-claim rule)."""

    provides = frozenset({"previously_billed_in"})

    def __init__(self, history: ClaimHistory):
        self.history = history

    def enrich(self, claim: Claim, facts: Facts) -> None:
        prior = self.history.prior_lines(claim)
        for fact in facts.lines:
            hit = prior.get(fact["line_number"])
            if hit is not None:
                fact["previously_billed_in"] = hit.claim_id
