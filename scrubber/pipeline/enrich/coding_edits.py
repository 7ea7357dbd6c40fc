"""Enrichment from reference data: the facts that CMS coding-edit rules test.

An Enricher (see scrubber.pipeline.enrich.facts) that looks each code of a claim up in the reference data
(scrubber.refdata.store) as of its date of service and writes what it finds onto the facts, so that the
rules in `rules/coding_*.yaml` stay plain comparisons an analyst can read:

- diagnoses: `code_status` (valid, header, unknown, not_yet_valid, deleted) in the ICD-10-CM
  code set of the claim's fiscal year (inpatient: the discharge date's), `code_detail`, the
  billable `code_children` of a header, Medicare Code Editor conflicts (`age_edit`, `sex_edit`,
  `manifestation`, `unacceptable_principal`) and an `excludes1_code` on the claim;
- lines: `procedure_code_kind` (CPT category by shape, HCPCS Level II), `procedure_code_status`
  of a HCPCS code on its date, the first `invalid_modifier`, the NCCI PTP edit that denies this
  line as column two (`ptp_*`), the MUE limit and the units it counts (`mue_*`), and for an
  add-on code whether one of its primaries is billed the same day (`addon_*`).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Iterable, Literal

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.claim_requirements import origin_destination_modifier
from scrubber.pipeline.code_sets import ICD10_START, claim_date, is_icd9
from scrubber.pipeline.enrich.facts import Facts
from scrubber.refdata.coverage import Span, describe, hcpcs_history_start, quarter_label, spans
from scrubber.refdata.freshness import release_of
from scrubber.refdata.icd10cm import fiscal_year
from scrubber.refdata.mce_releases import MceReleases
from scrubber.refdata.store import ReferenceData, dataset_name

# CPT modifiers are AMA codes: only the two-character codes are listed here (no descriptors),
# so a modifier that is neither one of these nor a HCPCS Level II modifier is reported.
CPT_MODIFIERS = frozenset(
    "22 23 24 25 26 27 32 33 47 50 51 52 53 54 55 56 57 58 59 62 63 66 73 74 76 77 78 79 80 81 82 "
    "90 91 92 93 95 96 97 99".split())

# Modifiers that may bypass an NCCI PTP edit with modifier indicator 1 (domain.md; NCCI Policy
# Manual, chapter I): 59 and its X{EPSU} subsets, anatomic modifiers, global surgery modifiers,
# 25/57 for E/M services, 91 repeat laboratory test, 27 multiple outpatient hospital E/M.
NCCI_ASSOCIATED_MODIFIERS = frozenset(
    "59 XE XS XP XU LT RT E1 E2 E3 E4 FA F1 F2 F3 F4 F5 F6 F7 F8 F9 TA T1 T2 T3 T4 T5 T6 T7 T8 T9 "
    "LC LD LM RC RI 24 25 57 58 78 79 91 27".split())

PROCEDURE_SHAPES: tuple[tuple[str, re.Pattern], ...] = (
    ("cpt", re.compile(r"[0-9]{5}")),
    ("cpt_category_ii", re.compile(r"[0-9]{4}F")),
    ("cpt_category_iii", re.compile(r"[0-9]{4}T")),
    ("cpt_pla", re.compile(r"[0-9]{4}U")),
    ("cpt_vaccine_admin", re.compile(r"[0-9]{4}A")),
    ("cpt_maaa", re.compile(r"[0-9]{4}M")),
    ("hcpcs", re.compile(r"[A-V][0-9]{4}")),
)

# Medicare Code Editor age ranges by MCE list, from the MCE's own age table (v43.1, as shipped in
# MCE-2.0-43.1.0.0.jar): the maternity range is 12-55 to 2019-09-30 and 9-64 from 2019-10-01.
MCE_AGES = {"Newborn_Only": (0, 0, "newborn (age 0)"), "Pediatric_Only": (0, 17, "pediatric (age 0-17)"),
            "Maternity_Only": (9, 64, "maternity (age 9-64)"), "Adult_Only": (15, 124, "adult (age 15-124)")}
MCE_MATERNITY_BEFORE_FY2020 = (12, 55, "maternity (age 12-55)")
MCE_FY2020_START = dt.date(2019, 10, 1)


def mce_age_range(edit: str, day: dt.date) -> tuple[int, int, str]:
    """The MCE age range of an age list on a discharge / service date."""
    if edit == "Maternity_Only" and day < MCE_FY2020_START:
        return MCE_MATERNITY_BEFORE_FY2020
    return MCE_AGES[edit]

# Type of bill (first two digits, facility type + bill classification) that is hospital
# outpatient for NCCI (the OCE): 12x inpatient Part B, 13x outpatient, 14x non-patient,
# 74x ORF, 75x CORF, 76x CMHC, 85x critical access hospital.
OUTPATIENT_BILL_TYPES = frozenset({"12", "13", "14", "74", "75", "76", "85"})
INPATIENT_BILL_TYPES = frozenset({"11", "18", "21", "41", "86"})
DME_TAXONOMY_PREFIX = "332B"  # durable medical equipment & medical supplies suppliers


@lru_cache(maxsize=65536)  # a code's shape never changes; codes come back claim after claim
def procedure_kind(code: str) -> str:
    for kind, shape in PROCEDURE_SHAPES:
        if shape.fullmatch(code):
            return kind
    return "invalid"


def dotted(code: str) -> str:
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def _bill_class(type_of_bill: str | None) -> str | None:
    if not type_of_bill:
        return None
    digits = type_of_bill.lstrip("0")
    return digits[:2] if len(digits) >= 2 else None


def ncci_setting(claim: Claim) -> str | None:
    """'practitioner' for professional claims, 'hospital' for institutional outpatient claims,
    None where NCCI PTP/MUE do not apply (inpatient) or cannot be told (no type of bill)."""
    if claim.claim_type == "professional":
        return "practitioner"
    return "hospital" if _bill_class(claim.type_of_bill) in OUTPATIENT_BILL_TYPES else None


def mue_setting(claim: Claim) -> str | None:
    setting = ncci_setting(claim)
    provider = claim.billing_provider
    if setting == "practitioner" and provider and (provider.taxonomy or "").startswith(DME_TAXONOMY_PREFIX):
        return "dme"
    return setting


@dataclass(frozen=True)
class IcdStatus:
    status: str  # valid, header, unknown, not_yet_valid, deleted
    fiscal_year: int | None  # the loaded code set it was judged by (None: no ICD-10-CM code set is loaded)
    detail: str
    description: str | None = None
    children: tuple[str, ...] = ()  # billable codes under a header (without dots)


def icd10cm_status(ref: ReferenceData, code: str, wanted: int) -> IcdStatus:
    """A diagnosis code (without dot) in the ICD-10-CM code set of fiscal year `wanted` (or the
    nearest loaded year), with the reason in words when it cannot be billed."""
    fy = ref.icd10cm_year_for(wanted)
    note = f" (FY{wanted} is not loaded; judged by the FY{fy} code set)" if fy != wanted else ""
    if fy is not None:
        found = _icd10cm_status_in(ref, code, fy, note)
        if found is not None:
            return found
    return IcdStatus("unknown", fy, f"not an ICD-10-CM code in FY{fy}" + note)


def _icd10cm_status_in(ref: ReferenceData, code: str, fy: int, note: str) -> IcdStatus | None:
    """The status of a code in the loaded code set of fiscal year `fy`; None: unknown in every loaded year."""
    entry = ref.icd10cm(code, fy)
    if entry is not None:
        if entry.billable:
            return IcdStatus("valid", fy, f"billable in FY{fy}" + note, entry.description)
        children = ref.icd10cm_children(code, fy)
        detail = f"a header code in FY{fy}: it needs more characters"
        if children:
            detail += f" ({len(children)}{'+' if len(children) >= 200 else ''} billable codes under it)"
        return IcdStatus("header", fy, detail + note, entry.description, children)
    years = ref.icd10cm_years_of(code)
    if years and all(y > fy for y, _ in years):
        first = years[0][0]
        return IcdStatus("not_yet_valid", fy, f"added to ICD-10-CM for FY{first} (dates of service from "
                                              f"{first - 1}-10-01)" + note)
    if years and all(y < fy for y, _ in years):
        last = years[-1][0]
        return IcdStatus("deleted", fy, f"deleted from ICD-10-CM after FY{last} (last date of service "
                                        f"{last}-09-30)" + note)
    return None


def _join(codes: Iterable[str], limit: int = 8) -> str:
    listed = list(codes)
    text = ", ".join(listed[:limit])
    return text + (f" and {len(listed) - limit} more" if len(listed) > limit else "")


class CodingEdits:
    """The reference-data enricher."""

    provides: ClassVar[frozenset[str]] = frozenset({
        # diagnoses
        "code_fiscal_year", "code_status", "code_detail", "code_description", "code_children", "age_edit",
        "sex_edit", "manifestation", "unacceptable_principal", "mce_version", "mce_release", "excludes1_code",
        "excludes1_note",
        # lines
        "procedure_code_kind", "procedure_code_status", "procedure_code_date", "invalid_modifier",
        "invalid_modifier_reason", "ptp_column1_code", "ptp_column1_line", "ptp_modifier_indicator",
        "ptp_effective_date", "ptp_deletion_date", "ptp_rationale", "ptp_setting", "mue_limit", "mue_mai",
        "mue_setting", "mue_units", "mue_lines", "addon_edit_type", "addon_primaries", "addon_primary_present",
        "ptp_release", "mue_release", "addon_release", "addon_other_procedure", "procedure_code_release",
        "procedure_code_set",
        # claim
        "ptp_excerpt", "mue_excerpt", "dx_code_set_missing"})

    def __init__(self, reference: ReferenceData):
        self.ref = reference
        self._pairs: dict[tuple[int, str, str], str | None] = {}  # (fy, code, other) -> Excludes1 note
        self._statuses: dict[tuple[str, int], IcdStatus] = {}  # (code, fiscal year wanted) -> its status
        self._procedures: dict[tuple[str, int | None], dict[str, Any]] = {}  # (code, day) -> its line fields
        # What each dataset is, in words a finding can carry: "hospital table 2026Q2", or for a
        # shipped excerpt "practitioner table 2026Q3 (a shipped excerpt of 154 edits)".
        self._tables: dict[str, str] = {}
        for dataset in reference.datasets():
            scope = dataset.name.split(":", 1)[1] + " table, " if ":" in dataset.name else ""
            words = f"{scope}release {release_of(dataset).label}"
            if dataset.name in reference.excerpts:
                words += f", a shipped excerpt of {dataset.rows:,} rows, not the whole CMS table"
            self._tables[dataset.name] = words
        # What the code sets cover (scrubber.refdata.coverage), for the findings that say a date has none.
        loaded = reference.datasets()
        years = reference.icd10cm_years
        self._icd10cm_held = (f"FY{years[0]} to FY{years[-1]}, dates of service {years[0] - 1}-10-01 to "
                              f"{years[-1]}-09-30" if years else "none")
        self._hcpcs_span = spans([d for d in loaded if d.kind == "hcpcs"],
                                 hcpcs_history_start(reference.hcpcs_earliest_termination())).get("hcpcs", Span(None, None))
        self.mce = MceReleases(reference)

    def enrich(self, claim: Claim, facts: Facts) -> None:
        if facts.diagnoses:
            self._diagnoses(claim, facts)
        if facts.lines:
            self._lines(claim, facts)

    # Diagnoses -----------------------------------------------------------------------------
    def _diagnosis_date(self, claim: Claim, facts: Facts) -> tuple[dt.date | None, str]:
        """The date the diagnoses are judged for, and what it is in words (scrubber.pipeline.code_sets)."""
        if claim.claim_type == "institutional" and claim.discharge_date is not None \
                and _bill_class(claim.type_of_bill) in INPATIENT_BILL_TYPES:
            return claim.discharge_date, "discharge date"
        dos = facts.claim.get("dos")
        return (dt.date.fromordinal(dos), "first date of service") if dos is not None else claim_date(claim)

    def _diagnoses(self, claim: Claim, facts: Facts) -> None:
        """ICD-10-CM codes are judged in the code set of the claim's date; ICD-9-CM codes (no ICD-9-CM
        code set is loaded) are not, and the claim says so once (`dx_code_set_missing`); a code of the
        other revision than the claim's date is `code_set_mismatch`."""
        ref = self.ref
        day, what = self._diagnosis_date(claim, facts)
        codes: list[str] = []
        unchecked = 0
        for fact, sent in zip(facts.diagnoses, claim.diagnoses):
            code = fact.get("code", "").replace(".", "")
            icd9 = is_icd9(sent, day)
            if code and day is not None and icd9 != (day < ICD10_START):  # coded in the other revision
                fact["code_status"] = "code_set_mismatch"
                fact["code_detail"] = (
                    f"an ICD-9-CM code, but the claim's {what} is {day}: from 2015-10-01 diagnoses are coded "
                    "in ICD-10-CM" if icd9 else
                    f"sent as an ICD-10-CM code, but the claim's {what} is {day}: before 2015-10-01 diagnoses "
                    "are coded in ICD-9-CM")
                code = ""
            elif code and icd9:
                unchecked += 1
                code = ""
            codes.append(code)
        if unchecked:
            when = f"the claim's {what}, {day}, is before 2015-10-01, when ICD-9-CM applied" if day else \
                "they are ICD-9-CM codes"
            facts.claim["dx_code_set_missing"] = (f"{when}, and no ICD-9-CM code set is loaded "
                                                  f"(ICD-10-CM held: {self._icd10cm_held})")
        if day is None or not any(codes):
            return
        wanted = fiscal_year(day)
        fy = ref.icd10cm_year_for(wanted)
        if fy is None:  # no ICD-10-CM code set is loaded
            facts.claim["dx_code_set_missing"] = f"no ICD-10-CM release is loaded for the claim's {what}, {day}"
            return
        version = self.mce.version_for(wanted)
        age = facts.claim.get("patient_age")
        sex = facts.claim.get("patient_sex")
        for fact, code in zip(facts.diagnoses, codes):
            if not code:
                continue
            found = self._statuses.get((code, wanted))
            if found is None:  # a diagnosis comes back claim after claim: judge it once per fiscal year
                if len(self._statuses) > 100_000:
                    self._statuses.clear()
                found = self._statuses[(code, wanted)] = icd10cm_status(ref, code, wanted)
            fact["code_fiscal_year"] = found.fiscal_year
            fact["code_status"] = found.status
            fact["code_detail"] = found.detail
            if found.description:
                fact["code_description"] = found.description
            if found.children:
                fact["code_children"] = _join(dotted(c) for c in found.children)
            if version is not None:
                self._mce(fact, code, version, age, sex, day)
        self._excludes1(facts.diagnoses, codes, fy)

    def _mce(self, fact: dict, code: str, version: int, age: int | None, sex: str | None, day: dt.date) -> None:
        edits = self.ref.mce_edits(code, version)
        if not edits:
            return
        if age is not None:
            for edit in MCE_AGES:
                low, high, label = mce_age_range(edit, day)
                if edit in edits and not low <= age <= high:
                    fact["age_edit"] = label
                    break
        if sex == "M" and "Female_Only" in edits:
            fact["sex_edit"] = "female"
        elif sex == "F" and "Male_Only" in edits:
            fact["sex_edit"] = "male"
        if "Principal_Manifestation" in edits:
            fact["manifestation"] = True
        if "Principal_Unacceptable" in edits:
            fact["unacceptable_principal"] = True
        fact["mce_version"] = version
        fact["mce_release"] = self.mce.name(version, fiscal_year(day))

    def _excludes1(self, diagnoses: list[dict], codes: list[str], fy: int) -> None:
        """Each pair of diagnoses that an Excludes1 note of either one excludes is reported once,
        on the later-listed diagnosis."""
        pairs = self._pairs
        if len(pairs) > 100_000:
            pairs.clear()
        for j in range(1, len(codes)):
            for i in range(j):
                key = (fy, codes[i], codes[j])
                hit = pairs.get(key, _MISSING)
                if hit is _MISSING:  # common pairs of diagnoses come back claim after claim
                    hit = pairs[key] = (_excluded(self.ref.excludes1(codes[i], fy), codes[j]) or
                                        _excluded(self.ref.excludes1(codes[j], fy), codes[i])) if codes[i] and codes[j] else None
                if hit:
                    diagnoses[j]["excludes1_code"] = dotted(codes[i])
                    diagnoses[j]["excludes1_note"] = hit
                    break

    # Lines ---------------------------------------------------------------------------------
    def _lines(self, claim: Claim, facts: Facts) -> None:
        lines = facts.lines
        procedures = self._procedures
        for fact in lines:
            code = fact.get("procedure_code")
            dos = fact.get("service_date")
            if code:
                known = procedures.get((code, dos))
                if known is None:
                    known = self._procedure(code, dos)
                fact.update(known)
            for slot in ("mod1", "mod2", "mod3", "mod4"):
                modifier = fact.get(slot)
                if modifier and modifier not in CPT_MODIFIERS:
                    day = dt.date.fromordinal(dos) if dos is not None else None
                    reason = self._modifier_problem(modifier, day, code)
                    if reason:
                        fact["invalid_modifier"] = modifier
                        fact["invalid_modifier_reason"] = reason
                        break
        setting = ncci_setting(claim)
        if setting is not None:
            self._ptp(lines, setting)
            self._ptp_excerpt(lines, setting, facts.claim)
        setting = mue_setting(claim)
        if setting is not None:
            self._mue(lines, setting)
            self._mue_excerpt(lines, setting, facts.claim)
        self._add_on(lines)

    def _procedure(self, code: str, dos: int | None) -> dict[str, Any]:
        """The line fields of a procedure code on a day of service (kept per code and day: codes come back)."""
        day = dt.date.fromordinal(dos) if dos is not None else None
        kind = procedure_kind(code)
        found: dict[str, Any] = {"procedure_code_kind": kind}
        if kind == "hcpcs":
            entry = self.ref.hcpcs(code)
            found["procedure_code_release"] = self._tables.get("hcpcs", "release unknown")
            outside = self._hcpcs_outside(day) if entry is None else None
            if outside is not None:  # a code the table lacks on a date it does not cover: not checked
                found["procedure_code_status"] = "code_set_not_loaded"
                found["procedure_code_set"] = outside
            elif entry is None or entry.is_modifier:
                found["procedure_code_status"] = "unknown"
            else:
                status = entry.status_on(day)
                found["procedure_code_status"] = status
                bound = entry.status_date(status)
                if bound is not None:
                    found["procedure_code_date"] = bound.toordinal()
        if len(self._procedures) >= 50_000:
            self._procedures.clear()
        self._procedures[(code, dos)] = found
        return found

    def _hcpcs_outside(self, day: dt.date | None) -> str | None:
        """For a date of service before the HCPCS quarters held, in words; else None. A date after the
        newest quarter is judged by it, as an ICD-10-CM date after the newest fiscal year is (the finding
        names the release): a code missing from the newest table is far likelier a typo than a code
        added since, and the data status says when the table is stale."""
        first = self._hcpcs_span.first
        if day is not None and first is not None and day < first:
            return f"before {quarter_label(first)}, the earliest HCPCS quarter held (from {first})"
        return None

    def _ptp_excerpt(self, lines: list[dict], setting: str, claim_fact: dict) -> None:
        """A claim with two or more codes on one date checked against an excerpt of the PTP table:
        its silence is not a pass, so say so."""
        name = dataset_name("ncci-ptp", setting)
        if name not in self.ref.excerpts:
            return
        codes_by_day: dict[int, set[str]] = {}
        for fact in lines:
            if fact.get("procedure_code") and fact.get("service_date") is not None:
                codes_by_day.setdefault(fact["service_date"], set()).add(fact["procedure_code"])
        if any(len(codes) > 1 for codes in codes_by_day.values()):
            claim_fact["ptp_excerpt"] = f"the NCCI {self._tables[name]}"

    def _mue_excerpt(self, lines: list[dict], setting: str, claim_fact: dict) -> None:
        """Codes billed with more than one unit that the MUE excerpt has no row for were not checked
        against any limit (one unit is within every MUE but the few of 0, which CMS gives codes a setting
        never pays)."""
        name = dataset_name("mue", setting)
        if name not in self.ref.excerpts:
            return
        unchecked = sorted({f["procedure_code"] for f in lines if f.get("procedure_code") and "mue_limit" not in f
                            and (f.get("units") or 0) > 1})
        if unchecked:
            claim_fact["mue_excerpt"] = f"the MUE {self._tables[name]}, which has no row for {_join(unchecked)}"

    def _modifier_problem(self, modifier: str, day: dt.date | None, code: str | None = None) -> str | None:
        if origin_destination_modifier(code, modifier):  # RH, SH...: ambulance origin and destination
            return None
        entry = self.ref.hcpcs(modifier)
        if entry is None or not entry.is_modifier:
            return "is not a CPT or HCPCS Level II modifier"
        status = entry.status_on(day)
        bound = entry.status_date(status)
        if status == "terminated" and bound is not None:
            return f"was discontinued after {bound.isoformat()}"
        if status == "not_yet_effective" and bound is not None:
            return f"is effective only from {bound.isoformat()}"
        return None

    def _ptp(self, lines: list[dict], setting: str) -> None:
        """Flag the column-two line of each NCCI PTP edit in force on the shared date of service
        that no NCCI-associated modifier on either line bypasses (indicator 1) — or that nothing
        bypasses (indicator 0). Indicator 9: the edit never applies. Only lines whose code has an
        edit with this line's code are looked at, so 999 lines cost 999 look-ups, not a million."""
        by_day: dict[int, dict[str, list[int]]] = {}  # date of service -> code -> indices of its lines
        for i, a in enumerate(lines):
            if a.get("procedure_code") and a.get("service_date") is not None:
                by_day.setdefault(a["service_date"], {}).setdefault(a["procedure_code"], []).append(i)
        for j, b in enumerate(lines):
            code_b, dos = b.get("procedure_code"), b.get("service_date")
            if not code_b or dos is None:
                continue
            day = dt.date.fromordinal(dos)
            mods_b = {b["mod1"], b["mod2"], b["mod3"], b["mod4"]}
            codes = by_day[dos]
            column1 = self.ref.ptp_column1_codes(setting, code_b)
            # column1.intersection(codes) walks the claim's few codes; codes.keys() & column1 would walk
            # the whole frozenset (a hospital code has up to 6,374 column-one codes: 360 µs a line).
            candidates = sorted(i for code in column1.intersection(codes) if code != code_b for i in codes[code])
            for i in candidates:
                a = lines[i]
                code_a = a["procedure_code"]
                for edit in self.ref.ptp(setting, code_a, code_b):
                    if edit.modifier_indicator == 9 or not edit.in_force(day):
                        continue
                    if edit.modifier_indicator == 1 and (
                            (mods_b | {a["mod1"], a["mod2"], a["mod3"], a["mod4"]}) & NCCI_ASSOCIATED_MODIFIERS):
                        continue
                    b["ptp_column1_code"] = code_a
                    b["ptp_column1_line"] = a["line_number"]
                    b["ptp_modifier_indicator"] = edit.modifier_indicator
                    b["ptp_effective_date"] = edit.effective.toordinal()
                    if edit.deletion is not None:
                        b["ptp_deletion_date"] = edit.deletion.toordinal()
                    b["ptp_rationale"] = edit.rationale
                    b["ptp_setting"] = setting
                    b["ptp_release"] = self._tables.get(dataset_name("ncci-ptp", setting), setting)
                    break
                if "ptp_column1_code" in b:
                    break

    def _mue(self, lines: list[dict], setting: str) -> None:
        """MAI 1: the line's own units; MAI 2 and 3: the units of every line with the code on the
        date of service, summed and shown on the first of them."""
        groups: dict[tuple[str, int], list[dict]] = {}
        for fact in lines:
            code, units = fact.get("procedure_code"), fact.get("units")
            if not code or units is None:
                continue
            limit = self.ref.mue(setting, code)
            if limit is None:
                continue
            fact["mue_limit"] = limit.value
            fact["mue_mai"] = limit.mai
            fact["mue_setting"] = setting
            fact["mue_release"] = self._tables.get(dataset_name("mue", setting), setting)
            if limit.mai == 1 or fact.get("service_date") is None:
                fact["mue_units"] = units
                fact["mue_lines"] = str(fact["line_number"])
            else:
                groups.setdefault((code, fact["service_date"]), []).append(fact)
        for group in groups.values():
            total = sum(fact["units"] for fact in group)
            group[0]["mue_units"] = int(total) if total == int(total) else total
            group[0]["mue_lines"] = ", ".join(str(fact["line_number"]) for fact in group)

    def _add_on(self, lines: list[dict]) -> None:
        """Type 1: one of the listed primaries must be billed that day; type 3: CMS lists some
        primaries and a MAC may accept others; type 2: CMS lists none (each MAC decides), so the
        most that can be told is whether any other, non-add-on procedure is billed that day."""
        by_day: dict[int, set[str]] = {}
        for fact in lines:
            if fact.get("procedure_code") and fact.get("service_date") is not None:
                by_day.setdefault(fact["service_date"], set()).add(fact["procedure_code"])
        for fact in lines:
            code, dos = fact.get("procedure_code"), fact.get("service_date")
            if not code or dos is None:
                continue
            edits = self.ref.add_on(code)
            if not edits:
                continue
            day = dt.date.fromordinal(dos)
            in_force = [e for e in edits if e.in_force(day)]
            if not in_force:
                continue
            fact["addon_edit_type"] = min(e.edit_type for e in in_force)
            primaries = sorted({e.primary for e in in_force if e.primary})
            fact["addon_primaries"] = _join(primaries) if primaries else "none listed by CMS"
            fact["addon_primary_present"] = bool(set(primaries) & by_day[dos])
            fact["addon_other_procedure"] = any(not self._is_add_on(other, day) for other in by_day[dos] - {code})
            fact["addon_release"] = f"add-on code edits, {self._tables.get('aoc', 'release unknown')}"

    def _is_add_on(self, code: str, day: dt.date) -> bool:
        return any(e.in_force(day) for e in self.ref.add_on(code))


_MISSING = object()


def _excluded(notes: Iterable[tuple[str, str, str, str]], code: str) -> str | None:
    for _owner, lo, hi, note in notes:
        head = code[:len(lo)]
        if len(head) == len(lo) and lo <= head <= hi:
            return note
    return None


CodeSystem = Literal["icd10cm", "icd10pcs", "hcpcs", "cpt", "modifier", "pos"]


@dataclass(frozen=True)
class CodeLookup:
    """What a coder asks of a code on a date: GET /v1/codes/{system}/{code}?date=."""
    system: str
    code: str
    date: dt.date
    valid: bool  # may be billed on that date
    status: str
    detail: str
    billable: bool | None = None
    description: str | None = None
    children: tuple[str, ...] = ()
    fiscal_year: int | None = None
    effective_date: dt.date | None = None
    termination_date: dt.date | None = None


def look_up(ref: ReferenceData, system: str, code: str, day: dt.date) -> CodeLookup:
    code = code.strip().upper()
    if system == "icd10cm":
        if day < ICD10_START:  # ICD-9-CM dates: no code set held, and the code keeps its form (E8888)
            return CodeLookup(system, code, day, False, "code_set_not_loaded",
                              f"{day} is before 2015-10-01, when ICD-9-CM applied: no ICD-9-CM code set is loaded, "
                              "so the code was not checked")
        bare = code.replace(".", "")
        found = icd10cm_status(ref, bare, fiscal_year(day))
        return CodeLookup(system, dotted(bare), day, found.status == "valid", found.status, found.detail,
                          found.status == "valid" if found.status in ("valid", "header") else None,
                          found.description, tuple(dotted(c) for c in found.children), found.fiscal_year)
    if system == "icd10pcs":
        fy = ref.icd10pcs_year_for(fiscal_year(day))
        note = f" (FY{fiscal_year(day)} is not loaded)" if fy is not None and fy != fiscal_year(day) else ""
        if fy is None:
            return CodeLookup(system, code, day, False, "unknown", "no ICD-10-PCS code set is loaded")
        if ref.icd10pcs(code, fy):
            return CodeLookup(system, code, day, True, "valid", f"valid in the FY{fy} ICD-10-PCS code set" + note,
                              True, fiscal_year=fy)
        return CodeLookup(system, code, day, False, "unknown", f"not an ICD-10-PCS code in FY{fy}" + note,
                          fiscal_year=fy)
    if system == "cpt":
        kind = procedure_kind(code)
        ok = kind.startswith("cpt")
        return CodeLookup(system, code, day, ok, "valid_shape" if ok else "invalid_shape",
                          f"shaped like a {kind.replace('_', ' ')} code (CPT codes are AMA-licensed: only "
                          "their shape is checked)" if ok else "not shaped like a CPT code")
    if system == "pos":
        place = ref.pos(code)
        if place is None:
            return CodeLookup(system, code, day, False, "unknown", "not a CMS place of service code")
        status = ("not_yet_effective" if place.effective_date and day < place.effective_date else
                  "terminated" if place.termination_date and day > place.termination_date else "valid")
        return CodeLookup(system, code, day, status == "valid", status, f"{status.replace('_', ' ')} on {day}",
                          None, place.description, effective_date=place.effective_date,
                          termination_date=place.termination_date)
    # hcpcs or modifier
    if system == "modifier" and code in CPT_MODIFIERS:
        return CodeLookup(system, code, day, True, "valid", "a CPT modifier (AMA: no description shipped)")
    entry = ref.hcpcs(code)
    wanted_modifier = system == "modifier"
    if entry is None and not wanted_modifier:
        span = spans([d for d in ref.datasets() if d.kind == "hcpcs"],
                     hcpcs_history_start(ref.hcpcs_earliest_termination())).get("hcpcs", Span(None, None))
        if span.first is not None and day < span.first:  # after the newest quarter: judged by it (_hcpcs_outside)
            return CodeLookup(system, code, day, False, "code_set_not_loaded",
                              f"not in the HCPCS table, which holds {describe(span)}: {day} is before it, so the "
                              "code was not checked")
    if entry is None or entry.is_modifier != wanted_modifier:
        what = "a CPT or HCPCS Level II modifier" if wanted_modifier else "a HCPCS Level II code"
        return CodeLookup(system, code, day, False, "unknown", f"not {what}")
    status = entry.status_on(day)
    detail = {"valid": f"in effect on {day}",
              "terminated": f"terminated: the last day it may be billed is {entry.termination_date}",
              "not_yet_effective": f"effective only from {entry.start_date}"}[status]
    return CodeLookup(system, code, day, status == "valid", status, detail, None, entry.description,
                      effective_date=entry.start_date,
                      termination_date=entry.termination_date)
