"""Code sets by date (issue 15): old claims are not judged by today's code sets.

A claim dated before 2015-10-01, or whose diagnoses are ICD-9-CM (837 HI BK/BF, FHIR
http://hl7.org/fhir/sid/icd-9-cm, contract `code_system: icd9cm`), gets one `dx-code-set-not-loaded`
warning instead of "not an ICD-10-CM code"; ICD-9 codes keep their form (E8888, never E88.88); a code
of the other revision than the claim's date is `dx-code-set-mismatch`; a HCPCS code the table lacks on
a date outside the quarters held is `hcpcs-code-set-not-loaded`; a claim without any date of service
has its diagnoses judged at its submission date; `/v1/data` says which dates each code set covers.
Through the service (X12, FHIR, /v1/codes, /v1/data) and the pipeline (JSON)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scrubber.contract.claim import Claim
from scrubber.pipeline.normalise import normalise
from scrubber.pipeline.scrubber import Scrubber, standard_enrichers
from scrubber.refdata.coverage import quarter_end, quarter_start
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.loader import load_ruleset
from scrubber.service.app import create_app

FIXTURES = Path(__file__).parents[1] / "fixtures"
ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
HELD = "ICD-10-CM held: FY2025 to FY2027, dates of service 2024-10-01 to 2027-09-30"
PTP_EXCERPT = "ncci-ptp-table-excerpt"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture(scope="module")
def scrubber(reference):
    s = Scrubber(load_ruleset(), enrichers=standard_enrichers(reference))
    yield s
    s.close()


def x12(client: TestClient, text: str) -> list[dict[str, Any]]:
    response = client.post("/v1/claims/scrub/x12", content=text, headers={"content-type": "text/plain"})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def fhir(client: TestClient, resource: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/v1/claims/scrub/fhir", content=json.dumps(resource),
                           headers={"content-type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def coded(record: dict[str, Any], *categories: str) -> list[tuple]:
    return [(f["rule_id"], f["severity"], f["lines"], f["field"]) for f in record["findings"]
            if not categories or f["category"] in categories]


def example1() -> str:
    """An 837P of 2006 whose diagnoses are ICD-9-CM: HI*BK:0340*BF:V7389."""
    return (FIXTURES / "x12" / "837_005010X222A2__demo.example1.837").read_text()


def synthea() -> dict[str, Any]:
    """A Synthea-shaped professional Claim dated by billablePeriod (2026-03-10), one SNOMED diagnosis."""
    return json.loads((FIXTURES / "fhir" / "synthea-claim-billable-period.json").read_text())


# ----------------------------------------------------------------------------- X12

def test_an_837_of_2006_with_bk_codes_gets_one_not_loaded_warning_and_no_invalid_code(client):
    (record,) = x12(client, example1())
    assert coded(record, "dx_invalid") == [("dx-code-set-not-loaded", "warning", [], "diagnoses")]
    (warning,) = [f for f in record["findings"] if f["category"] == "dx_invalid"]
    assert warning["message"] == (
        "The diagnoses were not checked: the claim's first date of service, 2006-10-03, is before 2015-10-01, "
        f"when ICD-9-CM applied, and no ICD-9-CM code set is loaded ({HELD})")
    assert [f["rule_id"] for f in record["findings"]] == [
        "x12-submission-date", "payer-profile-unknown", "dx-code-set-not-loaded", PTP_EXCERPT]
    assert record["status"] == "warn"


def test_the_same_837_dated_2016_has_each_icd9_code_reported_once_as_a_mismatch(client):
    text = example1().replace("D8*20061003", "D8*20161003").replace("D8*20061010", "D8*20161010")
    (record,) = x12(client, text.replace("*244579*20061015*", "*244579*20161015*"))
    assert coded(record, "dx_invalid") == [("dx-code-set-mismatch", "error", [1, 2], "diagnoses[1].code"),
                                           ("dx-code-set-mismatch", "error", [3, 4], "diagnoses[2].code")]
    assert [f["message"] for f in record["findings"] if f["category"] == "dx_invalid"] == [
        f"Diagnosis {n} {code} is an ICD-9-CM code, but the claim's first date of service is 2016-10-03: from "
        "2015-10-01 diagnoses are coded in ICD-10-CM" for n, code in ((1, "0340"), (2, "V7389"))]
    assert record["status"] == "fail"


def test_the_837_of_2006_sent_with_icd10_qualifiers_has_each_code_reported_once_as_a_mismatch(client):
    """ABK/ABF mark ICD-10-CM codes (code_system icd10cm): on services of 2006 each is the wrong revision,
    reported once by the rule, not taken as an ICD-9-CM code left unchecked."""
    (record,) = x12(client, example1().replace("HI*BK:0340*BF:V7389", "HI*ABK:A379*ABF:Z0000"))
    assert coded(record, "dx_invalid") == [("dx-code-set-mismatch", "error", [1, 2], "diagnoses[1].code"),
                                           ("dx-code-set-mismatch", "error", [3, 4], "diagnoses[2].code")]
    assert [f["message"] for f in record["findings"] if f["category"] == "dx_invalid"] == [
        f"Diagnosis {n} {code} is sent as an ICD-10-CM code, but the claim's first date of service is 2006-10-03: "
        "before 2015-10-01 diagnoses are coded in ICD-9-CM" for n, code in ((1, "A37.9"), (2, "Z00.00"))]
    assert not [f for f in record["findings"] if f["rule_id"] == "x12-icd10-before-icd10"]
    stored = client.get(f"/v1/scrubs/{record['scrub_id']}").json()
    assert stored["claim"]["diagnoses"] == [{"code": "A37.9", "code_system": "icd10cm"},
                                            {"code": "Z00.00", "code_system": "icd10cm"}]


# ----------------------------------------------------------------------------- FHIR

def test_a_fhir_claim_of_2014_coded_in_icd9cm_gets_the_warning_and_keeps_e8888(client):
    resource = synthea()
    resource["contained"][3]["code"] = {"coding": [{"system": ICD9CM, "code": "E8888"}]}
    resource["billablePeriod"] = {"start": "2014-06-03", "end": "2014-06-03"}
    resource["created"] = "2014-06-10"
    (record,) = fhir(client, resource)
    assert coded(record, "dx_invalid") == [("dx-code-set-not-loaded", "warning", [], "diagnoses")]
    assert "2014-06-03, is before 2015-10-01" in record["findings"][0]["message"]
    stored = client.get(f"/v1/scrubs/{record['scrub_id']}").json()
    assert stored["claim"]["diagnoses"] == [{"code": "E8888", "code_system": "icd9cm"}]


def test_a_fhir_claim_without_any_date_has_its_snomed_diagnosis_judged_at_its_creation(client):
    resource = synthea()
    del resource["billablePeriod"]  # no item has a date either: the claim is judged at `created`
    (record,) = fhir(client, resource)
    assert coded(record, "dx_invalid") == [("dx-code-unknown", "error", [1], "diagnoses[1].code")]
    (unknown,) = [f for f in record["findings"] if f["rule_id"] == "dx-code-unknown"]
    assert unknown["message"] == "Diagnosis 1 44054006 is not an ICD-10-CM code in FY2026"


# ----------------------------------------------------------------------------- JSON claims

def scrub(scrubber: Scrubber, partial: dict[str, Any]):
    return scrubber.scrub(Claim.model_validate(complete_claim(partial)), today=dt.date(2026, 11, 27))


def test_icd9_codes_are_never_given_an_icd10_dot():
    claim = Claim.model_validate(complete_claim({
        "submission_date": "2014-06-20", "lines": [{"service_date": "2014-06-03"}],
        "diagnoses": [{"code": "E8888"}, {"code": "v7389"}, {"code": "E88.810", "code_system": "icd10cm"}]}))
    assert [d.code for d in normalise(claim).diagnoses] == ["E8888", "V7389", "E88.810"]
    later = Claim.model_validate(complete_claim({"diagnoses": [{"code": "E8888", "code_system": "icd9cm"},
                                                                {"code": "e11.9"}]}))
    assert [d.code for d in normalise(later).diagnoses] == ["E8888", "E11.9"]


def test_an_icd10_code_sent_as_such_on_a_2014_claim_is_a_mismatch_and_the_others_are_not_checked(scrubber):
    result = scrub(scrubber, {"submission_date": "2014-06-20", "lines": [{"service_date": "2014-06-03"}],
                              "diagnoses": [{"code": "I10", "code_system": "icd10cm"}, {"code": "4019"}]})
    assert [(f.rule_id, f.severity, f.field) for f in result.findings] == [
        ("dx-code-set-mismatch", "error", "diagnoses[1].code"),
        ("dx-code-set-not-loaded", "warning", "diagnoses")]
    assert result.findings[0].message == (
        "Diagnosis 1 I10 is sent as an ICD-10-CM code, but the claim's first date of service is 2014-06-03: "
        "before 2015-10-01 diagnoses are coded in ICD-9-CM")


def test_an_icd10_claim_of_2015_10_01_is_judged_as_before(scrubber):
    result = scrub(scrubber, {"submission_date": "2015-10-05", "lines": [{"service_date": "2015-10-01"}],
                              "diagnoses": [{"code": "E11.99"}]})
    assert [(f.rule_id, f.message) for f in result.findings] == [
        ("dx-code-unknown", "Diagnosis 1 E11.99 is not an ICD-10-CM code in FY2025 (FY2016 is not loaded; judged "
                            "by the FY2025 code set)")]


@pytest.mark.parametrize(("day", "code", "expected"), [
    ("2004-03-01", "A9990", ["hcpcs-code-set-not-loaded"]),  # before 2019Q3: not in the table, not checked
    ("2019-06-30", "A9990", ["hcpcs-code-set-not-loaded"]),
    ("2019-07-01", "A9990", ["hcpcs-code-unknown"]),  # the first day of the earliest quarter held
    ("2026-06-30", "A9990", ["hcpcs-code-unknown"]),  # the last day of the latest quarter held (2026Q2)
    ("2026-07-01", "A9990", ["hcpcs-code-unknown"]),  # after the newest quarter held: judged by it
    ("2004-03-01", "G0008", []),  # held, undated: valid then
    ("2020-12-31", "J0693", ["hcpcs-code-not-yet-effective"]),  # judged on its quarters: 2021Q1 to 2021Q3
    ("2021-05-03", "J0693", []),
    ("2021-10-01", "J0693", ["hcpcs-code-terminated"]),
    ("2004-03-01", "A9155", []),  # held, ended 2025-03-31: valid in 2004
])
def test_hcpcs_codes_are_judged_on_the_quarters_held(scrubber, day, code, expected):
    partial = {"submission_date": day, "lines": [{"procedure_code": code, "service_date": day}]}
    result = scrub(scrubber, partial)
    assert [f.rule_id for f in result.findings if f.category == "procedure_invalid"] == expected


def test_the_hcpcs_warning_names_the_date_and_the_earliest_quarter_held(scrubber):
    result = scrub(scrubber, {"submission_date": "2004-03-20",
                              "lines": [{"procedure_code": "A9990", "service_date": "2004-03-01"}]})
    assert [(f.rule_id, f.lines, f.message) for f in result.findings if f.category == "procedure_invalid"] == [
        ("hcpcs-code-set-not-loaded", [1], "Line 1: A9990 was not checked: its date of service, 2004-03-01, is "
                                           "before 2019Q3, the earliest HCPCS quarter held (from 2019-07-01), and "
                                           "the code is not in the table")]


def test_a_date_after_the_newest_hcpcs_quarter_is_judged_by_it_and_the_finding_names_it(scrubber):
    result = scrub(scrubber, {"submission_date": "2026-11-20",
                              "lines": [{"procedure_code": "A9990", "service_date": "2026-11-02"}]})
    assert [(f.rule_id, f.lines, f.message) for f in result.findings if f.category == "procedure_invalid"] == [
        ("hcpcs-code-unknown", [1], "Line 1: A9990 is not a HCPCS Level II code (HCPCS release 2026Q2)")]


# ----------------------------------------------------------------------------- what is held

def test_v1_data_says_which_dates_each_code_set_covers(client):
    datasets = {d["name"]: d for d in client.get("/v1/data").json()["datasets"]}
    assert {name: (d["covers_from"], d["covers_to"]) for name, d in datasets.items()
            if d["covers_from"] or d["covers_to"]} == {
        "hcpcs": ("2019-07-01", "2026-06-30"),
        "icd10cm:2025": ("2024-10-01", "2025-09-30"), "icd10cm:2026": ("2025-10-01", "2026-09-30"),
        "icd10cm:2027": ("2026-10-01", "2027-09-30"),
        "icd10pcs:2026": ("2025-10-01", "2026-09-30"), "icd10pcs:2027": ("2026-10-01", "2027-09-30"),
        "mce:37": ("2019-10-01", "2025-09-30"), "mce:43": ("2025-10-01", "2026-09-30"),
        "mce:44": ("2026-10-01", "2027-09-30")}


def test_v1_codes_shows_an_icd9_code_as_sent_and_not_checked(client):
    body = client.get("/v1/codes/icd10cm/E8888", params={"date": "2014-06-03"}).json()
    assert (body["code"], body["valid"], body["status"]) == ("E8888", False, "code_set_not_loaded")
    assert body["detail"] == ("2014-06-03 is before 2015-10-01, when ICD-9-CM applied: no ICD-9-CM code set is "
                              "loaded, so the code was not checked")
    hcpcs = client.get("/v1/codes/hcpcs/A9990", params={"date": "2004-06-03"}).json()
    assert (hcpcs["valid"], hcpcs["status"]) == (False, "code_set_not_loaded")
    assert client.get("/v1/codes/hcpcs/A9990", params={"date": "2026-01-05"}).json()["status"] == "unknown"


@pytest.mark.parametrize(("day", "start", "end"), [
    ("2019-08-14", "2019-07-01", "2019-09-30"), ("2026-04-01", "2026-04-01", "2026-06-30"),
    ("2026-12-31", "2026-10-01", "2026-12-31"), ("2024-02-29", "2024-01-01", "2024-03-31")])
def test_quarter_bounds(day, start, end):
    d = dt.date.fromisoformat(day)
    assert (quarter_start(d).isoformat(), quarter_end(d).isoformat()) == (start, end)

