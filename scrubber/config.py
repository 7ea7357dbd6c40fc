"""Configuration from the environment (shared/contract.md), all optional."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def rules_dir() -> str:
    return os.environ.get("SCRUBBER_RULES_DIR") or str(PROJECT / "rules")


def payers_dir() -> str:
    return os.environ.get("SCRUBBER_PAYERS_DIR") or str(PROJECT / "payers")


def data_dir() -> str:
    return os.environ.get("SCRUBBER_DATA_DIR") or "./var"


def database_url() -> str | None:
    return os.environ.get("SCRUBBER_DATABASE_URL") or None


def bootstrap_key() -> str | None:
    return os.environ.get("SCRUBBER_BOOTSTRAP_KEY") or None
