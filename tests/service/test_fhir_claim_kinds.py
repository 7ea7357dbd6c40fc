"""FHIR claim kinds through POST /v1/claims/scrub/fhir (issue 15): a Synthea-shaped Claim that dates
itself only by ``billablePeriod`` and sends no ``quantity`` has its diagnoses judged by the code set of
that date (a SNOMED code is reported, an ICD-10-CM one passes) and gets no missing-date or units
finding; a Da Vinci PAS preauthorization request is refused at ``use``, one error record and no
findings. Fixtures: tests/fixtures/fhir/synthea-claim-billable-period.json and pas-request-bundle.json
(see SOURCES.md there)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scrubber.service.app import create_app

FIXTURES = Path(__file__).parents[1] / "fixtures" / "fhir"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def post(client: TestClient, resource: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/v1/claims/scrub/fhir", content=json.dumps(resource),
                           headers={"content-type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_a_claim_dated_by_billable_period_has_its_snomed_diagnosis_reported(client):
    (record,) = post(client, load("synthea-claim-billable-period.json"))
    assert [(f["rule_id"], f["category"], f["lines"], f["field"]) for f in record["findings"]] == [
        ("dx-code-unknown", "dx_invalid", [1], "diagnoses[1].code")]
    assert record["findings"][0]["message"] == "Diagnosis 1 44054006 is not an ICD-10-CM code in FY2026"
    assert (record["status"], record["ruleset"]["effective_date"]) == ("fail", "2026-03-10")


def test_the_same_claim_with_an_icd10cm_diagnosis_is_clean(client):
    resource = load("synthea-claim-billable-period.json")
    resource["contained"][3]["code"] = {"coding": [{"system": ICD10CM, "code": "E11.9"}]}
    (record,) = post(client, resource)
    assert (record["status"], record["findings"]) == ("pass", [])


def test_a_pas_preauthorization_request_is_one_error_record_and_no_findings(client):
    (record,) = post(client, load("pas-request-bundle.json"))
    assert "findings" not in record
    assert record["error"]["status"] == 422
    assert record["error"]["detail"] == "preauthorization requests are not supported"
    assert [e["field"] for e in record["error"]["errors"]] == ["use"]


def test_a_type_of_bill_sent_in_sub_type_reaches_the_institutional_rules(client):
    """The HL7 UB-04-shaped example without its supportingInfo typeofbill: the type of bill is missing;
    with 0111 (inpatient, admit through discharge) in subType, the inpatient edits apply instead."""
    resource = load("claim-institutional.json")
    resource["supportingInfo"] = [info for info in resource["supportingInfo"]
                                  if info["category"]["coding"][0]["code"] != "typeofbill"]
    categories = ("required_field", "institutional")

    def found() -> list[tuple[str, str]]:
        (record,) = post(client, resource)
        return [(f["rule_id"], f["field"]) for f in record["findings"] if f["category"] in categories]

    assert found() == [("type-of-bill-missing", "type_of_bill")]
    resource["subType"] = {"coding": [{"system": "https://www.nubc.org/CodeSystem/TypeOfBill", "code": "0111"}]}
    assert found() == [("inpatient-admission-source-missing", "admission_source"),
                       ("inpatient-admission-type-missing", "admission_type")]
