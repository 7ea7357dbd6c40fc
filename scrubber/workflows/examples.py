"""Running the example claims of rule files (and of payer profiles) through the real pipeline: what
`scrubber rules test` and a reload check before anything is put in force."""
from __future__ import annotations

from dataclasses import dataclass

from scrubber.settings import settings
from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.frequency import FrequencyLimits
from scrubber.pipeline.enrich.history import MemoryHistory
from scrubber.pipeline.scrubber import Scrubber, standard_enrichers
from scrubber.refdata.baseline import open_reference
from scrubber.ruleset.examples import EXAMPLE_TODAY, complete_claim
from scrubber.ruleset.payers import Deployment


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
    if reference is None:
        reference = open_reference(settings().data_dir)
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
