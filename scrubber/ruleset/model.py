"""The rule-file language: what a compliance analyst writes in rules/*.yaml.

These models define the file's shape (and generate the JSON Schema in openapi/ that editors use
for autocompletion). What conditions mean is checked by the compiler, which knows the fields.

    # yaml-language-server: $schema=../openapi/rule-file.schema.json
    schema_version: 1
    value_sets:
      bilateral: ["LT", "RT"]
    conditions:
      has_bilateral:
        scope: line
        when: {modifiers: {contains: "50"}}
    rules:
      - id: modifier-50-with-lt-rt
        title: Modifier 50 together with LT or RT
        category: modifier
        severity: error
        carc: CO-4
        when:
          line:
            all:
              - condition: has_bilateral
              - modifiers: {contains: $bilateral}
        message: "Line {line_number}: modifier 50 already means both sides; LT/RT contradict it"
        suggestion: Use 50 alone for a bilateral procedure
        examples: [...]
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from typing_extensions import Annotated

from scrubber.contract.claim import Category, Severity
from scrubber.ruleset.fields import SCOPES, Scope

RULE_ID = r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"
NAME = r"^[a-z][a-z0-9_]{0,62}$"

# ids of the findings the scrubber makes itself; no rule may take them
FINDINGS_TRUNCATED = "findings-truncated"  # the findings past limits.MAX_FINDINGS_PER_CLAIM were left out
PAIR_RULES_SKIPPED = "pair-rules-skipped"  # more than limits.MAX_LINE_PAIRS pairs of lines: pair rules not run
RESERVED_RULE_IDS = frozenset({FINDINGS_TRUNCATED, PAIR_RULES_SKIPPED})


def reserved_id_message(rule_id: str) -> str:
    return f"rule id '{rule_id}' is reserved for a finding the scrubber makes itself; choose another id"


OPERATORS: dict[str, str] = {
    "eq": "equals",
    "ne": "does not equal",
    "lt": "is less than", "before": "is before",
    "le": "is at most", "on_or_before": "is on or before",
    "gt": "is greater than", "after": "is after",
    "ge": "is at least", "on_or_after": "is on or after",
    "in": "is one of (a list or $value_set)",
    "not_in": "is none of (a list or $value_set)",
    "matches": "has the shape of a code pattern: # digit, @ letter, ? any character, * anything, [A-V] one of",
    "not_matches": "does not have the shape of the code pattern(s)",
    "present": "true: has a value; false: is empty or absent",
    "contains": "modifiers: carries this modifier, or one of a list / $value_set",
    "not_contains": "modifiers: carries none of them",
}
COMBINATORS = ("all", "any", "not", "condition")
QUANTIFIERS = ("any_line", "no_line", "all_lines", "count_lines", "any_diagnosis", "no_diagnosis",
               "all_diagnoses")

_FIELD_REF = {"type": "object", "additionalProperties": False, "required": ["field"],
              "properties": {"field": {"type": "string", "description": "another field of the same scope"},
                             "plus": {"type": "integer",
                                      "description": "days added to a date field (or units to a number)"}}}
_SCALAR = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"},
                     {"type": "string", "format": "date"}]}
_TEST = {"anyOf": [
    _SCALAR,
    {"type": "object", "additionalProperties": False, "minProperties": 1,
     "properties": {op: {"description": words, "anyOf": [_SCALAR, _FIELD_REF, {"type": "array", "items": _SCALAR}]}
                    for op, words in OPERATORS.items()}},
]}
CONDITION_SCHEMA: dict[str, Any] = {
    "description": "A condition: field tests (all must hold), or one of all/any/not/condition, "
                   "or (claim scope) a quantifier over lines or diagnoses",
    "type": "object",
    "minProperties": 1,
    "properties": {
        "all": {"type": "array", "items": {"$ref": "#/$defs/Condition"}, "description": "every one holds"},
        "any": {"type": "array", "items": {"$ref": "#/$defs/Condition"}, "description": "at least one holds"},
        "not": {"$ref": "#/$defs/Condition", "description": "does not hold"},
        "condition": {"type": "string", "pattern": NAME, "description": "a named condition of this file"},
        **{q: {"$ref": "#/$defs/Condition", "description": f"claim scope: {q.replace('_', ' ')} matching"}
           for q in QUANTIFIERS if q != "count_lines"},
        "count_lines": {"type": "object", "additionalProperties": False, "required": ["where", "at_least"],
                        "properties": {"where": {"$ref": "#/$defs/Condition"},
                                       "at_least": {"type": "integer", "minimum": 1, "maximum": 999}}},
    },
    "additionalProperties": _TEST,
}
_CONDITION_MARK = {"x-condition": True}  # replaced by a $ref to CONDITION_SCHEMA in rule_file_schema()
ConditionJson = Annotated[dict[str, Any], WithJsonSchema(_CONDITION_MARK)]
def _one_scope(when: dict[str, Any]) -> dict[str, Any]:
    """`when` names exactly one scope (a `not` or `any_line` belongs inside it)."""
    if len(when) != 1 or next(iter(when)) not in SCOPES:
        named = ", ".join(repr(str(key)) for key in when) or "nothing"
        raise ValueError(f"'when' must name exactly one scope ({', '.join(SCOPES)}) holding the condition, "
                         f"not {named}; write for example when: {{claim: {{not: ...}}}}")
    return when


WhenJson = Annotated[dict[str, Any], AfterValidator(_one_scope), WithJsonSchema({
    "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
    "description": "the scope the rule looks at (one finding per claim, line, diagnosis, provider, "
                   "or pair of lines on the same date of service) and the condition that flags it",
    "properties": {scope: _CONDITION_MARK for scope in SCOPES}})]
ClaimJson = Annotated[dict[str, Any], WithJsonSchema({
    "type": "object", "description": "a claim as in the contract; omitted fields come from a clean example claim"})]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class Effective(_Model):
    """In force from `from` to `to`, both days included, compared with the date of service."""

    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None


class Example(_Model):
    name: str = Field(min_length=1, max_length=200)
    history: list[ClaimJson] = Field(default_factory=list,
                                     description="claims scrubbed before this one (for cross-claim rules)")
    claim: ClaimJson
    expect: list[str] = Field(description="rule ids that must fire on this claim; [] = this rule must not")


class NamedCondition(_Model):
    scope: Scope
    description: str | None = None
    when: ConditionJson


class Rule(_Model):
    id: str = Field(pattern=RULE_ID, description="stable id, lower-case words joined by -")
    title: str = Field(min_length=3, max_length=200)
    category: Category
    severity: Severity
    status: Literal["experimental", "test", "stable", "deprecated"] = "stable"
    enabled: bool = True
    carc: str | None = Field(default=None, pattern=r"^(CO|PR|OA|PI|CR)-[A-Z0-9]{1,4}$",
                             description="the denial it predicts, group code first: CO-16")
    rarc: str | None = Field(default=None, pattern=r"^[A-Z]{1,2}[0-9]{1,4}$")
    effective: Effective = Field(default_factory=Effective)
    when: WhenJson
    message: str = Field(min_length=3, max_length=500,
                         description="what is wrong; {field} names insert the claim's values")
    field: str | None = Field(default=None, description="the claim field to fix, e.g. procedure_code")
    suggestion: str = Field(min_length=3, max_length=500, description="how to fix it")
    references: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(min_length=1)


class RuleFile(_Model):
    schema_version: Literal[1]
    description: str | None = None
    value_sets: dict[str, list[Annotated[str, Field(min_length=1)]] | dict[Literal["table"], str]] = Field(
        default_factory=dict,
        description="named lists of codes: inline, or {table: place_of_service} for a reference table")
    conditions: dict[str, NamedCondition] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)


def _link_conditions(node: Any) -> Any:
    if node == _CONDITION_MARK:
        return {"$ref": "#/$defs/Condition"}
    if isinstance(node, dict):
        return {k: _link_conditions(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_link_conditions(v) for v in node]
    return node


def _file_schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    schema = _link_conditions(model.model_json_schema(by_alias=True))
    schema.setdefault("$defs", {})["Condition"] = CONDITION_SCHEMA
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return schema


def rule_file_schema() -> dict[str, Any]:
    return _file_schema(RuleFile, "Claim scrubber rule file")


# ----------------------------------------------------------------------------- payer profiles

CODE_LIST = list[Annotated[str, Field(min_length=1, max_length=16)]]


class PayerInfo(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,38}[a-z0-9]$",
                    description="the value of claim.payer.id that selects this profile")
    name: str = Field(min_length=1, max_length=120)


class ValueSetChange(_Model):
    """A change to a base value set (named as in the base rule files) for this payer."""

    append: CODE_LIST | None = None
    replace: CODE_LIST | None = None


class TimelyFiling(_Model):
    """How long after the date of service a claim may be filed: `days`, or `months` (Medicare:
    12 months, 42 CFR 424.44)."""

    days: int | None = Field(default=None, ge=1, le=3650)
    months: int | None = Field(default=None, ge=1, le=120)
    effective: Effective = Field(default_factory=Effective)
    reference: str | None = None


class PriorAuthList(_Model):
    id: str = Field(pattern=RULE_ID, description="a stable id for the list; findings carry it as their rule id")
    title: str = Field(min_length=3, max_length=200)
    codes: CODE_LIST = Field(min_length=1, description="procedure codes that need a prior authorization number")
    effective: Effective = Field(default_factory=Effective)
    reference: str | None = None


class CoveragePolicy(_Model):
    """An LCD/NCD-style policy: the codes are covered only with one of the listed diagnoses."""

    id: str = Field(pattern=RULE_ID)
    policy: str = Field(min_length=1, max_length=40, description="the policy id, e.g. NCD 190.? or LCD L12345")
    title: str = Field(min_length=3, max_length=200)
    codes: CODE_LIST = Field(min_length=1)
    covered_diagnoses: list[Annotated[str, Field(min_length=1, max_length=16)]] = Field(
        min_length=1, description="ICD-10-CM codes or code patterns (E55*, M81.0) that support the service")
    effective: Effective = Field(default_factory=Effective)
    reference: str | None = None


class NotCovered(_Model):
    id: str = Field(pattern=RULE_ID)
    title: str = Field(min_length=3, max_length=200)
    codes: CODE_LIST = Field(min_length=1)
    reason: str = Field(min_length=3, max_length=300)
    effective: Effective = Field(default_factory=Effective)


class Per(_Model):
    days: int | None = Field(default=None, ge=1, le=36500)
    calendar_year: bool = False
    lifetime: bool = False


class FrequencyLimit(_Model):
    id: str = Field(pattern=RULE_ID)
    title: str = Field(min_length=3, max_length=200)
    codes: CODE_LIST = Field(min_length=1, description="the code group: services of any of these codes count")
    limit: int = Field(ge=1, le=999, description="services allowed per period, this claim's included")
    per: Per
    effective: Effective = Field(default_factory=Effective)
    reference: str | None = None


# The requirement families a payer profile switches on or off (one key each, named as the category of
# their rules): on (true) runs the family's rules with their own severity, off (false) does not run
# them, error / warning / info runs them all with that severity. A family the profile does not name
# keeps the default of its rules (`enabled` in rules/): universal requirements on (ambulance,
# anesthesia, npi), Medicare/Medicaid-specific and payer-specific ones off (clia, ordering_provider,
# member_id, telehealth, ndc).
REQUIREMENT_FAMILIES = ("clia", "ndc", "ordering_provider", "member_id", "ambulance", "anesthesia", "telehealth",
                        "npi")
FamilySetting = bool | Literal["on", "off", "error", "warning", "info"]


class Requirements(_Model):
    """Which requirement families this payer checks, and how severely (see REQUIREMENT_FAMILIES)."""

    clia: FamilySetting | None = Field(default=None, description="CLIA number on lab claims, QW on waived tests")
    ndc: FamilySetting | None = Field(default=None, description="NDC, quantity and unit on drug lines")
    ordering_provider: FamilySetting | None = Field(
        default=None, description="ordering/referring NPI on lab, imaging, DMEPOS and home health lines")
    member_id: FamilySetting | None = Field(default=None, description="the member id is a Medicare MBI")
    ambulance: FamilySetting | None = Field(default=None, description="ambulance origin/destination and mileage")
    anesthesia: FamilySetting | None = Field(default=None, description="anesthesia minutes and pricing modifier")
    telehealth: FamilySetting | None = Field(default=None,
                                             description="Medicare telehealth place of service and modifiers")
    npi: FamilySetting | None = Field(default=None, description="NPI shape and check digit of every provider")

    def setting(self, family: str) -> tuple[bool, str | None] | None:
        """(on, severity or None for the rules' own) for a family this profile names; None otherwise."""
        value = getattr(self, family, None) if family in REQUIREMENT_FAMILIES else None
        if value is None:
            return None
        if isinstance(value, bool):
            return value, None
        if value in ("on", "off"):
            return value == "on", None
        return True, value


# The payment-policy edits of rules/payment_policy.yaml: three categories a payer profile switches on or off
# together, with one key, because a payer either follows the Medicare Physician Fee Schedule's status codes
# and indicators or does not. The base rules are off; medicare.yaml turns them on.
PAYMENT_POLICY_CATEGORIES = ("fee_schedule", "modifier_procedure", "global_surgery")


def _off(value: Any) -> Any:
    return "off" if value is False else value  # YAML 1.1 reads an unquoted off as false


class PaymentPolicy(_Model):
    """Which payment policy this payer's claims are edited by (see PAYMENT_POLICY_CATEGORIES)."""

    fee_schedule: Annotated[Literal["medicare", "off"], BeforeValidator(_off)] | None = Field(
        default=None, description="medicare: the Medicare Physician Fee Schedule's status codes, modifier "
                                  "indicators (26/TC, 50, 80/81/82/AS, 62, 66, 51) and global surgery periods "
                                  "apply (categories fee_schedule, modifier_procedure, global_surgery); off: they "
                                  "do not; not given: the rules' default (off)")

    def setting(self, category: str) -> tuple[bool, str | None] | None:
        """(on, None) for a payment-policy category when the profile names a fee schedule; None otherwise."""
        if category not in PAYMENT_POLICY_CATEGORIES or self.fee_schedule is None:
            return None
        return self.fee_schedule == "medicare", None


class PayerFile(_Model):
    schema_version: Literal[1]
    payer: PayerInfo
    description: str | None = None
    example_profile: bool = Field(default=False, description="true: an example to adapt, not a real payer's policy")
    value_sets: dict[str, ValueSetChange] = Field(default_factory=dict)
    disable: list[Annotated[str, Field(pattern=RULE_ID)]] = Field(default_factory=list,
                                                                 description="base rule ids off for this payer")
    overrides: list[dict[str, Any]] = Field(
        default_factory=list, description="base rules changed for this payer: `id` and the settings that differ; "
                                          "a changed `when` needs its own `examples`")
    requirements: Requirements = Field(
        default_factory=Requirements,
        description="requirement families on (true/on), off (false/off) or at a severity (error, warning, info), "
                    "one key each: clia, ndc, ordering_provider, member_id, ambulance, anesthesia, telehealth, npi")
    payment_policy: PaymentPolicy = Field(
        default_factory=PaymentPolicy,
        description="fee_schedule: medicare (the Medicare Physician Fee Schedule's status codes, modifier "
                    "indicators and global surgery periods apply) or off")
    timely_filing: TimelyFiling | None = None
    prior_authorization: list[PriorAuthList] = Field(default_factory=list)
    coverage: list[CoveragePolicy] = Field(default_factory=list)
    not_covered: list[NotCovered] = Field(default_factory=list)
    frequency: list[FrequencyLimit] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list, description="payer-specific rules, in the rule language")


def payer_file_schema() -> dict[str, Any]:
    return _file_schema(PayerFile, "Claim scrubber payer profile")
