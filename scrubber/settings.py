"""The configuration (shared/contract.md), all optional, read from the environment in one place.

`settings()` reads it anew on each call (the `scrubber` commands and the tests change the
environment between calls); a value that cannot be used stops with a message naming the setting.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

PROJECT = Path(__file__).resolve().parent.parent
MAX_RETENTION_DAYS = 36500


def shipped(name: str) -> Path:
    """A folder shipped with the scrubber (`rules`, `payers`, `openapi`): the checkout's, or in an installed
    wheel the copy inside the package (setup.py puts it there)."""
    checkout = PROJECT / name
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "shipped" / name


@dataclass(frozen=True)
class Settings:
    rules_dir: str  # SCRUBBER_RULES_DIR: the rule files to load (default: the shipped rules/)
    payers_dir: str  # SCRUBBER_PAYERS_DIR: the payer profiles to load (default: the shipped payers/)
    data_dir: str  # SCRUBBER_DATA_DIR: the embedded database and the reference data (default: ./var)
    database_url: str | None  # SCRUBBER_DATABASE_URL: any SQLAlchemy URL (default: SQLite under data_dir)
    bootstrap_key: str | None  # SCRUBBER_BOOTSTRAP_KEY: an admin key created at start-up
    retention_days: int | None  # SCRUBBER_RETENTION_DAYS: stored scrubs are purged after this many days

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        return cls(rules_dir=environ.get("SCRUBBER_RULES_DIR") or str(shipped("rules")),
                   payers_dir=environ.get("SCRUBBER_PAYERS_DIR") or str(shipped("payers")),
                   data_dir=environ.get("SCRUBBER_DATA_DIR") or "./var",
                   database_url=environ.get("SCRUBBER_DATABASE_URL") or None,
                   bootstrap_key=environ.get("SCRUBBER_BOOTSTRAP_KEY") or None,
                   retention_days=_retention_days(environ.get("SCRUBBER_RETENTION_DAYS") or ""))


def settings() -> Settings:
    """The configuration as the environment gives it now."""
    return Settings.from_environment()


def _retention_days(text: str) -> int | None:
    """Stored scrubs older than this many days are purged (their counts stay in /v1/stats); empty:
    kept forever. ValueError, naming the setting, if it is not a whole number of days of at least 1."""
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= MAX_RETENTION_DAYS:
        raise ValueError(f"SCRUBBER_RETENTION_DAYS must be a whole number of days, at least 1 and at most "
                         f"{MAX_RETENTION_DAYS} (it is {text[:20]!r})")
    return int(text)
