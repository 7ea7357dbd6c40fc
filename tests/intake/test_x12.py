"""The streaming X12 837 reader (scrubber/intake/x12/): the X12 implementation guide samples in
tests/fixtures/x12 (see SOURCES.md there), constructed bad inputs, and a generated 20,000-claim
file read with flat memory."""
from __future__ import annotations

import io
import re
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrubber.contract.claim import CATEGORIES, Claim, Finding
from scrubber.intake.x12 import X12Claim, X12Error, iter_claims, read_segments

FIXTURES = Path(__file__).parents[1] / "fixtures" / "x12"
SAMPLES = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".837", ".837i"))
WHERE = re.compile(r"^([A-Z][A-Z0-9]{1,2}) at segment (\d+)(?:, ([A-Z][A-Z0-9]{1,2}\d\d))?")


def parse(text: str, chunk_size: int = 1 << 16) -> list[X12Claim]:
    return list(iter_claims(io.StringIO(text), chunk_size))


def parse_file(name: str) -> list[X12Claim]:
    with open(FIXTURES / name, newline="") as stream:
        return list(iter_claims(stream))


def raw(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("ascii")


def count_clm(text: str) -> int:
    """CLM segments counted straight from the text, with the separators read from the ISA."""
    element, terminator = text[3], text[105]
    return sum(1 for segment in text.split(terminator) if segment.strip().split(element)[0] == "CLM")


def where(finding: dict) -> tuple[str, int, str | None]:
    """(segment id, position, element) named at the start of a finding's message."""
    match = WHERE.match(finding["message"])
    assert match, finding["message"]
    return match.group(1), int(match.group(2)), match.group(3)


def rules(result: X12Claim) -> list[str]:
    return [f["rule_id"] for f in result.findings]


def check_result(result: X12Claim) -> None:
    """The claim is a contract Claim and every finding a contract Finding of the X12 kind."""
    assert result.claim is not None
    Claim.model_validate(result.claim)
    for finding in result.findings:
        Finding.model_validate(finding)
        assert finding["category"] in CATEGORIES
        assert finding["rule_id"].startswith("x12-")
        if finding["rule_id"] == "x12-submission-date":  # a notice: nothing is denied for it
            assert (finding["severity"], finding["carc"], finding["category"]) == ("info", None, "date")
        else:
            assert finding["severity"] == "error" and finding["carc"] == "CO-16"
        assert finding["source"] == "x12" and finding["suggestion"]


# --------------------------------------------------------------------------- the samples


def test_fixtures_are_the_shared_samples():
    assert len(SAMPLES) == 16
    assert (FIXTURES / "SOURCES.md").read_text().count("LinuxForHealth/x12") >= 1


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_gives_one_valid_result_per_claim(name):
    text = raw(name)
    results = parse_file(name)
    assert len(results) == count_clm(text) >= 1
    for result in results:
        check_result(result)
        control = result.control
        assert control["isa13"] == "000000907" and control["gs06"] == "1"
        assert control["st02"] == re.search(r"ST\*837\*(\w+)\*", text).group(1)
        assert text[control["offset"]:control["offset"] + 4] == "CLM*"
        for finding in result.findings:
            assert where(finding)[1] >= 1


@pytest.mark.parametrize("name", SAMPLES)
def test_segment_positions_agree_with_se01(name):
    """SE01 counts the segments of the transaction set, ST and SE included."""
    with open(FIXTURES / name, newline="") as stream:
        segments = list(read_segments(stream, chunk_size=256))
    se = next(s for s in segments if s.id == "SE")
    assert se.position == int(se.get(1))
    assert [s.position for s in segments if s.id == "ST"] == [1]
    assert segments[0].id == "ISA" and segments[0].separators.component == ":"
    assert segments[-1].id == "IEA" and segments[-1].position == len(segments)


EXPECTED_FINDINGS = {
    "837_005010X222A2__demo.ambulance.example5.837": [("x12-qualifier", "CLM", 21, "CLM05")],
    "837_005010X222A2__demo.autoaccident.837": [],
    "837_005010X222A2__demo.cob.2ndary.example4.837": [
        ("x12-component-separator", "CLM", 19, "CLM05"), ("x12-component-separator", "HI", 24, "HI01"),
        ("x12-component-separator", "SV1", 26, "SV101")],
    "837_005010X222A2__demo.cob.example3.A.837": [("x12-missing-loop", "SBR", 37, None)],
    "837_005010X222A2__demo.cob.example3.B.837": [],
    "837_005010X222A2__demo.cob.example4.837": [],
    "837_005010X222A2__demo.drug.example10.1.837": [],
    "837_005010X222A2__demo.drug.example10.2.837": [("x12-tax-id-format", "REF", 10, "REF02")],
    "837_005010X222A2__demo.example1.837": [],
    "837_005010X222A2__demo.example11.837": [
        ("x12-component-separator", "CLM", 19, "CLM05"), ("x12-component-separator", "HI", 22, "HI01"),
        ("x12-component-separator", "HI", 22, "HI02"), ("x12-component-separator", "SV1", 30, "SV101"),
        ("x12-component-separator", "SV1", 30, "SV107"), ("x12-component-separator", "SV1", 34, "SV101")],
    "837_005010X222A2__demo.example12.837": [
        ("x12-component-separator", "CLM", 24, "CLM05"), ("x12-component-separator", "HI", 27, "HI01"),
        ("x12-component-separator", "SV1", 37, "SV101")],
    "837_005010X222A2__demo.example6.837": [
        ("x12-component-separator", "CLM", 19, "CLM05"), ("x12-component-separator", "HI", 24, "HI01"),
        ("x12-component-separator", "SV1", 26, "SV101")],
    "837_005010X222A2__demo.example7.837": [],
    "837_005010X222A2__demo.example8.837": [],
    "837_005010X223A3__institutional-claim.837i": [("x12-date-format", "DTP", 21, "DTP02")],
    "837_005010X223A3__out-of-network-repriced-claim.837i": [
        ("x12-component-separator", "CLM", 18, "CLM05"), ("x12-component-separator", "HI", 25, "HI01"),
        ("x12-component-separator", "SV2", 29, "SV202")],
}


# every sample's interchange (ISA09/GS04 2013-10-31) is dated years after its BHT04
LATER_INTERCHANGE = ("x12-submission-date", "BHT", 2, "BHT04")


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_defects_become_findings(name):
    (result,) = parse_file(name)
    assert [(f["rule_id"], *where(f)) for f in result.findings] == [LATER_INTERCHANGE, *EXPECTED_FINDINGS[name]]


def test_undeclared_component_separator_is_reported_and_the_claim_still_read():
    """ISA16 says ':' but the claim uses '>'. A payer's translator reads 'HC>98940' as one invalid
    value and rejects the claim: that is an error finding per element. The scrubber still splits on
    the evident separator, so that the rest of the claim gets checked too."""
    (result,) = parse_file("837_005010X222A2__demo.example11.837")
    separator = [f for f in result.findings if f["rule_id"] == "x12-component-separator"]
    assert all(f["category"] == "format" and "'>'" in f["message"] and "ISA16 declares ':'" in f["message"]
               for f in separator)
    assert [f["lines"] for f in separator] == [[], [], [], [1], [1], [2]]
    assert separator[3]["field"] == "lines[1].procedure_code"
    claim = result.claim
    assert claim["place_of_service"] == "11" and claim["frequency_code"] == "1"
    assert claim["diagnoses"] == [{"code": "496", "code_system": "icd9cm"}, {"code": "25000", "code_system": "icd9cm"}]
    assert [(ln["procedure_code"], ln["modifiers"], ln["diagnosis_pointers"]) for ln in claim["lines"]] == [
        ("E0570", ["RR"], [1, 2]), ("A7003", ["NU"], [1])]
    assert claim["rendering_provider"] == {"npi": "1122334455", "last_name": "ANTHONY", "first_name": "SUSAN"}
    assert claim["referring_provider"] == {"npi": "9988776655", "last_name": "DOE", "first_name": "JOHN"}
    assert claim["service_facility"] == {"npi": None, "last_name": "HAPPY DOCTORS GROUP"}  # NM1*77 without NM108/09


def past_notice(result: X12Claim) -> list[dict]:
    """A sample's findings after its first, the notice that its interchange is dated after BHT04."""
    assert result.findings[0]["rule_id"] == "x12-submission-date"
    return result.findings[1:]


def test_missing_other_payer_loop():
    (result,) = parse_file("837_005010X222A2__demo.cob.example3.A.837")
    (finding,) = past_notice(result)
    assert finding["category"] == "required_field" and "2330B" in finding["message"]
    assert "NM1*PR" in finding["message"]
    # the 2320/2330A names in the claim never replace the subscriber's own
    assert result.claim["patient"]["member_id"] == "111223333"
    assert result.claim["payer"] == {"id": "999996666", "name": "KEY INSURANCE COMPANY"}


def test_example1_professional_claim_exactly():
    (result,) = parse_file("837_005010X222A2__demo.example1.837")
    line = {"modifiers": [], "units": 1, "service_date_end": None, "place_of_service": None, "ndc": None,
            "revenue_code": None}
    assert result.claim == {
        "claim_id": "26463774", "claim_type": "professional", "frequency_code": "1",
        "submission_date": "2006-10-15",
        "payer": {"id": "999996666", "name": "KEY INSURANCE COMPANY"},
        "patient": {"member_id": "JS00111223333", "first_name": "TED", "last_name": "SMITH",
                    "birth_date": "1973-05-01", "sex": "M"},
        "billing_provider": {"npi": "1912301953", "taxonomy": "203BF0100Y", "tax_id": "587654321",
                             "last_name": "BEN KILDARE SERVICE"},
        "rendering_provider": None, "referring_provider": None, "place_of_service": "11",
        "prior_authorization": None, "type_of_bill": None, "admission_date": None, "discharge_date": None,
        "diagnoses": [{"code": "0340", "code_system": "icd9cm"}, {"code": "V7389", "code_system": "icd9cm"}],  # BK/BF: ICD-9-CM
        "lines": [
            {**line, "line_number": 1, "procedure_code": "99213", "charge": "40.00",
             "service_date": "2006-10-03", "diagnosis_pointers": [1]},
            {**line, "line_number": 2, "procedure_code": "87070", "charge": "15.00",
             "service_date": "2006-10-03", "diagnosis_pointers": [1]},
            {**line, "line_number": 3, "procedure_code": "99214", "charge": "35.00",
             "service_date": "2006-10-10", "diagnosis_pointers": [2]},
            {**line, "line_number": 4, "procedure_code": "86663", "charge": "10.00",
             "service_date": "2006-10-10", "diagnosis_pointers": [2]},
        ],
        "total_charge": "100.00",
    }
    assert past_notice(result) == []
    assert result.findings[0]["message"] == (
        "BHT at segment 2, BHT04 '20061015': the submission date is BHT04 2006-10-15, the day the claims were "
        "created; the interchange is dated later (GS04 2013-10-31), and a payer may count timely filing from "
        "that date")
    assert result.control == {"isa13": "000000907", "gs06": "1", "st02": "0021", "bht03": "244579",
                              "version": "005010X222A2", "segment": 25, "segment_number": 27,
                              "offset": result.control["offset"], "line_control": {}}


def test_professional_samples_providers_modifiers_ranges_and_ndc():
    (ambulance,) = parse_file("837_005010X222A2__demo.ambulance.example5.837")
    claim = ambulance.claim
    assert claim["total_charge"] == "766.50" and claim["place_of_service"] == "41"
    assert [d["code"] for d in claim["diagnoses"]] == ["8628", "E8888", "9592", "8540"]
    assert {d["code_system"] for d in claim["diagnoses"]} == {"icd9cm"}
    assert [(ln["procedure_code"], ln["modifiers"], ln["units"], ln["charge"]) for ln in claim["lines"]] == [
        ("A0427", ["RH"], 1, "700.00"), ("A0425", ["RH"], 21, "8.20"), ("A0422", ["RH"], 1, "46.00"),
        ("A0382", ["RH"], 1, "12.30")]
    assert ambulance.control["line_control"] == {"1": "1001", "2": "1002", "3": "1003", "4": "1004"}

    (wheelchair,) = parse_file("837_005010X222A2__demo.example8.837")
    assert wheelchair.claim["lines"][0]["modifiers"] == ["RR", "KH", "BR"]
    assert wheelchair.claim["lines"][0]["service_date_end"] == "2005-03-21"

    (drug,) = parse_file("837_005010X222A2__demo.drug.example10.2.837")
    lines = drug.claim["lines"]
    assert [ln["ndc"] for ln in lines] == [None, "00004196501", "63323024910", "00338004938", "08290033010",
                                           "08290038005"]
    assert (lines[0]["service_date"], lines[0]["service_date_end"]) == ("2004-02-01", "2004-02-07")
    assert [ln["place_of_service"] for ln in lines] == ["12"] * 6
    assert drug.claim["billing_provider"]["tax_id"] == "10-1234567"  # kept as sent, with a finding

    (cob,) = parse_file("837_005010X222A2__demo.cob.example4.837")
    assert cob.claim["rendering_provider"] == {"npi": "9090909090", "taxonomy": "207X00000X",
                                               "last_name": "HENZES", "first_name": "JACK"}
    assert cob.claim["referring_provider"] == {"npi": None, "last_name": "BRYHT", "first_name": "LEE"}  # no NPI
    assert cob.claim["payer"] == {"id": "10234", "name": "MEDICARE"}
    assert cob.claim["lines"][0]["modifiers"] == ["25"]


def test_institutional_claim_exactly():
    (result,) = parse_file("837_005010X223A3__institutional-claim.837i")
    line = {"modifiers": [], "service_date": "1996-09-11", "service_date_end": None,
            "diagnosis_pointers": [], "place_of_service": None, "ndc": None}
    assert result.claim == {
        "claim_id": "756048Q", "claim_type": "institutional", "frequency_code": "1",
        "submission_date": "1996-09-18",
        "payer": {"id": "00435", "name": "MEDICARE B"},
        "patient": {"member_id": "030005074A", "first_name": "JON", "last_name": "DOE",
                    "birth_date": "1926-11-11", "sex": "M"},
        "billing_provider": {"npi": "9876540809", "taxonomy": "203BA0200N", "tax_id": "567891234",
                             "last_name": "JONES HOSPITAL"},
        "rendering_provider": None, "referring_provider": None, "place_of_service": None,
        "prior_authorization": None, "type_of_bill": "141", "admission_date": None, "discharge_date": None,
        "diagnoses": [{"code": "3669", "code_system": "icd9cm"}, {"code": "4019", "code_system": "icd9cm"}, {"code": "79431", "code_system": "icd9cm"}],
        "lines": [
            {**line, "line_number": 1, "revenue_code": "0305", "procedure_code": "85025", "units": 1,
             "charge": "13.39"},
            {**line, "line_number": 2, "revenue_code": "0730", "procedure_code": "93005", "units": 3,
             "charge": "76.54"},
        ],
        "total_charge": "89.93",
        # contract 1.1: DTP*434 (sent as D8), CL1*3**01, HI BH/BE/BG, NM1*71 without an NPI
        "statement_from": "1996-09-11", "statement_to": "1996-09-11", "admission_type": "3", "patient_status": "01",
        "occurrence_codes": [{"code": "A1", "date": "1926-11-11"}, {"code": "A2", "date": "1991-11-01"},
                             {"code": "B1", "date": "1926-11-11"}, {"code": "B2", "date": "1987-01-01"}],
        "value_codes": [{"code": "A2", "amount": "15.31"}], "condition_codes": ["09"],
        "attending_provider": {"npi": None, "last_name": "JONES", "first_name": "JOHN"},
    }
    (finding,) = past_notice(result)
    assert "DTP*434" in finding["message"] and "RD8" in finding["message"] and finding["rarc"] == "MA31"


def test_out_of_network_institutional_claim_exactly():
    (result,) = parse_file("837_005010X223A3__out-of-network-repriced-claim.837i")
    assert result.claim == {
        "claim_id": "W392-49141", "claim_type": "institutional", "frequency_code": "1",
        "submission_date": "2005-07-11",
        "payer": {"id": "0012", "name": "CONSERVATIVE INSURANCE"},
        "patient": {"member_id": "34902390F", "first_name": "JAMES", "last_name": "SMITH",
                    "birth_date": "1962-10-15", "sex": "M"},
        "billing_provider": {"npi": "1122334455", "taxonomy": None, "tax_id": "111002222",
                             "last_name": "LOCAL HOSPITAL"},
        "rendering_provider": None, "referring_provider": None, "place_of_service": None,
        "prior_authorization": None, "type_of_bill": "131", "admission_date": "2005-06-17",
        "discharge_date": None,
        "diagnoses": [{"code": "53081", "code_system": "icd9cm"}],
        "lines": [{"line_number": 1, "revenue_code": "0301", "procedure_code": "82270", "modifiers": [],
                   "units": 1, "charge": "14.84", "service_date": "2005-06-17", "service_date_end": None,
                   "diagnosis_pointers": [], "place_of_service": None, "ndc": None}],
        "total_charge": "14.84",
        # contract 1.1: DTP*434 RD8, DTP*435 DT (the hour), CL1*1*1*01, NM1*71
        "statement_from": "2005-06-17", "statement_to": "2005-06-17", "admission_hour": "08",
        "admission_type": "1", "admission_source": "1", "patient_status": "01",
        "attending_provider": {"npi": "2244224455", "last_name": "RIVERS", "first_name": "DAWN"},
    }


def _move_dates(text: str, old: str, new: str) -> str:
    return text.replace(f"D8*{old}", f"D8*{new}")


def test_icd9_diagnoses_after_october_2015_are_passed_on_as_icd9cm_for_the_rules():
    """The reader marks BK/BF diagnoses code_system icd9cm and leaves the mismatch with the claim's date to
    the rule dx-code-set-mismatch (tests/pipeline/test_code_sets_by_date.py), so it is reported once."""
    text = raw("837_005010X222A2__demo.example1.837")
    text = _move_dates(_move_dates(text, "20061003", "20161003"), "20061010", "20161010")
    (result,) = parse(text)
    check_result(result)
    assert [f for f in result.findings if f["category"] == "dx_invalid"] == []
    assert result.claim["diagnoses"] == [{"code": "0340", "code_system": "icd9cm"},
                                         {"code": "V7389", "code_system": "icd9cm"}]


def test_icd9_on_an_institutional_claim_after_2015():
    text = raw("837_005010X223A3__institutional-claim.837i").replace("19960911", "20160911")
    (result,) = parse(text)
    assert [where(f) for f in result.findings if f["category"] == "dx_invalid"] == []
    assert [d.get("code_system") for d in result.claim["diagnoses"]] == ["icd9cm"] * 3


def test_icd10_diagnoses_before_october_2015_are_marked_icd10cm_for_the_rules():
    """ABK/ABF codes are the claim's diagnoses, marked icd10cm: the rule dx-code-set-mismatch reports them
    (tests/pipeline/test_code_sets_by_date.py), so the reader does not."""
    text = raw("837_005010X222A2__demo.example1.837").replace("HI*BK:0340*BF:V7389", "HI*ABK:A379*ABF:Z0000")
    (result,) = parse(text)
    assert past_notice(result) == []
    assert result.claim["diagnoses"] == [{"code": "A379", "code_system": "icd10cm"},
                                         {"code": "Z0000", "code_system": "icd10cm"}]


def test_icd10_admitting_and_reason_codes_before_october_2015_are_the_readers_finding():
    """An ICD-10 code the contract has no field for (here the 837I admitting diagnosis, ABJ) on services before
    2015-10-01 is reported by the reader, naming its place."""
    text = raw("837_005010X223A3__institutional-claim.837i")
    assert "HI*BK:3669~" in text and "SE*42*987654~" in text
    (result,) = parse(text.replace("HI*BK:3669~", "HI*BK:3669~HI*ABJ:R079~").replace("SE*42*", "SE*43*"))
    found = [f for f in result.findings if f["rule_id"] == "x12-icd10-before-icd10"]
    assert [(f["category"], f["field"], f["rarc"]) for f in found] == [("dx_invalid", "diagnoses", "M76")]
    assert "qualifier ABJ marks an ICD-10 diagnosis code" in found[0]["message"]


# --------------------------------------------------------------------------- constructed input

ISA = ("ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *261127*1200*^*00501*"
       "{control}*0*P*:~")
GOOD_CLAIM = ["CLM*{id}*165.00***11:B:1*Y*A*Y*Y", "REF*G1*AUTH77", "HI*ABK:E119*ABF:I10*ABF:E785",
              "NM1*82*1*KILDARE*BEN****XX*1234567893", "PRV*PE*PXC*207Q00000X",
              "LX*1", "SV1*HC:99213:25:59*125.00*UN*1***1:2", "DTP*472*D8*20261101",
              "LX*2", "SV1*HC:81002*40.00*UN*2.5*11**3", "DTP*472*RD8*20261101-20261102"]


def transaction(claims: list[list[str]], st02: str = "0001", version: str = "005010X222A1") -> list[str]:
    """ST..SE with a billing provider and, per claim, a subscriber HL holding that claim."""
    body = [f"ST*837*{st02}*{version}", "BHT*0019*00*1*20261127*1200*CH",
            "NM1*41*2*BILLING SERVICE*****46*TGJ23", "NM1*40*2*PAYER*****46*66783JJT",
            "HL*1**20*1", "PRV*BI*PXC*207Q00000X", "NM1*85*2*CLINIC*****XX*1912301953", "N3*1 MAIN ST",
            "N4*MIAMI*FL*33111", "REF*EI*587654321"]
    for n, claim in enumerate(claims):
        body += [f"HL*{n + 2}*1*22*0", "SBR*P*18*******CI", f"NM1*IL*1*LEE*ANN****MI*M{n:05d}",
                 "DMG*D8*19500314*F", "NM1*PR*2*KEY INSURANCE*****PI*999996666", *claim]
    return body + [f"SE*{len(body) + 1}*{st02}"]


def interchange(*sets: list[str], control: str = "000000001", version: str = "005010X222A1") -> list[str]:
    segments = [ISA.format(control=control)[:-1], f"GS*HC*SUBMITTER*RECEIVER*20261127*1200*1*X*{version}"]
    for body in sets:
        segments += body
    return segments + [f"GE*{len(sets)}*1", f"IEA*1*{control}"]


def recount(segments: list[str]) -> list[str]:
    """The segments with each SE01 set to its transaction set's segment count (after a test added or
    removed segments)."""
    out, count = [], None
    for segment in segments:
        count = 1 if segment.startswith("ST*") else None if count is None else count + 1
        out.append(f"SE*{count}*{segment.split('*')[2]}" if segment.startswith("SE*") and count else segment)
    return out


def write(segments: list[str], element: str = "*", component: str = ":", repetition: str = "^",
          terminator: str = "~", after: str = "\n", counted: bool = True) -> str:
    """The segments with the given separators (written with * : ^ ~ above); SE01 counts the segments
    of its transaction set unless ``counted`` is False (to test a wrong count)."""
    segments = recount(segments) if counted else segments
    table = str.maketrans({"*": element, ":": component, "^": repetition})
    return "".join(segment.translate(table) + terminator + after for segment in segments)


def claim(claim_id: str = "PCN1", *changes: tuple[str, str | None]) -> list[str]:
    """GOOD_CLAIM with segments replaced (prefix -> new segment) or removed (prefix -> None)."""
    segments = [s.format(id=claim_id) if s.startswith("CLM") else s for s in GOOD_CLAIM]
    for prefix, new in changes:
        i = next(i for i, s in enumerate(segments) if s.startswith(prefix))
        if new is None:
            del segments[i]
        else:
            segments[i] = new
    return segments


def one(text: str) -> X12Claim:
    (result,) = parse(text)
    check_result(result)
    return result


def test_the_constructed_good_claim():
    assert len(ISA.format(control="000000001")) == 106
    result = one(write(interchange(transaction([claim("PCN1")]))))
    assert result.findings == []
    c = result.claim
    assert (c["claim_id"], c["total_charge"], c["prior_authorization"], c["submission_date"]) == (
        "PCN1", "165.00", "AUTH77", "2026-11-27")
    assert c["rendering_provider"] == {"npi": "1234567893", "taxonomy": "207Q00000X",
                                     "last_name": "KILDARE", "first_name": "BEN"}
    assert c["lines"][0] == {
        "line_number": 1, "procedure_code": "99213", "modifiers": ["25", "59"], "units": 1, "charge": "125.00",
        "service_date": "2026-11-01", "service_date_end": None, "diagnosis_pointers": [1, 2],
        "place_of_service": None, "ndc": None, "revenue_code": None}
    assert (c["lines"][1]["units"], c["lines"][1]["place_of_service"], c["lines"][1]["service_date_end"]) == (
        2.5, "11", "2026-11-02")


@pytest.mark.parametrize("element,component,repetition,terminator,after", [
    ("|", "^", "{", "~", ""), ("|", "^", "{", "~", "\r\n"), ("*", ":", "^", "~", ""),
    ("*", ":", "^", "~", "\r\n"), ("*", ">", "^", "\n", ""), ("!", "\\", "^", "'", "\n")])
def test_separators_come_from_the_isa(element, component, repetition, terminator, after):
    reference = one(write(interchange(transaction([claim()]))))
    text = write(interchange(transaction([claim()])), element, component, repetition, terminator, after)
    result = one(text)
    assert result.claim == reference.claim and result.findings == []
    # chunk boundaries anywhere give the same result
    for size in (256, 257, 300):
        assert [r.claim for r in parse(text, chunk_size=size)] == [reference.claim]


def test_a_separator_not_declared_in_the_isa():
    text = write(interchange(transaction([claim("PCN1", ("SV1*HC:992", "SV1*HC|99213|25*125.00*UN*1***1"))])),
                 component=":")
    result = one(text)
    (finding,) = result.findings
    assert where(finding)[0::2] == ("SV1", "SV101") and "'|'" in finding["message"]
    assert result.claim["lines"][0]["procedure_code"] == "99213"


def test_pointer_with_decimals_is_left_out_with_a_finding():
    result = one(write(interchange(transaction([claim("PCN1", ("SV1*HC:992", "SV1*HC:99213*125*UN*1***1.00:2"))]))))
    assert result.claim["lines"][0]["diagnosis_pointers"] == [2]
    (finding,) = result.findings
    assert finding["rule_id"] == "x12-dx-pointer" and finding["category"] == "dx_pointer"
    assert "'1.00'" in finding["message"] and where(finding)[0::2] == ("SV1", "SV107")
    assert finding["lines"] == [1] and finding["field"] == "lines[1].diagnosis_pointers"


def test_pointer_past_the_diagnoses_is_kept_for_the_rules():
    """5 of 3 diagnoses is a number: the claim keeps it and the pointer-invalid rule reports it."""
    result = one(write(interchange(transaction([claim("PCN1", ("SV1*HC:992", "SV1*HC:99213*125*UN*1***1:5"))]))))
    assert result.claim["lines"][0]["diagnosis_pointers"] == [1, 5]
    assert result.findings == []


def test_letter_pointer_is_kept_with_a_finding():
    result = one(write(interchange(transaction([claim("PCN1", ("SV1*HC:992", "SV1*HC:99213*125*UN*1***A:2"))]))))
    assert result.claim["lines"][0]["diagnosis_pointers"] == ["A", 2]
    assert rules(result) == ["x12-dx-pointer"]


def test_missing_sv1():
    result = one(write(interchange(transaction([claim("PCN1", ("SV1*HC:992", None))]))))
    (finding,) = result.findings
    assert finding["category"] == "required_field" and finding["lines"] == [1]
    assert where(finding) == ("LX", 21, None) and "no SV1" in finding["message"]
    assert result.claim["lines"][0]["procedure_code"] is None
    assert result.claim["lines"][0]["service_date"] == "2026-11-01"


def test_missing_sv101_code_and_charge_and_units():
    result = one(write(interchange(transaction([claim("PCN1", ("SV1*HC:992", "SV1*HC*x*UN****1"))]))))
    assert rules(result) == ["x12-missing-element", "x12-number-format", "x12-missing-element"]
    assert [f["rarc"] for f in result.findings] == ["M51", "M79", "M53"]
    assert [where(f)[2] for f in result.findings] == ["SV101", "SV102", "SV104"]


def test_clm_without_clm01():
    result = one(write(interchange(transaction([claim("")]))))
    (finding,) = result.findings
    assert finding["category"] == "required_field" and finding["field"] == "claim_id"
    assert where(finding) == ("CLM", 16, "CLM01")
    assert result.claim["claim_id"] is None


def test_professional_claim_without_hi():
    result = one(write(interchange(transaction([claim("PCN1", ("HI*", None))]))))
    (finding,) = result.findings
    assert (finding["category"], finding["field"], finding["rarc"]) == ("required_field", "diagnoses", "M76")
    assert "no HI" in finding["message"] and result.claim["diagnoses"] == []


def test_claim_without_service_lines_is_reported_and_not_a_valid_contract_claim():
    segments = [s for s in claim() if not s.startswith(("LX", "SV1", "DTP*472"))]
    result, following = parse(write(interchange(transaction([segments, claim("PCN2")]))))
    check_result(following)
    assert result.claim["lines"] == [] and rules(result) == ["x12-missing-loop"]
    assert result.findings[0]["field"] == "lines"
    with pytest.raises(ValueError):
        Claim.model_validate(result.claim)  # the one documented exception: the contract needs a line


def test_dates_not_ccyymmdd():
    result = one(write(interchange(transaction([claim("PCN1", ("DTP*472*D8", "DTP*472*D8*2026111"))]))))
    (finding,) = result.findings
    assert (finding["category"], finding["field"], finding["lines"]) == ("format", "lines[1].service_date", [1])
    assert where(finding) == ("DTP", 23, "DTP03") and "CCYYMMDD" in finding["message"]
    assert result.claim["lines"][0]["service_date"] is None

    segments = [s.replace("DMG*D8*19500314", "DMG*D8*19501399") for s in interchange(transaction([claim()]))]
    birth = one(write(segments))
    (finding,) = birth.findings
    assert birth.claim["patient"]["birth_date"] is None
    assert finding["field"] == "patient.birth_date" and "1950" not in finding["message"]  # no PHI in messages


def test_values_longer_than_the_contract_allows_are_left_out():
    long_npi = "1" * 45
    segments = [s.replace("XX*1912301953", f"XX*{long_npi}") for s in interchange(transaction([claim()]))]
    result = one(write(segments))
    (finding,) = result.findings
    assert (finding["rule_id"], finding["field"]) == ("x12-too-long", "billing_provider.npi")
    assert result.claim["billing_provider"]["npi"] is None


def test_segment_outside_any_claim_goes_on_the_next_claim():
    body = transaction([claim()])
    body.insert(body.index("NM1*PR*2*KEY INSURANCE*****PI*999996666"), "LX*9")
    result = one(write(interchange(body)))
    (finding,) = result.findings
    assert finding["rule_id"] == "x12-segment-outside-claim" and where(finding) == ("LX", 15, None)


def test_one_broken_claim_between_two_good_ones():
    broken = claim("", ("SV1*HC:992", "SV1**125.00*UN*1***1.00"), ("DTP*472*RD8", "DTP*472*RD8*2026-11-01"))
    results = parse(write(interchange(transaction([claim("PCN1"), broken, claim("PCN3")]))))
    assert len(results) == 3
    for result in results:
        check_result(result)
    assert [r.claim["claim_id"] for r in results] == ["PCN1", None, "PCN3"]
    assert results[0].findings == [] and results[2].findings == []
    assert rules(results[1]) == ["x12-missing-element", "x12-missing-element", "x12-dx-pointer",
                                 "x12-date-format"]
    assert results[0].claim["lines"] == results[2].claim["lines"]


def test_two_transaction_sets_and_two_interchanges():
    first = write(interchange(transaction([claim("A1"), claim("A2")], st02="0001"),
                              transaction([claim("A3")], st02="0002"), control="000000001"))
    second = write(interchange(transaction([claim("B1")], st02="0009"), control="000000002"),
                   "|", "^", "{", "~", "\r\n")
    results = parse(first + second)
    for result in results:
        check_result(result)
        assert result.findings == []
    assert [(r.claim["claim_id"], r.control["isa13"], r.control["st02"]) for r in results] == [
        ("A1", "000000001", "0001"), ("A2", "000000001", "0001"), ("A3", "000000001", "0002"),
        ("B1", "000000002", "0009")]
    text = first + second
    assert [text[r.control["offset"]:r.control["offset"] + 4] for r in results] == ["CLM*"] * 3 + ["CLM|"]


def test_institutional_dates_and_procedure_codes():
    body = transaction([[
        "CLM*I1*500***11:A:1**A*Y*Y", "DTP*096*TM*1130", "DTP*434*RD8*20261101-20261104",
        "DTP*435*DT*202611010830", "CL1*1*7*01", "HI*ABK:I214",
        "HI*ABF:E119*ABN:W010XXA", "HI*ABJ:R079",
        "HI*BBR:02703ZZ:D8:20261101", "LX*1", "SV2*0450*HC:99284*500*UN*1", "DTP*472*D8*20261101"]],
        version="005010X223A2")
    result = one(write(interchange(body, version="005010X223A2")))
    assert result.findings == []
    c = result.claim
    assert (c["claim_type"], c["type_of_bill"], c["admission_date"], c["discharge_date"]) == (
        "institutional", "111", "2026-11-01", "2026-11-04")
    assert c["diagnoses"] == [{"code": code, "code_system": "icd10cm"} for code in ("I214", "E119", "W010XXA")]


def test_unterminated_transaction_still_yields_its_claim():
    segments = interchange(transaction([claim("PCN1")]))
    result = one(write(segments[:-3]))  # no SE, GE, IEA
    assert rules(result) == ["x12-unterminated"]
    assert result.claim["lines"][1]["procedure_code"] == "81002"


def test_unsupported_version_and_isa_not_fixed_width():
    segments = [s.replace("005010X222A1", "004010X098A1") for s in interchange(transaction([claim()]))]
    segments[0] = segments[0].replace("SUBMITTER      ", "SUBMITTER")
    result = one(write(segments))
    assert rules(result) == ["x12-isa", "x12-version"]
    assert result.claim["claim_type"] == "professional"


def test_findings_no_claim_can_take_come_out_as_a_result_without_claim():
    results = parse(write(interchange(transaction([]), transaction([claim()], st02="0002"))))
    assert [r.claim and r.claim["claim_id"] for r in results] == [None, "PCN1"]
    assert rules(results[0]) == ["x12-no-claim"] and results[0].control["st02"] == "0001"
    assert results[1].findings == []

    trailing = parse(write(interchange(transaction([claim()])) + ["LX*1"]))  # after IEA
    assert [r.claim is None for r in trailing] == [False, True]
    assert rules(trailing[1]) == ["x12-segment-outside-claim"]


def test_no_isa_or_a_short_isa_raises_one_x12error():
    with pytest.raises(X12Error, match="does not start with an ISA"):
        parse("GS*HC*A*B*20261127*1200*1*X*005010X222A1~")
    with pytest.raises(X12Error, match="too short"):
        parse("ISA*00*          *00*   ~GS*HC~")
    with pytest.raises(X12Error, match="empty"):
        parse(" \r\n")


def test_a_broken_second_interchange_keeps_the_first_claims():
    text = write(interchange(transaction([claim("PCN1")]))) + "ISA*00*short~"
    results = parse(text)
    assert [r.claim and r.claim["claim_id"] for r in results] == ["PCN1", None]
    assert rules(results[1]) == ["x12-isa"] and "too short" in results[1].findings[0]["message"]


# --------------------------------------------------------------------------- a large file


class Generated(io.TextIOBase):
    """An 837P of ``count`` claims, produced as it is read (the test never holds the file)."""

    def __init__(self, count: int) -> None:
        self._parts = self._produce(count)
        self._buffer = ""

    @staticmethod
    def _produce(count: int) -> Iterator[str]:
        head = transaction([])[:-1]
        yield write(interchange(head)[:len(head) + 2])
        template = write(["HL*{hl}*1*22*0", "SBR*P*18*******CI", "NM1*IL*1*LEE*ANN****MI*M{n:09d}",
                          "DMG*D8*19500314*F", "NM1*PR*2*KEY INSURANCE*****PI*999996666", *claim("PCN{n:07d}")])
        for n in range(count):
            yield template.format(hl=n + 2, n=n)
        yield write([f"SE*{11 + 16 * count}*0001", "GE*1*1", "IEA*1*000000001"])

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        size = -1 if size is None else size
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._parts)
            except StopIteration:
                break
        size = len(self._buffer) if size < 0 else size
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def _stream(count: int) -> tuple[int, int, float]:
    """(claims read, peak traced bytes, seconds) for a generated file of ``count`` claims."""
    tracemalloc.start()
    started = time.perf_counter()
    n = 0
    try:
        for result in iter_claims(Generated(count)):
            assert result.findings == [], result.findings
            n += 1
        return n, tracemalloc.get_traced_memory()[1], time.perf_counter() - started
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_on_a_large_file():
    """20,000 claims (about 6 MB of X12) under tracemalloc, which makes the reading about 6x slower.
    Measured once by hand with this generator, 100,000 claims (31 MB): 7-8.5 s without tracemalloc
    (12,000-15,000 claims/s on a shared 2-core machine), and a peak of 0.43 MiB traced, the same as
    for 1,000 claims."""
    small_n, small_peak, _ = _stream(1_000)
    n, peak, seconds = _stream(20_000)
    assert (small_n, n) == (1_000, 20_000)
    assert peak < 20 * 2**20
    assert peak < small_peak * 2 + 2**20  # 20x the claims, not 20x the memory
    assert seconds < 60
