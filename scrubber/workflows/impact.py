"""What-if impact: re-scrub a corpus of claims with candidate rule files and with the running
ones, and report, rule by rule, what would change before the candidate is deployed.

The corpus is the claims stored in the audit trail (the newest scrub of each claim id, since a
date) or a given NDJSON file. Each claim is scrubbed as it was sent (its own submission date), by
both deployments, against the same reference data and claim history.
"""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.history import ClaimHistory
from scrubber.pipeline.routing import PayerRouter
from scrubber.refdata.store import ReferenceData
from scrubber.ruleset.payers import Deployment
from scrubber.errors import ScrubberError

EXAMPLES_PER_RULE = 5


@dataclass
class RuleImpact:
    rule_id: str
    newly_fired: int = 0  # claims where the candidate reports the rule and the running set does not
    no_longer_fired: int = 0
    example_claims_fired: list[str] = field(default_factory=list)
    example_claims_cleared: list[str] = field(default_factory=list)


@dataclass
class ImpactReport:
    current_revision: str
    candidate_revision: str
    claims: int = 0
    changed_claims: int = 0
    newly_failing: int = 0  # pass or warn -> fail
    newly_passing: int = 0  # fail -> pass or warn
    status_changes: dict[str, int] = field(default_factory=dict)  # "pass->fail": n
    rules: list[RuleImpact] = field(default_factory=list)
    added_rules: list[str] = field(default_factory=list)
    removed_rules: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _rule_ids(deployment: Deployment) -> set[str]:
    return {r.rule.id for _, ruleset in deployment.rulesets() for r in ruleset.program.rules}


class ImpactStopped(ScrubberError):
    """The run was cancelled (`cancel` was set) after `claims` claims had been measured."""

    def __init__(self, claims: int):
        super().__init__(f"stopped after {claims} claim(s)")
        self.claims = claims


def measure(current: Deployment, candidate: Deployment, claims: Iterable[tuple[str, Claim]], *,
            reference: ReferenceData | None = None, history: ClaimHistory | None = None,
            cancel: threading.Event | None = None) -> ImpactReport:
    """`claims`: (label, claim) pairs, e.g. (claim id or scrub id, claim). Once `cancel` is set, the
    run stops before the next claim with ImpactStopped (the service sets it when the client goes
    away or the run takes too long)."""
    report = ImpactReport(current.revision, candidate.revision)
    running, trial = PayerRouter(current, reference, history), PayerRouter(candidate, reference, history)
    by_rule: dict[str, RuleImpact] = {}
    transitions: Counter[str] = Counter()
    try:
        for label, claim in claims:
            if cancel is not None and cancel.is_set():
                raise ImpactStopped(report.claims)
            report.claims += 1
            day = claim.submission_date
            before = running.scrub(claim, today=day)  # scrubbing never changes the claim
            after = trial.scrub(claim, today=day)
            fired_before = {f.rule_id for f in before.findings}
            fired_after = {f.rule_id for f in after.findings}
            if fired_before != fired_after or before.status != after.status:
                report.changed_claims += 1
            if before.status != after.status:
                transitions[f"{before.status}->{after.status}"] += 1
                if after.status == "fail":
                    report.newly_failing += 1
                elif before.status == "fail":
                    report.newly_passing += 1
            for rule_id in fired_after - fired_before:
                impact = by_rule.setdefault(rule_id, RuleImpact(rule_id))
                impact.newly_fired += 1
                if len(impact.example_claims_fired) < EXAMPLES_PER_RULE:
                    impact.example_claims_fired.append(label)
            for rule_id in fired_before - fired_after:
                impact = by_rule.setdefault(rule_id, RuleImpact(rule_id))
                impact.no_longer_fired += 1
                if len(impact.example_claims_cleared) < EXAMPLES_PER_RULE:
                    impact.example_claims_cleared.append(label)
    finally:
        running.close()
        trial.close()
    report.status_changes = dict(sorted(transitions.items()))
    report.rules = sorted(by_rule.values(), key=lambda r: (-(r.newly_fired + r.no_longer_fired), r.rule_id))
    before_ids, after_ids = _rule_ids(current), _rule_ids(candidate)
    report.added_rules = sorted(after_ids - before_ids)
    report.removed_rules = sorted(before_ids - after_ids)
    return report


def format_report(report: ImpactReport) -> str:
    lines = [f"Impact of revision {report.candidate_revision} against the running {report.current_revision} "
             f"on {report.claims} claim(s):",
             f"  {report.changed_claims} claim(s) change; {report.newly_failing} would newly fail, "
             f"{report.newly_passing} would newly pass"]
    for change, count in report.status_changes.items():
        lines.append(f"    {change}: {count}")
    if report.added_rules:
        lines.append(f"  rules added: {', '.join(report.added_rules)}")
    if report.removed_rules:
        lines.append(f"  rules removed or disabled: {', '.join(report.removed_rules)}")
    if report.rules:
        lines.append("  by rule (claims newly reported / no longer reported; example claims):")
        for r in report.rules:
            examples = ", ".join(r.example_claims_fired or r.example_claims_cleared)
            lines.append(f"    {r.rule_id}: +{r.newly_fired} / -{r.no_longer_fired}  ({examples})")
    else:
        lines.append("  no rule reports a different claim")
    return "\n".join(lines)
