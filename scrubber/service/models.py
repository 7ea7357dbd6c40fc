"""The service's request and response models (their JSON Schemas are the OpenAPI document's components)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from scrubber.contract.claim import Claim, ScrubResult
from scrubber.pipeline.enrich.coding_edits import CodeSystem


class ScrubSummary(BaseModel):
    scrub_id: str
    created_at: str
    claim_id: str | None
    payer_id: str | None
    status: Literal["pass", "warn", "fail"]
    finding_count: int
    revision: str


class StoredScrub(ScrubSummary):
    api_key_id: str | None
    claim: dict[str, Any]
    result: ScrubResult


class ScrubPage(BaseModel):
    items: list[ScrubSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class ClaimAccessRecord(BaseModel):
    id: int
    at: str
    key_id: str | None = Field(description="the key that read; null: a loopback caller while no key exists")
    role: str
    action: Literal["get", "list"] = Field(description="get: one stored scrub; list: a page of summaries")
    scrub_id: str | None
    claim_id: str | None
    detail: dict[str, Any] = Field(description="list: the filters given and the count returned")


class ClaimAccessPage(BaseModel):
    items: list[ClaimAccessRecord]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class FailingRule(BaseModel):
    rule_id: str
    failed_scrubs: int
    share_of_scrubs: float | None


class DayStats(BaseModel):
    """The scrubs of one day (UTC)."""
    date: dt.date
    scrubs: int
    passed: int
    warned: int
    failed: int
    clean_claim_rate: float | None = Field(description="share of the day's scrubs with no error (pass or warn)")


class PayerStats(BaseModel):
    """The scrubs of one payer, and their findings."""
    payer: str | None = Field(description="the claims' payer id; null: claims that name no payer")
    scrubs: int
    passed: int
    warned: int
    failed: int
    clean_claim_rate: float | None = Field(description="share of the payer's scrubs with no error (pass or warn)")
    findings: int


class Stats(BaseModel):
    from_: str | None = Field(alias="from")
    to: str | None
    payer: str | None
    scrubs: int
    passed: int
    warned: int
    failed: int
    clean_claim_rate: float | None = Field(description="share of scrubs with no error (pass or warn)")
    findings_by_category: dict[str, int]
    findings_by_rule: dict[str, int]
    top_failing_rules: list[FailingRule]
    by_day: list[DayStats] = Field(description="each day (UTC) with scrubs in the window, oldest first")
    by_payer: list[PayerStats] = Field(description="each payer with scrubs in the window, by id (null last)")


class RuleSummary(BaseModel):
    id: str
    title: str
    category: str
    severity: str
    status: str
    carc: str | None
    rarc: str | None
    effective_from: dt.date | None
    effective_to: dt.date | None
    source: str
    payer: str | None = Field(description="the payer whose rule set holds this version of the rule; null: a base "
                                          "rule, in force for every payer unless its profile disables or overrides it")
    revision: str
    fired_30d: int = Field(description="findings this version of the rule reported in the last 30 days (UTC, today "
                                       "included), stored or purged: a payer's version counts that payer's claims, a "
                                       "base rule the claims of every payer that has no version of its own")


class RuleDetail(RuleSummary):
    definition: dict[str, Any] = Field(description="the rule as written in its file")
    examples: list[dict[str, Any]] = Field(description="the rule's example claims (as in `definition`), each with "
                                                   "the rule ids it must report (`expect`)")
    yaml: str = Field(description="the definition as YAML text")


class RuleList(BaseModel):
    revision: str
    rules: list[RuleSummary]


class LintProblem(BaseModel):
    file: str
    line: int
    column: int
    message: str
    rule_id: str | None


class Validation(BaseModel):
    valid: bool
    rules: int
    problems: list[LintProblem]


class FeeScheduleFacts(BaseModel):
    """A code's row of the Medicare PFS Relative Value file (PPRRVU) in the release used for the date."""
    release: str = Field(description="the PPRRVU release, e.g. RVU24C (the newest loaded for a date after it)")
    effective_from: dt.date = Field(description="the release's first day")
    effective_to: dt.date | None = Field(description="the day before the next loaded release (null: the newest)")
    status: str = Field(description="PFS status code: A B C D E F G H I J M N P R T X")
    status_meaning: str = Field(description="what the status code means (RVU file, Attachment A)")
    pctc: str = Field(description="PC/TC indicator 0-9: where modifiers 26 and TC may be used")
    global_days: str = Field(description="global surgery period: 000, 010, 090, MMM, XXX, YYY or ZZZ")
    mult_proc: str = Field(description="multiple procedure indicator (modifier 51)")
    bilateral: str = Field(description="bilateral surgery indicator (modifier 50): 0, 1, 2, 3 or 9")
    assistant: str = Field(description="assistant at surgery indicator (80, 81, 82, AS): 0, 1, 2 or 9")
    co_surgeon: str = Field(description="co-surgeon indicator (modifier 62): 0, 1, 2 or 9")
    team: str = Field(description="team surgery indicator (modifier 66): 0, 1, 2 or 9")
    endo_base: str | None = Field(description="endoscopic base code (multiple procedure indicator 3)")
    imaging_family: str | None = Field(description="diagnostic imaging family indicator (99: does not apply)")
    modifiers: list[str] = Field(description="the modifier rows the file has for the code, e.g. [\"26\", \"TC\"]")


class CodeInfo(BaseModel):
    system: CodeSystem
    code: str = Field(description="the code as looked up (ICD-10-CM with its dot; on a date before 2015-10-01, "
                                  "as sent: E8888 is ICD-9-CM, never E88.88)")
    date: dt.date = Field(description="the date of service it was judged on")
    valid: bool = Field(description="may be billed on that date")
    status: str = Field(description="valid, header, unknown, not_yet_valid, deleted, terminated, "
                                    "not_yet_effective, valid_shape, invalid_shape, or code_set_not_loaded (no "
                                    "code set held for that date: ICD-10-CM before 2015-10-01, a HCPCS code the "
                                    "table lacks before the quarters it holds)")
    detail: str
    billable: bool | None = Field(None, description="ICD-10-CM: a billable code (false for a header)")
    description: str | None = None
    children: list[str] = Field(default_factory=list, description="ICD-10-CM header: its billable codes")
    fiscal_year: int | None = Field(None, description="ICD-10-CM: the fiscal year's code set used")
    effective_date: dt.date | None = None
    termination_date: dt.date | None = None
    fee_schedule: FeeScheduleFacts | None = Field(
        None, description="HCPCS and CPT: the Medicare physician fee schedule facts of the code on that date")
    fee_schedule_note: str | None = Field(
        None, description="HCPCS and CPT: why fee_schedule is null (no release loaded for the date, or the code "
                          "is not in the release)")


class CodeFound(BaseModel):
    code: str = Field(description="the code (ICD-10-CM with its dot)")
    description: str
    billable: bool | None = Field(None, description="ICD-10-CM: a billable code (false for a header)")
    effective_date: dt.date | None = None
    termination_date: dt.date | None = None


class CodeSearchResult(BaseModel):
    system: str
    query: str
    date: dt.date = Field(description="the date the codes are valid on")
    fiscal_year: int | None = Field(None, description="ICD-10-CM: the fiscal year's code set searched")
    codes: list[CodeFound] = Field(description="codes whose code starts with the query first, then by code")


class Reloaded(BaseModel):
    revision: str
    previous_revision: str
    rules: int = Field(description="base rules in force")
    payers: list[str] = Field(description="payer profiles in force")
    examples_passed: int


class CandidateFile(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(max_length=200, pattern=r"^(rules|payers)/[\w./-]+\.ya?ml$",
                      description="rules/<file>.yaml or payers/<file>.yaml; replaces the file of that name")
    text: str = Field(max_length=2 * 1024 * 1024)


class ImpactRequest(BaseModel):
    model_config = {"extra": "forbid"}
    files: list[CandidateFile] = Field(min_length=1, max_length=50)
    since: dt.date | None = Field(None, description="stored claims scrubbed since this date (default: all)")
    limit: int = Field(1000, ge=1, le=10000, description="at most this many stored claims, newest first")
    claims: list[Claim] = Field(default_factory=list, max_length=1000,
                                description="a corpus to use instead of the stored claims")


class RuleImpactOut(BaseModel):
    rule_id: str
    newly_fired: int
    no_longer_fired: int
    example_claims_fired: list[str]
    example_claims_cleared: list[str]


class Impact(BaseModel):
    current_revision: str
    candidate_revision: str
    claims: int
    changed_claims: int
    newly_failing: int
    newly_passing: int
    status_changes: dict[str, int]
    rules: list[RuleImpactOut]
    added_rules: list[str]
    removed_rules: list[str]


class Health(BaseModel):
    status: str


class DatasetFreshness(BaseModel):
    """One reference dataset: its release, where it came from, how old it is and whether it is stale."""

    name: str = Field(description="as `scrubber data status` lists it, e.g. icd10cm:2026, ncci-ptp:practitioner")
    kind: str
    release: str = Field(description="FY2026, v37 (FY2020), 2026Q3, 2026; unknown when no file or record names it")
    release_start: dt.date = Field(description="the release's first day (the load date when unknown)")
    source: Literal["baseline", "import", "update"]
    urls: list[str] = Field(description="where `scrubber data update` downloaded it (empty otherwise)")
    loaded_at: str
    rows: int
    cycle: Literal["quarterly", "yearly"]
    age_days: int = Field(description="days since the release's first day")
    stale: bool = Field(description="a newer release is due: the dataset is older than its publication cycle")
    stale_since: dt.date | None = Field(description="the first day of the next release (null: an older fiscal "
                                                    "year kept for older claims, never stale)")
    excerpt: bool = Field(description="only a shipped excerpt of the CMS table, not the whole table: a code or "
                                      "pair it lacks was not checked (import or update the dataset)")
    detail: str = Field(description="what the dataset holds, e.g. the MCE version or the table's coverage")
    covers_from: dt.date | None = Field(
        default=None, description="code sets (ICD-10-CM, ICD-10-PCS, MCE, HCPCS): the first date of service this "
                                  "dataset judges (HCPCS: the first day of the earliest quarter held); null for "
                                  "other datasets")
    covers_to: dt.date | None = Field(
        default=None, description="code sets: the last date of service this dataset judges (a fiscal year's "
                                  "September 30; HCPCS: the last day of the latest quarter held); null for other "
                                  "datasets")


class DataStatus(BaseModel):
    datasets: list[DatasetFreshness]
    stale: list[str] = Field(description="the names of the stale datasets")


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, bool]
    revision: str | None
    data: DataStatus | None = Field(default=None, description="the reference datasets' freshness (information "
                                                             "only: stale data does not make the service unready)")
