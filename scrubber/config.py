"""Configuration from the environment (shared/contract.md), all optional."""
from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
MAX_RETENTION_DAYS = 36500


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


def retention_days() -> int | None:
    """SCRUBBER_RETENTION_DAYS: stored scrubs older than this many days are purged (their counts
    stay in /v1/stats); unset or empty: kept forever. ValueError, naming the setting, if it is not
    a whole number of days of at least 1."""
    text = (os.environ.get("SCRUBBER_RETENTION_DAYS") or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= MAX_RETENTION_DAYS:
        raise ValueError(f"SCRUBBER_RETENTION_DAYS must be a whole number of days, at least 1 and at most "
                         f"{MAX_RETENTION_DAYS} (it is {text[:20]!r})")
    return int(text)
