"""Payer routing: each claim is scrubbed with its payer's rule set (claim.payer.id, as normalised), or with
the base rules and a warning when the payer has no profile."""
from __future__ import annotations

import datetime as dt
import threading
from typing import Literal, Sequence

from scrubber.contract.claim import Claim, Finding, ScrubResult
from scrubber.pipeline.enrich.frequency import FrequencyLimits
from scrubber.pipeline.enrich.history import ClaimHistory
from scrubber.pipeline.normalise import normalise
from scrubber.pipeline.scrubber import Judged, Scrubber, standard_enrichers
from scrubber.refdata.store import ReferenceData
from scrubber.ruleset.payers import Deployment

UNKNOWN_PAYER_RULE = "payer-profile-unknown"


class PayerRouter:
    """Scrubs each claim with its payer's rule set (claim.payer.id), or with the base rules and a
    warning when the payer has no profile. Quacks like a Scrubber for the API and the CLI."""

    def __init__(self, deployment: Deployment, reference: ReferenceData | None = None,
                 history: ClaimHistory | None = None, *,
                 evaluator: Literal["engine", "reference"] = "engine"):
        self.deployment = deployment
        self.ruleset = deployment.base
        self.program = deployment.base.program
        self.base = Scrubber(deployment.base, evaluator=evaluator, enrichers=standard_enrichers(reference, history))
        self.by_payer = {pid: Scrubber(p.ruleset, evaluator=evaluator, enrichers=standard_enrichers(
            reference, history) + ((FrequencyLimits(p.frequency, history, p.name),) if p.frequency and history
                                   is not None else ())) for pid, p in deployment.payers.items()}
        self._users = 0
        self._retired = False
        self._lock = threading.Lock()

    @property
    def revision(self) -> str:
        return self.deployment.revision

    def scrubber_for(self, payer_id: str | None):
        return self.by_payer.get(payer_id or "", self.base)

    def scrub(self, claim: Claim, *, today: dt.date | None = None, found: Sequence[Finding] = (),
              as_of: dt.date | None = None) -> ScrubResult:
        return self.judge(claim, today=today, found=found, as_of=as_of).result

    def judge(self, claim: Claim, *, today: dt.date | None = None, found: Sequence[Finding] = (),
              as_of: dt.date | None = None) -> Judged:
        """Normalise the claim, then pick its payer's rule set by the normalised payer id (so that
        "Medicare" and "medicare" are one payer), then scrub."""
        claim = normalise(claim, today=today)
        payer_id = claim.payer.id if claim.payer else None
        scrubber = self.by_payer.get(payer_id or "")
        if scrubber is None and self.deployment.payers:
            found = [*found, Finding(
                rule_id=UNKNOWN_PAYER_RULE, category="payer_specific", severity="warning",
                message=(f"No payer profile for payer id '{payer_id}': only the base rules were applied"
                         if payer_id else "The claim names no payer: only the base rules were applied"),
                lines=[], field="payer.id", carc=None, rarc=None,
                suggestion=f"Use one of the payer ids with a profile ({', '.join(sorted(self.by_payer))}) "
                           "or ask compliance to add one", source="payers")]
        return (scrubber or self.base).evaluate(claim, found=found, as_of=as_of)

    def unreadable(self, claim_id: str | None, found: Sequence[Finding]) -> ScrubResult:
        return self.base.unreadable(claim_id, found)

    # in-flight requests keep the router they started with; a retired router closes its engines
    # when the last of them is done
    def acquire(self) -> "PayerRouter":
        with self._lock:
            self._users += 1
        return self

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            close = self._retired and self._users == 0
        if close:
            self._close()

    def retire(self) -> None:
        with self._lock:
            self._retired = True
            close = self._users == 0
        if close:
            self._close()

    def close(self) -> None:
        self._close()

    def _close(self) -> None:
        for scrubber in [self.base, *self.by_payer.values()]:
            scrubber.close()


