"""Every shipped rule (rules/*.yaml), scrubbed end to end through the real engine.

Each case builds a claim from a small partial dict over the clean example claim
(scrubber.ruleset.examples.complete_claim), scrubs it with the shipped rule set, and compares the whole
list of findings: rule id, category, severity, CARC/RARC, the lines (by line_number), the field to
fix, the exact message (which names the claim's own values) and the source file. Rule metadata
below is transcribed from the YAML, not read back from the loaded rule set, so a changed id,
category or denial code is caught here.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from scrubber.contract.claim import Claim, ScrubResult
from scrubber.ruleset.examples import complete_claim
from scrubber.pipeline.scrubber import Scrubber, standard_enrichers
from scrubber.ruleset.loader import load_ruleset, load_texts

TODAY = dt.date(2026, 1, 15)

# rule id -> (category, severity, carc, rarc, source), as written in rules/*.yaml
META: dict[str, tuple[str, str, str | None, str | None, str]] = {
    "total-charge-mismatch": ("balancing", "error", "CO-16", "M54", "rules/balancing.yaml"),
    "service-after-submission": ("date", "error", "CO-110", None, "rules/dates.yaml"),
    "service-end-after-submission": ("date", "error", "CO-110", None, "rules/dates.yaml"),
    "service-range-reversed": ("date", "error", "CO-16", "M59", "rules/dates.yaml"),
    "service-before-birth": ("date", "error", "CO-14", None, "rules/dates.yaml"),
    "service-after-death": ("date", "error", "CO-13", None, "rules/dates.yaml"),
    "birth-date-after-submission": ("date", "error", "CO-16", "N329", "rules/dates.yaml"),
    "discharge-before-admission": ("date", "error", "CO-16", "MA130", "rules/dates.yaml"),
    "duplicate-line": ("duplicate", "error", "OA-18", None, "rules/duplicates.yaml"),
    "modifier-26-with-tc": ("modifier", "error", "CO-4", None, "rules/modifiers.yaml"),
    "modifier-lt-with-rt": ("modifier", "error", "CO-4", None, "rules/modifiers.yaml"),
    "modifier-50-with-side": ("modifier", "error", "CO-4", None, "rules/modifiers.yaml"),
    "modifier-59-with-x": ("modifier", "error", "CO-4", None, "rules/modifiers.yaml"),
    "npi-format": ("npi", "error", "CO-207", "N290", "rules/npi.yaml"),
    "npi-check-digit": ("npi", "error", "CO-207", "N290", "rules/npi.yaml"),
    "place-of-service-unknown": ("place_of_service", "error", "CO-58", "M77", "rules/place_of_service.yaml"),
    "line-place-of-service-unknown": ("place_of_service", "error", "CO-58", "M77",
                                      "rules/place_of_service.yaml"),
    "pointer-missing": ("dx_pointer", "error", "CO-16", "M76", "rules/pointers.yaml"),
    "pointer-too-many": ("dx_pointer", "error", "CO-16", "M76", "rules/pointers.yaml"),
    "pointer-invalid": ("dx_pointer", "error", "CO-16", "M76", "rules/pointers.yaml"),
    "pointer-repeated": ("dx_pointer", "warning", "CO-16", "M76", "rules/pointers.yaml"),
    "claim-id-missing": ("required_field", "error", "CO-16", "MA130", "rules/required.yaml"),
    "member-id-missing": ("required_field", "error", "CO-16", "MA27", "rules/required.yaml"),
    "patient-name-missing": ("required_field", "error", "CO-16", "MA130", "rules/required.yaml"),
    "birth-date-missing": ("required_field", "error", "CO-16", "N329", "rules/required.yaml"),
    "patient-sex-invalid": ("required_field", "error", "CO-16", "MA39", "rules/required.yaml"),
    "billing-npi-missing": ("required_field", "error", "CO-206", "N257", "rules/required.yaml"),
    "diagnosis-missing": ("required_field", "error", "CO-16", "M76", "rules/required.yaml"),
    "diagnosis-count-over-12": ("format", "error", "CO-16", "M76", "rules/required.yaml"),
    "procedure-code-missing": ("required_field", "error", "CO-16", "M51", "rules/required.yaml"),
    "procedure-code-format": ("format", "error", "CO-16", "M51", "rules/required.yaml"),
    "units-invalid": ("required_field", "error", "CO-16", "M53", "rules/required.yaml"),
    "line-charge-missing": ("required_field", "error", "CO-16", "M79", "rules/required.yaml"),
    "line-charge-negative": ("format", "error", "CO-16", "M79", "rules/required.yaml"),
    "service-date-missing": ("required_field", "error", "CO-16", "M52", "rules/required.yaml"),
    "total-charge-missing": ("required_field", "error", "CO-16", "M54", "rules/required.yaml"),
    "place-of-service-missing": ("required_field", "error", "CO-16", "M77", "rules/required.yaml"),
    "type-of-bill-missing": ("required_field", "error", "CO-16", "MA30", "rules/required.yaml"),
    "frequency-code-invalid": ("format", "error", "CO-16", "MA130", "rules/required.yaml"),
    "modifier-count-over-4": ("format", "error", "CO-4", None, "rules/required.yaml"),
    "line-number-repeated": ("format", "error", "CO-16", "MA130", "rules/required.yaml"),
    "duplicate-of-earlier-claim": ("duplicate", "error", "OA-18", None, "rules/duplicates.yaml"),
    "dx-code-header": ("dx_invalid", "error", "CO-16", "M76", "rules/coding_diagnoses.yaml"),
    "dx-code-unknown": ("dx_invalid", "error", "CO-16", "M76", "rules/coding_diagnoses.yaml"),
    "dx-code-not-yet-valid": ("dx_invalid", "error", "CO-16", "M76", "rules/coding_diagnoses.yaml"),
    "dx-code-deleted": ("dx_invalid", "error", "CO-16", "M76", "rules/coding_diagnoses.yaml"),
    "dx-code-set-not-loaded": ("dx_invalid", "warning", None, None, "rules/coding_diagnoses.yaml"),
    "dx-code-set-mismatch": ("dx_invalid", "error", "CO-16", "M76", "rules/coding_diagnoses.yaml"),
    "dx-age-conflict": ("dx_age", "error", "CO-9", None, "rules/coding_diagnoses.yaml"),
    "dx-sex-conflict": ("dx_sex", "error", "CO-10", None, "rules/coding_diagnoses.yaml"),
    "dx-manifestation-first": ("dx_manifestation", "error", "CO-16", "M76", "rules/coding_diagnoses.yaml"),
    "dx-unacceptable-principal": ("dx_unacceptable_principal", "error", "CO-16", "MA63",
                                  "rules/coding_diagnoses.yaml"),
    "dx-excludes1": ("dx_excludes1", "warning", "CO-16", "M76", "rules/coding_diagnoses.yaml"),
    "hcpcs-code-unknown": ("procedure_invalid", "error", "CO-181", "M51", "rules/coding_procedures.yaml"),
    "hcpcs-code-set-not-loaded": ("procedure_invalid", "warning", None, None, "rules/coding_procedures.yaml"),
    "hcpcs-code-terminated": ("procedure_invalid", "error", "CO-181", "M51", "rules/coding_procedures.yaml"),
    "hcpcs-code-not-yet-effective": ("procedure_invalid", "error", "CO-181", "M51", "rules/coding_procedures.yaml"),
    "modifier-invalid": ("modifier", "error", "CO-4", None, "rules/coding_procedures.yaml"),
    "ncci-ptp-not-allowed": ("ncci_ptp", "error", "CO-97", "M80", "rules/ncci.yaml"),
    "ncci-ptp-modifier-required": ("ncci_ptp", "error", "CO-236", "M80", "rules/ncci.yaml"),
    "mue-units-exceeded-line": ("mue", "error", "CO-151", "N362", "rules/ncci.yaml"),
    "mue-units-exceeded-day": ("mue", "error", "CO-151", "N362", "rules/ncci.yaml"),
    "add-on-without-primary": ("add_on", "error", "CO-107", None, "rules/ncci.yaml"),
    "add-on-type3-without-listed-primary": ("add_on", "warning", "CO-107", None, "rules/ncci.yaml"),
    "add-on-type2-without-other-procedure": ("add_on", "warning", "CO-107", None, "rules/ncci.yaml"),
    "ncci-ptp-table-excerpt": ("ncci_ptp", "info", None, None, "rules/ncci.yaml"),
    "mue-table-excerpt": ("mue", "info", None, None, "rules/ncci.yaml"),
}
CROSS_CLAIM_RULES = {"duplicate-of-earlier-claim"}  # tested below, with a claim history
# The shipped MUE excerpt has no MAI 1 code: tests/pipeline/test_code_edits.py adds such a row to a copy
# of the reference database and checks this rule's exact finding there.
EXTENDED_DATA_RULES = {"mue-units-exceeded-line"}

FORMAT_TAIL = "is not a CPT code (5 digits, or 4 digits and F/T/U/A/M) nor a HCPCS Level II code (letter A-V and 4 digits)"
THIRTEEN_DX = ["I10", "E11.9", "E78.5", "J45.909", "K21.9", "M54.50", "N39.0", "R05.9", "R51.9",
               "Z00.00", "F41.9", "G47.00", "H52.4"]
TWO_DX = [{"code": "I10"}, {"code": "E11.9"}]
# what an inpatient bill (11x) must carry beyond its dates (rules/institutional.yaml)
INPATIENT_ADMISSION = {"admission_type": "1", "admission_source": "1", "patient_status": "01"}


def F(rule_id: str, lines: list[int], field: str | None, message: str) -> dict[str, Any]:
    """The expected finding, with the rule's metadata from META."""
    category, severity, carc, rarc, source = META[rule_id]
    return {"rule_id": rule_id, "category": category, "severity": severity, "carc": carc, "rarc": rarc,
            "lines": lines, "field": field, "message": message, "source": source}


# The releases the shipped baseline's findings name (scrubber/data/SOURCES.md).
PTP_PRACTITIONER = "NCCI practitioner table, release 2026Q3, a shipped excerpt of 154 rows, not the whole CMS table"
MUE_PRACTITIONER = "MUE practitioner table, release 2026Q3, a shipped excerpt of 44 rows, not the whole CMS table"
AOC_RELEASE = "add-on code edits, release 2026Q2"
# A professional claim with two or more distinct codes on one date of service is told that the
# practitioner PTP table it was checked against is only the shipped excerpt (an info finding: the
# status is unchanged).
PTP_EXCERPT = F("ncci-ptp-table-excerpt", [], None,
                f"The claim has two or more procedure codes on one date of service, and they were checked against "
                f"the {PTP_PRACTITIONER}: a pair outside the excerpt was not checked, so no NCCI PTP finding does "
                f"not mean the pairs are allowed")


def MUE_EXCERPT(codes: str) -> dict[str, Any]:
    """The info finding of a claim whose lines of more than one unit have codes the MUE excerpt lacks."""
    return F("mue-table-excerpt", [], None,
             f"Units were checked against the {MUE_PRACTITIONER}, which has no row for {codes} (each billed with "
             f"more than one unit): those codes' units were not checked against any MUE")


def observed(result: ScrubResult) -> list[dict[str, Any]]:
    return [f.model_dump(exclude={"suggestion"}) for f in result.findings]


@pytest.fixture(scope="module")
def ruleset():
    return load_ruleset()


@pytest.fixture(scope="module")
def scrubber(ruleset, reference):
    s = Scrubber(ruleset, enrichers=standard_enrichers(reference))
    yield s
    s.close()


def scrub(scrubber: Scrubber, partial: dict[str, Any], *, today: dt.date = TODAY) -> ScrubResult:
    return scrubber.scrub(Claim.model_validate(complete_claim(partial)), today=today)


# ----------------------------------------------------------------------------- one case per rule

CASES = [
    # balancing.yaml
    pytest.param(
        {"total_charge": "150.00", "lines": [{"charge": "100.00"}, {"charge": "40.00", "procedure_code": "36415"}]},
        "fail", [F("total-charge-mismatch", [], "total_charge",
                   "The total charge 150.00 is not the sum of the line charges 140.00"), PTP_EXCERPT],
        id="total-charge-mismatch"),
    # dates.yaml
    pytest.param(
        {"lines": [{"service_date": "2026-01-16"}]},
        "fail", [F("service-after-submission", [1], "lines[1].service_date",
                   "Line 1 (99213) is dated 2026-01-16, after the claim's submission date 2026-01-15")],
        id="service-after-submission"),
    pytest.param(
        {"lines": [{"service_date": "2026-01-01", "service_date_end": "2026-01-31"}]},
        "fail", [F("service-end-after-submission", [1], "lines[1].service_date_end",
                   "Line 1 (99213) runs to 2026-01-31, after the submission date 2026-01-15")],
        id="service-end-after-submission"),
    pytest.param(
        {"lines": [{"service_date": "2026-01-05", "service_date_end": "2026-01-04"}]},
        "fail", [F("service-range-reversed", [1], "lines[1].service_date_end",
                   "Line 1 (99213) runs from 2026-01-05 to 2026-01-04: the end is before the start")],
        id="service-range-reversed"),
    pytest.param(
        {"patient": {"birth_date": "2026-01-10"}, "lines": [{"service_date": "2026-01-05"}]},
        "fail", [F("service-before-birth", [1], "lines[1].service_date",
                   "Line 1 is dated 2026-01-05, before the patient's date of birth")],
        id="service-before-birth"),
    pytest.param(
        {"patient": {"death_date": "2026-01-04"}, "lines": [{"service_date": "2026-01-05"}]},
        "fail", [F("service-after-death", [1], "lines[1].service_date",
                   "Line 1 (99213) is dated 2026-01-05, after the patient's date of death")],
        id="service-after-death"),
    pytest.param(
        {"patient": {"birth_date": "2027-01-01"}, "lines": [{"service_date": "2028-01-01"}]},
        "fail", [F("birth-date-after-submission", [], "patient.birth_date",
                   "The patient's date of birth is after the submission date 2026-01-15"),
                 F("service-after-submission", [1], "lines[1].service_date",
                   "Line 1 (99213) is dated 2028-01-01, after the claim's submission date 2026-01-15")],
        id="birth-date-after-submission"),
    pytest.param(
        {"claim_type": "institutional", "type_of_bill": "0111", "admission_date": "2026-01-05",
         "discharge_date": "2026-01-03", **INPATIENT_ADMISSION},
        "fail", [F("discharge-before-admission", [], "discharge_date",
                   "The discharge date 2026-01-03 is before the admission date 2026-01-05")],
        id="discharge-before-admission"),
    # duplicates.yaml
    pytest.param(
        {"lines": [{"procedure_code": "71046"}, {"procedure_code": "71046"}]},
        "fail", [F("duplicate-line", [1, 2], "lines[1]",
                   "Line(s) 2 repeat line 1: 71046 with the same modifiers and 1 unit(s) on 2026-01-05")],
        id="duplicate-line"),
    # modifiers.yaml
    pytest.param(
        {"lines": [{"procedure_code": "71046", "modifiers": ["26", "TC"]}]},
        "fail", [F("modifier-26-with-tc", [1], "lines[1].modifiers",
                   "Line 1 (71046) carries both 26 (professional component) and TC (technical component)")],
        id="modifier-26-with-tc"),
    pytest.param(
        {"lines": [{"procedure_code": "73560", "modifiers": ["RT", "LT"]}]},
        "fail", [F("modifier-lt-with-rt", [1], "lines[1].modifiers", "Line 1 (73560) carries both LT and RT")],
        id="modifier-lt-with-rt"),
    pytest.param(
        {"lines": [{"procedure_code": "64483", "modifiers": ["50", "LT"]}]},
        "fail", [F("modifier-50-with-side", [1], "lines[1].modifiers",
                   "Line 1 (64483) carries 50 (bilateral) with a side modifier (50 LT)")],
        id="modifier-50-with-side"),
    pytest.param(
        {"lines": [{"procedure_code": "11042", "modifiers": ["59", "XS"]}]},
        "fail", [F("modifier-59-with-x", [1], "lines[1].modifiers",
                   "Line 1 (11042) carries 59 with an X modifier (59 XS); CMS says not to report them together")],
        id="modifier-59-with-x"),
    # npi.yaml
    pytest.param(
        {"billing_provider": {"npi": "123456789"}},
        "fail", [F("npi-format", [], "billing_provider.npi",
                   "The billing provider NPI '123456789' is not 10 digits starting with 1 or 2")],
        id="npi-format"),
    pytest.param(
        {"rendering_provider": {"npi": "1234567890"}},
        "fail", [F("npi-check-digit", [], "rendering_provider.npi",
                   "The rendering provider NPI 1234567890 fails its check digit: a digit was mistyped")],
        id="npi-check-digit"),
    # place_of_service.yaml
    pytest.param(
        {"place_of_service": "30"},
        "fail", [F("place-of-service-unknown", [], "place_of_service",
                   "Place of service '30' is not in the CMS place of service code set")],
        id="place-of-service-unknown"),
    pytest.param(
        {"lines": [{"place_of_service": "1"}]},
        "fail", [F("line-place-of-service-unknown", [1], "lines[1].place_of_service",
                   "Line 1 (99213): place of service '1' is not in the CMS place of service code set")],
        id="line-place-of-service-unknown"),
    # pointers.yaml
    pytest.param(
        {"lines": [{"diagnosis_pointers": []}]},
        "fail", [F("pointer-missing", [1], "lines[1].diagnosis_pointers",
                   "Line 1 (99213) does not point at any diagnosis")],
        id="pointer-missing"),
    pytest.param(
        {"diagnoses": [{"code": c} for c in ["I10", "E11.9", "E78.5", "K21.9", "R05.9"]],
         "lines": [{"diagnosis_pointers": [1, 2, 3, 4, 5]}]},
        "fail", [F("pointer-too-many", [1], "lines[1].diagnosis_pointers",
                   "Line 1 (99213) has 5 diagnosis pointers; a line holds at most 4")],
        id="pointer-too-many"),
    pytest.param(
        {"diagnoses": TWO_DX, "lines": [{"diagnosis_pointers": [1, 3]}]},
        "fail", [F("pointer-invalid", [1], "lines[1].diagnosis_pointers",
                   "Line 1 (99213) points at diagnosis '3', but the claim lists 2 diagnoses")],
        id="pointer-invalid"),
    pytest.param(
        {"lines": [{"diagnosis_pointers": [1, 1]}]},
        "warn", [F("pointer-repeated", [1], "lines[1].diagnosis_pointers",
                   "Line 1 (99213) lists pointer 1 twice")],
        id="pointer-repeated"),
    # required.yaml
    pytest.param(
        {"claim_id": None},
        "fail", [F("claim-id-missing", [], "claim_id", "The claim has no claim_id (patient control number, CLM01)")],
        id="claim-id-missing"),
    pytest.param(
        {"patient": {"member_id": None}},
        "fail", [F("member-id-missing", [], "patient.member_id",
                   "The patient's member id (subscriber id on the insurance card) is missing")],
        id="member-id-missing"),
    pytest.param(
        {"patient": {"last_name": None}},
        "fail", [F("patient-name-missing", [], "patient", "The patient's first or last name is missing")],
        id="patient-name-missing"),
    pytest.param(
        {"patient": {"birth_date": None}},
        "fail", [F("birth-date-missing", [], "patient.birth_date", "The patient's date of birth is missing")],
        id="birth-date-missing"),
    pytest.param(
        {"patient": {"sex": "female"}},
        "fail", [F("patient-sex-invalid", [], "patient.sex", "The patient's sex is 'FEMALE'; it must be F, M or U")],
        id="patient-sex-invalid"),
    pytest.param(
        {"billing_provider": None},
        "fail", [F("billing-npi-missing", [], "billing_provider.npi", "The billing provider has no NPI")],
        id="billing-npi-missing"),
    pytest.param(
        {"diagnoses": [], "lines": [{"diagnosis_pointers": []}]},
        "fail", [F("diagnosis-missing", [], "diagnoses", "The claim has no diagnosis code"),
                 F("pointer-missing", [1], "lines[1].diagnosis_pointers",
                   "Line 1 (99213) does not point at any diagnosis")],
        id="diagnosis-missing"),
    pytest.param(
        {"diagnoses": [{"code": c} for c in THIRTEEN_DX]},
        "fail", [F("diagnosis-count-over-12", [], "diagnoses",
                   "The claim lists 13 diagnoses; a professional claim (837P / CMS-1500) holds at most 12")],
        id="diagnosis-count-over-12"),
    pytest.param(
        {"lines": [{}, {"procedure_code": None}]},
        "fail", [F("procedure-code-missing", [2], "lines[2].procedure_code", "Line 2 has no procedure code")],
        id="procedure-code-missing"),
    pytest.param(
        {"lines": [{"procedure_code": "9921"}]},
        "fail", [F("procedure-code-format", [1], "lines[1].procedure_code", f"Line 1: '9921' {FORMAT_TAIL}")],
        id="procedure-code-format"),
    pytest.param(
        {"lines": [{"units": 0}]},
        "fail", [F("units-invalid", [1], "lines[1].units", "Line 1 (99213) has 0 units; units must be above zero")],
        id="units-invalid"),
    pytest.param(
        {"lines": [{}, {"procedure_code": "36415", "charge": None}], "total_charge": "100.00"},
        "fail", [F("line-charge-missing", [2], "lines[2].charge", "Line 2 (36415) has no charge"), PTP_EXCERPT],
        id="line-charge-missing"),
    pytest.param(
        {"lines": [{"charge": "-10.00"}]},
        "fail", [F("line-charge-negative", [1], "lines[1].charge", "Line 1 (99213) has a negative charge -10.00")],
        id="line-charge-negative"),
    pytest.param(
        {"lines": [{"service_date": None}]},
        "fail", [F("service-date-missing", [1], "lines[1].service_date", "Line 1 (99213) has no date of service")],
        id="service-date-missing"),
    pytest.param(
        {"total_charge": None},
        "fail", [F("total-charge-missing", [], "total_charge", "The claim has no total charge")],
        id="total-charge-missing"),
    pytest.param(
        {"place_of_service": None},
        "fail", [F("place-of-service-missing", [1], "place_of_service",
                   "Line 1 (99213) has no place of service, and neither does the claim")],
        id="place-of-service-missing"),
    pytest.param(
        {"claim_type": "institutional", "place_of_service": None, "lines": [{"revenue_code": "0450"}]},
        "fail", [F("type-of-bill-missing", [], "type_of_bill",
                   "The institutional claim has no type of bill (UB-04 form locator 4)")],
        id="type-of-bill-missing"),
    pytest.param(
        {"frequency_code": "2"},
        "fail", [F("frequency-code-invalid", [], "frequency_code",
                   "Frequency code '2' is not 1 (original), 7 (replacement) or 8 (void)")],
        id="frequency-code-invalid"),
    pytest.param(
        {"lines": [{"modifiers": ["GT", "59", "RT", "GA", "Q5"]}]},
        "fail", [F("modifier-count-over-4", [1], "lines[1].modifiers",
                   "Line 1 (99213) carries 5 modifiers; a claim line holds at most 4")],
        id="modifier-count-over-4"),
    pytest.param(
        {"lines": [{"line_number": 3}, {"line_number": 3, "procedure_code": "36415", "charge": "40.00"}]},
        "fail", [F("line-number-repeated", [3], "lines[3].line_number",
                   "Line number 3 is used for more than one line (here for 36415)"), PTP_EXCERPT],
        id="line-number-repeated"),
]

CODING_CASES = [
    # coding_diagnoses.yaml
    pytest.param(
        {"diagnoses": [{"code": "E11"}]},
        "fail", [F("dx-code-header", [1], "diagnoses[1].code",
                   "Diagnosis 1 E11 is a header code in FY2026: it needs more characters (87 billable codes "
                   "under it): E11.00, E11.01, E11.10, E11.11, E11.21, E11.22, E11.29, E11.311 and 79 more")],
        id="dx-code-header"),
    pytest.param(
        {"diagnoses": [{"code": "E11.99"}]},
        "fail", [F("dx-code-unknown", [1], "diagnoses[1].code",
                   "Diagnosis 1 E11.99 is not an ICD-10-CM code in FY2026")],
        id="dx-code-unknown"),
    pytest.param(
        {"submission_date": "2014-06-20", "diagnoses": [{"code": "E8888", "code_system": "icd9cm"}],
         "lines": [{"service_date": "2014-06-03"}]},
        "warn", [F("dx-code-set-not-loaded", [], "diagnoses",
                   "The diagnoses were not checked: the claim's first date of service, 2014-06-03, is before "
                   "2015-10-01, when ICD-9-CM applied, and no ICD-9-CM code set is loaded (ICD-10-CM held: FY2025 "
                   "to FY2027, dates of service 2024-10-01 to 2027-09-30)")],
        id="dx-code-set-not-loaded"),
    pytest.param(
        {"submission_date": "2016-03-10", "diagnoses": [{"code": "E8888", "code_system": "icd9cm"}],
         "lines": [{"service_date": "2016-03-01"}]},
        "fail", [F("dx-code-set-mismatch", [1], "diagnoses[1].code",
                   "Diagnosis 1 E8888 is an ICD-9-CM code, but the claim's first date of service is 2016-03-01: "
                   "from 2015-10-01 diagnoses are coded in ICD-10-CM")],
        id="dx-code-set-mismatch"),
    pytest.param(
        {"diagnoses": [{"code": "E11.A"}], "lines": [{"service_date": "2025-09-30"}]},
        "fail", [F("dx-code-not-yet-valid", [1], "diagnoses[1].code",
                   "Diagnosis 1 E11.A was added to ICD-10-CM for FY2026 (dates of service from 2025-10-01); "
                   "it cannot be used for FY2025 dates of service")],
        id="dx-code-not-yet-valid"),
    pytest.param(
        {"diagnoses": [{"code": "S30.1XXA"}], "lines": [{"service_date": "2025-10-01"}]},
        "fail", [F("dx-code-deleted", [1], "diagnoses[1].code",
                   "Diagnosis 1 S30.1XXA was deleted from ICD-10-CM after FY2025 (last date of service 2025-09-30)")],
        id="dx-code-deleted"),
    pytest.param(
        {"diagnoses": [{"code": "E30.1"}]},
        "fail", [F("dx-age-conflict", [1], "diagnoses[1].code",
                   "Diagnosis 1 E30.1 is on the MCE pediatric (age 0-17) list, but the patient is 56 on the "
                   "date of service (MCE v43.1 (FY2026))")],
        id="dx-age-conflict"),
    pytest.param(  # CMS removed the MCE diagnosis sex edits from FY2025 on: an FY2024 date, MCE v37
        {"submission_date": "2024-06-15", "diagnoses": [{"code": "C61"}], "lines": [{"service_date": "2024-06-03"}]},
        "fail", [F("dx-sex-conflict", [1], "diagnoses[1].code",
                   "Diagnosis 1 C61 is for male patients only, but the patient's sex is F (MCE v37 (FY2020), "
                   "standing in for FY2024, which has no MCE loaded)")],
        id="dx-sex-conflict"),
    pytest.param(
        {"diagnoses": [{"code": "F02.80"}, {"code": "G30.9"}], "lines": [{"diagnosis_pointers": [1, 2]}]},
        "fail", [F("dx-manifestation-first", [1], "diagnoses[1].code",
                   "Diagnosis 1 F02.80 is a manifestation code; it is never the first-listed diagnosis "
                   "(MCE v43.1 (FY2026))")],
        id="dx-manifestation-first"),
    pytest.param(
        {"claim_type": "institutional", "type_of_bill": "0131", "patient": {"birth_date": "1995-01-01"},
         "diagnoses": [{"code": "O09.01"}],
         "lines": [{"revenue_code": "0450", "procedure_code": "99283"}]},
        "fail", [F("dx-unacceptable-principal", [1], "diagnoses[1].code",
                   "Principal diagnosis O09.01 is on the MCE unacceptable principal diagnosis list "
                   "(MCE v43.1 (FY2026))")],
        id="dx-unacceptable-principal"),
    pytest.param(
        {"diagnoses": [{"code": "E11.9"}, {"code": "E10.9"}], "lines": [{"diagnosis_pointers": [1, 2]}]},
        "warn", [F("dx-excludes1", [1], "diagnoses[2].code",
                   "Diagnosis 2 E10.9 and E11.9 are coded together, but ICD-10-CM excludes them "
                   "(Excludes1: type 1 diabetes mellitus (E10.-))")],
        id="dx-excludes1"),
    # coding_procedures.yaml
    pytest.param(
        {"lines": [{"procedure_code": "A9990"}]},
        "fail", [F("hcpcs-code-unknown", [1], "lines[1].procedure_code", "Line 1: A9990 is not a HCPCS Level II code (HCPCS release 2026Q2)")],
        id="hcpcs-code-unknown"),
    pytest.param(
        {"submission_date": "2004-03-20", "diagnoses": [{"code": "4019"}],
         "lines": [{"procedure_code": "A9990", "service_date": "2004-03-01"}]},
        "warn", [F("dx-code-set-not-loaded", [], "diagnoses",
                   "The diagnoses were not checked: the claim's first date of service, 2004-03-01, is before "
                   "2015-10-01, when ICD-9-CM applied, and no ICD-9-CM code set is loaded (ICD-10-CM held: FY2025 "
                   "to FY2027, dates of service 2024-10-01 to 2027-09-30)"),
                 F("hcpcs-code-set-not-loaded", [1], "lines[1].procedure_code",
                   "Line 1: A9990 was not checked: its date of service, 2004-03-01, is before 2019Q3, the earliest "
                   "HCPCS quarter held (from 2019-07-01), and the code is not in the table")],
        id="hcpcs-code-set-not-loaded"),
    pytest.param(
        {"submission_date": "2025-04-20", "lines": [{"procedure_code": "A9155", "service_date": "2025-04-01"}]},
        "fail", [F("hcpcs-code-terminated", [1], "lines[1].procedure_code",
                   "Line 1: A9155 was terminated on 2025-03-31; the service is dated 2025-04-01")],
        id="hcpcs-code-terminated"),
    pytest.param(
        {"submission_date": "2024-04-10", "lines": [{"procedure_code": "A2026", "service_date": "2024-03-31"}]},
        "fail", [F("hcpcs-code-not-yet-effective", [1], "lines[1].procedure_code",
                   "Line 1: A2026 takes effect on 2024-04-01; the service is dated 2024-03-31")],
        id="hcpcs-code-not-yet-effective"),
    pytest.param(
        {"lines": [{"procedure_code": "J9271", "modifiers": ["JG"], "service_date": "2025-01-01"}]},
        "fail", [F("modifier-invalid", [1], "lines[1].modifiers",
                   "Line 1 (J9271): modifier JG was discontinued after 2024-12-31")],
        id="modifier-invalid"),
    # ncci.yaml
    pytest.param(
        {"lines": [{"procedure_code": "0001A", "service_date": "2023-12-31"},
                   {"procedure_code": "36591", "service_date": "2023-12-31"}]},
        "fail", [F("ncci-ptp-not-allowed", [2], "lines[2].procedure_code",
                   "Line 2: 36591 is column two of the NCCI practitioner PTP edit with 0001A on line 1 (modifier "
                   "indicator 0, in effect from 2022-01-01; CPT Manual or CMS manual coding instruction); no "
                   f"modifier allows both on the same day ({PTP_PRACTITIONER})"), PTP_EXCERPT],
        id="ncci-ptp-not-allowed"),
    pytest.param(
        {"lines": [{"procedure_code": "0001U"}, {"procedure_code": "0030U"}]},
        "fail", [F("ncci-ptp-modifier-required", [2], "lines[2].modifiers",
                   "Line 2: 0030U is column two of the NCCI practitioner PTP edit with 0001U on line 1 (modifier "
                   "indicator 1, in effect from 2018-07-01; Misuse of Column Two code with Column One code) and "
                   f"neither line carries an NCCI-associated modifier ({PTP_PRACTITIONER})"), PTP_EXCERPT],
        id="ncci-ptp-modifier-required"),
    pytest.param(
        {"lines": [{"procedure_code": "0001U", "units": 2}]},
        "fail", [F("mue-units-exceeded-day", [1], "lines[1].units",
                   "0001U on 2026-01-05: 2 units on line(s) 1 exceed the practitioner MUE of 1 per date of "
                   f"service (MAI 2; {MUE_PRACTITIONER})")],
        id="mue-units-exceeded-day"),
    pytest.param(
        {"lines": [{"procedure_code": "99417"}]},
        "fail", [F("add-on-without-primary", [1], "lines[1].procedure_code",
                   "Line 1: add-on code 99417 is billed on 2026-01-05 without any of its primary codes "
                   "(98003, 98007, 98011, 98015, 99205, 99215, 99245, 99345 and 3 more) on that date "
                   f"(NCCI add-on edit type 1; {AOC_RELEASE})")],
        id="add-on-without-primary"),
    pytest.param(
        {"lines": [{"procedure_code": "64727"}]},
        "warn", [F("add-on-type3-without-listed-primary", [1], "lines[1].procedure_code",
                   "Line 1: add-on code 64727 is billed on 2026-01-05 without any of the primary codes CMS lists "
                   "for it (64702, 64704, 64708, 64712, 64713, 64714, 64716, 64718 and 4 more). It is an NCCI "
                   "add-on edit type 3: CMS lists some primaries and lets each Medicare contractor accept others "
                   f"({AOC_RELEASE})")],
        id="add-on-type3-without-listed-primary"),
    pytest.param(
        {"lines": [{"procedure_code": "15777"}]},
        "warn", [F("add-on-type2-without-other-procedure", [1], "lines[1].procedure_code",
                   "Line 1: add-on code 15777 is the only procedure billed on 2026-01-05. It is an NCCI add-on "
                   "edit type 2: CMS lists no primary codes for it and each Medicare contractor decides which "
                   f"primaries it accepts, but an add-on code is never paid alone ({AOC_RELEASE})")],
        id="add-on-type2-without-other-procedure"),
    pytest.param(
        {"lines": [{"procedure_code": "99213"}, {"procedure_code": "36415"}]},
        "pass", [PTP_EXCERPT],
        id="ncci-ptp-table-excerpt"),
    pytest.param(
        {"lines": [{"procedure_code": "97110", "units": 2, "charge": "200.00"}]},
        "pass", [MUE_EXCERPT("97110")],
        id="mue-table-excerpt"),
]
CASES += CODING_CASES

# rules/claim_requirements.yaml: the families on for every payer (ambulance, anesthesia) have their case
# here; the families a payer profile switches on (clia, ndc, ordering_provider, member_id, telehealth)
# are off in the base rules and are tested per profile in tests/pipeline/test_claim_requirements.py.
_CR = "rules/claim_requirements.yaml"
META.update({
    "ambulance-origin-destination-missing": ("ambulance", "error", "CO-4", None, _CR),
    "ambulance-mileage-without-transport": ("ambulance", "error", "CO-B15", None, _CR),
    "anesthesia-minutes-missing": ("anesthesia", "error", "CO-16", "M53", _CR),
    "anesthesia-modifier-missing": ("anesthesia", "error", "CO-4", None, _CR),
})
CASES += [
    pytest.param(
        {"lines": [{"procedure_code": "A0429"}]},
        "fail", [F("ambulance-origin-destination-missing", [1], "lines[1].modifiers",
                   "Line 1: A0429 has no origin/destination modifier (two letters of D, E, G, H, I, J, N, P, R, S, "
                   "X, such as RH: residence to hospital)")],
        id="ambulance-origin-destination-missing"),
    pytest.param(
        {"lines": [{"procedure_code": "A0425", "modifiers": ["RH"], "units": 12}]},
        "fail", [F("ambulance-mileage-without-transport", [1], "lines[1].procedure_code",
                   "Line 1: A0425 bills ambulance mileage on 2026-01-05 and no ambulance transport (A0426-A0434) "
                   "is billed that day"), MUE_EXCERPT("A0425")],
        id="ambulance-mileage-without-transport"),
    pytest.param(
        {"lines": [{"procedure_code": "00142", "modifiers": ["AA"]}]},
        "fail", [F("anesthesia-minutes-missing", [1], "lines[1].anesthesia_minutes",
                   "Line 1: 00142 is an anesthesia service and the line has no anesthesia minutes")],
        id="anesthesia-minutes-missing"),
    pytest.param(
        {"lines": [{"procedure_code": "01402", "anesthesia_minutes": 90}]},
        "fail", [F("anesthesia-modifier-missing", [1], "lines[1].modifiers",
                   "Line 1: 01402 is an anesthesia service without AA, AD, QK, QX, QY or QZ (who performed or "
                   "directed it)")],
        id="anesthesia-modifier-missing"),
]


# rules/institutional.yaml and rules/outpatient_code_editor.yaml (facts: scrubber/pipeline/enrich/institutional.py;
# the codes are those of the rule files' own examples). Outpatient lines carry G0463, the OPPS clinic visit,
# since the clean line's 99213 is itself an I/OCE edit 62 on an outpatient bill.
_INST = "rules/institutional.yaml"
_OCE = "rules/outpatient_code_editor.yaml"
META.update({
    "bill-type-invalid": ("institutional", "error", "CO-16", "MA30", _INST),
    "line-outside-statement-period": ("institutional", "error", "CO-16", "MA31", _INST),
    "inpatient-admission-date-missing": ("institutional", "error", "CO-16", "MA40", _INST),
    "inpatient-admission-type-missing": ("institutional", "error", "CO-16", "MA41", _INST),
    "inpatient-admission-source-missing": ("institutional", "error", "CO-16", "MA42", _INST),
    "admission-type-invalid": ("institutional", "error", "CO-16", "MA41", _INST),
    "admission-source-invalid": ("institutional", "error", "CO-16", "MA42", _INST),
    "patient-status-invalid": ("institutional", "error", "CO-16", "MA43", _INST),
    "inpatient-patient-status-missing": ("institutional", "error", "CO-16", "MA43", _INST),
    "condition-code-malformed": ("institutional", "error", "CO-16", "M44", _INST),
    "occurrence-code-malformed": ("institutional", "error", "CO-16", "M45", _INST),
    "occurrence-span-invalid": ("institutional", "error", "CO-16", "M46", _INST),
    "value-code-malformed": ("institutional", "error", "CO-16", "M49", _INST),
    "revenue-code-invalid": ("institutional", "error", "CO-16", "M50", _INST),
    "revenue-code-requires-hcpcs": ("institutional", "error", "CO-16", "M20", _INST),
    "inpatient-procedure-code-invalid": ("institutional", "error", "CO-16", "M67", _INST),
    "mce-procedure-sex-conflict": ("institutional", "error", "CO-7", None, _INST),
    "mce-procedure-noncovered": ("institutional", "error", "CO-96", None, _INST),
    "mce-procedure-limited-coverage": ("institutional", "warning", "CO-50", None, _INST),
    "oce-6-invalid-procedure": ("outpatient_code_editor", "error", "CO-181", None, _OCE),
    "oce-62-not-recognized-by-opps": ("outpatient_code_editor", "error", "CO-16", "M20", _OCE),
    "oce-28-not-recognized-by-medicare": ("outpatient_code_editor", "error", "CO-96", None, _OCE),
    "oce-9-non-covered": ("outpatient_code_editor", "error", "CO-96", None, _OCE),
    "oce-50-statutory-exclusion": ("outpatient_code_editor", "error", "CO-96", "N425", _OCE),
    "oce-13-no-separate-payment": ("outpatient_code_editor", "error", "CO-96", None, _OCE),
    "oce-18-inpatient-only": ("outpatient_code_editor", "error", "CO-96", "N428", _OCE),
    "oce-45-inpatient-separate-procedure": ("outpatient_code_editor", "error", "CO-97", None, _OCE),
    "oce-49-same-day-as-inpatient-only": ("outpatient_code_editor", "error", "CO-96", "M80", _OCE),
    "oce-72-not-billable-to-mac": ("outpatient_code_editor", "error", "CO-109", None, _OCE),
    "oce-21-visit-without-25": ("outpatient_code_editor", "error", "CO-4", None, _OCE),
    "oce-17-inherent-bilateral-twice": ("outpatient_code_editor", "error", "CO-4", None, _OCE),
    "oce-74-bilateral-50-units": ("outpatient_code_editor", "error", "CO-16", "M53", _OCE),
    "oce-7-procedure-age": ("outpatient_code_editor", "error", "CO-6", None, _OCE),
    "oce-65-revenue-code-not-recognized": ("outpatient_code_editor", "error", "CO-16", "M50", _OCE),
})
OUTPATIENT = {"claim_type": "institutional", "type_of_bill": "0131"}  # a hospital outpatient bill: the I/OCE edits it
INPATIENT = {"claim_type": "institutional", "type_of_bill": "0111", "admission_date": "2026-01-04",
             **INPATIENT_ADMISSION}
OP_VISIT = {"revenue_code": "0450", "procedure_code": "G0463"}


def _stay(code: str) -> dict[str, Any]:
    """An inpatient stay of 2026-01-02 to 2026-01-05 (FY2026) with one ICD-10-PCS procedure."""
    return {**INPATIENT, "admission_date": "2026-01-02", "discharge_date": "2026-01-05",
            "procedures": [{"code": code, "date": "2026-01-03"}], "lines": [{"revenue_code": "0120"}]}


CASES += [
    # institutional.yaml
    pytest.param(
        {"claim_type": "institutional", "type_of_bill": "0999", "lines": [OP_VISIT]},
        "fail", [F("bill-type-invalid", [], "type_of_bill",
                   "Type of bill 0999: facility type 9 does not exist (1-4, 6, 7, 8)")],
        id="bill-type-invalid"),
    pytest.param(
        {**OUTPATIENT, "statement_from": "2026-01-05", "statement_to": "2026-01-06",
         "lines": [{**OP_VISIT, "service_date": "2026-01-04"}]},
        "fail", [F("line-outside-statement-period", [1], "lines[1].service_date",
                   "Line 1: 2026-01-04 is before the statement period's first day, 2026-01-05")],
        id="line-outside-statement-period"),
    pytest.param(
        {**INPATIENT, "admission_date": None, "lines": [{"revenue_code": "0120"}]},
        "fail", [F("inpatient-admission-date-missing", [], "admission_date",
                   "Type of bill 0111 is an inpatient bill and has no admission date")],
        id="inpatient-admission-date-missing"),
    pytest.param(
        {**INPATIENT, "admission_type": None, "lines": [{"revenue_code": "0120"}]},
        "fail", [F("inpatient-admission-type-missing", [], "admission_type",
                   "Type of bill 0111 is an inpatient bill and has no type of admission (priority)")],
        id="inpatient-admission-type-missing"),
    pytest.param(
        {**INPATIENT, "type_of_bill": "0211", "admission_source": None, "lines": [{"revenue_code": "0120"}]},
        "fail", [F("inpatient-admission-source-missing", [], "admission_source",
                   "Type of bill 0211 is an inpatient bill and has no point of origin (source of admission)")],
        id="inpatient-admission-source-missing"),
    pytest.param(
        {**INPATIENT, "admission_type": "7", "lines": [{"revenue_code": "0120"}]},
        "fail", [F("admission-type-invalid", [], "admission_type",
                   "The type of admission '7' is not a NUBC code (1, 2, 3, 4, 5 or 9)")],
        id="admission-type-invalid"),
    pytest.param(
        {**INPATIENT, "admission_source": "7", "lines": [{"revenue_code": "0120"}]},
        "fail", [F("admission-source-invalid", [], "admission_source",
                   "The point of origin '7' is not a NUBC code (1, 2, 4, 5, 6, 8, 9, D, E, F, G)")],
        id="admission-source-invalid"),
    pytest.param(
        {**OUTPATIENT, "patient_status": "08", "lines": [OP_VISIT]},
        "fail", [F("patient-status-invalid", [], "patient_status",
                   "The patient discharge status '08' is not a NUBC patient status code")],
        id="patient-status-invalid"),
    pytest.param(
        {**INPATIENT, "patient_status": None, "lines": [{"revenue_code": "0120"}]},
        "fail", [F("inpatient-patient-status-missing", [], "patient_status",
                   "Type of bill 0111 is an inpatient bill and has no patient discharge status")],
        id="inpatient-patient-status-missing"),
    pytest.param(
        {**OUTPATIENT, "condition_codes": ["07", "410"], "lines": [OP_VISIT]},
        "fail", [F("condition-code-malformed", [], "condition_codes",
                   "The condition code '410' is not 2 letters or digits")],
        id="condition-code-malformed"),
    pytest.param(
        {**OUTPATIENT, "occurrence_codes": [{"code": "11"}], "lines": [OP_VISIT]},
        "fail", [F("occurrence-code-malformed", [], "occurrence_codes", "The occurrence code 11 has no date")],
        id="occurrence-code-malformed"),
    pytest.param(
        {**OUTPATIENT, "occurrence_spans": [{"code": "70", "from": "2026-01-05", "to": "2026-01-01"}],
         "lines": [OP_VISIT]},
        "fail", [F("occurrence-span-invalid", [], "occurrence_spans",
                   "The occurrence span 70 runs from 2026-01-05 to an earlier day, 2026-01-01")],
        id="occurrence-span-invalid"),
    pytest.param(
        {**OUTPATIENT, "value_codes": [{"code": "80"}], "lines": [OP_VISIT]},
        "fail", [F("value-code-malformed", [], "value_codes", "The value code 80 has no amount")],
        id="value-code-malformed"),
    pytest.param(
        {**OUTPATIENT, "lines": [{**OP_VISIT, "revenue_code": "9999"}]},
        "fail", [F("revenue-code-invalid", [1], "lines[1].revenue_code",
                   "Line 1: revenue code 9999 is not on the I/OCE revenue code list (I/OCE edit 41, return to "
                   "provider)")],
        id="revenue-code-invalid"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0360", "procedure_code": None}]},
        "fail", [F("revenue-code-requires-hcpcs", [1], "lines[1].procedure_code",
                   "Line 1: revenue code 0360 needs a CPT/HCPCS code on a 0131 bill (I/OCE edit 48, return to "
                   "provider)")],
        id="revenue-code-requires-hcpcs"),
    pytest.param(
        _stay("0SRC0J"),
        "fail", [F("inpatient-procedure-code-invalid", [], "procedures",
                   "Procedure code(s) 0SRC0J (ICD-10-PCS FY2026): not valid ICD-10-PCS codes")],
        id="inpatient-procedure-code-invalid"),
    pytest.param(  # FY2024: the MCE's sex lists were removed from v43.1 (FY2026)
        {**INPATIENT, "admission_date": "2024-03-02", "discharge_date": "2024-03-05", "patient": {"sex": "M"},
         "procedures": [{"code": "0UT90ZZ", "date": "2024-03-03"}],
         "lines": [{"revenue_code": "0120", "service_date": "2024-03-02"}]},
        "fail", [F("mce-procedure-sex-conflict", [], "procedures",
                   "Procedure(s) 0UT90ZZ (female only) conflict with the patient's sex (MCE v37 (FY2020), "
                   "standing in for FY2024, which has no MCE loaded)")],
        id="mce-procedure-sex-conflict"),
    pytest.param(
        _stay("00F3XZZ"),
        "fail", [F("mce-procedure-noncovered", [], "procedures",
                   "Procedure(s) 00F3XZZ (never covered by Medicare as an inpatient procedure) (MCE v43.1 (FY2026))")],
        id="mce-procedure-noncovered"),
    pytest.param(
        _stay("02WA3QZ"),
        "warn", [F("mce-procedure-limited-coverage", [], "procedures",
                   "Procedure(s) 02WA3QZ are covered only in limited circumstances (MCE v43.1 (FY2026))")],
        id="mce-procedure-limited-coverage"),
    # outpatient_code_editor.yaml
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0510", "procedure_code": "99999"}]},
        "fail", [F("oce-6-invalid-procedure", [1], "lines[1].procedure_code",
                   "Line 1: 99999 is not a valid CPT/HCPCS code on its date of service in the I/OCE (edit 6, invalid "
                   "procedure code: return to provider)")],
        id="oce-6-invalid-procedure"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0510", "procedure_code": "99213"}]},
        "fail", [F("oce-62-not-recognized-by-opps", [1], "lines[1].procedure_code",
                   "Line 1: 99213 (status indicator B) is not recognized by OPPS; an alternate code for the same "
                   "service may be available (I/OCE edit 62: return to provider)")],
        id="oce-62-not-recognized-by-opps"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0510", "procedure_code": "0001F"}]},
        "fail", [F("oce-28-not-recognized-by-medicare", [1], "lines[1].procedure_code",
                   "Line 1: 0001F (status indicator E1) is not recognized by Medicare for outpatient claims; an "
                   "alternate code may be available (I/OCE edit 28: line item rejection)")],
        id="oce-28-not-recognized-by-medicare"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0360", "procedure_code": "0329T"}]},
        "fail", [F("oce-9-non-covered", [1], "lines[1].procedure_code",
                   "Line 1: 0329T (status indicator E1) is non-covered under any Medicare outpatient benefit, for "
                   "reasons other than a statutory exclusion (I/OCE edit 9: line item denial)")],
        id="oce-9-non-covered"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0920", "procedure_code": "92015"}]},
        "fail", [F("oce-50-statutory-exclusion", [1], "lines[1].procedure_code",
                   "Line 1: 92015 is excluded from Medicare by statute (I/OCE edit 50, non-covered under any "
                   "Medicare outpatient benefit: return to provider)")],
        id="oce-50-statutory-exclusion"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0360", "procedure_code": "0100T"}]},
        "fail", [F("oce-13-no-separate-payment", [1], "lines[1].procedure_code",
                   "Line 1: 0100T has status indicator E2: Medicare provides no separate payment for it on a 0131 "
                   "bill (I/OCE edit 13: line item rejection)")],
        id="oce-13-no-separate-payment"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0360", "procedure_code": "44140"}]},
        "fail", [F("oce-18-inpatient-only", [1], "lines[1].procedure_code",
                   "Line 1: 44140 is on Medicare's inpatient-only list (status indicator C) and is not paid on an "
                   "outpatient 0131 bill (I/OCE edit 18: line item denial; the other lines of that day are denied "
                   "with edit 49)")],
        id="oce-18-inpatient-only"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0360", "procedure_code": "31725"},
                                 {"revenue_code": "0360", "procedure_code": "45378"}]},
        "fail", [F("oce-45-inpatient-separate-procedure", [1], "lines[1].procedure_code",
                   "Line 1: 31725 is an inpatient-only separate procedure (status indicator C) done with a T or J1 "
                   "procedure that day; it is not paid separately (I/OCE edit 45, inpatient separate procedures not "
                   "paid: line item rejection)")],
        id="oce-45-inpatient-separate-procedure"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0510", "procedure_code": "G0463"},
                                 {"revenue_code": "0360", "procedure_code": "44140"}]},
        "fail", [F("oce-49-same-day-as-inpatient-only", [1], "lines[1]",
                   "Line 1 (revenue code 0510) is on the same day as the inpatient-only procedure 44140 (line 2), "
                   "denied with edit 18 (I/OCE edit 49, service on same day as inpatient procedure: line item denial)"),
                 F("oce-18-inpatient-only", [2], "lines[2].procedure_code",
                   "Line 2: 44140 is on Medicare's inpatient-only list (status indicator C) and is not paid on an "
                   "outpatient 0131 bill (I/OCE edit 18: line item denial; the other lines of that day are denied "
                   "with edit 49)")],
        id="oce-49-same-day-as-inpatient-only"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0900", "procedure_code": "G0017"}]},
        "fail", [F("oce-72-not-billable-to-mac", [1], "lines[1].procedure_code",
                   "Line 1: G0017 has status indicator M: it is not billable to the Medicare Administrative "
                   "Contractor on a 0131 bill (I/OCE edit 72: return to provider)")],
        id="oce-72-not-billable-to-mac"),
    pytest.param(  # G0463 with 45378 is also an NCCI hospital pair that needs a modifier (rules/ncci.yaml)
        {**OUTPATIENT, "lines": [{"revenue_code": "0510", "procedure_code": "G0463"},
                                 {"revenue_code": "0360", "procedure_code": "45378"}]},
        "fail", [F("ncci-ptp-modifier-required", [1], "lines[1].modifiers",
                   "Line 1: G0463 is column two of the NCCI hospital PTP edit with 45378 on line 2 (modifier "
                   "indicator 1, in effect from 2025-07-01; rationale not given in the I/OCE table) and neither line "
                   "carries an NCCI-associated modifier (NCCI hospital table, release 2026Q2)"),
                 F("oce-21-visit-without-25", [1], "lines[1].modifiers",
                   "Line 1: the visit G0463 is on the same day as 45378 (line 2, SI T) without modifier 25 (I/OCE "
                   "edit 21: return to provider)")],
        id="oce-21-visit-without-25"),
    pytest.param(  # two identical lines are also a duplicate-line (rules/duplicates.yaml)
        {**OUTPATIENT, "lines": [{"revenue_code": "0510", "procedure_code": "69210"},
                                 {"revenue_code": "0510", "procedure_code": "69210"}]},
        "fail", [F("duplicate-line", [1, 2], "lines[1]",
                   "Line(s) 2 repeat line 1: 69210 with the same modifiers and 1 unit(s) on 2026-01-05"),
                 F("oce-17-inherent-bilateral-twice", [2], "lines[2].procedure_code",
                   "Line 2: 69210 is inherently bilateral and line 1 already reports it that day (I/OCE edit 17, "
                   "inappropriate specification of bilateral procedure: line item rejection)")],
        id="oce-17-inherent-bilateral-twice"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "0510", "procedure_code": "20610", "modifiers": ["50"], "units": 2}]},
        "fail", [F("oce-74-bilateral-50-units", [1], "lines[1].units",
                   "Line 1: 20610 with modifier 50 is one bilateral service, billed with 2 units (I/OCE edit 74: "
                   "return to provider)")],
        id="oce-74-bilateral-50-units"),
    pytest.param(  # the clean claim's patient is 56
        {**OUTPATIENT, "lines": [{"revenue_code": "0450", "procedure_code": "24640"}]},
        "fail", [F("oce-7-procedure-age", [1], "lines[1].procedure_code",
                   "Line 1: 24640 is for ages 0 to 17; the patient is 56 (I/OCE edit 7, procedure and age conflict: "
                   "line item rejection)")],
        id="oce-7-procedure-age"),
    pytest.param(
        {**OUTPATIENT, "lines": [{"revenue_code": "1000", "procedure_code": "G0463"}]},
        "fail", [F("oce-65-revenue-code-not-recognized", [1], "lines[1].revenue_code",
                   "Line 1: revenue code 1000 is not recognized by Medicare on an outpatient bill (I/OCE edit 65: "
                   "line item rejection)")],
        id="oce-65-revenue-code-not-recognized"),
]


@pytest.mark.parametrize("partial, status, expected", CASES)
def test_shipped_rule_gives_its_exact_finding(scrubber, partial, status, expected):
    result = scrub(scrubber, partial)

    assert observed(result) == expected
    assert result.status == status


def test_every_shipped_rule_has_a_case_here(ruleset):
    case_ids = {p.id for p in CASES}

    assert {r.id for r in ruleset.rules} == set(META) == case_ids | CROSS_CLAIM_RULES | EXTENDED_DATA_RULES


# ----------------------------------------------------------------------------- clean claims


def test_clean_example_claim_has_no_findings_and_passes(scrubber):
    result = scrub(scrubber, {})

    assert result.findings == []
    assert result.status == "pass"
    assert result.claim_id == "EXAMPLE-1"
    assert result.ruleset.effective_date == dt.date(2026, 1, 5)


@pytest.mark.parametrize("partial", [
    pytest.param({"lines": [{"service_date": "2026-01-15"}]}, id="service-on-submission-day"),
    pytest.param({"patient": {"death_date": "2026-01-05"}}, id="service-on-day-of-death"),
    pytest.param({"patient": {"birth_date": "2026-01-05"}}, id="service-on-day-of-birth"),
    pytest.param({"lines": [{"service_date": "2026-01-05", "service_date_end": "2026-01-05"}]}, id="same-day-range"),
    pytest.param({"claim_type": "institutional", "type_of_bill": "0111", "admission_date": "2026-01-05",
                  "discharge_date": "2026-01-05", **INPATIENT_ADMISSION}, id="same-day-stay"),
    pytest.param({"lines": [{"procedure_code": "3074F", "charge": "0.00"}]}, id="zero-charge-category-ii"),
    pytest.param({"lines": [{"procedure_code": "G0439"}]}, id="hcpcs-code"),
    pytest.param({"lines": [{"place_of_service": "27"}]}, id="line-pos-27"),
    pytest.param({"place_of_service": None, "lines": [{"place_of_service": "11"}]}, id="pos-on-line-only"),
    pytest.param({"frequency_code": "7"}, id="replacement-claim"),
    pytest.param({"lines": [{"modifiers": ["GT", "59", "RT", "GA"]}]}, id="four-modifiers"),
    pytest.param({"diagnoses": [{"code": c} for c in THIRTEEN_DX[:12]]}, id="twelve-diagnoses"),
    pytest.param({"diagnoses": TWO_DX, "lines": [{"diagnosis_pointers": [1, 2]}]}, id="two-distinct-pointers"),
    pytest.param({"rendering_provider": {"npi": "1912301953"}, "referring_provider": {"npi": "1003000126"}},
                 id="valid-npis-all-roles"),
    pytest.param({"rendering_provider": {"npi": None}}, id="rendering-provider-without-npi"),
])
def test_boundary_claim_has_no_findings(scrubber, partial):
    result = scrub(scrubber, partial)

    assert observed(result) == []
    assert result.status == "pass"


@pytest.mark.parametrize("partial, expected", [
    pytest.param({"total_charge": "140.00", "lines": [{"charge": "100.00"},
                                                      {"charge": "40.00", "procedure_code": "36415"}]},
                 [PTP_EXCERPT], id="total-matches-two-lines"),
    pytest.param({"lines": [{"procedure_code": "99213", "units": 2, "charge": "200.00"}]},
                 [MUE_EXCERPT("99213")], id="two-units-of-a-code-outside-the-mue-excerpt"),
])
def test_boundary_claim_passes_with_only_the_excerpt_notice(scrubber, partial, expected):
    """Two codes on one date (or more than one unit of a code the MUE excerpt lacks) on a
    professional claim add an info finding about the shipped excerpt; info does not change the status."""
    result = scrub(scrubber, partial)

    assert observed(result) == expected
    assert result.status == "pass"


@pytest.mark.parametrize("partial", [
    pytest.param({"patient": {"birth_date": "1965-06-01"}, "diagnoses": [{"code": "O09.01"}]},
                 id="maternity-code-at-60-in-fy2026"),
    pytest.param({"diagnoses": [{"code": "C61"}]}, id="prostate-code-for-a-female-patient-in-fy2026"),
])
def test_mce_of_the_claims_fiscal_year_decides(scrubber, partial):
    """FY2026 claims are judged by MCE v43.1: the maternity range is 9-64 (12-55 before FY2020) and CMS
    removed the diagnosis sex edits from FY2025 on (dx-sex-conflict's case above is dated FY2024)."""
    result = scrub(scrubber, partial)

    assert observed(result) == []
    assert result.status == "pass"


# ----------------------------------------------------------------------------- acceptance scenario


def test_bad_npi_and_bad_pointer_give_both_findings(scrubber):
    result = scrub(scrubber, {"billing_provider": {"npi": "1234567890"}, "diagnoses": TWO_DX,
                              "lines": [{"diagnosis_pointers": [1, 3]}]})

    assert observed(result) == [
        F("npi-check-digit", [], "billing_provider.npi",
          "The billing provider NPI 1234567890 fails its check digit: a digit was mistyped"),
        F("pointer-invalid", [1], "lines[1].diagnosis_pointers",
          "Line 1 (99213) points at diagnosis '3', but the claim lists 2 diagnoses"),
    ]
    assert result.status == "fail"


# ----------------------------------------------------------------------------- NPIs, per provider role


@pytest.mark.parametrize("role", ["billing", "rendering", "referring"])
def test_npi_check_digit_applies_to_each_provider_role(scrubber, role):
    result = scrub(scrubber, {f"{role}_provider": {"npi": "1912301952"}})

    assert observed(result) == [F("npi-check-digit", [], f"{role}_provider.npi",
                                  f"The {role} provider NPI 1912301952 fails its check digit: a digit was mistyped")]
    assert result.status == "fail"


@pytest.mark.parametrize("role", ["billing", "rendering", "referring"])
@pytest.mark.parametrize("npi", ["123456789", "12345678AB"])
def test_npi_format_applies_to_each_provider_role(scrubber, role, npi):
    result = scrub(scrubber, {f"{role}_provider": {"npi": npi}})

    assert observed(result) == [F("npi-format", [], f"{role}_provider.npi",
                                  f"The {role} provider NPI '{npi}' is not 10 digits starting with 1 or 2")]


def test_bad_npis_on_two_roles_give_one_finding_each(scrubber):
    result = scrub(scrubber, {"billing_provider": {"npi": "1234567890"}, "referring_provider": {"npi": "1003000127"}})

    assert observed(result) == [
        F("npi-check-digit", [], "billing_provider.npi",
          "The billing provider NPI 1234567890 fails its check digit: a digit was mistyped"),
        F("npi-check-digit", [], "referring_provider.npi",
          "The referring provider NPI 1003000127 fails its check digit: a digit was mistyped"),
    ]


def test_missing_billing_npi_is_reported_once_and_not_as_a_format_error(scrubber):
    result = scrub(scrubber, {"billing_provider": {"npi": None}})

    assert [f["rule_id"] for f in observed(result)] == ["billing-npi-missing"]


# ----------------------------------------------------------------------------- duplicate lines


def test_duplicate_line_is_led_by_the_lower_line_number_whatever_the_order_sent(scrubber):
    result = scrub(scrubber, {"lines": [{"line_number": 5, "procedure_code": "71046"},
                                        {"line_number": 2, "procedure_code": "71046"}]})

    assert observed(result) == [F("duplicate-line", [2, 5], "lines[2]",
                                  "Line(s) 5 repeat line 2: 71046 with the same modifiers and 1 unit(s) on 2026-01-05")]


def test_three_identical_lines_give_one_finding_for_the_group(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "71046"}] * 3})

    assert observed(result) == [
        F("duplicate-line", [1, 2, 3], "lines[1]",
          "Line(s) 2, 3 repeat line 1: 71046 with the same modifiers and 1 unit(s) on 2026-01-05"),
    ]


def test_duplicate_line_ignores_modifier_order_and_case(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "71046", "modifiers": ["LT", "59"]},
                                        {"procedure_code": "71046", "modifiers": ["59", "lt"]}]})

    assert [(f.rule_id, f.lines, f.field) for f in result.findings] == [("duplicate-line", [1, 2], "lines[1]")]


def test_duplicate_line_names_fractional_units(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "J1100", "units": 1.5},
                                        {"procedure_code": "J1100", "units": 1.5}]})

    assert observed(result) == [F("duplicate-line", [1, 2], "lines[1]",
                                  "Line(s) 2 repeat line 1: J1100 with the same modifiers and 1.5 unit(s) on 2026-01-05"),
                                MUE_EXCERPT("J1100")]


@pytest.mark.parametrize("lines, expected", [
    pytest.param([{"procedure_code": "71046", "service_date": "2026-01-05"},
                  {"procedure_code": "71046", "service_date": "2026-01-06"}], [], id="different-dates"),
    pytest.param([{"procedure_code": "71046"}, {"procedure_code": "71046", "modifiers": ["76"]}], [], id="76-on-one"),
    pytest.param([{"procedure_code": "71046", "modifiers": ["76"]}, {"procedure_code": "71046"}], [],
                 id="76-on-first"),
    # the info findings below are about the shipped NCCI excerpts; they do not change the status
    pytest.param([{"procedure_code": "71046"}, {"procedure_code": "71046", "units": 2, "charge": "200.00"}],
                 [MUE_EXCERPT("71046")], id="different-units"),
    pytest.param([{"procedure_code": "71046"}, {"procedure_code": "71047"}], [PTP_EXCERPT], id="different-codes"),
])
def test_duplicate_line_does_not_fire_for_distinguishable_lines(scrubber, lines, expected):
    result = scrub(scrubber, {"lines": lines})

    assert observed(result) == expected
    assert result.status == "pass"


def test_duplicate_line_fires_when_both_lines_carry_76(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "71046", "modifiers": ["76"]},
                                        {"procedure_code": "71046", "modifiers": ["76"]}]})

    assert [(f.rule_id, f.lines, f.field) for f in result.findings] == [("duplicate-line", [1, 2], "lines[1]")]


def test_duplicate_line_fires_when_an_unnumbered_line_repeats_a_numbered_one(scrubber):
    result = scrub(scrubber, {"lines": [{"line_number": 2, "procedure_code": "71046"},
                                        {"procedure_code": "71046"}]})

    assert [f.rule_id for f in result.findings] == ["duplicate-line"]


# ----------------------------------------------------------------------------- normalisation before rules


@pytest.mark.parametrize("modifiers", [["26", "tc"], [" 26 ", "Tc"], ["tc", "26"]])
def test_lower_case_modifiers_are_normalised_before_rules(scrubber, modifiers):
    result = scrub(scrubber, {"lines": [{"procedure_code": "71046", "modifiers": modifiers}]})

    assert observed(result) == [F("modifier-26-with-tc", [1], "lines[1].modifiers",
                                  "Line 1 (71046) carries both 26 (professional component) and TC (technical component)")]


def test_lower_case_side_modifiers_are_normalised_before_rules(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "73560", "modifiers": ["rt", "lt"]}]})

    assert observed(result) == [F("modifier-lt-with-rt", [1], "lines[1].modifiers",
                                  "Line 1 (73560) carries both LT and RT")]


def test_lower_case_x_modifier_is_shown_upper_case_in_the_message(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "11042", "modifiers": ["59", "xs"]}]})

    assert [f.message for f in result.findings] == [
        "Line 1 (11042) carries 59 with an X modifier (59 XS); CMS says not to report them together"]


def test_lower_case_procedure_code_is_upper_cased_before_the_format_rule(scrubber):
    result = scrub(scrubber, {"lines": [{"procedure_code": "w1234"}]})

    assert observed(result) == [F("procedure-code-format", [1], "lines[1].procedure_code",
                                  f"Line 1: 'W1234' {FORMAT_TAIL}")]


@pytest.mark.parametrize("partial", [
    pytest.param({"lines": [{"procedure_code": "g0439"}]}, id="lower-case-hcpcs"),
    pytest.param({"lines": [{"procedure_code": "3074f", "charge": "0.00"}]}, id="lower-case-category-ii"),
    pytest.param({"patient": {"sex": "m"}}, id="lower-case-sex"),
    pytest.param({"diagnoses": [{"code": "e119"}, {"code": "i10"}], "lines": [{"diagnosis_pointers": ["b", "A"]}]},
                 id="undotted-icd-and-letter-pointers"),
])
def test_lower_case_values_are_normalised_into_a_clean_claim(scrubber, partial):
    result = scrub(scrubber, partial)

    assert observed(result) == []
    assert result.status == "pass"


_DIAGNOSIS_RULE = """
schema_version: 1
rules:
  - id: dx-e11-9
    title: Diagnosis E11.9 is on the claim
    category: dx_invalid
    severity: warning
    when:
      diagnosis: {code: "E11.9"}
    message: "Diagnosis {position} is {code}"
    field: "diagnoses"
    suggestion: nothing to do
    examples:
      - name: E11.9
        claim: {diagnoses: [{code: "E11.9"}]}
        expect: [dx-e11-9]
"""


@pytest.mark.parametrize("code", ["e119", "E119", "e11.9", " E11.9 "])
def test_icd_codes_are_dotted_and_upper_cased_before_rules_run(code):
    scrubber = Scrubber(load_texts([("rules/dx.yaml", _DIAGNOSIS_RULE)]))
    try:
        result = scrub(scrubber, {"diagnoses": [{"code": "I10"}, {"code": code}],
                                  "lines": [{"diagnosis_pointers": [1, 2]}]})
    finally:
        scrubber.close()

    assert [(f.rule_id, f.severity, f.lines, f.message) for f in result.findings] == [
        ("dx-e11-9", "warning", [1], "Diagnosis 2 is E11.9")]
    assert result.status == "warn"


@pytest.mark.parametrize("pointer", ["b", "B", "2"])
def test_letter_and_digit_string_pointers_are_normalised_before_the_pointer_rules(scrubber, pointer):
    result = scrub(scrubber, {"diagnoses": TWO_DX, "lines": [{"diagnosis_pointers": [1, pointer]}]})

    assert observed(result) == []


@pytest.mark.parametrize("pointer, shown, n_dx", [
    (0, "0", 1),
    (13, "13", 2),
    ("13", "13", 2),
    ("1.00", "1.00", 1),
    ("M", "M", 2),
    ("C", "3", 2),  # the letter C is diagnosis 3, which a claim of 2 diagnoses lacks
])
def test_pointer_invalid_names_the_bad_pointer_and_the_diagnosis_count(scrubber, pointer, shown, n_dx):
    result = scrub(scrubber, {"diagnoses": TWO_DX[:n_dx], "lines": [{"diagnosis_pointers": [pointer]}]})

    assert observed(result) == [F("pointer-invalid", [1], "lines[1].diagnosis_pointers",
                                  f"Line 1 (99213) points at diagnosis '{shown}', but the claim lists {n_dx} diagnoses")]


# ----------------------------------------------------------------------------- line numbers, dates, status


def test_findings_name_lines_by_their_line_number_not_their_position(scrubber):
    result = scrub(scrubber, {"lines": [{"line_number": 10, "service_date": "2026-01-16"},
                                        {"line_number": 20, "procedure_code": "36415", "service_date": "2026-01-17"}]})

    assert observed(result) == [
        F("service-after-submission", [10], "lines[10].service_date",
          "Line 10 (99213) is dated 2026-01-16, after the claim's submission date 2026-01-15"),
        F("service-after-submission", [20], "lines[20].service_date",
          "Line 20 (36415) is dated 2026-01-17, after the claim's submission date 2026-01-15"),
    ]


def test_missing_submission_date_defaults_to_the_scrub_day(scrubber):
    result = scrub(scrubber, {"submission_date": None, "lines": [{"service_date": "2026-01-16"}]},
                   today=dt.date(2026, 1, 15))

    assert [f.message for f in result.findings] == [
        "Line 1 (99213) is dated 2026-01-16, after the claim's submission date 2026-01-15"]


def test_place_of_service_missing_is_reported_per_line_without_one(scrubber):
    result = scrub(scrubber, {"place_of_service": None,
                              "lines": [{}, {"procedure_code": "36415", "place_of_service": "11"},
                                        {"procedure_code": "81002"}]})

    assert observed(result) == [
        F("place-of-service-missing", [1], "place_of_service",
          "Line 1 (99213) has no place of service, and neither does the claim"),
        F("place-of-service-missing", [3], "place_of_service",
          "Line 3 (81002) has no place of service, and neither does the claim"),
        PTP_EXCERPT,
    ]


@pytest.mark.parametrize("units, shown", [(0, "0"), (-1, "-1"), (None, "(none)")])
def test_units_invalid_names_the_units_sent(scrubber, units, shown):
    result = scrub(scrubber, {"lines": [{"units": units}]})

    assert [f.message for f in result.findings] == [
        f"Line 1 (99213) has {shown} units; units must be above zero"]


def test_patient_sex_missing_is_shown_as_none(scrubber):
    result = scrub(scrubber, {"patient": {"sex": None}})

    assert [f.message for f in result.findings] == ["The patient's sex is '(none)'; it must be F, M or U"]


def test_warnings_and_errors_together_fail_with_errors_listed_first(scrubber):
    result = scrub(scrubber, {"frequency_code": "2", "lines": [{"diagnosis_pointers": [1, 1]}]})

    assert [(f.rule_id, f.severity) for f in result.findings] == [
        ("frequency-code-invalid", "error"), ("pointer-repeated", "warning")]
    assert result.status == "fail"


# ----------------------------------------------------------------------------- empty text is missing

def test_empty_claim_id_is_reported_as_missing(scrubber):
    result = scrub(scrubber, {"claim_id": ""})

    assert [f.rule_id for f in result.findings] == ["claim-id-missing"]


def test_empty_patient_first_name_is_reported_as_missing(scrubber):
    result = scrub(scrubber, {"patient": {"first_name": "  "}})

    assert [f.rule_id for f in result.findings] == ["patient-name-missing"]


def test_empty_billing_npi_is_reported_as_missing(scrubber):
    result = scrub(scrubber, {"billing_provider": {"npi": ""}})

    assert [f.rule_id for f in result.findings] == ["billing-npi-missing"]


# ----------------------------------------------------------------------------- cross-claim duplicates


@pytest.fixture()
def with_history(ruleset):
    from scrubber.pipeline.enrich.history import MemoryHistory, PreviouslyBilled as ClaimHistory

    history = MemoryHistory()
    scrubber = Scrubber(ruleset, enrichers=(ClaimHistory(history),))
    yield history, scrubber
    scrubber.close()


def _claim(**partial) -> Claim:
    return Claim.model_validate(complete_claim(partial))


def test_a_line_already_billed_on_another_claim_is_a_duplicate(with_history):
    history, scrubber = with_history
    history.remember(_claim(claim_id="PCN-1", lines=[{"procedure_code": "71046"}, {"procedure_code": "99213"}]))

    result = scrubber.scrub(_claim(claim_id="PCN-2", lines=[{"procedure_code": "36415"}, {"procedure_code": "99213"}]),
                            today=TODAY)

    assert observed(result) == [F("duplicate-of-earlier-claim", [2], "lines[2]",
                                  "Line 2 bills 99213 on 2026-01-05, already billed for this patient on claim PCN-1")]
    assert result.status == "fail"


@pytest.mark.parametrize("again", [{"claim_id": "PCN-1"}, {"claim_id": "PCN-1", "frequency_code": "7"}],
                         ids=["re-scrub", "replacement"])
def test_the_same_claim_sent_again_or_replaced_does_not_flag_itself(with_history, again):
    history, scrubber = with_history
    history.remember(_claim(claim_id="PCN-1"))

    assert scrubber.scrub(_claim(**again), today=TODAY).findings == []


def test_a_voided_claim_leaves_the_history(with_history):
    history, scrubber = with_history
    history.remember(_claim(claim_id="PCN-1"))
    history.remember(_claim(claim_id="PCN-1", frequency_code="8"))

    assert scrubber.scrub(_claim(claim_id="PCN-2"), today=TODAY).findings == []


@pytest.mark.parametrize("change", [{"units": 2, "charge": "200.00"}, {"modifiers": ["76"]},
                                    {"service_date": "2026-01-06"}, {"procedure_code": "99214"}])
def test_a_different_service_is_not_a_duplicate(with_history, change):
    history, scrubber = with_history
    history.remember(_claim(claim_id="PCN-1"))

    assert scrubber.scrub(_claim(claim_id="PCN-2", lines=[change]), today=TODAY).findings == []
