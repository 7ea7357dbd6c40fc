"""Bounded cost of one claim (issue 9, item 4): a 999-line claim (the contract's maximum) scrubs in
bounded time and gives a bounded result on every path.

- `duplicate-line` gives one finding per group of identical lines (same date of service, procedure
  code, modifiers in any order and units), not one per pair: 999 identical lines gave 498,501
  findings and 209 MB before.
- A claim reports at most limits.MAX_FINDINGS_PER_CLAIM findings: past it, the most severe 499 in
  the usual order and one `findings-truncated` finding that says how many more there were; the
  stored scrub holds the same list.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scrubber import limits
from scrubber.service.app import create_app
from scrubber.contract.claim import Claim, ScrubResult
from scrubber.cli import main
from scrubber.pipeline.enrich.facts import FactBuilder
from scrubber.ruleset.examples import complete_claim
from scrubber.pipeline.normalise import normalise
from scrubber.ruleset.payers import load_deployment_texts
from scrubber.pipeline.scrubber import Scrubber, standard_enrichers
from scrubber.ruleset.loader import SHIPPED_RULES, RuleSetError, load_ruleset, load_texts
from tests.intake.test_x12 import interchange, transaction, write
from tests.pipeline.test_enrich import ANY_PAIR_RULE

TODAY = dt.date(2026, 1, 15)
MAX_LINES = 999  # Claim.lines max_length: the contract's maximum
TRUNCATED = "findings-truncated"
SMALL_RESPONSE = 64 * 1024  # bytes: one finding naming 999 lines is about 5 KB
FAST = 10.0  # seconds for one 999-line claim on a loaded 2-core machine (about 0.2 s alone; 102 s before)
DUPLICATE_SUGGESTION_START = "Merge them into one line"


def group_message(first: int, repeats: str, code: str = "99213", units: str = "1", day: str = "2026-01-05") -> str:
    return f"Line(s) {repeats} repeat line {first}: {code} with the same modifiers and {units} unit(s) on {day}"


def identical_lines(n: int = MAX_LINES, **line: Any) -> list[dict[str, Any]]:
    return [{"procedure_code": "99213", **line} for _ in range(n)]


# A professional claim whose lines bill 99213 with more than one unit gets one info finding
# `mue-table-excerpt` (99213 is not in the shipped practitioner MUE excerpt): the claims of
# invalid_modifier_lines and repeated_pointer_lines below count it among their findings.
MUE_EXCERPT = "mue-table-excerpt"
# A professional claim with two or more distinct codes on one date gets one info finding
# `ncci-ptp-table-excerpt` (the practitioner NCCI PTP table ships as an excerpt).
PTP_EXCERPT = "ncci-ptp-table-excerpt"
PTP_EXCERPT_MESSAGE = (
    "The claim has two or more procedure codes on one date of service, and they were checked against the NCCI "
    "practitioner table, release 2026Q3, a shipped excerpt of 154 rows, not the whole CMS table: a pair outside the "
    "excerpt was not checked, so no NCCI PTP finding does not mean the pairs are allowed")


def invalid_modifier_lines(n: int, first_units: int = 1) -> list[dict[str, Any]]:
    """n lines, each with the unknown modifier ZZ (one `modifier-invalid` error each), and each a
    different number of units so that none repeats another (with n > 1 the claim also gets one
    `mue-table-excerpt` info finding)."""
    return [{"procedure_code": "99213", "modifiers": ["ZZ"], "units": first_units + i,
             "charge": f"{first_units + i}.00"} for i in range(n)]


def repeated_pointer_lines(n: int, first_units: int) -> list[dict[str, Any]]:
    """n lines pointing twice at diagnosis 1 (one `pointer-repeated` warning each)."""
    return [{"procedure_code": "99213", "diagnosis_pointers": [1, 1], "units": first_units + i,
             "charge": f"{first_units + i}.00"} for i in range(n)]


@pytest.fixture(scope="module")
def ruleset():
    return load_ruleset()


@pytest.fixture(scope="module")
def scrubber(ruleset, reference):
    s = Scrubber(ruleset, enrichers=standard_enrichers(reference))
    yield s
    s.close()


@pytest.fixture()
def client(store):
    """The service on the test database, shipped rules and payers, no API key (loopback = admin)."""
    with TestClient(create_app(store=store)) as c:
        yield c


def scrub(scrubber: Scrubber, partial: dict[str, Any]) -> tuple[ScrubResult, float]:
    claim = Claim.model_validate(complete_claim(partial))
    start = time.perf_counter()
    result = scrubber.scrub(claim, today=TODAY)
    return result, time.perf_counter() - start


def of_rule(findings: list, rule_id: str) -> list:
    return [f for f in findings if (f["rule_id"] if isinstance(f, dict) else f.rule_id) == rule_id]


def ndjson(response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


# ----------------------------------------------------------------------------- duplicate lines: one per group


def test_999_identical_lines_give_one_duplicate_finding_naming_every_line_quickly(scrubber):
    result, seconds = scrub(scrubber, {"lines": identical_lines()})

    assert [f.rule_id for f in result.findings] == ["duplicate-line"]
    (finding,) = result.findings
    assert finding.lines == list(range(1, MAX_LINES + 1))
    assert finding.message == group_message(1, "2-999")
    assert finding.field == "lines[1]"
    assert (finding.category, finding.severity, finding.carc) == ("duplicate", "error", "OA-18")
    assert finding.suggestion.startswith(DUPLICATE_SUGGESTION_START)
    assert result.status == "fail"
    assert len(result.model_dump_json()) < SMALL_RESPONSE
    assert seconds < FAST


def test_999_distinct_lines_give_no_duplicate_finding_quickly(scrubber):
    lines = [{"procedure_code": "99213", "units": i + 1, "charge": f"{i + 1}.00"} for i in range(MAX_LINES)]

    result, seconds = scrub(scrubber, {"lines": lines})

    assert [f.rule_id for f in result.findings] == [MUE_EXCERPT]
    assert result.status == "pass"
    assert seconds < FAST


def test_two_groups_of_identical_lines_give_one_finding_each(scrubber):
    lines = [{"procedure_code": "71046"}, {"procedure_code": "99213"}, {"procedure_code": "71046"},
             {"procedure_code": "36415"}, {"procedure_code": "99213"}, {"procedure_code": "71046"},
             {"procedure_code": "71046"}]

    result, _ = scrub(scrubber, {"lines": lines})

    assert [(f.rule_id, f.lines, f.field, f.message) for f in result.findings] == [
        ("duplicate-line", [1, 3, 6, 7], "lines[1]", group_message(1, "3, 6, 7", code="71046")),
        ("duplicate-line", [2, 5], "lines[2]", group_message(2, "5")),
        (PTP_EXCERPT, [], None, PTP_EXCERPT_MESSAGE),
    ]


def test_a_run_of_three_or_more_repeats_is_written_as_a_range(scrubber):
    lines = identical_lines(7)
    lines[1] = {"procedure_code": "36415"}  # line 2 differs: the repeats are 3, 4, 5, 6, 7

    result, _ = scrub(scrubber, {"lines": lines})

    assert [(f.lines, f.message) for f in of_rule(result.findings, "duplicate-line")] == [
        ([1, 3, 4, 5, 6, 7], group_message(1, "3-7"))]


def test_the_group_is_led_by_the_lowest_line_number_whatever_the_order_sent(scrubber):
    lines = [{"line_number": 9, "procedure_code": "71046"}, {"line_number": 4, "procedure_code": "71046"},
             {"line_number": 6, "procedure_code": "71046"}]

    result, _ = scrub(scrubber, {"lines": lines})

    assert [(f.rule_id, f.lines, f.field, f.message) for f in result.findings] == [
        ("duplicate-line", [4, 6, 9], "lines[4]", group_message(4, "6, 9", code="71046"))]


def test_duplicate_fields_are_computed_by_enrichment_on_the_lines(ruleset):
    claim = normalise(Claim.model_validate(complete_claim({"lines": [
        {"procedure_code": "71046", "modifiers": ["LT", "59"]}, {"procedure_code": "71046", "modifiers": ["59", "LT"]},
        {"procedure_code": "71046", "modifiers": ["59", "LT"], "units": 2, "charge": "200.00"},
        {"procedure_code": "71046", "modifiers": ["LT", "59"]}]})), today=TODAY)

    facts = FactBuilder(ruleset.program).build(claim)

    assert [(f.get("duplicate_of"), f.get("duplicate_lines")) for f in facts.lines] == [
        (None, "2, 4"), (1, None), (None, None), (1, None)]
    assert facts.pairs == []  # no shipped rule joins pairs of lines any more


def test_no_shipped_rule_is_a_pair_rule(ruleset):
    """Pair rules cost O(lines^2) facts in the engine; the shipped rules use derived line fields."""
    assert [r.rule.id for r in ruleset.program.rules if r.scope == "pair"] == []


def test_999_identical_lines_through_the_api_give_one_small_result_and_store_it(client, store):
    start = time.perf_counter()
    response = client.post("/v1/claims/scrub", json=complete_claim({"lines": identical_lines()}))
    seconds = time.perf_counter() - start

    assert response.status_code == 200, response.text[:500]
    assert len(response.content) < SMALL_RESPONSE
    body = response.json()
    assert [(f["rule_id"], f["lines"], f["message"]) for f in body["findings"]] == [
        ("duplicate-line", list(range(1, MAX_LINES + 1)), group_message(1, "2-999"))]
    assert seconds < FAST
    stored = store.get(body["scrub_id"])
    assert stored["finding_count"] == 1
    assert stored["result"] == body


def test_999_identical_lines_in_a_batch_give_one_small_record(client):
    claims = [complete_claim({"claim_id": "BIG", "lines": identical_lines()}), complete_claim({"claim_id": "SMALL", "patient": {"member_id": "1EG4TE5MK74"}})]  # another patient's MBI
    body = "\n".join(json.dumps(c) for c in claims) + "\n"

    response = client.post("/v1/claims/scrub/batch", content=body, headers={"content-type": "application/x-ndjson"})

    assert response.status_code == 200
    assert len(response.content) < SMALL_RESPONSE
    records = ndjson(response)
    assert [r["claim_id"] for r in records] == ["BIG", "SMALL"]
    assert [(f["rule_id"], len(f["lines"])) for f in records[0]["findings"]] == [("duplicate-line", MAX_LINES)]
    assert records[1]["findings"] == []


def test_999_different_codes_on_one_day_cost_one_ptp_look_up_per_line_not_per_pair(reference, monkeypatch):
    """NCCI PTP edits pair every two lines of a day: each line now asks once which column-one codes
    have an edit with its code (997,002 look-ups of code pairs and 25 s before)."""
    pair_look_ups = []
    original = reference.ptp
    monkeypatch.setattr(reference, "ptp", lambda *args: pair_look_ups.append(args) or original(*args))
    codes = [f"{c:05d}" for c in range(10000, 99999, 89)][:MAX_LINES]
    lines = [{"procedure_code": code} for code in codes]
    s = Scrubber(load_ruleset(), enrichers=standard_enrichers(reference))
    try:
        result, seconds = scrub(s, {"lines": lines})
    finally:
        s.close()

    assert len(set(codes)) == MAX_LINES
    # no PTP edit among these codes; five are add-on codes billed without a primary (the complete
    # add-on table), and the practitioner PTP table is an excerpt (the NCCI findings, whatever else
    # the other rule families say about these made-up lines)
    assert [(f.rule_id, f.lines) for f in result.findings if f.category in ("ncci_ptp", "mue", "add_on")] == [
        ("add-on-without-primary", [244]), ("add-on-without-primary", [597]), ("add-on-without-primary", [618]),
        ("add-on-without-primary", [940]), ("add-on-without-primary", [966]), (PTP_EXCERPT, [])]
    assert len(pair_look_ups) < MAX_LINES
    assert seconds < FAST




@pytest.fixture(scope="module")
def pair_scrubber():
    """A rule set with a pair rule that compares no field: every two lines of a day are a pair."""
    s = Scrubber(load_texts([("rules/pair.yaml", ANY_PAIR_RULE)]))
    yield s
    s.close()


def distinct_lines(n: int) -> list[dict[str, Any]]:
    return [{"procedure_code": "99213", "units": i + 1, "charge": f"{i + 1}.00"} for i in range(n)]


def test_a_pair_rule_is_not_run_on_more_than_the_pair_limit_and_a_warning_says_so(pair_scrubber):
    result, seconds = scrub(pair_scrubber, {"lines": distinct_lines(MAX_LINES)})  # 997,002 ordered pairs

    assert [f.model_dump() for f in result.findings] == [{
        "rule_id": "pair-rules-skipped", "category": "format", "severity": "warning",
        "message": "The rules on pairs of lines (any-pair) were not run: this claim's lines make more than "
                   "10,000 pairs on the same date of service",
        "lines": [], "field": "lines", "carc": None, "rarc": None,
        "suggestion": "Split the claim into smaller claims, or merge repeated lines", "source": "scrubber"}]
    assert result.status == "warn"
    assert seconds < FAST


def test_a_pair_rule_runs_up_to_the_pair_limit(pair_scrubber):
    assert 100 * 99 <= limits.MAX_LINE_PAIRS < 101 * 100

    at_limit, _ = scrub(pair_scrubber, {"lines": distinct_lines(100)})
    past_limit, _ = scrub(pair_scrubber, {"lines": distinct_lines(101)})

    assert [f.rule_id for f in at_limit.findings] == ["any-pair"] * 499 + [TRUNCATED]  # 4,950 pairs
    assert at_limit.findings[-1].message.startswith("4451 more findings")
    assert [f.rule_id for f in past_limit.findings] == ["pair-rules-skipped"]


def test_only_lines_that_agree_on_the_joined_fields_count_towards_the_pair_limit(pair_scrubber):
    """The shipped duplicate rule used to be a pair rule joined on procedure code and units."""
    rule = ANY_PAIR_RULE.replace("pair: {a.line_number: {lt: {field: b.line_number}}}",
                                  "pair: {all: [{a.line_number: {lt: {field: b.line_number}}}, "
                                  "{a.procedure_code: {eq: {field: b.procedure_code}}}]}")
    s = Scrubber(load_texts([("rules/pair.yaml", rule)]))
    try:
        # 200 codes, 5 lines each (4 for one): 3,980 ordered pairs, where 999 lines on one day make 997,002
        lines = [{"procedure_code": f"{10000 + i % 200}"} for i in range(MAX_LINES)]
        result, seconds = scrub(s, {"lines": lines})
    finally:
        s.close()

    assert sum(1 for f in result.findings if f.rule_id == "any-pair") == 499
    assert result.findings[-1].rule_id == TRUNCATED
    assert seconds < FAST


# ----------------------------------------------------------------------------- the findings cap


def test_findings_are_capped_with_a_truncation_finding_last(scrubber):
    # 999 errors and the info finding mue-table-excerpt: 1,000 findings
    result, seconds = scrub(scrubber, {"lines": invalid_modifier_lines(MAX_LINES)})

    assert len(result.findings) == limits.MAX_FINDINGS_PER_CLAIM == 500
    assert [f.rule_id for f in result.findings[:-1]] == ["modifier-invalid"] * 499
    assert [f.lines for f in result.findings[:-1]] == [[n] for n in range(1, 500)]  # the usual order
    last = result.findings[-1]
    assert last.model_dump() == {
        "rule_id": TRUNCATED, "category": "format", "severity": "error",
        "message": "501 more findings were not reported: fix the ones above and scrub again",
        "lines": [], "field": None, "carc": None, "rarc": None,
        "suggestion": "Fix the findings listed, then scrub the claim again to see the rest", "source": "scrubber"}
    assert result.status == "fail"
    assert seconds < FAST


def test_exactly_the_cap_is_not_truncated(scrubber):
    result, _ = scrub(scrubber, {"lines": invalid_modifier_lines(499)})  # 499 errors and 1 info finding

    assert [f.rule_id for f in result.findings] == ["modifier-invalid"] * 499 + [MUE_EXCERPT]


def test_one_past_the_cap_drops_two_findings(scrubber):
    result, _ = scrub(scrubber, {"lines": invalid_modifier_lines(500)})  # 500 errors and 1 info finding

    assert len(result.findings) == 500
    assert (result.findings[-1].rule_id, result.findings[-1].message) == (
        TRUNCATED, "2 more findings were not reported: fix the ones above and scrub again")


def test_errors_are_kept_before_warnings_and_only_warnings_dropped_make_a_warning(scrubber):
    # 100 errors, 600 warnings and the info finding mue-table-excerpt (dropped first: the least severe)
    lines = invalid_modifier_lines(100) + repeated_pointer_lines(600, first_units=101)

    result, _ = scrub(scrubber, {"lines": lines})

    assert len(result.findings) == 500
    assert [f.rule_id for f in result.findings[:100]] == ["modifier-invalid"] * 100
    assert [f.rule_id for f in result.findings[100:499]] == ["pointer-repeated"] * 399
    assert [f.lines[0] for f in result.findings[100:499]] == list(range(101, 500))
    last = result.findings[-1]
    assert (last.rule_id, last.severity, last.message) == (
        TRUNCATED, "warning", "202 more findings were not reported: fix the ones above and scrub again")
    assert result.status == "fail"


def test_errors_after_the_warnings_in_line_order_are_still_kept(scrubber):
    # 600 warnings, 10 errors and the info finding mue-table-excerpt
    lines = repeated_pointer_lines(600, first_units=1) + invalid_modifier_lines(10, first_units=601)

    result, _ = scrub(scrubber, {"lines": lines})

    assert [f.rule_id for f in result.findings[:10]] == ["modifier-invalid"] * 10
    assert [f.lines for f in result.findings[:10]] == [[n] for n in range(601, 611)]
    assert result.findings[-1].severity == "warning"
    assert result.findings[-1].message.startswith("112 more findings")


def test_capped_findings_through_the_api_are_stored_as_returned(client, store):
    response = client.post("/v1/claims/scrub", json=complete_claim({"lines": invalid_modifier_lines(MAX_LINES)}))

    assert response.status_code == 200
    body = response.json()
    assert len(body["findings"]) == 500
    assert body["findings"][-1]["rule_id"] == TRUNCATED
    stored = store.get(body["scrub_id"])
    assert stored["finding_count"] == 500
    assert stored["result"]["findings"] == body["findings"]


def test_capped_findings_in_a_json_array_batch(client):
    response = client.post("/v1/claims/scrub/batch",
                           json=[complete_claim({"claim_id": "MANY", "lines": invalid_modifier_lines(MAX_LINES)})])

    assert response.status_code == 200
    (record,) = ndjson(response)
    assert len(record["findings"]) == 500
    assert record["findings"][-1]["rule_id"] == TRUNCATED


def _x12_claim(n_lines: int, modifier: str | None) -> list[str]:
    sv1 = "SV1*HC:99213" + (f":{modifier}" if modifier else "") + "*{charge}*UN*{units}***1"
    segments = [f"CLM*X12BIG*{n_lines * 10}.00***11:B:1*Y*A*Y*Y", "HI*ABK:I10",
                "NM1*82*1*KILDARE*BEN****XX*1234567893"]
    for n in range(1, n_lines + 1):
        units = n if modifier else 1  # distinct units: no duplicates, so each line gives one finding
        segments += [f"LX*{n}", sv1.format(charge="10.00", units=units), "DTP*472*D8*20261101"]
    return segments


@pytest.mark.parametrize("modifier, expected", [
    pytest.param(None, "duplicate", id="identical-lines"),
    pytest.param("ZZ", "capped", id="invalid-modifiers"),
])
def test_999_line_x12_claim_is_bounded(client, modifier, expected):
    text = write(interchange(transaction([_x12_claim(MAX_LINES, modifier)])))

    response = client.post("/v1/claims/scrub/x12", content=text, headers={"content-type": "text/plain"})

    assert response.status_code == 200
    assert len(response.content) < 512 * 1024
    (record,) = ndjson(response)
    assert len(record["findings"]) <= 500
    if expected == "duplicate":
        assert [len(f["lines"]) for f in of_rule(record["findings"], "duplicate-line")] == [MAX_LINES]
    else:
        assert len(record["findings"]) == 500
        assert record["findings"][-1]["rule_id"] == TRUNCATED


def _fhir_claim(n_items: int) -> dict[str, Any]:
    resource = json.loads((Path(__file__).parents[1] / "fixtures" / "fhir" / "claim-professional.json").read_text())
    item = resource["item"][0]
    resource["item"] = []
    for n in range(1, n_items + 1):
        copy_ = copy.deepcopy(item)
        copy_["sequence"] = n
        copy_["modifier"] = [{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "ZZ"}]}]
        copy_["quantity"] = {"value": n}
        resource["item"].append(copy_)
    resource.pop("total", None)
    return resource


def test_999_item_fhir_claim_is_capped(client):
    response = client.post("/v1/claims/scrub/fhir", json=_fhir_claim(MAX_LINES),
                           headers={"content-type": "application/fhir+json"})

    assert response.status_code == 200, response.text[:500]
    (record,) = ndjson(response)
    assert len(record["findings"]) == 500
    assert of_rule(record["findings"], "modifier-invalid")
    assert record["findings"][-1]["rule_id"] == TRUNCATED


def test_cli_check_caps_findings(tmp_path, capsys):
    path = tmp_path / "many.json"
    path.write_text(json.dumps(complete_claim({"lines": invalid_modifier_lines(MAX_LINES)})), encoding="utf-8")

    code = main(["check", "--rules", str(SHIPPED_RULES), "--json", str(path)])

    (result,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert len(result["findings"]) == 500
    assert result["findings"][-1]["rule_id"] == TRUNCATED


# ----------------------------------------------------------------------------- the truncation id is the scrubber's


_RULE_NAMED_TRUNCATED = """
schema_version: 1
rules:
  - id: findings-truncated
    title: A rule that takes the scrubber's own id
    category: format
    severity: info
    when:
      line: {units: {gt: 10}}
    message: "Line {line_number}"
    suggestion: nothing
    examples:
      - name: eleven
        claim: {lines: [{units: 11, charge: "11.00"}]}
        expect: [findings-truncated]
"""


def test_a_rule_may_not_take_the_truncation_id():
    with pytest.raises(RuleSetError) as caught:
        load_texts([("rules/mine.yaml", _RULE_NAMED_TRUNCATED)])

    assert any("findings-truncated" in p.message and "reserved" in p.message for p in caught.value.problems)


def test_a_rule_may_not_take_the_pair_skipped_id():
    with pytest.raises(RuleSetError) as caught:
        load_texts([("rules/mine.yaml", _RULE_NAMED_TRUNCATED.replace("findings-truncated", "pair-rules-skipped"))])

    assert [p.message for p in caught.value.problems] == [
        "rule id 'pair-rules-skipped' is reserved for a finding the scrubber makes itself; choose another id"]


def test_a_payer_rule_may_not_take_the_truncation_id():
    rules = _RULE_NAMED_TRUNCATED.replace("findings-truncated", "units-over-ten")
    payer = ("""
schema_version: 1
payer: {id: mine, name: Mine}
rules:
""" + _RULE_NAMED_TRUNCATED.split("rules:\n", 1)[1])

    with pytest.raises(RuleSetError) as caught:
        load_deployment_texts([("rules/base.yaml", rules)], [("payers/mine.yaml", payer)])

    assert [(p.file, p.message) for p in caught.value.problems] == [
        ("payers/mine.yaml",
         "rule id 'findings-truncated' is reserved for a finding the scrubber makes itself; choose another id")]


def test_no_shipped_rule_uses_the_scrubbers_own_ids(ruleset):
    assert {TRUNCATED, "pair-rules-skipped"}.isdisjoint({r.rule.id for r in ruleset.program.rules})


def test_the_truncation_finding_is_documented():
    readme = (Path(__file__).resolve().parents[2] / "rules" / "README.md").read_text(encoding="utf-8")

    assert f"`{TRUNCATED}`" in readme
    assert str(limits.MAX_FINDINGS_PER_CLAIM) in readme
