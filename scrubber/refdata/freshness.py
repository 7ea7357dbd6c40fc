"""How current each reference dataset is: its release, where it came from, its age and whether it is stale.

A release is named per kind: ICD-10-CM by fiscal year ("FY2026", from the dataset's scope), MCE by
version and fiscal year ("v37 (FY2020)", version N is FY N + 1983), the PFS Relative Value file by its
CMS release ("RVU24C", from the scope, starting on the day its detail gives), the quarterly CMS tables (NCCI PTP,
MUE, add-on codes, HCPCS) by quarter ("2026Q3"), place of service by year ("2026"). The quarter or
year is read, first found first, from the release that `scrubber data update` recorded (provenance),
the dataset's detail (the NCCI version v322r0, the MUE effective date) and its file names
(2026q3, AOC_V2026Q3, HCPC2026_OCT, Eff_07-01-2026). A dataset whose release names none is
"unknown" and dated by its load.

Age counts from the release's first day (a quarter's first day; October 1 for a fiscal year;
January 1 for a calendar year), not from the install: a baseline shipped with the package is as old
as the release it was built from. A dataset is stale from the first day of the next release of its
cycle (the catalogue's `cycle`: quarterly, or yearly; yearly is on October 1 for ICD-10-CM and MCE).
Older fiscal years of ICD-10-CM and MCE, and older PPRRVU releases, are kept for claims of those
dates: only the newest loaded one of each can be stale.

The functions above `report` are pure (dataset facts and a day in, facts out); `report` reads the
provenance file and the catalogue.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scrubber.refdata.store import Dataset
from scrubber.refdata.update import load_catalogue, read_provenance

Cycle = Literal["quarterly", "yearly"]
FISCAL_YEAR_KINDS = ("icd10cm", "icd10pcs", "mce")  # one dataset per fiscal year / version; the year starts October 1
RELEASE_KINDS = (*FISCAL_YEAR_KINDS, "pprrvu")  # one dataset per release, older ones kept for older claims
DEFAULT_CYCLES: dict[str, Cycle] = {"ncci-ptp": "quarterly", "mue": "quarterly", "aoc": "quarterly",
                                    "hcpcs": "quarterly", "icd10cm": "yearly", "icd10pcs": "yearly", "mce": "yearly", "pos": "yearly",
                                    # CMS republishes the Order and Referring file weekly: quarterly is the
                                    # shortest cycle known here; the CLIA list and the ASP crosswalk are quarterly
                                    "clia-waived": "quarterly", "order-referring": "quarterly",
                                    "ndc-hcpcs": "quarterly", "hcpcs-opps": "quarterly", "pprrvu": "quarterly"}
_MONTHS = {"jan": 1, "apr": 4, "jul": 7, "oct": 10}


@dataclass(frozen=True)
class Release:
    label: str  # "FY2026", "v37 (FY2020)", "2026Q3", "2026", "unknown"
    start: dt.date  # the release's first day (the load date when unknown)


@dataclass(frozen=True)
class Freshness:
    """One dataset's currency on a day."""

    name: str
    kind: str
    release: str
    release_start: dt.date
    source: Literal["baseline", "import", "update"]
    urls: tuple[str, ...]  # where `scrubber data update` downloaded it from (update only)
    loaded_at: str
    rows: int
    cycle: Cycle
    age_days: int
    stale: bool
    stale_since: dt.date | None  # the first day of the next release (None: superseded fiscal year)
    excerpt: bool  # a shipped excerpt of the CMS table, not the whole table: its silence is not a pass
    detail: str


def next_release(start: dt.date, kind: str, cycle: Cycle) -> dt.date:
    """The first day of the release after the one that began on `start`."""
    if cycle == "quarterly":
        month = (start.month - 1) // 3 * 3 + 1
        return dt.date(start.year + (month + 3 > 12), (month + 3 - 1) % 12 + 1, 1)
    if kind in FISCAL_YEAR_KINDS:
        return dt.date(start.year + (start.month >= 10), 10, 1)
    return dt.date(start.year + 1, 1, 1)


def _quarter_of(text: str) -> tuple[int, int] | None:
    """(year, quarter) named in a label, a detail or a file name, if any."""
    text = text.lower()
    if m := re.search(r"v(\d{2}[0-3])r\d+", text):  # NCCI version: year - 1994, then quarter - 1
        return 1994 + int(m[1]) // 10, int(m[1]) % 10 + 1
    if m := re.search(r"(?<!\d)(\d{4})[-_ ]?q([1-4])(?!\d)", text):
        return int(m[1]), int(m[2])
    if m := re.search(r"eff_?(\d{2})-\d{2}-(\d{4})", text):
        return int(m[2]), (int(m[1]) - 1) // 3 + 1
    if m := re.search(r"(?<!\d)(\d{4})-(\d{2})-\d{2}(?!\d)", text):
        return int(m[1]), (int(m[2]) - 1) // 3 + 1
    if m := re.search(r"(jan|apr|jul|oct)[a-z]*[-_ ]?(\d{4})(?!\d)", text):
        return int(m[2]), (_MONTHS[m[1]] - 1) // 3 + 1
    if m := re.search(r"(?<!\d)(\d{4})[-_ ]?(jan|apr|jul|oct)", text):
        return int(m[1]), (_MONTHS[m[2]] - 1) // 3 + 1
    return None


def _year_of(text: str) -> int | None:
    m = re.search(r"(?<!\d)(20\d{2})(?!\d)", text)
    return int(m[1]) if m else None


def _loaded_day(loaded_at: str) -> dt.date:
    return dt.date.fromisoformat(loaded_at[:10])


def release_of(dataset: Dataset, recorded_release: str | None = None) -> Release:
    """The release a dataset holds (see the module docstring); `recorded_release` is the label
    `scrubber data update` recorded for this load, if any."""
    scope = dataset.name.split(":", 1)[1] if ":" in dataset.name else ""
    if dataset.kind in ("icd10cm", "icd10pcs") and scope.isdigit():
        return Release(f"FY{scope}", dt.date(int(scope) - 1, 10, 1))
    if dataset.kind == "mce" and scope.isdigit():
        fy = int(scope) + 1983
        return Release(f"v{scope} (FY{fy})", dt.date(fy - 1, 10, 1))
    if dataset.kind == "pprrvu" and (m := re.search(r"from (\d{4}-\d{2}-\d{2})", dataset.detail)):
        return Release(scope, dt.date.fromisoformat(m[1]))  # detail "RVU24AR from 2024-03-09"
    if dataset.kind == "pos":  # the first year the label, the detail or a file name gives
        years = [y for y in map(_year_of, [recorded_release or "", dataset.detail, *dataset.files.split(", ")]) if y]
        if years:
            return Release(str(years[0]), dt.date(years[0], 1, 1))
    else:  # the label, else the detail, else the latest quarter any file names
        files = [q for q in map(_quarter_of, dataset.files.split(", ")) if q]
        found = _quarter_of(recorded_release or "") or _quarter_of(dataset.detail) or (max(files) if files else None)
        if found:
            year, quarter = found
            return Release(f"{year}Q{quarter}", dt.date(year, 3 * quarter - 2, 1))
    return Release("unknown", _loaded_day(dataset.loaded_at))


def freshness(dataset: Dataset, today: dt.date, *, cycle: Cycle | None = None,
              provenance: Mapping[str, Any] | None = None, superseded: bool = False) -> Freshness:
    """A dataset's release, source, age and staleness on `today`. `provenance` is its record from
    `scrubber data update` (used only when it belongs to this load); `superseded`: a newer fiscal
    year of the kind is loaded (an ICD-10-CM or MCE year kept for older claims is never stale)."""
    cycle = cycle or DEFAULT_CYCLES.get(dataset.kind, "quarterly")
    recorded = provenance if provenance and provenance.get("loaded_at") == dataset.loaded_at else None
    release = release_of(dataset, str(recorded["release"]) if recorded and recorded.get("release") else None)
    source: Literal["baseline", "import", "update"] = (
        "baseline" if dataset.source.startswith("baseline") else "update" if recorded else "import")
    urls = tuple(str(f["url"]) for f in recorded.get("files", []) if f.get("url")) if recorded else ()
    due = None if superseded else next_release(release.start, dataset.kind, cycle)
    return Freshness(dataset.name, dataset.kind, release.label, release.start, source, urls, dataset.loaded_at,
                     dataset.rows, cycle, max((today - release.start).days, 0), due is not None and today >= due, due,
                     dataset.excerpt, dataset.detail)


def freshness_of_all(loaded: Iterable[Dataset], today: dt.date, *, cycles: Mapping[str, Cycle] | None = None,
                     provenance: Mapping[str, Mapping[str, Any]] | None = None) -> list[Freshness]:
    """Every dataset's freshness; of ICD-10-CM, MCE and PPRRVU only the newest loaded year or release can be stale."""
    loaded = list(loaded)
    cycles = cycles or DEFAULT_CYCLES
    provenance = provenance or {}
    newest: dict[str, Dataset] = {}
    for d in loaded:
        if d.kind in RELEASE_KINDS and (d.kind not in newest or
                                        release_of(d).start > release_of(newest[d.kind]).start):
            newest[d.kind] = d
    return [freshness(d, today, cycle=cycles.get(d.kind), provenance=provenance.get(d.name),
                      superseded=d.kind in newest and newest[d.kind] is not d) for d in loaded]


@functools.cache
def catalogue_cycles() -> dict[str, Cycle]:
    """Each kind's publication cycle, from the shipped catalogue (the defaults for kinds it lacks); read once."""
    return {**DEFAULT_CYCLES, **{entry.kind: entry.cycle for entry in load_catalogue().datasets}}


def report(data_dir: str | Path, loaded: Iterable[Dataset], today: dt.date | None = None) -> list[Freshness]:
    """The freshness of the loaded datasets of a data directory, with its provenance and the catalogue's cycles."""
    return freshness_of_all(loaded, today or dt.date.today(), cycles=catalogue_cycles(),
                            provenance=read_provenance(data_dir))
