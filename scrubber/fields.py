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


def _f(name: str, type_: FieldType, doc: str, key: str | None = None, slots: tuple[str, ...] = (),
       phi: bool = False) -> Field:
    return Field(name, type_, key or name.replace(".", "_"), doc, slots, phi)


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
    _f("place_of_service", "text", "claim-level place of service code"),
    _f("prior_authorization", "text", "prior authorization number"),
    _f("type_of_bill", "text", "institutional type of bill"),
    _f("admission_date", "date", "institutional admission date"),
    _f("discharge_date", "date", "institutional discharge date"),
    _f("total_charge", "money", "the claim's total charge"),
    _f("line_charge_total", "money", "the sum of the line charges"),
    _f("line_count", "integer", "number of service lines"),
    _f("diagnosis_count", "integer", "number of diagnoses"),
    _f("first_service_date", "date", "the earliest line service date"),
    _f("last_service_date", "date", "the latest line service date (or end date)"),
    _f("days_to_submission", "integer", "days from the first date of service to the submission date"),
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
    _f("ndc", "text", "National Drug Code"),
    _f("revenue_code", "text", "institutional revenue code"),
    _f("pointer_count", "integer", "number of diagnosis pointers"),
    _f("bad_pointer", "text", "the first pointer that is not a diagnosis number 1..n on this claim"),
    _f("repeated_pointer", "integer", "a pointer listed twice on the line"),
    _f("patient_age", "integer", "patient age in whole years on this line's date of service"),
    _f("days_to_submission", "integer", "days from this line's date of service to the submission date"),
    _f("service_days", "integer", "days between service_date and service_date_end"),
    _f("previously_billed_in", "text", "the claim id of an earlier claim (same member) that billed the same "
       "service: date, code, modifiers, units and billing NPI"),
)

DIAGNOSIS_FIELDS: tuple[Field, ...] = (
    _f("position", "integer", "1 for the principal / first-listed diagnosis, then 2, 3, ..."),
    _f("code", "text", "ICD-10-CM code, with its dot (E11.9)"),
    _f("pointed_to", "boolean", "some line points at this diagnosis"),
)

PROVIDER_FIELDS: tuple[Field, ...] = (
    _f("role", "text", "billing, rendering or referring"),
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

# The fact type each scope's rules bind to; claims reach lines and diagnoses through quantifiers.
FACT_TYPE: dict[Scope, str] = {"claim": "claim", "line": "line", "diagnosis": "dx", "provider": "prov",
                               "pair": "pair"}
# The date a rule's `effective` range is compared with, per scope.
DOS_KEY = "dos"
