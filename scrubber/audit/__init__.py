"""The audit trail: scrubs, findings, claim-line history, API keys and access log, in SQLModel with Alembic migrations."""
