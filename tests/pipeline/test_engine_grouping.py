"""The engine's rulesets group the rules by the fact type they read (scrubber.pipeline.engine.durable.
grouped_chunks): each fact goes only to the rulesets that read its type, no ruleset holds more than
CHUNK_SIZE rules, and the findings are those of the reference evaluator."""
import datetime as dt

from scrubber.contract.claim import Claim
from scrubber.pipeline.engine.durable import Engine, grouped_chunks, keys_by_type
from scrubber.pipeline.scrubber import Scrubber
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
