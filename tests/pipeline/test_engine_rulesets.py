"""The engine runs one ruleset per rule (scrubber.pipeline.engine.durable), and a claim opens sessions
only in the rulesets whose rule can fire: each of its patterns, negations aside, is passed by one of the
claim's facts; each session is sent only the facts that pass one of its rule's patterns (and the gate
fact). The findings are those of the reference evaluator, which gets every fact."""
import datetime as dt
import orjson
import pytest

from scrubber.contract.claim import Claim
from scrubber.pipeline.engine import durable
from scrubber.pipeline.engine.durable import Engine, EngineError, can_fire
from scrubber.pipeline.scrubber import Scrubber, fields_never_set
from scrubber.ruleset.durable_json import ALWAYS, to_durable
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


def _recording(monkeypatch, engine: Engine) -> list[tuple[str, list[tuple[str, str]]]]:
    """What the engine is sent from now on: per session opened, the id of the rule its ruleset holds and
    the (type, id) of each fact asserted."""
    rule_ids = {rule.name: rule.rule.id for rule in engine.program.rules}
    rule_of = {ruleset.handle: rule_ids[ruleset.rule] for kind in engine._kinds.values() for ruleset in kind.rulesets}
    sent: list[tuple[str, list[tuple[str, str]]]] = []
    real = durable._engine

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        @staticmethod
        def assert_facts(handle, payload):
            sent.append((rule_of[handle], [(fact["t"], fact["id"]) for fact in orjson.loads(payload)]))
            return real.assert_facts(handle, payload)

    monkeypatch.setattr(durable, "_engine", Spy())
    return sent


def test_each_rule_is_an_engine_ruleset_of_its_own_with_the_rule_that_always_fires():
    rulesets = to_durable(RULESET.program)
    assert all(len(r) == 2 and ALWAYS in r for r in rulesets)
    assert [next(name for name in r if name != ALWAYS) for r in rulesets] == [r.name for r in RULESET.program.rules]
    assert all(r[ALWAYS] == {"all": [{"g": {"t": "gate"}}]} for r in rulesets)
    assert to_durable(load_texts([("none.yaml", "schema_version: 1\nrules: []\n")]).program) == []


def test_one_ruleset_per_rule_finds_what_the_reference_evaluator_finds():
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
        rules = {claim_type: sorted(engine.evaluator._kinds[claim_type].rulesets, key=lambda r: r.rule)
                 for claim_type in ("professional", "institutional")}
        by_name = {rule.name: rule.rule.id for rule in BY_TYPE.program.rules}
        assert [by_name[r.rule] for r in rules["professional"]] == ["rule-0000", "rule-0003", "rule-0004"]
        assert [by_name[r.rule] for r in rules["institutional"]] == ["rule-0001", "rule-0002", "rule-0003", "rule-0004"]
        # a rule of both claim types is compiled once: a claim is of one type, so their sessions never meet
        handles = {claim_type: {by_name[r.rule]: r.handle for r in found} for claim_type, found in rules.items()}
        assert handles["professional"]["rule-0003"] == handles["institutional"]["rule-0003"]
        assert len(set(handles["professional"].values()) | set(handles["institutional"].values())) == 5
    finally:
        engine.close()
        reference.close()


def test_a_closed_engine_refuses_to_scrub_rather_than_run_no_rule():
    """After close() the engine has no rulesets: running none would pass every claim, so it raises."""
    engine = Engine(RULESET.program)
    engine.close()
    with pytest.raises(EngineError, match="the rules engine was closed"):
        engine.run([{"id": "c", "t": "claim", "claim_type": "professional", "line_count": 1}, {"id": "g", "t": "gate"}])


def _claim(**partial) -> Claim:
    return Claim.model_validate(complete_claim(partial))


# rule 0: a line over 60 units; rule 1: a claim with a line over 60 units and a diagnosis I10 (two patterns
# that must each be passed); rule 2: a claim with no line of a negative charge (a negation); rule 3: a
# diagnosis E11.9 (diagnosis codes are compared as normalised, with their dot)
SESSIONS = load_texts([("sessions.yaml", rule_file(
    generated_rule(0, "{line: {units: {gt: 60}}}") +
    generated_rule(1, "{claim: {all: [{any_line: {units: {gt: 60}}}, {any_diagnosis: {code: I10}}]}}") +
    generated_rule(2, "{claim: {no_line: {charge: {lt: 0}}}}") +
    generated_rule(3, "{diagnosis: {code: E11.9}}")))])


def test_a_claim_opens_sessions_only_for_the_rules_its_facts_can_fire_and_sends_each_only_its_facts(monkeypatch):
    scrubber = Scrubber(SESSIONS)
    try:
        sent = _recording(monkeypatch, scrubber.evaluator)
        claim = _claim(lines=[{"units": 80}, {"units": 3}, {"units": 1, "charge": "10.00"}],
                       diagnoses=[{"code": "J449"}, {"code": "E119"}])
        found = scrubber.scrub(claim, today=TODAY).findings
        assert sorted((f.rule_id, f.lines) for f in found) == [("rule-0000", [1]), ("rule-0002", []),
                                                               ("rule-0003", [])]
        # rule 1 needs a diagnosis I10: none passes, so its ruleset is not run at all; rule 0 gets the one
        # line over 60 units; rule 2 the claim only (no line has a negative charge); rule 3 the one E11.9
        assert sorted(sent) == [("rule-0000", [("line", "l0"), ("gate", "g")]),
                                ("rule-0002", [("claim", "c"), ("gate", "g")]),
                                ("rule-0003", [("dx", "d1"), ("gate", "g")])]
    finally:
        scrubber.close()


def test_a_fact_that_makes_a_negation_false_is_sent_and_the_rule_does_not_fire(monkeypatch):
    scrubber = Scrubber(SESSIONS)
    try:
        sent = _recording(monkeypatch, scrubber.evaluator)
        claim = _claim(lines=[{"units": 1}, {"units": 1, "charge": "-5.00"}], diagnoses=[{"code": "I10"}])
        assert scrubber.scrub(claim, today=TODAY).findings == []
        assert sent == [("rule-0002", [("claim", "c"), ("line", "l1"), ("gate", "g")])]
    finally:
        scrubber.close()


def test_a_claim_no_rule_can_fire_on_opens_no_session(monkeypatch):
    units = load_texts([("units.yaml", rule_file(generated_rule(0, "{line: {units: {gt: 60}}}")))])
    none = load_texts([("none.yaml", "schema_version: 1\nrules: []\n")])
    scrubber, empty = Scrubber(units), Scrubber(none)
    try:
        sent = _recording(monkeypatch, scrubber.evaluator)
        claim = _claim(lines=[{"units": 1}, {"units": 60}])
        assert scrubber.scrub(claim, today=TODAY).findings == []
        assert empty.scrub(claim, today=TODAY).findings == []
        assert sent == []
        assert [f.rule_id for f in scrubber.scrub(_claim(lines=[{"units": 61}]), today=TODAY).findings] == ["rule-0000"]
        assert sent == [("rule-0000", [("line", "l0"), ("gate", "g")])]
    finally:
        scrubber.close()
        empty.close()
