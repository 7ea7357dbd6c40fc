"""Enrichment for hospital (UB-04) claims: what the type of bill means, the statement period, the
admission, the UB-04 codes, the Medicare Code Editor's procedure edits, the revenue code list and the
Integrated Outpatient Code Editor's (I/OCE) per-code OPPS facts.

An Enricher (scrubber.pipeline.enrich.facts) for institutional claims only; a professional claim gets
nothing from it. It writes plain facts so that `rules/institutional.yaml` and
`rules/outpatient_code_editor.yaml` stay comparisons an analyst can read:

- claim: the UB-04 fields a rule tests (statement period, admission type and source, patient
  status), `bill_type_problem` (type of bill shape, facility type, classification, frequency),
  `inpatient_bill`, `oce_bill` (a bill type the I/OCE edits), the first malformed condition,
  occurrence, span or value code, and the MCE procedure edits of the ICD-10-PCS codes (invalid for the
  fiscal year, sex conflict, non-covered, limited coverage) with the MCE release that decided them;
- line: a date outside the statement period, the revenue code's standing on the I/OCE list, and on
  an I/OCE bill the code's OPPS facts (status indicator, not recognized, non-covered, age range,
  bilateral flag, status indicator M) and the I/OCE's same-day conditions (inpatient-only procedure,
  inpatient separate procedure with a T/J1 line, the other lines of an inpatient-only procedure's day,
  a visit on the day of a significant procedure, an inherently bilateral code billed twice).

Reference data (scrubber.refdata.store): ICD-10-PCS by fiscal year, MCE procedure lists by version,
the I/OCE revenue code list and `hcpcs_opps`. Without reference data only the shape facts are set.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable, ClassVar, Sequence

from scrubber.contract.claim import Claim, OccurrenceCode, OccurrenceSpan, ValueCode
from scrubber.pipeline.enrich.coding_edits import INPATIENT_BILL_TYPES
from scrubber.pipeline.enrich.facts import Facts
from scrubber.refdata.code_families import is_clinic_visit
from scrubber.refdata.icd10cm import fiscal_year
from scrubber.refdata.mce_releases import MceReleases
from scrubber.refdata.store import ReferenceData

# Type of bill (UB-04 FL 4, NUBC; Medicare Claims Processing Manual, Pub. 100-04, ch. 25, 75.1): a
# leading 0, then facility type, bill classification and frequency. The classification depends on the
# facility type: 1-6 use the "inpatient/outpatient" classes, 7 (clinic) and 8 (special facility) their own.
FACILITY_TYPES = {"1": "hospital", "2": "skilled nursing facility", "3": "home health",
                  "4": "religious nonmedical health care institution (hospital)", "6": "intermediate care",
                  "7": "clinic", "8": "special facility"}
_CLASSES_1_TO_6 = {"1": "inpatient (Part A)", "2": "inpatient (Part B)", "3": "outpatient",
                   "4": "other (Part B, non-patient)", "5": "intermediate care level I",
                   "6": "intermediate care level II", "8": "swing bed"}
CLASSIFICATIONS: dict[str, dict[str, str]] = {
    "1": {k: v for k, v in _CLASSES_1_TO_6.items() if k in "12348"},
    "2": {k: v for k, v in _CLASSES_1_TO_6.items() if k in "12348"},
    "3": {k: v for k, v in _CLASSES_1_TO_6.items() if k in "234"},
    "4": {k: v for k, v in _CLASSES_1_TO_6.items() if k in "1234"},
    "6": {k: v for k, v in _CLASSES_1_TO_6.items() if k in "56"},
    "7": {"1": "rural health clinic", "2": "renal dialysis facility", "3": "federally qualified health center "
          "(provider-based)", "4": "outpatient rehabilitation facility", "5": "comprehensive outpatient "
          "rehabilitation facility", "6": "community mental health center", "7": "federally qualified health "
          "center", "8": "licensed freestanding emergency medical facility", "9": "other"},
    "8": {"1": "hospice (non-hospital based)", "2": "hospice (hospital based)", "3": "ambulatory surgery center "
          "services to hospital outpatients", "4": "freestanding birthing center", "5": "critical access "
          "hospital", "6": "residential facility", "9": "other"},
}
# Frequency (the 4th digit): 0, 1-5, 7, 8 on any bill; 9 (final claim of a home health PPS period)
# only on home health (3x); A-E (hospice election, termination, change of provider, void of an election,
# change of ownership) only on hospice bills (81x, 82x); F-Q the adjustment codes.
FREQUENCIES = {"0": "non-payment/zero claim", "1": "admit through discharge", "2": "interim, first claim",
               "3": "interim, continuing claim", "4": "interim, last claim", "5": "late charge only",
               "7": "replacement of prior claim", "8": "void/cancel of prior claim",
               "9": "final claim for a home health PPS period", "A": "admission/election notice",
               "B": "termination/revocation notice", "C": "change of provider notice",
               "D": "void/cancel of an election notice", "E": "change of ownership notice",
               "F": "beneficiary initiated adjustment", "G": "CWF initiated adjustment",
               "H": "CMS initiated adjustment", "I": "contractor adjustment (other)", "J": "other adjustment",
               "K": "OIG initiated adjustment", "M": "MSP initiated adjustment", "P": "QIO adjustment",
               "Q": "reopening or reconsideration"}
_FREQUENCY_ONLY_ON = {"9": (("3",), "home health bills (3x)"),
                      **{f: (("81", "82"), "hospice bills (81x, 82x)") for f in "ABCDE"}}

# The bill types the I/OCE edits (Medicare's outpatient institutional claims).
OCE_BILL_TYPES = frozenset({"12", "13", "14", "71", "73", "74", "75", "76", "77", "85"})
# Edit 48 (revenue center requires HCPCS) applies to 13x, 74x, 75x, 76x, and 12x/14x without condition
# code 41 (ioce_edit_definitions.csv, edit 48).
_EDIT_48_BILLS = frozenset({"13", "74", "75", "76"})
_EDIT_48_UNLESS_41 = frozenset({"12", "14"})
# Edit 13 (SI E2) applies to 13x, and 12x/14x without condition code 41.
_EDIT_13_BILLS = frozenset({"13"})

UB_CODE = re.compile(r"[0-9A-Z]{2}")
_SI_SIGNIFICANT = frozenset({"T", "S", "J1"})  # significant procedures (edit 21: T or S; C-APC J1 as well)
_SI_SAVES_SEPARATE = frozenset({"T", "J1"})  # a T or J1 line that day makes SI C separate procedures edit 45
# Edit 72 (SI M, not billable to the MAC) is bypassed on 85x bills for revenue codes 096x, 097x, 098x
# (professional fees of a critical access hospital); its 81x/82x bypass concerns bills the I/OCE does not edit.
_EDIT_72_BYPASS_85X = ("096", "097", "098")
_SAME_DAY_BYPASS = frozenset({"76", "77"})  # repeat procedure modifiers (edit 17)
MCE_NONCOVERED = {"Noncovered_Always": "never covered by Medicare as an inpatient procedure"}
OVER_60 = 60  # Noncovered_Over60: not covered for a patient over 60 (lumbar disc replacement, NCD 150.10)


def bill_parts(type_of_bill: str | None) -> tuple[str, str, str] | None:
    """(facility type, classification, frequency) of a type of bill written with or without its leading
    0; None when it is not 3 characters (4 with the leading 0)."""
    if not type_of_bill:
        return None
    tob = type_of_bill[1:] if len(type_of_bill) == 4 and type_of_bill[0] == "0" else type_of_bill
    if len(tob) != 3:
        return None
    return tob[0], tob[1], tob[2]


def bill_type_problem(type_of_bill: str) -> str | None:
    """What is wrong with a type of bill, in words; None for a valid one."""
    parts = bill_parts(type_of_bill)
    if parts is None or not parts[0].isdigit() or not parts[1].isdigit():
        return ("it is not a type of bill: 4 characters, a leading 0, then facility type, bill classification "
                "and frequency (e.g. 0111, 0131)")
    facility, classification, frequency = parts
    if facility not in FACILITY_TYPES:
        return f"facility type {facility} does not exist (1-4, 6, 7, 8)"
    classes = CLASSIFICATIONS[facility]
    if classification not in classes:
        return (f"bill classification {classification} does not exist for a {FACILITY_TYPES[facility]} "
                f"(facility type {facility}: {', '.join(sorted(classes))})")
    if frequency not in FREQUENCIES:
        return f"frequency code {frequency} does not exist"
    only_on = _FREQUENCY_ONLY_ON.get(frequency)
    if only_on is not None and not any((facility + classification).startswith(p) for p in only_on[0]):
        return f"frequency {frequency} ({FREQUENCIES[frequency]}) is used only on {only_on[1]}"
    return None


def bill_class(type_of_bill: str | None) -> str | None:
    """Facility type and classification ('13' of 0131), or None."""
    parts = bill_parts(type_of_bill)
    return parts[0] + parts[1] if parts is not None else None


def revenue_code_4(code: str) -> str:
    """A revenue code as 4 digits (a 3-digit one gets its leading 0)."""
    return code.zfill(4) if code.isdigit() and len(code) < 4 else code


class Institutional:
    """The institutional (UB-04) and outpatient code editor enricher."""

    provides: ClassVar[frozenset[str]] = frozenset({
        # claim
        "statement_from", "statement_to", "admission_type", "admission_source", "patient_status",
        "bill_type_problem", "bill_facility", "bill_classification", "inpatient_bill", "oce_bill",
        "condition_code_problem", "occurrence_code_problem", "occurrence_span_problem", "value_code_problem",
        "pcs_invalid", "pcs_sex_conflict", "pcs_noncovered", "pcs_limited_coverage", "pcs_release",
        # line
        "outside_statement_period", "revenue_code_invalid", "revenue_code_not_recognized",
        "revenue_requires_hcpcs", "opps_status_indicator", "opps_unknown", "opps_not_recognized_opps",
        "opps_not_recognized_medicare", "opps_non_covered", "opps_statutory_exclusion", "opps_no_separate_payment",
        "opps_age_conflict", "opps_bilateral", "opps_not_billable_to_mac", "inpatient_only_procedure",
        "inpatient_separate_procedure", "same_day_as_inpatient_only", "visit_with_procedure",
        "bilateral_repeat_of"})
    claim_types: ClassVar[frozenset[str]] = frozenset({"institutional"})  # the claims it writes facts for (the others never have these keys)

    def __init__(self, reference: ReferenceData | None = None):
        self.ref = reference
        self.opps_complete = reference is not None and reference.is_complete("hcpcs-opps")
        self.revenue_complete = reference is not None and reference.is_complete("revenue-codes")
        self.mce = MceReleases(reference) if reference is not None else None

    def enrich(self, claim: Claim, facts: Facts) -> None:
        if claim.claim_type != "institutional":
            return
        c = facts.claim
        for key, value in (("statement_from", claim.statement_from), ("statement_to", claim.statement_to)):
            if value is not None:
                c[key] = value.toordinal()
        for key, text in (("admission_type", claim.admission_type), ("admission_source", claim.admission_source),
                          ("patient_status", claim.patient_status)):
            if text is not None:
                c[key] = text
        klass = bill_class(claim.type_of_bill)
        if claim.type_of_bill:
            problem = bill_type_problem(claim.type_of_bill)
            if problem is not None:
                c["bill_type_problem"] = problem
            else:
                facility, classification, _ = bill_parts(claim.type_of_bill) or ("", "", "")
                c["bill_facility"] = FACILITY_TYPES[facility]
                c["bill_classification"] = CLASSIFICATIONS[facility][classification]
        c["inpatient_bill"] = klass in INPATIENT_BILL_TYPES
        oce = klass in OCE_BILL_TYPES
        c["oce_bill"] = oce
        self._ub_codes(claim, c)
        if claim.procedures and self.ref is not None and c["inpatient_bill"]:
            self._procedures(claim, c)
        if facts.lines:
            self._lines(claim, facts, klass, oce)

    # UB-04 codes ---------------------------------------------------------------------------
    @staticmethod
    def _ub_codes(claim: Claim, c: dict) -> None:
        """The first problem of each family of UB-04 codes, as a claim field the rules read."""
        families: tuple[tuple[str, Sequence[Any], Callable[[int, Any], str | None]], ...] = (
                    ("condition_code_problem", claim.condition_codes, _condition_code_problem),
                    ("occurrence_code_problem", claim.occurrence_codes, _occurrence_code_problem),
                    ("occurrence_span_problem", claim.occurrence_spans, _occurrence_span_problem),
                    ("value_code_problem", claim.value_codes, _value_code_problem))
        for key, codes, problem_of in families:
            problem = next((found for n, code in enumerate(codes, start=1) if (found := problem_of(n, code))), None)
            if problem is not None:
                c[key] = problem

    # ICD-10-PCS procedures and the MCE ------------------------------------------------------
    def _procedures(self, claim: Claim, c: dict) -> None:
        ref = self.ref
        assert ref is not None  # checked by enrich
        day = claim.discharge_date or claim.statement_to or next(
            (p.date for p in claim.procedures if p.date is not None), None)
        if day is None:
            return
        wanted = fiscal_year(day)
        fy = ref.icd10pcs_year_for(wanted)
        assert self.mce is not None  # made with the reference data
        version = self.mce.version_for(wanted)
        sex = claim.patient.sex if claim.patient is not None else None
        birth = claim.patient.birth_date if claim.patient is not None else None
        age = (day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))) if birth else None
        invalid: list[str] = []
        sex_conflict: list[str] = []
        noncovered: list[str] = []
        limited: list[str] = []
        for procedure in claim.procedures:
            code = (procedure.code or "").replace(".", "").upper()
            if not code:
                continue
            if fy is not None and not ref.icd10pcs(code, fy):
                invalid.append(code)
                continue
            if version is None:
                continue
            edits = ref.mce_edits(code, version, "P")
            if sex == "M" and "Female_Only" in edits:
                sex_conflict.append(f"{code} (female only)")
            elif sex == "F" and "Male_Only" in edits:
                sex_conflict.append(f"{code} (male only)")
            if "Noncovered_Always" in edits:
                noncovered.append(f"{code} ({MCE_NONCOVERED['Noncovered_Always']})")
            elif "Noncovered_Over60" in edits and age is not None and age > OVER_60:
                noncovered.append(f"{code} (not covered for a patient over {OVER_60}; the patient is {age})")
            if "Limited_Coverage" in edits:
                limited.append(code)
        if invalid:
            c["pcs_invalid"] = ", ".join(invalid) + (f" (ICD-10-PCS FY{fy}" + (
                f", used for FY{wanted}, which is not loaded)" if fy != wanted else ")"))
        for key, found in (("pcs_sex_conflict", sex_conflict), ("pcs_noncovered", noncovered),
                           ("pcs_limited_coverage", limited)):
            if found:
                c[key] = ", ".join(found)
        if version is not None and (sex_conflict or noncovered or limited):
            c["pcs_release"] = self.mce.name(version, wanted)

    # Lines -----------------------------------------------------------------------------------
    def _lines(self, claim: Claim, facts: Facts, klass: str | None, oce: bool) -> None:
        ref = self.ref
        start, end = claim.statement_from, claim.statement_to
        has_41 = "41" in claim.condition_codes
        needs_hcpcs_bill = klass in _EDIT_48_BILLS or (klass in _EDIT_48_UNLESS_41 and not has_41)
        e2_bill = klass in _EDIT_13_BILLS or (klass in _EDIT_48_UNLESS_41 and not has_41)
        birth = claim.patient.birth_date if claim.patient is not None else None
        by_day: dict[int, list[tuple[dict, str]]] = {}
        day_lines: dict[int, list[dict]] = {}  # every line of each date of service (edit 49)
        for line, fact in zip(claim.lines, facts.lines):
            if oce and line.service_date is not None:
                day_lines.setdefault(line.service_date.toordinal(), []).append(fact)
            dos, last = line.service_date, line.service_date_end or line.service_date
            if dos is not None and start is not None and dos < start:
                fact["outside_statement_period"] = (f"{dos.isoformat()} is before the statement period's first "
                                                    f"day, {start.isoformat()}")
            elif last is not None and end is not None and last > end:
                fact["outside_statement_period"] = (f"{last.isoformat()} is after the statement period's last "
                                                    f"day, {end.isoformat()}")
            day = dos or start
            if ref is None or day is None:
                continue
            if line.revenue_code:
                self._revenue(fact, revenue_code_4(line.revenue_code), day, needs_hcpcs_bill and not line.procedure_code)
            code = line.procedure_code
            if not oce or not code:
                continue
            opps = ref.hcpcs_facts(code, day)
            if opps is None:
                if self.opps_complete:
                    fact["opps_unknown"] = True
                continue
            si = opps.status_indicator
            fact["opps_status_indicator"] = si
            if opps.not_recognized_opps or si == "B":
                fact["opps_not_recognized_opps"] = True
            if opps.not_recognized_mcare:
                fact["opps_not_recognized_medicare"] = True
            if opps.statutory_exclusion:
                fact["opps_statutory_exclusion"] = True
            elif opps.non_covered:
                fact["opps_non_covered"] = True
            if si == "E2" and e2_bill:
                fact["opps_no_separate_payment"] = True
            if opps.bilateral:
                fact["opps_bilateral"] = opps.bilateral
            if si == "M" and not (klass == "85" and revenue_code_4(line.revenue_code or "")[:3] in _EDIT_72_BYPASS_85X):
                fact["opps_not_billable_to_mac"] = True
            if birth is not None and dos is not None:
                age = dos.year - birth.year - ((dos.month, dos.day) < (birth.month, birth.day))
                low, high = opps.lo_age or 0, opps.hi_age if opps.hi_age is not None else 124
                if not low <= age <= high:
                    fact["opps_age_conflict"] = f"ages {low} to {high}; the patient is {age}"
            if dos is not None:
                by_day.setdefault(dos.toordinal(), []).append((fact, si))
                fact["_opps"] = opps
        for ordinal, same_day in by_day.items():
            _same_day(same_day, day_lines.get(ordinal, []))
        for fact in facts.lines:
            fact.pop("_opps", None)

    def _revenue(self, fact: dict, code: str, day: dt.date, without_hcpcs: bool) -> None:
        assert self.ref is not None  # checked by _lines
        row = self.ref.revenue_code(code, day)
        if row is None:
            if self.revenue_complete:
                history = self.ref.revenue_code_history(code)
                fact["revenue_code_invalid"] = (
                    f"{code} is not on the I/OCE revenue code list on {day.isoformat()} (it is valid "
                    + ", ".join(f"{r.effective.isoformat()} to {r.deletion.isoformat() if r.deletion else 'now'}"
                                for r in history) + ")" if history
                    else f"{code} is not on the I/OCE revenue code list")
            return
        if row.not_recognized:
            fact["revenue_code_not_recognized"] = True
        if without_hcpcs and row.status_indicator not in ("N", "F") and not row.bypass_e48:
            fact["revenue_requires_hcpcs"] = True


def _modifiers(fact: dict) -> set[str]:
    return {fact[slot] for slot in ("mod1", "mod2", "mod3", "mod4") if fact.get(slot)}


def _same_day(lines: list[tuple[dict, str]], every_line: list[dict]) -> None:
    """The I/OCE conditions that look at the other lines of one date of service (`lines`: those with
    OPPS facts; `every_line`: all of that day's lines): inpatient-only procedures (SI C) are denied
    (edit 18) with every other line of the day (edit 49), unless all of them are separate procedures
    and a T or J1 line shares the day, when they are rejected alone (edit 45); a visit without 25 on the
    day of a significant procedure (edit 21); an inherently bilateral code billed again without 76/77
    (edit 17)."""
    significant = [f for f, si in lines if si in _SI_SIGNIFICANT]
    inpatient_only = [f for f, si in lines if si == "C"]
    separate = bool(inpatient_only) and all(f["_opps"].separate_procedure for f in inpatient_only) and any(
        si in _SI_SAVES_SEPARATE for _, si in lines)
    for fact in inpatient_only:
        fact["inpatient_separate_procedure" if separate else "inpatient_only_procedure"] = True
    if inpatient_only and not separate:
        denied = ", ".join(f"{f['procedure_code']} (line {f.get('line_number')})" for f in inpatient_only)
        for fact in every_line:
            if not fact.get("inpatient_only_procedure"):
                fact["same_day_as_inpatient_only"] = denied
    seen_inherent: dict[str, int] = {}
    for fact, si in lines:
        opps = fact["_opps"]
        code = fact["procedure_code"]
        mods = _modifiers(fact)
        if is_clinic_visit(code) and "25" not in mods:
            others = [f for f in significant if f is not fact]
            if others:
                fact["visit_with_procedure"] = ", ".join(
                    f"{f['procedure_code']} (line {f.get('line_number')}, SI {f['opps_status_indicator']})"
                    for f in others)
        if opps.bilateral == "H":
            first = seen_inherent.get(code)
            if first is None:
                seen_inherent[code] = fact.get("line_number") or 0
            elif not mods & _SAME_DAY_BYPASS:
                fact["bilateral_repeat_of"] = first


# The problem of the n-th UB-04 code of each family (FL 18-28, 31-36, 39-41), None when it is sound.
def _condition_code_problem(n: int, code: str) -> str | None:
    return None if UB_CODE.fullmatch(code) else f"condition code '{code}' is not 2 letters or digits"


def _occurrence_code_problem(n: int, occurrence: OccurrenceCode) -> str | None:
    if occurrence.code is None or not UB_CODE.fullmatch(occurrence.code):
        return f"occurrence code {n} '{occurrence.code or ''}' is not 2 letters or digits"
    return f"occurrence code {occurrence.code} has no date" if occurrence.date is None else None


def _occurrence_span_problem(n: int, span: OccurrenceSpan) -> str | None:
    if span.code is None or not UB_CODE.fullmatch(span.code):
        return f"occurrence span code {n} '{span.code or ''}' is not 2 letters or digits"
    if span.from_ is None or span.to is None:
        return f"occurrence span {span.code} lacks its from or through date"
    if span.from_ > span.to:
        return f"occurrence span {span.code} runs from {span.from_.isoformat()} to an earlier day, {span.to.isoformat()}"
    return None


def _value_code_problem(n: int, value: ValueCode) -> str | None:
    if value.code is None or not UB_CODE.fullmatch(value.code):
        return f"value code {n} '{value.code or ''}' is not 2 letters or digits"
    return f"value code {value.code} has no amount" if value.amount is None else None
