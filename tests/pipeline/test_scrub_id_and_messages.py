"""Scrub ids are ULIDs in Crockford base 32 (scrubber.pipeline.scrubber.new_scrub_id), and a rule's
message shows each {name} it names wherever it names it (scrubber.pipeline.findings plans)."""
import datetime as dt

import scrubber.pipeline.scrubber as pipeline
from scrubber.contract.claim import Claim
from scrubber.pipeline.findings import plan
from scrubber.pipeline.scrubber import Scrubber, new_scrub_id
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.loader import load_texts


def test_a_scrub_id_is_the_ulid_of_its_millisecond_and_random_bits(monkeypatch):
    monkeypatch.setattr(pipeline, "_last_id", [0])
    monkeypatch.setattr(pipeline.time, "time", lambda: 1469922850.259)  # the ULID specification's example
    monkeypatch.setattr(pipeline.secrets, "token_bytes", lambda n: b"\xff" * n)
    assert new_scrub_id() == "01ARZ3NDEK" + "Z" * 16
    # within the same millisecond the next id is the previous one plus 1: 80 one-bits carry into the time
    assert new_scrub_id() == "01ARZ3NDEM" + "0" * 16
    monkeypatch.setattr(pipeline, "_last_id", [0])
    monkeypatch.setattr(pipeline.secrets, "token_bytes", lambda n: bytes(range(1, n + 1)))
    # 0x0102030405060708090a in 5-bit groups: 00000 00100 00001 00000 00110 00001 00000 00101 00000 11000
    # 00011 10000 10000 00010 01000 01010
    assert new_scrub_id() == "01ARZ3NDEK" + "041061050R3GG28A"


RULE = """schema_version: 1
rules:
  - id: units-twice
    title: units shown twice
    category: format
    severity: error
    when: {line: {units: {gt: 1}}}
    message: "Line {line_number}: {units} units; {units} is more than 1 ({procedure_code})"
    field: "lines[{line_number}].units"
    suggestion: fix it
    examples: [{name: any, claim: {}, expect: []}]
"""


def test_a_message_plan_lists_each_name_once_in_order():
    (rule,) = load_texts([("r.yaml", RULE)]).program.rules
    assert [(placeholder, alias) for placeholder, alias, _ in plan(rule.rule.message, rule)] == [
        ("{line_number}", rule.primary), ("{units}", rule.primary), ("{procedure_code}", rule.primary)]


def test_a_name_written_twice_is_shown_twice_and_the_field_is_filled_in():
    scrubber = Scrubber(load_texts([("r.yaml", RULE)]))
    try:
        claim = Claim.model_validate(complete_claim({"lines": [{"units": 1}, {"units": 3, "procedure_code": "99214"}]}))
        (finding,) = scrubber.scrub(claim, today=dt.date(2026, 1, 15)).findings
        assert finding.message == "Line 2: 3 units; 3 is more than 1 (99214)"
        assert finding.field == "lines[2].units" and finding.lines == [2]
    finally:
        scrubber.close()
