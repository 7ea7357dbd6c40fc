"""GET /v1/rules and /v1/rules/{rule_id}: every rule that can produce a finding, with the payer it belongs to
(issue 10: the list showed only the base rules, and a payer's own rules answered 404)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from scrubber.pipeline.routing import UNKNOWN_PAYER_RULE
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.payers import load_deployment
from scrubber.service.app import create_app
from scrubber.settings import settings
from tests.contract_example import assert_problem


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture(scope="module")
def deployment():
    return load_deployment(settings().rules_dir, settings().payers_dir)


def pairs_that_can_fire(deployment) -> set[tuple[str, str | None]]:
    """(rule id, payer) for every rule a claim can be reported by: the base rules (payer None) and the
    routing's warning for an unknown payer, plus each payer's rules that are not the base rule unchanged
    (its own, its overrides, and base rules compiled with a value set the profile changed)."""
    base = {c.rule.id: c for c in deployment.base.program.rules}
    pairs: set[tuple[str, str | None]] = {(rule_id, None) for rule_id in base} | {(UNKNOWN_PAYER_RULE, None)}
    for payer_id, profile in deployment.payers.items():
        for compiled in profile.ruleset.program.rules:
            inherited = base.get(compiled.rule.id)
            if inherited is None or inherited.rule != compiled.rule or inherited.patterns != compiled.patterns:
                pairs.add((compiled.rule.id, payer_id))
    return pairs


def test_a_payer_generated_rule_is_listed_with_its_payer(client):
    rules = client.get("/v1/rules").json()["rules"]
    found = [r for r in rules if r["id"] == "medicare-timely-filing"]
    assert len(found) == 1
    assert (found[0]["payer"], found[0]["source"], found[0]["category"], found[0]["carc"]) == (
        "medicare", "payers/medicare.yaml", "timely_filing", "CO-29")


def test_a_payer_generated_rule_is_fetchable(client):
    response = client.get("/v1/rules/medicare-timely-filing")
    assert response.status_code == 200, response.text
    rule = response.json()
    assert (rule["id"], rule["payer"], rule["source"]) == ("medicare-timely-filing", "medicare", "payers/medicare.yaml")
    assert rule["definition"]["id"] == "medicare-timely-filing"
    assert rule["definition"]["examples"]


def test_the_list_holds_each_rule_and_payer_that_can_fire_once(client, deployment):
    rules = client.get("/v1/rules").json()["rules"]
    listed = [(r["id"], r["payer"]) for r in rules]
    assert len(listed) == len(set(listed))
    assert set(listed) == pairs_that_can_fire(deployment)
    assert len(listed) > len(deployment.base.program.rules) + 18  # 60 base rules, 78+ in force (issue 10)


def test_base_rules_are_listed_once_with_no_payer(client, deployment):
    rules = client.get("/v1/rules").json()["rules"]
    base = [r["id"] for r in rules if r["payer"] is None]
    assert base == [c.rule.id for c in deployment.base.program.rules] + [UNKNOWN_PAYER_RULE]


def test_an_override_and_a_changed_value_set_are_listed_for_their_payer(client):
    rules = {(r["id"], r["payer"]): r for r in client.get("/v1/rules").json()["rules"]}
    assert rules[("pointer-repeated", "acme-health")]["severity"] == "error"  # acme-commercial.yaml overrides it
    assert rules[("pointer-repeated", None)]["severity"] != "error"
    assert rules[("pointer-repeated", "acme-health")]["source"] == "payers/acme-commercial.yaml"
    # northwind appends to the base value set `sides`: the base rule runs differently for it
    assert ("modifier-50-with-side", "northwind") in rules
    assert ("modifier-50-with-side", "acme-health") not in rules  # acme disables it


def test_the_payer_filter_lists_the_rules_in_force_for_that_payer(client, deployment):
    response = client.get("/v1/rules", params={"payer": "medicare"})
    assert response.status_code == 200, response.text
    body = response.json()
    rules = {r["id"]: r for r in body["rules"]}
    in_force = [c.rule.id for c in deployment.payers["medicare"].ruleset.program.rules]
    assert [r["id"] for r in body["rules"]] == in_force
    assert rules["medicare-timely-filing"]["payer"] == "medicare"
    assert rules["npi-check-digit"]["payer"] is None  # inherited unchanged
    assert {r["id"] for r in body["rules"] if r["payer"] is None} == {c.rule.id for c in deployment.base.program.rules}
    assert UNKNOWN_PAYER_RULE not in rules  # a claim routed to a known payer never gets it
    assert body["revision"] == deployment.revision


def test_the_payer_filter_leaves_out_disabled_rules_and_shows_overrides(client):
    rules = {r["id"]: r for r in client.get("/v1/rules", params={"payer": "acme-health"}).json()["rules"]}
    assert "modifier-50-with-side" not in rules
    assert (rules["pointer-repeated"]["payer"], rules["pointer-repeated"]["severity"]) == ("acme-health", "error")
    assert "medicare-timely-filing" not in rules


def test_the_payer_filter_matches_payer_ids_as_claims_are_routed(client):
    assert client.get("/v1/rules", params={"payer": " Medicare"}).json() == \
        client.get("/v1/rules", params={"payer": "medicare"}).json()


def test_an_unknown_payer_is_a_404_naming_the_known_ones(client):
    for path in ("/v1/rules", "/v1/rules/npi-check-digit"):
        problem = assert_problem(client.get(path, params={"payer": "nobody"}), 404, "not-found")
        assert "nobody" in problem["detail"]
        for known in ("acme-health", "medicare", "northwind", "state-medicaid"):
            assert known in problem["detail"]


def test_a_rule_is_fetched_in_the_version_of_a_payer(client):
    base = client.get("/v1/rules/pointer-repeated").json()
    acme = client.get("/v1/rules/pointer-repeated", params={"payer": "acme-health"}).json()
    inherited = client.get("/v1/rules/npi-check-digit", params={"payer": "medicare"}).json()
    assert (base["payer"], acme["payer"], inherited["payer"]) == (None, "acme-health", None)
    assert acme["definition"]["severity"] == "error" != base["definition"]["severity"]
    assert inherited["source"] == "rules/npi.yaml"


def test_a_rule_not_in_force_for_a_payer_is_404(client):
    assert_problem(client.get("/v1/rules/medicare-timely-filing", params={"payer": "acme-health"}), 404, "not-found")
    assert_problem(client.get("/v1/rules/modifier-50-with-side", params={"payer": "acme-health"}), 404, "not-found")


def test_the_routing_warning_for_an_unknown_payer_is_listed_and_fetchable(client):
    rule = client.get(f"/v1/rules/{UNKNOWN_PAYER_RULE}").json()
    assert (rule["id"], rule["payer"], rule["severity"], rule["category"]) == (
        UNKNOWN_PAYER_RULE, None, "warning", "payer_specific")
    result = client.post("/v1/claims/scrub", json=complete_claim({"payer": {"id": "nobody", "name": "Nobody"}}))
    assert UNKNOWN_PAYER_RULE in [f["rule_id"] for f in result.json()["findings"]]
