"""Contract 1.1 fields read from 837P and 837I (scrubber/intake/x12/): CLIA (REF*X4), NDC quantity and
unit (LIN/CTP), claim and line providers (NM1 in 2310x/2420x) with their names, anesthesia minutes
(SV1 MJ), and the UB-04 fields (DTP*434/435, CL1, HI BG/BH/BI/BE/BBR/BBQ). The fixtures are in
tests/fixtures/x12-contract11 (written for these tests, see SOURCES.md there)."""
from __future__ import annotations

import io
from pathlib import Path

from scrubber.contract.claim import Claim
from scrubber.intake.x12 import X12Claim, iter_claims

FIXTURES = Path(__file__).parents[1] / "fixtures" / "x12-contract11"


def results(name: str, replace: tuple[str, str] | None = None) -> list[X12Claim]:
    text = (FIXTURES / name).read_text(encoding="ascii")
    if replace is not None:
        assert replace[0] in text
        text = recount(text.replace(*replace))
    out = list(iter_claims(io.StringIO(text)))
    for result in out:
        assert result.claim is not None
        Claim.model_validate(result.claim)  # every value the reader gives fits the contract
    return out


def recount(text: str) -> str:
    """The fixture's text (one transaction set, ``*`` and ``~``) with SE01 counting its segments again."""
    segments = text.split("~\n")
    first = next(i for i, s in enumerate(segments) if s.startswith("ST*"))
    last = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    segments[last] = f"SE*{last - first + 1}*{segments[last].split('*')[2]}"
    return "~\n".join(segments)


def rule_fields(result: X12Claim) -> list[tuple[str, str | None, list[int]]]:
    return [(f["rule_id"], f["field"], f["lines"]) for f in result.findings]


def test_837p_clia_ndc_providers_and_anesthesia_minutes_are_read_exactly():
    first, second = results("837P_contract11.837")
    assert first.findings == [] and second.findings == []
    claim = first.claim
    assert claim["clia_number"] == "05D0642827"  # 2300 REF*X4; the line's differing one stays in control
    assert first.control["line_clia"] == {"1": "05D0999999"}
    assert claim["ordering_provider"] == {"npi": "1112223338", "last_name": "WELBY", "first_name": "MARCUS"}
    assert claim["supervising_provider"] == {"npi": "1245319599", "last_name": "HOUSE", "first_name": "GREGORY"}
    assert claim["service_facility"] == {"npi": "1003000126", "last_name": "EXAMPLE LAB"}
    assert claim["rendering_provider"] == {"npi": "1234567893", "taxonomy": "207Q00000X", "last_name": "KILDARE",
                                           "first_name": "BEN"}
    assert claim["billing_provider"] == {"npi": "1912301953", "taxonomy": "207Q00000X", "tax_id": "587654321",
                                         "last_name": "EXAMPLE CLINIC"}
    lab, drug, anesthesia = claim["lines"]
    assert lab["rendering_provider"] == {"npi": "1679576722", "taxonomy": "207R00000X", "last_name": "GREY",
                                         "first_name": "MEREDITH"}
    assert lab["ordering_provider"] == {"npi": "1316936223", "last_name": "WILSON", "first_name": "LARRY"}
    assert "ndc_quantity" not in lab and "anesthesia_minutes" not in lab
    assert (drug["ndc"], drug["ndc_quantity"], drug["ndc_unit"], drug["units"]) == ("00641036721", 1.5, "ML", 10)
    assert drug["ordering_provider"] == {"npi": "1112223338", "last_name": "WELBY", "first_name": "MARCUS"}
    assert (anesthesia["procedure_code"], anesthesia["modifiers"]) == ("00142", ["AA"])
    assert (anesthesia["anesthesia_minutes"], anesthesia["units"]) == (45, 45)  # units keep SV104, as before


def test_837p_line_clia_becomes_the_claims_when_2300_has_none():
    _, second = results("837P_contract11.837")
    assert second.claim["clia_number"] == "05D0642827"
    assert second.control["line_clia"] == {"2": "05D0642827"}
    assert "ordering_provider" not in second.claim  # absent, not null: 1.0 claims read exactly as before


def test_837i_ub04_fields_procedures_and_providers_are_read_exactly():
    (result,) = results("837I_contract11.837i")
    assert result.findings == []
    claim = result.claim
    assert {key: claim[key] for key in (
        "statement_from", "statement_to", "admission_date", "admission_hour", "admission_type",
        "admission_source", "patient_status", "condition_codes", "occurrence_codes", "occurrence_spans",
        "value_codes", "procedures", "attending_provider", "operating_provider")} == {
        "statement_from": "2026-11-01", "statement_to": "2026-11-03",
        "admission_date": "2026-11-01", "admission_hour": "13",
        "admission_type": "1", "admission_source": "7", "patient_status": "01",
        "condition_codes": ["07", "39"],
        "occurrence_codes": [{"code": "11", "date": "2026-10-30"}, {"code": "A1", "date": "1950-03-14"}],
        "occurrence_spans": [{"code": "70", "from": "2026-10-01", "to": "2026-10-05"}],
        "value_codes": [{"code": "80", "amount": "2.00"}, {"code": "A1", "amount": "125.50"}],
        # BBQ is sent before BBR: the principal procedure still comes first
        "procedures": [{"code": "0SRC0J9", "date": "2026-11-01"}, {"code": "0QS604Z", "date": "2026-11-02"}],
        "attending_provider": {"npi": "1234567893", "taxonomy": "207R00000X", "last_name": "JONES",
                               "first_name": "JOHN"},
        "operating_provider": {"npi": "1679576722", "last_name": "CUTTER", "first_name": "ANN"},
    }
    # procedures are not diagnoses
    assert claim["diagnoses"] == [{"code": "S72001A", "code_system": "icd10cm"}, {"code": "I10", "code_system": "icd10cm"}]
    parsed = Claim.model_validate(claim)
    assert parsed.occurrence_spans[0].from_.isoformat() == "2026-10-01"
    assert str(parsed.value_codes[1].amount) == "125.50"


def test_admission_date_without_hour_gives_no_hour():
    (result,) = results("837I_contract11.837i", ("DTP*435*DT*202611011300", "DTP*435*D8*20261101"))
    assert result.claim["admission_date"] == "2026-11-01" and "admission_hour" not in result.claim
    assert result.findings == []


def test_occurrence_span_sent_as_d8_is_a_format_finding_and_keeps_the_code():
    (result,) = results("837I_contract11.837i", ("BI:70:RD8:20261001-20261005", "BI:70:D8:20261001"))
    assert result.claim["occurrence_spans"] == [{"code": "70", "from": None, "to": None}]
    assert rule_fields(result) == [("x12-date-format", "occurrence_spans", [])]


def test_unreadable_value_code_amount_and_procedure_date_are_format_findings():
    (result,) = results("837I_contract11.837i", ("BE:80:::2*", "BE:80:::2.005*"))
    assert result.claim["value_codes"][0] == {"code": "80", "amount": None}
    assert rule_fields(result) == [("x12-number-format", "value_codes", [])]
    (result,) = results("837I_contract11.837i", ("BBR:0SRC0J9:D8:20261101", "BBR:0SRC0J9:D8:20261399"))
    assert result.claim["procedures"][0] == {"code": "0SRC0J9", "date": None}
    assert rule_fields(result) == [("x12-date-format", "procedures", [])]


def test_ctp_without_lin_is_ignored_with_a_finding():
    (first, _) = results("837P_contract11.837", ("LIN**N4*00641036721~\n", ""))
    drug = first.claim["lines"][1]
    assert (drug["ndc"], "ndc_quantity" in drug, "ndc_unit" in drug) == (None, False, False)
    assert rule_fields(first) == [("x12-segment-order", None, [2])]


def test_unreadable_drug_quantity_is_a_format_finding_and_the_unit_is_kept():
    (first, _) = results("837P_contract11.837", ("CTP****1.5*ML", "CTP****1,5*ML"))
    drug = first.claim["lines"][1]
    assert ("ndc_quantity" in drug, drug["ndc_unit"]) == (False, "ML")
    assert rule_fields(first) == [("x12-number-format", "lines[2].ndc_quantity", [2])]


def test_fractional_anesthesia_minutes_are_a_format_finding():
    (first, _) = results("837P_contract11.837", ("*MJ*45*", "*MJ*45.5*"))
    line = first.claim["lines"][2]
    assert ("anesthesia_minutes" in line, line["units"]) == (False, 45.5)
    assert rule_fields(first) == [("x12-number-format", "lines[3].anesthesia_minutes", [3])]


def test_more_condition_codes_than_the_contract_holds_are_cut_with_a_finding():
    many = "*".join(f"BG:{n:02d}" for n in range(1, 13))
    (result,) = results("837I_contract11.837i", ("HI*BG:07*BG:39", f"HI*{many}~\nHI*{many}~\nHI*BG:99"))
    assert len(result.claim["condition_codes"]) == 24
    assert result.claim["condition_codes"][-1] == "12"
    # a third HI of condition codes is itself past 005010X223A2's two (structure.py's table)
    assert rule_fields(result) == [("x12-segment-repeated", None, []), ("x12-too-many-codes", "condition_codes", [])]
