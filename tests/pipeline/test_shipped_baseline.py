"""What a fresh install edits with, out of the box (issue 11): the shipped baseline of
scrubber/data/ (built by scripts/build-baseline), through the rules and the engine, and the release
each finding names. Every claim here is judged by the shipped tables only (the session's data
directory, loaded by scrubber.refdata.baseline.ensure_baseline)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from scrubber.contract.claim import Claim
from scrubber.pipeline.scrubber import Scrubber, standard_enrichers
from scrubber.pipeline.enrich.coding_edits import look_up
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.loader import load_ruleset


@pytest.fixture(scope="module")
def scrubber(reference):
    s = Scrubber(load_ruleset(), enrichers=standard_enrichers(reference))
    yield s
    s.close()


def scrub(scrubber: Scrubber, partial: dict[str, Any], day: str):
    """A claim with every line on `day`, submitted a few days later."""
    on = dt.date.fromisoformat(day)
    claim = complete_claim({**partial, "submission_date": (on + dt.timedelta(days=5)).isoformat(),
                            "lines": [{**line, "service_date": day} for line in partial["lines"]]})
    return scrubber.scrub(Claim.model_validate(claim), today=on + dt.timedelta(days=5))


def found(result, *categories: str) -> list[tuple]:
    return [(f.rule_id, f.severity, f.lines, f.message) for f in result.findings if f.category in categories]


# ICD-10-CM FY2027 and the MCE by version -----------------------------------------------------

def test_a_code_added_for_fy2027_is_valid_from_2026_10_01_and_not_before(scrubber):
    claim = {"diagnoses": [{"code": "C78.31"}], "lines": [{"procedure_code": "99213"}]}

    assert found(scrub(scrubber, claim, "2026-11-02"), "dx_invalid") == []
    assert found(scrub(scrubber, claim, "2026-09-30"), "dx_invalid") == [(
        "dx-code-not-yet-valid", "error", [1],
        "Diagnosis 1 C78.31 was added to ICD-10-CM for FY2027 (dates of service from 2026-10-01); it cannot be "
        "used for FY2026 dates of service")]


def test_a_code_expanded_for_fy2027_is_a_header_by_the_fy2027_code_set(scrubber):
    """D69.1 was billable in FY2026; FY2027 splits it into D69.11 and D69.19."""
    claim = {"diagnoses": [{"code": "D69.1"}], "lines": [{"procedure_code": "99213"}]}

    assert found(scrub(scrubber, claim, "2026-09-30"), "dx_invalid") == []
    [(rule_id, severity, lines, message)] = found(scrub(scrubber, claim, "2026-11-02"), "dx_invalid")
    assert (rule_id, severity, lines) == ("dx-code-header", "error", [1])
    assert "a header code in FY2027" in message and "not loaded" not in message


@pytest.mark.parametrize("day, release", [
    ("2026-11-02", "MCE v44 (FY2027)"), ("2026-05-04", "MCE v43.1 (FY2026)"),
    ("2023-05-01", "MCE v37 (FY2020), standing in for FY2023, which has no MCE loaded")])
def test_each_fiscal_year_is_edited_by_its_own_mce_version_and_the_finding_says_which(scrubber, day, release):
    """The baseline holds v37 (FY2020), v43.1 and v44: a FY2023 claim is edited by v37, and says so."""
    claim = {"patient": {"birth_date": "1950-01-01"}, "diagnoses": [{"code": "E30.1"}],
             "lines": [{"procedure_code": "99213"}]}

    [(rule_id, severity, lines, message)] = found(scrub(scrubber, claim, day), "dx_age")
    assert (rule_id, severity, lines) == ("dx-age-conflict", "error", [1])
    assert message.endswith(f"({release})")


def test_the_mce_maternity_range_is_9_to_64_from_fy2020(scrubber):
    claim = {"patient": {"birth_date": "1962-03-01"}, "diagnoses": [{"code": "O09.01"}],
             "lines": [{"procedure_code": "99213"}]}

    assert found(scrub(scrubber, claim, "2026-05-04"), "dx_age") == []  # 64 in FY2026: within 9-64
    [(rule_id, _, _, message)] = found(scrub(scrubber, claim, "2019-09-30"), "dx_age")  # 57 in FY2019: 12-55
    assert rule_id == "dx-age-conflict" and "maternity (age 12-55)" in message


# NCCI: the complete hospital table, the practitioner excerpt --------------------------------------

def outpatient(*codes: str) -> dict:
    return {"claim_type": "institutional", "type_of_bill": "0131",
            "lines": [{"procedure_code": code, "revenue_code": "0360"} for code in codes]}


def test_an_outpatient_hospital_claim_is_edited_by_the_complete_hospital_table(scrubber):
    """29881/29877 (knee arthroscopy) is not in the practitioner excerpt: only the complete hospital table has it."""
    result = scrub(scrubber, outpatient("29881", "29877"), "2026-05-04")

    assert found(result, "ncci_ptp") == [(
        "ncci-ptp-not-allowed", "error", [2],
        "Line 2: 29877 is column two of the NCCI hospital PTP edit with 29881 on line 1 (modifier indicator 0, in "
        "effect from 2019-07-01; rationale not given in the I/OCE table); no modifier allows both on the same day "
        "(NCCI hospital table, release 2026Q2)")]


def test_a_hospital_edit_deleted_at_a_quarters_end_applies_through_that_day(scrubber):
    """0001A/0591T: in the hospital table from 2022-01-01 through 2023-12-31 (indicator 1)."""
    assert [f[0] for f in found(scrub(scrubber, outpatient("0001A", "0591T"), "2023-12-31"), "ncci_ptp")] == \
        ["ncci-ptp-modifier-required"]
    assert found(scrub(scrubber, outpatient("0001A", "0591T"), "2024-01-02"), "ncci_ptp") == []


def test_a_professional_claim_says_the_practitioner_table_is_only_an_excerpt(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "29881"}, {"procedure_code": "29877"}]}, "2026-05-04")

    assert found(result, "ncci_ptp") == [(
        "ncci-ptp-table-excerpt", "info", [],
        "The claim has two or more procedure codes on one date of service, and they were checked against the NCCI "
        "practitioner table, release 2026Q3, a shipped excerpt of 154 rows, not the whole CMS table: a pair outside "
        "the excerpt was not checked, so no NCCI PTP finding does not mean the pairs are allowed")]
    assert result.status == "pass"
    assert found(scrub(scrubber, outpatient("99213", "36415"), "2026-05-04"), "ncci_ptp") == []  # complete table


def test_codes_the_mue_excerpt_lacks_are_named_as_not_checked(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "97110", "units": 3}, {"procedure_code": "0001U"},
                                        {"procedure_code": "99213"}]}, "2026-05-04")

    assert [(f[0], f[1], f[3]) for f in found(result, "mue")] == [(
        "mue-table-excerpt", "info",
        "Units were checked against the MUE practitioner table, release 2026Q3, a shipped excerpt of 44 rows, not "
        "the whole CMS table, which has no row for 97110 (each billed with more than one unit): those codes' units "
        "were not checked against any MUE")]


# Add-on codes: all three types ---------------------------------------------------------------

def test_a_type_1_add_on_code_from_the_full_list_needs_its_primary(scrubber):
    alone = scrub(scrubber, {"lines": [{"procedure_code": "22552"}]}, "2026-05-04")
    with_primary = scrub(scrubber, {"lines": [{"procedure_code": "22551"}, {"procedure_code": "22552"}]}, "2026-05-04")

    assert found(alone, "add_on") == [(
        "add-on-without-primary", "error", [1],
        "Line 1: add-on code 22552 is billed on 2026-05-04 without any of its primary codes (22551) on that date "
        "(NCCI add-on edit type 1; add-on code edits, release 2026Q2)")]
    assert found(with_primary, "add_on") == []


def test_type_2_and_type_3_add_on_codes_are_warnings(scrubber):
    type2 = scrub(scrubber, {"lines": [{"procedure_code": "15777"}]}, "2026-05-04")
    type3 = scrub(scrubber, {"lines": [{"procedure_code": "64999"}, {"procedure_code": "64727"}]}, "2026-05-04")

    assert [(f[0], f[1], f[2]) for f in found(type2, "add_on")] == [("add-on-type2-without-other-procedure", "warning", [1])]
    assert [(f[0], f[1], f[2]) for f in found(type3, "add_on")] == [("add-on-type3-without-listed-primary", "warning", [2])]
    assert "CMS lists no primary codes" in found(type2, "add_on")[0][3]
    assert "(64702, 64704, 64708, 64712, 64713, 64714, 64716, 64718 and 4 more)" in found(type3, "add_on")[0][3]


# HCPCS Level II by date of service -------------------------------------------------------------

@pytest.mark.parametrize("code, day, expected", [
    ("A0021", "2004-03-01", []),  # in the 2022 list and open in every I/OCE quarter: no start date known
    ("A2026", "2024-03-31", ["hcpcs-code-not-yet-effective"]),  # added 2024-04-01
    ("A2026", "2024-04-01", []),
    ("A9155", "2025-03-31", []),  # ended 2025-03-31
    ("A9155", "2025-04-01", ["hcpcs-code-terminated"]),
])
def test_hcpcs_codes_are_judged_on_their_date_of_service(scrubber, code, day, expected):
    result = scrub(scrubber, {"lines": [{"procedure_code": code}]}, day)

    assert [f[0] for f in found(result, "procedure_invalid")] == expected


# Look-ups: ICD-10-PCS by fiscal year, the current place-of-service list -----------------------------

def test_icd10pcs_codes_are_looked_up_in_their_fiscal_years_code_set(reference):
    new = look_up(reference, "icd10pcs", "028F3Z0", dt.date(2026, 11, 2))
    before = look_up(reference, "icd10pcs", "028F3Z0", dt.date(2026, 9, 30))

    assert (new.valid, new.status, new.fiscal_year) == (True, "valid", 2027)
    assert (before.valid, before.status, before.detail) == (False, "unknown", "not an ICD-10-PCS code in FY2026")


@pytest.mark.parametrize("code", ["27", "66", "10"])
def test_the_current_place_of_service_codes_are_known(reference, code):
    assert look_up(reference, "pos", code, dt.date(2026, 5, 4)).valid
