"""The fields a rule can test, per scope: their types, what they mean, and their key on an engine fact.

Rule authors use the names of the claim JSON (`patient.birth_date`, `procedure_code`) plus the
derived fields that enrichment computes (`patient_age`, `days_to_submission`). Facts sent to the
engine are flat dictionaries: dates are day numbers, money is cents, absent values are omitted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldType = Literal["text", "date", "money", "number", "integer", "boolean"]
Scope = Literal["claim", "line", "diagnosis", "provider", "pair"]
SCOPES: tuple[Scope, ...] = ("claim", "line", "diagnosis", "provider", "pair")
ORDERED_TYPES = frozenset({"date", "money", "number", "integer"})


@dataclass(frozen=True)
class Field:
    name: str  # what a rule author writes
    type: FieldType
    key: str  # the key on the engine fact
    doc: str
    slots: tuple[str, ...] = ()  # list fields (modifiers) are spread over fixed slots
    phi: bool = False  # protected health information: testable, never written into a message
    line_list: bool = False  # text naming other lines ("2, 3, 5-9"): a line rule testing it lists them too


def _f(name: str, type_: FieldType, doc: str, key: str | None = None, slots: tuple[str, ...] = (),
       phi: bool = False, line_list: bool = False) -> Field:
    return Field(name, type_, key or name.replace(".", "_"), doc, slots, phi, line_list)


def line_ranges(numbers: list[int]) -> str:
    """Line numbers as a biller reads them, in the order given: runs of three or more as a range
    ([2, 3, 5, 6, 7] -> "2, 3, 5-7")."""
    parts: list[str] = []
    start = 0
    while start < len(numbers):
        end = start
        while end + 1 < len(numbers) and numbers[end + 1] == numbers[end] + 1:
            end += 1
        if end - start >= 2:
            parts.append(f"{numbers[start]}-{numbers[end]}")
        else:
            parts.extend(str(n) for n in numbers[start:end + 1])
        start = end + 1
    return ", ".join(parts)


def parse_line_ranges(text: str) -> list[int]:
    """The line numbers of a line_ranges() text."""
    numbers: list[int] = []
    for part in text.split(", "):
        first, _, last = part.partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


CLAIM_FIELDS: tuple[Field, ...] = (
    _f("claim_id", "text", "the billing system's claim id (patient control number)"),
    _f("claim_type", "text", "professional or institutional"),
    _f("frequency_code", "text", "claim frequency code: 1 original, 7 replacement, 8 void"),
    _f("submission_date", "date", "the day the claim is sent (defaults to today)"),
    _f("payer.id", "text", "the payer profile id"),
    _f("payer.name", "text", "the payer's name"),
    _f("patient.member_id", "text", "the patient's member id", phi=True),
    _f("patient.first_name", "text", "the patient's first name", phi=True),
    _f("patient.last_name", "text", "the patient's last name", phi=True),
    _f("patient.birth_date", "date", "the patient's date of birth", phi=True),
    _f("patient.death_date", "date", "the patient's date of death, when known", phi=True),
    _f("patient.sex", "text", "F, M or U"),
    _f("patient_age", "integer", "age in whole years on the first date of service"),
    _f("billing_provider.npi", "text", "billing provider NPI"),
    _f("billing_provider.taxonomy", "text", "billing provider taxonomy code"),
    _f("billing_provider.tax_id", "text", "billing provider tax id (EIN or SSN)"),
    _f("rendering_provider.npi", "text", "rendering provider NPI"),
    _f("referring_provider.npi", "text", "referring provider NPI"),
    _f("ordering_provider.npi", "text", "ordering provider NPI (837P NM1*DK)"),
    _f("supervising_provider.npi", "text", "supervising provider NPI (837P NM1*DQ)"),
    _f("attending_provider.npi", "text", "attending provider NPI (837I NM1*71)"),
    _f("operating_provider.npi", "text", "operating provider NPI (837I NM1*72)"),
    _f("service_facility.npi", "text", "service facility NPI (NM1*77)"),
    _f("clia_number", "text", "the laboratory's CLIA number (837P REF*X4, CMS-1500 item 23), NNDNNNNNNN"),
    _f("place_of_service", "text", "claim-level place of service code"),
    _f("prior_authorization", "text", "prior authorization number"),
    _f("type_of_bill", "text", "institutional type of bill"),
    _f("admission_date", "date", "institutional admission date"),
    _f("discharge_date", "date", "institutional discharge date"),
    # From scrubber.pipeline.enrich.institutional (institutional claims only)
    _f("statement_from", "date", "institutional statement period, first day (UB-04 FL 6, 837I DTP*434)"),
    _f("statement_to", "date", "institutional statement period, last day"),
    _f("admission_type", "text", "type of admission (UB-04 FL 14, 837I CL101)"),
    _f("admission_source", "text", "point of origin for admission (UB-04 FL 15, 837I CL102)"),
    _f("patient_status", "text", "patient discharge status (UB-04 FL 17, 837I CL103)"),
    _f("bill_type_problem", "text", "what is wrong with the type of bill (shape, facility type, classification, "
       "frequency, or a frequency the facility may not use), in words"),
    _f("bill_facility", "text", "a valid type of bill's facility type in words, e.g. 'hospital'"),
    _f("bill_classification", "text", "a valid type of bill's classification in words, e.g. 'outpatient'"),
    _f("inpatient_bill", "boolean", "the type of bill is inpatient: 11x, 18x, 21x, 41x or 86x"),
    _f("oce_bill", "boolean", "the type of bill is one the I/OCE edits: 12x, 13x, 14x, 71x, 73x-77x or 85x"),
    _f("condition_code_problem", "text", "the first condition code that is not 2 letters or digits, in words"),
    _f("occurrence_code_problem", "text", "the first occurrence code that is not 2 letters or digits or has no "
       "date, in words"),
    _f("occurrence_span_problem", "text", "the first occurrence span whose code is malformed, that lacks a date, "
       "or whose from date is after its through date, in words"),
    _f("value_code_problem", "text", "the first value code that is not 2 letters or digits or has no amount"),
    _f("pcs_invalid", "text", "on an inpatient bill: the ICD-10-PCS procedure codes not in the code set of the "
       "fiscal year of discharge, and that year"),
    _f("pcs_sex_conflict", "text", "the ICD-10-PCS codes the MCE lists for the other sex than the patient's "
       "(MCE v37, FY2020-FY2025; CMS dropped these lists from v43.1)"),
    _f("pcs_noncovered", "text", "the ICD-10-PCS codes the MCE lists as non-covered (always, or over age 60 for "
       "the patient's age), with why"),
    _f("pcs_limited_coverage", "text", "the ICD-10-PCS codes on the MCE limited coverage list"),
    _f("pcs_release", "text", "the MCE release that decided the procedure edits, e.g. 'MCE v43.1 (FY2026)'"),
    _f("total_charge", "money", "the claim's total charge"),
    _f("line_charge_total", "money", "the sum of the line charges"),
    _f("line_count", "integer", "number of service lines"),
    _f("diagnosis_count", "integer", "number of diagnoses"),
    _f("first_service_date", "date", "the earliest line service date"),
    _f("last_service_date", "date", "the latest line service date (or end date)"),
    _f("days_to_submission", "integer", "days from the first date of service to the submission date"),
    # From reference data (scrubber.pipeline.enrich.coding_edits)
    _f("ptp_excerpt", "text", "set when the NCCI PTP table of the claim's setting is only a shipped excerpt and "
       "the claim has two or more codes on one date of service: which table, in words (pairs outside the "
       "excerpt were not checked)"),
    # From scrubber.pipeline.enrich.claim_requirements
    _f("member_id_not_mbi", "text", "the member id is not shaped like a Medicare Beneficiary Identifier (11 "
       "characters, CMS positions): the first position that is wrong and what it must be, in words (never the "
       "member id itself)"),
    _f("mue_excerpt", "text", "set when the MUE table of the claim's setting is only a shipped excerpt and a "
       "line billed with more than one unit has a code not in it: which table and which codes, in words"),
    _f("dx_code_set_missing", "text", "set when some diagnoses were not checked because no code set of theirs "
       "is loaded for the claim's date (ICD-9-CM codes: dates before 2015-10-01; or no ICD-10-CM release): "
       "why, in words, naming the date"),
)

LINE_FIELDS: tuple[Field, ...] = (
    _f("line_number", "integer", "the line's number"),
    _f("line_number_repeated", "boolean", "an earlier line of the claim has the same line number"),
    _f("procedure_code", "text", "CPT or HCPCS code"),
    _f("modifiers", "text", "the line's modifiers (test with contains / not_contains)",
       slots=("mod1", "mod2", "mod3", "mod4")),
    _f("modifier_count", "integer", "number of modifiers on the line"),
    _f("units", "number", "units of service"),
    _f("charge", "money", "the line charge"),
    _f("service_date", "date", "date of service (from)"),
    _f("service_date_end", "date", "date of service (to), when a range"),
    _f("place_of_service", "text", "the line's own place of service code"),
    _f("effective_place_of_service", "text", "the line's place of service, else the claim's"),
    _f("ndc", "text", "National Drug Code, as normalised: hyphenated 4-4-2, 5-3-2 and 5-4-1 forms are padded to "
       "11 digits (5-4-2) and the hyphens dropped; anything else is kept as sent"),
    _f("ndc_quantity", "number", "the drug quantity (837 CTP04), in ndc_unit"),
    _f("ndc_unit", "text", "the drug quantity's unit (837 CTP05-1): F2, GR, ME, ML or UN"),
    _f("anesthesia_minutes", "integer", "anesthesia time in minutes (837P SV103 MJ, SV104)"),
    _f("ordering_provider.npi", "text", "the line's own ordering provider NPI (loop 2420E)"),
    _f("rendering_provider.npi", "text", "the line's own rendering provider NPI (loop 2420A)"),
    _f("revenue_code", "text", "institutional revenue code"),
    # From scrubber.pipeline.enrich.institutional (institutional claims only)
    _f("outside_statement_period", "text", "the line's date of service is outside the claim's statement period: "
       "which day and which bound, in words"),
    _f("revenue_code_invalid", "text", "the revenue code is not on the I/OCE revenue code list on the date of "
       "service (I/OCE edit 41), in words"),
    _f("revenue_code_not_recognized", "boolean", "the I/OCE flags the revenue code as not recognized by "
       "Medicare (edit 65)"),
    _f("revenue_requires_hcpcs", "boolean", "on a 13x, 74x-76x bill, or 12x/14x without condition code 41: no "
       "procedure code on a revenue code whose status indicator is not N or F and that the I/OCE does not "
       "exempt from edit 48"),
    _f("opps_status_indicator", "text", "on an I/OCE bill: the code's OPPS status indicator on the date of "
       "service (C inpatient only, B not recognized on an outpatient bill, E1/E2 not payable, J1, T, S, ...)"),
    _f("opps_unknown", "boolean", "on an I/OCE bill: the code is not in the I/OCE's code list on the date of "
       "service (edit 6)"),
    _f("opps_not_recognized_opps", "boolean", "the I/OCE flags the code as not recognized by OPPS, or its "
       "status indicator is B (edit 62)"),
    _f("opps_not_recognized_medicare", "boolean", "the I/OCE flags the code as not recognized by Medicare (edit 28)"),
    _f("opps_non_covered", "boolean", "the I/OCE flags the code as non-covered for reasons other than a "
       "statutory exclusion (edit 9)"),
    _f("opps_statutory_exclusion", "boolean", "the I/OCE flags the code as a statutory exclusion (edit 50)"),
    _f("opps_no_separate_payment", "boolean", "status indicator E2 on a 13x bill, or 12x/14x without condition "
       "code 41 (edit 13)"),
    _f("opps_age_conflict", "text", "the I/OCE's age range for the code and the patient's age on the date of "
       "service, when outside it (edit 7)"),
    _f("opps_bilateral", "text", "the I/OCE bilateral flag: C conditional, I independent, H inherent"),
    _f("inpatient_only_procedure", "boolean", "status indicator C (inpatient only), not saved by the "
       "separate-procedure rule (every SI C line of the day a separate procedure, with a T or J1 line) (edit 18)"),
    _f("inpatient_separate_procedure", "boolean", "status indicator C on the separate-procedure list, on a day "
       "whose SI C lines are all separate procedures and that has a T or J1 line (edit 45)"),
    _f("same_day_as_inpatient_only", "text", "another line of the day of an inpatient-only procedure denied "
       "with edit 18: those procedures and their lines, in words (edit 49)"),
    _f("opps_not_billable_to_mac", "boolean", "status indicator M (not billable to the Medicare contractor), "
       "except revenue codes 096x-098x on an 85x bill (edit 72)"),
    _f("visit_with_procedure", "text", "on a visit (E/M 99202-99499 or G0463) without modifier 25: the "
       "significant procedures (SI T, S or J1) on the same day, in words (edit 21)"),
    _f("bilateral_repeat_of", "integer", "an inherently bilateral code billed again on the same day without "
       "76 or 77: the first line's number (edit 17)"),
    _f("pointer_count", "integer", "number of diagnosis pointers"),
    _f("bad_pointer", "text", "the first pointer that is not a diagnosis number 1..n on this claim"),
    _f("repeated_pointer", "integer", "a pointer listed twice on the line"),
    _f("patient_age", "integer", "patient age in whole years on this line's date of service"),
    _f("days_to_submission", "integer", "days from this line's date of service to the submission date"),
    _f("months_to_submission", "integer", "months from this line's date of service to the submission date, a "
       "part month counting as a whole one (so 'more than 12 months later' is gt: 12)"),
    _f("service_days", "integer", "days between service_date and service_date_end"),
    _f("frequency_limit", "text", "the id of a payer frequency limit this service goes beyond"),
    _f("frequency_detail", "text", "that limit and the earlier services it counted, in words"),
    _f("previously_billed_in", "text", "the claim id of an earlier claim (same member) that billed the same "
       "service: date, code, modifiers, units and billing NPI"),
    _f("duplicate_of", "integer", "the number of the first line of this claim that this line repeats: same date "
       "of service, procedure code, modifiers (in any order), units, charge and NDC"),
    _f("duplicate_lines", "text", "on the first of a group of such identical lines, the later lines that repeat "
       "it, e.g. '2, 3' or '2-999' (a finding of a rule that tests it names the whole group)", line_list=True),
    # From reference data (scrubber.pipeline.enrich.coding_edits)
    _f("procedure_code_kind", "text", "the code's shape: cpt, cpt_category_ii (####F), cpt_category_iii "
       "(####T), cpt_pla (####U), cpt_vaccine_admin (####A), cpt_maaa (####M), hcpcs (A-V + 4 digits) or invalid"),
    _f("procedure_code_status", "text", "a HCPCS Level II code on its date of service: valid, unknown, "
       "not_yet_effective, terminated, or code_set_not_loaded (a code the HCPCS table lacks on a date outside "
       "the quarters it holds)"),
    _f("procedure_code_set", "text", "for code_set_not_loaded: where the date of service lies, in words, e.g. "
       "'before 2019Q3, the earliest HCPCS quarter held (from 2019-07-01)'"),
    _f("procedure_code_date", "date", "the HCPCS code's termination date (terminated) or effective date "
       "(not_yet_effective)"),
    _f("invalid_modifier", "text", "the first modifier that is not a CPT or HCPCS modifier in effect on the "
       "date of service"),
    _f("invalid_modifier_reason", "text", "why that modifier is invalid, in words"),
    _f("ptp_column1_code", "text", "the column-one code of an NCCI PTP edit that denies this line as column two"),
    _f("ptp_column1_line", "integer", "the line number of that column-one code"),
    _f("ptp_modifier_indicator", "integer", "the edit's modifier indicator: 0 never bypassed, 1 bypassed by an "
       "NCCI-associated modifier"),
    _f("ptp_effective_date", "date", "the PTP edit's effective date"),
    _f("ptp_deletion_date", "date", "the PTP edit's deletion date (the last day it applies), if any"),
    _f("ptp_rationale", "text", "CMS's rationale for the PTP edit"),
    _f("ptp_setting", "text", "the NCCI table used: practitioner or hospital (outpatient)"),
    _f("ptp_release", "text", "the NCCI PTP table and release that decided it, e.g. 'hospital table, release 2026Q2'"),
    _f("mue_limit", "integer", "the code's MUE value (maximum units)"),
    _f("mue_mai", "integer", "MUE adjudication indicator: 1 per line, 2 per day (policy), 3 per day (clinical)"),
    _f("mue_units", "number", "the units the MUE counts: this line's (MAI 1), or every line with the code on "
       "the date of service (MAI 2 and 3, on the first of those lines)"),
    _f("mue_lines", "text", "the line numbers whose units mue_units adds up"),
    _f("mue_setting", "text", "the MUE table used: practitioner, hospital or dme"),
    _f("mue_release", "text", "the MUE table and release that decided it, e.g. 'practitioner table, release 2026Q3'"),
    _f("addon_edit_type", "integer", "for an NCCI add-on code: its edit type (1 listed primaries only, "
       "2 no primaries listed, 3 some primaries listed)"),
    _f("addon_primaries", "text", "the add-on code's primary codes in effect on the date of service"),
    _f("addon_primary_present", "boolean", "one of those primary codes is billed on the same date of service"),
    _f("addon_other_procedure", "boolean", "another procedure code (not an add-on code) is billed on the same "
       "date of service (what a type 2 add-on code needs: CMS lists no primaries for it)"),
    _f("addon_release", "text", "the add-on code table and release that decided it, e.g. 'add-on code edits, release 2026Q2'"),
    _f("procedure_code_release", "text", "the HCPCS release a HCPCS Level II code's status was judged by, e.g. "
       "'release 2026Q2'"),
    # From scrubber.pipeline.enrich.claim_requirements (what a payer requires beyond the codes)
    _f("lab_test", "text", "the line is a clinical laboratory test, and why: 'CPT 80047-89398' or 'a HCPCS "
       "laboratory code'"),
    _f("clia_waived_test", "text", "a CLIA-waived test that the CMS waived-tests list says needs modifier QW on "
       "this date of service: the test's name"),
    _f("drug_line", "text", "the line bills a drug, and why: 'a J code', or 'a drug code in the HCPCS data' / "
       "'a code of the NDC-HCPCS crosswalk' for Q and S codes"),
    _f("ndc_problem", "text", "why the NDC is not 11 digits (5-4-2) after normalising, in words"),
    _f("ndc_not_listed", "text", "the NDC is not one the CMS NDC-HCPCS crosswalk lists for the code (only with "
       "the complete crosswalk loaded, never an excerpt): the NDCs it lists, in words"),
    _f("ordering_benefit", "text", "the line is a service Medicare pays only when ordered or referred: lab, "
       "imaging, DMEPOS or home health"),
    _f("ordering_npi", "text", "the NPI that orders or refers this line: the line's ordering provider, else the "
       "claim's ordering provider, else its referring provider"),
    _f("ordering_not_eligible", "text", "that NPI may not order or refer this benefit, per the CMS Order and "
       "Referring file (only with the complete file loaded, never an excerpt): why, in words"),
    _f("origin_destination", "text", "the line's ambulance origin/destination modifier (two letters of D E G H I "
       "J N P R S X)"),
    _f("mileage_without_transport", "boolean", "an ambulance mileage line (A0425, A0435, A0436) with no "
       "transport line (A0426-A0434) on the same date of service"),
    # From scrubber.pipeline.enrich.payment_policy (the Medicare Physician Fee Schedule, PPRRVU file; set
    # only on professional claims, for a code the file lists on the line's date of service)
    _f("fee_status", "text", "the code's PFS status code: A active, B bundled, C contractor priced, D/F deleted, "
       "E excluded by regulation, G/I not valid for Medicare (another code is used), H deleted modifier, "
       "J anesthesia, M measurement, N non-covered, P bundled/excluded, R restricted coverage, T injection, "
       "X statutory exclusion (paid on another schedule, e.g. clinical lab)"),
    _f("fee_release", "text", "the PFS release the code was judged by, e.g. 'PFS RVU24C', saying so when the "
       "date of service is after the newest release loaded"),
    _f("fee_replacement", "text", "for status I or G: the code Medicare uses instead, with its source, in "
       "words (or that the PFS file does not name it)"),
    _f("component_not_priced", "text", "26 or TC, when the line carries it and the PFS file has no row for "
       "that component of the code (so the modifier is not valid with it: PC/TC indicator 1 prices both, 6 "
       "only the 26)"),
    _f("pctc_indicator", "text", "PC/TC indicator (of the 26 or TC row when the line bills a priced component): "
       "0 physician service, 1 diagnostic test with 26 and TC, 2 "
       "professional component only, 3 technical component only, 4 global test only, 5 incident to, 6 lab "
       "physician interpretation (26 only), 7 physical therapy, 8 physician interpretation of a lab test, 9 "
       "not applicable"),
    _f("pctc_meaning", "text", "the PC/TC indicator in words, for messages"),
    _f("global_days", "text", "global surgery days: 000, 010, 090, MMM (maternity), XXX (does not apply), YYY "
       "(contractor sets it), ZZZ (part of another service's global period)"),
    _f("mult_proc_indicator", "text", "multiple procedure indicator (modifier 51): 0 no adjustment applies, "
       "1-3 standard or endoscopy rules, 4-7 imaging, therapy, cardiovascular, ophthalmology reductions, 9 "
       "concept does not apply"),
    _f("bilateral_indicator", "text", "bilateral surgery indicator (modifier 50): 0 bilateral adjustment does "
       "not apply, 1 150% adjustment applies, 2 already priced as bilateral, 3 each side paid at 100%, 9 "
       "concept does not apply"),
    _f("assistant_indicator", "text", "assistant at surgery indicator (80, 81, 82, AS): 0 paid only with "
       "documentation of medical necessity, 1 never paid (statutory), 2 may be paid, 9 concept does not apply"),
    _f("co_surgeon_indicator", "text", "co-surgeon indicator (modifier 62): 0 not permitted, 1 documentation "
       "required, 2 permitted, 9 concept does not apply"),
    _f("team_indicator", "text", "team surgery indicator (modifier 66): 0 not permitted, 1 documentation "
       "required, 2 permitted, 9 concept does not apply"),
    _f("is_evaluation_management", "boolean", "the code is an evaluation and management service (CPT "
       "99202-99499, or an eye examination 92002-92014)"),
    _f("bilateral_other_line", "integer", "on the later of two lines billing one bilateral-indicator-1 code on "
       "one date, one with RT and one with LT: the earlier line's number"),
    _f("injection_bundled_with", "text", "on an injection (status T): the other lines on its date of service "
       "that the PFS pays (status A, C or R), into which the injection is bundled"),
    _f("global_period", "text", "on an E/M line (a visit the PFS pays: status A, C or R) inside a procedure's "
       "global period without the modifier it needs: same_day (000/010 procedure that day, needs 25), decision_for_surgery (090 procedure that day "
       "or the next, needs 57; 25 also accepted on its day), postoperative (within the 10 or 90 days after, "
       "needs 24); the procedure is on this claim or, with a claim history, on another claim of the member "
       "from the same billing NPI"),
    _f("global_procedure", "text", "that procedure in words: code, line (and claim and date when on another "
       "claim), global period and PFS release"),
    _f("modifier_57_minor", "text", "on an E/M line with modifier 57 on the day of a minor procedure (global "
       "000/010) and no major (090) procedure that day or the next: that minor procedure in words"),
)

DIAGNOSIS_FIELDS: tuple[Field, ...] = (
    _f("position", "integer", "1 for the principal / first-listed diagnosis, then 2, 3, ..."),
    _f("code", "text", "ICD-10-CM code, with its dot (E11.9); an ICD-9-CM code as sent (E8888)"),
    _f("pointed_to", "boolean", "some line points at this diagnosis"),
    # From reference data (scrubber.pipeline.enrich.coding_edits)
    _f("code_status", "text", "in the ICD-10-CM code set of the claim's fiscal year (inpatient: of the "
       "discharge date): valid, header (not billable), unknown, not_yet_valid or deleted; code_set_mismatch "
       "for an ICD-9-CM code on a claim dated from 2015-10-01 or an ICD-10-CM one before it "
       "(scrubber.pipeline.code_sets); absent for ICD-9-CM codes, which are not checked"),
    _f("code_detail", "text", "the code status explained in words"),
    _f("code_description", "text", "the code's ICD-10-CM description"),
    _f("code_children", "text", "for a header code, the billable codes under it"),
    _f("code_fiscal_year", "integer", "the ICD-10-CM fiscal year the code was judged by"),
    _f("age_edit", "text", "the Medicare Code Editor age list the code is on when the patient's age is "
       "outside it, e.g. 'pediatric (age 0-17)'"),
    _f("sex_edit", "text", "female or male, when the code is for that sex only and the patient is the other"),
    _f("manifestation", "boolean", "the code is a manifestation code (MCE): never the first-listed diagnosis"),
    _f("unacceptable_principal", "boolean", "the code is on the MCE unacceptable principal diagnosis list"),
    _f("mce_version", "integer", "the Medicare Code Editor version used (43 for v43.1)"),
    _f("mce_release", "text", "the Medicare Code Editor release used, in words, e.g. 'MCE v43.1 (FY2026)'"),
    _f("excludes1_code", "text", "an earlier diagnosis on the claim that an Excludes1 note says is never coded "
       "with this one"),
    _f("excludes1_note", "text", "the Excludes1 note, as written in ICD-10-CM"),
)

PROVIDER_FIELDS: tuple[Field, ...] = (
    _f("role", "text", "billing, rendering, referring, ordering, supervising, attending, operating or "
       "service_facility (the claim's), or rendering / ordering of a line (then line_number is set)"),
    _f("who", "text", "the provider in words, e.g. 'billing provider', 'service facility', 'line 2 ordering "
       "provider'"),
    _f("npi_field", "text", "where its NPI is on the claim, e.g. 'billing_provider.npi', "
       "'lines[2].ordering_provider.npi'"),
    _f("line_number", "integer", "for a line's own provider: the line's number"),
    _f("npi", "text", "the provider's NPI"),
    _f("npi_check_digit_ok", "boolean", "the NPI's 10th digit is its Luhn check digit (prefix 80840)"),
    _f("taxonomy", "text", "taxonomy code"),
    _f("tax_id", "text", "tax id"),
)

PAIR_EXTRA_FIELDS: tuple[Field, ...] = (
    _f("same_modifiers", "boolean", "both lines carry the same set of modifiers"),
)


@dataclass(frozen=True)
class Catalogue:
    """The fields visible from one scope, by the name an author writes."""

    scope: Scope
    fields: dict[str, Field]

    def get(self, name: str) -> Field | None:
        return self.fields.get(name)


def _prefixed(prefix: str, fields: tuple[Field, ...]) -> dict[str, Field]:
    return {f"{prefix}.{f.name}": Field(f"{prefix}.{f.name}", f.type, f"{prefix}__{f.key}", f.doc,
                                        tuple(f"{prefix}__{s}" for s in f.slots), f.phi) for f in fields}


def _own(fields: tuple[Field, ...]) -> dict[str, Field]:
    return {f.name: f for f in fields}


CATALOGUES: dict[Scope, Catalogue] = {
    "claim": Catalogue("claim", _own(CLAIM_FIELDS)),
    "line": Catalogue("line", _own(LINE_FIELDS) | _prefixed("claim", CLAIM_FIELDS)),
    "diagnosis": Catalogue("diagnosis", _own(DIAGNOSIS_FIELDS) | _prefixed("claim", CLAIM_FIELDS)),
    "provider": Catalogue("provider", _own(PROVIDER_FIELDS) | _prefixed("claim", CLAIM_FIELDS)),
    "pair": Catalogue("pair", _prefixed("a", LINE_FIELDS) | _prefixed("b", LINE_FIELDS)
                      | _own(PAIR_EXTRA_FIELDS) | _prefixed("claim", CLAIM_FIELDS)),
}



def fact_keys() -> frozenset[str]:
    """Every key a fact may carry for a rule to read (fields' keys and their slots), in any scope:
    what an enricher may declare that it provides."""
    return frozenset(k for fields in (CLAIM_FIELDS, LINE_FIELDS, DIAGNOSIS_FIELDS, PROVIDER_FIELDS)
                     for f in fields for k in (f.key, *f.slots))


# The fact type each scope's rules bind to; claims reach lines and diagnoses through quantifiers.
FACT_TYPE: dict[Scope, str] = {"claim": "claim", "line": "line", "diagnosis": "dx", "provider": "prov",
                               "pair": "pair"}
# The date a rule's `effective` range is compared with, per scope.
DOS_KEY = "dos"
