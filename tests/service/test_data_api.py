"""GET /v1/data and the freshness in /readyz: every reference dataset with its release, source, age and
stale flag; any key reads it; stale data never makes the service unready."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from scrubber.service.app import create_app

ROLES = ("submitter", "coder", "compliance", "admin")
FIELDS = {"name", "kind", "release", "release_start", "source", "urls", "loaded_at", "rows", "cycle", "age_days",
          "stale", "stale_since", "excerpt", "detail", "covers_from", "covers_to"}  # covers_*: code sets by date

# The datasets of the shipped baseline of issue 11 (scrubber/data/SOURCES.md)
ISSUE_11_BASELINE = ("aoc", "hcpcs", "icd10cm:2025", "icd10cm:2026", "icd10cm:2027", "icd10pcs:2026", "icd10pcs:2027",
                     "mce:37", "mce:43", "mce:44", "mue:practitioner", "ncci-ptp:hospital", "ncci-ptp:practitioner",
                     "pos")


@pytest.fixture()
def keyed(store):
    keys = {role: store.create_key(role, label=f"test {role}")[1] for role in ROLES}
    with TestClient(create_app(store=store)) as client:
        yield client, keys


def test_every_dataset_is_listed_with_its_freshness(keyed, reference):
    client, keys = keyed
    response = client.get("/v1/data", headers={"X-API-Key": keys["submitter"]})
    assert response.status_code == 200, response.text
    body = response.json()
    listed = {d["name"]: d for d in body["datasets"]}
    assert set(listed) == {d.name for d in reference.datasets()}
    for d in listed.values():
        assert set(d) == FIELDS
        assert d["source"] == "baseline" and d["urls"] == [] and d["age_days"] >= 0
    assert body["stale"] == sorted(name for name, d in listed.items() if d["stale"])
    assert listed["icd10cm:2026"]["release"] == "FY2026"
    assert listed["icd10cm:2026"]["release_start"] == "2025-10-01"
    # v37 is kept for FY2020-FY2025 claims beside v43.1 and v44: a superseded fiscal year is never stale
    assert listed["mce:37"]["release"] == "v37 (FY2020)" and not listed["mce:37"]["stale"]
    assert (listed["mce:43"]["release"], listed["mce:43"]["detail"]) == ("v43 (FY2026)", "v43.1")
    assert listed["ncci-ptp:practitioner"]["release"] == "2026Q3"
    assert listed["ncci-ptp:practitioner"]["cycle"] == "quarterly"
    # of the issue 11 baseline, only the practitioner PTP and MUE tables ship as excerpts
    assert {name: listed[name]["excerpt"] for name in ISSUE_11_BASELINE} == {
        name: name in ("mue:practitioner", "ncci-ptp:practitioner") for name in ISSUE_11_BASELINE}
    assert (listed["ncci-ptp:hospital"]["release"], listed["ncci-ptp:hospital"]["rows"]) == ("2026Q2", 1594456)
    assert listed["ncci-ptp:hospital"]["detail"] == (
        "2026Q2 (I/OCE 27.1): the complete hospital outpatient table, with its history back to I/OCE 20.2")
    assert (listed["aoc"]["release"], listed["aoc"]["rows"]) == ("2026Q2", 8556)


@pytest.mark.parametrize("role", ROLES)
def test_any_key_reads_it(keyed, role):
    client, keys = keyed
    assert client.get("/v1/data", headers={"X-API-Key": keys[role]}).status_code == 200


def test_no_key_is_refused_once_keys_exist(keyed):
    client, _ = keyed
    response = client.get("/v1/data")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_readyz_carries_the_freshness_and_stays_ready_with_stale_data(keyed):
    client, keys = keyed
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["data"]["stale"], "the shipped 2026Q2/2026Q3 NCCI tables are stale, and the service is ready all the same"
    assert body["data"] == client.get("/v1/data", headers={"X-API-Key": keys["admin"]}).json()
