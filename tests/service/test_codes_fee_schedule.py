"""GET /v1/codes/{cpt,hcpcs}/{code}?date= with the code's Medicare physician fee schedule facts (PPRRVU) on that
date, from the shipped 2024 baseline and after importing the October 2025 excerpt; /v1/data and /readyz list the
PPRRVU releases with their age."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scrubber.refdata.fee_schedule import STATUS_MEANINGS
from scrubber.refdata.importers import import_files
from scrubber.refdata.store import ReferenceData, database_path
from scrubber.service.app import create_app

EXCERPT = Path(__file__).parents[1] / "fixtures" / "cms" / "PPRRVU2025_Oct.excerpt.nodesc.csv"


@pytest.fixture()
def coder(store):
    """A client on the session's reference data (the shipped baseline) and a coder's key."""
    key = store.create_key("coder", label="test coder")[1]
    with TestClient(create_app(store=store)) as client:
        yield lambda path, **params: client.get(path, params=params, headers={"X-API-Key": key})


@pytest.fixture()
def coder_after_import(store, data_dir, tmp_path):
    """The same, on a copy of the reference data with the October 2025 excerpt imported (RVU25D)."""
    shutil.copy(database_path(data_dir), database_path(tmp_path))
    import_files("pprrvu", [EXCERPT], tmp_path)
    key = store.create_key("coder", label="test coder")[1]
    with TestClient(create_app(store=store, reference=ReferenceData(database_path(tmp_path)))) as client:
        yield lambda path, **params: client.get(path, params=params, headers={"X-API-Key": key})


def test_a_cpt_code_has_its_fee_schedule_facts_in_the_newest_release(coder):
    body = coder("/v1/codes/cpt/27447", date="2026-02-15").json()
    assert (body["status"], body["fee_schedule_note"]) == ("valid_shape", None)
    assert body["fee_schedule"] == {
        "release": "RVU24C", "effective_from": "2024-07-01", "effective_to": None, "status": "A",
        "status_meaning": STATUS_MEANINGS["A"], "pctc": "0", "global_days": "090", "mult_proc": "2",
        "bilateral": "1", "assistant": "2", "co_surgeon": "1", "team": "0", "endo_base": None,
        "imaging_family": "99", "modifiers": []}


def test_hcpcs_lookup_gives_the_modifier_rows_and_status_meaning(coder):
    chest = coder("/v1/codes/hcpcs/71046", date="2026-02-15").json()["fee_schedule"]
    prolonged = coder("/v1/codes/hcpcs/99417", date="2026-02-15").json()["fee_schedule"]
    ecg = coder("/v1/codes/cpt/93010", date="2026-02-15").json()["fee_schedule"]
    assert (chest["pctc"], chest["modifiers"]) == ("1", ["26", "TC"])
    assert (prolonged["status"], prolonged["status_meaning"]) == (
        "I", "not valid for Medicare purposes: Medicare uses another code for reporting and payment")
    assert (ecg["pctc"], ecg["modifiers"]) == ("2", [])


def test_the_release_follows_the_date(coder):
    march = coder("/v1/codes/hcpcs/G0438", date="2024-03-20").json()["fee_schedule"]
    assert (march["release"], march["effective_from"], march["effective_to"]) == ("RVU24AR", "2024-03-09", "2024-03-31")


def test_no_fee_schedule_says_why(coder):
    before = coder("/v1/codes/cpt/99213", date="2023-12-31").json()
    absent = coder("/v1/codes/hcpcs/ZZ999", date="2026-02-15").json()
    icd = coder("/v1/codes/icd10cm/E11.9", date="2026-02-15").json()
    assert (before["fee_schedule"], before["fee_schedule_note"]) == (
        None, "no PPRRVU release loaded is in force on 2023-12-31 (the oldest, RVU24A, starts 2024-01-01)")
    assert (absent["fee_schedule"], absent["fee_schedule_note"]) == (
        None, "ZZ999 is not in the PFS Relative Value file, release RVU24C")
    assert (icd["fee_schedule"], icd["fee_schedule_note"]) == (None, None)


def test_after_importing_rvu25d_later_dates_are_judged_by_it(coder_after_import):
    office = coder_after_import("/v1/codes/cpt/99213", date="2026-02-15").json()["fee_schedule"]
    missing = coder_after_import("/v1/codes/cpt/99215", date="2026-02-15").json()
    earlier = coder_after_import("/v1/codes/cpt/99215", date="2025-09-30").json()["fee_schedule"]
    assert (office["release"], office["effective_from"], office["status"]) == ("RVU25D", "2025-10-01", "A")
    assert missing["fee_schedule_note"] == "99215 is not in the PFS Relative Value file, release RVU25D"
    assert (earlier["release"], earlier["effective_to"]) == ("RVU24C", "2025-09-30")


def test_data_status_and_readyz_list_the_pprrvu_releases_with_their_age(coder):
    listed = {d["name"]: d for d in coder("/v1/data").json()["datasets"]}
    newest = listed["pprrvu:RVU24C"]
    assert (newest["kind"], newest["release"], newest["release_start"], newest["cycle"], newest["stale"],
            newest["stale_since"], newest["rows"]) == ("pprrvu", "RVU24C", "2024-07-01", "quarterly", True,
                                                       "2024-10-01", 18664)
    assert [listed[f"pprrvu:{r}"]["stale"] for r in ("RVU24A", "RVU24AR", "RVU24B")] == [False, False, False]
    ready = coder("/readyz").json()
    assert "pprrvu:RVU24C" in ready["data"]["stale"]
