"""X12 segments: the separators an ISA header declares, and a streaming tokenizer of a text stream.

Every ISA (one per interchange, so a file may change separators between interchanges) declares
the separators used until the next ISA: the element separator is its 4th character, the
repetition separator ISA11, the component separator ISA16 and the segment terminator the
character after ISA16. CR/LF and blanks around segments are ignored.

:func:`scan_isa` is the one reading of an ISA header's separators: the reader here and the
batch cutter (:mod:`scrubber.intake.x12.chunking`) both use it, so that they cannot disagree on
where an interchange's segments end.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from scrubber.errors import ScrubberError

__all__ = ["BLANK", "BOM", "CHUNK_SIZE", "CONTROL", "ISA_SCAN", "MAX_SEGMENT", "RESUME", "IsaHeader", "Segment",
           "Separators", "X12Error", "is_isa", "read_batches", "read_segments", "scan_isa"]

CHUNK_SIZE = 1 << 13  # characters read at a time: the segments of one read are handed out as one batch
ISA_SCAN = 256  # an ISA is 106 characters; how far to look for its 16 element separators
MAX_SEGMENT = 1 << 20  # a "segment" longer than this means the terminator is not the declared one
BLANK = " \t\r\n"  # skipped around segments
BOM = "\ufeff"  # a UTF-8 byte-order mark, accepted before the first ISA
# TA101 of the TA1 segment the batch cutter puts after a chunk's ISA and GS: TA102 and TA103 say how
# many GS groups of the interchange and transaction sets of the group came before the chunk, TA104
# is 0 when a GE closed that group before it (no interchange control number is ever 'X12RESUME',
# so no sender's TA1 reads as one)
RESUME = "X12RESUME"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # removed from inside a segment (with a finding)


class X12Error(ScrubberError, ValueError):
    """Nothing at all can be read: no ISA header, or one too broken to give the separators."""


@dataclass(frozen=True, slots=True)
class Separators:
    """The delimiters an ISA header declares."""

    element: str
    repetition: str | None  # None when ISA11 is not a delimiter (e.g. 'U' before 5010)
    component: str
    segment: str


class Segment:
    """One segment: ``elements[0]`` is the segment id, ``elements[1]`` the first element.

    ``id`` is ``elements[0]``; ``position`` is 1-based within the transaction set (ST = 1) for ST..SE,
    within the interchange (ISA = 1) for envelope segments; ``number`` counts segments in the stream;
    ``offset`` is the character offset of the segment in the stream; ``problems`` are what the
    tokenizer found wrong with it; ``wide``: an element over 40 characters (the shortest contract
    limit). Millions are made per file: compiled (setup.py), this is a native class whose construction
    costs little.
    """

    __slots__ = ("elements", "id", "position", "number", "offset", "separators", "problems", "wide")

    def __init__(self, elements: list[str], position: int, number: int, offset: int, separators: Separators,
                 problems: tuple[str, ...] = (), wide: bool = False) -> None:
        self.elements = elements
        self.id = elements[0]
        self.position = position
        self.number = number
        self.offset = offset
        self.separators = separators
        self.problems = problems
        self.wide = wide

    def __repr__(self) -> str:
        return f"Segment({self.elements!r}, position={self.position}, number={self.number}, offset={self.offset})"

    def get(self, index: int) -> str:
        """Element ``index`` (1-based, as in SV101), '' when absent."""
        return self.elements[index] if index < len(self.elements) else ""

    def fields(self, count: int) -> list[str]:
        """The segment id and elements 1 to ``count``, '' for those absent: ``_, qualifier, fmt, raw =
        seg.fields(3)`` gives DTP01..DTP03 with one bound check, for a handler that reads several."""
        elements = self.elements
        if len(elements) > count:
            return elements[:count + 1]
        return elements + [""] * (count + 1 - len(elements))


# --------------------------------------------------------------------------- the ISA header


@dataclass(frozen=True, slots=True)
class IsaHeader:
    """Where an ISA header's elements end and the separators it declares."""

    cuts: tuple[int, ...]  # the offsets of its 16 element separators (ISA01 starts after cuts[0] = 3)
    element: str
    component: str  # ISA16
    terminator: str  # the character after ISA16

    @property
    def length(self) -> int:
        """Of the ISA segment with its terminator (106 when fixed width)."""
        return self.cuts[-1] + 3


def is_isa(text: str) -> bool:
    """``text`` starts with an ISA segment id (followed by a separator, not by more of an id)."""
    return text.startswith("ISA") and len(text) > 3 and not text[3].isalnum()


def scan_isa(text: str) -> IsaHeader:
    """The separators of the ISA header at the start of ``text``: the element separator is its 4th
    character, 16 of them are looked for within the first :data:`ISA_SCAN` characters, then come
    ISA16 (the component separator) and the segment terminator. Raises :class:`X12Error` saying
    why when they cannot be read."""
    if len(text) < 4:
        raise X12Error("the ISA interchange header is too short: it has no element separator")
    el = text[3]
    cuts = [3]
    while len(cuts) < 16:
        j = text.find(el, cuts[-1] + 1, ISA_SCAN)
        if j < 0:
            raise X12Error(f"the ISA interchange header is too short: {len(cuts)} of its 16 elements "
                           f"found (element separator {el!r}), so its separators are unknown")
        cuts.append(j)
    last = cuts[-1]
    if last + 2 >= len(text):
        raise X12Error("the ISA interchange header ends before ISA16 and its segment terminator")
    comp, term = text[last + 1], text[last + 2]
    if term.isalnum() or term == " " or len({el, comp, term}) < 3 or comp.isalnum() or el.isalnum():
        raise X12Error(f"the ISA interchange header is garbled: element separator {el!r}, ISA16 {comp!r}, "
                       f"segment terminator {term!r} must be three different non-alphanumeric characters")
    return IsaHeader(tuple(cuts), el, comp, term)


# --------------------------------------------------------------------------- the tokenizer


def read_segments(stream: IO[str], chunk_size: int = CHUNK_SIZE) -> Iterator[Segment]:
    """The segments of a text stream, read ``chunk_size`` characters at a time.

    Every ISA declares the separators used until the next ISA. Raises :class:`X12Error` when
    the stream does not start with an ISA or an ISA cannot give its separators.
    """
    for batch in read_batches(stream, chunk_size):
        yield from batch


def read_batches(stream: IO[str], chunk_size: int = CHUNK_SIZE) -> Iterator[list[Segment]]:
    """The segments of :func:`read_segments`, in lists of the segments of one chunk read (so memory
    stays flat): the reader's own loop, which saves a generator step per segment."""
    return _Reader(stream, chunk_size).batches()


class _Reader:
    def __init__(self, stream: IO[str], chunk_size: int) -> None:
        self.stream = stream
        self.chunk_size = max(chunk_size, ISA_SCAN)
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
            stripped = self.buf.lstrip(BLANK)
            self.base += len(self.buf) - len(stripped)
            self.buf = stripped
            if self.buf:
                return True
            if not self._read():
                return False

    def batches(self) -> Iterator[list[Segment]]:
        if self._skip_blank() and self.buf.startswith(BOM):  # from Windows tools; not counted in offsets
            self.buf = self.buf[1:]
        if not self._skip_blank():
            raise X12Error("the data is empty: there is no ISA interchange header")
        while self._skip_blank():
            while len(self.buf) < 4 and self._read():
                pass
            if is_isa(self.buf):
                yield [self._header()]
            elif self.seps is None:
                raise X12Error("the data does not start with an ISA interchange header "
                               f"(it starts with {self.buf[:20]!r})")
            else:
                batch = self._body()
                if batch:
                    yield batch

    def _header(self) -> Segment:
        while len(self.buf) < ISA_SCAN and self._read():
            pass
        text = self.buf
        isa = scan_isa(text)
        cuts, el, comp, term = isa.cuts, isa.element, isa.component, isa.terminator
        last = cuts[-1]
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
        self.buf = text[isa.length:]
        self.base += isa.length
        self.number += 1
        self.interchange_position = 1
        self.in_set = False
        return Segment(elements, 1, self.number, offset, self.seps, tuple(problems))

    def _body(self) -> list[Segment]:
        """The complete segments in the buffer (reading one more chunk for the next call), up to a new
        ISA. The hot loop of the reader: :meth:`_segment` inlined, counters in local variables."""
        seps = self.seps
        assert seps is not None
        term = seps.segment
        buf = self.buf
        parts = buf.split(term)
        if not self.eof and len(parts) == 1 and len(buf) > MAX_SEGMENT:
            self.buf, self.base = "", self.base + len(buf)
            skipped = [self._segment(buf[:200], self.base, (
                f"no segment terminator {term!r} (ISA) within {MAX_SEGMENT} characters; the rest is skipped",))]
            while self._read():  # skip to the end: nothing can be trusted after this
                self.buf = ""
            return skipped
        complete = parts if self.eof else parts[:-1]
        step = len(term)
        el = seps.element
        base = self.base
        number, ipos, spos, in_set = self.number, self.interchange_position, self.set_position, self.in_set
        out: list[Segment] = []
        append = out.append
        start = 0
        for part in complete:
            size = len(part)
            text = part.lstrip(BLANK)
            lead = size - len(text)
            text = text.rstrip(BLANK)
            if text:
                if text[0] == "I" and is_isa(text):  # a new interchange: read it with its own separators
                    self.buf = buf[start + lead:]
                    self.base = base + start + lead
                    self.number, self.interchange_position, self.set_position, self.in_set = number, ipos, spos, in_set
                    return out
                problems: tuple[str, ...] = ()
                if not text.isprintable() and CONTROL.search(text):
                    text = CONTROL.sub("", text)
                    problems += ("control characters (line breaks, tabs, NUL...) inside the segment were removed",)
                elements = text.split(el)
                sid = elements[0]
                number += 1
                ipos += 1
                if sid == "ST":
                    in_set, spos = True, 0
                if in_set:
                    spos += 1
                    position = spos
                else:
                    position = ipos
                if sid == "SE":
                    in_set = False
                # an element over 40 characters needs over 40 characters of elements (the separators aside)
                wide = len(text) > 40 and len(text) - len(elements) >= 40 and max(map(len, elements)) > 40
                append(Segment(elements, position, number, base + start + lead, seps, problems, wide))
            start += size + step
        if self.eof and out and parts[-1].strip(BLANK):  # the data ends without a terminator after out[-1]
            unclosed = f"the last segment is not closed by the segment terminator {term!r}"
            out[-1].problems = (unclosed, *out[-1].problems)
        self.number, self.interchange_position, self.set_position, self.in_set = number, ipos, spos, in_set
        if self.eof:
            self.base = base + len(buf)
            self.buf = ""
        else:
            self.buf = buf[start:]
            self.base = base + start
            self._read()
        return out

    def _segment(self, text: str, offset: int, problems: tuple[str, ...]) -> Segment:
        assert self.seps is not None
        if CONTROL.search(text):
            text = CONTROL.sub("", text)
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
