"""Code search: the codes of one system (ICD-10-CM, HCPCS Level II, modifiers, place of service) valid on a
date whose code starts with the query, or whose description holds every word of it. What a coder types in
the workbench's code look-up; `ReferenceData.search_codes` runs it on the reference database.

Matching is SQL LIKE: a code prefix (ICD-10-CM without its dot) and, for the words, a case-insensitive
substring each; codes matched by their prefix come first, then by code. At most MAX_LIMIT rows."""
from __future__ import annotations

import datetime as dt
import re
import sqlite3
from dataclasses import dataclass
from typing import Literal

from scrubber.errors import ScrubberError
from scrubber.refdata.icd10cm import fiscal_year

SearchSystem = Literal["icd10cm", "hcpcs", "modifier", "pos"]
SYSTEMS: tuple[str, ...] = ("icd10cm", "hcpcs", "modifier", "pos")
MAX_LIMIT = 50
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.'/-]*")  # a word starts with a letter or digit
_CODE_PREFIX = re.compile(r"^[A-Za-z0-9.]{1,8}$")
_ESCAPE = "ESCAPE '\\'"  # LIKE patterns below escape their wildcards with a backslash


class CodeSearchError(ScrubberError):
    """A search that cannot be run: no word to look for, an unknown system, a bad limit."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CodeMatch:
    """One code found: as stored (ICD-10-CM without its dot), its description, whether it is billable
    (ICD-10-CM only: False for a header), and its validity dates where the code set has them."""

    code: str
    description: str
    billable: bool | None = None
    effective_date: dt.date | None = None
    termination_date: dt.date | None = None


def _like(text: str) -> str:
    """`text` with LIKE's wildcards escaped (ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _date(value: int | None) -> dt.date | None:
    return dt.date(value // 10000, value // 100 % 100, value % 100) if value else None


def search(conn: sqlite3.Connection, system: str, query: str, on: dt.date, limit: int = 20,
           icd10cm_years: tuple[int, ...] = ()) -> tuple[CodeMatch, ...]:
    """The codes of `system` valid on `on` matching `query` (see the module), at most `limit` of them.
    ICD-10-CM is searched in the fiscal year of `on`, else the nearest loaded year (`icd10cm_years`)."""
    if system not in SYSTEMS:
        raise CodeSearchError("system", f"codes of {system!r} cannot be searched; one of: {', '.join(SYSTEMS)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise CodeSearchError("limit", f"limit must be from 1 to {MAX_LIMIT}")
    words = _WORD.findall(query)
    if not words:
        raise CodeSearchError("q", "give a code prefix or words of the description (letters and digits)")
    prefix = words[0].replace(".", "").upper() if len(words) == 1 and _CODE_PREFIX.match(words[0]) else None
    by_words = " AND ".join(f"description LIKE ? {_ESCAPE}" for _ in words)
    word_params: list[object] = [f"%{_like(w)}%" for w in words]
    if prefix:
        matches = f"(code LIKE ? {_ESCAPE} OR ({by_words}))"
        params: list[object] = [_like(prefix) + "%", *word_params]
        order, order_params = f"CASE WHEN code LIKE ? {_ESCAPE} THEN 0 ELSE 1 END, code", [_like(prefix) + "%"]
    else:
        matches, params, order, order_params = f"({by_words})", word_params, "code", []
    day = on.year * 10000 + on.month * 100 + on.day
    if system == "icd10cm":
        if not icd10cm_years:
            return ()
        fy = fiscal_year(on)
        year = fy if fy in icd10cm_years else min(icd10cm_years, key=lambda y: (abs(y - fy), -y))
        rows = conn.execute(
            f"SELECT code, description, billable FROM icd10cm WHERE fy = ? AND {matches} "
            f"ORDER BY {order} LIMIT ?", (year, *params, *order_params, limit))
        return tuple(CodeMatch(code, description, bool(billable)) for code, description, billable in rows)
    if system == "pos":
        rows = conn.execute(
            f"SELECT code, description, effective_date, termination_date FROM pos WHERE {matches} "
            "AND (effective_date IS NULL OR effective_date <= ?) AND (termination_date IS NULL OR termination_date >= ?) "
            f"ORDER BY {order} LIMIT ?", (*params, day, day, *order_params, limit))
        return tuple(CodeMatch(code, description, None, _date(start), _date(end)) for code, description, start, end in rows)
    rows = conn.execute(  # hcpcs or modifier: billable from ADD DT (else ACT EFF DT) through TERM DT
        f"SELECT code, description, COALESCE(add_date, effective_date), termination_date FROM hcpcs "
        f"WHERE is_modifier = ? AND {matches} "
        "AND (COALESCE(add_date, effective_date) IS NULL OR COALESCE(add_date, effective_date) <= ?) "
        "AND (termination_date IS NULL OR termination_date >= ?) "
        f"ORDER BY {order} LIMIT ?", (int(system == "modifier"), *params, day, day, *order_params, limit))
    return tuple(CodeMatch(code, description, None, _date(start), _date(end)) for code, description, start, end in rows)
