"""Example claims in rule files: completed from a clean claim, so an example names only what matters.

An example passes when its rule fires exactly if the rule's id is in `expect`, and every other
id listed in `expect` fires too.
"""
from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

BASE_CLAIM: dict[str, Any] = {
    "claim_id": "EXAMPLE-1",
    "claim_type": "professional",
    "frequency_code": "1",
    "submission_date": "2026-01-15",
    "payer": {"id": "medicare", "name": "Medicare Part B"},
    "patient": {"member_id": "EX0000001", "first_name": "Pat", "last_name": "Example",
                "birth_date": "1970-01-01", "sex": "F"},
    "billing_provider": {"npi": "1234567893", "taxonomy": "207Q00000X", "tax_id": "123456789"},
    "place_of_service": "11",
    "diagnoses": [{"code": "I10"}],
}
BASE_LINE: dict[str, Any] = {
    "procedure_code": "99213", "modifiers": [], "units": 1, "charge": "100.00",
    "service_date": "2026-01-05", "diagnosis_pointers": [1],
}
EXAMPLE_TODAY = dt.date(2026, 1, 15)  # examples never depend on the day they are run
_MERGED = ("payer", "patient", "billing_provider", "rendering_provider", "referring_provider")


def complete_claim(partial: dict[str, Any]) -> dict[str, Any]:
    """The example's claim over a clean base claim: named blocks merge, lines merge over a clean
    line, total_charge defaults to the sum of the line charges, and null removes a value."""
    claim = copy.deepcopy(BASE_CLAIM)
    for key, value in partial.items():
        if key in _MERGED and isinstance(value, dict) and isinstance(claim.get(key), dict):
            claim[key] = {**claim[key], **value}
        elif key == "lines" and isinstance(value, list):
            claim["lines"] = [{**BASE_LINE, **line} if isinstance(line, dict) else line for line in value]
        else:
            claim[key] = value
    claim.setdefault("lines", [dict(BASE_LINE)])
    if "total_charge" not in partial:
        try:
            claim["total_charge"] = str(sum(Decimal(str(line["charge"])) for line in claim["lines"]))
        except Exception:  # a malformed charge: the claim model reports it
            pass
    return _drop_nulls(claim)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


@dataclass
class ExampleResult:
    rule_id: str
    name: str
    where: str
    passed: bool
    why: str = ""


def run_examples(rules, reference=None) -> list[ExampleResult]:
    """Scrub every rule's example claims with the whole rule set (the real engine), the reference
    data (by default the data directory's, with the shipped baseline) and a claim history that
    holds only the example's earlier claims. `rules` is a RuleSet, or a Deployment: then every
    example also runs under every payer profile (a payer's changes must not break a base rule's
    examples unnoticed), and each payer rule's examples under its payer."""
    from scrubber import config
    from scrubber.audit.store import MemoryHistory
    from scrubber.contract.claim import Claim
    from scrubber.ruleset.payers import Deployment, FrequencyLimits
    from scrubber.pipeline.scrubber import Scrubber, standard_enrichers
    from scrubber.refdata.baseline import open_reference

    if reference is None:
        reference = open_reference(config.data_dir())
    history = MemoryHistory()
    runs = [(None, rules, ())] if not isinstance(rules, Deployment) else \
        [(None, rules.base, ())] + [(p.id, p.ruleset, (FrequencyLimits(p.frequency, history, p.name),)
                                     if p.frequency else ()) for p in rules.payers.values()]
    results = []
    failing_in_base: set[tuple[str, str]] = set()
    for payer_id, ruleset, extra in runs:
        scrubber = Scrubber(ruleset, enrichers=standard_enrichers(reference, history) + extra)
        try:
            for compiled in ruleset.program.rules:
                rule = compiled.rule
                for example, line in zip(rule.examples, compiled.example_lines):
                    where = f"{compiled.source}:{line}" + (f" (payer {payer_id})" if payer_id else "")
                    history.clear()
                    for earlier in example.history:
                        history.remember(Claim.model_validate(complete_claim(earlier)))
                    claim = Claim.model_validate(complete_claim(example.claim))
                    fired = {f.rule_id for f in scrubber.scrub(claim, today=EXAMPLE_TODAY).findings}
                    expected = set(example.expect)
                    missing = sorted(expected - fired)
                    unexpected = rule.id in fired and rule.id not in expected
                    why = []
                    if missing:
                        why.append(f"expected {', '.join(missing)} to fire but "
                                   f"{'it' if len(missing) == 1 else 'they'} did not")
                    if unexpected:
                        why.append(f"{rule.id} fired but the example expects it not to")
                    if payer_id is None and why:
                        failing_in_base.add((rule.id, example.name))
                    elif payer_id is not None and (rule.id, example.name) in failing_in_base:
                        continue  # reported once, for the base rules
                    results.append(ExampleResult(rule.id, example.name, where, not why, "; ".join(why)))
        finally:
            scrubber.close()
    return results
