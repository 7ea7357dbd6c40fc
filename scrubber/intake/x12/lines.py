"""The service lines of a claim (loop 2400): LX, SV1 (837P) or SV2 (837I), LIN and CTP (2410), SVD (2430).

Each handler is a function ``(state, segment)`` (see :mod:`scrubber.intake.x12.state`);
:data:`HANDLERS` maps segment ids to them. A line is complete at the next LX or when its claim
closes (:func:`close_line`). The line's DTP*472 service date, REF*6R control number, REF*X4 CLIA
number and its 2420x providers are read with the claim's DTP, REF and NM1
(:mod:`scrubber.intake.x12.claim`), which know the loop.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from scrubber.intake.x12.segments import Segment
from scrubber.intake.x12.state import WalkState, composite, outside_claim, problem
from scrubber.intake.x12.structure import MAX_LINES_837P, lx_finding, not_after, note_repeated, too_many_lines
from scrubber.intake.x12.values import at, blank, finding, parse_decimal, parse_money, parse_units

__all__ = ["HANDLERS", "close_line", "ctp", "lin", "lx", "note", "sv1", "sv2", "svd"]

_PRODUCT_QUALIFIERS = frozenset({"HC", "AD", "ER", "HP", "IV", "WK", "N4"})
_POINTER_LETTERS = frozenset("ABCDEFGHIJKL")


def lx(state: WalkState, seg: Segment) -> None:
    """LX: a new service line (the one before it is complete)."""
    b = state.build
    if b is None:
        outside_claim(state, seg)
        return
    if b.line is not None:
        close_line(state)
    raw = seg.get(1)
    value = int(raw) if raw.isascii() and raw.isdigit() else 0
    number = value if 1 <= value <= 999999 else None
    b.lx_count += 1
    if b.lx_count == MAX_LINES_837P + 1 and b.claim["claim_type"] == "professional":
        problem(state, too_many_lines(seg, b.lx_count))
    if b.line_repeats:
        b.line_repeats.clear()
    if number is None:
        number = b.lx_count
        problem(state, finding("line-number", "format",
                               f"{at(seg, 1)}: LX01 is not a line number from 1; the line is numbered {number} "
                               "by its position", field=f"lines[{number}].line_number", line=number,
                               suggestion="Number the service lines 1, 2, 3... in LX01"))
    elif number != b.lx_count:
        number = b.lx_count
        problem(state, lx_finding(seg, number))
    b.loop = "2400"
    b.line = {"line_number": number, "procedure_code": None, "modifiers": [], "units": None, "charge": None,
              "service_date": None, "service_date_end": None, "diagnosis_pointers": [],
              "place_of_service": None, "ndc": None, "revenue_code": None}
    b.line_segment, b.line_service, b.line_dated, b.early_date = seg, False, False, None


def _service(state: WalkState, seg: Segment) -> tuple[dict[str, Any], int] | None:
    """The line (and its number) a service segment (SV1/SV2) fills, or None (with a finding)."""
    b = state.build
    if b is None:
        outside_claim(state, seg)
        return None
    if b.line is None:
        problem(state, finding("segment-order", "format", f"{at(seg)} has no LX before it; it is ignored",
                               suggestion="Start each service line with LX"))
        return None
    number = b.line["line_number"]
    if b.line_service:
        problem(state, finding("segment-repeated", "format", f"{at(seg)}: line {number} already has its "
                               "service segment; this one is ignored", line=number,
                               suggestion="Send one SV1/SV2 per LX"))
        return None
    if b.claim["claim_type"] is None:  # unsupported version: the first service segment decides
        b.claim["claim_type"] = "professional" if seg.id == "SV1" else "institutional"
    expected = "SV1" if b.claim["claim_type"] == "professional" else "SV2"
    if seg.id != expected:
        problem(state, finding("segment-type", "format", f"{at(seg)}: a {b.claim['claim_type']} claim's lines "
                               f"use {expected}", line=number,
                               suggestion="Send 837P lines as SV1 and 837I lines as SV2"))
    if b.line_segment is not None and seg.position != b.line_segment.position + 1:
        problem(state, not_after(seg, "right after the LX of its line", b.line_segment, line=number))
    if b.early_date is not None:
        problem(state, not_after(b.early_date, f"after the service segment ({seg.id}) of its line", None,
                                 line=number, element=1, fld=f"lines[{number}].service_date"))
    b.line_service = True
    return b.line, number


def _procedure(state: WalkState, seg: Segment, element: int, raw: str, line: dict[str, Any], number: int,
               required: bool) -> None:
    """The procedure code and modifiers of composite element ``element`` (SV101, SV202), ``raw``."""
    comp = seg.separators.component
    parts = raw.split(comp) if comp in raw else composite(state, seg, element, f"lines[{number}].procedure_code",
                                                          number)
    code = parts[1].strip() if len(parts) > 1 else ""
    if parts and parts[0] not in _PRODUCT_QUALIFIERS:
        problem(state, finding("qualifier", "format", f"{at(seg, element)}: the product/service qualifier "
                               f"{parts[0]!r} is not HC, HP, IV, ER, WK or N4",
                               field=f"lines[{number}].procedure_code", line=number, rarc="M51",
                               suggestion="Send HCPCS/CPT codes as HC:code"))
    if code:
        line["procedure_code"] = code
        line["modifiers"] = [m.strip() for m in parts[2:6] if m.strip()] if len(parts) > 2 else []
    elif required or parts:
        problem(state, finding("missing-element", "required_field",
                               f"{at(seg, element)}: line {number} has no procedure code",
                               field=f"lines[{number}].procedure_code", line=number, rarc="M51",
                               suggestion="Send the CPT/HCPCS code as HC:code[:modifier...]"))


def _amounts(state: WalkState, seg: Segment, fields: list[str], charge_at: int, line: dict[str, Any],
             number: int) -> None:
    """The charge, unit basis and units: elements ``charge_at`` and the two after it (SV102-SV104, SV203-SV205)
    of the segment's ``fields``."""
    charge, basis, units = fields[charge_at], fields[charge_at + 1], fields[charge_at + 2]
    basis_at, units_at = charge_at + 1, charge_at + 2
    line["charge"] = parse_money(charge)
    if line["charge"] is None:
        problem(state, finding(
            "missing-element" if not charge else "number-format", "required_field" if not charge else "format",
            f"{at(seg, charge_at)}: line {number}'s charge " + (
                "is missing" if not charge else "is not an amount with at most 2 decimal places"),
            field=f"lines[{number}].charge", line=number, rarc="M79", suggestion="Send the line charge"))
    allowed = ("UN", "MJ") if seg.id == "SV1" else ("UN", "DA")
    if basis not in allowed:
        problem(state, finding("missing-element" if not basis else "qualifier",
                               "required_field" if not basis else "format",
                               f"{at(seg, basis_at)}: the unit of measure must be {' or '.join(allowed)}",
                               field=f"lines[{number}].units", line=number, rarc="M53",
                               suggestion=f"Send {allowed[0]} (units)"))
    line["units"] = parse_units(units)
    if line["units"] is None:
        problem(state, finding(
            "missing-element" if not units else "number-format", "required_field" if not units else "format",
            f"{at(seg, units_at)}: line {number}'s units " + (
                "are missing" if not units else "are not a number below 10,000,000 with at most 3 decimals"),
            field=f"lines[{number}].units", line=number, rarc="M53", suggestion="Send the units of service"))


def sv1(state: WalkState, seg: Segment) -> None:
    """SV1 (837P): procedure and modifiers, charge, units, place of service, diagnosis pointers; with
    SV103 MJ, SV104 is also the anesthesia time in minutes (``units`` keeps SV104, as CMS-1500 24G)."""
    found = _service(state, seg)
    if found is None:
        return
    line, number = found
    fields = seg.fields(7)
    _, product, _, basis, units, place, _, pointed = fields
    _procedure(state, seg, 1, product, line, number, True)  # required
    _amounts(state, seg, fields, 2, line, number)
    if basis == "MJ" and units:
        minutes = parse_decimal(units)
        if minutes is not None and minutes == minutes.to_integral_value() and 0 <= minutes <= 99999:
            line["anesthesia_minutes"] = int(minutes)
        else:
            problem(state, finding("number-format", "format", f"{at(seg, 4)}: anesthesia minutes (SV103 MJ) "
                                   "must be a whole number of minutes from 0 to 99999",
                                   field=f"lines[{number}].anesthesia_minutes", line=number, rarc="N203",
                                   suggestion="Send the anesthesia time in whole minutes in SV104"))
    line["place_of_service"] = place.strip() or None
    comp = seg.separators.component
    if comp in pointed or pointed.isdigit():  # the common case: numbers only, cached by their text
        numbers = _numbered_pointers(pointed, comp)
        if numbers is not None:
            line["diagnosis_pointers"] = list(numbers[:12])
            return
    pointers: list[int | str] = []
    for raw in composite(state, seg, 7, f"lines[{number}].diagnosis_pointers", number):
        text = raw.strip()
        if not text:
            continue
        if text.isascii() and text.isdigit() and len(text) <= 3:
            pointers.append(int(text))
            continue
        kept = text in _POINTER_LETTERS
        if kept:
            pointers.append(text)
        problem(state, finding(
            "dx-pointer", "dx_pointer",
            f"{at(seg, 7)}: diagnosis pointer {text!r} on line {number} is not a whole number (1-12)"
            + ("; it is kept as the CMS-1500 letter" if kept else "; it is left out of the claim"),
            field=f"lines[{number}].diagnosis_pointers", line=number, rarc="M76",
            suggestion="Point at diagnoses by their number in HI: 1 for HI01 ... 12 for HI12"))
    line["diagnosis_pointers"] = pointers[:12]


@lru_cache(maxsize=4096)
def _numbered_pointers(raw: str, comp: str) -> tuple[int, ...] | None:
    """SV107's pointers when every one is a whole number of at most 3 digits (blanks skipped), else None:
    what :func:`sv1` reads from them without a finding. Pointer lists repeat across claims."""
    out = []
    for part in raw.split(comp):
        text = part.strip()
        if not text:
            continue
        if not (text.isascii() and text.isdigit() and len(text) <= 3):
            return None
        out.append(int(text))
    return tuple(out)


def sv2(state: WalkState, seg: Segment) -> None:
    """SV2 (837I): revenue code, optional procedure, charge, units."""
    found = _service(state, seg)
    if found is None:
        return
    line, number = found
    line["revenue_code"] = blank(seg.get(1))
    if line["revenue_code"] is None:
        problem(state, finding("missing-element", "required_field",
                               f"{at(seg, 1)}: line {number} has no revenue code",
                               field=f"lines[{number}].revenue_code", line=number, rarc="M50",
                               suggestion="Send the NUBC revenue code in SV201"))
    fields = seg.fields(5)
    _procedure(state, seg, 2, fields[2], line, number, False)  # not required
    _amounts(state, seg, fields, 3, line, number)


def lin(state: WalkState, seg: Segment) -> None:
    """LIN (2410): the line's drug, as N4 and an NDC."""
    b = state.build
    if b is None or b.line is None:
        outside_claim(state, seg) if b is None else problem(state, finding(
            "segment-order", "format", f"{at(seg)} has no service line (LX) before it; it is ignored",
            suggestion="Send the drug identification after its service line"))
        return
    b.loop = "2410"
    number = b.line["line_number"]
    if seg.get(2) != "N4" or not seg.get(3):
        problem(state, finding("qualifier", "format",
                               f"{at(seg, 2)}: the drug must be identified as N4 (NDC) with an 11-digit code",
                               field=f"lines[{number}].ndc", line=number, rarc="M119",
                               suggestion="Send LIN**N4*<11-digit NDC>"))
        return
    b.line["ndc"] = blank(seg.get(3))


def ctp(state: WalkState, seg: Segment) -> None:
    """CTP (2410): the drug's quantity (CTP04) and unit (CTP05-1: F2, GR, ME, ML or UN, checked by the
    rules) for the NDC of the LIN before it."""
    b = state.build
    if b is None or b.line is None or b.loop != "2410":
        outside_claim(state, seg) if b is None else problem(state, finding(
            "segment-order", "format", f"{at(seg)} has no drug identification (LIN) before it; it is ignored",
            line=b.line["line_number"] if b.line is not None else None,
            suggestion="Send CTP right after the LIN*N4 of its service line"))
        return
    number = b.line["line_number"]
    raw = seg.get(4)
    if raw:
        quantity = parse_units(raw)
        if quantity is None:
            problem(state, finding("number-format", "format", f"{at(seg, 4)}: the drug quantity is not a number "
                                   "below 10,000,000 with at most 3 decimals", field=f"lines[{number}].ndc_quantity",
                                   line=number, rarc="M119", suggestion="Send the quantity of the NDC in CTP04"))
        else:
            b.line["ndc_quantity"] = quantity
    unit = composite(state, seg, 5, f"lines[{number}].ndc_unit", number)
    if unit and (code := blank(unit[0])):
        b.line["ndc_unit"] = code


def svd(state: WalkState, seg: Segment) -> None:
    """SVD (2430): line adjudication, skipped; what follows belongs to it."""
    if state.build is None:
        outside_claim(state, seg)
    else:
        state.build.loop = "2430"


def note(state: WalkState, seg: Segment) -> None:
    """NTE, K3 (2300 or 2400): not mapped; counted against the guide's maximum for their loop."""
    b = state.build
    if b is None:
        outside_claim(state, seg)
    elif b.loop in ("2300", "2400"):
        line = b.loop == "2400"
        over = note_repeated(b.line_repeats if line else b.repeats, seg, b.claim["claim_type"], b.loop)
        if over is not None:
            if line and b.line is not None:
                over["lines"] = [b.line["line_number"]]
            problem(state, over)


def close_line(state: WalkState) -> None:
    """The line being read is complete: checked for its service segment and date, and kept."""
    b = state.build
    if b is None or b.line is None:
        return
    number = b.line["line_number"]
    assert b.line_segment is not None
    if not b.line_service:
        expected = "SV1" if b.claim["claim_type"] == "professional" else "SV2"
        b.findings.append(finding("missing-segment", "required_field",
                                  f"{at(b.line_segment)}: line {number} has no {expected} service segment",
                                  field=f"lines[{number}].procedure_code", line=number,
                                  rarc="M51" if expected == "SV1" else "M50",
                                  suggestion=f"Send {expected} after LX with the service, charge and units"))
    elif not b.line_dated and b.claim["claim_type"] == "professional":
        b.findings.append(finding("missing-segment", "required_field",
                                  f"{at(b.line_segment)}: line {number} has no DTP*472 service date",
                                  field=f"lines[{number}].service_date", line=number, rarc="M52",
                                  suggestion="Send DTP*472*D8*CCYYMMDD for each service line"))
    b.lines.append(b.line)
    b.line = b.line_segment = None


HANDLERS: dict[str, Callable[[WalkState, Segment], None]] = {"LX": lx, "SV1": sv1, "SV2": sv2, "LIN": lin,
                                                            "CTP": ctp, "SVD": svd, "NTE": note, "K3": note}
