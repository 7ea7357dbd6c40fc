"""Hospital claims (issue 14): scrubber/pipeline/enrich/institutional.py with rules/institutional.yaml and
rules/outpatient_code_editor.yaml, through the real engine and the shipped reference data (the I/OCE
revenue code list and OPPS facts, ICD-10-PCS, MCE v37/v43.1), from JSON, from an 837I and through the
JSON API. Codes are picked from the shipped files: 44140 (status indicator C), 45378 (T), G0463 (the
OPPS clinic visit), 99213 (B, not recognized by OPPS), 00F3XZZ (MCE non-covered), 02WA3QZ (MCE limited
coverage in v43.1), 0UT90ZZ (female only in MCE v37)."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scrubber.contract.claim import Claim, Finding
from scrubber.intake.x12.walker import iter_claims
from scrubber.pipeline.enrich.institutional import bill_type_problem
from scrubber.pipeline.routing import PayerRouter
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.payers import load_deployment
from scrubber.service.app import create_app

FIXTURES = Path(__file__).parents[1] / "fixtures"
TODAY = dt.date(2026, 4, 15)
CATEGORIES = ("institutional", "outpatient_code_editor")


@pytest.fixture(scope="module")
def router(reference):
    r = PayerRouter(load_deployment("rules", "payers"), reference)
    yield r
    r.base.close()
    for s in r.by_payer.values():
        s.close()


def hospital(partial: dict[str, Any]) -> Claim:
    return Claim.model_validate(complete_claim({"claim_type": "institutional", "place_of_service": None, **partial}))


def findings(router: PayerRouter, claim: Claim, today: dt.date = TODAY) -> list[tuple]:
    """(rule id, category, severity, lines, message) of the institutional and I/OCE findings, sorted."""
    result = router.scrub(claim, today=today)
    return sorted((f.rule_id, f.category, f.severity, f.lines, f.message) for f in result.findings
                  if f.category in CATEGORIES)


@pytest.mark.parametrize("tob, problem", [
    ("0131", None), ("131", None), ("0111", None), ("081A", None), ("0329", None), ("0771", None),
    ("0999", "facility type 9 does not exist (1-4, 6, 7, 8)"),
    ("0171", "bill classification 7 does not exist for a hospital (facility type 1: 1, 2, 3, 4, 8)"),
    ("013A", "frequency A (admission/election notice) is used only on hospice bills (81x, 82x)"),
    ("0139", "frequency 9 (final claim for a home health PPS period) is used only on home health bills (3x)"),
    ("0136", "frequency code 6 does not exist"),
    ("13", "it is not a type of bill: 4 characters, a leading 0, then facility type, bill classification and "
           "frequency (e.g. 0111, 0131)"),
])
def test_type_of_bill_shape_and_meaning(tob, problem):
    assert bill_type_problem(tob) == problem


def test_outpatient_claim_gets_the_code_editor_edits_by_line(router):
    claim = hospital({
        "type_of_bill": "0131", "statement_from": "2026-03-02", "statement_to": "2026-03-03",
        "lines": [
            {"revenue_code": "0510", "procedure_code": "G0463", "service_date": "2026-03-02"},
            {"revenue_code": "0360", "procedure_code": "45378", "service_date": "2026-03-02"},
            {"revenue_code": "0360", "procedure_code": "44140", "service_date": "2026-03-02"},
            {"revenue_code": "0510", "procedure_code": "99213", "service_date": "2026-03-03"},
            {"revenue_code": "9999", "procedure_code": "G0463", "service_date": "2026-03-03"},
            {"revenue_code": "0360", "procedure_code": None, "service_date": "2026-03-03"},
            {"revenue_code": "0250", "procedure_code": None, "service_date": "2026-03-05"},
        ]})
    assert findings(router, claim) == sorted([
        ("line-outside-statement-period", "institutional", "error", [7],
         "Line 7: 2026-03-05 is after the statement period's last day, 2026-03-03"),
        ("revenue-code-invalid", "institutional", "error", [5],
         "Line 5: revenue code 9999 is not on the I/OCE revenue code list (I/OCE edit 41, return to provider)"),
        ("revenue-code-requires-hcpcs", "institutional", "error", [6],
         "Line 6: revenue code 0360 needs a CPT/HCPCS code on a 0131 bill (I/OCE edit 48, return to provider)"),
        ("oce-62-not-recognized-by-opps", "outpatient_code_editor", "error", [4],
         "Line 4: 99213 (status indicator B) is not recognized by OPPS; an alternate code for the same service "
         "may be available (I/OCE edit 62: return to provider)"),
        ("oce-18-inpatient-only", "outpatient_code_editor", "error", [3],
         "Line 3: 44140 is on Medicare's inpatient-only list (status indicator C) and is not paid on an outpatient "
         "0131 bill (I/OCE edit 18: line item denial; the other lines of that day are denied with edit 49)"),
        ("oce-21-visit-without-25", "outpatient_code_editor", "error", [1],
         "Line 1: the visit G0463 is on the same day as 45378 (line 2, SI T) without modifier 25 (I/OCE edit 21: "
         "return to provider)"),
        *[("oce-49-same-day-as-inpatient-only", "outpatient_code_editor", "error", [n],
           f"Line {n} (revenue code {revenue}) is on the same day as the inpatient-only procedure 44140 (line 3), "
           "denied with edit 18 (I/OCE edit 49, service on same day as inpatient procedure: line item denial)")
          for n, revenue in ((1, "0510"), (2, "0360"))],
    ])


def test_the_same_services_on_an_inpatient_or_professional_claim_get_no_code_editor_edit(router):
    lines = [{"revenue_code": "0360", "procedure_code": "44140"}, {"revenue_code": "0510", "procedure_code": "99213"}]
    inpatient = hospital({"type_of_bill": "0111", "admission_date": "2026-01-04", "admission_type": "3",
                          "admission_source": "1", "patient_status": "01", "lines": lines})
    assert findings(router, inpatient) == []
    professional = Claim.model_validate(complete_claim({"lines": [{"procedure_code": "44140"}]}))
    assert findings(router, professional) == []


def test_inpatient_claim_admission_status_and_mce_procedure_edits(router):
    claim = hospital({
        "type_of_bill": "0111", "admission_date": "2026-03-01", "discharge_date": "2026-03-05",
        "patient_status": "08",
        "procedures": [{"code": "00F3XZZ", "date": "2026-03-02"}, {"code": "02WA3QZ", "date": "2026-03-02"},
                       {"code": "0SRC0J", "date": "2026-03-03"}],
        "lines": [{"revenue_code": "0120", "procedure_code": None, "service_date": "2026-03-01"}]})
    assert findings(router, claim) == sorted([
        ("inpatient-admission-type-missing", "institutional", "error", [],
         "Type of bill 0111 is an inpatient bill and has no type of admission (priority)"),
        ("inpatient-admission-source-missing", "institutional", "error", [],
         "Type of bill 0111 is an inpatient bill and has no point of origin (source of admission)"),
        ("patient-status-invalid", "institutional", "error", [],
         "The patient discharge status '08' is not a NUBC patient status code"),
        ("inpatient-procedure-code-invalid", "institutional", "error", [],
         "Procedure code(s) 0SRC0J (ICD-10-PCS FY2026): not valid ICD-10-PCS codes"),
        ("mce-procedure-noncovered", "institutional", "error", [],
         "Procedure(s) 00F3XZZ (never covered by Medicare as an inpatient procedure) (MCE v43.1 (FY2026))"),
        ("mce-procedure-limited-coverage", "institutional", "warning", [],
         "Procedure(s) 02WA3QZ are covered only in limited circumstances (MCE v43.1 (FY2026))"),
    ])


def test_mce_procedure_sex_edit_applies_by_version(router):
    """0UT90ZZ is female only in MCE v37 (FY2020-FY2025); v43.1 (FY2026) has no procedure sex lists."""
    def male(discharge: str) -> Claim:
        return hospital({"type_of_bill": "0111", "admission_date": discharge, "discharge_date": discharge,
                         "admission_type": "3", "admission_source": "1", "patient_status": "01",
                         "patient": {"sex": "M"}, "procedures": [{"code": "0UT90ZZ", "date": discharge}],
                         "lines": [{"revenue_code": "0120", "procedure_code": None, "service_date": discharge}]})
    assert findings(router, male("2024-03-05"), today=dt.date(2024, 4, 1)) == [
        ("mce-procedure-sex-conflict", "institutional", "error", [],
         "Procedure(s) 0UT90ZZ (female only) conflict with the patient's sex (MCE v37 (FY2020), standing in for FY2024, which has no MCE loaded)")]
    assert findings(router, male("2026-03-05")) == []


def test_837i_with_the_ub04_loops(router):
    """837I_contract11 (type of bill 111, CL1*1*7*01: point of origin 7, deleted by NUBC in 2010), and the
    same interchange as an outpatient bill (13x) billing 44140, an inpatient-only procedure."""
    text = (FIXTURES / "x12-contract11" / "837I_contract11.837i").read_text(encoding="ascii")

    def scrub(x12: str) -> list[tuple]:
        ((read),) = list(iter_claims(io.StringIO(x12)))
        claim = Claim.model_validate(read.claim)
        result = router.scrub(claim, today=dt.date(2026, 11, 27),
                              found=[Finding.model_validate(f) for f in read.findings])
        return sorted((f.rule_id, f.category, f.lines) for f in result.findings if f.category in CATEGORIES)

    assert scrub(text) == [("admission-source-invalid", "institutional", [])]
    outpatient = text.replace("CLM*PCN-I1*5200.00***11:A:1", "CLM*PCN-I1*5200.00***13:A:1") \
                     .replace("SV2*0360*HC:27130", "SV2*0360*HC:44140")
    # line 1 bills room and board (0120, status indicator B) without a HCPCS code: edit 48 on a 13x bill;
    # it is on the day of the inpatient-only 44140, so it is denied with edit 49 too
    assert scrub(outpatient) == [("admission-source-invalid", "institutional", []),
                                 ("oce-18-inpatient-only", "outpatient_code_editor", [2]),
                                 ("oce-49-same-day-as-inpatient-only", "outpatient_code_editor", [1]),
                                 ("revenue-code-requires-hcpcs", "institutional", [1])]


def test_json_api_reports_the_inpatient_only_denial(data_dir):
    claim = complete_claim({"claim_type": "institutional", "place_of_service": None, "type_of_bill": "0131",
                            "lines": [{"revenue_code": "0360", "procedure_code": "44140"}]})
    with TestClient(create_app()) as client:
        body = client.post("/v1/claims/scrub", json=claim).json()
    assert body["status"] == "fail"
    assert [(f["rule_id"], f["category"], f["lines"], f["carc"], f["rarc"]) for f in body["findings"]
            if f["category"] in CATEGORIES] == [("oce-18-inpatient-only", "outpatient_code_editor", [1], "CO-96", "N428")]


def test_separate_procedure_edit_45_and_the_day_of_an_inpatient_only_procedure_edit_49(router):
    """31725 is SI C on the separate-procedure list: with 45378 (T) that day it is edit 45, alone on its day
    nothing else is denied; 44140 (SI C, not a separate procedure) is edit 18 and every other line of its
    day, with or without a HCPCS code, is edit 49; a line of another day is not."""
    claim = hospital({
        "type_of_bill": "0131", "statement_from": "2026-03-02", "statement_to": "2026-03-04",
        "lines": [
            {"revenue_code": "0360", "procedure_code": "31725", "service_date": "2026-03-02"},
            {"revenue_code": "0360", "procedure_code": "45378", "service_date": "2026-03-02"},
            {"revenue_code": "0510", "procedure_code": "G0463", "modifiers": ["25"], "service_date": "2026-03-02"},
            {"revenue_code": "0360", "procedure_code": "44140", "service_date": "2026-03-03"},
            {"revenue_code": "0250", "procedure_code": None, "service_date": "2026-03-03"},
            {"revenue_code": "0300", "procedure_code": "80053", "service_date": "2026-03-04"},
        ]})
    assert findings(router, claim) == sorted([
        ("oce-45-inpatient-separate-procedure", "outpatient_code_editor", "error", [1],
         "Line 1: 31725 is an inpatient-only separate procedure (status indicator C) done with a T or J1 procedure "
         "that day; it is not paid separately (I/OCE edit 45, inpatient separate procedures not paid: line item "
         "rejection)"),
        ("oce-18-inpatient-only", "outpatient_code_editor", "error", [4],
         "Line 4: 44140 is on Medicare's inpatient-only list (status indicator C) and is not paid on an outpatient "
         "0131 bill (I/OCE edit 18: line item denial; the other lines of that day are denied with edit 49)"),
        ("oce-49-same-day-as-inpatient-only", "outpatient_code_editor", "error", [5],
         "Line 5 (revenue code 0250) is on the same day as the inpatient-only procedure 44140 (line 4), denied with "
         "edit 18 (I/OCE edit 49, service on same day as inpatient procedure: line item denial)"),
    ])


@pytest.mark.parametrize("tob, revenue, fired", [
    ("0131", "0900", True),   # outpatient hospital
    ("0851", "0960", False),  # critical access hospital, professional fee revenue code 096x: bypassed
    ("0851", "0510", True),   # critical access hospital, clinic revenue code
    ("0111", "0900", False),  # inpatient: not an I/OCE bill
])
def test_status_indicator_m_is_edit_72_unless_bypassed(router, tob, revenue, fired):
    """G0017 has OPPS status indicator M (not billable to the MAC) in hcpcs_opps_2026q2."""
    claim = hospital({"type_of_bill": tob, "admission_date": "2026-01-05", "admission_type": "3",
                      "admission_source": "1", "patient_status": "01",
                      "lines": [{"revenue_code": revenue, "procedure_code": "G0017"}]})
    expected = [("oce-72-not-billable-to-mac", "outpatient_code_editor", "error", [1],
                 f"Line 1: G0017 has status indicator M: it is not billable to the Medicare Administrative Contractor "
                 f"on a {tob} bill (I/OCE edit 72: return to provider)")]
    assert [f for f in findings(router, claim) if f[0].startswith("oce-")] == (expected if fired else [])
