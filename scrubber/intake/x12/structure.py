"""X12 envelope and structure checks, made in the reader's single pass with flat memory.

What a clearinghouse checks before a payer sees a claim (and answers with a 999 or 277CA):

- the control numbers and counts of the envelope: IEA02 = ISA13 and IEA01 = the number of GS
  groups; GE02 = GS06 and GE01 = the number of transaction sets in the group; SE02 = ST02 and SE01
  = the number of segments of the transaction set, ST and SE included;
- the HL hierarchy: HL01 runs 1, 2, 3... through the transaction set (so ids are unique and start
  at 1), a subscriber HL's parent (HL02) is the billing provider HL in force, a patient HL's the
  subscriber HL in force;
- LX01 runs 1, 2, 3... in each claim;
- a CLM01 sent twice in one transaction set (among the first :data:`MAX_TRACKED_CLAIM_IDS` claims
  of the set: the implementation guides recommend at most 5000 claims per transaction set, and
  remembering more would make memory grow with the file);
- the header segments of a transaction set (BHT, NM1*41 submitter 1000A, NM1*40 receiver 1000B);
- loops and segments sent more often than the implementation guide allows, in the loops read
  (rule ``x12-loop-repeated`` for a loop, ``x12-segment-repeated`` for a segment; the first ones
  are kept, see the table);
- the order of segments within the loops read (``x12-segment-order``): the service segment (SV1/SV2)
  right after its LX, the service date (DTP*472) after the service segment, the 2010AA address
  (N3/N4) after its NM1*85, SBR right after the subscriber HL (HI before the 2310-2400 loops and
  claim segments after CLM were already checked by the handlers);
- required segments (``x12-missing-segment``, category ``required_field`` as every missing segment),
  besides those the handlers check (NM1*85, N3/N4, SBR, NM1*IL, NM1*PR, HI, SV1/SV2, DTP*472, DTP*434):
  a subscriber or patient level with no claim (CLM) under it, and 837I CL1 on an inpatient bill.

The repeat maximums enforced, from the implementation guides' loop and segment repeat counts
(ASC X12N 005010X222A1 Health Care Claim: Professional, and 005010X223A2 Health Care Claim:
Institutional; the A2/A3 addenda do not change them):

=====================================  ==============  ==============  ==============================
what                                   837P (X222A1)   837I (X223A2)   rule
=====================================  ==============  ==============  ==============================
2010AA billing provider per HL*20      1               1               x12-loop-repeated
2010BA/2010BB per HL*22, 2010CA *23    1               1               x12-loop-repeated
2300 HI diagnosis (ABK/ABF, BK/BF)     1               --              x12-segment-repeated
2300 HI principal diagnosis (ABK/BK)   --              1               x12-segment-repeated
2300 HI admitting (ABJ), reason for    --              1 each          x12-segment-repeated
visit (APR), external cause (ABN),
DRG (DR), principal procedure (BBR)
2300 HI other diagnosis (ABF/BF),      --              2 each          x12-segment-repeated
other procedure (BBQ), occurrence
span (BI), occurrence (BH), value
(BE), treatment code (TC)
2300 HI condition information (BG)     2               2               x12-segment-repeated
2300 HI anesthesia procedure (BP/BO)   1               --              x12-segment-repeated
2300 NTE claim note                    1               10              x12-segment-repeated
2300 K3 file information               10              10              x12-segment-repeated
2310x provider loop, each NM101        1 per claim     1 per claim     x12-loop-repeated
(837P DN, P3, 82, 77, DQ, PW, 45;
837I 71, 72, ZZ, 82, 77, DN)
2400 service lines (LX) per claim      50              999             x12-loop-repeated (837P);
                                                                       x12-too-many-lines (837I)
2400 NTE line note                     2 (ADD/DCP +    1 (TPO)         x12-segment-repeated
                                       TPO)
2400 K3 file information               10              --              x12-segment-repeated
=====================================  ==============  ==============  ==============================

(--: the guide has no such segment there, so nothing is counted.) A 2310x loop sent twice is
ignored after the first, like a repeated 2010AA; a segment past its maximum is still read, and a
837P line past the 50th is kept (the contract takes up to 999).

Every function returns contract findings (category ``format``), each naming the segment, its
position and the element. Which claim gets them is the caller's (:mod:`~scrubber.intake.x12.walker`)
choice: a trailer's problems come when every claim before it has been answered, so they come out
as a result of their own (see the package docstring).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from scrubber.intake.x12.segments import Segment
from scrubber.intake.x12.state import WalkState
from scrubber.intake.x12.values import at, finding, parse_date

__all__ = ["CLAIM_LOOPS", "INPATIENT_FACILITY", "MAX_LINES_837P", "MAX_TRACKED_CLAIM_IDS", "childless_level",
           "envelope_date", "ge_findings", "head_findings", "hi_repeated", "hl_findings", "iea_findings",
           "inpatient_without_cl1", "lx_finding", "not_after", "note_repeated", "provider_repeated",
           "repeated_claim_id", "se_findings", "submission_notice", "too_many_lines"]

MAX_TRACKED_CLAIM_IDS = 5000
_HEAD = (("BHT", "BHT segment (beginning of hierarchical transaction)"),
         ("NM1*41", "submitter name, NM1*41 (loop 1000A),"),
         ("NM1*40", "receiver name, NM1*40 (loop 1000B),"))


def _same(sent: str, expected: str | None) -> bool:
    """Two control numbers agree (as numbers when both are, so 0001 = 1)."""
    sent, wanted = sent.strip(), (expected or "").strip()
    if sent.isdigit() and wanted.isdigit():
        return int(sent) == int(wanted)
    return sent == wanted


def _where(seg: Segment, element: int, owner: str | None) -> str:
    """Where a trailer's element is: by segment position (SE, in its transaction set), or by the control
    number of what it closes (GE, IEA: their position in the interchange is not kept when a batch is
    cut into chunks, their control number is)."""
    if owner is None:
        return at(seg, element)
    raw = seg.get(element)
    return f"{seg.id} of {owner}, {seg.id}{element:02d}" + (f" {raw!r}" if raw else "")


def _count(seg: Segment, element: int, actual: int, owner: str, counted: str, suggestion: str,
           located: bool = True) -> list[dict[str, Any]]:
    sent = seg.get(element).strip()
    if sent.isdigit() and int(sent) == actual:
        return []
    return [finding("control-count", "format", f"{_where(seg, element, None if located else owner)}: "
                    f"{seg.id}{element:02d} says {sent or '(nothing)'}, but {owner} has {actual} {counted}",
                    suggestion=suggestion)]


def _control(seg: Segment, element: int, header: str, expected: str | None, what: str,
             located: bool = True) -> list[dict[str, Any]]:
    if _same(seg.get(element), expected):
        return []
    owner = f"{what} {expected or '(none)'}"
    return [finding("control-number", "format", f"{_where(seg, element, None if located else owner)}: "
                    f"{seg.id}{element:02d} must repeat {header} {expected or '(none)'!r}, the control number of "
                    f"its {what}", suggestion=f"Send {seg.id}{element:02d} equal to {header}")]


def se_findings(state: WalkState, seg: Segment) -> list[dict[str, Any]]:
    """SE01 = the segments of the transaction set (ST to SE), SE02 = ST02."""
    return (_count(seg, 1, seg.position, f"transaction set {state.st02}", "segments (ST to SE)",
                   "Count every segment from ST to SE, both included, in SE01")
            + _control(seg, 2, "ST02", state.st02, "transaction set"))


def ge_findings(state: WalkState, seg: Segment) -> list[dict[str, Any]]:
    """GE01 = the transaction sets of the group, GE02 = GS06."""
    return (_count(seg, 1, state.group_sets, f"functional group {state.gs06}", "transaction sets (ST)",
                   "Send the number of transaction sets of the group in GE01", located=False)
            + _control(seg, 2, "GS06", state.gs06, "functional group", located=False))


def iea_findings(state: WalkState, seg: Segment) -> list[dict[str, Any]]:
    """IEA01 = the functional groups of the interchange, IEA02 = ISA13."""
    return (_count(seg, 1, state.isa_groups, f"interchange {state.isa13}", "functional groups (GS)",
                   "Send the number of functional groups of the interchange in IEA01", located=False)
            + _control(seg, 2, "ISA13", state.isa13, "interchange", located=False))


def head_findings(state: WalkState, seg: Segment) -> list[dict[str, Any]]:
    """At the first HL of a transaction set: the header segments it lacks (BHT, 1000A, 1000B)."""
    return [finding("missing-segment", "required_field", f"{at(seg)}: transaction set {state.st02} has no {what} "
                    "before its first HL", suggestion=f"Send the {what.rstrip(',')} after ST, as the implementation "
                    "guide requires")
            for key, what in _HEAD if key not in state.set_head]


def hl_findings(state: WalkState, seg: Segment, code: str) -> list[dict[str, Any]]:
    """HL01 the next number of the transaction set; HL02 the level above it in force (none for 20)."""
    out = []
    _, raw, parent = seg.fields(2)
    raw, parent = raw.strip(), parent.strip()
    expected = state.hl_last + 1
    number = int(raw) if raw.isascii() and raw.isdigit() else None
    if number != expected:
        repeat = number is not None and 1 <= number <= state.hl_last
        out.append(finding("hl-sequence", "format", f"{at(seg, 1)}: HL ids run 1, 2, 3... through the transaction "
                           f"set, so this HL must be {expected}" + ("; this id was already used" if repeat else ""),
                           suggestion="Number the HL segments 1, 2, 3... in the order they are sent"))
    state.hl_last = number if number is not None and number > state.hl_last else expected
    above = state.billing if code == "22" else state.subscriber if code == "23" else None
    if code == "20":
        if parent:
            out.append(finding("hl-parent", "format", f"{at(seg, 2)}: the billing provider HL is the top of the "
                               "hierarchy and has no parent", suggestion="Leave HL02 empty on the HL*..*20"))
    elif code in ("22", "23") and above is not None:
        wanted = above.segment.get(1).strip()
        if parent != wanted:
            known = parent.isdigit() and 1 <= int(parent) < (number or expected)
            what = "the billing provider" if code == "22" else "the subscriber"
            out.append(finding("hl-parent", "format", f"{at(seg, 2)}: the parent must be {what} HL {wanted!r} above it"
                               + ("" if known else f"; HL02 {parent or '(empty)'!r} names no HL before it"),
                               suggestion=f"Send HL02 = {wanted}, the HL01 of {what} level"))
    return out


def lx_finding(seg: Segment, expected: int) -> dict[str, Any]:
    """LX01 is not the next line number of the claim: the line is numbered by its position."""
    return finding("lx-sequence", "format", f"{at(seg, 1)}: service lines are numbered 1, 2, 3... in each claim, "
                   f"so this LX must be {expected}; the line is numbered {expected} by its position",
                   field=f"lines[{expected}].line_number", line=expected,
                   suggestion="Start LX01 at 1 in every claim and add 1 per service line")


def repeated_claim_id(state: WalkState, seg: Segment, claim_id: str | None) -> dict[str, Any] | None:
    """A CLM01 already sent in this transaction set (remembering at most :data:`MAX_TRACKED_CLAIM_IDS`)."""
    if claim_id is None:
        return None
    first = state.claim_ids.get(claim_id)
    if first is None:
        if len(state.claim_ids) < MAX_TRACKED_CLAIM_IDS:
            state.claim_ids[claim_id] = seg.position
        return None
    return finding("claim-id-repeated", "format", f"{at(seg, 1)}: this claim id was already sent in transaction "
                   f"set {state.st02} (CLM at segment {first}); a clearinghouse rejects the second one",
                   field="claim_id", suggestion="Give every claim its own patient control number (CLM01)")


def envelope_date(state: WalkState) -> tuple[dt.date | None, str]:
    """The interchange's date: GS04, else ISA09 (YYMMDD, read in this century); and which it is."""
    gs04 = parse_date(state.gs04 or "")
    if gs04 is not None:
        return gs04, f"GS04 {gs04.isoformat()}"
    isa09 = parse_date("20" + state.isa09) if state.isa09 and len(state.isa09) == 6 else None
    return isa09, f"ISA09 {isa09.isoformat()}" if isa09 else ""


def submission_notice(state: WalkState, seg: Segment, date: dt.date | None) -> dict[str, Any] | None:
    """Which date is the claims' submission date, when the envelope says otherwise: BHT04 is used, and
    an interchange dated later is named; with no readable BHT04, the interchange's date is used."""
    envelope, label = envelope_date(state)
    if envelope is None or (date is not None and envelope <= date):
        return None
    if date is None:
        return finding("submission-date", "date", f"{at(seg, 4)}: the transaction set has no readable creation "
                       f"date (BHT04), so the submission date is the interchange's, {label}",
                       field="submission_date", severity="info",
                       suggestion="Send the date the claims were created in BHT04")
    return finding("submission-date", "date", f"{at(seg, 4)}: the submission date is BHT04 {date.isoformat()}, "
                   f"the day the claims were created; the interchange is dated later ({label}), and a payer may "
                   "count timely filing from that date", field="submission_date", severity="info",
                   suggestion="Send claims the day they are created, or check timely filing against the later date")


# --------------------------------------------------------------------------- repeats, order, required segments

_GUIDES = {"professional": "005010X222A1", "institutional": "005010X223A2"}
# 2300 HI: the kind of HI segment (by its HI01 qualifier) -> (what, maximum per claim); see the table above
_P, _I = "professional", "institutional"
_HI_KINDS: dict[str, dict[str, tuple[str, int]]] = {
    _P: {**dict.fromkeys(("ABK", "BK", "ABF", "BF"), ("diagnosis", 1)),
         **dict.fromkeys(("BP", "BO"), ("anesthesia related procedure", 1)), "BG": ("condition information", 2)},
    _I: {**dict.fromkeys(("ABK", "BK"), ("principal diagnosis", 1)), **dict.fromkeys(("ABJ", "BJ"), ("admitting "
         "diagnosis", 1)), **dict.fromkeys(("APR", "PR"), ("patient's reason for visit", 1)),
         **dict.fromkeys(("ABN", "BN"), ("external cause of injury", 1)), "DR": ("diagnosis related group", 1),
         **dict.fromkeys(("ABF", "BF"), ("other diagnosis", 2)), **dict.fromkeys(("BBR", "BR", "CAH"),
         ("principal procedure", 1)), **dict.fromkeys(("BBQ", "BQ"), ("other procedure", 2)),
         "BI": ("occurrence span", 2), "BH": ("occurrence", 2), "BE": ("value", 2), "BG": ("condition", 2),
         "TC": ("treatment code", 2)}}
# 2310x: NM101 -> the loop it opens, once per claim
CLAIM_LOOPS: dict[str, dict[str, str]] = {
    _P: {"DN": "2310A referring provider", "P3": "2310A primary care provider", "82": "2310B rendering provider",
         "77": "2310C service facility location", "DQ": "2310D supervising provider",
         "PW": "2310E ambulance pick-up location", "45": "2310F ambulance drop-off location"},
    _I: {"71": "2310A attending provider", "72": "2310B operating physician", "ZZ": "2310C other operating "
         "physician", "82": "2310D rendering provider", "77": "2310E service facility location",
         "DN": "2310F referring provider"}}
# NTE and K3 per loop: (claim type, loop, segment id) -> maximum
_NOTES = {(_P, "2300", "NTE"): 1, (_P, "2300", "K3"): 10, (_P, "2400", "NTE"): 2, (_P, "2400", "K3"): 10,
          (_I, "2300", "NTE"): 10, (_I, "2300", "K3"): 10, (_I, "2400", "NTE"): 1}
MAX_LINES_837P = 50
# facility types (CLM05-1) of inpatient bills: 11x, 18x, 21x, 41x, 86x (the same list as the pipeline's
# INPATIENT_BILL_TYPES, scrubber/pipeline/enrich/institutional.py, which this layer cannot import)
INPATIENT_FACILITY = frozenset({"11", "18", "21", "41", "86"})


def _guide(claim_type: str | None) -> str:
    return _GUIDES.get(claim_type or _P, _GUIDES[_P])


def hi_repeated(repeats: dict[str, int], seg: Segment, claim_type: str | None) -> dict[str, Any] | None:
    """An HI segment of a kind the claim already has as many of as the guide allows (counted in ``repeats``)."""
    qualifier = seg.get(1).partition(seg.separators.component)[0]
    kind = _HI_KINDS.get(claim_type or _P, _HI_KINDS[_P]).get(qualifier)
    if kind is None:
        return None
    what, most = kind
    seen = repeats[what] = repeats.get(what, 0) + 1
    if seen <= most:
        return None
    return finding("segment-repeated", "format", f"{at(seg, 1)}: the claim already has {most} HI {what} "
                   f"segment{'s' if most > 1 else ''}, the most {_guide(claim_type)} allows in loop 2300",
                   field="diagnoses" if "diagnosis" in what else None,
                   suggestion=f"Send at most {most} HI {what} segment{'s' if most > 1 else ''} per claim "
                              "(12 codes in each)")


def provider_repeated(providers: set[str], seg: Segment, claim_type: str | None) -> dict[str, Any] | None:
    """A 2310x provider loop (by NM101) the claim already has: once per claim; the caller ignores it."""
    entity = seg.get(1)
    loop = CLAIM_LOOPS.get(claim_type or _P, CLAIM_LOOPS[_P]).get(entity)
    if loop is None:
        return None
    if entity not in providers:
        providers.add(entity)
        return None
    return finding("loop-repeated", "format", f"{at(seg, 1)}: loop {loop} is sent once per claim, and this claim "
                   "already has it; this one is ignored", suggestion=f"Send one NM1*{entity} per claim")


def note_repeated(repeats: dict[str, int], seg: Segment, claim_type: str | None, loop: str) -> dict[str, Any] | None:
    """An NTE or K3 past the guide's maximum in its loop (2300, or the line's 2400)."""
    most = _NOTES.get((claim_type or _P, loop, seg.id))
    if most is None:
        return None
    seen = repeats[seg.id] = repeats.get(seg.id, 0) + 1
    if seen <= most:
        return None
    return finding("segment-repeated", "format", f"{at(seg)}: loop {loop} holds at most {most} {seg.id} "
                   f"segment{'s' if most > 1 else ''} in {_guide(claim_type)}; this is number {seen}",
                   suggestion=f"Send at most {most} {seg.id} in loop {loop}")


def too_many_lines(seg: Segment, count: int) -> dict[str, Any]:
    """The 51st LX of an 837P claim: loop 2400 repeats at most 50 times in 005010X222A1."""
    return finding("loop-repeated", "format", f"{at(seg, 1)}: an 837P claim has at most {MAX_LINES_837P} service "
                   f"lines (loop 2400, 005010X222A1); this is line {count}", field="lines", line=count,
                   suggestion=f"Split the claim into claims of at most {MAX_LINES_837P} lines")


def not_after(seg: Segment, what: str, before: Segment | None, line: int | None = None,
              element: int | None = None, fld: str | None = None) -> dict[str, Any]:
    """``seg`` is out of order: it belongs ``what`` (right after / after ``before``)."""
    where = f" at segment {before.position}" if before is not None else ""
    return finding("segment-order", "format", f"{at(seg, element)}: it belongs {what}{where}; the segments of a "
                   "loop come in the implementation guide's order", field=fld, line=line,
                   suggestion="Send the loop's segments in the order of the implementation guide")


def inpatient_without_cl1(clm: Segment, facility: str) -> dict[str, Any]:
    """An 837I inpatient bill (type of bill 11x, 18x, 21x, 41x, 86x) without CL1."""
    return finding("missing-segment", "required_field", f"{at(clm)}: the inpatient claim (type of bill {facility}x) "
                   "has no CL1 institutional claim code segment, which 005010X223A2 requires on inpatient claims",
                   field="admission_type", suggestion="Send CL1 with the admission type, source and patient status "
                   "after the claim's DTP segments")


def childless_level(level: Segment) -> dict[str, Any]:
    """A subscriber or patient HL with no claim and no level under it."""
    what = "subscriber" if level.get(3) == "22" else "patient"
    return finding("missing-segment", "required_field", f"{at(level)}: the {what} level has no claim (CLM, loop "
                   "2300) under it", suggestion=f"Send the {what}'s claims after its HL, or leave the HL out")
