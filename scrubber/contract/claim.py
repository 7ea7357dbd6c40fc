"""The claim and scrub-result models of the public contract (shared/contract.md).

Types are strict: a boolean or a number is never a date, a boolean is never an amount.
Only structure is checked here; content problems (a bad NPI, a pointer to a missing
diagnosis, a future date) are left for the rules so that the whole claim is checked.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Callable, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONEY = re.compile(r"-?[0-9]{1,9}(\.[0-9]{1,2})?")
_CENT = Decimal("0.01")


# Dates and amounts read from text, by their text: claims repeat the same few, and a date or a
# Decimal cannot be changed, so one object serves every claim that has it. Bounded by clearing.
_SEEN_DATES: dict[str, dt.date] = {}
_SEEN_AMOUNTS: dict[str, Decimal] = {}
_SEEN_LIMIT = 20_000


def _iso_date(value: Any) -> dt.date:
    if type(value) is str:  # the usual case first: a JSON string
        seen = _SEEN_DATES.get(value)
        if seen is not None:
            return seen
        if _ISO_DATE.fullmatch(value):
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a calendar date") from None
            if len(_SEEN_DATES) >= _SEEN_LIMIT:
                _SEEN_DATES.clear()
            _SEEN_DATES[value] = day
            return day
    if isinstance(value, dt.datetime):
        raise ValueError("must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value
    raise ValueError("must be a date written as YYYY-MM-DD")


def _money(value: Any) -> Decimal:
    if type(value) is str:  # the usual case first: a JSON string seen before
        seen = _SEEN_AMOUNTS.get(value)
        if seen is not None:
            return seen
        amount = _money_of(value)
        if len(_SEEN_AMOUNTS) >= _SEEN_LIMIT:
            _SEEN_AMOUNTS.clear()
        _SEEN_AMOUNTS[value] = amount
        return amount
    return _money_of(value)


def _money_of(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("must be an amount such as \"125.00\", not true/false")
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, (float, Decimal)):
        value = format(Decimal(str(value)), "f")
    if isinstance(value, str) and _MONEY.fullmatch(text := value.strip()):
        try:
            return Decimal(text).quantize(_CENT)
        except InvalidOperation:
            pass
    raise ValueError("must be an amount with at most 2 decimal places and at most 9 digits before the point, "
                     "such as \"125.00\"")


def _units(value: Any, what: str = "a number of units", example: str = "1") -> Decimal:
    if type(value) is int and -10**7 < value < 10**7:  # the usual case first: a whole number in range
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"must be {what}, such as {example}")
    try:
        units = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"must be {what}, such as {example}") from None
    exponent = units.as_tuple().exponent  # 'n', 'N' or 'F' (not an int) for NaN and infinity
    if not isinstance(exponent, int) or abs(units) >= 10**7:
        raise ValueError(f"must be {what} below 10,000,000")
    if exponent < -3 and units != units.quantize(Decimal("0.001")):
        raise ValueError(f"must be {what} with at most 3 decimal places")
    return units.quantize(Decimal("0.001")).normalize() if exponent < -3 else units


def _ndc_quantity(value: Any) -> Decimal:
    return _units(value, "a drug quantity (a number)", "1.5")


def _whole(low: int, high: int, what: str) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if type(value) is int and low <= value <= high:  # the usual case first
            return value
        # 2.0 is a whole number in JSON (and JSON Schema); true is not, nor is 2.5
        # (checked in range before dividing: Decimal("1E+30") // 1 raises InvalidOperation)
        if isinstance(value, (float, Decimal)) and not isinstance(value, bool) and math.isfinite(value) \
                and low <= value <= high and value == value // 1:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be {what}: a whole number from {low} to {high}")
        return value
    return check


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})]
Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str),
    WithJsonSchema({"description": "an amount: a decimal string or a number, at most 2 decimal places",
                    "anyOf": [{"type": "string", "pattern": r"^-?[0-9]{1,9}(\.[0-9]{1,2})?$"},
                              {"type": "number", "multipleOf": 0.01,
                               "minimum": -999999999.99, "maximum": 999999999.99}]}),
]
Units = Annotated[
    Decimal,
    BeforeValidator(_units),
    PlainSerializer(lambda d: int(d) if d == d.to_integral_value() else float(d)),
    WithJsonSchema({"type": "number", "multipleOf": 0.001, "minimum": -9999999.999, "maximum": 9999999.999}),
]
NdcQuantity = Annotated[
    Decimal,
    BeforeValidator(_ndc_quantity),
    PlainSerializer(lambda d: int(d) if d == d.to_integral_value() else float(d)),
    WithJsonSchema({"description": "the drug quantity in ndc_unit: a number with at most 3 decimal places",
                    "type": "number", "multipleOf": 0.001, "minimum": -9999999.999, "maximum": 9999999.999}),
]
Minutes = Annotated[int, BeforeValidator(_whole(0, 99999, "a number of minutes")),
                    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 99999})]
LineNumber = Annotated[int, BeforeValidator(_whole(1, 999999, "a line number")),
                       WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 999999})]
PointerNumber = Annotated[int, BeforeValidator(_whole(-999, 999, "a diagnosis pointer")),
                          WithJsonSchema({"type": "integer", "minimum": -999, "maximum": 999})]
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters (PostgreSQL cannot even store NUL)


def _blank_is_absent(value: str) -> str | None:
    return value or None  # after stripping: "" and "   " mean the value was not given


Code = Annotated[str, Field(max_length=40, pattern=PRINTABLE), AfterValidator(_blank_is_absent)]


# Free text of at most N characters (no control characters; blank means absent).
Text80 = Annotated[str, Field(max_length=80, pattern=PRINTABLE), AfterValidator(_blank_is_absent)]
Text100 = Annotated[str, Field(max_length=100, pattern=PRINTABLE), AfterValidator(_blank_is_absent)]
Text200 = Annotated[str, Field(max_length=200, pattern=PRINTABLE), AfterValidator(_blank_is_absent)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class Payer(_Strict):
    id: Code | None = None
    name: Text200 | None = None


class Patient(_Strict):
    member_id: Text80 | None = None
    first_name: Text100 | None = None
    last_name: Text100 | None = None
    birth_date: IsoDate | None = None
    death_date: IsoDate | None = None
    sex: Code | None = None


class Provider(_Strict):
    npi: Code | None = None
    taxonomy: Code | None = None
    tax_id: Code | None = None
    # 1.1: NM103/NM104; an organisation's (a service facility's) name is its last_name
    last_name: Text100 | None = None
    first_name: Text100 | None = None


class Diagnosis(_Strict):
    code: Code | None = None
    # 1.1: the code system the sender names (837 HI qualifier ABK/ABF or BK/BF; FHIR coding system);
    # absent: ICD-10-CM, or ICD-9-CM when the claim's date is before 2015-10-01 (README "Code sets by date")
    code_system: Literal["icd10cm", "icd9cm"] | None = Field(
        default=None, description="icd10cm or icd9cm, as the sender coded it (837 HI ABK/ABF: icd10cm, BK/BF: "
                                  "icd9cm); absent: ICD-10-CM, or ICD-9-CM for a claim dated before 2015-10-01")


class Line(_Strict):
    line_number: LineNumber | None = None
    procedure_code: Code | None = None
    modifiers: list[Annotated[str, Field(max_length=40, pattern=PRINTABLE)]] = Field(default_factory=list,
                                                                                      max_length=12)
    units: Units | None = None
    charge: Money | None = None
    service_date: IsoDate | None = None
    service_date_end: IsoDate | None = None
    # integers 1..12 or the CMS-1500 letters A-L; anything else becomes a dx_pointer finding
    diagnosis_pointers: list[PointerNumber | Annotated[str, Field(max_length=8, pattern=PRINTABLE)]] = Field(
        default_factory=list, max_length=12)
    place_of_service: Code | None = None
    ndc: Code | None = None
    revenue_code: Code | None = None
    # 1.1: structure only; the NDC form, the unit vocabulary and missing minutes are rule findings
    ndc_quantity: NdcQuantity | None = None
    ndc_unit: Code | None = None
    anesthesia_minutes: Minutes | None = None
    ordering_provider: Provider | None = None
    rendering_provider: Provider | None = None


class OccurrenceCode(_Strict):
    """A UB-04 occurrence code (FL 31-34) and its date."""

    code: Code | None = None
    date: IsoDate | None = None


class OccurrenceSpan(_Strict):
    """A UB-04 occurrence span code (FL 35-36) and its from-through dates (`from` in JSON)."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_alias=True, validate_by_name=False)

    code: Code | None = None
    from_: IsoDate | None = Field(default=None, alias="from")
    to: IsoDate | None = None


class ValueCode(_Strict):
    """A UB-04 value code (FL 39-41) and its amount."""

    code: Code | None = None
    amount: Money | None = None


class Procedure(_Strict):
    """An ICD-10-PCS procedure (UB-04 FL 74) and its date."""

    code: Code | None = None
    date: IsoDate | None = None


class Claim(_Strict):
    claim_id: Text80 | None = None
    claim_type: Literal["professional", "institutional"]
    frequency_code: Code | None = None
    submission_date: IsoDate | None = None
    payer: Payer | None = None
    patient: Patient | None = None
    billing_provider: Provider | None = None
    rendering_provider: Provider | None = None
    referring_provider: Provider | None = None
    place_of_service: Code | None = None
    prior_authorization: Text80 | None = None
    type_of_bill: Code | None = None
    admission_date: IsoDate | None = None
    discharge_date: IsoDate | None = None
    diagnoses: list[Diagnosis] = Field(default_factory=list, max_length=40)
    lines: list[Line] = Field(min_length=1, max_length=999)
    total_charge: Money | None = None
    # 1.1 (shared/contract.md "Fields added in version 1.1"): all optional, structure only
    ordering_provider: Provider | None = None
    supervising_provider: Provider | None = None
    attending_provider: Provider | None = None
    operating_provider: Provider | None = None
    service_facility: Provider | None = None
    clia_number: Code | None = None
    statement_from: IsoDate | None = None
    statement_to: IsoDate | None = None
    admission_type: Code | None = None
    admission_source: Code | None = None
    admission_hour: Code | None = None
    patient_status: Code | None = None
    # bounds: 837I carries 2 HI segments of 12 for each kind; procedures are 1 principal + 2 x 12 others
    condition_codes: list[Annotated[str, Field(max_length=40, pattern=PRINTABLE)]] = Field(
        default_factory=list, max_length=24)
    occurrence_codes: list[OccurrenceCode] = Field(default_factory=list, max_length=24)
    occurrence_spans: list[OccurrenceSpan] = Field(default_factory=list, max_length=24)
    value_codes: list[ValueCode] = Field(default_factory=list, max_length=24)
    procedures: list[Procedure] = Field(default_factory=list, max_length=25)
    # 1.1: what the billing system did (the claim history; README "Claim history"); not PHI
    submission_status: Literal["submitted"] | None = Field(
        default=None, description='"submitted": this claim was already sent to the payer; its lines count in '
                                  'the claim history whatever its scrub says')
    replaces_claim_id: Text80 | None = Field(
        default=None, description="the claim id this claim replaces: once this claim counts in the claim "
                                  "history (its scrub passes or warns, or it was submitted), the earlier one's "
                                  "lines no longer do")


Severity = Literal["error", "warning", "info"]
Category = Literal[
    "required_field", "format", "npi", "date", "balancing", "dx_invalid", "dx_age", "dx_sex",
    "dx_manifestation", "dx_unacceptable_principal", "dx_excludes1", "dx_pointer",
    "procedure_invalid", "modifier", "ncci_ptp", "mue", "add_on", "place_of_service", "duplicate",
    "timely_filing", "prior_auth", "medical_necessity", "frequency", "coverage", "payer_specific",
    # 1.1: payment policy (MPFS indicators), what a payer requires beyond the codes, hospital edits
    "fee_schedule", "modifier_procedure", "global_surgery",
    "clia", "ndc", "ordering_provider", "member_id", "ambulance", "anesthesia", "telehealth",
    "institutional", "outpatient_code_editor",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]


class Finding(BaseModel):
    rule_id: str
    category: Category
    severity: Severity
    message: str
    lines: list[int]
    field: str | None
    carc: str | None
    rarc: str | None
    suggestion: str | None
    source: str


class RulesetInfo(BaseModel):
    revision: str
    effective_date: dt.date | None = Field(
        description="the date the rules were applied for: the claim's first date of service, or as_of")


class ScrubResult(BaseModel):
    claim_id: str | None
    status: Literal["pass", "warn", "fail"]
    findings: list[Finding]
    ruleset: RulesetInfo
    scrub_id: str
