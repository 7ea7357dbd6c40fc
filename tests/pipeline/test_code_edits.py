"""Coding edits on reference data (scrubber.pipeline.enrich.coding_edits + rules/coding_*.yaml, rules/ncci.yaml):
the cases the shipped baseline cannot show, on a copy of the baseline database with a few rows
added in the tables' own columns (MAI 1 MUEs, dated HCPCS codes, hospital PTP edits, DME MUEs),
and the code lookup endpoint."""
from __future__ import annotations

import datetime as dt
import shutil
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scrubber.contract.claim import Claim
from scrubber.ruleset.examples import complete_claim
from scrubber.pipeline.scrubber import Scrubber, standard_enrichers
from scrubber.refdata.store import ReferenceData, Writer, database_path
from scrubber.ruleset.loader import load_ruleset

TODAY = dt.date(2026, 1, 15)


@pytest.fixture(scope="module")
def ruleset():
    return load_ruleset()


@pytest.fixture(scope="module")
def extended(tmp_path_factory, data_dir) -> ReferenceData:
    """The baseline plus constructed rows (each dataset replaced as an import would)."""
    path = database_path(tmp_path_factory.mktemp("extended"))
    shutil.copy(database_path(data_dir), path)
    writer = Writer(path)
    with writer.connect() as conn:
        baseline_hcpcs = list(conn.execute("SELECT * FROM hcpcs"))
        writer.replace(conn, "hcpcs", None, "import", "constructed", {"hcpcs": baseline_hcpcs + [
            ("Q9901", 0, "constructed: a code terminated at the end of 2024", 20200101, 20200101, 20241231),
            ("Q9902", 0, "constructed: a code effective from 2026-04-01", 20260401, 20260401, None)]})
        writer.replace(conn, "mue", "practitioner", "import", "constructed", {"mue": [
            ("practitioner", "20610", 2, 1, "constructed"), ("practitioner", "0009U", 2, 3, "constructed")]})
        writer.replace(conn, "mue", "dme", "import", "constructed", {"mue": [
            ("dme", "E0100", 1, 2, "constructed")]})
        conn.execute("INSERT OR IGNORE INTO ptp_rationale (text) VALUES ('Mutually exclusive procedures')")
        rationale = Writer.rationale_ids(conn)["Mutually exclusive procedures"]
        writer.replace(conn, "ncci-ptp", "hospital", "import", "constructed", {"ptp": [
            ("hospital", "29881", "29877", 20200101, None, 1, rationale)]})
    return ReferenceData(path)


@pytest.fixture(scope="module")
def scrubber(ruleset, extended):
    s = Scrubber(ruleset, enrichers=standard_enrichers(extended))
    yield s
    s.close()


def scrub(scrubber: Scrubber, partial: dict[str, Any]):
    return scrubber.scrub(Claim.model_validate(complete_claim(partial)), today=TODAY)


def findings(result, *categories: str) -> list[tuple]:
    return [(f.rule_id, f.category, f.severity, f.lines, f.message) for f in result.findings
            if f.category in categories]


# MUE -----------------------------------------------------------------------------------------

def test_mai_1_counts_the_units_of_one_line(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "20610", "units": 3}]})

    assert findings(result, "mue") == [(
        "mue-units-exceeded-line", "mue", "error", [1],
        "Line 1: 3 units of 20610 exceed the practitioner MUE of 2 per line (MAI 1; MUE practitioner table, "
        "release unknown)")]
    assert result.findings[0].carc == "CO-151" and result.findings[0].rarc == "N362"


def test_mai_1_allows_units_split_over_lines_with_a_modifier(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "20610", "units": 2, "modifiers": ["RT"]},
                                        {"procedure_code": "20610", "units": 2, "modifiers": ["LT"]}]})

    assert findings(result, "mue") == []


def test_mai_2_and_3_sum_units_per_date_and_name_the_lines(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "0009U", "units": 1},
                                        {"procedure_code": "99213"},
                                        {"procedure_code": "0009U", "units": 2, "modifiers": ["91"]}]})

    assert findings(result, "mue") == [(
        "mue-units-exceeded-day", "mue", "error", [1],
        "0009U on 2026-01-05: 3 units on line(s) 1, 3 exceed the practitioner MUE of 2 per date of "
        "service (MAI 3; MUE practitioner table, release unknown)")]


def test_a_dme_supplier_is_held_to_the_dme_mue_table(scrubber):
    dme = {"billing_provider": {"taxonomy": "332B00000X"},
           "lines": [{"procedure_code": "E0100", "units": 2}]}
    practitioner = {"lines": [{"procedure_code": "E0100", "units": 2}]}

    assert [f[0] for f in findings(scrub(scrubber, dme), "mue")] == ["mue-units-exceeded-day"]
    assert findings(scrub(scrubber, practitioner), "mue") == []


# HCPCS dates ---------------------------------------------------------------------------------

@pytest.mark.parametrize("day, expected", [
    ("2024-12-31", []),
    ("2025-01-01", [("hcpcs-code-terminated", "procedure_invalid", "error", [1],
                     "Line 1: Q9901 was terminated on 2024-12-31; the service is dated 2025-01-01")]),
])
def test_a_terminated_hcpcs_code_is_valid_through_its_termination_date(scrubber, day, expected):
    result = scrub(scrubber, {"lines": [{"procedure_code": "Q9901", "service_date": day}]})

    assert findings(result, "procedure_invalid") == expected


@pytest.mark.parametrize("day, expected", [
    ("2026-03-31", [("hcpcs-code-not-yet-effective", "procedure_invalid", "error", [1],
                     "Line 1: Q9902 takes effect on 2026-04-01; the service is dated 2026-03-31")]),
    ("2026-04-01", []),
])
def test_a_new_hcpcs_code_is_valid_from_its_effective_date(scrubber, day, expected):
    result = scrubber.scrub(Claim.model_validate(complete_claim(
        {"submission_date": "2026-04-15", "lines": [{"procedure_code": "Q9902", "service_date": day}]})),
        today=dt.date(2026, 4, 15))

    assert findings(result, "procedure_invalid") == expected


# PTP by setting ------------------------------------------------------------------------------

def _institutional(type_of_bill: str) -> dict:
    return {"claim_type": "institutional", "type_of_bill": type_of_bill,
            "lines": [{"procedure_code": "29881", "revenue_code": "0360"},
                      {"procedure_code": "29877", "revenue_code": "0360"}]}


def test_an_outpatient_hospital_claim_is_checked_against_the_hospital_ptp_table(scrubber):
    result = scrub(scrubber, _institutional("0131"))

    assert findings(result, "ncci_ptp") == [(
        "ncci-ptp-modifier-required", "ncci_ptp", "error", [2],
        "Line 2: 29877 is column two of the NCCI hospital PTP edit with 29881 on line 1 (modifier "
        "indicator 1, in effect from 2020-01-01; Mutually exclusive procedures) and neither line "
        "carries an NCCI-associated modifier (NCCI hospital table, release unknown)")]


def test_inpatient_claims_and_professional_claims_do_not_use_the_hospital_table(scrubber):
    professional = {"lines": [{"procedure_code": "29881"}, {"procedure_code": "29877"}]}

    assert findings(scrub(scrubber, _institutional("0111")), "ncci_ptp") == []
    assert [f[0] for f in findings(scrub(scrubber, professional), "ncci_ptp")] == ["ncci-ptp-table-excerpt"]


def test_a_ptp_finding_names_both_codes_the_indicator_and_the_column_two_line(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "36591", "service_date": "2023-12-31"},
                                        {"procedure_code": "0001A", "service_date": "2023-12-31"}]})

    assert [f for f in findings(result, "ncci_ptp") if f[2] != "info"] == [(
        "ncci-ptp-not-allowed", "ncci_ptp", "error", [1],
        "Line 1: 36591 is column two of the NCCI practitioner PTP edit with 0001A on line 2 (modifier "
        "indicator 0, in effect from 2022-01-01; CPT Manual or CMS manual coding instruction); no "
        "modifier allows both on the same day (NCCI practitioner table, release 2026Q3, a shipped excerpt of "
        "154 rows, not the whole CMS table)")]
    assert result.findings[0].carc == "CO-97" and result.findings[0].rarc == "M80"


# Code lookup ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(ruleset, extended, tmp_path_factory):
    from scrubber.service.app import create_app
    from scrubber.audit.store import AuditStore

    store = AuditStore(f"sqlite:///{tmp_path_factory.mktemp('codes') / 'a.db'}")
    app = create_app(Scrubber(ruleset, enrichers=standard_enrichers(extended, store)), store, extended)
    with TestClient(app) as c:
        yield c
    store.close()


def test_lookup_of_an_icd10cm_header_lists_its_billable_children(client):
    body = client.get("/v1/codes/icd10cm/E11", params={"date": "2026-01-05"}).json()

    assert (body["code"], body["valid"], body["billable"], body["status"], body["fiscal_year"]) == \
        ("E11", False, False, "header", 2026)
    assert "E11.9" in body["children"] and "E11.65" in body["children"]
    assert body["description"] == "Type 2 diabetes mellitus"


def test_lookup_of_a_billable_icd10cm_code_with_or_without_its_dot(client):
    for code in ("E11.9", "e119"):
        body = client.get(f"/v1/codes/icd10cm/{code}", params={"date": "2025-09-30"}).json()
        assert (body["code"], body["valid"], body["billable"], body["status"], body["fiscal_year"]) == \
            ("E11.9", True, True, "valid", 2025)


@pytest.mark.parametrize("day, valid, status", [("2024-12-31", True, "valid"), ("2025-01-01", False, "terminated")])
def test_lookup_of_a_modifier_on_both_sides_of_its_termination(client, day, valid, status):
    body = client.get("/v1/codes/modifier/JG", params={"date": day}).json()

    assert (body["valid"], body["status"], body["termination_date"]) == (valid, status, "2024-12-31")


def test_lookup_of_hcpcs_cpt_and_place_of_service(client):
    hcpcs = client.get("/v1/codes/hcpcs/Q9902", params={"date": "2026-03-31"}).json()
    cpt = client.get("/v1/codes/cpt/0001U").json()
    pos = client.get("/v1/codes/pos/11").json()
    unknown_pos = client.get("/v1/codes/pos/30").json()

    assert (hcpcs["valid"], hcpcs["status"], hcpcs["effective_date"]) == (False, "not_yet_effective", "2026-04-01")
    assert (cpt["valid"], cpt["status"], cpt["description"]) == (True, "valid_shape", None)
    assert (pos["valid"], pos["status"], pos["description"]) == (True, "valid", "Office")
    assert (unknown_pos["valid"], unknown_pos["status"]) == (False, "unknown")


def test_lookup_of_an_unknown_system_or_a_malformed_code_is_a_422(client):
    assert client.get("/v1/codes/loinc/1234-5").status_code == 422
    assert client.get("/v1/codes/icd10cm/E11;DROP").status_code == 422
    assert client.get("/v1/codes/icd10cm/E11", params={"date": "2026-02-30"}).status_code == 422


# ICD-10-CM fiscal year ------------------------------------------------------------------------

def test_an_inpatient_claim_is_coded_by_the_discharge_dates_fiscal_year(scrubber):
    """E11.A exists from FY2026 (2025-10-01): an inpatient stay admitted in September and
    discharged in October uses the FY2026 code set; an outpatient visit in September does not."""
    inpatient = {"claim_type": "institutional", "type_of_bill": "0111", "admission_date": "2025-09-28",
                 "discharge_date": "2025-10-02", "diagnoses": [{"code": "E11.A"}],
                 "lines": [{"revenue_code": "0120", "service_date": "2025-09-28", "service_date_end": "2025-10-02"}]}
    outpatient = {"diagnoses": [{"code": "E11.A"}], "lines": [{"service_date": "2025-09-28"}]}

    assert findings(scrub(scrubber, inpatient), "dx_invalid") == []
    assert findings(scrub(scrubber, outpatient), "dx_invalid") == [(
        "dx-code-not-yet-valid", "dx_invalid", "error", [1],
        "Diagnosis 1 E11.A was added to ICD-10-CM for FY2026 (dates of service from 2025-10-01); it cannot "
        "be used for FY2025 dates of service")]


def test_a_claim_after_the_newest_loaded_year_is_judged_by_it_and_says_so(scrubber):
    result = scrubber.scrub(Claim.model_validate(complete_claim(
        {"submission_date": "2027-11-20", "diagnoses": [{"code": "E11"}],
         "lines": [{"service_date": "2027-11-02"}]})), today=dt.date(2027, 11, 20))

    [finding] = findings(result, "dx_invalid")
    assert finding[0] == "dx-code-header"
    assert "(FY2028 is not loaded; judged by the FY2027 code set)" in finding[4]


def test_an_imported_dataset_is_kept_when_the_baseline_is_loaded_again(tmp_path, data_dir):
    from scrubber.refdata.store import datasets
    from scrubber.refdata.baseline import ensure_baseline

    shutil.copy(database_path(data_dir), database_path(tmp_path))
    writer = Writer(database_path(tmp_path))
    with writer.connect() as conn:
        writer.replace(conn, "mue", "practitioner", "import", "MCR_MUE_PractitionerServices.csv",
                       {"mue": [("practitioner", "20610", 2, 1, "imported")]})
        # fewer rows than a whole table: recorded as an excerpt, and kept all the same
        writer.replace(conn, "pos", None, "import", "pos.csv", {"pos": [("11", "Office", 20000101, None)]},
                       whole_rows=40)
        conn.execute("UPDATE dataset SET source = 'baseline:older-release' WHERE name = 'aoc'")

    ensure_baseline(tmp_path)

    with writer.connect() as conn:
        by_name = {d.name: d for d in datasets(conn)}
        assert (by_name["mue:practitioner"].source, by_name["mue:practitioner"].rows) == ("import", 1)
        assert (by_name["pos"].source, by_name["pos"].rows, by_name["pos"].excerpt) == ("import:excerpt", 1, True)
        assert by_name["aoc"].source.startswith("baseline:") and by_name["aoc"].source != "baseline:older-release"
        assert by_name["aoc"].rows == 8556


@pytest.mark.parametrize("day, expected", [("2020-12-31", []), ("2021-01-01", ["add-on-without-primary"])])
def test_an_add_on_edit_applies_from_its_effective_date(scrubber, day, expected):
    result = scrub(scrubber, {"lines": [{"procedure_code": "99417", "service_date": day}]})

    assert [f.rule_id for f in result.findings if f.category == "add_on"] == expected


def test_an_add_on_with_its_primary_on_another_line_of_the_same_day_passes(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "99417", "units": 2}, {"procedure_code": "99205"}]})

    assert [f for f in result.findings if f.category == "add_on"] == []
