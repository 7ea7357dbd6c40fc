"""API keys and roles (scrubber/service/auth.py `require(...)`): every endpoint x every role, plus no key and an
unknown key, each with its exact status.

The expected roles are those of the code's tuples, written out here so that a change to who may call
what is a visible, reviewed change to this table:

    ANY_ROLE     = submitter, coder, compliance, admin   (GET /v1/scrubs, /v1/scrubs/{id}, /v1/stats, /v1/data,
                                                           /metrics)
    SCRUBBING    = submitter, coder                       (POST /v1/claims/scrub, /v1/claims/scrub/batch)
    RULE_READERS = compliance, coder                      (GET /v1/rules, /v1/rules/{rule_id})
    COMPLIANCE   = compliance                             (POST /v1/rules/validate)
    SUBMITTERS   = submitter                              (POST /v1/claims/submissions: its own claims)

    admin                                                 (GET /v1/audit/access)

admin may always call; /healthz and /readyz need no key at all (and ignore one that is sent). Which
stored scrubs a role reads, and with which fields masked, is tests/test_access.py's subject: here the
stored scrub is sent by the submitter key, so that every role may read it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from fastapi.testclient import TestClient

from scrubber.service.app import create_app
from tests.contract_example import CONTRACT_CLAIM

PROBLEM = "application/problem+json"
ROLES = ("submitter", "coder", "compliance", "admin")
NO_KEY, UNKNOWN_KEY = "no key", "unknown key"
CALLERS = ROLES + (NO_KEY, UNKNOWN_KEY)
PUBLIC = "public"  # no key needed

ALL = frozenset(ROLES)
SCRUBBERS = frozenset({"submitter", "coder", "admin"})
RULE_READERS = frozenset({"compliance", "coder", "admin"})
COMPLIANCE = frozenset({"compliance", "admin"})
SUBMITTERS = frozenset({"submitter", "admin"})  # a billing system says what it did with its claims

VALID_RULE_FILE = """\
schema_version: 1
rules:
  - id: auth-test-modifier-26-with-tc
    title: Modifiers 26 and TC on the same line
    category: modifier
    severity: error
    when:
      line:
        all:
          - modifiers: {contains: "26"}
          - modifiers: {contains: "TC"}
    message: "Line {line_number} carries both 26 and TC"
    suggestion: Keep only the component this provider performed
    examples:
      - name: both components
        claim: {lines: [{procedure_code: "71046", modifiers: ["26", "TC"]}]}
        expect: [auth-test-modifier-26-with-tc]
"""


@dataclass(frozen=True)
class World:
    """What a request may need: an existing scrub, an existing rule."""

    scrub_id: str
    rule_id: str


@dataclass(frozen=True)
class Endpoint:
    name: str
    allowed: frozenset[str] | str
    send: Callable[[TestClient, dict[str, str], World], object]
    check_success: Callable[[object, World], None]

    def __str__(self) -> str:
        return self.name


def _json_body(response, world: World) -> None:
    assert response.headers["content-type"] == "application/json"
    response.json()


def _scrub_ok(response, world: World) -> None:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["claim_id"] == CONTRACT_CLAIM["claim_id"] and body["status"] in ("pass", "warn", "fail")


def _submissions_ok(response, world: World) -> None:
    _json_body(response, world)  # the claim was scrubbed with the submitter key: its own, and admin's to change
    assert response.json() == {"applied": 1, "unknown": 0, "items": [
        {"claim_id": CONTRACT_CLAIM["claim_id"], "status": "submitted", "result": "applied", "counts": True}]}


def _batch_ok(response, world: World) -> None:
    assert response.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    assert [r["claim_id"] for r in records] == [CONTRACT_CLAIM["claim_id"]]


X12_SAMPLE = (Path(__file__).parents[1] / "fixtures" / "x12" / "837_005010X222A2__demo.example1.837").read_bytes()


def _x12_ok(response, world: World) -> None:
    assert response.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    assert [r["claim_id"] for r in records] == ["26463774"]


FHIR_SAMPLE = (Path(__file__).parents[1] / "fixtures" / "fhir" / "claim-professional.json").read_bytes()


def _fhir_ok(response, world: World) -> None:
    assert response.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    assert len(records) == 1 and records[0]["status"] in ("pass", "warn", "fail")


def _reload_ok(response, world: World) -> None:
    _json_body(response, world)
    assert response.json()["revision"] == response.json()["previous_revision"]  # same files


def _impact_ok(response, world: World) -> None:
    _json_body(response, world)
    assert response.json()["claims"] == 1 and response.json()["changed_claims"] == 0


def _scrub_page_ok(response, world: World) -> None:
    _json_body(response, world)
    assert world.scrub_id in [item["scrub_id"] for item in response.json()["items"]]


def _stored_scrub_ok(response, world: World) -> None:
    _json_body(response, world)
    assert response.json()["scrub_id"] == world.scrub_id


def _stats_ok(response, world: World) -> None:
    _json_body(response, world)
    assert response.json()["scrubs"] >= 1


def _rules_ok(response, world: World) -> None:
    _json_body(response, world)
    assert world.rule_id in [rule["id"] for rule in response.json()["rules"]]


def _rule_ok(response, world: World) -> None:
    _json_body(response, world)
    assert response.json()["id"] == world.rule_id


def _validation_ok(response, world: World) -> None:
    _json_body(response, world)
    assert response.json() == {"valid": True, "rules": 1, "problems": []}


def _access_ok(response, world: World) -> None:
    _json_body(response, world)
    assert [(i["action"], i["scrub_id"]) for i in response.json()["items"]] == [("get", world.scrub_id)]


def _code_ok(response, world: World) -> None:
    _json_body(response, world)
    assert (response.json()["code"], response.json()["status"]) == ("E11.9", "valid")


def _code_search_ok(response, world: World) -> None:
    _json_body(response, world)
    assert [found["code"] for found in response.json()["codes"]] == ["E11.9"]


def _whoami_ok(response, world: World) -> None:
    _json_body(response, world)
    assert response.json()["role"] in ("submitter", "coder", "compliance", "admin")
    assert response.json()["key_id"].startswith("key_")


def _metrics_ok(response, world: World) -> None:
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in response.text


def _health_ok(response, world: World) -> None:
    _json_body(response, world)
    assert response.json() == {"status": "ok"}


def _data_ok(response, world: World) -> None:
    _json_body(response, world)
    assert response.json()["datasets"]


def _ready_ok(response, world: World) -> None:
    _json_body(response, world)
    assert response.json()["status"] == "ready"


ENDPOINTS = [
    Endpoint("POST /v1/claims/scrub", SCRUBBERS,
             lambda c, h, w: c.post("/v1/claims/scrub", json=CONTRACT_CLAIM, headers=h), _scrub_ok),
    Endpoint("POST /v1/claims/scrub/batch", SCRUBBERS,
             lambda c, h, w: c.post("/v1/claims/scrub/batch", json=[CONTRACT_CLAIM], headers=h), _batch_ok),
    Endpoint("POST /v1/claims/scrub/x12", SCRUBBERS,
             lambda c, h, w: c.post("/v1/claims/scrub/x12", content=X12_SAMPLE,
                                    headers={**h, "content-type": "text/plain"}), _x12_ok),
    Endpoint("POST /v1/claims/scrub/fhir", SCRUBBERS,
             lambda c, h, w: c.post("/v1/claims/scrub/fhir", content=FHIR_SAMPLE,
                                    headers={**h, "content-type": "application/fhir+json"}), _fhir_ok),
    Endpoint("POST /v1/claims/submissions", SUBMITTERS,
             lambda c, h, w: c.post("/v1/claims/submissions", json=[
                 {"claim_id": CONTRACT_CLAIM["claim_id"], "status": "submitted"}], headers=h), _submissions_ok),
    Endpoint("POST /v1/rules/reload", frozenset({"admin"}),
             lambda c, h, w: c.post("/v1/rules/reload", headers=h), _reload_ok),
    Endpoint("POST /v1/rules/impact", COMPLIANCE,
             lambda c, h, w: c.post("/v1/rules/impact", json={
                 "files": [{"name": "rules/auth-test.yaml", "text": VALID_RULE_FILE}], "claims": [CONTRACT_CLAIM]},
                 headers=h), _impact_ok),
    Endpoint("GET /v1/scrubs", ALL, lambda c, h, w: c.get("/v1/scrubs", headers=h), _scrub_page_ok),
    Endpoint("GET /v1/scrubs/{scrub_id}", ALL,
             lambda c, h, w: c.get(f"/v1/scrubs/{w.scrub_id}", headers=h), _stored_scrub_ok),
    Endpoint("GET /v1/stats", ALL, lambda c, h, w: c.get("/v1/stats", headers=h), _stats_ok),
    Endpoint("GET /v1/audit/access", frozenset({"admin"}),
             lambda c, h, w: c.get("/v1/audit/access", headers=h), _access_ok),
    Endpoint("GET /v1/rules", RULE_READERS, lambda c, h, w: c.get("/v1/rules", headers=h), _rules_ok),
    Endpoint("GET /v1/rules/{rule_id}", RULE_READERS,
             lambda c, h, w: c.get(f"/v1/rules/{w.rule_id}", headers=h), _rule_ok),
    Endpoint("POST /v1/rules/validate", COMPLIANCE,
             lambda c, h, w: c.post("/v1/rules/validate", params={"name": "rules/auth-test.yaml"},
                                    content=VALID_RULE_FILE.encode(),
                                    headers={**h, "content-type": "application/yaml"}), _validation_ok),
    Endpoint("GET /v1/codes/{system}/{code}", ALL,
             lambda c, h, w: c.get("/v1/codes/icd10cm/E119", params={"date": "2026-01-05"}, headers=h), _code_ok),
    Endpoint("GET /v1/codes/{system}", ALL,
             lambda c, h, w: c.get("/v1/codes/icd10cm", params={"q": "E11.9", "on": "2026-01-05"}, headers=h),
             _code_search_ok),
    Endpoint("GET /v1/whoami", ALL, lambda c, h, w: c.get("/v1/whoami", headers=h), _whoami_ok),
    Endpoint("GET /v1/data", ALL, lambda c, h, w: c.get("/v1/data", headers=h), _data_ok),
    Endpoint("GET /metrics", ALL, lambda c, h, w: c.get("/metrics", headers=h), _metrics_ok),
    Endpoint("GET /healthz", PUBLIC, lambda c, h, w: c.get("/healthz", headers=h), _health_ok),
    Endpoint("GET /readyz", PUBLIC, lambda c, h, w: c.get("/readyz", headers=h), _ready_ok),
]


def _path(endpoint: Endpoint, world: World) -> str:
    path = endpoint.name.split(" ", 1)[1]
    return (path.replace("{scrub_id}", world.scrub_id).replace("{rule_id}", world.rule_id)
            .replace("{system}/{code}", "icd10cm/E119").replace("{system}", "icd10cm"))


@pytest.fixture()
def keyed(store):
    """An app with one key of every role, a scrub sent by the submitter key and read once (by the
    admin key) in the audit trail, and the id of a rule in force."""
    keys = {role: store.create_key(role, label=f"test {role}")[1] for role in ROLES}
    try:
        with TestClient(create_app(store=store)) as client:
            made = client.post("/v1/claims/scrub", json=CONTRACT_CLAIM, headers={"X-API-Key": keys["submitter"]})
            assert made.status_code == 200, made.text
            read = client.get(f"/v1/scrubs/{made.json()['scrub_id']}", headers={"X-API-Key": keys["admin"]})
            assert read.status_code == 200, read.text
            rule_id = client.app.state.current.scrubber.ruleset.program.rules[0].rule.id
            yield client, keys, World(scrub_id=made.json()["scrub_id"], rule_id=rule_id)
    finally:
        store.delete_everything()  # no key left behind for tests that expect an unkeyed service


def _headers(caller: str, keys: dict[str, str]) -> dict[str, str]:
    if caller == NO_KEY:
        return {}
    if caller == UNKNOWN_KEY:
        return {"X-API-Key": "sk_this-key-was-never-issued"}
    return {"X-API-Key": keys[caller]}


def _problem(response, status: int, kind: str, path: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{kind}"
    assert body["status"] == status
    assert body["instance"] == path
    assert body["title"] and body["detail"]
    return body


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_endpoint_x_caller(keyed, endpoint: Endpoint, caller: str):
    client, keys, world = keyed

    response = endpoint.send(client, _headers(caller, keys), world)

    path = _path(endpoint, world)
    if endpoint.allowed == PUBLIC or caller in endpoint.allowed:
        assert response.status_code == 200, response.text
        endpoint.check_success(response, world)
    elif caller in (NO_KEY, UNKNOWN_KEY):
        body = _problem(response, 401, "unauthorized", path)
        assert response.headers["www-authenticate"] == "X-API-Key"
        assert body["title"] == ("API key required" if caller == NO_KEY else "Unknown API key")
        assert body["detail"] == ("send your API key in the X-API-Key header" if caller == NO_KEY
                                  else "this API key is unknown, revoked or expired")
    else:
        body = _problem(response, 403, "forbidden", path)
        assert f"a {caller} key may not call this" in body["detail"]
        needed = body["detail"].split("it needs one of: ", 1)[1]
        assert sorted(needed.split(", ")) == sorted(endpoint.allowed)


def test_the_table_covers_every_route_of_the_app():
    """A new route must get a row in ENDPOINTS (and so a decision about who may call it)."""
    app = create_app()
    # the routes in the schema, read from the document (routers included in the app are not in `app.routes`)
    routes = {f"{method.upper()} {path}" for path, operations in app.openapi()["paths"].items() for method in operations}
    assert routes == {endpoint.name for endpoint in ENDPOINTS}


def test_forbidden_requests_do_not_reach_the_handler(keyed):
    """A 403 (a compliance key scrubbing) writes nothing to the audit trail."""
    client, keys, world = keyed
    listing = client.get("/v1/scrubs", headers={"X-API-Key": keys["compliance"]})
    assert client.post("/v1/claims/scrub", json=CONTRACT_CLAIM,
                       headers={"X-API-Key": keys["compliance"]}).status_code == 403
    again = client.get("/v1/scrubs", headers={"X-API-Key": keys["compliance"]})
    assert [i["scrub_id"] for i in again.json()["items"]] == [i["scrub_id"] for i in listing.json()["items"]]
