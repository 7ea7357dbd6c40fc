"""The audit store's tables (SQLModel): scrubs, their findings, the claim-line history, API keys,
the access log, shared service state and the roll-ups of purged scrubs. Importing this module
registers them in SQLModel.metadata (Alembic's env.py compares the schema against it).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class Scrub(SQLModel, table=True):
    scrub_id: str = Field(primary_key=True, max_length=26)
    created_at: dt.datetime = Field(index=True)
    claim_id: str | None = Field(default=None, index=True, max_length=80)
    payer_id: str | None = Field(default=None, index=True, max_length=40)
    status: str = Field(index=True, max_length=4)
    revision: str = Field(max_length=40)
    api_key_id: str | None = Field(default=None, index=True, max_length=40)
    finding_count: int = 0
    claim: str = Field(sa_type=sa.Text)  # the normalised claim, JSON
    result: str = Field(sa_type=sa.Text)  # the scrub result, JSON


class FindingRecord(SQLModel, table=True):
    __tablename__ = "finding"
    id: int | None = Field(default=None, primary_key=True)
    scrub_id: str = Field(index=True, max_length=26, foreign_key="scrub.scrub_id")
    created_at: dt.datetime = Field(index=True)
    payer_id: str | None = Field(default=None, max_length=40)
    rule_id: str = Field(index=True, max_length=64)
    category: str = Field(index=True, max_length=40)
    severity: str = Field(max_length=8)


class ClaimLine(SQLModel, table=True):
    """A line of the latest version of a claim; `counts`: whether the claim counts in the history now
    (scrubber.pipeline.enrich.history.counts), kept on the line so that look-ups read one index."""
    __tablename__ = "claim_line"
    __table_args__ = (sa.Index("ix_claim_line_member_date", "member_hash", "service_date"),)
    id: int | None = Field(default=None, primary_key=True)
    claim_id: str = Field(index=True, max_length=80)
    scrub_id: str = Field(max_length=26)
    member_hash: str = Field(max_length=64)
    payer_id: str | None = Field(default=None, max_length=40)
    line_number: int
    service_date: dt.date = Field(index=True)
    procedure_code: str = Field(max_length=40)
    modifiers: str = Field(default="", sa_type=sa.Text)
    units: str = Field(max_length=20)
    billing_npi: str | None = Field(default=None, max_length=40)
    recorded_at: dt.datetime
    counts: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})


class ClaimState(SQLModel, table=True):
    """Each claim id's state in the history: its latest scrub (status, scrub id, the key that sent it:
    its owner) and what the billing system said it did with it (submitted, voided, replaced)."""
    __tablename__ = "claim_state"
    claim_id: str = Field(primary_key=True, max_length=80)
    scrub_status: str | None = Field(default=None, max_length=4)  # none: not known (recorded before 0003)
    scrub_id: str | None = Field(default=None, max_length=26)
    api_key_id: str | None = Field(default=None, max_length=40)
    submission: str | None = Field(default=None, max_length=10)  # submitted, voided, replaced; none: not said
    replaced_by: str | None = Field(default=None, max_length=80)
    submission_date: dt.date | None = None
    updated_at: dt.datetime


class ClaimStatusChange(SQLModel, table=True):
    """Who said what a claim became, and when: every change of a claim's submission state, from
    POST /v1/claims/submissions or from a scrubbed claim's own fields (`scrub_id`)."""
    __tablename__ = "claim_status_change"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(index=True)
    claim_id: str = Field(index=True, max_length=80)
    status: str = Field(max_length=10)
    replaced_by: str | None = Field(default=None, max_length=80)
    status_date: dt.date | None = None
    key_id: str | None = Field(default=None, max_length=40)  # none: loopback without keys
    role: str | None = Field(default=None, max_length=20)  # none: said by a scrubbed claim's fields
    scrub_id: str | None = Field(default=None, max_length=26)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    key_id: str = Field(primary_key=True, max_length=40)
    key_hash: str = Field(unique=True, max_length=64)
    role: str = Field(max_length=20)
    label: str | None = Field(default=None, max_length=200)
    created_at: dt.datetime
    revoked: bool = False
    expires_at: dt.datetime | None = None  # none: never expires
    revoked_at: dt.datetime | None = None


class ClaimAccess(SQLModel, table=True):
    """Who read which stored claim, and when (every GET of a scrub, every list of scrubs)."""
    __tablename__ = "claim_access"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(index=True)
    key_id: str | None = Field(default=None, index=True, max_length=40)  # none: loopback without keys
    role: str = Field(max_length=20)
    action: str = Field(max_length=20)  # "get" (one stored claim) or "list" (summaries)
    scrub_id: str | None = Field(default=None, index=True, max_length=26)
    claim_id: str | None = Field(default=None, max_length=80)
    detail: str = Field(default="", sa_type=sa.Text)  # JSON: filters and count for a list


class ServiceState(SQLModel, table=True):
    """Small shared facts every worker process must agree on (the rule set generation)."""
    __tablename__ = "service_state"
    name: str = Field(primary_key=True, max_length=40)
    value: str = Field(sa_type=sa.Text)  # JSON
    updated_at: dt.datetime


class ScrubRollup(SQLModel, table=True):
    """Counts of purged scrubs per day, payer and status: /v1/stats keeps them after a purge."""
    __tablename__ = "scrub_rollup"
    id: int | None = Field(default=None, primary_key=True)
    day: dt.date = Field(index=True)
    payer_id: str | None = Field(default=None, max_length=40)
    status: str = Field(max_length=4)
    scrubs: int


class FindingRollup(SQLModel, table=True):
    """Counts of purged findings per day, payer, rule and severity (findings, and distinct scrubs)."""
    __tablename__ = "finding_rollup"
    id: int | None = Field(default=None, primary_key=True)
    day: dt.date = Field(index=True)
    payer_id: str | None = Field(default=None, max_length=40)
    rule_id: str = Field(max_length=64)
    category: str = Field(max_length=40)
    severity: str = Field(max_length=8)
    findings: int
    scrubs: int


ALL_TABLES = (FindingRecord, ClaimLine, ClaimState, ClaimStatusChange, Scrub, ApiKey, ClaimAccess, ServiceState,
              ScrubRollup, FindingRollup)
"""Every table, in an order that deletes safely (findings before their scrubs)."""
