"""X12 envelope and structure validation in the reader's single pass (scrubber/intake/x12/structure.py):
control numbers and counts, the HL tree, LX numbering, repeated claim ids and loops, required header
segments; transactions that are not professional or institutional claims; a byte-order mark before
the ISA; the submission date against the interchange's date. Built on the constructed interchanges
of test_x12."""
from __future__ import annotations

import io

import pytest

from scrubber.intake.x12 import X12Claim, iter_claims
from scrubber.intake.x12.chunking import x12_pieces
from tests.intake.test_x12 import (SAMPLES, check_result, claim, interchange, parse, parse_file, rules, transaction,
                                   where, write)


def envelope(text: str) -> tuple[list[X12Claim], X12Claim]:
    """The claims of an interchange, every one without findings, and the one result of its envelope."""
    *claims, last = parse(text)
    for result in claims:
        check_result(result)
        assert result.findings == []
    assert last.claim is None
    return claims, last


def located(result: X12Claim) -> list[tuple[str, str, int, str | None]]:
    return [(f["rule_id"], *where(f)) for f in result.findings]


# --------------------------------------------------------------------------- control numbers and counts


def test_a_wrong_se01_count_is_one_result_of_its_own_after_the_claims():
    segments = interchange(transaction([claim("PCN1"), claim("PCN2")]))
    se = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    segments[se] = "SE*40*0001"  # the set has 43 segments
    claims, trailer = envelope(write(segments, counted=False))
    assert [c.claim["claim_id"] for c in claims] == ["PCN1", "PCN2"]
    assert located(trailer) == [("x12-control-count", "SE", 43, "SE01")]
    assert trailer.findings[0]["message"] == (
        "SE at segment 43, SE01 '40': SE01 says 40, but transaction set 0001 has 43 segments (ST to SE)")
    assert (trailer.findings[0]["category"], trailer.control["st02"]) == ("format", "0001")


def test_se02_ge02_iea02_must_repeat_their_header_control_numbers():
    segments = interchange(transaction([claim()]))
    segments[-3] = segments[-3].replace("*0001", "*0002")  # SE02
    segments[-2] = "GE*1*7"
    segments[-1] = "IEA*1*000000009"
    results = parse(write(segments, counted=False))
    assert [r.claim is None for r in results] == [False, True, True, True]
    assert results[0].findings == []
    assert [rules(r) for r in results[1:]] == [["x12-control-number"]] * 3
    # SE by its position in the transaction set; GE and IEA by the control number of what they close
    assert [r.findings[0]["message"] for r in results[1:]] == [
        "SE at segment 27, SE02 '0002': SE02 must repeat ST02 '0001', the control number of its transaction set",
        "GE of functional group 1, GE02 '7': GE02 must repeat GS06 '1', the control number of its functional group",
        "IEA of interchange 000000001, IEA02 '000000009': IEA02 must repeat ISA13 '000000001', the control number "
        "of its interchange"]


def test_ge01_counts_transaction_sets_and_iea01_functional_groups():
    segments = interchange(transaction([claim("PCN1")]), transaction([claim("PCN2")], st02="0002"))
    assert segments[-2:] == ["GE*2*1", "IEA*1*000000001"]
    assert [r.findings for r in parse(write(segments))] == [[], []]
    segments[-2:] = ["GE*3*1", "IEA*2*000000001"]
    results = parse(write(segments))
    assert [r.claim and r.claim["claim_id"] for r in results] == ["PCN1", "PCN2", None, None]
    assert [r.findings for r in results[:2]] == [[], []]
    assert [(f["rule_id"], f["category"], f["message"]) for r in results[2:] for f in r.findings] == [
        ("x12-control-count", "format",
         "GE of functional group 1, GE01 '3': GE01 says 3, but functional group 1 has 2 transaction sets (ST)"),
        ("x12-control-count", "format",
         "IEA of interchange 000000001, IEA01 '2': IEA01 says 2, but interchange 000000001 has 1 functional "
         "groups (GS)")]


def test_the_shared_samples_have_sound_envelopes():
    """Every control number and count of the 16 implementation guide samples is right: no result of its own."""
    for name in SAMPLES:
        assert all(r.claim is not None for r in parse_file(name)), name


# --------------------------------------------------------------------------- the HL tree


def test_hl_ids_must_start_at_1_and_run_on():
    body = transaction([claim("PCN1")])
    body[body.index("HL*1**20*1")] = "HL*0**20*1"
    body[body.index("HL*2*1*22*0")] = "HL*2*0*22*0"
    (result,) = parse(write(interchange(body)))
    assert located(result) == [("x12-hl-sequence", "HL", 5, "HL01")]
    assert result.findings[0]["message"] == (
        "HL at segment 5, HL01 '0': HL ids run 1, 2, 3... through the transaction set, so this HL must be 1")


def test_an_hl_id_used_twice():
    body = transaction([claim("PCN1"), claim("PCN2")])
    body[body.index("HL*3*1*22*0")] = "HL*2*1*22*0"
    first, second = parse(write(interchange(body)))
    assert first.findings == []  # the subscriber HL's finding goes on the claims under it
    assert located(second) == [("x12-hl-sequence", "HL", 27, "HL01")]
    assert second.findings[0]["message"].endswith("so this HL must be 3; this id was already used")


def test_an_hl_whose_parent_does_not_exist():
    body = transaction([claim("PCN1")])
    body[body.index("HL*2*1*22*0")] = "HL*2*9*22*0"
    result = parse(write(interchange(body)))[0]
    assert located(result) == [("x12-hl-parent", "HL", 11, "HL02")]
    assert result.findings[0]["message"] == (
        "HL at segment 11, HL02 '9': the parent must be the billing provider HL '1' above it; HL02 '9' names no "
        "HL before it")


def test_a_patient_hl_names_its_subscriber():
    body = transaction([])[:-1] + ["HL*2*1*22*1", "SBR*P*18*******CI", "NM1*IL*1*LEE*ANN****MI*M1",
                                   "NM1*PR*2*KEY INSURANCE*****PI*999996666", "HL*3*1*23*0", "PAT*19",
                                   "NM1*QC*1*LEE*TOM", "DMG*D8*20100314*M", *claim(), "SE*0*0001"]
    result = parse(write(interchange(body)))[0]
    assert located(result) == [("x12-hl-parent", "HL", 15, "HL02")]
    assert "the parent must be the subscriber HL '2'" in result.findings[0]["message"]


# --------------------------------------------------------------------------- claims and loops


def test_lx_restarts_at_1_in_each_claim():
    second = claim("PCN2", ("LX*1", "LX*3"), ("LX*2", "LX*4"))
    first, result = parse(write(interchange(transaction([claim("PCN1"), second]))))
    assert first.findings == []
    assert located(result) == [("x12-lx-sequence", "LX", 37, "LX01"), ("x12-lx-sequence", "LX", 40, "LX01")]
    assert [f["lines"] for f in result.findings] == [[1], [2]]
    assert [line["line_number"] for line in result.claim["lines"]] == [1, 2]  # numbered by position


def test_a_claim_id_repeated_in_one_transaction_set():
    first, second, third = parse(write(interchange(
        transaction([claim("PCN1"), claim("PCN1")]), transaction([claim("PCN1")], st02="0002"))))
    assert first.findings == [] and third.findings == []  # another transaction set may repeat it
    assert located(second) == [("x12-claim-id-repeated", "CLM", 32, "CLM01")]
    assert second.findings[0]["message"] == (
        "CLM at segment 32, CLM01 'PCN1': this claim id was already sent in transaction set 0001 (CLM at segment "
        "16); a clearinghouse rejects the second one")


def test_the_billing_provider_loop_sent_twice():
    body = transaction([claim("PCN1"), claim("PCN2")])
    body.insert(body.index("N3*1 MAIN ST"), "NM1*85*2*OTHER CLINIC*****XX*1234567893")
    results = parse(write(interchange(body)))
    for result in results:
        assert located(result) == [("x12-loop-repeated", "NM1", 8, "NM101")]
        assert result.claim["billing_provider"]["npi"] == "1912301953"  # the first one is kept
    assert results[0].findings[0]["message"] == (
        "NM1 at segment 8, NM101 '85': loop 2010AA billing provider is sent once per HL level, and this level "
        "already has it; this one is ignored")


def test_required_header_and_address_segments():
    body = [s for s in transaction([claim()]) if not s.startswith(("NM1*41", "N4*"))]
    (result,) = parse(write(interchange(body)))
    assert located(result) == [("x12-missing-segment", "HL", 4, None), ("x12-missing-segment", "HL", 4, None)]
    assert [f["message"] for f in result.findings] == [
        "HL at segment 4: transaction set 0001 has no submitter name, NM1*41 (loop 1000A), before its first HL",
        "HL at segment 4: the billing provider's loop 2010AA has no N4 address segment, which it requires"]


# --------------------------------------------------------------------------- not claims of ours


GUIDES = [("837", "005010X224A2", "the 837 dental claim"), ("837", "005010X291", "implementation guide X291"),
          ("837", "005010X292", "implementation guide X292"), ("837", "005010X298", "implementation guide X298")]


@pytest.mark.parametrize("kind,version,name", GUIDES)
def test_an_837_of_another_guide_is_one_record_and_nothing_else(kind, version, name):
    other = [s.replace("005010X222A1", version) for s in transaction([claim("D1"), claim("D2")], st02="0002")]
    first, skipped, third = parse(write(interchange(transaction([claim("P1")]), other,
                                                    transaction([claim("P3")], st02="0003"))))
    assert [first.claim["claim_id"], skipped.claim, third.claim["claim_id"]] == ["P1", None, "P3"]
    assert first.findings == [] and third.findings == []
    assert located(skipped) == [("x12-version", "ST", 1, "ST03")]
    assert skipped.findings[0]["message"] == (
        f"ST at segment 1, ST03 '{version}': transaction set 0002 is {name}, not an 837 professional "
        "(005010X222A1/A2) or institutional (005010X223A2/A3) claim; it is skipped and nothing in it is checked")


def test_a_278_is_one_record_and_nothing_else():
    review = ["ST*278*0002*005010X217", "BHT*0007*13*1*20261127*1200", "HL*1**20*1", "NM1*X3*2*PAYER",
              "HL*2*1*21*1", "NM1*1P*2*CLINIC*****XX*1912301953", "UM*HS*I*1", "SE*99*0002"]
    first, skipped = parse(write(interchange(transaction([claim("P1")]), review), counted=False))
    assert first.findings == []
    assert (skipped.claim, rules(skipped)) == (None, ["x12-not-837"])
    assert skipped.findings[0]["message"] == (
        "ST at segment 1, ST01 '278': transaction set 0002 is a 278 transaction, not an 837 claim; it is "
        "skipped and nothing in it is checked")


# --------------------------------------------------------------------------- byte-order mark, dates


def test_a_byte_order_mark_before_the_isa_is_accepted():
    text = write(interchange(transaction([claim()])))
    plain = parse(text)
    for marked in ("\ufeff" + text, "\ufeff\r\n" + text):
        assert [(r.claim, r.findings) for r in parse(marked)] == [(r.claim, r.findings) for r in plain]
        assert [(r.claim, r.findings) for r in parse(marked, chunk_size=256)] == [(r.claim, r.findings) for r in plain]


def test_the_batch_cutter_skips_a_byte_order_mark():
    text = write(interchange(*[transaction([claim(f"P{n}")], st02=f"{n:04d}") for n in range(1, 5)]))
    pieces = list(x12_pieces(io.BytesIO(b"\xef\xbb\xbf" + text.encode()), 1))
    assert len(pieces) > 1
    ids = [r.claim["claim_id"] for piece in pieces for r in iter_claims(io.StringIO(piece.decode()))]
    assert ids == ["P1", "P2", "P3", "P4"]


def test_the_submission_date_is_bht04_with_a_notice_when_the_interchange_is_later():
    segments = interchange(transaction([claim()]))
    segments[1] = segments[1].replace("20261127", "20261130")  # GS04 three days after BHT04
    (result,) = parse(write(segments))
    assert result.claim["submission_date"] == "2026-11-27"
    assert [(f["rule_id"], f["severity"], f["category"], f["field"]) for f in result.findings] == [
        ("x12-submission-date", "info", "date", "submission_date")]
    assert result.findings[0]["message"] == (
        "BHT at segment 2, BHT04 '20261127': the submission date is BHT04 2026-11-27, the day the claims were "
        "created; the interchange is dated later (GS04 2026-11-30), and a payer may count timely filing from "
        "that date")


def test_without_bht04_the_interchange_date_is_the_submission_date():
    segments = [s.replace("BHT*0019*00*1*20261127*1200*CH", "BHT*0019*00*1**1200*CH")
                for s in interchange(transaction([claim()]))]
    (result,) = parse(write(segments))
    assert result.claim["submission_date"] == "2026-11-27"
    assert rules(result) == ["x12-submission-date"]
    assert "so the submission date is the interchange's, GS04 2026-11-27" in result.findings[0]["message"]


# --------------------------------------------------------------------------- segment order within the loops read


def test_sv1_must_follow_its_lx_and_the_service_date_come_after_it():
    segments = claim("PCN1")
    segments[9], segments[10] = segments[10], segments[9]  # line 2: LX, DTP*472, SV1
    (result,) = parse(write(interchange(transaction([segments]))))
    assert located(result) == [("x12-segment-order", "SV1", 26, None), ("x12-segment-order", "DTP", 25, "DTP01")]
    assert [(f["category"], f["lines"], f["field"]) for f in result.findings] == [
        ("format", [2], None), ("format", [2], "lines[2].service_date")]
    assert [f["message"] for f in result.findings] == [
        "SV1 at segment 26: it belongs right after the LX of its line at segment 24; the segments of a loop come "
        "in the implementation guide's order",
        "DTP at segment 25, DTP01 '472': it belongs after the service segment (SV1) of its line; the segments of "
        "a loop come in the implementation guide's order"]
    assert result.claim["lines"][1]["service_date"] == "2026-11-01"  # still read


def test_the_billing_provider_address_comes_after_its_nm1():
    body = transaction([claim("PCN1")])
    body[6], body[7] = body[7], body[6]  # N3 before NM1*85
    (result,) = parse(write(interchange(body)))
    assert located(result) == [("x12-segment-order", "NM1", 8, "NM101")]
    assert result.findings[0]["message"].startswith(
        "NM1 at segment 8, NM101 '85': it belongs before the N3/N4 address of loop 2010AA, which it begins")


def test_sbr_comes_right_after_the_subscriber_hl():
    body = transaction([claim("PCN1")])
    body[11], body[12] = body[12], body[11]  # NM1*IL before SBR
    (result,) = parse(write(interchange(body)))
    assert located(result) == [("x12-segment-order", "SBR", 13, "SBR01")]
    assert result.findings[0]["message"].startswith(
        "SBR at segment 13, SBR01 'P': it belongs right after its subscriber HL at segment 11;")


# --------------------------------------------------------------------------- repeats past the guides' maximums


def test_a_second_diagnosis_hi_on_an_837p():
    segments = claim("PCN1")
    segments.insert(3, "HI*ABF:J449")
    (result,) = parse(write(interchange(transaction([segments]))))
    assert located(result) == [("x12-segment-repeated", "HI", 19, "HI01")]
    assert result.findings[0]["message"] == (
        "HI at segment 19, HI01 'ABF:J449': the claim already has 1 HI diagnosis segment, the most 005010X222A1 "
        "allows in loop 2300")
    assert result.claim["diagnoses"][-1] == {"code": "J449", "code_system": "icd10cm"}  # still read


def test_a_third_other_diagnosis_hi_on_an_837i():
    body = transaction([INSTITUTIONAL[:5] + ["HI*ABF:E119", "HI*ABF:I10", "HI*ABF:E785"] + INSTITUTIONAL[5:]],
                       version="005010X223A2")
    (result,) = parse(write(interchange(body, version="005010X223A2")))
    assert located(result) == [("x12-segment-repeated", "HI", 23, "HI01")]
    assert "the claim already has 2 HI other diagnosis segments, the most 005010X223A2 allows" in (
        result.findings[0]["message"])


def test_a_2310_provider_loop_sent_twice_is_ignored():
    segments = claim("PCN1")
    segments[5:5] = ["NM1*82*1*OTHER*DOC****XX*1912301953", "PRV*PE*PXC*111N00000X"]
    (result,) = parse(write(interchange(transaction([segments]))))
    assert located(result) == [("x12-loop-repeated", "NM1", 21, "NM101")]
    assert result.findings[0]["message"] == (
        "NM1 at segment 21, NM101 '82': loop 2310B rendering provider is sent once per claim, and this claim "
        "already has it; this one is ignored")
    assert result.claim["rendering_provider"] == {"npi": "1234567893", "taxonomy": "207Q00000X",
                                                  "last_name": "KILDARE", "first_name": "BEN"}


def _lines(count: int, service: str) -> list[str]:
    return [s for n in range(1, count + 1) for s in (f"LX*{n}", service, "DTP*472*D8*20261101")]


def test_an_837p_claim_has_at_most_50_lines():
    segments = ["CLM*P51*510.00***11:B:1*Y*A*Y*Y", "HI*ABK:E119", *_lines(51, "SV1*HC:99213*10.00*UN*1***1")]
    (result,) = parse(write(interchange(transaction([segments]))))
    assert [(*row, f["lines"]) for row, f in zip(located(result), result.findings)] == [
        ("x12-loop-repeated", "LX", 168, "LX01", [51])]
    assert result.findings[0]["message"] == (
        "LX at segment 168, LX01 '51': an 837P claim has at most 50 service lines (loop 2400, 005010X222A1); "
        "this is line 51")
    assert len(result.claim["lines"]) == 51  # kept: the contract takes up to 999
    fifty = parse(write(interchange(transaction([segments[:-3]]))))
    assert [r.findings for r in fifty] == [[]]


def test_nte_past_its_maximum_in_2300_and_2400():
    segments = claim("PCN1")
    segments[2:2] = ["NTE*ADD*FIRST NOTE", "NTE*ADD*SECOND NOTE"]  # 837P 2300: one NTE
    segments[10:10] = ["NTE*ADD*A", "NTE*TPO*B", "NTE*ADD*C"]  # line 1, after its DTP*472: two NTE
    (result,) = parse(write(interchange(transaction([segments]))))
    assert [(*row, f["lines"]) for row, f in zip(located(result), result.findings)] == [
        ("x12-segment-repeated", "NTE", 19, None, []), ("x12-segment-repeated", "NTE", 28, None, [1])]
    assert [f["message"] for f in result.findings] == [
        "NTE at segment 19: loop 2300 holds at most 1 NTE segment in 005010X222A1; this is number 2",
        "NTE at segment 28: loop 2400 holds at most 2 NTE segments in 005010X222A1; this is number 3"]


# --------------------------------------------------------------------------- required segments


INSTITUTIONAL = ["CLM*I1*500***11:A:1**A*Y*Y", "DTP*434*RD8*20261101-20261104", "DTP*435*DT*202611010830",
                 "CL1*1*7*01", "HI*ABK:I214", "LX*1", "SV2*0450*HC:99284*500*UN*1", "DTP*472*D8*20261101"]


def test_an_inpatient_837i_claim_needs_cl1():
    def read(segments: list[str]) -> X12Claim:
        (result,) = parse(write(interchange(transaction([segments], version="005010X223A2"),
                                            version="005010X223A2")))
        return result

    assert read(INSTITUTIONAL).findings == []
    without = [s for s in INSTITUTIONAL if not s.startswith("CL1")]
    result = read(without)
    assert located(result) == [("x12-missing-segment", "CLM", 16, None)]
    assert (result.findings[0]["category"], result.findings[0]["field"]) == ("required_field", "admission_type")
    assert result.findings[0]["message"] == (
        "CLM at segment 16: the inpatient claim (type of bill 11x) has no CL1 institutional claim code segment, "
        "which 005010X223A2 requires on inpatient claims")
    outpatient = [s.replace("11:A:1", "13:A:1") for s in without]  # type of bill 131: no CL1 needed
    assert read(outpatient).findings == []


def test_a_subscriber_level_without_a_claim():
    childless, second = parse(write(interchange(transaction([[], claim("PCN2")]))))
    assert childless.claim is None and second.findings == []
    assert located(childless) == [("x12-missing-segment", "HL", 11, None)]
    assert childless.findings[0]["message"] == (
        "HL at segment 11: the subscriber level has no claim (CLM, loop 2300) under it")
    first, last = parse(write(interchange(transaction([claim("PCN1"), []]))))  # the last one, closed by SE
    assert first.findings == [] and last.claim is None
    assert located(last) == [("x12-missing-segment", "HL", 27, None)]
