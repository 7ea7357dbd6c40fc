"""The engine's rulesets group the rules by the fact type they read (scrubber.pipeline.engine.durable.
grouped_chunks): each fact goes only to the rulesets that read its type, no ruleset holds more than
CHUNK_SIZE rules, and the findings are those of the reference evaluator."""
import datetime as dt

import pytest

from scrubber.contract.claim import Claim
from scrubber.pipeline.engine.durable import Engine, EngineError, can_fire, grouped_chunks, keys_by_type
from scrubber.pipeline.scrubber import Scrubber, fields_never_set
from scrubber.ruleset.durable_json import ALWAYS, CHUNK_SIZE
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.loader import load_texts
from tests.pipeline.generated_rules import generated_rule, rule_file

TODAY = dt.date(2026, 1, 15)


# 70 line rules, 20 diagnosis rules and 5 claim rules, interleaved as an author might write them
RULES = "".join(
    generated_rule(i, f"{{line: {{units: {{gt: {i}}}}}}}") if i < 70 else
    generated_rule(i, f"{{diagnosis: {{position: {{le: {i - 69}}}}}}}") if i < 90 else
    generated_rule(i, f"{{claim: {{line_count: {{ge: {i - 89}}}}}}}")
    for i in sorted(range(95), key=lambda i: (i % 7, i)))
RULESET = load_texts([("many.yaml", rule_file(RULES))])


def _types(chunk: dict) -> set[str]:
    return set(keys_by_type(chunk)) - {"gate"}


def test_rules_are_grouped_by_the_fact_type_they_read_into_rulesets_of_at_most_chunk_size():
    chunks = grouped_chunks(RULESET.program)
    names = [name for chunk in chunks for name in chunk if name != ALWAYS]
    assert sorted(names) == sorted(rule.name for rule in RULESET.program.rules)  # each rule once
    # 70 line rules: two rulesets of 35; the 20 diagnosis and 5 claim rules fill the first one up to 60
    assert [len(chunk) - 1 for chunk in chunks] == [CHUNK_SIZE, 35]
    assert [_types(chunk) for chunk in chunks] == [{"line", "dx", "claim"}, {"line"}]
    assert all(chunk[ALWAYS] == {"all": [{"g": {"t": "gate"}}]} for chunk in chunks)


def test_a_program_without_rules_still_has_the_always_ruleset():
    empty = load_texts([("none.yaml", "schema_version: 1\nrules: []\n")])
    assert grouped_chunks(empty.program) == [{ALWAYS: {"all": [{"g": {"t": "gate"}}]}}]


def test_diagnosis_facts_go_only_to_the_ruleset_that_reads_them():
    engine = Engine(RULESET.program)
    try:
        assert [sorted(keys) for keys in engine._keys] == [["claim", "dx", "gate", "line"], ["gate", "line"]]
    finally:
        engine.close()


def test_grouped_rulesets_find_what_the_reference_evaluator_finds():
    claim = Claim.model_validate(complete_claim({
        "lines": [{"units": 50}, {"units": 3}, {"units": 80}],
        "diagnoses": [{"code": "E119"}, {"code": "I10"}, {"code": "J449"}]}))
    engine, reference = Scrubber(RULESET), Scrubber(RULESET, evaluator="reference")
    try:
        found = engine.scrub(claim, today=TODAY).findings
        assert found == reference.scrub(claim, today=TODAY).findings
        ids = sorted(f.rule_id for f in found)
        # units 80 passes every line rule (units > 0..69); 3 diagnoses pass position <= 1..20 for
        # rules 70..89 (positions up to 3: each rule fires once per diagnosis it holds for); 3 lines
        # pass line_count >= 1..3
        assert sorted(set(ids)) == [f"rule-{i:04d}" for i in range(70)] + [
            f"rule-{i:04d}" for i in range(70, 90)] + [f"rule-{i:04d}" for i in range(90, 93)]
        assert ids.count("rule-0070") == 1 and ids.count("rule-0072") == 3
        assert ids.count("rule-0010") == 2 and ids.count("rule-0060") == 1  # lines with 50 and 80 units; only 80
    finally:
        engine.close()
        reference.close()


# Rule 0: professional claims only; rule 1: institutional claims only (its line rule reads the claim's type);
# rule 2: needs a key only the Institutional enricher writes (oce_bill); rule 3: every claim; rule 4: a
# line that no line matches, on a key only institutional lines have (fires on a professional claim).
BY_TYPE = load_texts([("types.yaml", rule_file(
    generated_rule(0, "{claim: {claim_type: professional}}") +
    generated_rule(1, "{line: {claim.claim_type: institutional}}") +
    generated_rule(2, "{claim: {oce_bill: true}}") +
    generated_rule(3, "{claim: {line_count: {ge: 1}}}") +
    generated_rule(4, "{claim: {no_line: {inpatient_only_procedure: true}}}")))])


def test_each_claim_type_runs_only_the_rules_that_can_fire_on_it():
    from scrubber.pipeline.enrich.institutional import Institutional  # the enricher whose keys only hospital claims have
    never = fields_never_set([Institutional()])
    assert never["professional"] == Institutional.provides and never["institutional"] == frozenset()
    by_name = {rule.rule.id: rule for rule in BY_TYPE.program.rules}
    fires = {claim_type: sorted(rule_id for rule_id, rule in by_name.items() if can_fire(rule, claim_type, never[claim_type]))
             for claim_type in ("professional", "institutional")}
    assert fires == {"professional": ["rule-0000", "rule-0003", "rule-0004"],
                     "institutional": ["rule-0001", "rule-0002", "rule-0003", "rule-0004"]}


def test_a_professional_claim_gets_the_findings_of_every_rule_with_fewer_rules_run():
    from scrubber.pipeline.enrich.institutional import Institutional  # the enricher whose keys only hospital claims have
    claim = Claim.model_validate(complete_claim({"lines": [{"units": 1}]}))
    engine = Scrubber(BY_TYPE, enrichers=(Institutional(),))
    reference = Scrubber(BY_TYPE, evaluator="reference", enrichers=(Institutional(),))
    try:
        found = engine.scrub(claim, today=TODAY).findings
        assert found == reference.scrub(claim, today=TODAY).findings
        assert sorted(f.rule_id for f in found) == ["rule-0000", "rule-0003", "rule-0004"]
        assert isinstance(engine.evaluator, Engine)
        assert len(engine.evaluator.rulesets_for("professional")) == 1
        assert engine.evaluator.rulesets_for("professional") != engine.evaluator.rulesets_for("institutional")
    finally:
        engine.close()
        reference.close()


def test_a_closed_engine_refuses_to_scrub_rather_than_run_no_rule():
    """After close() the engine has no rulesets: running none would pass every claim, so it raises."""
    engine = Engine(RULESET.program)
    engine.close()
    with pytest.raises(EngineError, match="the rules engine was closed"):
        engine.run([{"id": "c", "t": "claim", "claim_type": "professional", "line_count": 1}, {"id": "g", "t": "gate"}])
