"""Hospital claims through POST /v1/claims/scrub/fhir (issue 14): a FHIR R4 Claim of type institutional,
read as scrubber/intake/fhir.py maps it (supportingInfo typeofbill, admissionperiod, admtype,
pointoforigin, discharge-status; billablePeriod as the statement period; procedure[] as ICD-10-PCS;
item.revenue and productOrService), reaches the institutional and outpatient code editor rules.

Built on tests/fixtures/fhir/claim-institutional.json. Codes from the shipped data: 45378 (OPPS status
indicator T), G0463 (the OPPS clinic visit), 44140 (C, inpatient only), 9999 (not a revenue code),
00F3XZZ (MCE v43.1 non-covered), 02WA3QZ (MCE v43.1 limited coverage)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scrubber.service.app import create_app

FIXTURE = Path(__file__).parents[1] / "fixtures" / "fhir" / "claim-institutional.json"
CARIN_INFO = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType"
NUBC = "https://www.nubc.org/CodeSystem/"
CPT = "http://www.ama-assn.org/go/cpt"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
CATEGORIES = ("institutional", "outpatient_code_editor")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def info(sequence: int, category: str, **rest: Any) -> dict[str, Any]:
    return {"sequence": sequence, "category": {"coding": [{"system": CARIN_INFO, "code": category}]}, **rest}


def coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def item(sequence: int, revenue: str, code: str | None, day: str, modifiers: tuple[str, ...] = ()) -> dict[str, Any]:
    product = coded(CPT, code) if code else coded("http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                                  "not-applicable")
    return {"sequence": sequence, "revenue": coded(NUBC + "RevenueCodes", revenue), "productOrService": product,
            "modifier": [coded(CPT, m) for m in modifiers], "servicedDate": day, "quantity": {"value": 1},
            "net": {"value": 100.00, "currency": "USD"}}


def hospital_claim(type_of_bill: str, period: tuple[str, str], items: list[dict[str, Any]],
                   supporting: list[dict[str, Any]] = (), procedures: list[dict[str, Any]] = ()) -> dict[str, Any]:
    claim = copy.deepcopy(json.loads(FIXTURE.read_text()))
    claim["supportingInfo"] = [info(1, "typeofbill", code=coded(NUBC + "TypeOfBill", type_of_bill)), *supporting]
    claim["billablePeriod"] = {"start": period[0], "end": period[1]}
    claim["item"] = items
    claim["total"] = {"value": 100.00 * len(items), "currency": "USD"}
    claim["procedure"] = list(procedures)
    return claim


def scrub(client: TestClient, claim: dict[str, Any]) -> list[tuple]:
    response = client.post("/v1/claims/scrub/fhir", content=json.dumps(claim),
                           headers={"content-type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    (record,) = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    return sorted((f["rule_id"], f["category"], f["lines"], f["carc"]) for f in record["findings"]
                  if f["category"] in CATEGORIES)


def test_outpatient_fhir_claim_gets_the_code_editor_and_statement_period_edits(client):
    """Type of bill 0131 from supportingInfo; billablePeriod 2026-03-02..03 is the statement period."""
    claim = hospital_claim("0131", ("2026-03-02", "2026-03-03"), [
        item(1, "0510", "G0463", "2026-03-02"),   # a visit without 25 on the day of 45378 (T): edit 21
        item(2, "0360", "45378", "2026-03-02"),
        item(3, "0360", "44140", "2026-03-03"),   # inpatient only (C): edit 18; line 4 that day: edit 49
        item(4, "9999", "85025", "2026-03-03"),   # not a revenue code: edit 41
        item(5, "0250", None, "2026-03-05"),      # after the statement period
    ])
    assert scrub(client, claim) == [
        ("line-outside-statement-period", "institutional", [5], "CO-16"),
        ("oce-18-inpatient-only", "outpatient_code_editor", [3], "CO-96"),
        ("oce-21-visit-without-25", "outpatient_code_editor", [1], "CO-4"),
        ("oce-49-same-day-as-inpatient-only", "outpatient_code_editor", [4], "CO-96"),
        ("revenue-code-invalid", "institutional", [4], "CO-16"),
    ]


def test_the_same_fhir_claim_with_modifier_25_and_an_outpatient_procedure_is_clean(client):
    claim = hospital_claim("0131", ("2026-03-02", "2026-03-03"), [
        item(1, "0510", "G0463", "2026-03-02", modifiers=("25",)),
        item(2, "0360", "45378", "2026-03-02"),
        item(3, "0300", "85025", "2026-03-03"),
    ])
    assert scrub(client, claim) == []


def test_inpatient_fhir_claim_gets_the_admission_status_and_mce_procedure_edits(client):
    """Type of bill 0111; admissionperiod gives the stay, pointoforigin the source, discharge-status
    '08' (not a NUBC code); no admtype; procedure[] (ICD-10-PCS) by the MCE of the FY2026 discharge."""
    claim = hospital_claim("0111", ("2026-03-01", "2026-03-05"), [item(1, "0120", None, "2026-03-01")], supporting=[
        info(2, "admissionperiod", timingPeriod={"start": "2026-03-01T08:30:00-05:00", "end": "2026-03-05"}),
        info(3, "pointoforigin", code=coded(NUBC + "PointOfOrigin", "1")),
        info(4, "discharge-status", code=coded(NUBC + "PatDischargeStatus", "08")),
    ], procedures=[
        {"sequence": 1, "date": "2026-03-02", "procedureCodeableConcept": coded(PCS, "00F3XZZ")},
        {"sequence": 2, "date": "2026-03-02", "procedureCodeableConcept": coded(PCS, "02WA3QZ")},
    ])
    found = scrub(client, claim)
    assert [(rule, category, lines) for rule, category, lines, _ in found] == [
        ("inpatient-admission-type-missing", "institutional", []),
        ("mce-procedure-limited-coverage", "institutional", []),
        ("mce-procedure-noncovered", "institutional", []),
        ("patient-status-invalid", "institutional", []),
    ]
