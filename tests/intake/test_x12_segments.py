"""The X12 tokenizer's segments (scrubber.intake.x12.segments): what its hot loop gives, and
Segment.fields, the one-bound-check read of several elements the handlers use."""
from __future__ import annotations

import io

from scrubber.intake.x12 import Segment, Separators, read_segments

SEPARATORS = Separators("*", "^", ":", "~")
ISA = ("ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *261127*1200*^*00501*"
       "000000101*0*P*:~\n")


SEGMENT_ATTRIBUTES = ("elements", "id", "position", "number", "offset", "separators", "problems", "wide")


def test_tokenized_segment_has_every_attribute_of_one_built_directly():
    """A tokenized segment has each attribute Segment(...) sets, with the position, number, offset and width
    the tokenizer works out, including the last segment's missing terminator and a long element."""
    text = ISA + "GS*HC*S*R*20261127*1200*1*X*005010X222A1~\nST*837*0001~\n NM1*85*2*" + "N" * 45 + "~\nSE*3*0001"
    segments = list(read_segments(io.StringIO(text)))
    nm1, se = segments[3], segments[4]
    expected = Segment(["NM1", "85", "2", "N" * 45], 2, 4, text.index("NM1"), SEPARATORS, (), True)
    assert {name: getattr(nm1, name) for name in SEGMENT_ATTRIBUTES} == {
        name: getattr(expected, name) for name in SEGMENT_ATTRIBUTES}
    assert (se.id, se.position, se.number, se.wide) == ("SE", 3, 5, False)
    assert se.problems == ("the last segment is not closed by the segment terminator '~'",)


def test_fields_pads_absent_elements_and_cuts_the_rest():
    """fields(n) is [id, element 1 .. element n]: '' for the absent ones, the later ones left out."""
    dtp = Segment(["DTP", "472", "D8"], 1, 1, 0, SEPARATORS)
    assert dtp.fields(3) == ["DTP", "472", "D8", ""]
    assert dtp.fields(1) == ["DTP", "472"]
    assert dtp.elements == ["DTP", "472", "D8"]  # the segment itself is left as it is
