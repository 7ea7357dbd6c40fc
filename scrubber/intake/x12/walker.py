"""The walk through an 837: the envelope (ISA/GS/ST..SE/GE/IEA), BHT and the HL hierarchy, and
the dispatch of every other segment to its handler; claims out, one at a time.

The walker owns a :class:`~scrubber.intake.x12.state.WalkState` and a dispatch table
{segment id: handler}: its own handlers for the envelope and the hierarchy, the claim's
(:mod:`scrubber.intake.x12.claim`) and the service lines' (:mod:`scrubber.intake.x12.lines`).
:func:`feed` gives a segment to its handler and returns the claims it completes.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import IO, Any

from scrubber.intake.x12.claim import HANDLERS as CLAIM_HANDLERS
from scrubber.intake.x12.claim import close_claim
from scrubber.intake.x12.lines import HANDLERS as LINE_HANDLERS
from scrubber.intake.x12.segments import CHUNK_SIZE, RESUME, Segment, X12Error, read_batches
from scrubber.intake.x12.state import Level, WalkState, X12Claim, control, outside_claim, problem
from scrubber.intake.x12.structure import (childless_level, envelope_date, ge_findings, head_findings, hl_findings,
                                           iea_findings, se_findings, submission_notice)
from scrubber.intake.x12.values import at, blank, finding, parse_date

__all__ = ["HANDLERS", "feed", "finish", "iter_claims"]

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_ENVELOPE = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE", "TA1"})
# segments that only exist inside a claim (2300/2400 loops)
_CLAIM_ONLY = frozenset({"LX", "SV1", "SV2", "SV3", "SV5", "HI", "CL1", "CR1", "CR2", "CR3", "CRC",
                         "LIN", "CTP", "SVD", "HCP", "PWK", "K3", "NTE", "QTY", "MEA", "FRM", "LQ"})
_SUPPORTED = {"005010X222A1": "professional", "005010X222A2": "professional",
              "005010X223A2": "institutional", "005010X223A3": "institutional"}
# the implementation guides of claims this reader can read (4010 ones with a version finding):
# an 837 of any other guide (X224 dental, X291, X292, X298...) is skipped with one finding
_CLAIM_GUIDES = frozenset({"X222", "X223", "X098", "X096"})
_GUIDE = re.compile(r"X[0-9]{3}")
_GUIDE_NAMES = {"X224": "the 837 dental claim", "X096": "the 4010 837 institutional claim",
                "X098": "the 4010 837 professional claim"}

Handler = Callable[[WalkState, Segment], None]


def iter_claims(stream: IO[str], chunk_size: int = CHUNK_SIZE) -> Iterator[X12Claim]:
    """The claims of an 837 stream, one :class:`X12Claim` per CLM, in order, read lazily.

    Raises :class:`X12Error` only when nothing at all can be read (see the package docstring);
    an unreadable ISA after some claims ends the results with a findings-only result instead.
    """
    state = WalkState()
    handlers = _CLAIM_HANDLERS
    batches = read_batches(stream, chunk_size)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except X12Error as error:
            if state.emitted == 0 and state.build is None and not state.pending:
                raise
            state.pending.append(finding("isa", "format", f"The rest of the data after interchange "
                                         f"{state.isa13} cannot be read: {error}",
                                         suggestion="Send each interchange with a complete ISA segment"))
            break
        reading = state.in_set and not state.skip_set  # only the envelope's segments (in _dispatch) change it
        for seg in batch:
            handler = handlers.get(seg.id)
            # the common case straight to its handler: a sound claim segment inside an 837 being read
            if handler is not None and reading and not (seg.problems or seg.wide):
                handler(state, seg)
            else:
                _dispatch(state, seg)
                reading = state.in_set and not state.skip_set
            if state.out:
                yield from state.out
                state.out = []
    yield from finish(state)


# --------------------------------------------------------------------------- dispatch


def feed(state: WalkState, seg: Segment) -> list[X12Claim]:
    """Give ``seg`` to its handler; the claims it completes."""
    state.out = []
    _dispatch(state, seg)
    return state.out


def _dispatch(state: WalkState, seg: Segment) -> None:
    """Give ``seg`` to its handler, which puts the claims it completes in ``state.out``."""
    sid = seg.id
    if seg.problems and sid != "ISA":  # ISA problems go on the whole interchange
        for trouble in seg.problems:
            problem(state, finding("segment-syntax", "format", f"{at(seg)}: {trouble}",
                                   suggestion="Check the separators and terminator declared in the ISA segment"))
    if seg.wide:
        state.wide = True
    handler = HANDLERS.get(sid)  # every handled id is a well-formed one: the pattern only for the others
    if handler is None and not _SEGMENT_ID.fullmatch(sid):
        problem(state, finding(
            "segment-id", "format", f"Segment {seg.position} starts with {sid[:20]!r}, which is not a segment id: "
            f"its separators are not the ones declared in the ISA segment (element {seg.separators.element!r}, "
            f"segment terminator {seg.separators.segment!r})",
            suggestion="Use the separators the ISA segment declares, throughout the interchange"))
        return
    if sid in _ENVELOPE:
        HANDLERS[sid](state, seg)
    elif not state.in_set:
        problem(state, finding("segment-outside-claim", "format",
                               f"{at(seg)} is outside any transaction set (ST..SE); it is ignored",
                               suggestion="Remove the segment or move it inside its transaction set"))
    elif state.skip_set:
        pass
    elif handler is not None:
        handler(state, seg)
    elif state.build is None and sid in _CLAIM_ONLY:
        outside_claim(state, seg)


def finish(state: WalkState) -> list[X12Claim]:
    """The end of the stream: the claim being read, then the findings no claim took."""
    state.out = []
    if state.build is not None:
        close_claim(state, finding("unterminated", "format",
                                   f"The data ends inside transaction set {state.st02} (no SE, GE, IEA trailer): "
                                   "the file is truncated", suggestion="Send the complete interchange"))
    _flush_pending(state)
    return state.out


def _flush_pending(state: WalkState) -> None:
    """Findings waiting for a claim that will not come: a result of their own, without claim."""
    if state.pending:
        state.out.append(X12Claim(None, state.pending, control(state, None)))
        state.pending = []


def _trailer(state: WalkState, found: list[dict[str, Any]]) -> None:
    """A trailer's (SE, GE, IEA) problems: their claims have all been answered by now, so they come
    out as a result of their own (with any findings still waiting for a claim)."""
    if found:
        state.pending.extend(found)
        _flush_pending(state)


# --------------------------------------------------------------------------- envelope


def _end_set(state: WalkState, seg: Segment) -> None:
    if state.in_set:
        if state.build is not None:
            close_claim(state, finding("unterminated", "format",
                                       f"Transaction set {state.st02} is not closed by SE before {at(seg)}",
                                       suggestion="End every transaction set with SE"))
        state.in_set = False
    elif state.build is not None:
        close_claim(state)


def isa(state: WalkState, seg: Segment) -> None:
    """ISA: a new interchange; its header's problems go on each of its claims."""
    _end_set(state, seg)
    state.isa13 = blank(seg.get(13))
    state.isa09 = blank(seg.get(9))
    state.gs06 = state.gs08 = state.gs04 = state.st02 = state.st03 = None
    state.isa_groups, state.in_group = 0, False
    state.interchange_findings = [
        finding("isa", "format", f"ISA at segment 1 (interchange {state.isa13}): {trouble}",
                suggestion="Send a fixed-width ISA segment (106 characters) as the X12 standard requires")
        for trouble in seg.problems]


def iea(state: WalkState, seg: Segment) -> None:
    """IEA: the end of the interchange; IEA01 counts its groups, IEA02 repeats ISA13."""
    _end_set(state, seg)
    _trailer(state, iea_findings(state, seg))


def ta1(state: WalkState, seg: Segment) -> None:
    """TA1 (an interchange acknowledgment) is ignored, but the batch cutter's (TA101 = RESUME), which
    says how many groups and transaction sets came before the chunk, for the GE01 and IEA01 counts."""
    if seg.get(1) == RESUME and seg.get(2).isdigit() and seg.get(3).isdigit():
        state.isa_groups += int(seg.get(2))
        state.group_sets += int(seg.get(3))
        state.in_group = state.in_group and seg.get(4) != "0"  # a GE closed the group before the chunk


def gs(state: WalkState, seg: Segment) -> None:
    """GS: a functional group, GS06 control number, GS08 version."""
    _end_set(state, seg)
    state.gs06 = blank(seg.get(6))
    state.gs08 = blank(seg.get(8))
    state.gs04 = blank(seg.get(4))
    state.isa_groups += 1
    state.in_group, state.group_sets = True, 0


def ge(state: WalkState, seg: Segment) -> None:
    """GE: the end of the functional group; GE01 counts its transaction sets, GE02 repeats GS06."""
    _end_set(state, seg)
    if state.in_group:
        _trailer(state, ge_findings(state, seg))
    state.in_group = False


def st(state: WalkState, seg: Segment) -> None:
    """ST: a transaction set, ST02 control number, ST03 version (its claim type); not an 837, or
    a version not supported, is a finding."""
    _end_set(state, seg)
    state.in_set = True
    state.skip_set = False
    state.st02 = blank(seg.get(2))
    state.st03 = blank(seg.get(3))
    state.bht03 = state.submission = None
    state.billing = state.subscriber = state.patient = None
    state.level = None
    state.set_findings = []
    state.set_claims = 0
    state.wide = False
    state.group_sets += 1
    state.set_head, state.hl_last, state.claim_ids, state.leaf = set(), 0, {}, None
    if seg.get(1) != "837":
        state.skip_set = True
        state.pending.append(finding(
            "not-837", "format", f"{at(seg, 1)}: transaction set {state.st02} is a {seg.get(1) or '(blank)'} "
            "transaction, not an 837 claim; it is skipped and nothing in it is checked",
            suggestion="Send 837 health care claims only"))
        return
    version = state.st03 or state.gs08 or ""
    guide = _GUIDE.search(version)
    if guide and guide.group() not in _CLAIM_GUIDES:
        state.skip_set = True
        name = _GUIDE_NAMES.get(guide.group(), f"implementation guide {guide.group()}")
        state.pending.append(finding(
            "version", "format", f"{at(seg, 3)}: transaction set {state.st02} is {name}, not an 837 professional "
            "(005010X222A1/A2) or institutional (005010X223A2/A3) claim; it is skipped and nothing in it is checked",
            suggestion="Send professional and institutional claims only; other transactions go to their own service"))
        return
    state.claim_type = _SUPPORTED.get(version) or (
        "professional" if "X222" in version else "institutional" if "X223" in version else None)
    if version not in _SUPPORTED:
        state.set_findings.append(finding(
            "version", "format", f"{at(seg, 3)}: version {version or '(none)'!r} is not a supported 837 "
            "implementation guide (005010X222A1/A2 professional, 005010X223A2/A3 institutional)",
            suggestion="Send the claim in a supported 5010 implementation guide version"))
    elif state.gs08 and state.st03 and state.gs08 != state.st03:
        state.set_findings.append(finding(
            "version", "format", f"{at(seg, 3)} does not match GS08 {state.gs08!r}",
            suggestion="Use the same implementation guide version in GS08 and ST03"))


def se(state: WalkState, seg: Segment) -> None:
    """SE: the end of the transaction set; the findings no claim of it can take come out now."""
    if state.build is not None:
        close_claim(state)
    elif state.in_set and state.set_claims == 0 and not state.skip_set:
        state.pending.append(finding("no-claim", "required_field",
                                     f"{at(seg)}: transaction set {state.st02} has no claim (CLM)",
                                     suggestion="Send at least one claim per transaction set"))
    if state.in_set:
        found = [] if state.skip_set else _childless(state) + se_findings(state, seg)
        state.pending.extend(found)
        if found or state.set_claims == 0:
            _flush_pending(state)
    state.in_set = False


def bht(state: WalkState, seg: Segment) -> None:
    """BHT: BHT03 reference, BHT04 creation date (the claims' submission date)."""
    state.set_head.add("BHT")
    state.bht03 = blank(seg.get(3))
    raw = seg.get(4)
    date = parse_date(raw)
    if date is not None:
        state.submission = date.isoformat()
    else:
        if raw:
            state.set_findings.append(finding("date-format", "format",
                                              f"{at(seg, 4)} is not a CCYYMMDD date", field="submission_date",
                                              suggestion="Write dates as CCYYMMDD"))
        fallback = envelope_date(state)[0]
        state.submission = fallback.isoformat() if fallback else None
    if notice := submission_notice(state, seg, date):
        state.set_findings.append(notice)


# --------------------------------------------------------------------------- hierarchy


def _childless(state: WalkState) -> list[dict[str, Any]]:
    """The subscriber or patient level just ended had no claim under it (CLM clears ``state.leaf``)."""
    leaf, state.leaf = state.leaf, None
    return [] if leaf is None else [childless_level(leaf)]


def hl(state: WalkState, seg: Segment) -> None:
    """HL: a billing provider (20), subscriber (22) or patient (23) level; the claim before it is
    complete."""
    if state.build is not None:
        close_claim(state)
    if state.leaf is not None:
        _trailer(state, _childless(state))  # no claim is its: a result of its own
    _, _, _, code, children = seg.fields(4)
    if code == "23" or (code == "22" and children != "1"):  # a level claims go under (HL04 1: a patient HL does)
        state.leaf = seg
    if state.hl_last == 0:  # the first HL: the transaction set's header is complete
        state.set_findings.extend(head_findings(state, seg))
    structure = hl_findings(state, seg, code)
    if code == "20":
        state.billing, state.subscriber, state.patient = Level(segment=seg), None, None
    elif code == "22":
        state.subscriber, state.patient = Level(segment=seg), None
        if state.billing is None:
            state.subscriber.findings.append(finding(
                "hierarchy", "required_field", f"{at(seg)}: the subscriber HL has no billing provider HL "
                "(HL03 = 20) before it", field="billing_provider",
                suggestion="Start the transaction set's hierarchy with the billing provider HL"))
    elif code == "23":
        state.patient = Level(segment=seg)
        if state.subscriber is None:
            state.patient.findings.append(finding(
                "hierarchy", "required_field", f"{at(seg)}: the patient HL has no subscriber HL "
                "(HL03 = 22) before it", field="patient",
                suggestion="Put the patient HL under its subscriber HL"))
    else:
        state.pending.append(finding(
            "hierarchy", "format", f"{at(seg, 3)} is not a billing provider (20), subscriber (22) or "
            "patient (23) level", suggestion="Use HL03 20, 22 or 23 in an 837"))
        state.pending.extend(structure)
        state.level = None
        return
    state.level = code
    level = state.billing if code == "20" else state.subscriber if code == "22" else state.patient
    assert level is not None
    level.findings.extend(structure)


_OWN: dict[str, Handler] = {"ISA": isa, "IEA": iea, "TA1": ta1, "GS": gs, "GE": ge, "ST": st, "SE": se,
                            "BHT": bht, "HL": hl}
HANDLERS: dict[str, Handler] = {**_OWN, **CLAIM_HANDLERS, **LINE_HANDLERS}
assert len(HANDLERS) == len(_OWN) + len(CLAIM_HANDLERS) + len(LINE_HANDLERS), "a segment has two handlers"
# the handlers of the segments inside a transaction set (not the envelope's): iter_claims's fast path
_CLAIM_HANDLERS: dict[str, Handler] = {sid: handler for sid, handler in HANDLERS.items() if sid not in _ENVELOPE}
