"""What the walk through an 837 knows at one point, and what it gives out.

The walker (:mod:`scrubber.intake.x12.walker`) owns one :class:`WalkState`; every segment
handler (the envelope and hierarchy ones in the walker, the claim ones in
:mod:`~scrubber.intake.x12.claim`, the service line ones in :mod:`~scrubber.intake.x12.lines`)
is a function ``(state, segment)`` that reads and updates it. A finished claim goes to
``state.out`` as an :class:`X12Claim`.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from scrubber.intake.x12.segments import Segment
from scrubber.intake.x12.values import at, finding

__all__ = ["Build", "Level", "WalkState", "X12Claim", "composite", "control", "outside_claim", "problem"]

# characters senders use as separators; one of them right after a short code in a composite
# element that lacks the declared component separator means a separator the ISA never declared
_SEPARATOR_LIKE = frozenset(":>^|\\!<{}*+~`")
_FOREIGN_COMPONENT = re.compile(r"[A-Za-z0-9]{1,3}([^A-Za-z0-9 .\-/#&,'()])")


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


@dataclass(slots=True)
class Level:
    """What an HL level (2000A/B/C) contributes to each claim under it."""

    segment: Segment  # its HL
    data: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # the segments it has, as 'SBR', 'NM1*IL'...


@dataclass(slots=True)
class Build:
    """The claim being read, from its CLM to the next CLM/HL/SE."""

    clm: Segment
    claim: dict[str, Any]
    findings: list[dict[str, Any]]
    control: dict[str, Any]
    loop: str = "2300"
    entity: str = ""
    principal: str | None = None
    others: list[str] = field(default_factory=list)
    principal_procedures: list[dict[str, Any]] = field(default_factory=list)  # HI BBR (BR), contract 1.1
    other_procedures: list[dict[str, Any]] = field(default_factory=list)  # HI BBQ (BQ)
    hi_seen: bool = False
    coded: list[tuple[Segment, int, str, str, int]] = field(default_factory=list)  # seg, element, qual, role, ver
    icd9_codes: set[str] = field(default_factory=set)  # codes sent with an ICD-9 qualifier: code_system icd9cm
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
    lx_count: int = 0  # LX segments of the claim so far (LX01 runs 1, 2, 3... in each claim)
    # repeat counts against the implementation guide's maximums (scrubber.intake.x12.structure)
    repeats: dict[str, int] = field(default_factory=dict)  # HI kinds, NTE, K3 of loop 2300
    line_repeats: dict[str, int] = field(default_factory=dict)  # NTE, K3 of the line being read
    providers: set[str] = field(default_factory=set)  # NM101 of the 2310x loops read
    cl1_seen: bool = False
    early_date: Segment | None = None  # the line's DTP*472, when it came before its service segment


@dataclass(slots=True)
class WalkState:
    """The envelope's control numbers, the HL levels in force, the claim being read and the
    results not yet handed out."""

    out: list[X12Claim] = field(default_factory=list)  # results completed by the current segment
    pending: list[dict[str, Any]] = field(default_factory=list)  # findings waiting for the next claim
    emitted: int = 0
    in_set: bool = False
    skip_set: bool = False  # the transaction set is not an 837
    isa13: str | None = None
    gs06: str | None = None
    gs08: str | None = None
    st02: str | None = None
    st03: str | None = None
    bht03: str | None = None
    submission: str | None = None
    claim_type: str | None = None
    interchange_findings: list[dict[str, Any]] = field(default_factory=list)
    set_findings: list[dict[str, Any]] = field(default_factory=list)
    set_claims: int = 0
    wide: bool = False  # some element of this transaction set is over 40 characters: check lengths
    billing: Level | None = None
    subscriber: Level | None = None
    patient: Level | None = None
    level: str | None = None  # HL03 of the level being read: 20, 22 or 23
    build: Build | None = None
    # the envelope and structure checks (scrubber.intake.x12.structure): O(1) memory, but for the
    # claim ids of a transaction set, of which at most structure.MAX_TRACKED_CLAIM_IDS are kept
    isa09: str | None = None  # YYMMDD
    isa_groups: int = 0  # GS groups of the interchange so far (IEA01)
    in_group: bool = False
    gs04: str | None = None  # CCYYMMDD
    group_sets: int = 0  # transaction sets of the group so far (GE01)
    set_head: set[str] = field(default_factory=set)  # BHT, NM1*41, NM1*40 seen in the transaction set
    hl_last: int = 0  # the last HL01 of the transaction set (they run 1, 2, 3...)
    claim_ids: dict[str, int] = field(default_factory=dict)  # CLM01 -> its CLM's position in the set
    leaf: Segment | None = None  # the subscriber/patient HL that should have claims, while it has none yet


def problem(state: WalkState, found: dict[str, Any]) -> None:
    """A finding for the claim being read, else for the next claim."""
    (state.build.findings if state.build is not None else state.pending).append(found)


def outside_claim(state: WalkState, seg: Segment) -> None:
    """A claim segment before any CLM: ignored, with a finding for the next claim."""
    state.pending.append(finding("segment-outside-claim", "format",
                                 f"{at(seg)} is outside any claim (it comes before the claim's CLM); it is ignored",
                                 suggestion="Move the segment into its claim, after CLM"))


def control(state: WalkState, seg: Segment | None) -> dict[str, Any]:
    """A result's control numbers and the position of its CLM (``seg``) in the stream."""
    return {"isa13": state.isa13, "gs06": state.gs06, "st02": state.st02, "bht03": state.bht03,
            "version": state.st03 or state.gs08,
            "segment": seg.position if seg else None, "segment_number": seg.number if seg else None,
            "offset": seg.offset if seg else None}


def composite(state: WalkState, seg: Segment, element: int, fld: str | None, line: int | None = None) -> list[str]:
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
        problem(state, finding(
            "component-separator", "format",
            f"{at(seg, element)}: {used!r} is used as the component separator, but ISA16 declares {comp!r}{also}; "
            "a payer's translator reads the element as one invalid value and rejects the claim",
            field=fld, line=line,
            suggestion=f"Separate components with {comp!r} as declared in ISA16 (or declare {used!r} there)"))
        return raw.split(used)
    return [raw]
