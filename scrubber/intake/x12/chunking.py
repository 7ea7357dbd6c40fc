"""Cutting an X12 837 file into chunks of whole transaction sets, for batch workers, without
reading any claim; each chunk reads (:func:`scrubber.intake.x12.iter_claims`) as its part of the
whole file does.

A chunk holds whole transaction sets (ST..SE), K claims (CLM) or more; a transaction set is
never cut, so a chunk holds at least one (the 837 guide allows up to 5,000 claims in one). Every
chunk after the first starts with the ISA and GS segments in force where it was cut, so that a
worker reads it as an interchange of its own. A cut is made only before an ST that follows a
clean SE: nothing between them but GE / IEA / ISA / GS segments, and no findings waiting for a
next claim (the closed set's last CLM came after its last HL). When something lies outside the
transaction sets (a stray segment, a broken envelope segment), the chunk also gets TA1 segments,
which the reader ignores, after its ISA and GS, so that the reader counts segment positions in
the interchange as it does in the whole file; a GS the reader cleans of control characters is
repeated cleaned, so that its problem is reported once. Where the cutter cannot be sure to see
the segments as the reader does (a later ISA it cannot read, a control character other than a
line break or tab, a segment id broken by a line break, a segment over 1 MB), the rest of the
file is one chunk, joined to the chunk before when it holds no claim (the reader treats an
unreadable ISA before any claim differently). The results are those of reading the file whole:
tests/test_batch.py cuts randomly broken interchanges to check it. A file whose first ISA cannot
be read is one chunk (the reader then says why).

The cutter works on bytes, the reader on text: an ISA's separators are read by the reader's own
:func:`~scrubber.intake.x12.segments.scan_isa` (over the header's bytes as Latin-1, one character
per byte), and a header that is not plain ASCII is not cut after, since character and byte
offsets would differ.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from scrubber.intake.x12.segments import BLANK, BOM, CONTROL, ISA_SCAN, RESUME, MAX_SEGMENT, X12Error, scan_isa

__all__ = ["x12_pieces"]

# the reader's constants, as bytes
_BLANK = BLANK.encode("ascii")  # skipped around segments
_BOM = BOM.encode("utf-8")
_CONTROL = re.compile(CONTROL.pattern.encode("ascii"))  # removed from inside a segment
_STRAY_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # all of those but blanks


class _Isa(NamedTuple):
    element: bytes
    terminator: bytes
    length: int  # of the ISA segment with its terminator


def _isa(buf: bytes | bytearray, at: int) -> _Isa | None:
    """The separators of the ISA at `at`, read by the reader's :func:`scan_isa` (16 element
    separators within 256 characters, then ISA16 and the terminator), or None when they cannot be
    read or the header is not plain ASCII (character and byte offsets would differ)."""
    text = bytes(buf[at:at + ISA_SCAN]).decode("latin-1")  # one character per byte
    try:
        header = scan_isa(text)
    except X12Error:
        return None
    if not text[:header.length].isascii():
        return None
    return _Isa(header.element.encode("latin-1"), header.terminator.encode("latin-1"), header.length)


def _segment_pattern(isa: _Isa) -> re.Pattern[bytes]:
    """The start of every segment the cutter looks at, with the terminator before it: an ISA
    header (group 1), a segment it follows (group 2, with or without elements), or a segment id
    broken by a line break or tab (group 3), which the reader would join into another id."""
    term, el = re.escape(isa.terminator), re.escape(isa.element)
    return re.compile(term + rb"[ \t\r\n]*(?:(ISA)(?=[^A-Za-z0-9" + term + rb"])"
                      rb"|(ST|SE|GS|GE|IEA|CLM|HL)(?=" + el + rb"|[ \t\r\n]*" + term + rb")"
                      rb"|([A-Za-z0-9]{1,3}[\t\r\n]+(?!" + term + rb")[^ \t\r\n]))")


def x12_pieces(raw: BinaryIO, size: int, block: int = 1 << 20) -> Iterator[bytes]:
    """The 837 interchange(s) of `raw` in chunks of whole transaction sets (module docstring)."""
    return _X12Cutter(raw, size, block).pieces()


class _X12Cutter:
    def __init__(self, raw: BinaryIO, size: int, block: int):
        self.raw, self.size, self.block = raw, size, block
        self.buf = bytearray()
        self.consumed = 0  # input offset of buf[0]
        self.eof = self.stray = False

    def _more(self) -> None:
        data = self.raw.read(self.block)
        self.buf += data
        self.eof = not data
        # a control character can make the reader see another segment id than the cutter does
        self.stray = self.stray or _STRAY_CONTROL.search(data) is not None

    def pieces(self) -> Iterator[bytes]:
        buf = self.buf
        while len(buf) < ISA_SCAN and not self.eof:
            self._more()
        if buf.startswith(_BOM):  # the reader skips a byte-order mark before the first ISA, uncounted
            del buf[:len(_BOM)]
            self.consumed += len(_BOM)
        at = len(buf) - len(buf.lstrip(_BLANK))
        isa = _isa(buf, at) if buf[at:at + 3] == b"ISA" else None
        if isa is None:  # the reader will say why the file cannot be read
            yield bytes(buf) + self.raw.read()
            return
        envelope = _Envelope(isa, at, bytes(buf[at:at + isa.length]))  # in force here
        start = envelope  # in force where the current chunk starts (the first needs none)
        odd = False  # the chunk needs the reader's positions outside transaction sets exactly
        # the last chunk cut, kept until the next cut: when the cutter stops with no claim since
        # that cut, the rest joins it, since the reader raises X12Error for an unreadable ISA only
        # before any claim
        held: tuple[_Envelope, bool, bytes, int] | None = None
        pattern, term = _segment_pattern(isa), isa.terminator
        pos = at + isa.length - len(term)  # search from the terminator before the next segment
        last_end = at + isa.length  # end of the last segment looked at outside a transaction set
        in_set = clean = False  # clean: an ST here may start a new chunk
        claims = set_claims = 0  # claims: CLMs of 837 transaction sets since the chunk's start
        counted = False  # the transaction set is an 837 (the reader skips any other)
        last_marker = b""
        groups = sets = 0  # GS groups of the interchange, transaction sets of the group so far
        group_open = False  # a GS was read and no GE since
        finished = False  # read to the end (else the rest of the input is one chunk)
        while not self.stray:
            m = pattern.search(buf, pos)
            if m is None:
                if self.eof:
                    finished = True
                    break
                pos = max(pos, buf.rfind(term))
                if len(buf) - pos > MAX_SEGMENT:  # the reader gives up on the rest here
                    break
                self._more()
                continue
            if m.group(3):
                break
            sid = m.group(1) or m.group(2)
            seg = m.start(1) if m.group(1) else m.start(2)
            if in_set and sid in (b"CLM", b"HL"):  # most segments: their end is not needed
                claims += sid == b"CLM" and counted
                set_claims += sid == b"CLM"
                last_marker = sid
                pos = m.end()
                continue
            if sid == b"ISA":
                isa = _isa(buf, seg)
                if isa is None and not self.eof and len(buf) - seg < ISA_SCAN:
                    self._more()
                    continue
                if isa is None:
                    break
                end = seg + isa.length
            else:
                end = buf.find(term, m.end())
                if end < 0 and len(buf) - seg > MAX_SEGMENT:
                    break
                if end < 0 and not self.eof:
                    self._more()
                    continue
                end = len(buf) if end < 0 else end + len(term)
            closed = sid == b"ISA" or buf.endswith(term, seg, end)
            if not in_set and buf[last_end:seg].strip(_BLANK):
                clean, odd = False, True  # some other segment lies outside the transaction sets
            if sid == b"ST":
                if not in_set and clean and claims >= self.size:
                    cut = m.start() + len(term)
                    if held is not None:
                        yield self._chunk(*held)
                    held = (start, odd, bytes(buf[:cut]), self.consumed)
                    start, odd = envelope._replace(groups_before=max(groups - 1, 0), sets_before=sets,
                                                   group_closed=bool(envelope.gs) and not group_open), False
                    del buf[:cut]
                    self.consumed += cut
                    seg, end, claims = seg - cut, end - cut, 0
                sets += 1
                in_set, clean, set_claims, last_marker = True, False, 0, b""
                counted = buf[seg:end].split(envelope.separators.element)[1:2] == [b"837"]
            elif sid == b"SE":
                # nothing waits for a next claim: the last claim was open until SE, or there was none
                clean = in_set and (set_claims == 0 or last_marker == b"CLM")
                odd = odd or not in_set
                in_set = False
            elif sid in (b"CLM", b"HL"):  # outside any transaction set
                clean, odd = False, True
            else:  # ISA, GS, GE, IEA: well-formed, or no cut before the next SE
                body = buf[seg:end - len(term) if closed else end].rstrip(_BLANK)
                if in_set or not closed or (sid != b"ISA" and _CONTROL.search(body)):
                    clean, odd = False, True
                in_set = False
                if sid == b"GS":  # repeated without what the reader removes (and reports) once
                    envelope = envelope._replace(gs=_CONTROL.sub(b"", body) + term)
                    groups, sets, group_open = groups + 1, 0, True
                elif sid == b"GE":
                    group_open = False
                elif sid == b"ISA":
                    assert isa is not None
                    envelope = _Envelope(isa, self.consumed + seg, bytes(buf[seg:end]))
                    groups, sets, group_open = 0, 0, False
                    pattern, term = _segment_pattern(isa), isa.terminator
            last_end = end
            pos = end - len(term) if closed else end
        if not finished:  # no further cut is safe: the rest is one chunk
            odd = True
            buf += self.raw.read()
        elif not in_set and buf[last_end:].strip(_BLANK):
            odd = True  # something after the last envelope segment
        if held is not None and not finished and claims == 0:
            yield self._chunk(held[0], True, held[2] + bytes(buf), held[3])
            return
        if held is not None:
            yield self._chunk(*held)
        yield self._chunk(start, odd, bytes(buf), self.consumed)

    def _chunk(self, start: _Envelope, odd: bool, body: bytes, offset: int) -> bytes:
        """A chunk's text: the envelope in force where it starts, then its body (the first chunk,
        at offset 0, is the file's own beginning). A chunk with something outside its transaction
        sets gets TA1 segments (ignored by the reader) after the envelope, so that the reader
        counts positions in the interchange as in the whole file."""
        if offset == 0:
            return body
        prefix = start.isa + start.gs
        seps = start.separators
        resume = start.groups_before or start.sets_before or start.group_closed
        if resume:
            prefix += seps.element.join([b"TA1", RESUME.encode(), b"%d" % start.groups_before, b"%d" % start.sets_before,
                                         b"0" if start.group_closed else b"1"])
            prefix += seps.terminator
        if odd:
            padding = self._segments(start.isa_offset, offset, seps) - 1 - bool(start.gs) - bool(resume)
            prefix += (b"TA1" + seps.terminator) * padding
        return prefix + body

    def _segments(self, begin: int, end: int, isa: _Isa) -> int:
        """How many segments the reader reads in the input from the ISA at `begin` to `end`."""
        here = self.raw.tell()
        self.raw.seek(begin + isa.length)
        count, carry, left = 1, b"", end - begin - isa.length
        while left > 0:
            block = self.raw.read(min(left, 1 << 20))
            if not block:
                break
            left -= len(block)
            parts = (carry + block).split(isa.terminator)
            carry = parts.pop()
            count += sum(1 for part in parts if part.strip(_BLANK))
        self.raw.seek(here)
        return count + bool(carry.strip(_BLANK))


class _Envelope(NamedTuple):
    """The ISA (and GS) in force at some point of the input; where a chunk starts, how many GS groups
    of that interchange and transaction sets of that group came before it (for the reader's GE01
    and IEA01 counts, given it by a :data:`~scrubber.intake.x12.segments.RESUME` TA1 segment)."""

    separators: _Isa
    isa_offset: int
    isa: bytes
    gs: bytes = b""
    groups_before: int = 0
    sets_before: int = 0
    group_closed: bool = False  # a GE closed the group before the chunk (the reader checks no later GE)

