"""The catalogue of rules that can produce a finding, each with the payer it belongs to: the base rules
(payer None: in force for every payer unless its profile disables or overrides them), the payer routing's
warning for a claim of a payer with no profile, and each payer's own rules (generated from its facts or
written in its profile), its overrides, and base rules its profile compiles differently (a value set it
changed). A base rule a payer inherits unchanged is listed once, as a base rule."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from scrubber.pipeline.normalise import payer_id
from scrubber.pipeline.routing import UNKNOWN_PAYER_RULE
from scrubber.ruleset.compiler import CompiledRule
from scrubber.ruleset.loader import RuleSet
from scrubber.ruleset.payers import Deployment
from scrubber.errors import ScrubberError


@dataclass(frozen=True)
class CataloguedRule:
    """One rule as a reader sees it: what it reports, where it is written, the payer it belongs to."""
    id: str
    title: str
    category: str
    severity: str
    status: str
    carc: str | None
    rarc: str | None
    effective_from: dt.date | None
    effective_to: dt.date | None
    source: str
    payer: str | None
    written: Callable[[], dict[str, Any]]  # the definition as written in its file

    def summary(self, revision: str) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "category": self.category, "severity": self.severity,
                "status": self.status, "carc": self.carc, "rarc": self.rarc, "effective_from": self.effective_from,
                "effective_to": self.effective_to, "source": self.source, "payer": self.payer, "revision": revision}


class UnknownPayer(ScrubberError, LookupError):
    """A payer id with no profile in force."""

    def __init__(self, payer: str, known: list[str]):
        self.payer, self.known = payer, known
        super().__init__(f"no payer profile has the id {payer!r}; the payers with a profile: "
                         f"{', '.join(known) if known else '(none)'}")


def _catalogued(compiled: CompiledRule, payer: str | None) -> CataloguedRule:
    rule = compiled.rule
    return CataloguedRule(rule.id, rule.title, rule.category, rule.severity, rule.status, rule.carc, rule.rarc,
                          rule.effective.from_, rule.effective.to, compiled.source, payer,
                          lambda: rule.model_dump(mode="json", by_alias=True))


# made by the payer router (scrubber/pipeline/routing.py), not compiled from a rule file; source as in its finding
UNKNOWN_PAYER = CataloguedRule(
    UNKNOWN_PAYER_RULE, "The claim's payer has no payer profile: only the base rules were applied",
    "payer_specific", "warning", "stable", None, None, None, None, "payers", None,
    lambda: {"id": UNKNOWN_PAYER_RULE, "category": "payer_specific", "severity": "warning",
             "made_by": "payer routing: a claim whose payer.id (as normalised) has no payer profile, or that "
                        "names no payer, is scrubbed with the base rules and gets this warning",
             "message": "No payer profile for payer id '{payer.id}': only the base rules were applied",
             "field": "payer.id",
             "suggestion": "Use one of the payer ids with a profile or ask compliance to add one"})


def _differs(payer_rule: CompiledRule, base: dict[str, CompiledRule]) -> bool:
    """The payer's rule is not the base rule unchanged: its own, an override, or compiled with a changed value set."""
    inherited = base.get(payer_rule.rule.id)
    return inherited is None or inherited.rule != payer_rule.rule or inherited.patterns != payer_rule.patterns


def all_rules(base: RuleSet, deployment: Deployment | None) -> list[CataloguedRule]:
    """Every rule that can produce a finding: the base rules, the routing's warning (when there are payer
    profiles to route to), then each payer's rules that are not a base rule unchanged, payer by payer."""
    out = [_catalogued(compiled, None) for compiled in base.program.rules]
    if deployment is None or not deployment.payers:
        return out
    out.append(UNKNOWN_PAYER)
    by_id = {compiled.rule.id: compiled for compiled in base.program.rules}
    for pid, profile in deployment.payers.items():
        out += [_catalogued(c, pid) for c in profile.ruleset.program.rules if _differs(c, by_id)]
    return out


def payer_profile_id(deployment: Deployment | None, payer: str) -> str:
    """The id of the payer profile that `payer` names, matched as a claim's payer id is routed; UnknownPayer."""
    payers = deployment.payers if deployment is not None else {}
    matched = payer_id(payer)
    if matched not in payers:
        raise UnknownPayer(payer, sorted(payers))
    return matched


def rules_for_payer(base: RuleSet, deployment: Deployment | None, payer: str) -> list[CataloguedRule]:
    """The rules in force for one payer (its rule set, in order), each marked with that payer, or None when it
    is a base rule inherited unchanged; UnknownPayer when `payer` has no profile."""
    pid = payer_profile_id(deployment, payer)
    assert deployment is not None  # payer_profile_id found the payer in it
    by_id = {compiled.rule.id: compiled for compiled in base.program.rules}
    return [_catalogued(c, pid if _differs(c, by_id) else None)
            for c in deployment.payers[pid].ruleset.program.rules]


def find_rule(base: RuleSet, deployment: Deployment | None, rule_id: str, payer: str | None) -> CataloguedRule | None:
    """Rule `rule_id`: without `payer`, the base rule, else the first payer rule of that id; with `payer`, the
    version in force for that payer (UnknownPayer when it has no profile). None: no such rule."""
    rules = all_rules(base, deployment) if payer is None else rules_for_payer(base, deployment, payer)
    return next((rule for rule in rules if rule.id == rule_id), None)


def payer_versions(rules: list[CataloguedRule]) -> set[tuple[str, str]]:
    """(rule id, payer) of each payer's own version of a rule among `rules` (all_rules' catalogue)."""
    return {(rule.id, rule.payer) for rule in rules if rule.payer is not None}


def times_fired(rule: CataloguedRule, counts: dict[tuple[str, str | None], int], versions: set[tuple[str, str]],
                payer: str | None = None) -> int:
    """The findings `rule` reported, from `counts` (findings by rule id and the claim's payer id): with `payer`
    (a payer profile id: the rule as in force for that payer), that payer's claims; a payer's version, its
    payer's claims; a base rule, the claims of every payer without a version of its own in `versions` (and of
    claims naming no payer)."""
    if payer is not None or rule.payer is not None:
        return counts.get((rule.id, payer or rule.payer), 0)
    return sum(n for (rule_id, claim_payer), n in counts.items()
               if rule_id == rule.id and (claim_payer is None or (rule_id, claim_payer) not in versions))
