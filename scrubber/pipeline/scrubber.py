"""The scrubbing pipeline: claim -> normalise -> enrich -> engine -> findings -> result.

A Scrubber holds one loaded rule set (compiled into the engine once) and scrubs claims against
it. The reference evaluator can stand in for the engine; the tests compare the two.
"""
from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Literal, Protocol, Sequence, get_args

from scrubber.contract.claim import Claim, Finding, RulesetInfo, ScrubResult
from scrubber.pipeline.engine import Evaluator
from scrubber.pipeline.engine.durable import Engine
from scrubber.pipeline.engine.reference import ReferenceEvaluator
from scrubber.pipeline.enrich.claim_requirements import ClaimRequirements
from scrubber.pipeline.enrich.coding_edits import CodingEdits
from scrubber.pipeline.enrich.facts import Enricher, FactBuilder
from scrubber.pipeline.enrich.history import ClaimHistory, PreviouslyBilled
from scrubber.pipeline.enrich.institutional import Institutional
from scrubber.pipeline.enrich.payment_policy import PaymentPolicy
from scrubber.pipeline.findings import build_findings, cap, pair_rules_skipped, plans_of, status
from scrubber.pipeline.normalise import normalise
from scrubber.refdata.store import ReferenceData
from scrubber.ruleset.loader import RuleSet

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> two characters


_last_id = [0]
_id_lock = threading.Lock()


def new_scrub_id() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits; within one millisecond of one process
    the next id is the previous one plus 1, so ids sort in the order they were made."""
    with _id_lock:
        millis = int(time.time() * 1000)
        if millis <= _last_id[0] >> 80:
            value = _last_id[0] + 1  # no random bits needed (reading them is a system call)
        else:
            value = (millis << 80) | int.from_bytes(secrets.token_bytes(10), "big")
        _last_id[0] = value
    return "".join([_CROCKFORD_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])


def standard_enrichers(reference: ReferenceData | None = None, history: ClaimHistory | None = None
                       ) -> tuple[Enricher, ...]:
    """The enrichers the service runs: coding edits from reference data (scrubber.refdata.store), the
    claim requirements (CLIA, NDC, ordering provider, MBI, ambulance; with the reference data when
    given) and the claim history (a ClaimHistory: the audit store, or a MemoryHistory), when given."""
    found: list[Enricher] = []
    if reference is not None:
        found.append(CodingEdits(reference))
        found.append(PaymentPolicy(reference, history))
    found.append(ClaimRequirements(reference))
    found.append(Institutional(reference))
    if history is not None:
        found.append(PreviouslyBilled(history))
    return tuple(found)


CLAIM_TYPES: tuple[str, ...] = get_args(Claim.model_fields["claim_type"].annotation)


def fields_never_set(enrichers: Iterable[Enricher]) -> dict[str, frozenset[str]]:
    """Per claim type, the fact keys that a claim of that type never has: those only enrichers for
    other claim types write (an enricher's `claim_types`, when it has them, are the only types it
    writes facts for; the Institutional enricher's are {"institutional"})."""
    enrichers = list(enrichers)
    never = {}
    for claim_type in CLAIM_TYPES:
        writes = [e for e in enrichers if claim_type in getattr(e, "claim_types", CLAIM_TYPES)]
        others = [e for e in enrichers if claim_type not in getattr(e, "claim_types", CLAIM_TYPES)]
        never[claim_type] = frozenset().union(*(e.provides for e in others)).difference(*(e.provides for e in writes))
    return never


@dataclass(frozen=True)
class Judged:
    """A scrub: the claim as it was judged (normalised; what the audit trail stores) and its result."""
    claim: Claim
    result: ScrubResult


class ClaimScrubber(Protocol):
    """What scrubs claims: one Scrubber (one rule set), or a PayerRouter (a rule set per payer)."""

    @property
    def revision(self) -> str: ...

    def scrub(self, claim: Claim, *, today: dt.date | None = None, found: Sequence[Finding] = (),
              as_of: dt.date | None = None) -> ScrubResult: ...

    def judge(self, claim: Claim, *, today: dt.date | None = None, found: Sequence[Finding] = (),
              as_of: dt.date | None = None) -> Judged: ...

    def unreadable(self, claim_id: str | None, found: Sequence[Finding]) -> ScrubResult: ...

    def acquire(self) -> "ClaimScrubber": ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class Scrubber:
    def __init__(self, ruleset: RuleSet, *, evaluator: Literal["engine", "reference"] = "engine",
                 enrichers: tuple[Enricher, ...] = ()):
        self.ruleset = ruleset
        self.program = ruleset.program
        self.enrichers = enrichers
        self.builder = FactBuilder(self.program, enrichers)
        self.plans = plans_of(self.program)  # what each rule's message shows, read once
        self.evaluator: Evaluator = (Engine(self.program, fields_never_set(enrichers)) if evaluator == "engine"
                                     else ReferenceEvaluator(self.program))

    def close(self) -> None:
        self.evaluator.close()

    # A bare Scrubber is its creator's to close; the service's PayerRouter counts its users.
    def acquire(self) -> "Scrubber":
        return self

    def release(self) -> None:
        pass

    @property
    def revision(self) -> str:
        return self.ruleset.revision

    def scrub(self, claim: Claim, *, today: dt.date | None = None,
              found: Sequence[Finding] = (), as_of: dt.date | None = None) -> ScrubResult:
        """Scrub one claim. `found`: findings its intake already made (an X12 segment problem),
        listed first. `as_of`: judge by the rules (and payer facts) in force on that day instead
        of on the claim's dates of service."""
        return self.judge(claim, today=today, found=found, as_of=as_of).result

    def judge(self, claim: Claim, *, today: dt.date | None = None,
              found: Sequence[Finding] = (), as_of: dt.date | None = None) -> Judged:
        """Scrub one claim, and say what was judged: the normalised claim (a new one; `claim` is not changed)."""
        return self.evaluate(normalise(claim, today=today), found=found, as_of=as_of)

    def evaluate(self, claim: Claim, *, found: Sequence[Finding] = (), as_of: dt.date | None = None) -> Judged:
        """Scrub a claim already normalised (scrubber.pipeline.normalise)."""
        facts = self.builder.build(claim)
        engine_facts = facts.for_engine()
        if as_of is not None:
            day = as_of.toordinal()
            for fact in engine_facts:
                if "dos" in fact:
                    fact["dos"] = day
        activations = self.evaluator.run(engine_facts)
        skipped = [pair_rules_skipped(self.program)] if facts.pairs_skipped else []
        findings = cap([*found, *skipped, *build_findings(self.program, activations, facts, self.plans)])
        dates = [line.service_date for line in claim.lines if line.service_date]
        effective = as_of or (min(dates) if dates else None)
        return Judged(claim, ScrubResult(
            claim_id=claim.claim_id, status=status(findings), findings=findings,
            ruleset=RulesetInfo(revision=self.ruleset.revision, effective_date=effective),
            scrub_id=new_scrub_id()))

    def unreadable(self, claim_id: str | None, found: Sequence[Finding]) -> ScrubResult:
        """The result for what its intake found but could not make a claim of (an X12 CLM with no
        service line): failed, with those findings, and no rule run."""
        findings = cap(list(found))
        return ScrubResult(claim_id=claim_id, status=status(findings) if findings else "fail",
                           findings=findings, ruleset=RulesetInfo(revision=self.ruleset.revision,
                                                                  effective_date=None),
                           scrub_id=new_scrub_id())
