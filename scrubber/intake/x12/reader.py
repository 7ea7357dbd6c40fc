"""A streaming X12 837 reader: interchanges in, the contract's claim JSON out, one claim at a time.

Supports 837P (005010X222A1/A2, professional) and 837I (005010X223A2/A3, institutional).
The text is read in chunks, never whole, so memory stays flat however many claims a file holds.

Loops walked (what is mapped to the contract claim is named; everything else is skipped)::

    ISA  interchange: separators (element = char 4, repetition = ISA11, component = ISA16,
         segment terminator = the character after ISA16; CR/LF after a terminator are ignored)
     GS  functional group: GS06 control number, GS08 version
      ST transaction set: ST02 control number, ST03 version -> claim_type (X222 / X223)
      BHT  BHT04 creation date -> submission_date
       1000A/1000B  NM1*41 submitter, NM1*40 receiver                          (skipped)
       2000A HL*..*20 billing provider: PRV*BI taxonomy
        2010AA NM1*85 NPI, N3, N4, REF*EI (or REF*SY) tax id
       2000B HL*..*22 subscriber: SBR (SBR01 payer responsibility), PAT (death date)
        2010BA NM1*IL member id and name, DMG birth date and sex
        2010BB NM1*PR payer id and name
       2000C HL*..*23 patient (optional): PAT, 2010CA NM1*QC name, DMG
        2300 CLM claim: CLM01 claim_id, CLM02 total_charge, CLM05 place of service / facility
             type + frequency (837I: CLM05-1 + CLM05-3 = type_of_bill); DTP*435 admission,
             DTP*096 discharge, DTP*434 statement period; REF*G1 prior authorization;
             HI diagnoses (ABK/BK principal, ABF/BF other, 837I also ABN/BN external cause)
         2310x NM1*82 (+PRV*PE) rendering, NM1*DN referring, NM1*77 facility, NM1*71 ... (rest skipped)
         2320  SBR other subscriber; 2330A NM1*IL and 2330B NM1*PR required in it (checked only)
         2400  LX line_number; SV1 (837P) or SV2 (837I); DTP*472 service date(s); REF*6R
          2410 LIN*..*N4 NDC, CTP;  2420x line providers, 2430 SVD adjudication (skipped)
      SE
     GE
    IEA

Mapping choices: submission_date is BHT04 (the day the file was created). The patient is the
2000C patient when there is one, with the subscriber's member id. discharge_date is DTP*096
when that is sent as a date; when it is only the discharge hour (TM), discharge_date is the
DTP*434 statement 'through' date. Diagnoses are the principal first, then the others in order
(837I: then the external cause codes). Admitting, reason-for-visit and procedure codes are
checked but not mapped, since the contract has no fields for them. Nor does it have fields for
the service facility (NM1*77), the line providers or REF*6R, which goes in ``control``. A
component separator that ISA16 does not declare, such as '>' where ISA16 is ':', gets a
``format`` error for each element that uses it. A payer's translator would reject the claim
for it. The element is still split on that separator, so that the rest of the claim is checked
too.

A claim is complete at the next CLM, HL or SE (or at GE, IEA, ISA, ST or the end of the
stream when a trailer is missing). Structural problems never raise: they become contract
findings (rule_id ``x12-...``, CARC CO-16) on the claim they belong to; problems in an HL
level (a bad DMG date, a missing NM1*PR) go on every claim under it; problems in the envelope
go on every claim of the interchange or transaction set; a segment outside any claim goes on
the next claim. Some findings no claim can take: a transaction set without a CLM, segments
after the last claim, a later interchange whose ISA is unreadable. They come out as a result of
their own, whose ``claim`` is None, at the end of their transaction set or of the stream.

:func:`iter_claims` raises :class:`X12Error` (one, with the reason) only when nothing at all
can be read: the stream does not begin with an ISA segment, or its ISA is too short or too
garbled to give the separators.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

__all__ = ["Segment", "Separators", "X12Claim", "X12Error", "iter_claims", "read_segments"]

CHUNK_SIZE = 1 << 16
ICD10_START = dt.date(2015, 10, 1)
SOURCE = "x12"
_ISA_SCAN = 256  # an ISA is 106 characters; how far to look for its 16 element separators
_MAX_SEGMENT = 1 << 20  # a "segment" longer than this means the terminator is not the declared one
_BLANK = " \t\r\n"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# characters senders use as separators; one of them right after a short code in a composite
# element that lacks the declared component separator means a separator the ISA never declared
_SEPARATOR_LIKE = frozenset(":>^|\\!<{}*+~`")
_FOREIGN_COMPONENT = re.compile(r"[A-Za-z0-9]{1,3}([^A-Za-z0-9 .\-/#&,'()])")
_ENVELOPE = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE", "TA1"})
# segments that only exist inside a claim (2300/2400 loops)
_CLAIM_ONLY = frozenset({"LX", "SV1", "SV2", "SV3", "SV5", "HI", "CL1", "CR1", "CR2", "CR3", "CRC",
                         "LIN", "CTP", "SVD", "HCP", "PWK", "K3", "NTE", "QTY", "MEA", "FRM", "LQ"})
_SUPPORTED = {"005010X222A1": "professional", "005010X222A2": "professional",
              "005010X223A2": "institutional", "005010X223A3": "institutional"}
# HI qualifiers: (role, ICD version)
_HI = {"ABK": ("principal", 10), "BK": ("principal", 9),
       "ABF": ("other", 10), "BF": ("other", 9),
       "ABN": ("external", 10), "BN": ("external", 9),
       "ABJ": ("admitting", 10), "BJ": ("admitting", 9),
       "APR": ("reason", 10), "PR": ("reason", 9),
       "BBR": ("procedure", 10), "BBQ": ("procedure", 10), "BR": ("procedure", 9), "BQ": ("procedure", 9)}
_ICD10_QUALIFIER = {"BK": "ABK", "BF": "ABF", "BN": "ABN", "BJ": "ABJ", "PR": "APR", "BR": "BBR", "BQ": "BBQ"}
_PRODUCT_QUALIFIERS = frozenset({"HC", "AD", "ER", "HP", "IV", "WK", "N4"})
_POINTER_LETTERS = frozenset("ABCDEFGHIJKL")


class X12Error(ValueError):
    """Nothing at all can be read: no ISA header, or one too broken to give the separators."""


@dataclass(frozen=True, slots=True)
class Separators:
    """The delimiters an ISA header declares."""

    element: str
    repetition: str | None  # None when ISA11 is not a delimiter (e.g. 'U' before 5010)
    component: str
    segment: str


@dataclass(slots=True)
class Segment:
    """One segment: ``elements[0]`` is the segment id, ``elements[1]`` the first element.

    ``position`` is 1-based within the transaction set (ST = 1) for ST..SE, within the
    interchange (ISA = 1) for envelope segments; ``number`` counts segments in the stream;
    ``offset`` is the character offset of the segment in the stream.
    """

    elements: list[str]
    position: int
    number: int
    offset: int
    separators: Separators
    problems: tuple[str, ...] = ()
    wide: bool = False  # an element over 40 characters (the shortest contract limit)

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, index: int) -> str:
        """Element ``index`` (1-based, as in SV101), '' when absent."""
        return self.elements[index] if index < len(self.elements) else ""


@dataclass(slots=True)
class X12Claim:
    """One claim read from an 837.

    ``claim`` is the contract claim JSON. It validates as :class:`scrubber.contract.claim.Claim`, with one
    exception: a CLM with no service line at all gets ``lines: []`` and a finding, and the
    contract needs at least one line. ``claim`` is None only on a result that carries findings
    no claim could take.
    ``findings`` are contract findings (rule_id ``x12-...``, severity error, CARC CO-16).
    ``control`` gives the caller's report the ISA13, GS06, ST02 and BHT03 control numbers, the
    version, the CLM's segment position in its transaction set, its segment number and
    character offset in the stream, and the REF*6R line control numbers by line number.
    """

    claim: dict[str, Any] | None
    findings: list[dict[str, Any]]
    control: dict[str, Any]


# --------------------------------------------------------------------------- segments


def read_segments(stream: TextIO, chunk_size: int = CHUNK_SIZE) -> Iterator[Segment]:
    """The segments of a text stream, read ``chunk_size`` characters at a time.

    Every ISA (one per interchange, so a file may change separators between interchanges)
    declares the separators used until the next ISA. Raises :class:`X12Error` when the stream
    does not start with an ISA or an ISA cannot give its separators.
    """
    return _Reader(stream, chunk_size).segments()


class _Reader:
    def __init__(self, stream: TextIO, chunk_size: int) -> None:
        self.stream = stream
        self.chunk_size = max(chunk_size, _ISA_SCAN)
        self.buf = ""
        self.base = 0  # stream offset of buf[0]
        self.eof = False
        self.seps: Separators | None = None
        self.number = 0
        self.set_position = 0
        self.interchange_position = 0
        self.in_set = False

    def _read(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(self.chunk_size)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _skip_blank(self) -> bool:
        """Drop CR/LF/blanks before the next segment; False at the end of the stream."""
        while True:
            stripped = self.buf.lstrip(_BLANK)
            self.base += len(self.buf) - len(stripped)
            self.buf = stripped
            if self.buf:
                return True
            if not self._read():
                return False

    def segments(self) -> Iterator[Segment]:
        if not self._skip_blank():
            raise X12Error("the data is empty: there is no ISA interchange header")
        while self._skip_blank():
            while len(self.buf) < 4 and self._read():
                pass
            if _is_isa(self.buf):
                yield self._header()
            elif self.seps is None:
                raise X12Error("the data does not start with an ISA interchange header "
                               f"(it starts with {self.buf[:20]!r})")
            else:
                yield from self._body()

    def _header(self) -> Segment:
        while len(self.buf) < _ISA_SCAN and self._read():
            pass
        text = self.buf
        el = text[3]
        cuts = [3]
        while len(cuts) < 16:
            j = text.find(el, cuts[-1] + 1, _ISA_SCAN)
            if j < 0:
                raise X12Error(f"the ISA interchange header is too short: {len(cuts)} of its 16 elements "
                               f"found (element separator {el!r}), so its separators are unknown")
            cuts.append(j)
        last = cuts[-1]
        if last + 2 >= len(text):
            raise X12Error("the ISA interchange header ends before ISA16 and its segment terminator")
        comp, term = text[last + 1], text[last + 2]
        if term.isalnum() or term == " " or len({el, comp, term}) < 3 or comp.isalnum():
            raise X12Error(f"the ISA interchange header is garbled: element separator {el!r}, ISA16 {comp!r}, "
                           f"segment terminator {term!r} must be three different non-alphanumeric characters")
        problems: list[str] = []
        if last != 103:
            problems.append(f"the ISA segment is not fixed width: ISA16 is character {last + 2}, not 105 "
                            "(ISA elements are padded to fixed lengths)")
        isa11 = text[cuts[10] + 1:cuts[11]]
        rep = isa11 if len(isa11) == 1 and not isa11.isalnum() and isa11 not in (el, comp, term) else None
        if rep is None and text[cuts[11] + 1:cuts[12]] == "00501":
            problems.append(f"ISA11 {isa11!r} is not a repetition separator, which version 00501 requires")
        self.seps = Separators(el, rep, comp, term)
        elements = text[:last + 2].split(el)
        offset = self.base
        self.buf = text[last + 3:]
        self.base += last + 3
        self.number += 1
        self.interchange_position = 1
        self.in_set = False
        return Segment(elements, 1, self.number, offset, self.seps, tuple(problems))

    def _body(self) -> Iterator[Segment]:
        seps = self.seps
        assert seps is not None
        term = seps.segment
        buf = self.buf
        parts = buf.split(term)
        if not self.eof and len(parts) == 1 and len(buf) > _MAX_SEGMENT:
            self.buf, self.base = "", self.base + len(buf)
            yield self._segment(buf[:200], self.base, (
                f"no segment terminator {term!r} (ISA) within {_MAX_SEGMENT} characters; the rest is skipped",))
            while self._read():  # skip to the end: nothing can be trusted after this
                self.buf = ""
            return
        complete = parts if self.eof else parts[:-1]
        last = len(parts) - 1
        step = len(term)
        start = 0
        for k, part in enumerate(complete):
            text = part.lstrip(_BLANK)
            lead = len(part) - len(text)
            text = text.rstrip(_BLANK)
            if text:
                if text.startswith("ISA") and _is_isa(text):  # a new interchange: read it with its own separators
                    self.buf = buf[start + lead:]
                    self.base += start + lead
                    return
                problems = (f"the last segment is not closed by the segment terminator {term!r}",) \
                    if self.eof and k == last else ()
                yield self._segment(text, self.base + start + lead, problems)
            start += len(part) + step
        if self.eof:
            self.base += len(buf)
            self.buf = ""
        else:
            self.buf = buf[start:]
            self.base += start
            self._read()

    def _segment(self, text: str, offset: int, problems: tuple[str, ...]) -> Segment:
        assert self.seps is not None
        if _CONTROL.search(text):
            text = _CONTROL.sub("", text)
            problems += ("control characters (line breaks, tabs, NUL...) inside the segment were removed",)
        elements = text.split(self.seps.element)
        sid = elements[0]
        self.number += 1
        self.interchange_position += 1
        if sid == "ST":
            self.in_set, self.set_position = True, 0
        if self.in_set:
            self.set_position += 1
            position = self.set_position
        else:
            position = self.interchange_position
        if sid == "SE":
            self.in_set = False
        wide = len(text) > 40 and max(map(len, elements)) > 40
        return Segment(elements, position, self.number, offset, self.seps, problems, wide)


def _is_isa(text: str) -> bool:
    return text.startswith("ISA") and len(text) > 3 and not text[3].isalnum()


# --------------------------------------------------------------------------- values


def _finding(rule: str, category: str, message: str, *, field: str | None = None, line: int | None = None,
             rarc: str | None = "MA130", suggestion: str | None = None) -> dict[str, Any]:
    return {"rule_id": f"x12-{rule}", "category": category, "severity": "error", "message": message,
            "lines": [] if line is None else [line], "field": field, "carc": "CO-16", "rarc": rarc,
            "suggestion": suggestion, "source": SOURCE}


def _at(seg: Segment, element: int | None = None, show: bool = True) -> str:
    """'HI at segment 24, HI01 'BK:8540'' - where a problem is, for a message."""
    where = f"{seg.id} at segment {seg.position}"
    if element is None:
        return where
    where += f", {seg.id}{element:02d}"
    raw = seg.get(element)
    return f"{where} {raw!r}" if show and raw else where


def _date(text: str) -> dt.date | None:
    """A CCYYMMDD date, or None."""
    if len(text) == 8 and text.isascii() and text.isdigit():
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return None
    return None


def _decimal(text: str) -> Decimal | None:
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes it
        return None


def _money(text: str) -> str | None:
    """An X12 amount ('766.5', '100') as the contract's decimal string, or None."""
    value = _decimal(text)
    if value is None or abs(value) >= 10**9 or value != value.quantize(Decimal("0.01")):
        return None
    return f"{value:.2f}"


def _units(text: str) -> int | float | None:
    value = _decimal(text)
    if value is None or abs(value) >= 10**7 or value != value.quantize(Decimal("0.001")):
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _blank(text: str) -> str | None:
    text = text.strip()
    return text or None


# --------------------------------------------------------------------------- claims


@dataclass
class _Level:
    """What an HL level (2000A/B/C) contributes to each claim under it."""

    data: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    segment: Segment | None = None


@dataclass
class _Build:
    """The claim being read, from its CLM to the next CLM/HL/SE."""

    clm: Segment
    claim: dict[str, Any]
    findings: list[dict[str, Any]]
    control: dict[str, Any]
    loop: str = "2300"
    entity: str = ""
    principal: str | None = None
    others: list[str] = field(default_factory=list)
    hi_seen: bool = False
    coded: list[tuple[Segment, int, str, str, int]] = field(default_factory=list)  # seg, element, qual, role, ver
    facility: tuple[str, str] = ("", "")
    facility_qualifier: str = ""
    statement: tuple[dt.date, dt.date] | None = None
    statement_seen: bool = False
    discharged: bool = False
    other_subscribers: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    line: dict[str, Any] | None = None
    line_segment: Segment | None = None
    line_service: bool = False
    line_dated: bool = False


class _Walker:
    """Walks segments through the 837 loops; ``feed`` returns the claims a segment completes."""

    def __init__(self) -> None:
        self.out: list[X12Claim] = []
        self.pending: list[dict[str, Any]] = []  # findings waiting for the next claim
        self.emitted = 0
        self.in_set = False
        self.skip_set = False
        self.isa13: str | None = None
        self.gs06: str | None = None
        self.gs08: str | None = None
        self.st02: str | None = None
        self.st03: str | None = None
        self.bht03: str | None = None
        self.submission: str | None = None
        self.claim_type: str | None = None
        self.interchange_findings: list[dict[str, Any]] = []
        self.set_findings: list[dict[str, Any]] = []
        self.set_claims = 0
        self.wide = False  # some element of this transaction set is over 40 characters: check lengths
        self.billing: _Level | None = None
        self.subscriber: _Level | None = None
        self.patient: _Level | None = None
        self.level: str | None = None
        self.build: _Build | None = None
        self.handlers = {name[5:]: getattr(self, name) for name in dir(self) if name.startswith("_seg_")}

    # -- dispatch

    def feed(self, seg: Segment) -> list[X12Claim]:
        self.out = []
        for problem in seg.problems if seg.id != "ISA" else ():  # ISA problems go on the whole interchange
            self._problem(_finding("segment-syntax", "format", f"{_at(seg)}: {problem}",
                                   suggestion="Check the separators and terminator declared in the ISA segment"))
        sid = seg.id
        if seg.wide:
            self.wide = True
        if not _SEGMENT_ID.fullmatch(sid):
            self._problem(_finding(
                "segment-id", "format", f"Segment {seg.position} starts with {sid[:20]!r}, which is not a segment id: "
                f"its separators are not the ones declared in the ISA segment (element {seg.separators.element!r}, "
                f"segment terminator {seg.separators.segment!r})",
                suggestion="Use the separators the ISA segment declares, throughout the interchange"))
            return self.out
        handler = self.handlers.get(sid)
        if sid in _ENVELOPE:
            self.handlers[sid](seg)
        elif not self.in_set:
            self._problem(_finding("segment-outside-claim", "format",
                                   f"{_at(seg)} is outside any transaction set (ST..SE); it is ignored",
                                   suggestion="Remove the segment or move it inside its transaction set"))
        elif self.skip_set:
            pass
        elif handler is not None:
            handler(seg)
        elif self.build is None and sid in _CLAIM_ONLY:
            self._outside_claim(seg)
        return self.out

    def finish(self) -> list[X12Claim]:
        self.out = []
        if self.build is not None:
            self._close(_finding("unterminated", "format",
                                 f"The data ends inside transaction set {self.st02} (no SE, GE, IEA trailer): "
                                 "the file is truncated", suggestion="Send the complete interchange"))
        self._flush_pending()
        return self.out

    def _flush_pending(self) -> None:
        if self.pending:
            self.out.append(X12Claim(None, self.pending, self._control(None)))
            self.pending = []

    def _problem(self, finding: dict[str, Any]) -> None:
        """A finding for the claim being read, else for the next claim."""
        (self.build.findings if self.build is not None else self.pending).append(finding)

    def _outside_claim(self, seg: Segment) -> None:
        self.pending.append(_finding("segment-outside-claim", "format",
                                     f"{_at(seg)} is outside any claim (it comes before the claim's CLM); it is ignored",
                                     suggestion="Move the segment into its claim, after CLM"))

    def _control(self, seg: Segment | None) -> dict[str, Any]:
        return {"isa13": self.isa13, "gs06": self.gs06, "st02": self.st02, "bht03": self.bht03,
                "version": self.st03 or self.gs08,
                "segment": seg.position if seg else None, "segment_number": seg.number if seg else None,
                "offset": seg.offset if seg else None}

    # -- envelope

    def _end_set(self, seg: Segment) -> None:
        if self.in_set:
            if self.build is not None:
                self._close(_finding("unterminated", "format",
                                     f"Transaction set {self.st02} is not closed by SE before {_at(seg)}",
                                     suggestion="End every transaction set with SE"))
            self.in_set = False
        elif self.build is not None:
            self._close()

    def _seg_ISA(self, seg: Segment) -> None:
        self._end_set(seg)
        self.isa13 = _blank(seg.get(13))
        self.gs06 = self.gs08 = self.st02 = self.st03 = None
        self.interchange_findings = [
            _finding("isa", "format", f"ISA at segment 1 (interchange {self.isa13}): {problem}",
                     suggestion="Send a fixed-width ISA segment (106 characters) as the X12 standard requires")
            for problem in seg.problems]

    def _seg_IEA(self, seg: Segment) -> None:
        self._end_set(seg)

    def _seg_TA1(self, seg: Segment) -> None:
        pass

    def _seg_GS(self, seg: Segment) -> None:
        self._end_set(seg)
        self.gs06 = _blank(seg.get(6))
        self.gs08 = _blank(seg.get(8))

    def _seg_GE(self, seg: Segment) -> None:
        self._end_set(seg)

    def _seg_ST(self, seg: Segment) -> None:
        self._end_set(seg)
        self.in_set = True
        self.skip_set = False
        self.st02 = _blank(seg.get(2))
        self.st03 = _blank(seg.get(3))
        self.bht03 = self.submission = None
        self.billing = self.subscriber = self.patient = None
        self.level = None
        self.set_findings = []
        self.set_claims = 0
        self.wide = False
        if seg.get(1) != "837":
            self.skip_set = True
            self.pending.append(_finding(
                "not-837", "format", f"{_at(seg, 1)}: transaction set {self.st02} is not an 837 claim; it is skipped",
                suggestion="Send 837 health care claims only"))
            return
        version = self.st03 or self.gs08 or ""
        self.claim_type = _SUPPORTED.get(version) or (
            "professional" if "X222" in version else "institutional" if "X223" in version else None)
        if version not in _SUPPORTED:
            self.set_findings.append(_finding(
                "version", "format", f"{_at(seg, 3)}: version {version or '(none)'!r} is not a supported 837 "
                "implementation guide (005010X222A1/A2 professional, 005010X223A2/A3 institutional)",
                suggestion="Send the claim in a supported 5010 implementation guide version"))
        elif self.gs08 and self.st03 and self.gs08 != self.st03:
            self.set_findings.append(_finding(
                "version", "format", f"{_at(seg, 3)} does not match GS08 {self.gs08!r}",
                suggestion="Use the same implementation guide version in GS08 and ST03"))

    def _seg_SE(self, seg: Segment) -> None:
        if self.build is not None:
            self._close()
        elif self.in_set and self.set_claims == 0:  # findings no claim of this set can take come out now
            if not self.skip_set:
                self.pending.append(_finding("no-claim", "required_field",
                                             f"{_at(seg)}: transaction set {self.st02} has no claim (CLM)",
                                             suggestion="Send at least one claim per transaction set"))
            self._flush_pending()
        self.in_set = False

    def _seg_BHT(self, seg: Segment) -> None:
        self.bht03 = _blank(seg.get(3))
        raw = seg.get(4)
        date = _date(raw)
        if date is not None:
            self.submission = date.isoformat()
        elif raw:
            self.set_findings.append(_finding("date-format", "format",
                                              f"{_at(seg, 4)} is not a CCYYMMDD date", field="submission_date",
                                              suggestion="Write dates as CCYYMMDD"))

    # -- hierarchy

    def _seg_HL(self, seg: Segment) -> None:
        if self.build is not None:
            self._close()
        code = seg.get(3)
        if code == "20":
            self.billing, self.subscriber, self.patient = _Level(segment=seg), None, None
        elif code == "22":
            self.subscriber, self.patient = _Level(segment=seg), None
            if self.billing is None:
                self.subscriber.findings.append(_finding(
                    "hierarchy", "required_field", f"{_at(seg)}: the subscriber HL has no billing provider HL "
                    "(HL03 = 20) before it", field="billing_provider",
                    suggestion="Start the transaction set's hierarchy with the billing provider HL"))
        elif code == "23":
            self.patient = _Level(segment=seg)
            if self.subscriber is None:
                self.patient.findings.append(_finding(
                    "hierarchy", "required_field", f"{_at(seg)}: the patient HL has no subscriber HL "
                    "(HL03 = 22) before it", field="patient",
                    suggestion="Put the patient HL under its subscriber HL"))
        else:
            self.pending.append(_finding(
                "hierarchy", "format", f"{_at(seg, 3)} is not a billing provider (20), subscriber (22) or "
                "patient (23) level", suggestion="Use HL03 20, 22 or 23 in an 837"))
            self.level = None
            return
        self.level = code

    def _seg_PRV(self, seg: Segment) -> None:
        b = self.build
        if b is None:
            if self.level == "20" and self.billing is not None and seg.get(1) == "BI":
                self.billing.data["taxonomy"] = _blank(seg.get(3))
        elif b.loop == "2310" and b.entity == "82" and b.claim["rendering_provider"] is not None:
            b.claim["rendering_provider"]["taxonomy"] = _blank(seg.get(3))

    def _seg_NM1(self, seg: Segment) -> None:
        entity = seg.get(1)
        b = self.build
        if b is None:
            self._header_name(seg, entity)
        elif b.loop in ("2300", "2310"):
            b.loop, b.entity = "2310", entity
            if entity in ("82", "DN"):
                key = "rendering_provider" if entity == "82" else "referring_provider"
                b.claim[key] = {"npi": _blank(seg.get(9)) if seg.get(8) == "XX" else None}
        elif b.loop in ("2320", "2330"):
            b.loop = "2330"
            if b.other_subscribers and entity in ("IL", "PR"):
                b.other_subscribers[-1][entity] = True
        elif b.loop.startswith("24"):
            b.loop = "2420"

    def _header_name(self, seg: Segment, entity: str) -> None:
        if entity == "85" and self.level == "20" and self.billing is not None:
            self.billing.seen.add("NM1*85")
            self.billing.data["npi"] = _blank(seg.get(9)) if seg.get(8) == "XX" else None
        elif entity == "IL" and self.level == "22" and self.subscriber is not None:
            self.subscriber.seen.add("NM1*IL")
            self.subscriber.data.update(member_id=_blank(seg.get(9)), last_name=_blank(seg.get(3)),
                                        first_name=_blank(seg.get(4)))
        elif entity == "PR" and self.level == "22" and self.subscriber is not None:
            self.subscriber.seen.add("NM1*PR")
            self.subscriber.data["payer"] = {"id": _blank(seg.get(9)), "name": _blank(seg.get(3))}
        elif entity == "QC" and self.level == "23" and self.patient is not None:
            self.patient.seen.add("NM1*QC")
            self.patient.data.update(last_name=_blank(seg.get(3)), first_name=_blank(seg.get(4)))

    def _seg_REF(self, seg: Segment) -> None:
        qualifier, value = seg.get(1), _blank(seg.get(2))
        b = self.build
        if b is None:
            if self.level == "20" and self.billing is not None and qualifier in ("EI", "SY"):
                self.billing.data["tax_id"] = value
                if value and not (len(value) == 9 and value.isascii() and value.isdigit()):
                    self.billing.findings.append(_finding(
                        "tax-id-format", "format", f"{_at(seg, 2)}: the billing provider's tax id must be 9 digits "
                        "without separators", field="billing_provider.tax_id",
                        suggestion=f"Send {value.replace('-', '')!r}" if value.replace("-", "").isdigit() else
                        "Send the 9-digit EIN (REF*EI) or SSN (REF*SY) without separators"))
        elif b.loop == "2300" and qualifier == "G1":
            b.claim["prior_authorization"] = value
        elif b.loop == "2400" and qualifier == "6R" and b.line is not None:
            b.control["line_control"][str(b.line["line_number"])] = value

    def _seg_SBR(self, seg: Segment) -> None:
        b = self.build
        if b is not None:
            b.loop = "2320"
            b.other_subscribers.append({"segment": seg, "IL": False, "PR": False})
        elif self.level == "22" and self.subscriber is not None:
            self.subscriber.seen.add("SBR")
            self.subscriber.data["responsibility"] = seg.get(1)

    def _seg_DMG(self, seg: Segment) -> None:
        if self.build is not None:
            return
        level = self.subscriber if self.level == "22" else self.patient if self.level == "23" else None
        if level is None:
            return
        if seg.get(1) == "D8":
            date = _date(seg.get(2))
            if date is None and seg.get(2):
                level.findings.append(_finding(
                    "date-format", "format", f"{_at(seg, 2, show=False)}: the birth date is not a CCYYMMDD date",
                    field="patient.birth_date", rarc="N329", suggestion="Write the birth date as CCYYMMDD"))
            level.data["birth_date"] = date.isoformat() if date else None
        elif seg.get(1) or seg.get(2):
            level.findings.append(_finding("date-format", "format", f"{_at(seg, 1)}: the birth date format must be D8",
                                           field="patient.birth_date", rarc="N329",
                                           suggestion="Send DMG01 = D8 and the birth date as CCYYMMDD"))
        level.data["sex"] = _blank(seg.get(3))

    def _seg_PAT(self, seg: Segment) -> None:
        if self.build is not None:
            return
        level = self.subscriber if self.level == "22" else self.patient if self.level == "23" else None
        if level is None or not seg.get(6):
            return
        date = _date(seg.get(6)) if seg.get(5) == "D8" else None
        if date is None:
            level.findings.append(_finding("date-format", "format",
                                           f"{_at(seg, 6, show=False)}: the death date is not a D8 CCYYMMDD date",
                                           field="patient.death_date", suggestion="Send PAT05 = D8 and PAT06 CCYYMMDD"))
        level.data["death_date"] = date.isoformat() if date else None

    # -- claim

    def _seg_CLM(self, seg: Segment) -> None:
        if self.build is not None:
            self._close()
        claim: dict[str, Any] = {
            "claim_id": None, "claim_type": self.claim_type, "frequency_code": None,
            "submission_date": self.submission, "payer": None, "patient": None, "billing_provider": None,
            "rendering_provider": None, "referring_provider": None, "place_of_service": None,
            "prior_authorization": None, "type_of_bill": None, "admission_date": None, "discharge_date": None,
            "diagnoses": [], "lines": [], "total_charge": None}
        control = self._control(seg)
        control["line_control"] = {}
        b = self.build = _Build(seg, claim, [], control)
        if self.level not in ("22", "23") or self.subscriber is None:
            b.findings.append(_finding("hierarchy", "required_field",
                                       f"{_at(seg)} is not under a subscriber HL (HL03 = 22)", field="patient",
                                       suggestion="Put each claim under its billing provider, subscriber "
                                                  "(and patient) HL levels"))
        claim["claim_id"] = _blank(seg.get(1))
        if claim["claim_id"] is None:
            b.findings.append(_finding("missing-element", "required_field",
                                       f"{_at(seg, 1)}: the claim has no patient control number (CLM01)",
                                       field="claim_id", suggestion="Send the billing system's claim number in CLM01"))
        raw = seg.get(2)
        claim["total_charge"] = _money(raw)
        if claim["total_charge"] is None:
            b.findings.append(_finding(
                "missing-element" if not raw else "number-format", "required_field" if not raw else "format",
                f"{_at(seg, 2)}: the total charge " + ("is missing" if not raw else "is not an amount with at most "
                                                       "2 decimal places"),
                field="total_charge", rarc="M54", suggestion="Send the claim total (sum of the line charges) in CLM02"))
        parts = self._composite(seg, 5, "place_of_service" if self.claim_type != "institutional" else "type_of_bill")
        b.facility = (parts[0].strip() if parts else "", parts[2].strip() if len(parts) > 2 else "")
        b.facility_qualifier = parts[1].strip() if len(parts) > 1 else ""

    def _facility(self, b: _Build) -> list[dict[str, Any]]:
        """CLM05 into place_of_service (837P) or type_of_bill (837I: CLM05-1 + CLM05-3) and frequency_code."""
        claim = b.claim
        first, frequency = b.facility
        claim["frequency_code"] = frequency or None
        professional = claim["claim_type"] == "professional"
        out = []
        qualifier = "B" if professional else "A"
        if first and b.facility_qualifier != qualifier:
            out.append(_finding("qualifier", "format",
                                f"{_at(b.clm, 5)}: CLM05-2 must be {qualifier!r} (the facility code qualifier of "
                                f"{'a professional' if professional else 'an institutional'} claim), not "
                                f"{b.facility_qualifier or '(empty)'!r}",
                                field="place_of_service" if professional else "type_of_bill",
                                suggestion=f"Send CLM05 as {first}:{qualifier}:{frequency or '1'}"))
        if professional:
            claim["place_of_service"] = first or None
        elif first and frequency:
            claim["type_of_bill"] = first + frequency
        if first and frequency:
            return out
        what = "place of service" if professional else "facility type code"
        return out + [_finding("missing-element", "required_field",
                         f"{_at(b.clm, 5)}: CLM05 needs the {what} (CLM05-1) and the claim frequency code (CLM05-3)",
                         field=("place_of_service" if professional else "type_of_bill") if not first
                         else "frequency_code",
                         rarc=("M77" if professional else "MA30") if not first else "MA130",
                         suggestion="Send CLM05 as code:qualifier:frequency, e.g. 11:B:1")]

    def _composite(self, seg: Segment, element: int, fld: str | None, line: int | None = None) -> list[str]:
        """The components of a composite element, reporting a component separator the ISA never declared."""
        raw = seg.get(element)
        if not raw:
            return []
        comp = seg.separators.component
        if comp in raw:
            return raw.split(comp)
        match = _FOREIGN_COMPONENT.match(raw)
        if match and match.group(1) in _SEPARATOR_LIKE:
            used = match.group(1)
            also = " (it is the repetition separator, ISA11)" if used == seg.separators.repetition else ""
            self._problem(_finding(
                "component-separator", "format",
                f"{_at(seg, element)}: {used!r} is used as the component separator, but ISA16 declares {comp!r}{also}; "
                "a payer's translator reads the element as one invalid value and rejects the claim",
                field=fld, line=line,
                suggestion=f"Separate components with {comp!r} as declared in ISA16 (or declare {used!r} there)"))
            return raw.split(used)
        return [raw]

    def _seg_DTP(self, seg: Segment) -> None:
        qualifier, fmt, raw = seg.get(1), seg.get(2), seg.get(3)
        b = self.build
        if b is None:
            self._outside_claim(seg)
            return
        line = b.line["line_number"] if b.line is not None and b.loop.startswith("24") else None
        fld = {"472": f"lines[{line}].service_date", "435": "admission_date"}.get(qualifier)
        if qualifier == "096" and b.loop == "2300":
            b.discharged = True
        if qualifier == "472" and b.loop == "2400":
            b.line_dated = True  # present, even if its date is unreadable (that is its own finding)
        value = self._dates(seg, fmt, raw, fld, line)
        if value is None:
            return
        start, end = value
        if qualifier == "472" and b.line is not None and b.loop == "2400":
            b.line["service_date"] = start.isoformat()
            b.line["service_date_end"] = end.isoformat() if fmt == "RD8" else None
        elif b.loop == "2300":
            if qualifier == "435":
                b.claim["admission_date"] = start.isoformat()
            elif qualifier == "434":
                b.statement = (start, end)
            elif qualifier == "096" and fmt in ("D8", "DT"):
                b.claim["discharge_date"] = start.isoformat()
        if qualifier == "434":
            b.statement_seen = True
            if fmt != "RD8":
                self._problem(_finding("date-format", "format", f"{_at(seg, 2)}: the statement period (DTP*434) "
                                       "must be sent as RD8, a from-through range", rarc="MA31",
                                       suggestion="Send DTP*434*RD8*CCYYMMDD-CCYYMMDD (the same date twice for one day)"))

    def _dates(self, seg: Segment, fmt: str, raw: str, fld: str | None,
               line: int | None) -> tuple[dt.date, dt.date] | None:
        """DTP02/DTP03 as (from, to); a format finding and None when they do not agree."""
        start = end = None
        if fmt == "D8":
            start = end = _date(raw)
        elif fmt == "RD8":
            head, _, tail = raw.partition("-")
            start, end = _date(head), _date(tail)
        elif fmt == "DT":
            start = end = _date(raw[:8]) if len(raw) == 12 and raw.isdigit() else None
        elif fmt == "TM":
            if len(raw) == 4 and raw.isdigit() and int(raw[:2]) < 24 and int(raw[2:]) < 60:
                return None
            self._problem(_finding("date-format", "format", f"{_at(seg, 3)} is not an HHMM time (DTP02 is TM)",
                                   field=fld, line=line, suggestion="Write the time as HHMM"))
            return None
        else:
            self._problem(_finding("date-format", "format",
                                   f"{_at(seg, 2)}: the date format qualifier must be D8, RD8, DT or TM",
                                   field=fld, line=line, suggestion="Send D8 with CCYYMMDD, or RD8 with a range"))
            return None
        if start is None or end is None:
            shape = {"D8": "CCYYMMDD", "RD8": "CCYYMMDD-CCYYMMDD", "DT": "CCYYMMDDHHMM"}[fmt]
            self._problem(_finding("date-format", "format",
                                   f"{_at(seg, 3)} is not a {shape} date (DTP02 is {fmt})", field=fld, line=line,
                                   rarc="M52" if fld and "service_date" in fld else "MA130",
                                   suggestion=f"Write the date as {shape}"))
            return None
        return start, end

    def _seg_HI(self, seg: Segment) -> None:
        b = self.build
        if b is None:
            self._outside_claim(seg)
            return
        if b.loop != "2300":
            self._problem(_finding("segment-order", "format", f"{_at(seg)} comes after the claim's 2310/2320/2400 "
                                   "loops; it belongs right after CLM/DTP/REF", field="diagnoses", rarc="M76",
                                   suggestion="Move the HI segment before the provider, other-payer and line loops"))
        if len(seg.elements) > 13:
            self._problem(_finding("too-many-elements", "format",
                                   f"{_at(seg)} has {len(seg.elements) - 1} elements; HI holds at most 12",
                                   field="diagnoses", rarc="M76",
                                   suggestion="Send at most 12 codes per HI segment"))
        for element in range(1, len(seg.elements)):
            parts = self._composite(seg, element, "diagnoses")
            if not parts:
                continue
            qualifier = parts[0]
            code = parts[1].strip() if len(parts) > 1 else ""
            kind = _HI.get(qualifier)
            if kind is None:
                continue  # occurrence, value, condition, DRG, anesthesia... codes: not in the contract
            role, version = kind
            if not code:
                self._problem(_finding("missing-element", "required_field",
                                       f"{_at(seg, element)}: qualifier {qualifier} has no code",
                                       field="diagnoses", rarc="M76", suggestion="Send the code after the qualifier"))
                continue
            b.hi_seen = True
            b.coded.append((seg, element, qualifier, role, version))
            if "." in code:
                self._problem(_finding("dx-decimal", "format",
                                       f"{_at(seg, element)}: ICD codes are sent without the decimal point",
                                       field="diagnoses", rarc="M76", suggestion=f"Send {code.replace('.', '')}"))
            if role == "principal":
                if b.principal is not None:
                    self._problem(_finding("principal-repeated", "format",
                                           f"{_at(seg, element)}: a second principal diagnosis "
                                           f"(the first is {b.principal})", field="diagnoses", rarc="M76",
                                           suggestion="Send one principal diagnosis (ABK); the others as ABF"))
                    b.others.append(code)
                else:
                    b.principal = code
                    if b.claim["claim_type"] == "professional" and (element != 1 or b.others):
                        self._problem(_finding(
                            "principal-position", "format", f"{_at(seg, element)}: the principal diagnosis must "
                            "be HI01, before the other diagnoses; the pointers count from it", field="diagnoses",
                            rarc="M76", suggestion="Send the principal diagnosis (ABK) as HI01"))
            elif role == "other" or (role == "external" and b.claim["claim_type"] == "institutional"):
                b.others.append(code)

    def _seg_LX(self, seg: Segment) -> None:
        b = self.build
        if b is None:
            self._outside_claim(seg)
            return
        self._close_line()
        raw = seg.get(1)
        number = int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 999999 else None
        if number is None:
            number = len(b.lines) + 1
            self._problem(_finding("line-number", "format",
                                   f"{_at(seg, 1)}: LX01 is not a line number from 1; the line is numbered {number} "
                                   "by its position", field=f"lines[{number}].line_number", line=number,
                                   suggestion="Number the service lines 1, 2, 3... in LX01"))
        b.loop = "2400"
        b.line = {"line_number": number, "procedure_code": None, "modifiers": [], "units": None, "charge": None,
                  "service_date": None, "service_date_end": None, "diagnosis_pointers": [],
                  "place_of_service": None, "ndc": None, "revenue_code": None}
        b.line_segment, b.line_service, b.line_dated = seg, False, False

    def _service(self, seg: Segment) -> tuple[dict[str, Any], int] | None:
        """The line (and its number) a service segment (SV1/SV2) fills, or None (with a finding)."""
        b = self.build
        if b is None:
            self._outside_claim(seg)
            return None
        if b.line is None:
            self._problem(_finding("segment-order", "format", f"{_at(seg)} has no LX before it; it is ignored",
                                   suggestion="Start each service line with LX"))
            return None
        number = b.line["line_number"]
        if b.line_service:
            self._problem(_finding("segment-repeated", "format", f"{_at(seg)}: line {number} already has its "
                                   "service segment; this one is ignored", line=number,
                                   suggestion="Send one SV1/SV2 per LX"))
            return None
        if b.claim["claim_type"] is None:  # unsupported version: the first service segment decides
            b.claim["claim_type"] = "professional" if seg.id == "SV1" else "institutional"
        expected = "SV1" if b.claim["claim_type"] == "professional" else "SV2"
        if seg.id != expected:
            self._problem(_finding("segment-type", "format", f"{_at(seg)}: a {b.claim['claim_type']} claim's lines "
                                   f"use {expected}", line=number,
                                   suggestion="Send 837P lines as SV1 and 837I lines as SV2"))
        b.line_service = True
        return b.line, number

    def _procedure(self, seg: Segment, element: int, line: dict[str, Any], number: int, required: bool) -> None:
        parts = self._composite(seg, element, f"lines[{number}].procedure_code", number)
        code = parts[1].strip() if len(parts) > 1 else ""
        if parts and parts[0] not in _PRODUCT_QUALIFIERS:
            self._problem(_finding("qualifier", "format", f"{_at(seg, element)}: the product/service qualifier "
                                   f"{parts[0]!r} is not HC, HP, IV, ER, WK or N4",
                                   field=f"lines[{number}].procedure_code", line=number, rarc="M51",
                                   suggestion="Send HCPCS/CPT codes as HC:code"))
        if code:
            line["procedure_code"] = code
            line["modifiers"] = [m.strip() for m in parts[2:6] if m.strip()]
        elif required or parts:
            self._problem(_finding("missing-element", "required_field",
                                   f"{_at(seg, element)}: line {number} has no procedure code",
                                   field=f"lines[{number}].procedure_code", line=number, rarc="M51",
                                   suggestion="Send the CPT/HCPCS code as HC:code[:modifier...]"))

    def _amounts(self, seg: Segment, charge_at: int, basis_at: int, units_at: int, line: dict[str, Any],
                 number: int) -> None:
        raw = seg.get(charge_at)
        line["charge"] = _money(raw)
        if line["charge"] is None:
            self._problem(_finding(
                "missing-element" if not raw else "number-format", "required_field" if not raw else "format",
                f"{_at(seg, charge_at)}: line {number}'s charge " + (
                    "is missing" if not raw else "is not an amount with at most 2 decimal places"),
                field=f"lines[{number}].charge", line=number, rarc="M79", suggestion="Send the line charge"))
        basis = seg.get(basis_at)
        allowed = ("UN", "MJ") if seg.id == "SV1" else ("UN", "DA")
        if basis not in allowed:
            self._problem(_finding("missing-element" if not basis else "qualifier",
                                   "required_field" if not basis else "format",
                                   f"{_at(seg, basis_at)}: the unit of measure must be {' or '.join(allowed)}",
                                   field=f"lines[{number}].units", line=number, rarc="M53",
                                   suggestion=f"Send {allowed[0]} (units)"))
        raw = seg.get(units_at)
        line["units"] = _units(raw)
        if line["units"] is None:
            self._problem(_finding(
                "missing-element" if not raw else "number-format", "required_field" if not raw else "format",
                f"{_at(seg, units_at)}: line {number}'s units " + (
                    "are missing" if not raw else "are not a number below 10,000,000 with at most 3 decimals"),
                field=f"lines[{number}].units", line=number, rarc="M53", suggestion="Send the units of service"))

    def _seg_SV1(self, seg: Segment) -> None:
        found = self._service(seg)
        if found is None:
            return
        line, number = found
        self._procedure(seg, 1, line, number, required=True)
        self._amounts(seg, 2, 3, 4, line, number)
        line["place_of_service"] = _blank(seg.get(5))
        pointers: list[int | str] = []
        for raw in self._composite(seg, 7, f"lines[{number}].diagnosis_pointers", number):
            text = raw.strip()
            if not text:
                continue
            if text.isascii() and text.isdigit() and len(text) <= 3:
                pointers.append(int(text))
                continue
            kept = text in _POINTER_LETTERS
            if kept:
                pointers.append(text)
            self._problem(_finding(
                "dx-pointer", "dx_pointer",
                f"{_at(seg, 7)}: diagnosis pointer {text!r} on line {number} is not a whole number (1-12)"
                + ("; it is kept as the CMS-1500 letter" if kept else "; it is left out of the claim"),
                field=f"lines[{number}].diagnosis_pointers", line=number, rarc="M76",
                suggestion="Point at diagnoses by their number in HI: 1 for HI01 ... 12 for HI12"))
        line["diagnosis_pointers"] = pointers[:12]

    def _seg_SV2(self, seg: Segment) -> None:
        found = self._service(seg)
        if found is None:
            return
        line, number = found
        line["revenue_code"] = _blank(seg.get(1))
        if line["revenue_code"] is None:
            self._problem(_finding("missing-element", "required_field",
                                   f"{_at(seg, 1)}: line {number} has no revenue code",
                                   field=f"lines[{number}].revenue_code", line=number, rarc="M50",
                                   suggestion="Send the NUBC revenue code in SV201"))
        self._procedure(seg, 2, line, number, required=False)
        self._amounts(seg, 3, 4, 5, line, number)

    def _seg_LIN(self, seg: Segment) -> None:
        b = self.build
        if b is None or b.line is None:
            self._outside_claim(seg) if b is None else self._problem(_finding(
                "segment-order", "format", f"{_at(seg)} has no service line (LX) before it; it is ignored",
                suggestion="Send the drug identification after its service line"))
            return
        b.loop = "2410"
        number = b.line["line_number"]
        if seg.get(2) != "N4" or not seg.get(3):
            self._problem(_finding("qualifier", "format",
                                   f"{_at(seg, 2)}: the drug must be identified as N4 (NDC) with an 11-digit code",
                                   field=f"lines[{number}].ndc", line=number, rarc="M119",
                                   suggestion="Send LIN**N4*<11-digit NDC>"))
            return
        b.line["ndc"] = _blank(seg.get(3))

    def _seg_SVD(self, seg: Segment) -> None:
        if self.build is None:
            self._outside_claim(seg)
        else:
            self.build.loop = "2430"

    # -- closing a line and a claim

    def _close_line(self) -> None:
        b = self.build
        if b is None or b.line is None:
            return
        number = b.line["line_number"]
        assert b.line_segment is not None
        if not b.line_service:
            expected = "SV1" if b.claim["claim_type"] == "professional" else "SV2"
            b.findings.append(_finding("missing-segment", "required_field",
                                       f"{_at(b.line_segment)}: line {number} has no {expected} service segment",
                                       field=f"lines[{number}].procedure_code", line=number,
                                       rarc="M51" if expected == "SV1" else "M50",
                                       suggestion=f"Send {expected} after LX with the service, charge and units"))
        elif not b.line_dated and b.claim["claim_type"] == "professional":
            b.findings.append(_finding("missing-segment", "required_field",
                                       f"{_at(b.line_segment)}: line {number} has no DTP*472 service date",
                                       field=f"lines[{number}].service_date", line=number, rarc="M52",
                                       suggestion="Send DTP*472*D8*CCYYMMDD for each service line"))
        b.lines.append(b.line)
        b.line = b.line_segment = None

    def _close(self, *extra: dict[str, Any]) -> None:
        """Finish the claim being read and queue its result."""
        b = self.build
        if b is None:
            return
        self._close_line()
        self.build = None
        claim = b.claim
        if claim["claim_type"] is None:
            claim["claim_type"] = "professional"
        institutional = claim["claim_type"] == "institutional"
        findings = list(self.interchange_findings) + list(self.set_findings) + self.pending
        self.pending = []
        billing, subscriber, patient = self.billing, self.subscriber, self.patient
        for level in (billing, subscriber, patient):
            if level is not None:
                findings.extend(level.findings)
        if billing is not None:
            claim["billing_provider"] = {"npi": billing.data.get("npi"), "taxonomy": billing.data.get("taxonomy"),
                                         "tax_id": billing.data.get("tax_id")}
            if "NM1*85" not in billing.seen:
                findings.append(_finding("missing-segment", "required_field",
                                         f"{_at(billing.segment)}: the billing provider level has no NM1*85 "
                                         "(loop 2010AA)", field="billing_provider.npi",
                                         suggestion="Send NM1*85 with the billing provider's name and NPI"))
        if subscriber is not None:
            data = subscriber.data
            claim["payer"] = data.get("payer")
            person = patient.data if patient is not None else data
            claim["patient"] = {"member_id": data.get("member_id"), "first_name": person.get("first_name"),
                                "last_name": person.get("last_name"), "birth_date": person.get("birth_date"),
                                "sex": person.get("sex")}
            if person.get("death_date"):
                claim["patient"]["death_date"] = person["death_date"]
            for seen, loop, what, rarc in (("SBR", "2000B", "SBR subscriber information", "MA130"),
                                           ("NM1*IL", "2010BA", "NM1*IL subscriber name and member id", "MA27"),
                                           ("NM1*PR", "2010BB", "NM1*PR payer name", "MA130")):
                if seen not in subscriber.seen:
                    findings.append(_finding("missing-segment", "required_field",
                                             f"{_at(subscriber.segment)}: the subscriber level has no {what} "
                                             f"(loop {loop})",
                                             field={"NM1*IL": "patient.member_id", "NM1*PR": "payer"}.get(seen),
                                             rarc=rarc, suggestion=f"Send the {what} in loop {loop}"))
            responsibility = data.get("responsibility") or ""
            if responsibility not in ("", "P", "U") and not b.other_subscribers:
                findings.append(_finding(
                    "missing-loop", "required_field",
                    f"{_at(b.clm)}: the payer is not primary (SBR01 {responsibility!r}) but the claim has no 2320 "
                    "other subscriber loop for the payer(s) before it", field="payer",
                    suggestion="Send the primary payer's SBR/OI/NM1*IL/NM1*PR (loops 2320, 2330A, 2330B)"))
        if patient is not None and "NM1*QC" not in patient.seen:
            findings.append(_finding("missing-segment", "required_field",
                                     f"{_at(patient.segment)}: the patient level has no NM1*QC patient name "
                                     "(loop 2010CA)", field="patient",
                                     suggestion="Send the patient's name in NM1*QC"))
        for other in b.other_subscribers:
            for entity, loop, what in (("IL", "2330A", "other subscriber name (NM1*IL)"),
                                       ("PR", "2330B", "other payer name (NM1*PR)")):
                if not other[entity]:
                    findings.append(_finding(
                        "missing-loop", "required_field",
                        f"{_at(other['segment'])}: the other subscriber loop (2320) has no {what}, loop {loop}, "
                        "which is required in it", field="payer",
                        suggestion=f"Send the {what} after the 2320 SBR, or drop the incomplete 2320 loop"))
        findings.extend(b.findings)
        findings.extend(self._facility(b))
        findings.extend(extra)

        # diagnoses, principal first
        codes = ([b.principal] if b.principal else []) + b.others
        if not b.hi_seen or b.principal is None:
            findings.append(_finding(
                "missing-segment" if not b.hi_seen else "missing-element", "required_field",
                f"{_at(b.clm)}: the claim has " + ("no HI diagnosis segment" if not b.hi_seen
                                                   else "no principal diagnosis (ABK) in its HI segment"),
                field="diagnoses", rarc="M76",
                suggestion="Send HI*ABK:<principal ICD-10-CM code>, then ABF for the others"))
        if len(codes) > 40:
            findings.append(_finding("too-many-diagnoses", "format",
                                     f"{_at(b.clm)}: the claim has {len(codes)} diagnoses; the first 40 are kept",
                                     field="diagnoses", rarc="M76", suggestion="Send at most 12 (837P) / 25 (837I)"))
            codes = codes[:40]
        claim["diagnoses"] = [{"code": code} for code in codes]

        if institutional:
            if not b.statement_seen:
                findings.append(_finding("missing-segment", "required_field",
                                         f"{_at(b.clm)}: the institutional claim has no DTP*434 statement period",
                                         rarc="MA31", suggestion="Send DTP*434*RD8*CCYYMMDD-CCYYMMDD"))
            if b.discharged and b.statement is not None and claim["discharge_date"] is None:
                claim["discharge_date"] = b.statement[1].isoformat()  # the discharge hour's day: statement 'through'

        if len(b.lines) > 999:
            findings.append(_finding("too-many-lines", "format",
                                     f"{_at(b.clm)}: the claim has {len(b.lines)} service lines; the first 999 are kept",
                                     field="lines", suggestion="Split the claim"))
            b.lines = b.lines[:999]
        claim["lines"] = b.lines
        if not b.lines:
            findings.append(_finding("missing-loop", "required_field",
                                     f"{_at(b.clm)}: the claim has no service line (LX loop 2400)", field="lines",
                                     rarc="M51" if not institutional else "M50",
                                     suggestion="Send at least one LX with its SV1/SV2"))
        findings.extend(self._code_set(b))
        if self.wide:
            findings.extend(_fit(claim))
        self.out.append(X12Claim(claim, findings, b.control))
        self.emitted += 1
        self.set_claims += 1

    def _code_set(self, b: _Build) -> list[dict[str, Any]]:
        """ICD-9 qualifiers on services from 2015-10-01, ICD-10 qualifiers on services before it."""
        dates = [dt.date.fromisoformat(line["service_date"]) for line in b.lines if line["service_date"]]
        if b.statement is not None:
            dates.append(b.statement[1])  # inpatient: the discharge ('through') date picks the code set
        if not dates or not b.coded:
            return []
        latest = max(dates)
        out = []
        for seg, element, qualifier, role, version in b.coded:
            what = "procedure" if role == "procedure" else "diagnosis"
            category = "procedure_invalid" if role == "procedure" else "dx_invalid"
            rarc = "MA66" if role == "procedure" else "M76"
            if version == 9 and latest >= ICD10_START:
                out.append(_finding(
                    "icd9-after-icd10", category,
                    f"{_at(seg, element)}: qualifier {qualifier} marks an ICD-9-CM {what} code, but the claim has "
                    f"services on {latest.isoformat()}; from 2015-10-01 only ICD-10 codes are accepted",
                    field="diagnoses" if what == "diagnosis" else None, rarc=rarc,
                    suggestion=f"Code the {what} in ICD-10 and send it with qualifier {_ICD10_QUALIFIER[qualifier]}"))
            elif version == 10 and latest < ICD10_START:
                out.append(_finding(
                    "icd10-before-icd10", category,
                    f"{_at(seg, element)}: qualifier {qualifier} marks an ICD-10 {what} code, but every service "
                    f"is before 2015-10-01 (the latest on {latest.isoformat()}), when ICD-9-CM applied",
                    field="diagnoses" if what == "diagnosis" else None, rarc=rarc,
                    suggestion="Code services before 2015-10-01 in ICD-9-CM (BK/BF)"))
        return out


_LIMITS: tuple[tuple[str, int], ...] = (("claim_id", 80), ("frequency_code", 40), ("place_of_service", 40),
                                        ("prior_authorization", 80), ("type_of_bill", 40))
_NESTED: dict[str, tuple[tuple[str, int], ...]] = {
    "payer": (("id", 40), ("name", 200)),
    "patient": (("member_id", 80), ("first_name", 100), ("last_name", 100), ("sex", 40)),
    "billing_provider": (("npi", 40), ("taxonomy", 40), ("tax_id", 40)),
    "rendering_provider": (("npi", 40), ("taxonomy", 40)),
    "referring_provider": (("npi", 40),),
}
_LINE_KEYS = ("procedure_code", "place_of_service", "ndc", "revenue_code")


def _fit(claim: dict[str, Any]) -> list[dict[str, Any]]:
    """Values longer than the contract allows are dropped with a finding, so the claim always validates.

    Only a sender that breaks the X12 maximum lengths gets here (NM109 is 80 long, an NPI 40 here).
    """
    out: list[dict[str, Any]] = []
    checks: list[tuple[dict[str, Any], str, int, str, int | None]] = [
        (claim, key, limit, key, None) for key, limit in _LIMITS]
    for group, limits in _NESTED.items():
        holder = claim.get(group)
        if holder:
            checks.extend((holder, key, limit, f"{group}.{key}", None) for key, limit in limits)
    checks.extend((dx, "code", 40, "diagnoses", None) for dx in claim["diagnoses"])
    for line in claim["lines"]:
        number = line["line_number"]
        checks.extend((line, key, 40, f"lines[{number}].{key}", number) for key in _LINE_KEYS)
        if any(len(m) > 40 for m in line["modifiers"]):
            line["modifiers"] = [m for m in line["modifiers"] if len(m) <= 40]
            out.append(_finding("too-long", "format", f"lines[{number}].modifiers: a modifier over 40 characters "
                                "is left out", field=f"lines[{number}].modifiers", line=number,
                                suggestion="Send 2-character modifiers"))
    for holder, key, limit, path, number in checks:
        value = holder.get(key)
        if value is not None and len(value) > limit and len(value.strip()) > limit:
            holder[key] = None
            out.append(_finding("too-long", "format", f"{path} is {len(value)} characters long; at most {limit} "
                                "are accepted, so it is left out", field=path, line=number,
                                suggestion="Send the value the X12 implementation guide allows"))
    return out


def iter_claims(stream: TextIO, chunk_size: int = CHUNK_SIZE) -> Iterator[X12Claim]:
    """The claims of an 837 stream, one :class:`X12Claim` per CLM, in order, read lazily.

    Raises :class:`X12Error` only when nothing at all can be read (see the module docstring);
    an unreadable ISA after some claims ends the results with a findings-only result instead.
    """
    walker = _Walker()
    segments = read_segments(stream, chunk_size)
    while True:
        try:
            seg = next(segments)
        except StopIteration:
            break
        except X12Error as error:
            if walker.emitted == 0 and walker.build is None and not walker.pending:
                raise
            walker.pending.append(_finding("isa", "format", f"The rest of the data after interchange "
                                           f"{walker.isa13} cannot be read: {error}",
                                           suggestion="Send each interchange with a complete ISA segment"))
            break
        yield from walker.feed(seg)
    yield from walker.finish()
