"""scrubber.refdata.freshness: each dataset's release, source, age and staleness, on fixed days either side
of a release boundary."""
from __future__ import annotations

import datetime as dt

import pytest

from scrubber.refdata.freshness import Release, freshness, freshness_of_all, next_release, release_of
from scrubber.refdata.store import Dataset

LOADED = "2026-12-06T11:00:00+00:00"


def dataset(name: str, files: str = "", detail: str = "", source: str = "baseline:abc") -> Dataset:
    return Dataset(name, name.split(":")[0], source, files, 10, LOADED, detail)


NCCI = dataset("ncci-ptp:practitioner", "ncci_ptp_practitioner_2026q3.excerpt.txt")
MUE = dataset("mue:practitioner", "mue_practitioner_2026-07-01.excerpt.csv", "2026-07-01")
HCPCS = dataset("hcpcs", "hcpcs_level2_2022.csv, hcpcs_2026_oct.excerpt.csv")
ICD = dataset("icd10cm:2026", "scrubber/data/icd10cm (FY2026)")


@pytest.mark.parametrize("data, label, start", [
    (NCCI, "2026Q3", dt.date(2026, 7, 1)),
    (dataset("ncci-ptp:hospital", "ccioph-v321r0-f1.txt", "v321r0", "import"), "2026Q2", dt.date(2026, 4, 1)),
    (MUE, "2026Q3", dt.date(2026, 7, 1)),
    (dataset("aoc", "AOC_V2026Q2-MCR.csv", source="import"), "2026Q2", dt.date(2026, 4, 1)),
    (HCPCS, "2026Q4", dt.date(2026, 10, 1)),  # the latest file: October 2026 over the 2022 list
    (ICD, "FY2026", dt.date(2025, 10, 1)),
    (dataset("mce:37"), "v37 (FY2020)", dt.date(2019, 10, 1)),
    (dataset("pos", "place-of-service-2026.csv", source="import"), "2026", dt.date(2026, 1, 1)),
    (dataset("pos", "place_of_service.csv"), "unknown", dt.date(2026, 12, 6)),  # dated by its load
])
def test_release_of_each_kind(data, label, start):
    assert release_of(data) == Release(label, start)


def test_a_recorded_release_comes_before_the_file_names():
    assert release_of(dataset("hcpcs", "x.csv"), "july 2026").label == "2026Q3"
    assert release_of(NCCI, "2026Q4 (v323r0)").label == "2026Q4"


@pytest.mark.parametrize("start, kind, cycle, due", [
    (dt.date(2026, 7, 1), "ncci-ptp", "quarterly", dt.date(2026, 10, 1)),
    (dt.date(2026, 10, 1), "hcpcs", "quarterly", dt.date(2027, 1, 1)),
    (dt.date(2025, 10, 1), "icd10cm", "yearly", dt.date(2026, 10, 1)),
    (dt.date(2026, 1, 1), "pos", "yearly", dt.date(2027, 1, 1)),
])
def test_next_release(start, kind, cycle, due):
    assert next_release(start, kind, cycle) == due


@pytest.mark.parametrize("today, stale, age", [
    (dt.date(2026, 9, 30), False, 91),  # the last day of the quarter
    (dt.date(2026, 10, 1), True, 92),  # the next quarter's release is due
])
def test_a_quarterly_table_is_stale_from_the_next_quarter(today, stale, age):
    f = freshness(NCCI, today, cycle="quarterly")
    assert (f.release, f.age_days, f.stale, f.stale_since) == ("2026Q3", age, stale, dt.date(2026, 10, 1))
    assert (f.source, f.urls) == ("baseline", ())


@pytest.mark.parametrize("today, stale", [(dt.date(2026, 9, 30), False), (dt.date(2026, 10, 1), True)])
def test_icd10cm_is_stale_from_october_1(today, stale):
    f = freshness(ICD, today, cycle="yearly")
    assert (f.stale, f.stale_since, f.age_days) == (stale, dt.date(2026, 10, 1), (today - dt.date(2025, 10, 1)).days)


def test_only_the_newest_fiscal_year_can_be_stale():
    found = {f.name: f for f in freshness_of_all([dataset("icd10cm:2025"), ICD], dt.date(2026, 12, 6))}
    assert (found["icd10cm:2025"].stale, found["icd10cm:2025"].stale_since) == (False, None)
    assert found["icd10cm:2026"].stale


def test_an_update_names_its_urls_and_an_older_record_is_ignored():
    imported = dataset("ncci-ptp:hospital", "ccioph-v323r0-f1.txt", "", "import")
    record = {"release": "2027Q1 (v330r0)", "loaded_at": LOADED,
              "files": [{"url": "https://www.cms.gov/f1.zip"}, {"url": "https://www.cms.gov/f2.zip"}]}
    f = freshness(imported, dt.date(2027, 1, 2), provenance=record)
    assert (f.source, f.urls, f.release, f.stale) == ("update", ("https://www.cms.gov/f1.zip",
                                                                 "https://www.cms.gov/f2.zip"), "2027Q1", False)
    older = freshness(imported, dt.date(2027, 1, 2), provenance={**record, "loaded_at": "2026-01-01T00:00:00+00:00"})
    assert (older.source, older.urls, older.release, older.stale) == ("import", (), "2026Q4", True)
