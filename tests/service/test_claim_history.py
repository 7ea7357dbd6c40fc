"""What counts as claim history in the service (scrubber/audit/history.py, scrubber/service/routes/submissions.py):
a claim counts for the duplicate, frequency and global-surgery edits only when its latest scrub passed or
warned or the billing system said it was submitted; voided and replaced claims never count; the batch
field `replaces_claim_id`; POST /v1/claims/submissions with its roles, ownership and 422s; the change log;
`member_lines`; and the migration of an existing database.

Runs on the test database of tests/conftest.py (SQLite, or PostgreSQL when SCRUBBER_TEST_DATABASE_URL is set).
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from scrubber.audit.store import AuditStore
from scrubber.audit.tables import ClaimLine, ClaimStatusChange
from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.history import HistoryLine, member_hash
from scrubber.pipeline.normalise import normalise
from scrubber.service.app import create_app
from tests.contract_example import assert_problem
from tests.service.test_service import make_claim, mbi

SCRUB = "/v1/claims/scrub"
BATCH = "/v1/claims/scrub/batch"
SUBMISSIONS = "/v1/claims/submissions"
DUPLICATE = "duplicate-of-earlier-claim"


def failing(claim_id: str, member: str, **parts: Any) -> dict[str, Any]:
    """The clean claim of `make_claim` with an unknown diagnosis code: it fails (`dx-code-unknown`) and
    bills the very same line (99213 on 2026-01-05, same NPI) as the clean claim."""
    return make_claim(claim_id, member, diagnoses=[{"code": "ZZZ99"}], **parts)


def scrub(client: TestClient, claim: dict, headers: dict | None = None) -> dict:
    response = client.post(SCRUB, json=claim, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def rules_fired(result: dict) -> list[str]:
    return sorted(f["rule_id"] for f in result["findings"])


def duplicate_of(client: TestClient, member: str, headers: dict | None = None) -> list[str]:
    """The messages of the duplicate rule on a new clean claim of `member` (the probe is voided after)."""
    probe = f"PROBE-{member}"
    result = scrub(client, make_claim(probe, member), headers)
    client.post(SUBMISSIONS, json=[{"claim_id": probe, "status": "voided"}], headers=headers or {})
    return [f["message"].rsplit(" ", 1)[-1] for f in result["findings"] if f["rule_id"] == DUPLICATE]


@pytest.fixture()
def client(store):
    """The service on the test database, no API key (loopback = admin)."""
    with TestClient(create_app(store=store)) as c:
        yield c


# ----------------------------------------------------------------------------- what counts


def test_44_failed_claims_then_a_clean_45th_is_not_a_duplicate(client):
    member = mbi(60)
    for n in range(1, 45):
        assert rules_fired(scrub(client, failing(f"TRY-{n}", member))) == ["dx-code-unknown"]
    clean = scrub(client, make_claim("TRY-45", member))
    assert (clean["status"], clean["findings"]) == ("pass", [])
    assert duplicate_of(client, member) == ["TRY-45"]  # the 45th counts: it could be sent


def test_a_passing_claim_counts_a_failing_one_does_not_and_a_rescrub_that_passes_makes_it_count(client):
    assert duplicate_of(client, mbi(61)) == []
    assert scrub(client, failing("FIX-1", mbi(61)))["status"] == "fail"
    assert duplicate_of(client, mbi(61)) == []
    assert scrub(client, make_claim("FIX-1", mbi(61)))["status"] == "pass"
    assert duplicate_of(client, mbi(61)) == ["FIX-1"]
    assert scrub(client, failing("FIX-1", mbi(61)))["status"] == "fail"  # its latest scrub failed again
    assert duplicate_of(client, mbi(61)) == []


def test_a_failed_claim_said_submitted_counts_and_stays_counted_after_a_failing_rescrub(client):
    assert scrub(client, failing("SENT-1", mbi(62)))["status"] == "fail"
    response = client.post(SUBMISSIONS, json=[{"claim_id": "SENT-1", "status": "submitted", "date": "2026-01-07"}])
    assert response.status_code == 200, response.text
    assert response.json() == {"applied": 1, "unknown": 0, "items": [
        {"claim_id": "SENT-1", "status": "submitted", "result": "applied", "counts": True}]}
    assert duplicate_of(client, mbi(62)) == ["SENT-1"]
    assert scrub(client, failing("SENT-1", mbi(62)))["status"] == "fail"
    assert duplicate_of(client, mbi(62)) == ["SENT-1"]


def test_the_claim_field_submission_status_submitted_makes_a_failed_claim_count(client):
    result = scrub(client, failing("SENT-2", mbi(63), submission_status="submitted"))
    assert rules_fired(result) == ["dx-code-unknown"]
    assert duplicate_of(client, mbi(63)) == ["SENT-2"]


@pytest.mark.parametrize("item", [{"status": "voided"}, {"status": "replaced", "replaced_by": "NEW-CLAIM"},
                                  {"status": "replaced"}])
def test_voided_or_replaced_claims_stop_counting(client, item):
    assert scrub(client, make_claim("GONE-1", mbi(64)))["status"] == "pass"
    assert duplicate_of(client, mbi(64)) == ["GONE-1"]
    response = client.post(SUBMISSIONS, json=[{"claim_id": "GONE-1", **item}])
    assert response.json()["items"] == [{"claim_id": "GONE-1", "status": item["status"], "result": "applied",
                                         "counts": False}]
    assert duplicate_of(client, mbi(64)) == []
    assert scrub(client, make_claim("GONE-1", mbi(64)))["status"] == "pass"  # a re-scrub does not revive it
    assert duplicate_of(client, mbi(64)) == []


def test_unknown_claim_ids_are_answered_unknown_and_the_others_applied_in_order(client):
    scrub(client, make_claim("KNOWN-1", mbi(65)))
    response = client.post(SUBMISSIONS, json=[
        {"claim_id": "NEVER-SCRUBBED", "status": "voided"}, {"claim_id": "KNOWN-1", "status": "voided"},
        {"claim_id": "KNOWN-1", "status": "submitted", "date": None}])
    assert response.status_code == 200
    assert response.json() == {"applied": 2, "unknown": 1, "items": [
        {"claim_id": "NEVER-SCRUBBED", "status": "voided", "result": "unknown", "counts": None},
        {"claim_id": "KNOWN-1", "status": "voided", "result": "applied", "counts": False},
        {"claim_id": "KNOWN-1", "status": "submitted", "result": "applied", "counts": True}]}
    assert duplicate_of(client, mbi(65)) == ["KNOWN-1"]  # the last word wins


# ----------------------------------------------------------------------------- replaces_claim_id in batches


def test_replaces_claim_id_in_an_ndjson_batch_takes_the_original_out_once_the_replacement_passes(client):
    original = make_claim("ORIG-1", mbi(66))
    broken = failing("REPL-1", mbi(66), replaces_claim_id="ORIG-1", lines=[{"service_date": "2026-01-06"}])
    body = "\n".join(json.dumps(c) for c in (original, broken)) + "\n"
    response = client.post(BATCH, content=body, headers={"content-type": "application/x-ndjson"})
    results = [json.loads(line) for line in response.text.splitlines()]
    assert [r["status"] for r in results] == ["pass", "fail"]
    assert duplicate_of(client, mbi(66)) == ["ORIG-1"]  # a failed replacement replaces nothing

    fixed = make_claim("REPL-1", mbi(66), replaces_claim_id="ORIG-1", lines=[{"service_date": "2026-01-06"}])
    response = client.post(BATCH, json=[fixed])  # a JSON array batch
    assert [json.loads(line)["status"] for line in response.text.splitlines()] == ["pass"]
    assert duplicate_of(client, mbi(66)) == []


def test_replaces_claim_id_by_a_submitter_key_replaces_only_its_own_claims(client, store):
    _, mine = store.create_key("submitter", label="billing A")
    _, theirs = store.create_key("submitter", label="billing B")
    scrub(client, make_claim("OWN-1", mbi(67)), {"X-API-Key": mine})
    scrub(client, make_claim("OWN-2", mbi(67), lines=[{"service_date": "2026-01-07"}]), {"X-API-Key": theirs})
    scrub(client, make_claim("OWN-3", mbi(67), replaces_claim_id="OWN-2",
                             lines=[{"service_date": "2026-01-08"}]), {"X-API-Key": mine})
    assert _counting(store, ["OWN-1", "OWN-2", "OWN-3"]) == {"OWN-1": True, "OWN-2": True, "OWN-3": True}
    scrub(client, make_claim("OWN-4", mbi(67), replaces_claim_id="OWN-1",
                             lines=[{"service_date": "2026-01-09"}]), {"X-API-Key": mine})
    assert _counting(store, ["OWN-1", "OWN-4"]) == {"OWN-1": False, "OWN-4": True}


def _counting(store: AuditStore, claim_ids: list[str]) -> dict[str, bool]:
    """Whether each claim's history lines count (every line of a claim agrees)."""
    with Session(store.engine) as session:
        rows = session.exec(select(ClaimLine.claim_id, ClaimLine.counts).where(col(ClaimLine.claim_id).in_(claim_ids)))
        found: dict[str, set[bool]] = {}
        for claim_id, counting in rows:
            found.setdefault(claim_id, set()).add(counting)
    assert all(len(v) == 1 for v in found.values())
    return {k: v.pop() for k, v in found.items()}


# ----------------------------------------------------------------------------- the endpoint: roles, owners, 422


def test_submissions_roles_owners_and_the_change_log(client, store):
    mine_id, mine = store.create_key("submitter", label="billing A")
    _, theirs = store.create_key("submitter", label="billing B")
    admin_id, admin = store.create_key("admin")
    _, coder = store.create_key("coder")
    _, compliance = store.create_key("compliance")
    scrub(client, make_claim("KEYED-1", mbi(68)), {"X-API-Key": mine})
    item = [{"claim_id": "KEYED-1", "status": "voided", "date": "2026-01-09"}]

    for secret in (coder, compliance):
        assert_problem(client.post(SUBMISSIONS, json=item, headers={"X-API-Key": secret}), 403, "forbidden")
    assert_problem(client.post(SUBMISSIONS, json=item), 401, "unauthorized")
    other = client.post(SUBMISSIONS, json=item, headers={"X-API-Key": theirs})
    assert other.json()["items"][0]["result"] == "unknown"  # another key's claim: as if absent
    assert client.post(SUBMISSIONS, json=item, headers={"X-API-Key": mine}).json()["items"][0]["result"] == "applied"
    again = [{"claim_id": "KEYED-1", "status": "submitted"}]
    assert client.post(SUBMISSIONS, json=again, headers={"X-API-Key": admin}).json()["items"][0]["result"] == "applied"

    with Session(store.engine) as session:
        log = session.exec(select(ClaimStatusChange).order_by(col(ClaimStatusChange.id))).all()
    assert [(c.claim_id, c.status, c.status_date, c.key_id, c.role, c.scrub_id) for c in log] == [
        ("KEYED-1", "voided", dt.date(2026, 1, 9), mine_id, "submitter", None),
        ("KEYED-1", "submitted", None, admin_id, "admin", None)]
    assert all(c.at is not None for c in log)


def test_submissions_bad_input_is_a_422_naming_each_field(client):
    response = client.post(SUBMISSIONS, json=[
        {"claim_id": "A", "status": "submitted", "replaced_by": "B"},
        {"claim_id": 7, "status": "sent", "date": "2026-02-30"},
        {"claim_id": "C", "status": "replaced", "replaced_by": "C", "extra": 1},
        {"status": "voided", "date": True}])
    body = assert_problem(response, 422, "invalid-request")
    assert body["errors"] == [
        {"field": "[0].replaced_by", "message": "is only for the status `replaced`"},
        {"field": "[1].claim_id", "message": "must be text (a string in quotes), got int"},
        {"field": "[1].status", "message": "must be 'submitted', 'voided' or 'replaced'"},
        {"field": "[1].date", "message": "'2026-02-30' is not a calendar date"},
        {"field": "[2].replaced_by", "message": "must not be the claim's own id"},
        {"field": "[2].extra", "message": "is not a field of the claim contract"},
        {"field": "[3].claim_id", "message": "is required"},
        {"field": "[3].date", "message": body["errors"][-1]["message"]}]
    assert body["errors"][-1]["message"].startswith("must be a date")


@pytest.mark.parametrize("payload, field", [([], "(body)"), ({"claim_id": "A", "status": "voided"}, "(body)")])
def test_submissions_body_must_be_a_non_empty_array(client, payload, field):
    body = assert_problem(client.post(SUBMISSIONS, json=payload), 422, "invalid-request")
    assert [e["field"] for e in body["errors"]] == [field]


def test_submissions_take_at_most_10000_items(client):
    items = [{"claim_id": f"C{n}", "status": "voided"} for n in range(10_001)]
    body = assert_problem(client.post(SUBMISSIONS, json=items), 422, "invalid-request")
    assert [e["field"] for e in body["errors"]] == ["(body)"]
    response = client.post(SUBMISSIONS, json=items[:10_000])
    assert (response.status_code, response.json()["unknown"]) == (200, 10_000)


# ----------------------------------------------------------------------------- member_lines on the database


def test_member_lines_on_the_database_are_the_members_counting_lines_in_the_window(client, store):
    member = mbi(69)
    scrub(client, make_claim("SURG-1", member, lines=[
        {"procedure_code": "27447", "modifiers": ["RT"], "service_date": "2026-01-10"},
        {"procedure_code": "20610", "modifiers": ["RT", "59"], "service_date": "2026-01-12"}]))
    scrub(client, failing("SURG-FAILED", member, lines=[{"procedure_code": "99214", "service_date": "2026-01-11"}]))
    scrub(client, make_claim("SURG-OTHER", mbi(70), lines=[{"procedure_code": "99214", "service_date": "2026-01-11"}]))
    visit = normalise(Claim.model_validate(make_claim("VISIT-1", member, lines=[{"service_date": "2026-02-15"}])))
    scrub(client, visit.model_dump(mode="json", exclude_none=True))

    found = store.member_lines(visit, dt.date(2026, 1, 10), dt.date(2026, 2, 15))
    npi = visit.billing_provider.npi if visit.billing_provider else None
    assert [(h.claim_id, h.line_number, h.service_date, h.procedure_code, h.modifiers, h.billing_npi)
            for h in found] == [("SURG-1", 1, dt.date(2026, 1, 10), "27447", "RT", npi),
                                ("SURG-1", 2, dt.date(2026, 1, 12), "20610", "59 RT", npi)]
    assert all(isinstance(h, HistoryLine) and h.member_hash == member_hash(member) for h in found)
    assert store.member_lines(visit, dt.date(2026, 1, 11), dt.date(2026, 1, 11)) == []
    client.post(SUBMISSIONS, json=[{"claim_id": "SURG-1", "status": "voided"}])
    assert store.member_lines(visit, dt.date(2026, 1, 1), dt.date(2026, 12, 31)) == []


# ----------------------------------------------------------------------------- the migration


def test_migration_0003_gives_existing_claims_the_state_of_their_latest_scrub(tmp_path):
    """A database at 0002 with two claims (the latest scrub of one failed) and a claim whose scrubs were
    purged: after the upgrade the failed one's lines no longer count, the others' do."""
    from alembic import command  # only this test migrates step by step
    from alembic.config import Config

    from tests.service.test_service import scrubber_migrations_dir

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", scrubber_migrations_dir())
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0002")
    at = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
    with engine.begin() as connection:
        for scrub_id, claim_id, status in (("01AAAAAAAAAAAAAAAAAAAAAAA1", "OLD-PASS", "fail"),
                                           ("01AAAAAAAAAAAAAAAAAAAAAAA2", "OLD-PASS", "pass"),
                                           ("01AAAAAAAAAAAAAAAAAAAAAAA3", "OLD-FAIL", "pass"),
                                           ("01AAAAAAAAAAAAAAAAAAAAAAA4", "OLD-FAIL", "fail")):
            connection.execute(sa.text(
                "INSERT INTO scrub (scrub_id, created_at, claim_id, status, revision, finding_count, claim, result) "
                "VALUES (:s, :at, :c, :st, 'r', 0, '{}', '{}')"),
                {"s": scrub_id, "at": at, "c": claim_id, "st": status})
        for claim_id in ("OLD-PASS", "OLD-FAIL", "PURGED"):
            connection.execute(sa.text(
                "INSERT INTO claim_line (claim_id, scrub_id, member_hash, line_number, service_date, procedure_code, "
                "modifiers, units, recorded_at) VALUES (:c, 'x', 'h', 1, '2026-01-05', '99213', '', '1', :at)"),
                {"c": claim_id, "at": at})
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
    with engine.connect() as connection:
        lines = dict(connection.execute(sa.text("SELECT claim_id, counts FROM claim_line")).all())
        states = connection.execute(sa.text(
            "SELECT claim_id, scrub_status, scrub_id FROM claim_state ORDER BY claim_id")).all()
    assert {k: bool(v) for k, v in lines.items()} == {"OLD-PASS": True, "OLD-FAIL": False, "PURGED": True}
    assert [tuple(s) for s in states] == [("OLD-FAIL", "fail", "01AAAAAAAAAAAAAAAAAAAAAAA4"),
                                          ("OLD-PASS", "pass", "01AAAAAAAAAAAAAAAAAAAAAAA2")]
    engine.dispose()
