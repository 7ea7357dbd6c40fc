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
- the header segments of a transaction set (BHT, NM1*41 submitter 1000A, NM1*40 receiver 1000B).

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

__all__ = ["MAX_TRACKED_CLAIM_IDS", "envelope_date", "ge_findings", "head_findings", "hl_findings", "iea_findings", "lx_finding",
           "repeated_claim_id", "se_findings", "submission_notice"]

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
    raw = seg.get(1).strip()
    expected = state.hl_last + 1
    number = int(raw) if raw.isascii() and raw.isdigit() else None
    if number != expected:
        repeat = number is not None and 1 <= number <= state.hl_last
        out.append(finding("hl-sequence", "format", f"{at(seg, 1)}: HL ids run 1, 2, 3... through the transaction "
                           f"set, so this HL must be {expected}" + ("; this id was already used" if repeat else ""),
                           suggestion="Number the HL segments 1, 2, 3... in the order they are sent"))
    state.hl_last = number if number is not None and number > state.hl_last else expected
    parent = seg.get(2).strip()
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
