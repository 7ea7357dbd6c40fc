"""The engine runtime: driven directly, one session per claim, inside the engine's limits."""
import datetime as dt
import threading

import pytest

from scrubber.contract.claim import Claim
from scrubber.ruleset.durable_json import to_durable
from scrubber.ruleset.examples import complete_claim
from scrubber.pipeline.scrubber import Scrubber
from scrubber.ruleset.loader import RuleSetError, load_ruleset, load_texts
from tests.pipeline.generated_rules import generated_rule, rule_file

TODAY = dt.date(2026, 1, 15)


def _claim(**partial) -> Claim:
    return Claim.model_validate(complete_claim(partial))


def _ids(scrubber: Scrubber, claim: Claim) -> list[str]:
    return sorted(f.rule_id for f in scrubber.scrub(claim, today=TODAY).findings)


def test_a_large_rule_set_is_an_engine_ruleset_per_rule():
    text = rule_file("".join(generated_rule(i, f"{{line: {{units: {{gt: {i}}}}}}}") for i in range(150)))
    ruleset = load_texts([("many.yaml", text)])
    rulesets = to_durable(ruleset.program)
    assert len(rulesets) == 150 and all(len(r) == 2 for r in rulesets)  # each also has "always"
    engine = Scrubber(ruleset)
    try:
        claim = _claim(lines=[{"units": 100}])
        # units 100 is above 0..99: the first 100 rules fire, each in its own ruleset
        assert _ids(engine, claim) == [f"rule-{i:04d}" for i in range(100)]
    finally:
        engine.close()


def test_a_value_set_of_a_thousand_codes_is_looked_up_by_enrichment_not_by_the_engine():
    codes = ", ".join(f'"{n:05d}"' for n in range(10000, 11000))
    text = rule_file(generated_rule(1, "{line: {procedure_code: {in: $big}}}"), head=f"value_sets:\n  big: [{codes}]\n")
    ruleset = load_texts([("big.yaml", text)])
    (flag,) = ruleset.program.flags
    assert flag.kind == "in" and len(flag.values) == 1000
    assert "10500" not in str(to_durable(ruleset.program))  # the list never reaches the engine
    engine = Scrubber(ruleset)
    try:
        assert _ids(engine, _claim(lines=[{"procedure_code": "10500"}])) == ["rule-0001"]
        assert _ids(engine, _claim(lines=[{"procedure_code": "99213"}])) == []
    finally:
        engine.close()


def test_a_condition_beyond_the_engines_expression_slots_is_refused_in_words():
    deep = "{line: {any: [" + ", ".join(
        f"{{all: [{{units: {{gt: {{field: modifier_count}}}}}}, {{charge: {{gt: {i}}}}}]}}" for i in range(12)) + "]}}"
    with pytest.raises(RuleSetError) as caught:
        load_texts([("deep.yaml", rule_file(generated_rule(1, deep)))])
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("deep.yaml", 7)
    assert "too deeply grouped for the rules engine" in problem.message
    assert "Split it into two rules" in problem.message


def test_the_engine_never_joins_two_facts_of_the_same_type():
    text = rule_file(generated_rule(1, "{claim: {all: [{no_line: {charge: {lt: 0}}}, "
                          "{count_lines: {where: {units: {gt: 1}}, at_least: 3}}, {any_diagnosis: {code: I10}}]}}",
                       message="{line.line_number}"))
    ruleset = load_texts([("q.yaml", text)])
    patterns = to_durable(ruleset.program)[0]["r0"]["all"]
    names = [next(iter(p)) for p in patterns]
    assert names == ["g", "c", "n1$not", "l1", "d1"]  # gate, claim, negation first, one line, one dx
    engine = Scrubber(ruleset)
    try:
        lines = [{"units": 2}, {"units": 2, "procedure_code": "99214"}, {"units": 3, "procedure_code": "36415"}]
        result = engine.scrub(_claim(lines=lines), today=TODAY)
        (finding,) = result.findings
        assert finding.lines == [1, 2, 3] and finding.message == "1"
        assert _ids(engine, _claim(lines=lines[:2])) == []  # only two lines with units > 1
    finally:
        engine.close()


def test_each_claim_gets_its_own_session_and_no_findings_leak_between_claims():
    scrubber = Scrubber(load_ruleset())
    try:
        bad = _claim(billing_provider={"npi": "1234567890"})
        clean = _claim()
        for _ in range(200):
            assert _ids(scrubber, bad) == ["npi-check-digit"]
            assert _ids(scrubber, clean) == []
    finally:
        scrubber.close()


def test_concurrent_threads_get_the_same_findings_as_one_thread():
    scrubber = Scrubber(load_ruleset())
    claims = [_claim(billing_provider={"npi": "1234567890"}), _claim(lines=[{"diagnosis_pointers": [5]}]), _claim()]
    expected = [_ids(scrubber, c.model_copy(deep=True)) for c in claims]
    failures = []

    def work():
        for _ in range(150):
            for claim, want in zip(claims, expected):
                got = _ids(scrubber, claim.model_copy(deep=True))
                if got != want:
                    failures.append((got, want))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    scrubber.close()
    assert expected == [["npi-check-digit"], ["pointer-invalid"], []]
    assert failures == []


def test_a_disabled_rule_is_checked_but_not_run():
    text = rule_file(generated_rule(1, "{line: {units: {gt: 0}}}") + "    enabled: false\n")
    ruleset = load_texts([("off.yaml", text)])
    assert ruleset.program.rules == []
    engine = Scrubber(ruleset)
    try:
        assert _ids(engine, _claim()) == []
    finally:
        engine.close()
