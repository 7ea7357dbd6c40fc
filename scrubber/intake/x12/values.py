"""X12 element values (dates, amounts, units, blanks) and the contract findings a reading gives.

A finding of the reader is a contract finding (``scrubber.contract.claim.Finding`` as a dict):
rule_id ``x12-...``, severity error, CARC CO-16, source ``x12``; :func:`at` says where in the
interchange the problem is, for its message.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from scrubber.intake.x12.segments import Segment

__all__ = ["SOURCE", "at", "blank", "finding", "iso_date", "parse_date", "parse_decimal", "parse_money", "parse_units"]

SOURCE = "x12"
# dates, amounts and units repeat across the claims of a file: their readings are remembered (pure
# functions of the text, immutable results), which saves the reader most of its date and Decimal work
_CACHED = 4096
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def finding(rule: str, category: str, message: str, *, field: str | None = None, line: int | None = None,
            rarc: str | None = "MA130", suggestion: str | None = None, severity: str = "error") -> dict[str, Any]:
    """A contract finding of the reader: rule ``x12-<rule>``, severity error, CARC CO-16; a notice
    (``severity`` info or warning) has no CARC or RARC, since nothing is denied for it."""
    error = severity == "error"
    return {"rule_id": f"x12-{rule}", "category": category, "severity": severity, "message": message,
            "lines": [] if line is None else [line], "field": field, "carc": "CO-16" if error else None,
            "rarc": rarc if error else None, "suggestion": suggestion, "source": SOURCE}


def at(seg: Segment, element: int | None = None, show: bool = True) -> str:
    """'HI at segment 24, HI01 'BK:8540'' - where a problem is, for a message."""
    where = f"{seg.id} at segment {seg.position}"
    if element is None:
        return where
    where += f", {seg.id}{element:02d}"
    raw = seg.get(element)
    return f"{where} {raw!r}" if show and raw else where


@lru_cache(maxsize=_CACHED)
def parse_date(text: str) -> dt.date | None:
    """A CCYYMMDD date, or None."""
    if len(text) == 8 and text.isascii() and text.isdigit():
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return None
    return None


@lru_cache(maxsize=_CACHED)
def iso_date(date: dt.date) -> str:
    """``date`` as the contract's ISO date string (the same few dates come back claim after claim)."""
    return date.isoformat()


def parse_decimal(text: str) -> Decimal | None:
    """An X12 decimal number ('-1.5', '.5', '100'), or None."""
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes it
        return None


@lru_cache(maxsize=_CACHED)
def parse_money(text: str) -> str | None:
    """An X12 amount ('766.5', '100') as the contract's decimal string, or None."""
    value = parse_decimal(text)
    if value is None or abs(value) >= 10**9 or value != value.quantize(Decimal("0.01")):
        return None
    return f"{value:.2f}"


@lru_cache(maxsize=_CACHED)
def parse_units(text: str) -> int | float | None:
    """Units of service: below 10,000,000 with at most 3 decimals, an int when whole; or None."""
    value = parse_decimal(text)
    if value is None or abs(value) >= 10**7 or value != value.quantize(Decimal("0.001")):
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def blank(text: str) -> str | None:
    """The value without surrounding blanks, None when nothing is left."""
    text = text.strip()
    return text or None
