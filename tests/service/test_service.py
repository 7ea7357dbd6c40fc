"""The service around the pipeline (scrubber/service/app.py, scrubber/audit/store.py, scrubber/service/observability.py):
the audit trail, statistics, the claim-line history, batches, the rules endpoints, operations,
request ids, logs without PHI, API keys, and the schema that the migrations build.

Every test runs on the test database of tests/conftest.py (SQLite, or PostgreSQL when
SCRUBBER_TEST_DATABASE_URL is set), emptied by the `store` fixture.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel, select

from scrubber.settings import settings
from scrubber.pipeline.routing import UNKNOWN_PAYER_RULE
from scrubber.service.app import create_app
from scrubber.audit.store import AuditStore
from scrubber.audit.tables import ApiKey
from scrubber.ruleset.examples import complete_claim
from scrubber.service.observability import JsonFormatter
from tests.contract_example import CONTRACT_CLAIM, assert_problem

SCRUB = "/v1/claims/scrub"
BATCH = "/v1/claims/scrub/batch"
PROBLEM = "application/problem+json"
NDJSON = {"content-type": "application/x-ndjson"}
YAML = {"content-type": "application/yaml"}

BAD_NPI = "1234567890"  # fails the Luhn check digit (1234567893 is valid)


# ----------------------------------------------------------------------------- helpers


def mbi(n: int) -> str:
    """A distinct Medicare Beneficiary Identifier for member n (0-99): the CMS example 1EG4TE5MK73 with
    its last two digits n. The default payer is Medicare, which requires an MBI (`member-id-not-mbi`)."""
    return f"1EG4TE5MK{n:02d}"


def make_claim(claim_id: str, member: str, **parts: Any) -> dict[str, Any]:
    """A clean claim (scrubs `pass`) for `member` (an MBI, see `mbi`), with `parts` merged over it."""
    patient = {"member_id": member, **parts.pop("patient", {})}
    return complete_claim({"claim_id": claim_id, "patient": patient, **parts})


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()  # scrubs are stamped in UTC




def scrub(client: TestClient, claim: dict, headers: dict | None = None) -> dict:
    response = client.post(SCRUB, json=claim, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict) -> list[str]:
    return [item["scrub_id"] for item in page["items"]]


def rule_ids(result: dict) -> list[str]:
    return sorted(f["rule_id"] for f in result["findings"])


def listed(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/v1/scrubs", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    return ids(body)


@pytest.fixture()
def client(store):
    """The service on the test database, shipped rules, no API key (loopback = admin)."""
    with TestClient(create_app(store=store)) as c:
        yield c


# ----------------------------------------------------------------------------- 1. the audit trail


def test_scrub_is_stored_and_get_by_id_returns_normalised_claim_result_revision_and_time(client, store):
    sent = make_claim("AUD-1", mbi(1), diagnoses=[{"code": "E119"}, {"code": "i10"}],
                      lines=[{"procedure_code": "99213", "modifiers": ["lt"], "diagnosis_pointers": ["A", "b"]}])
    before = dt.datetime.now(dt.timezone.utc)
    posted = scrub(client, sent)
    after = dt.datetime.now(dt.timezone.utc)
    assert posted["status"] == "pass" and posted["findings"] == []

    response = client.get(f"/v1/scrubs/{posted['scrub_id']}")
    assert response.status_code == 200
    stored = response.json()
    assert set(stored) == {"scrub_id", "created_at", "claim_id", "payer_id", "status", "finding_count",
                           "revision", "api_key_id", "claim", "result"}
    assert stored["scrub_id"] == posted["scrub_id"]
    assert stored["result"] == posted
    assert stored["claim_id"] == "AUD-1"
    assert stored["payer_id"] == "medicare"
    assert stored["status"] == "pass"
    assert stored["finding_count"] == 0
    assert stored["revision"] == posted["ruleset"]["revision"] == client.get("/readyz").json()["revision"]
    assert stored["api_key_id"] is None  # no key exists: a loopback caller
    created = dt.datetime.fromisoformat(stored["created_at"])
    assert created.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=1) <= created <= after + dt.timedelta(seconds=1)

    claim = stored["claim"]  # the claim as checked: normalised
    assert claim["diagnoses"] == [{"code": "E11.9", "code_system": None}, {"code": "I10", "code_system": None}]
    assert claim["lines"][0]["line_number"] == 1
    assert claim["lines"][0]["modifiers"] == ["LT"]
    assert claim["lines"][0]["diagnosis_pointers"] == [1, 2]
    assert claim["submission_date"] == "2026-01-15"
    assert claim["patient"] == {"member_id": mbi(1), "first_name": "Pat", "last_name": "Example",
                                "birth_date": "1970-01-01", "death_date": None, "sex": "F"}
    assert claim["total_charge"] == "100.00"


def test_stored_scrub_names_the_api_key_that_asked_for_it(store):
    key_id, secret = store.create_key("coder")
    with TestClient(create_app(store=store)) as client:
        headers = {"X-API-Key": secret}
        posted = scrub(client, CONTRACT_CLAIM, headers)
        stored = client.get(f"/v1/scrubs/{posted['scrub_id']}", headers=headers).json()
    assert stored["api_key_id"] == key_id
    assert stored["result"] == posted
    assert stored["claim_id"] == "PCN-000123"
    assert stored["payer_id"] == "medicare"


def test_unknown_scrub_id_is_404_problem(client):
    body = assert_problem(client.get("/v1/scrubs/01ZZZZZZZZZZZZZZZZZZZZZZZZ"), 404, "not-found")
    assert body["instance"] == "/v1/scrubs/01ZZZZZZZZZZZZZZZZZZZZZZZZ"


def _five_scrubs(client: TestClient) -> dict[str, dict]:
    """L1 pass/example, L2 fail(npi)/medicare, L3 warn/example, L4 pass/medicare, L5 fail(pointer)/example,
    in this order (each a different member: no cross-claim duplicates)."""
    claims = {
        "L1": make_claim("L1", mbi(11)),
        "L2": make_claim("L2", mbi(12), payer={"id": "state-medicaid"}, billing_provider={"npi": BAD_NPI}),
        "L3": make_claim("L3", mbi(13), lines=[{"diagnosis_pointers": [1, 1]}]),
        "L4": make_claim("L4", mbi(14), payer={"id": "state-medicaid"}),
        "L5": make_claim("L5", mbi(15), lines=[{"diagnosis_pointers": [1, 3]}]),
    }
    return {name: scrub(client, claim) for name, claim in claims.items()}


def test_scrub_list_is_newest_first_and_filters_by_claim_status_payer_rule_and_dates(client):
    r = _five_scrubs(client)
    assert [r[n]["status"] for n in ("L1", "L2", "L3", "L4", "L5")] == ["pass", "fail", "warn", "pass", "fail"]
    sid = {name: result["scrub_id"] for name, result in r.items()}
    newest_first = [sid[n] for n in ("L5", "L4", "L3", "L2", "L1")]

    page = client.get("/v1/scrubs").json()
    assert ids(page) == newest_first
    assert page["next_cursor"] is None
    l2 = next(item for item in page["items"] if item["scrub_id"] == sid["L2"])
    assert l2 == {"scrub_id": sid["L2"], "created_at": l2["created_at"], "claim_id": "L2", "payer_id": "state-medicaid",
                  "status": "fail", "finding_count": 1, "revision": r["L2"]["ruleset"]["revision"]}

    assert listed(client, claim_id="L3") == [sid["L3"]]
    assert listed(client, claim_id="nope") == []
    assert listed(client, status="fail") == [sid["L5"], sid["L2"]]
    assert listed(client, status="warn") == [sid["L3"]]
    assert listed(client, status="pass") == [sid["L4"], sid["L1"]]
    assert listed(client, payer="state-medicaid") == [sid["L4"], sid["L2"]]
    assert listed(client, rule_id="npi-check-digit") == [sid["L2"]]
    assert listed(client, rule_id="pointer-repeated") == [sid["L3"]]
    assert listed(client, rule_id="pointer-invalid") == [sid["L5"]]
    assert listed(client, status="fail", payer="medicare") == [sid["L5"]]

    day = today()
    assert listed(client, **{"from": day.isoformat()}) == newest_first
    assert listed(client, to=day.isoformat()) == newest_first
    assert listed(client, **{"from": day.isoformat(), "to": day.isoformat()}) == newest_first
    assert listed(client, to=(day - dt.timedelta(days=1)).isoformat()) == []
    assert listed(client, **{"from": (day + dt.timedelta(days=1)).isoformat()}) == []


def test_scrub_list_pages_with_next_cursor_without_duplicates(client):
    made = [scrub(client, make_claim(f"PG-{i}", mbi(20 + i)))["scrub_id"] for i in range(5)]

    pages, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/scrubs", params=params)
        assert response.status_code == 200
        page = response.json()
        pages.append(ids(page))
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == page["items"][-1]["scrub_id"]
        assert len(pages) < 10

    assert [len(p) for p in pages] == [2, 2, 1]
    everything = [i for p in pages for i in p]
    assert everything == list(reversed(made))
    assert len(set(everything)) == 5


@pytest.mark.parametrize("limit", [0, 501])
def test_scrub_list_limit_out_of_range_is_422_problem_naming_limit(client, limit):
    body = assert_problem(client.get("/v1/scrubs", params={"limit": limit}), 422, "invalid-request")
    assert [e["field"] for e in body["errors"]] == ["limit"]


# ----------------------------------------------------------------------------- 2. statistics


def _stats_mix(client: TestClient) -> None:
    """2 pass, 1 warn, 2 fail; payer medicare on one pass, the warn and one fail."""
    results = [
        scrub(client, make_claim("S-PASS-1", mbi(31))),
        scrub(client, make_claim("S-PASS-2", mbi(32), payer={"id": "state-medicaid"})),
        scrub(client, make_claim("S-WARN", mbi(33), payer={"id": "state-medicaid"}, lines=[{"diagnosis_pointers": [1, 1]}])),
        scrub(client, make_claim("S-FAIL-1", mbi(34), billing_provider={"npi": BAD_NPI})),
        scrub(client, make_claim("S-FAIL-2", mbi(35), payer={"id": "state-medicaid"}, billing_provider={"npi": BAD_NPI},
                                 lines=[{"diagnosis_pointers": [1, 3]}])),
    ]
    assert [(r["status"], rule_ids(r)) for r in results] == [
        ("pass", []), ("pass", []), ("warn", ["pointer-repeated"]), ("fail", ["npi-check-digit"]),
        ("fail", ["npi-check-digit", "pointer-invalid"])]


def test_stats_count_statuses_clean_rate_findings_and_top_failing_rules(client):
    _stats_mix(client)
    response = client.get("/v1/stats")
    assert response.status_code == 200
    assert response.json() == {
        "from": None, "to": None, "payer": None,
        "scrubs": 5, "passed": 2, "warned": 1, "failed": 2,
        "clean_claim_rate": 0.6,
        "findings_by_category": {"dx_pointer": 2, "npi": 2},
        "findings_by_rule": {"npi-check-digit": 2, "pointer-invalid": 1, "pointer-repeated": 1},
        "top_failing_rules": [
            {"rule_id": "npi-check-digit", "failed_scrubs": 2, "share_of_scrubs": 0.4},
            {"rule_id": "pointer-invalid", "failed_scrubs": 1, "share_of_scrubs": 0.2},
        ],
        "by_day": [{"date": today().isoformat(), "scrubs": 5, "passed": 2, "warned": 1, "failed": 2,
                    "clean_claim_rate": 0.6}],
        "by_payer": [  # by payer id; S-FAIL-1 has one finding, S-WARN one and S-FAIL-2 two
            {"payer": "medicare", "scrubs": 2, "passed": 1, "warned": 0, "failed": 1, "clean_claim_rate": 0.5,
             "findings": 1},
            {"payer": "state-medicaid", "scrubs": 3, "passed": 1, "warned": 1, "failed": 1,
             "clean_claim_rate": 0.6667, "findings": 3},
        ],
    }


def test_stats_filter_by_payer_and_dates(client):
    _stats_mix(client)
    assert client.get("/v1/stats", params={"payer": "state-medicaid"}).json() == {
        "from": None, "to": None, "payer": "state-medicaid",
        "scrubs": 3, "passed": 1, "warned": 1, "failed": 1,
        "clean_claim_rate": 0.6667,
        "findings_by_category": {"dx_pointer": 2, "npi": 1},
        "findings_by_rule": {"npi-check-digit": 1, "pointer-invalid": 1, "pointer-repeated": 1},
        "top_failing_rules": [
            {"rule_id": "npi-check-digit", "failed_scrubs": 1, "share_of_scrubs": 0.3333},
            {"rule_id": "pointer-invalid", "failed_scrubs": 1, "share_of_scrubs": 0.3333},
        ],
        "by_day": [{"date": today().isoformat(), "scrubs": 3, "passed": 1, "warned": 1, "failed": 1,
                    "clean_claim_rate": 0.6667}],
        "by_payer": [{"payer": "state-medicaid", "scrubs": 3, "passed": 1, "warned": 1, "failed": 1,
                      "clean_claim_rate": 0.6667, "findings": 3}],
    }
    day = today()
    todays = client.get("/v1/stats", params={"from": day.isoformat(), "to": day.isoformat()}).json()
    assert todays["from"] == todays["to"] == day.isoformat()
    assert (todays["scrubs"], todays["passed"], todays["warned"], todays["failed"]) == (5, 2, 1, 2)
    assert todays["findings_by_rule"] == {"npi-check-digit": 2, "pointer-invalid": 1, "pointer-repeated": 1}

    yesterday = (day - dt.timedelta(days=1)).isoformat()
    assert client.get("/v1/stats", params={"to": yesterday}).json() == {
        "from": None, "to": yesterday, "payer": None, "scrubs": 0, "passed": 0, "warned": 0, "failed": 0,
        "clean_claim_rate": None, "findings_by_category": {}, "findings_by_rule": {}, "top_failing_rules": [],
        "by_day": [], "by_payer": []}
    nobody = client.get("/v1/stats", params={"payer": "no-such-payer"}).json()
    assert (nobody["scrubs"], nobody["clean_claim_rate"], nobody["top_failing_rules"]) == (0, None, [])


def test_stats_to_before_from_is_422_problem(client):
    response = client.get("/v1/stats", params={"from": "2026-02-02", "to": "2026-02-01"})
    body = assert_problem(response, 422, "invalid-request")
    assert body["errors"] == [{"field": "to", "message": "must be on or after `from`"}]


# ----------------------------------------------------------------------------- 3. claim-line history


def test_history_flags_the_same_service_on_another_claim_of_the_same_member(client):
    first = scrub(client, make_claim("HIST-1", mbi(41)))
    assert first["status"] == "pass"
    second = scrub(client, make_claim("HIST-2", mbi(41)))
    assert second["status"] == "fail"
    assert [(f["rule_id"], f["category"], f["lines"], f["carc"], f["message"]) for f in second["findings"]] == [
        ("duplicate-of-earlier-claim", "duplicate", [1], "OA-18",
         "Line 1 bills 99213 on 2026-01-05, already billed for this patient on claim HIST-1")]


def test_history_rescrub_of_the_same_claim_id_is_not_a_duplicate(client):
    assert scrub(client, make_claim("RE-1", mbi(42)))["findings"] == []
    again = scrub(client, make_claim("RE-1", mbi(42)))
    assert (again["status"], again["findings"]) == ("pass", [])


def test_history_replacement_frequency_7_of_the_same_claim_is_not_a_duplicate(client):
    assert scrub(client, make_claim("REPL-1", mbi(43)))["findings"] == []
    replacement = scrub(client, make_claim("REPL-1", mbi(43), frequency_code="7"))
    assert (replacement["status"], replacement["findings"]) == ("pass", [])
    # the replacement is now the claim on file: a new claim repeating it is flagged against it
    later = scrub(client, make_claim("REPL-2", mbi(43)))
    assert [f["message"] for f in later["findings"]] == [
        "Line 1 bills 99213 on 2026-01-05, already billed for this patient on claim REPL-1"]


def test_history_void_frequency_8_takes_the_claim_out_of_the_history(client):
    assert scrub(client, make_claim("VOID-1", mbi(44)))["findings"] == []
    void = scrub(client, make_claim("VOID-1", mbi(44), frequency_code="8"))
    assert rule_ids(void) == []
    new = scrub(client, make_claim("VOID-2", mbi(44)))
    assert (new["status"], new["findings"]) == ("pass", [])


def test_history_another_member_is_not_a_duplicate(client):
    assert scrub(client, make_claim("MEM-1", mbi(45)))["findings"] == []
    other = scrub(client, make_claim("MEM-2", mbi(46)))
    assert (other["status"], other["findings"]) == ("pass", [])


# ----------------------------------------------------------------------------- 4. batches


def test_batch_ndjson_gives_one_line_per_claim_in_order_with_an_error_record_for_the_bad_one(client):
    good1 = make_claim("BATCH-1", mbi(51))
    bad = make_claim("BATCH-2", mbi(52), lines=[{"units": "abc"}])
    good3 = make_claim("BATCH-3", mbi(53), billing_provider={"npi": BAD_NPI})
    body = "\n".join(json.dumps(c) for c in (good1, bad, good3)) + "\n"

    response = client.post(BATCH, content=body, headers=NDJSON)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 3
    first, error, third = lines
    assert (first["claim_id"], first["status"], first["findings"]) == ("BATCH-1", "pass", [])
    assert error == {"index": 2, "error": {
        "type": "/problems/invalid-claim", "title": "The claim is not valid", "status": 422,
        "detail": "1 field of the claim is invalid",
        "errors": [{"field": "lines[0].units", "message": "must be a number of units, such as 1"}]}}
    assert (third["claim_id"], third["status"], rule_ids(third)) == ("BATCH-3", "fail", ["npi-check-digit"])

    for result in (first, third):
        page = client.get("/v1/scrubs", params={"claim_id": result["claim_id"]}).json()
        assert ids(page) == [result["scrub_id"]]
        assert client.get(f"/v1/scrubs/{result['scrub_id']}").json()["result"] == result
    assert listed(client, claim_id="BATCH-2") == []


def test_batch_accepts_a_json_array(client):
    claims = [make_claim("ARR-1", mbi(61)), make_claim("ARR-2", mbi(62), lines=[{"diagnosis_pointers": [1, 1]}])]
    response = client.post(BATCH, json=claims)
    assert response.status_code == 200
    results = [json.loads(line) for line in response.text.splitlines()]
    assert [(r["claim_id"], r["status"]) for r in results] == [("ARR-1", "pass"), ("ARR-2", "warn")]
    assert listed(client, claim_id="ARR-2") == [results[1]["scrub_id"]]


@pytest.mark.parametrize("body", ["", "  \n\n"])
def test_batch_empty_body_is_422_problem(client, body):
    assert_problem(client.post(BATCH, content=body, headers=NDJSON), 422, "invalid-request")


# ----------------------------------------------------------------------------- 5. rules endpoints


def shipped_rule_sources(enabled: bool) -> dict[str, str]:
    """rule id -> `rules/<file>`, read from the shipped YAML files themselves: the rules on for every
    payer (`enabled` True), or those off unless a payer profile switches their family on (`enabled: false`)."""
    out = {}
    for path in sorted(Path(settings().rules_dir).glob("*.yaml")):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8")).get("rules") or []:
            if rule.get("enabled", True) == enabled:
                out[rule["id"]] = f"rules/{path.name}"
    return out


def test_rules_list_every_shipped_rule_with_source_and_the_readyz_revision(client):
    body = client.get("/v1/rules").json()
    revision = client.get("/readyz").json()["revision"]
    assert isinstance(revision, str) and revision
    assert body["revision"] == revision
    base = [r for r in body["rules"] if r["payer"] is None and r["id"] != UNKNOWN_PAYER_RULE]  # payers': test_rules_api
    assert {r["id"]: r["source"] for r in base} == shipped_rule_sources(enabled=True)
    assert len(base) == len(shipped_rule_sources(enabled=True))
    # a rule off by default is listed under each payer that switches it on (payers/*.yaml `requirements:`)
    switched_on = shipped_rule_sources(enabled=False)
    assert {r["id"]: r["source"] for r in body["rules"] if r["id"] in switched_on} == switched_on
    assert all(r["payer"] is not None for r in body["rules"] if r["id"] in switched_on)
    assert {r["revision"] for r in body["rules"]} == {revision}


def test_rule_detail_has_its_definition(client):
    response = client.get("/v1/rules/npi-check-digit")
    assert response.status_code == 200
    rule = response.json()
    assert (rule["id"], rule["category"], rule["severity"], rule["carc"], rule["rarc"], rule["source"]) == (
        "npi-check-digit", "npi", "error", "CO-207", "N290", "rules/npi.yaml")
    assert rule["definition"]["when"] == {"provider": {"npi_check_digit_ok": False}}
    assert rule["definition"]["id"] == "npi-check-digit"


def test_unknown_rule_is_404_problem(client):
    assert_problem(client.get("/v1/rules/no-such-rule"), 404, "not-found")


NEW_RULE_FILE = """\
# yaml-language-server: $schema=../openapi/rule-file.schema.json
schema_version: 1
rules:
  - id: modifier-zz-unknown
    title: Modifier ZZ is not a modifier
    category: modifier
    severity: error
    carc: CO-4
    when:
      line: {modifiers: {contains: "ZZ"}}
    message: "Line {line_number} carries ZZ"
    field: "lines[{line_number}].modifiers"
    suggestion: Remove ZZ
    examples:
      - name: ZZ
        claim: {lines: [{modifiers: ["ZZ"]}]}
        expect: [modifier-zz-unknown]
      - name: no modifier
        claim: {lines: [{modifiers: []}]}
        expect: []
"""


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def test_validate_rule_file_lints_with_the_rules_in_force_and_loads_nothing(client):
    before = client.get("/v1/rules").json()

    valid = client.post("/v1/rules/validate", params={"name": "rules/extra.yaml"}, content=NEW_RULE_FILE,
                        headers=YAML)
    assert valid.status_code == 200
    assert valid.json() == {"valid": True, "rules": 1, "problems": []}

    duplicate = client.post("/v1/rules/validate", params={"name": "rules/extra.yaml"},
                            content=NEW_RULE_FILE.replace("modifier-zz-unknown", "npi-check-digit"), headers=YAML)
    assert duplicate.status_code == 200
    npi_line = _line_of(Path(settings().rules_dir) / "npi.yaml", "- id: npi-check-digit")
    assert duplicate.json() == {"valid": False, "rules": 0, "problems": [{
        "file": "rules/extra.yaml", "line": 4, "column": 5, "rule_id": "npi-check-digit",
        "message": f"rule id 'npi-check-digit' is already used in rules/npi.yaml line {npi_line}; ids must be unique"}]}

    broken = client.post("/v1/rules/validate", params={"name": "rules/extra.yaml"},
                         content="schema_version: 1\nrules:\n  - id: x\n    title: [unclosed\n", headers=YAML)
    assert broken.status_code == 200
    body = broken.json()
    assert (body["valid"], body["rules"]) == (False, 0)
    assert [(p["file"], p["line"], p["column"], p["rule_id"]) for p in body["problems"]] == [
        ("rules/extra.yaml", 5, 1, None)]
    assert body["problems"][0]["message"].startswith("this is not valid YAML: ")

    assert client.get("/v1/rules").json() == before
    assert client.get("/v1/rules/modifier-zz-unknown").status_code == 404


# ----------------------------------------------------------------------------- 6. operations


def test_healthz_and_readyz_answer_without_a_key_even_when_keys_exist(store):
    store.create_key("submitter")
    with TestClient(create_app(store=store)) as client:
        health = client.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert client.get("/readyz").status_code == 200
        assert_problem(client.get("/metrics"), 401, "unauthorized")
        assert_problem(client.get("/v1/rules"), 401, "unauthorized")


def test_readyz_reports_every_check_and_the_rule_set_revision(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"rules_loaded": True, "reference_data_loaded": True, "database_reachable": True},
        "revision": client.get("/v1/rules").json()["revision"],
        "data": client.get("/v1/data").json()}  # the datasets' freshness, as information


UNREACHABLE = "postgresql+psycopg://scrubber:scrubber@127.0.0.1:1/scrubber_test?connect_timeout=2"


@pytest.fixture()
def unreachable_store():
    store = AuditStore(UNREACHABLE, run_migrations=False)
    yield store
    store.close()


def test_readyz_is_503_when_the_database_is_unreachable(unreachable_store):
    with TestClient(create_app(store=unreachable_store)) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"rules_loaded": True, "reference_data_loaded": True, "database_reachable": False}


def test_readyz_503_is_a_problem_as_the_openapi_document_declares(unreachable_store):
    with TestClient(create_app(store=unreachable_store)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 503
    assert body["type"].startswith("/problems/")
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]


def _sample(text: str, name: str, labels: dict[str, str]) -> float:
    """The value of one Prometheus sample (0 when the series does not exist yet)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_metrics_count_scrubs_findings_and_requests_by_route(client):
    fail_labels = {"status": "fail"}
    npi_labels = {"category": "npi", "rule_id": "npi-check-digit"}
    route_labels = {"method": "POST", "route": "/v1/claims/scrub", "status": "200"}
    before = client.get("/metrics").text

    scrub(client, make_claim("MET-1", mbi(71), billing_provider={"npi": BAD_NPI}))
    scrub(client, make_claim("MET-2", mbi(72), rendering_provider={"npi": BAD_NPI}))
    scrub(client, make_claim("MET-3", mbi(73)))

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    assert re.search(r'^scrubber_scrubs_total\{status="fail"\} \d', after, re.M)
    assert re.search(r'^scrubber_findings_total\{category="npi",rule_id="npi-check-digit"\} \d', after, re.M)
    assert re.search(r'^scrubber_http_requests_total\{[^}]*route="/v1/claims/scrub"[^}]*\} \d', after, re.M)
    assert _sample(after, "scrubber_scrubs_total", fail_labels) - _sample(before, "scrubber_scrubs_total", fail_labels) == 2
    assert _sample(after, "scrubber_scrubs_total", {"status": "pass"}) - \
        _sample(before, "scrubber_scrubs_total", {"status": "pass"}) == 1
    assert _sample(after, "scrubber_findings_total", npi_labels) - \
        _sample(before, "scrubber_findings_total", npi_labels) == 2
    assert _sample(after, "scrubber_http_requests_total", route_labels) - \
        _sample(before, "scrubber_http_requests_total", route_labels) == 3


# ----------------------------------------------------------------------------- 7. request ids


def test_every_response_carries_a_request_id(client):
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert re.fullmatch(r"[0-9a-f]{16}", second)
    assert first != second
    assert re.fullmatch(r"[0-9a-f]{16}", client.get("/v1/scrubs/unknown").headers["x-request-id"])


def test_a_given_request_id_is_echoed_back(client):
    response = client.post(SCRUB, json=CONTRACT_CLAIM, headers={"X-Request-ID": "billing-run-42.claim-7"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "billing-run-42.claim-7"
    missing = client.get("/v1/scrubs/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers={"X-Request-ID": "lookup-1"})
    assert (missing.status_code, missing.headers["x-request-id"]) == (404, "lookup-1")


def _failing_store(store: AuditStore, monkeypatch) -> AuditStore:
    def record(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store, "record", record)
    return store


def test_an_unexpected_error_is_a_500_problem(store, monkeypatch):
    with TestClient(create_app(store=_failing_store(store, monkeypatch)), raise_server_exceptions=False) as client:
        response = client.post(SCRUB, json=CONTRACT_CLAIM, headers={"X-Request-ID": "req-500"})
    assert_problem(response, 500, "internal-error")


def test_an_unexpected_error_response_still_carries_the_request_id(store, monkeypatch):
    with TestClient(create_app(store=_failing_store(store, monkeypatch)), raise_server_exceptions=False) as client:
        response = client.post(SCRUB, json=CONTRACT_CLAIM, headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers.get("x-request-id") == "req-500"


def test_an_unexpected_error_log_line_carries_the_request_id(store, monkeypatch, caplog):
    caplog.handler.setFormatter(JsonFormatter())
    caplog.set_level(logging.INFO)
    with TestClient(create_app(store=_failing_store(store, monkeypatch)), raise_server_exceptions=False) as client:
        assert client.post(SCRUB, json=CONTRACT_CLAIM, headers={"X-Request-ID": "req-500"}).status_code == 500
    records = [json.loads(line) for line in caplog.text.splitlines()]
    errors = [r for r in records if r["msg"] == "unexpected error"]
    assert len(errors) == 1
    assert errors[0]["error"] == "RuntimeError: the database went away"
    assert errors[0].get("request_id") == "req-500"


# ----------------------------------------------------------------------------- 8. logs without PHI


PHI = {"first_name": "Quillonius", "last_name": "Vandermeerschaert", "member_id": "ZX9Q7PHI4242",
       "birth_date": "1937-02-19"}


def test_logs_never_contain_phi_but_carry_the_request_line(store, caplog):
    caplog.handler.setFormatter(JsonFormatter())  # formatted as each record is emitted, inside the request
    caplog.set_level(logging.INFO)
    patient = {k: PHI[k] for k in ("first_name", "last_name", "birth_date")}
    claim = make_claim("PHI-1", PHI["member_id"], patient=patient)
    invalid = make_claim("PHI-2", PHI["member_id"], patient=patient, lines=[{"units": "abc"}])
    with TestClient(create_app(store=store)) as client:
        response = client.post(SCRUB, json=claim, headers={"X-Request-ID": "phi-check-1"})
        assert response.status_code == 200
        assert client.post(SCRUB, json=invalid).status_code == 422
        assert client.post(BATCH, content=json.dumps(claim) + "\n" + json.dumps(invalid) + "\n",
                           headers=NDJSON).status_code == 200
        stored = client.get(f"/v1/scrubs/{response.json()['scrub_id']}").json()
        assert stored["claim"]["patient"]["last_name"] == PHI["last_name"]  # the audit trail keeps it

    lines = caplog.text.splitlines()
    assert lines
    for line in lines:
        for value in PHI.values():
            assert value not in line, f"PHI {value!r} in a log line: {line}"
    records = [json.loads(line) for line in lines]
    request_lines = [r for r in records if r.get("msg") == "request" and r.get("request_id") == "phi-check-1"]
    assert len(request_lines) == 1
    line = request_lines[0]
    assert (line["logger"], line["level"], line["method"], line["path"], line["status"]) == (
        "scrubber.service.app", "info", "POST", "/v1/claims/scrub", 200)
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0
    statuses = sorted((r["path"], r["status"]) for r in records if r.get("msg") == "request")
    assert statuses == [("/v1/claims/scrub", 200), ("/v1/claims/scrub", 422), ("/v1/claims/scrub/batch", 200),
                        ("/v1/scrubs/{scrub_id}", 200)]


# ----------------------------------------------------------------------------- 9. keys and loopback


def test_cli_keys_create_prints_the_secret_once_and_stores_only_its_hash(store, capsys):
    from scrubber.cli import main

    assert main(["keys", "create", "--role", "coder"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    secret = lines[-1]
    assert len(lines) == 2 and secret and out.count(secret) == 1
    key = store.key_for(secret)
    assert key is not None and key.role == "coder"
    assert lines[0] == f"created coder key {key.key_id}; the key is shown only this once:"

    with Session(store.engine) as session:
        rows = list(session.exec(select(ApiKey)))
    assert len(rows) == 1
    row = rows[0]
    assert row.key_hash != secret and re.fullmatch(r"[0-9a-f]{64}", row.key_hash)
    assert all(secret not in str(value) for value in row.model_dump().values())

    with TestClient(create_app(store=store)) as client:
        headers = {"X-API-Key": secret}
        assert client.get("/v1/rules", headers=headers).status_code == 200
        posted = scrub(client, CONTRACT_CLAIM, headers)
        assert client.get(f"/v1/scrubs/{posted['scrub_id']}", headers=headers).json()["api_key_id"] == key.key_id
        # a coder is not compliance: the role limits what the key may call
        assert_problem(client.post("/v1/rules/validate", content=NEW_RULE_FILE, headers={**YAML, **headers}),
                       403, "forbidden")


def test_bootstrap_key_from_the_environment_is_an_admin_key(store, monkeypatch):
    secret = "sk_bootstrap_service_test_0123456789"
    monkeypatch.setenv("SCRUBBER_BOOTSTRAP_KEY", secret)
    with TestClient(create_app(store=store)) as client:
        headers = {"X-API-Key": secret}
        assert client.get("/v1/stats", headers=headers).status_code == 200
        assert client.post("/v1/rules/validate", content=NEW_RULE_FILE, headers={**YAML, **headers}).json()["valid"]
        assert_problem(client.get("/v1/stats"), 401, "unauthorized")
    key = store.key_for(secret)
    assert (key.role, key.label) == ("admin", "bootstrap")


def test_without_any_key_only_loopback_clients_are_served(store):
    app = create_app(store=store)
    with TestClient(app, client=("10.1.2.3", 50000)) as remote:
        body = assert_problem(remote.get("/v1/stats"), 403, "loopback-only")
        assert body["instance"] == "/v1/stats"
        assert_problem(remote.post(SCRUB, json=CONTRACT_CLAIM), 403, "loopback-only")
        assert remote.get("/healthz").status_code == 200
    for host in ("testclient", "127.0.0.1", "::1"):
        with TestClient(create_app(store=store), client=(host, 50000)) as local:
            assert local.get("/v1/stats").status_code == 200
    assert store.list(limit=500).items == []  # the refused scrub was not stored


def test_once_a_key_exists_requests_need_a_known_key(store):
    key_id, secret = store.create_key("submitter")
    with TestClient(create_app(store=store)) as client:
        missing = client.post(SCRUB, json=CONTRACT_CLAIM)
        assert_problem(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"] == "X-API-Key"
        wrong = client.post(SCRUB, json=CONTRACT_CLAIM, headers={"X-API-Key": secret + "x"})
        assert_problem(wrong, 401, "unauthorized")
        assert wrong.headers["www-authenticate"] == "X-API-Key"
        assert client.post(SCRUB, json=CONTRACT_CLAIM, headers={"X-API-Key": secret}).status_code == 200
    with TestClient(create_app(store=store), client=("10.1.2.3", 50000)) as remote:
        assert remote.post(SCRUB, json=CONTRACT_CLAIM, headers={"X-API-Key": secret}).status_code == 200
        assert_problem(remote.post(SCRUB, json=CONTRACT_CLAIM), 401, "unauthorized")


# ----------------------------------------------------------------------------- 10. migrations


def _schema_differences(store: AuditStore) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import scrubber.audit.tables  # noqa: F401  (registers the tables)

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        found = compare_metadata(context, SQLModel.metadata)
    # column changes come grouped in a list per column; everything else is one tuple
    return [change for diff in found for change in (diff if isinstance(diff, list) else [diff])]


def _is_type_only(change) -> bool:
    return change[0] == "modify_type"


def test_migrations_are_at_head_and_build_the_sqlmodel_tables(store):
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(Path(scrubber_migrations_dir())))
    with store.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == script.get_current_head()
        assert set(sa.inspect(connection).get_table_names()) >= {"scrub", "finding", "claim_line", "api_key"}

    differences = [d for d in _schema_differences(store) if not _is_type_only(d)]
    assert differences == []


def scrubber_migrations_dir() -> str:
    import scrubber.audit.migrations

    return str(Path(scrubber.audit.migrations.__file__).resolve().parent)


def test_migration_column_types_match_the_sqlmodel_tables(store):
    assert [d for d in _schema_differences(store) if _is_type_only(d)] == []
