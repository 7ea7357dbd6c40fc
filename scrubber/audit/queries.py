"""What the audit store's queries share: stored times as UTC, day windows, and pages of results."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def start_of(day: dt.date) -> dt.datetime:
    """00:00 UTC of a day: a window of days is [start_of(since), start_of(until + 1 day))."""
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)


def aware(moment: dt.datetime) -> dt.datetime:
    """A stored time as UTC (SQLite gives it back without its zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def day_of(column, dialect: str):
    """The UTC calendar day of a stored time, in SQL."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite keeps UTC times as text


def as_date(value) -> dt.date:
    """A day read back from SQL (a date, or ISO text from SQLite) as a date."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@dataclass
class Page:
    """One page of a listing, newest first; `next_cursor` asks for the next page (None: the last)."""
    items: list[dict]
    next_cursor: str | None
