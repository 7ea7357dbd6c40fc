"""What the workbench's Rules and Dashboard screens read (issue 16): /v1/stats per day and per payer, how
often each rule fired in the last 30 days (`fired_30d` on GET /v1/rules and /v1/rules/{id}), a rule's
examples and YAML, and the /v1/scrubs filters that list the scrubs behind a dashboard bar."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from scrubber.service.app import create_app
from scrubber.settings import settings
from tests.service.test_limits_and_retention import NPI, POINTER, TIMELY, make_scrub, record_history

UTC = dt.timezone.utc
REPEATED = ("pointer-repeated", "dx_pointer", "warning")


def day(n: int, **status) -> dict:
    """A by_day entry of 3-14 January 2026 from its counts (rate: pass or warn over all)."""
    counts = {"passed": 0, "warned": 0, "failed": 0, **status}
    total = sum(counts.values())
    return {"date": f"2026-01-{n:02d}", "scrubs": total, **counts,
            "clean_claim_rate": round((counts["passed"] + counts["warned"]) / total, 4)}


@pytest.fixture()
def client(store):
    with TestClient(create_app(store=store)) as c:
        yield c


@pytest.fixture()
def admin(store) -> dict[str, str]:
    return {"X-API-Key": store.create_key("admin", label="dashboard test")[1]}


# record_history: 36 scrubs over 3-14 January, three a day (acme-health at 00:59, medicare at 11:59, no payer
# at 23:59); scrub n has the shape n % 4 (pass; warn: TIMELY; fail: NPI, POINTER, POINTER; fail: NPI, TIMELY)
# and the payer n % 3. The shapes repeat every 4 days.
FOUR_DAYS = [day(3, passed=1, warned=1, failed=1), day(4, passed=1, warned=1, failed=1),
             day(5, passed=1, failed=2), day(6, warned=1, failed=2)]


def test_stats_by_day_counts_each_days_scrubs_and_clean_rate(store):
    record_history(store)

    stats = store.stats()

    assert stats["by_day"] == [{**d, "date": f"2026-01-{int(d['date'][-2:]) + 4 * k:02d}"}
                               for k in range(3) for d in FOUR_DAYS]
    assert sum(d["scrubs"] for d in stats["by_day"]) == stats["scrubs"] == 36


def test_stats_by_payer_counts_each_payers_scrubs_and_findings(store):
    record_history(store)

    by_payer = store.stats()["by_payer"]

    # each payer gets every shape three times: 3 pass, 3 warn, 6 fail; findings 3 * (0 + 1 + 3 + 2)
    assert by_payer == [{"payer": payer, "scrubs": 12, "passed": 3, "warned": 3, "failed": 6,
                         "clean_claim_rate": 0.5, "findings": 18} for payer in ("acme-health", "medicare", None)]


def test_stats_by_day_and_payer_within_a_window_and_a_payer(store):
    record_history(store)

    stats = store.stats(since=dt.date(2026, 1, 5), until=dt.date(2026, 1, 6), payer="medicare")

    # 5 January: scrub 7 (fail: NPI, TIMELY); 6 January: scrub 10 (fail: NPI, POINTER, POINTER)
    assert stats["by_day"] == [day(5, failed=1), day(6, failed=1)]
    assert stats["by_payer"] == [{"payer": "medicare", "scrubs": 2, "passed": 0, "warned": 0, "failed": 2,
                                  "clean_claim_rate": 0.0, "findings": 5}]


def test_stats_by_day_and_payer_are_the_same_after_a_purge(store):
    record_history(store)
    before = store.stats(since=dt.date(2026, 1, 4), until=dt.date(2026, 1, 9))

    store.purge(before=dt.date(2026, 1, 8))

    after = store.stats(since=dt.date(2026, 1, 4), until=dt.date(2026, 1, 9))
    assert (after["by_day"], after["by_payer"]) == (before["by_day"], before["by_payer"])
    assert [d["date"] for d in after["by_day"]] == [f"2026-01-{n:02d}" for n in range(4, 10)]


def test_stats_over_http_carries_by_day_and_by_payer(store, client, admin):
    record_history(store)

    stats = client.get("/v1/stats", params={"from": "2026-01-03", "to": "2026-01-04"}, headers=admin).json()

    assert stats["by_day"] == FOUR_DAYS[:2]
    assert [(p["payer"], p["scrubs"], p["findings"]) for p in stats["by_payer"]] == [
        ("acme-health", 2, 2), ("medicare", 2, 1), (None, 2, 4)]


# ----------------------------------------------------------------------------- fired in the last 30 days


def record_at(store, at: dt.datetime, payer: str | None, findings: list, n: int = 1) -> None:
    for i in range(n):
        claim, result = make_scrub(f"F-{payer}-{at:%j%H%M}-{i}", payer, "warn", findings)
        store.record(claim, result, at=at)


@pytest.fixture()
def fired(store):
    """pointer-repeated (a base warning; acme-health overrides it as an error) and npi-check-digit findings
    today, 29 days ago (counted) and 30 days ago (not counted)."""
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    record_at(store, today, "acme-health", [REPEATED], n=2)
    record_at(store, today, "medicare", [REPEATED, REPEATED])  # two findings in one scrub: both count
    record_at(store, today - dt.timedelta(days=29), None, [REPEATED, NPI])
    record_at(store, today - dt.timedelta(minutes=1) - dt.timedelta(days=29), "medicare", [REPEATED, NPI])
    record_at(store, today - dt.timedelta(days=45), "acme-health", [REPEATED])
    return today


def test_rule_counts_are_by_rule_and_payer_within_the_window(store, fired):
    counts = store.rule_counts(since=(fired - dt.timedelta(days=29)).date())

    assert counts == {("pointer-repeated", "acme-health"): 2, ("pointer-repeated", "medicare"): 2,
                      ("pointer-repeated", None): 1, ("npi-check-digit", None): 1}


def test_rules_list_says_how_often_each_version_fired_in_30_days(client, admin, fired):
    rules = client.get("/v1/rules", headers=admin).json()["rules"]
    fired_30d = {(r["id"], r["payer"]): r["fired_30d"] for r in rules}

    # the base rule counts the claims of payers without their own version (medicare: 2, no payer: 1)
    assert fired_30d[("pointer-repeated", None)] == 3
    assert fired_30d[("pointer-repeated", "acme-health")] == 2
    assert fired_30d[("npi-check-digit", None)] == 1
    assert fired_30d[("pointer-invalid", None)] == 0
    assert sum(fired_30d.values()) == 6


def test_rules_list_for_a_payer_counts_that_payers_claims(client, admin, fired):
    medicare = {r["id"]: r for r in client.get("/v1/rules", params={"payer": "Medicare"}, headers=admin).json()["rules"]}
    acme = {r["id"]: r for r in client.get("/v1/rules", params={"payer": "acme-health"}, headers=admin).json()["rules"]}

    assert (medicare["pointer-repeated"]["payer"], medicare["pointer-repeated"]["fired_30d"]) == (None, 2)
    assert (acme["pointer-repeated"]["payer"], acme["pointer-repeated"]["fired_30d"]) == ("acme-health", 2)
    assert medicare["npi-check-digit"]["fired_30d"] == 0


def test_rule_detail_says_how_often_it_fired(client, admin, fired):
    base = client.get("/v1/rules/pointer-repeated", headers=admin).json()
    acme = client.get("/v1/rules/pointer-repeated", params={"payer": "acme-health"}, headers=admin).json()

    assert (base["payer"], base["fired_30d"]) == (None, 3)
    assert (acme["payer"], acme["fired_30d"]) == ("acme-health", 2)


# ----------------------------------------------------------------------------- examples and YAML


def test_rule_detail_carries_its_examples_and_yaml_as_in_its_file(client, admin):
    rule = client.get("/v1/rules/npi-check-digit", headers=admin).json()

    with open(Path(settings().rules_dir) / "npi.yaml", encoding="utf-8") as f:
        written = next(r for r in yaml.safe_load(f)["rules"] if r["id"] == "npi-check-digit")
    assert [e["name"] for e in rule["examples"]] == [e["name"] for e in written["examples"]]
    assert [e["expect"] for e in rule["examples"]] == [e["expect"] for e in written["examples"]]
    assert yaml.safe_load(rule["yaml"]) == rule["definition"]
    assert rule["yaml"].startswith("id: npi-check-digit\ntitle: NPI check digit is wrong\n")


def test_a_payer_generated_rule_has_examples_and_yaml(client, admin):
    rule = client.get("/v1/rules/medicare-timely-filing", headers=admin).json()

    assert rule["examples"] == rule["definition"]["examples"] != []
    assert yaml.safe_load(rule["yaml"])["id"] == "medicare-timely-filing"


# ----------------------------------------------------------------------------- drill-down filters


def listed(client, headers, **filters) -> list[str]:
    response = client.get("/v1/scrubs", params={"limit": 500, **filters}, headers=headers)
    assert response.status_code == 200, response.text
    return sorted(s["claim_id"] for s in response.json()["items"])


def test_scrubs_by_category_and_severity_are_those_behind_the_stats(store, client, admin):
    record_history(store)
    stats = client.get("/v1/stats", headers=admin).json()

    failing = {r["rule_id"]: r["failed_scrubs"] for r in stats["top_failing_rules"]}
    behind_pointer = listed(client, admin, rule_id="pointer-invalid", severity="error")
    timely = listed(client, admin, category="timely_filing")

    # shape 2 (n % 4 == 2) holds pointer-invalid; shapes 1 and 3 hold timely-filing
    assert behind_pointer == sorted(f"H-{n}" for n in range(36) if n % 4 == 2)
    assert len(behind_pointer) == failing["pointer-invalid"] == 9
    assert timely == sorted(f"H-{n}" for n in range(36) if n % 4 in (1, 3))
    assert listed(client, admin, category="timely_filing", severity="error") == []
    assert listed(client, admin, rule_id="npi-check-digit", category="dx_pointer") == []


def test_scrubs_behind_a_day_bar_and_a_payer_bar(store, client, admin):
    record_history(store)

    assert listed(client, admin, **{"from": "2026-01-05", "to": "2026-01-05", "status": "fail"}) == ["H-6", "H-7"]
    assert listed(client, admin, payer="medicare", category="npi") == sorted(
        f"H-{n}" for n in range(36) if n % 3 == 1 and n % 4 in (2, 3))


def test_a_submitter_drills_down_to_its_own_scrubs_only(store, client):
    _, mine = store.create_key("submitter", label="mine")
    key_id, _ = store.create_key("submitter", label="other")
    for i, key in enumerate([None, key_id]):
        claim, result = make_scrub(f"S-{i}", "medicare", "fail", [NPI, TIMELY])
        store.record(claim, result, api_key_id=key, at=dt.datetime(2026, 1, 3, tzinfo=UTC))
    own_id = next(k.key_id for k in store.keys() if k.label == "mine")
    claim, result = make_scrub("S-mine", "medicare", "fail", [POINTER])
    store.record(claim, result, api_key_id=own_id, at=dt.datetime(2026, 1, 3, tzinfo=UTC))

    headers = {"X-API-Key": mine}
    assert listed(client, headers, category="dx_pointer") == ["S-mine"]
    assert listed(client, headers, category="npi") == []


def test_an_unknown_severity_is_a_422_naming_the_field(client, admin):
    response = client.get("/v1/scrubs", params={"severity": "fatal"}, headers=admin)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["severity"]
