"""The HTTP API (scrubber/service/app.py) against the public contract (shared/contract.md)."""
from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scrubber.service.app import create_app
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.payers import load_deployment
from tests.contract_example import CONTRACT_CLAIM, assert_problem

SCRUB = "/v1/claims/scrub"
PROBLEM = "application/problem+json"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

RESULT_KEYS = {"claim_id", "status", "findings", "ruleset", "scrub_id"}
FINDING_KEYS = {"rule_id", "category", "severity", "message", "lines", "field", "carc", "rarc", "suggestion",
                "source"}


def contract_claim(**changes: Any) -> dict[str, Any]:
    claim = copy.deepcopy(CONTRACT_CLAIM)
    claim.update(changes)
    return claim


def contract_line(**changes: Any) -> dict[str, Any]:
    return {**CONTRACT_CLAIM["lines"][0], **changes}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def post_json_text(client: TestClient, text: str | bytes):
    return client.post(SCRUB, content=text, headers={"content-type": "application/json"})




# ----------------------------------------------------------------------------- a clean claim


def test_contract_example_claim_gives_exactly_the_contract_result_keys(client):
    response = client.post(SCRUB, json=CONTRACT_CLAIM)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == RESULT_KEYS
    assert set(body["ruleset"]) == {"revision", "effective_date"}
    assert (body["claim_id"], body["status"], body["findings"]) == ("PCN-000123", "pass", [])
    assert body["ruleset"] == {"revision": load_deployment("rules", "payers").revision, "effective_date": "2026-11-01"}


def test_scrub_id_is_a_ulid_stamped_with_the_current_time(client):
    before = int(time.time() * 1000)
    scrub_id = client.post(SCRUB, json=CONTRACT_CLAIM).json()["scrub_id"]
    after = int(time.time() * 1000)

    assert len(scrub_id) == 26
    assert set(scrub_id) <= set(CROCKFORD)
    millis = 0
    for char in scrub_id[:10]:
        millis = millis * 32 + CROCKFORD.index(char)
    assert before - 1 <= millis <= after + 1


def test_each_scrub_gets_a_new_scrub_id(client):
    ids = {client.post(SCRUB, json=CONTRACT_CLAIM).json()["scrub_id"] for _ in range(5)}

    assert len(ids) == 5


# ----------------------------------------------------------------------------- content problems are findings


def test_bad_npi_and_bad_pointer_are_findings_in_a_200_response(client):
    claim = contract_claim(billing_provider={"npi": "1234567890"},
                           lines=[contract_line(diagnosis_pointers=[1, 3])])

    response = client.post(SCRUB, json=claim)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "fail"
    assert all(set(f) == FINDING_KEYS for f in body["findings"])
    assert [{k: f[k] for k in ("rule_id", "category", "severity", "lines", "field", "carc", "rarc", "message")}
            for f in body["findings"]] == [
        {"rule_id": "npi-check-digit", "category": "npi", "severity": "error", "lines": [],
         "field": "billing_provider.npi", "carc": "CO-207", "rarc": "N290",
         "message": "The billing provider NPI 1234567890 fails its check digit: a digit was mistyped"},
        {"rule_id": "pointer-invalid", "category": "dx_pointer", "severity": "error", "lines": [1],
         "field": "lines[1].diagnosis_pointers", "carc": "CO-16", "rarc": "M76",
         "message": "Line 1 (99213) points at diagnosis '3', but the claim lists 2 diagnoses"},
    ]
    assert [f["source"] for f in body["findings"]] == ["rules/npi.yaml", "rules/pointers.yaml"]


def test_an_app_started_again_scrubs_with_its_rules_not_with_the_closed_ones():
    """Shutting the app down closes the rules it loaded; starting the same app again (test clients do,
    one after another) loads them anew: the second start's scrubs still find what the rules find."""
    app = create_app()
    claim = contract_claim(billing_provider={"npi": "1234567890"})
    for _ in range(2):
        with TestClient(app) as again:
            response = again.post(SCRUB, json=claim)
            assert response.status_code == 200
            assert [f["rule_id"] for f in response.json()["findings"]] == ["npi-check-digit"]


def test_warning_only_claim_has_status_warn(client):
    claim = contract_claim(lines=[contract_line(diagnosis_pointers=[1, 1])])

    body = client.post(SCRUB, json=claim).json()

    assert body["status"] == "warn"
    assert [(f["rule_id"], f["severity"]) for f in body["findings"]] == [("pointer-repeated", "warning")]


def test_future_date_of_service_is_a_finding_not_a_422(client):
    claim = contract_claim(lines=[contract_line(service_date="2026-11-28")])

    response = client.post(SCRUB, json=claim)

    assert response.status_code == 200
    assert [f["message"] for f in response.json()["findings"]] == [
        "Line 1 (99213) is dated 2026-11-28, after the claim's submission date 2026-11-27"]


# ----------------------------------------------------------------------------- money as JSON numbers


def test_money_as_json_numbers_that_add_up_gives_no_finding(client):
    claim = contract_claim(total_charge=125.5, lines=[contract_line(charge=125.5)])

    response = post_json_text(client, json.dumps(claim))

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["findings"]) == ("pass", [])


def test_money_as_a_json_number_is_read_to_the_cent_in_the_total_charge_finding(client):
    claim = contract_claim(total_charge="125.00", lines=[contract_line(charge=125.5)])

    body = post_json_text(client, json.dumps(claim)).json()

    assert [(f["rule_id"], f["field"], f["message"]) for f in body["findings"]] == [
        ("total-charge-mismatch", "total_charge",
         "The total charge 125.00 is not the sum of the line charges 125.50")]


def test_binary_float_amounts_add_up_exactly(client):
    claim = contract_claim(total_charge=0.3, lines=[contract_line(charge=0.1),
                                                    contract_line(line_number=2, procedure_code="36415", modifiers=[],
                                                                  charge=0.2)])

    body = post_json_text(client, json.dumps(claim)).json()

    # no total-charge-mismatch; only the info finding every professional claim with two codes on one
    # date gets while the practitioner NCCI PTP table is the shipped excerpt
    assert [(f["rule_id"], f["severity"]) for f in body["findings"]] == [("ncci-ptp-table-excerpt", "info")]
    assert body["status"] == "pass"


def test_money_number_with_three_decimals_is_422(client):
    response = post_json_text(client, json.dumps(contract_claim(total_charge=125.505)))

    body = assert_problem(response, 422, "invalid-claim")
    assert body["errors"] == [{"field": "total_charge",
                               "message": 'must be an amount with at most 2 decimal places and at most 9 digits before the point, such as "125.00"'}]


# ----------------------------------------------------------------------------- structurally invalid claims


def test_structurally_invalid_claim_lists_every_bad_field(client):
    claim = contract_claim(claim_type="dental", patient={**CONTRACT_CLAIM["patient"], "birth_date": True},
                           lines=[contract_line(units="abc")])

    response = client.post(SCRUB, json=claim)

    body = assert_problem(response, 422, "invalid-claim")
    assert body["title"] == "The claim is not valid"
    assert body["detail"] == "3 fields of the request are invalid"
    assert body["instance"] == SCRUB
    assert body["errors"] == [
        {"field": "claim_type", "message": "must be 'professional' or 'institutional'"},
        {"field": "patient.birth_date", "message": "must be a date written as YYYY-MM-DD"},
        {"field": "lines[0].units", "message": "must be a number of units, such as 1"},
    ]


def test_claim_without_lines_is_422_naming_lines_with_the_other_bad_fields(client):
    claim = contract_claim(claim_type="dental", patient={**CONTRACT_CLAIM["patient"], "birth_date": True})
    del claim["lines"]

    body = assert_problem(client.post(SCRUB, json=claim), 422, "invalid-claim")

    assert body["errors"] == [
        {"field": "claim_type", "message": "must be 'professional' or 'institutional'"},
        {"field": "patient.birth_date", "message": "must be a date written as YYYY-MM-DD"},
        {"field": "lines", "message": "is required"},
    ]


def test_empty_lines_list_is_422(client):
    body = assert_problem(client.post(SCRUB, json=contract_claim(lines=[])), 422, "invalid-claim")

    assert [e["field"] for e in body["errors"]] == ["lines"]


def test_every_bad_field_of_a_line_is_named_with_its_list_index(client):
    claim = contract_claim(
        claim_id=5, total_charge="1.234",
        lines=[contract_line(line_number="1", charge=True, service_date="2026-02-30",
                             diagnosis_pointers=[True, "XYZ123456"], extra=1),
               contract_line(line_number=2, modifiers="26")])

    body = assert_problem(client.post(SCRUB, json=claim), 422, "invalid-claim")

    assert body["detail"] == "9 fields of the request are invalid"
    assert body["errors"] == [
        {"field": "claim_id", "message": "must be text (a string in quotes), got int"},
        {"field": "lines[0].line_number", "message": "must be a line number: a whole number from 1 to 999999"},
        {"field": "lines[0].charge", "message": 'must be an amount such as "125.00", not true/false'},
        {"field": "lines[0].service_date", "message": "'2026-02-30' is not a calendar date"},
        {"field": "lines[0].diagnosis_pointers[0]", "message": "must be a diagnosis number (1-12) or letter (A-L)"},
        {"field": "lines[0].diagnosis_pointers[1]", "message": "must be a diagnosis number (1-12) or letter (A-L)"},
        {"field": "lines[0].extra", "message": "is not a field of the claim contract"},
        {"field": "lines[1].modifiers", "message": "must be a valid list"},
        {"field": "total_charge", "message": 'must be an amount with at most 2 decimal places and at most 9 digits before the point, such as "125.00"'},
    ]


def test_boolean_charge_is_rejected_by_strict_types(client):
    claim = contract_claim(lines=[contract_line(charge=True)])

    body = assert_problem(client.post(SCRUB, json=claim), 422, "invalid-claim")

    assert body["detail"] == "1 field of the request is invalid"
    assert body["errors"] == [{"field": "lines[0].charge",
                               "message": 'must be an amount such as "125.00", not true/false'}]


@pytest.mark.parametrize("change, field", [
    ({"submission_date": 20261127}, "submission_date"),
    ({"patient": {**CONTRACT_CLAIM["patient"], "birth_date": "1950-03-14T00:00:00"}}, "patient.birth_date"),
    ({"lines": [contract_line(units=True)]}, "lines[0].units"),
    ({"total_charge": False}, "total_charge"),
    ({"diagnoses": [{"code": 119}]}, "diagnoses[0].code"),
])
def test_strict_types_reject_look_alike_values(client, change, field):
    body = assert_problem(client.post(SCRUB, json=contract_claim(**change)), 422, "invalid-claim")

    assert [e["field"] for e in body["errors"]] == [field]


def test_invalid_json_body_is_a_422_problem_naming_the_body(client):
    body = assert_problem(post_json_text(client, b'{"claim_id": '), 422, "invalid-claim")

    assert len(body["errors"]) == 1
    assert body["errors"][0]["field"] == "(body)"
    assert body["errors"][0]["message"].startswith("the body is not valid JSON")


def test_json_array_body_is_a_422_problem(client):
    body = assert_problem(client.post(SCRUB, json=[CONTRACT_CLAIM]), 422, "invalid-claim")

    assert body["errors"] == [{"field": "(body)", "message": "must be a JSON object (the claim)"}]


@pytest.mark.parametrize("text", [b"null", b'"a claim"', b"42"])
def test_json_scalar_body_is_a_422_problem(client, text):
    body = assert_problem(post_json_text(client, text), 422, "invalid-claim")

    assert [e["field"] for e in body["errors"]] == ["(body)"]


# ----------------------------------------------------------------------------- other routes


def test_unknown_path_is_a_404_problem(client):
    body = assert_problem(client.get("/v1/nothing-here"), 404, "not-found")

    assert body["instance"] == "/v1/nothing-here"


def test_wrong_method_is_a_405_problem(client):
    body = assert_problem(client.get(SCRUB), 405, "method-not-allowed")

    assert body["instance"] == SCRUB


def test_wrong_method_names_the_allowed_methods_in_an_allow_header(client):
    response = client.get(SCRUB)

    assert response.status_code == 405
    assert response.headers.get("allow") == "POST"


def test_healthz_says_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_example_claim_via_api_matches_the_library_result_for_the_same_claim(client):
    # a Medicare chest X-ray, ordered as Medicare requires (referring provider: no ordering-provider-missing)
    claim = complete_claim({"referring_provider": {"npi": "1234567893"},
                            "lines": [{"procedure_code": "71046", "modifiers": ["26", "tc"]}]})

    body = client.post(SCRUB, json=claim).json()

    assert [(f["rule_id"], f["lines"], f["field"]) for f in body["findings"]] == [
        ("modifier-26-with-tc", [1], "lines[1].modifiers")]
    assert body["claim_id"] == "EXAMPLE-1"
