"""Enrichers declare the fact keys they provide (scrubber.pipeline.enrich): a key the field catalogue does not
know fails when a scrubber is built, and what each shipped enricher writes on real claims is what it declares."""
from __future__ import annotations

from pathlib import Path

import pytest

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.coding_edits import CodingEdits
from scrubber.pipeline.enrich.facts import EnricherError, Facts, FactBuilder
from scrubber.pipeline.enrich.frequency import FrequencyLimits
from scrubber.pipeline.enrich.history import MemoryHistory, PreviouslyBilled
from scrubber.pipeline.scrubber import Scrubber
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.fields import fact_keys
from scrubber.ruleset.loader import load_ruleset
from scrubber.ruleset.payers import load_deployment
from tests.generators import realistic_claims

ROOT = Path(__file__).resolve().parents[2]


class MisspeltEnricher:
    provides = frozenset({"mue_limt"})

    def enrich(self, claim: Claim, facts: Facts) -> None:
        for fact in facts.lines:
            fact["mue_limt"] = 1


def test_an_enricher_that_declares_a_key_no_rule_can_read_fails_when_the_scrubber_is_built():
    with pytest.raises(EnricherError, match=r"MisspeltEnricher provides mue_limt, which scrubber/ruleset/fields.py "
                                            r"does not declare"):
        Scrubber(load_ruleset(ROOT / "rules"), enrichers=(MisspeltEnricher(),))


def test_every_shipped_enricher_declares_only_fields_rules_can_read():
    medicare = load_deployment(ROOT / "rules", ROOT / "payers").payers["medicare"]
    for provides in (CodingEdits.provides, PreviouslyBilled.provides, FrequencyLimits.provides):
        assert provides and provides <= fact_keys()
    assert medicare.frequency  # the frequency enricher has limits to declare keys for


def _written(builder: FactBuilder, enricher, claim: Claim) -> set[str]:
    """The fact keys `enricher` adds to the facts of `claim`."""
    facts = builder.build(claim)
    groups = [facts.claim, *facts.lines, *facts.diagnoses, *facts.providers]
    before = [set(fact) for fact in groups]
    enricher.enrich(claim, facts)
    return {key for fact, keys in zip(groups, before) for key in set(fact) - keys}


def test_what_each_enricher_writes_on_real_claims_is_within_what_it_declares(reference):
    program = load_ruleset(ROOT / "rules").program
    builder = FactBuilder(program)
    history = MemoryHistory()
    claims = realistic_claims(11, 300)
    for claim in claims[:150]:
        history.remember(claim)
    repeat = Claim.model_validate(complete_claim({"claim_id": "AGAIN", "patient": claims[0].patient.model_dump(),
                                                  "billing_provider": claims[0].billing_provider.model_dump(),
                                                  "lines": [line.model_dump() for line in claims[0].lines]}))
    medicare = load_deployment(ROOT / "rules", ROOT / "payers").payers["medicare"]
    annual = Claim.model_validate(complete_claim({"lines": [
        {"procedure_code": "G0438", "service_date": "2026-01-05"}, {"procedure_code": "G0438", "service_date": "2026-01-06"}]}))
    cases = [(CodingEdits(reference), claims), (PreviouslyBilled(history), [*claims[150:], repeat]),
             (FrequencyLimits(medicare.frequency, history, "Medicare"), [annual])]
    for enricher, corpus in cases:
        written = set().union(*(_written(builder, enricher, claim) for claim in corpus))
        assert written, f"{type(enricher).__name__} wrote nothing on its corpus"
        assert written <= enricher.provides, (type(enricher).__name__, written - enricher.provides)
