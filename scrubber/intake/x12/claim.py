"""The claim: the segments of the HL levels and of loops 2300-2330, and the claim builder.

Each handler is a function ``(state, segment)`` (see :mod:`scrubber.intake.x12.state`);
:data:`HANDLERS` maps segment ids to them. Before a CLM, PRV, NM1, REF, SBR, DMG and PAT fill
the HL level being read (2000A billing provider, 2000B subscriber, 2000C patient); after it,
CLM, DTP, HI, NM1, PRV, REF and SBR fill the claim (2300), its providers (2310x) and the other
subscribers (2320/2330). :func:`close_claim` completes the claim at the next CLM, HL or SE:
the levels' data and findings, CLM05 (place of service or type of bill), the diagnoses, the
code set, the lines (:mod:`scrubber.intake.x12.lines`) and the contract's length limits.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from scrubber.intake.x12.lines import close_line
from scrubber.intake.x12.segments import Segment
from scrubber.intake.x12.state import Build, WalkState, X12Claim, composite, control, outside_claim, problem
from scrubber.intake.x12.structure import (INPATIENT_FACILITY, hi_repeated, inpatient_without_cl1, not_after,
                                           provider_repeated, repeated_claim_id)
from scrubber.intake.x12.values import at, blank, finding, iso_date, parse_date, parse_money

__all__ = ["CLAIM_PROVIDERS", "HANDLERS", "ICD10_START", "LINE_PROVIDERS", "address", "cl1", "clm", "close_claim", "dmg", "dtp",
           "fit", "hi", "nm1", "party", "pat", "prv", "ref", "sbr"]

ICD10_START = dt.date(2015, 10, 1)
# HI qualifiers: (role, ICD version)
_HI = {"ABK": ("principal", 10), "BK": ("principal", 9),
       "ABF": ("other", 10), "BF": ("other", 9),
       "ABN": ("external", 10), "BN": ("external", 9),
       "ABJ": ("admitting", 10), "BJ": ("admitting", 9),
       "APR": ("reason", 10), "PR": ("reason", 9),
       "BBR": ("procedure", 10), "BBQ": ("procedure", 10), "BR": ("procedure", 9), "BQ": ("procedure", 9)}
_ICD10_QUALIFIER = {"BK": "ABK", "BF": "ABF", "BN": "ABN", "BJ": "ABJ", "PR": "APR", "BR": "BBR", "BQ": "BBQ"}
_PRINCIPAL_PROCEDURE = frozenset({"BBR", "BR"})
# UB-04 code lists read from 837I HI (contract 1.1): qualifier -> contract field
_UB04 = {"BG": "condition_codes", "BH": "occurrence_codes", "BI": "occurrence_spans", "BE": "value_codes"}
# contract 1.1 bounds of the claim's lists (a sender past them gets a finding; the first ones are kept)
_LIST_LIMITS = (("condition_codes", 24), ("occurrence_codes", 24), ("occurrence_spans", 24), ("value_codes", 24),
                ("procedures", 25))
_LISTS = frozenset(key for key, _ in _LIST_LIMITS)  # their keys
# NM101 entity codes of the providers the contract carries: claim loops 2310x, line loops 2420x
CLAIM_PROVIDERS = {"82": "rendering_provider", "DN": "referring_provider", "DK": "ordering_provider",
                   "DQ": "supervising_provider", "71": "attending_provider", "72": "operating_provider",
                   "77": "service_facility"}
LINE_PROVIDERS = {"82": "rendering_provider", "DK": "ordering_provider"}


# --------------------------------------------------------------------------- levels and loops 2310-2330


def prv(state: WalkState, seg: Segment) -> None:
    """PRV: the billing provider's taxonomy (PRV*BI), or that of the claim provider (2310x) or line
    provider (2420x) being read."""
    b = state.build
    if b is None:
        if state.level == "20" and state.billing is not None and seg.get(1) == "BI":
            state.billing.data["taxonomy"] = blank(seg.get(3))
    elif b.loop == "2310" and b.entity in CLAIM_PROVIDERS and b.claim.get(CLAIM_PROVIDERS[b.entity]) is not None:
        b.claim[CLAIM_PROVIDERS[b.entity]]["taxonomy"] = blank(seg.get(3))
    elif b.loop == "2420" and b.line is not None and b.line.get(LINE_PROVIDERS.get(b.entity, "")) is not None:
        b.line[LINE_PROVIDERS[b.entity]]["taxonomy"] = blank(seg.get(3))


def nm1(state: WalkState, seg: Segment) -> None:
    """NM1: a level's party (2010AA/BA/BB/CA), a claim provider (2310x: :data:`CLAIM_PROVIDERS`), an
    other subscriber or payer (2330A/B), or a line provider (2420x: :data:`LINE_PROVIDERS`)."""
    entity = seg.get(1)
    b = state.build
    if b is None:
        _level_name(state, seg, entity)
    elif b.loop in ("2300", "2310"):
        if over := provider_repeated(b.providers, seg, b.claim["claim_type"]):
            problem(state, over)
            b.loop, b.entity = "2310", ""  # ignored, with its PRV
            return
        b.loop, b.entity = "2310", entity
        if entity in CLAIM_PROVIDERS:
            b.claim[CLAIM_PROVIDERS[entity]] = party(seg)
    elif b.loop in ("2320", "2330"):
        b.loop = "2330"
        if b.other_subscribers and entity in ("IL", "PR"):
            b.other_subscribers[-1][entity] = True
    elif b.loop.startswith("24"):
        b.loop, b.entity = "2420", entity
        if entity in LINE_PROVIDERS and b.line is not None:
            b.line[LINE_PROVIDERS[entity]] = party(seg)


def party(seg: Segment) -> dict[str, Any]:
    """A provider from its NM1: NM109 is the NPI when NM108 is XX; NM103 (last or organisation
    name) and NM104 (first name) are added when sent."""
    _, _, _, last, first, _, _, _, qualifier, npi = seg.fields(9)
    found: dict[str, Any] = {"npi": (npi.strip() or None) if qualifier == "XX" else None}
    if last := last.strip():
        found["last_name"] = last
    if first := first.strip():
        found["first_name"] = first
    return found


_LEVEL_LOOPS = {("20", "85"): "2010AA billing provider", ("22", "IL"): "2010BA subscriber",
                ("22", "PR"): "2010BB payer", ("23", "QC"): "2010CA patient"}


def _level_name(state: WalkState, seg: Segment, entity: str) -> None:
    if state.level is None and entity in ("41", "40"):  # 1000A submitter, 1000B receiver
        state.set_head.add(f"NM1*{entity}")
        return
    loop = _LEVEL_LOOPS.get((state.level or "", entity))
    level = state.billing if state.level == "20" else state.subscriber if state.level == "22" else state.patient
    if loop is not None and level is not None and f"NM1*{entity}" in level.seen:
        level.findings.append(finding("loop-repeated", "format", f"{at(seg, 1)}: loop {loop} is sent once per "
                                      "HL level, and this level already has it; this one is ignored",
                                      suggestion=f"Send one NM1*{entity} under each HL"))
        return
    if entity == "85" and state.level == "20" and state.billing is not None:
        if "N3" in state.billing.seen or "N4" in state.billing.seen:
            state.billing.findings.append(not_after(seg, "before the N3/N4 address of loop 2010AA, which it "
                                                    "begins", None, element=1))
        state.billing.seen.add("NM1*85")
        state.billing.data.update(party(seg))
    elif entity == "IL" and state.level == "22" and state.subscriber is not None:
        state.subscriber.seen.add("NM1*IL")
        _, _, _, last, first, _, _, _, _, member = seg.fields(9)
        state.subscriber.data.update(member_id=member.strip() or None, last_name=last.strip() or None,
                                     first_name=first.strip() or None)
    elif entity == "PR" and state.level == "22" and state.subscriber is not None:
        state.subscriber.seen.add("NM1*PR")
        _, _, _, name, _, _, _, _, _, payer = seg.fields(9)
        state.subscriber.data["payer"] = {"id": payer.strip() or None, "name": name.strip() or None}
    elif entity == "QC" and state.level == "23" and state.patient is not None:
        state.patient.seen.add("NM1*QC")
        state.patient.data.update(last_name=blank(seg.get(3)), first_name=blank(seg.get(4)))


def ref(state: WalkState, seg: Segment) -> None:
    """REF: the billing provider's tax id (EI/SY), the prior authorization (G1), the CLIA number (X4:
    the claim's in 2300; a line's in 2400 goes in ``control`` and onto a claim that has none, see
    :func:`close_claim`), a line's control number (6R, in ``control``)."""
    qualifier, value = seg.get(1), blank(seg.get(2))
    b = state.build
    if b is None:
        if state.level == "20" and state.billing is not None and qualifier in ("EI", "SY"):
            state.billing.data["tax_id"] = value
            if value and not (len(value) == 9 and value.isascii() and value.isdigit()):
                state.billing.findings.append(finding(
                    "tax-id-format", "format", f"{at(seg, 2)}: the billing provider's tax id must be 9 digits "
                    "without separators", field="billing_provider.tax_id",
                    suggestion=f"Send {value.replace('-', '')!r}" if value.replace("-", "").isdigit() else
                    "Send the 9-digit EIN (REF*EI) or SSN (REF*SY) without separators"))
    elif b.loop == "2300" and qualifier == "G1":
        b.claim["prior_authorization"] = value
    elif b.loop == "2300" and qualifier == "X4":
        b.claim["clia_number"] = value
    elif b.loop == "2400" and qualifier == "6R" and b.line is not None:
        b.control["line_control"][str(b.line["line_number"])] = value
    elif b.loop == "2400" and qualifier == "X4" and b.line is not None and value:
        b.control.setdefault("line_clia", {})[str(b.line["line_number"])] = value


def sbr(state: WalkState, seg: Segment) -> None:
    """SBR: the subscriber's payer responsibility (2000B), or an other subscriber loop (2320)."""
    b = state.build
    if b is not None:
        b.loop = "2320"
        b.other_subscribers.append({"segment": seg, "IL": False, "PR": False})
    elif state.level == "22" and state.subscriber is not None:
        first = state.subscriber.segment
        if "SBR" not in state.subscriber.seen and seg.position != first.position + 1:
            state.subscriber.findings.append(not_after(seg, "right after its subscriber HL", first, element=1))
        state.subscriber.seen.add("SBR")
        state.subscriber.data["responsibility"] = seg.get(1)


def dmg(state: WalkState, seg: Segment) -> None:
    """DMG: the subscriber's or patient's birth date and sex."""
    if state.build is not None:
        return
    level = state.subscriber if state.level == "22" else state.patient if state.level == "23" else None
    if level is None:
        return
    _, fmt, raw, sex = seg.fields(3)
    if fmt == "D8":
        date = parse_date(raw)
        if date is None and raw:
            level.findings.append(finding(
                "date-format", "format", f"{at(seg, 2, show=False)}: the birth date is not a CCYYMMDD date",
                field="patient.birth_date", rarc="N329", suggestion="Write the birth date as CCYYMMDD"))
        level.data["birth_date"] = iso_date(date) if date else None
    elif fmt or raw:
        level.findings.append(finding("date-format", "format", f"{at(seg, 1)}: the birth date format must be D8",
                                      field="patient.birth_date", rarc="N329",
                                      suggestion="Send DMG01 = D8 and the birth date as CCYYMMDD"))
    level.data["sex"] = sex.strip() or None


def pat(state: WalkState, seg: Segment) -> None:
    """PAT: the subscriber's or patient's death date."""
    if state.build is not None:
        return
    level = state.subscriber if state.level == "22" else state.patient if state.level == "23" else None
    if level is None or not seg.get(6):
        return
    date = parse_date(seg.get(6)) if seg.get(5) == "D8" else None
    if date is None:
        level.findings.append(finding("date-format", "format",
                                      f"{at(seg, 6, show=False)}: the death date is not a D8 CCYYMMDD date",
                                      field="patient.death_date", suggestion="Send PAT05 = D8 and PAT06 CCYYMMDD"))
    level.data["death_date"] = date.isoformat() if date else None


# --------------------------------------------------------------------------- loop 2300


def clm(state: WalkState, seg: Segment) -> None:
    """CLM: a new claim (the one before it is complete): CLM01 claim id, CLM02 total, CLM05."""
    if state.build is not None:
        close_claim(state)
    claim: dict[str, Any] = {
        "claim_id": None, "claim_type": state.claim_type, "frequency_code": None,
        "submission_date": state.submission, "payer": None, "patient": None, "billing_provider": None,
        "rendering_provider": None, "referring_provider": None, "place_of_service": None,
        "prior_authorization": None, "type_of_bill": None, "admission_date": None, "discharge_date": None,
        "diagnoses": [], "lines": [], "total_charge": None}
    record = control(state, seg)
    record["line_control"] = {}
    b = state.build = Build(seg, claim, [], record)
    state.leaf = None
    if state.level not in ("22", "23") or state.subscriber is None:
        b.findings.append(finding("hierarchy", "required_field",
                                  f"{at(seg)} is not under a subscriber HL (HL03 = 22)", field="patient",
                                  suggestion="Put each claim under its billing provider, subscriber "
                                             "(and patient) HL levels"))
    _, claim_id, raw, _, _, facility = seg.fields(5)
    claim["claim_id"] = claim_id.strip() or None
    if repeated := repeated_claim_id(state, seg, claim["claim_id"]):
        b.findings.append(repeated)
    if claim["claim_id"] is None:
        b.findings.append(finding("missing-element", "required_field",
                                  f"{at(seg, 1)}: the claim has no patient control number (CLM01)",
                                  field="claim_id", suggestion="Send the billing system's claim number in CLM01"))
    claim["total_charge"] = parse_money(raw)
    if claim["total_charge"] is None:
        b.findings.append(finding(
            "missing-element" if not raw else "number-format", "required_field" if not raw else "format",
            f"{at(seg, 2)}: the total charge " + ("is missing" if not raw else "is not an amount with at most "
                                                 "2 decimal places"),
            field="total_charge", rarc="M54", suggestion="Send the claim total (sum of the line charges) in CLM02"))
    comp = seg.separators.component
    parts = facility.split(comp) if comp in facility else composite(
        state, seg, 5, "place_of_service" if state.claim_type != "institutional" else "type_of_bill")
    b.facility = (parts[0].strip() if parts else "", parts[2].strip() if len(parts) > 2 else "")
    b.facility_qualifier = parts[1].strip() if len(parts) > 1 else ""


def _facility(b: Build) -> list[dict[str, Any]]:
    """CLM05 into place_of_service (837P) or type_of_bill (837I: CLM05-1 + CLM05-3) and frequency_code."""
    claim = b.claim
    first, frequency = b.facility
    claim["frequency_code"] = frequency or None
    professional = claim["claim_type"] == "professional"
    out = []
    qualifier = "B" if professional else "A"
    if first and b.facility_qualifier != qualifier:
        out.append(finding("qualifier", "format",
                           f"{at(b.clm, 5)}: CLM05-2 must be {qualifier!r} (the facility code qualifier of "
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
    return out + [finding("missing-element", "required_field",
                          f"{at(b.clm, 5)}: CLM05 needs the {what} (CLM05-1) and the claim frequency code (CLM05-3)",
                          field=("place_of_service" if professional else "type_of_bill") if not first
                          else "frequency_code",
                          rarc=("M77" if professional else "MA30") if not first else "MA130",
                          suggestion="Send CLM05 as code:qualifier:frequency, e.g. 11:B:1")]


def dtp(state: WalkState, seg: Segment) -> None:
    """DTP: admission date and hour (435), discharge (096) and statement period (434) of the claim;
    a line's service date(s) (472)."""
    b = state.build
    if b is None:
        outside_claim(state, seg)
        return
    _, qualifier, fmt, raw = seg.fields(3)
    line = b.line["line_number"] if b.line is not None and b.loop.startswith("24") else None
    if qualifier == "096" and b.loop == "2300":
        b.discharged = True
    if qualifier == "472" and b.loop == "2400":
        b.line_dated = True  # present, even if its date is unreadable (that is its own finding)
        if not b.line_service and b.early_date is None:
            b.early_date = seg  # out of order if the line's service segment comes after it (lines.py)
    value = _dates(state, seg, fmt, raw, qualifier, line)
    if value is None:
        return
    start, end = value
    if qualifier == "472" and b.line is not None and b.loop == "2400":
        b.line["service_date"] = iso_date(start)
        b.line["service_date_end"] = iso_date(end) if fmt == "RD8" else None
    elif b.loop == "2300":
        if qualifier == "435":
            b.claim["admission_date"] = start.isoformat()
            if fmt == "DT":
                b.claim["admission_hour"] = raw[8:10]  # CCYYMMDDHHMM: the hour (UB-04 FL 13)
        elif qualifier == "434":
            b.statement = (start, end)
            b.claim["statement_from"], b.claim["statement_to"] = start.isoformat(), end.isoformat()
        elif qualifier == "096" and fmt in ("D8", "DT"):
            b.claim["discharge_date"] = start.isoformat()
    if qualifier == "434":
        b.statement_seen = True
        if fmt != "RD8":
            problem(state, finding("date-format", "format", f"{at(seg, 2)}: the statement period (DTP*434) "
                                   "must be sent as RD8, a from-through range", rarc="MA31",
                                   suggestion="Send DTP*434*RD8*CCYYMMDD-CCYYMMDD (the same date twice for one day)"))


def _date_field(qualifier: str, line: int | None) -> str | None:
    """The contract field a DTP's date goes in, for its findings: a line's service date (472), the admission."""
    return {"472": f"lines[{line}].service_date", "435": "admission_date"}.get(qualifier)


def _dates(state: WalkState, seg: Segment, fmt: str, raw: str, qualifier: str,
           line: int | None) -> tuple[dt.date, dt.date] | None:
    """DTP02/DTP03 as (from, to); a format finding and None when they do not agree."""
    start = end = None
    if fmt == "D8":
        start = end = parse_date(raw)
    elif fmt == "RD8":
        head, _, tail = raw.partition("-")
        start, end = parse_date(head), parse_date(tail)
    elif fmt == "DT":
        start = end = parse_date(raw[:8]) if len(raw) == 12 and raw.isdigit() else None
    elif fmt == "TM":
        if len(raw) == 4 and raw.isdigit() and int(raw[:2]) < 24 and int(raw[2:]) < 60:
            return None
        problem(state, finding("date-format", "format", f"{at(seg, 3)} is not an HHMM time (DTP02 is TM)",
                               field=_date_field(qualifier, line), line=line, suggestion="Write the time as HHMM"))
        return None
    else:
        problem(state, finding("date-format", "format",
                               f"{at(seg, 2)}: the date format qualifier must be D8, RD8, DT or TM",
                               field=_date_field(qualifier, line), line=line,
                               suggestion="Send D8 with CCYYMMDD, or RD8 with a range"))
        return None
    if start is None or end is None:
        fld = _date_field(qualifier, line)
        shape = {"D8": "CCYYMMDD", "RD8": "CCYYMMDD-CCYYMMDD", "DT": "CCYYMMDDHHMM"}[fmt]
        problem(state, finding("date-format", "format",
                               f"{at(seg, 3)} is not a {shape} date (DTP02 is {fmt})", field=fld, line=line,
                               rarc="M52" if fld and "service_date" in fld else "MA130",
                               suggestion=f"Write the date as {shape}"))
        return None
    return start, end


def cl1(state: WalkState, seg: Segment) -> None:
    """CL1 (837I 2300): admission type (CL101), admission source (CL102), patient status (CL103)."""
    b = state.build
    if b is None:
        outside_claim(state, seg)
        return
    b.cl1_seen = True
    for key, element in (("admission_type", 1), ("admission_source", 2), ("patient_status", 3)):
        if value := blank(seg.get(element)):
            b.claim[key] = value


def hi(state: WalkState, seg: Segment) -> None:
    """HI: the diagnoses (principal, other, 837I external cause); the ICD procedures (BBR/BR principal,
    BBQ/BQ other, with their dates); the 837I condition (BG), occurrence (BH), occurrence span (BI) and
    value (BE) codes. Admitting and reason-for-visit codes are checked (and their code set) but not
    mapped."""
    b = state.build
    if b is None:
        outside_claim(state, seg)
        return
    if b.loop != "2300":
        problem(state, finding("segment-order", "format", f"{at(seg)} comes after the claim's 2310/2320/2400 "
                               "loops; it belongs right after CLM/DTP/REF", field="diagnoses", rarc="M76",
                               suggestion="Move the HI segment before the provider, other-payer and line loops"))
    if over := hi_repeated(b.repeats, seg, b.claim["claim_type"]):
        problem(state, over)
    if len(seg.elements) > 13:
        problem(state, finding("too-many-elements", "format",
                               f"{at(seg)} has {len(seg.elements) - 1} elements; HI holds at most 12",
                               field="diagnoses", rarc="M76",
                               suggestion="Send at most 12 codes per HI segment"))
    comp = seg.separators.component
    for element, raw in enumerate(seg.elements[1:], 1):
        parts = raw.split(comp) if comp in raw else composite(state, seg, element, "diagnoses")
        if not parts:
            continue
        qualifier = parts[0]
        code = parts[1].strip() if len(parts) > 1 else ""
        if qualifier in _UB04:
            _ub04(state, seg, element, qualifier, parts)
            continue
        kind = _HI.get(qualifier)
        if kind is None:
            continue  # DRG, anesthesia... codes: not in the contract
        role, version = kind
        if not code:
            problem(state, finding("missing-element", "required_field",
                                   f"{at(seg, element)}: qualifier {qualifier} has no code",
                                   field="diagnoses", rarc="M76", suggestion="Send the code after the qualifier"))
            continue
        b.hi_seen = True
        b.coded.append((seg, element, qualifier, role, version))
        if version == 9:
            b.icd9_codes.add(code)
        if "." in code:
            problem(state, finding("dx-decimal", "format",
                                   f"{at(seg, element)}: ICD codes are sent without the decimal point",
                                   field="diagnoses", rarc="M76", suggestion=f"Send {code.replace('.', '')}"))
        if role == "other":  # the most frequent
            b.others.append(code)
        elif role == "principal":
            if b.principal is not None:
                problem(state, finding("principal-repeated", "format",
                                       f"{at(seg, element)}: a second principal diagnosis "
                                       f"(the first is {b.principal})", field="diagnoses", rarc="M76",
                                       suggestion="Send one principal diagnosis (ABK); the others as ABF"))
                b.others.append(code)
            else:
                b.principal = code
                if b.claim["claim_type"] == "professional" and (element != 1 or b.others):
                    problem(state, finding(
                        "principal-position", "format", f"{at(seg, element)}: the principal diagnosis must "
                        "be HI01, before the other diagnoses; the pointers count from it", field="diagnoses",
                        rarc="M76", suggestion="Send the principal diagnosis (ABK) as HI01"))
        elif role == "external" and b.claim["claim_type"] == "institutional":
            b.others.append(code)
        elif role == "procedure":
            procedure = {"code": code, "date": _hi_date(state, seg, element, parts, "procedures")}
            (b.principal_procedures if qualifier in _PRINCIPAL_PROCEDURE else b.other_procedures).append(procedure)


def _ub04(state: WalkState, seg: Segment, element: int, qualifier: str, parts: list[str]) -> None:
    """A BG/BH/BI/BE code of HI into its contract list: BH and BI with their date (HI0x-3 D8 / RD8,
    HI0x-4), BE with its amount (HI0x-5)."""
    b = state.build
    assert b is not None
    fld = _UB04[qualifier]
    code = parts[1].strip() if len(parts) > 1 else ""
    if not code:
        problem(state, finding("missing-element", "required_field", f"{at(seg, element)}: qualifier {qualifier} "
                               "has no code", field=fld, suggestion="Send the code after the qualifier"))
        return
    entry: Any
    if qualifier == "BG":
        entry = code
    elif qualifier == "BH":
        entry = {"code": code, "date": _hi_date(state, seg, element, parts, fld)}
    elif qualifier == "BI":
        head, _, tail = (parts[3].strip() if len(parts) > 3 else "").partition("-")
        start, end = parse_date(head), parse_date(tail)
        if (len(parts) > 2 and parts[2] != "RD8") or start is None or end is None:
            problem(state, finding("date-format", "format", f"{at(seg, element)}: an occurrence span needs "
                                   "RD8 and its from-through dates in HI0x-3 and HI0x-4", field=fld,
                                   suggestion=f"Send {qualifier}:{code}:RD8:CCYYMMDD-CCYYMMDD"))
            start = end = None
        entry = {"code": code, "from": start.isoformat() if start else None, "to": end.isoformat() if end else None}
    else:
        raw = parts[4].strip() if len(parts) > 4 else ""
        amount = parse_money(raw) if raw else None
        if raw and amount is None:
            problem(state, finding("number-format", "format", f"{at(seg, element)}: the value code amount "
                                   "(HI0x-5) is not an amount with at most 2 decimal places", field=fld,
                                   suggestion=f"Send {qualifier}:{code}:::<amount>"))
        entry = {"code": code, "amount": amount}
    b.claim.setdefault(fld, []).append(entry)


def _hi_date(state: WalkState, seg: Segment, element: int, parts: list[str], fld: str) -> str | None:
    """The D8 date of an HI code (HI0x-3 D8, HI0x-4 CCYYMMDD); None, with a finding when it is unreadable."""
    fmt, raw = (parts[2].strip() if len(parts) > 2 else ""), (parts[3].strip() if len(parts) > 3 else "")
    if not fmt and not raw:
        return None
    date = parse_date(raw) if fmt == "D8" else None
    if date is None:
        problem(state, finding("date-format", "format", f"{at(seg, element)}: the date must be sent as "
                               "D8 and CCYYMMDD in HI0x-3 and HI0x-4", field=fld,
                               suggestion=f"Send {parts[0]}:{parts[1].strip()}:D8:CCYYMMDD"))
    return date.isoformat() if date else None


# --------------------------------------------------------------------------- closing a claim


def close_claim(state: WalkState, *extra: dict[str, Any]) -> None:
    """Finish the claim being read and queue its result in ``state.out``."""
    b = state.build
    if b is None:
        return
    close_line(state)
    state.build = None
    claim = b.claim
    if claim["claim_type"] is None:
        claim["claim_type"] = "professional"
    institutional = claim["claim_type"] == "institutional"
    findings = list(state.interchange_findings) + list(state.set_findings) + state.pending
    state.pending = []
    billing, subscriber, patient = state.billing, state.subscriber, state.patient
    for level in (billing, subscriber, patient):
        if level is not None:
            findings.extend(level.findings)
    if billing is not None:
        data = billing.data
        provider = claim["billing_provider"] = {"npi": data.get("npi"), "taxonomy": data.get("taxonomy"),
                                                "tax_id": data.get("tax_id")}
        if "last_name" in data:
            provider["last_name"] = data["last_name"]
        if "first_name" in data:
            provider["first_name"] = data["first_name"]
        if "NM1*85" not in billing.seen:
            findings.append(finding("missing-segment", "required_field",
                                    f"{at(billing.segment)}: the billing provider level has no NM1*85 "
                                    "(loop 2010AA)", field="billing_provider.npi",
                                    suggestion="Send NM1*85 with the billing provider's name and NPI"))
        elif "N3" not in billing.seen or "N4" not in billing.seen:
            findings.extend(finding("missing-segment", "required_field",
                                    f"{at(billing.segment)}: the billing provider's loop 2010AA has no {sid} "
                                    "address segment, which it requires", field="billing_provider",
                                    suggestion=f"Send the billing provider's street address (N3) and city, "
                                               "state and ZIP code (N4) after NM1*85")
                            for sid in ("N3", "N4") if sid not in billing.seen)
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
                findings.append(finding("missing-segment", "required_field",
                                        f"{at(subscriber.segment)}: the subscriber level has no {what} "
                                        f"(loop {loop})",
                                        field={"NM1*IL": "patient.member_id", "NM1*PR": "payer"}.get(seen),
                                        rarc=rarc, suggestion=f"Send the {what} in loop {loop}"))
        responsibility = data.get("responsibility") or ""
        if responsibility not in ("", "P", "U") and not b.other_subscribers:
            findings.append(finding(
                "missing-loop", "required_field",
                f"{at(b.clm)}: the payer is not primary (SBR01 {responsibility!r}) but the claim has no 2320 "
                "other subscriber loop for the payer(s) before it", field="payer",
                suggestion="Send the primary payer's SBR/OI/NM1*IL/NM1*PR (loops 2320, 2330A, 2330B)"))
    if patient is not None and "NM1*QC" not in patient.seen:
        findings.append(finding("missing-segment", "required_field",
                                f"{at(patient.segment)}: the patient level has no NM1*QC patient name "
                                "(loop 2010CA)", field="patient",
                                suggestion="Send the patient's name in NM1*QC"))
    for other in b.other_subscribers:
        for entity, loop, what in (("IL", "2330A", "other subscriber name (NM1*IL)"),
                                   ("PR", "2330B", "other payer name (NM1*PR)")):
            if not other[entity]:
                findings.append(finding(
                    "missing-loop", "required_field",
                    f"{at(other['segment'])}: the other subscriber loop (2320) has no {what}, loop {loop}, "
                    "which is required in it", field="payer",
                    suggestion=f"Send the {what} after the 2320 SBR, or drop the incomplete 2320 loop"))
    findings.extend(b.findings)
    findings.extend(_facility(b))
    findings.extend(extra)

    # diagnoses, principal first
    codes = ([b.principal] if b.principal else []) + b.others
    if not b.hi_seen or b.principal is None:
        findings.append(finding(
            "missing-segment" if not b.hi_seen else "missing-element", "required_field",
            f"{at(b.clm)}: the claim has " + ("no HI diagnosis segment" if not b.hi_seen
                                              else "no principal diagnosis (ABK) in its HI segment"),
            field="diagnoses", rarc="M76",
            suggestion="Send HI*ABK:<principal ICD-10-CM code>, then ABF for the others"))
    if len(codes) > 40:
        findings.append(finding("too-many-diagnoses", "format",
                                f"{at(b.clm)}: the claim has {len(codes)} diagnoses; the first 40 are kept",
                                field="diagnoses", rarc="M76", suggestion="Send at most 12 (837P) / 25 (837I)"))
        codes = codes[:40]
    # the qualifier names the revision (ABK/ABF/ABN...: ICD-10-CM; BK/BF/BN...: ICD-9-CM), so an ICD-10-CM code on
    # a claim dated before 2015-10-01 is judged a code in the wrong revision, not taken as an ICD-9-CM one
    claim["diagnoses"] = [{"code": code, "code_system": "icd9cm" if code in b.icd9_codes else "icd10cm"}
                          for code in codes]

    if institutional:
        if not b.statement_seen:
            findings.append(finding("missing-segment", "required_field",
                                    f"{at(b.clm)}: the institutional claim has no DTP*434 statement period",
                                    rarc="MA31", suggestion="Send DTP*434*RD8*CCYYMMDD-CCYYMMDD"))
        if b.facility[0] in INPATIENT_FACILITY and not b.cl1_seen:
            findings.append(inpatient_without_cl1(b.clm, b.facility[0]))
        if b.discharged and b.statement is not None and claim["discharge_date"] is None:
            claim["discharge_date"] = b.statement[1].isoformat()  # the discharge hour's day: statement 'through'

    if len(b.lines) > 999:
        findings.append(finding("too-many-lines", "format",
                                f"{at(b.clm)}: the claim has {len(b.lines)} service lines; the first 999 are kept",
                                field="lines", suggestion="Split the claim"))
        b.lines = b.lines[:999]
    claim["lines"] = b.lines
    _contract_11(b, claim, findings)
    if not b.lines:
        findings.append(finding("missing-loop", "required_field",
                                f"{at(b.clm)}: the claim has no service line (LX loop 2400)", field="lines",
                                rarc="M51" if not institutional else "M50",
                                suggestion="Send at least one LX with its SV1/SV2"))
    findings.extend(_code_set(b))
    if state.wide:
        findings.extend(fit(claim))
    state.out.append(X12Claim(claim, findings, b.control))
    state.emitted += 1
    state.set_claims += 1


def _contract_11(b: Build, claim: dict[str, Any], findings: list[dict[str, Any]]) -> None:
    """The 1.1 fields completed at the claim's end: the procedures (principal first), the CLIA number
    of the first line that has one when 2300 has none, and the lists cut to the contract's bounds."""
    if b.principal_procedures or b.other_procedures:
        claim["procedures"] = b.principal_procedures + b.other_procedures
    line_clia = b.control.get("line_clia")
    if line_clia and not claim.get("clia_number"):
        claim["clia_number"] = next(iter(line_clia.values()))
    if _LISTS.isdisjoint(claim):  # none of the bounded lists (most claims)
        return
    for key, limit in _LIST_LIMITS:
        if len(claim.get(key, ())) > limit:
            findings.append(finding("too-many-codes", "format", f"{at(b.clm)}: the claim has {len(claim[key])} "
                                    f"{key.replace('_', ' ')}; the first {limit} are kept", field=key,
                                    suggestion=f"Send at most {limit}"))
            claim[key] = claim[key][:limit]


def _code_set(b: Build) -> list[dict[str, Any]]:
    """ICD-9 qualifiers on services from 2015-10-01, ICD-10 qualifiers on services before it. A diagnosis
    that becomes one of the claim's diagnoses (code_system icd9cm or icd10cm, as its qualifier says) is
    left to the rule dx-code-set-mismatch (rules/coding_diagnoses.yaml), which reports it for every input
    format; the codes the contract has no field for (admitting, reason for visit) and the procedures are
    reported here."""
    if not b.coded:
        return []
    served = [line["service_date"] for line in b.lines if line["service_date"]]  # ISO dates sort as dates do
    dates = [dt.date.fromisoformat(max(served))] if served else []
    if b.statement is not None:
        dates.append(b.statement[1])  # inpatient: the discharge ('through') date picks the code set
    if not dates:
        return []
    latest = max(dates)
    icd10 = latest >= ICD10_START
    out = []
    for seg, element, qualifier, role, version in b.coded:
        if (version == 10) == icd10:  # the code set in force on that date
            continue
        what = "procedure" if role == "procedure" else "diagnosis"
        category = "procedure_invalid" if role == "procedure" else "dx_invalid"
        rarc = "MA66" if role == "procedure" else "M76"
        in_diagnoses = role in ("principal", "other") or (role == "external" and
                                                          b.claim["claim_type"] == "institutional")
        if version == 9 and latest >= ICD10_START and not in_diagnoses:
            out.append(finding(
                "icd9-after-icd10", category,
                f"{at(seg, element)}: qualifier {qualifier} marks an ICD-9-CM {what} code, but the claim has "
                f"services on {latest.isoformat()}; from 2015-10-01 only ICD-10 codes are accepted",
                field="diagnoses" if what == "diagnosis" else None, rarc=rarc,
                suggestion=f"Code the {what} in ICD-10 and send it with qualifier {_ICD10_QUALIFIER[qualifier]}"))
        elif version == 10 and latest < ICD10_START and not in_diagnoses:
            out.append(finding(
                "icd10-before-icd10", category,
                f"{at(seg, element)}: qualifier {qualifier} marks an ICD-10 {what} code, but every service "
                f"is before 2015-10-01 (the latest on {latest.isoformat()}), when ICD-9-CM applied",
                field="diagnoses" if what == "diagnosis" else None, rarc=rarc,
                suggestion="Code services before 2015-10-01 in ICD-9-CM (BK/BF)"))
    return out


_LIMITS: tuple[tuple[str, int], ...] = (("claim_id", 80), ("frequency_code", 40), ("place_of_service", 40),
                                        ("prior_authorization", 80), ("type_of_bill", 40), ("clia_number", 40),
                                        ("admission_type", 40), ("admission_source", 40), ("admission_hour", 40),
                                        ("patient_status", 40))
_PROVIDER = (("npi", 40), ("taxonomy", 40), ("tax_id", 40), ("last_name", 100), ("first_name", 100))
_NESTED: dict[str, tuple[tuple[str, int], ...]] = {
    "payer": (("id", 40), ("name", 200)),
    "patient": (("member_id", 80), ("first_name", 100), ("last_name", 100), ("sex", 40)),
    "billing_provider": _PROVIDER,
    **{key: _PROVIDER for key in CLAIM_PROVIDERS.values()},
}
_LINE_KEYS = ("procedure_code", "place_of_service", "ndc", "revenue_code", "ndc_unit")
_CODED_LISTS = ("occurrence_codes", "occurrence_spans", "value_codes", "procedures")


def fit(claim: dict[str, Any]) -> list[dict[str, Any]]:
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
    checks.extend((entry, "code", 40, key, None) for key in _CODED_LISTS for entry in claim.get(key, ()))
    if any(len(code) > 40 for code in claim.get("condition_codes", ())):
        claim["condition_codes"] = [code for code in claim["condition_codes"] if len(code) <= 40]
        out.append(finding("too-long", "format", "condition_codes: a code over 40 characters is left out",
                           field="condition_codes", suggestion="Send 2-character condition codes"))
    for line in claim["lines"]:
        number = line["line_number"]
        checks.extend((line, key, 40, f"lines[{number}].{key}", number) for key in _LINE_KEYS)
        for key in LINE_PROVIDERS.values():
            if line.get(key):
                checks.extend((line[key], name, limit, f"lines[{number}].{key}.{name}", number)
                              for name, limit in _PROVIDER)
        if any(len(m) > 40 for m in line["modifiers"]):
            line["modifiers"] = [m for m in line["modifiers"] if len(m) <= 40]
            out.append(finding("too-long", "format", f"lines[{number}].modifiers: a modifier over 40 characters "
                               "is left out", field=f"lines[{number}].modifiers", line=number,
                               suggestion="Send 2-character modifiers"))
    for holder, key, limit, path, number in checks:
        value = holder.get(key)
        if value is not None and len(value) > limit and len(value.strip()) > limit:
            holder[key] = None
            out.append(finding("too-long", "format", f"{path} is {len(value)} characters long; at most {limit} "
                               "are accepted, so it is left out", field=path, line=number,
                               suggestion="Send the value the X12 implementation guide allows"))
    return out


def address(state: WalkState, seg: Segment) -> None:
    """N3/N4: only checked to be there, in the billing provider's 2010AA (its address is not mapped)."""
    if state.build is None and state.level == "20" and state.billing is not None:
        state.billing.seen.add(seg.id)


HANDLERS: dict[str, Callable[[WalkState, Segment], None]] = {
    "PRV": prv, "NM1": nm1, "REF": ref, "SBR": sbr, "DMG": dmg, "PAT": pat, "CLM": clm, "DTP": dtp, "HI": hi,
    "CL1": cl1, "N3": address, "N4": address}
