"""The dates of service each loaded code set can judge: what `GET /v1/data`, `scrubber data status` and the
coding edits say about the code sets held for which dates.

- ICD-10-CM and ICD-10-PCS: one release per fiscal year, October 1 to September 30.
- MCE: version N is for fiscal year N + 1983 and judges every later year until the next loaded version.
- HCPCS Level II: one table whose codes carry their add and termination dates. It is complete back to
  the quarter of its earliest termination date (a code that ended before it is not in the table:
  the shipped baseline's history starts with the I/OCE 20.2 quarter, 2019Q3) and up to the last day
  of its release quarter (2026Q2: 2026-06-30); a code it lacks outside those dates was not checked.
- No ICD-9-CM code set is held: dates of service before 2015-10-01 have no diagnosis code set.

Other datasets (NCCI, MUE, place of service...) have no span here (None).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from scrubber.refdata.freshness import release_of
from scrubber.refdata.store import Dataset

CODE_SET_KINDS = ("icd10cm", "icd10pcs", "mce", "hcpcs")


@dataclass(frozen=True)
class Span:
    """The first and last date of service a dataset judges (None: open or not known)."""

    first: dt.date | None
    last: dt.date | None


def quarter_label(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def quarter_end(day: dt.date) -> dt.date:
    month = quarter_start(day).month + 3
    return dt.date(day.year + (month > 12), (month - 1) % 12 + 1, 1) - dt.timedelta(days=1)


def hcpcs_history_start(earliest_termination: dt.date | None) -> dt.date | None:
    """The first day of the quarter of the earliest termination date of a HCPCS Level II code held
    (ReferenceData.hcpcs_earliest_termination): the table holds every code in force from that day on."""
    return quarter_start(earliest_termination) if earliest_termination is not None else None


def spans(loaded: Iterable[Dataset], hcpcs_start: dt.date | None = None) -> dict[str, Span]:
    """The span of dates of service of every loaded code-set dataset (see the module docstring)."""
    loaded = list(loaded)
    out: dict[str, Span] = {}
    mce = sorted((int(d.name.split(":", 1)[1]), d.name) for d in loaded
                 if d.kind == "mce" and d.name.split(":", 1)[-1].isdigit())
    for i, (version, name) in enumerate(mce):
        fy = version + 1983
        following = mce[i + 1][0] + 1983 if i + 1 < len(mce) else fy + 1
        out[name] = Span(dt.date(fy - 1, 10, 1), dt.date(following - 1, 9, 30))
    for d in loaded:
        scope = d.name.split(":", 1)[1] if ":" in d.name else ""
        if d.kind in ("icd10cm", "icd10pcs") and scope.isdigit():
            out[d.name] = Span(dt.date(int(scope) - 1, 10, 1), dt.date(int(scope), 9, 30))
        elif d.kind == "hcpcs":
            release = release_of(d)
            last = quarter_end(release.start) if release.label != "unknown" else None
            out[d.name] = Span(hcpcs_start or (quarter_start(release.start) if last else None), last)
    return out


def describe(span: Span) -> str:
    """A span in words: '2019Q3 (2019-07-01) to 2026Q2 (2026-06-30)'."""
    first = f"{quarter_label(span.first)} ({span.first})" if span.first else "an unknown date"
    last = f"{quarter_label(span.last)} ({span.last})" if span.last else "an unknown date"
    return f"{first} to {last}"


def describe_dates(span: Span | None) -> str:
    """A span as `scrubber data status` shows it: '2024-10-01..2025-09-30'; '' for none."""
    if span is None:
        return ""
    return f"{span.first or '?'}..{span.last or '?'}"
