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
