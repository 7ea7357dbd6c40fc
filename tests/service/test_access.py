"""Who reads which stored claim (issue 9, items 5 and 8): access by role and by owner, PHI masked for
the roles that do not need it, every read recorded and queryable by an admin, and the API keys behind
it: created with an expiry, listed, revoked and rotated from the command line, in force at once in
every worker, strong when supplied, with random ids, checked before a request body is read.

    submitter   lists and reads only the scrubs its own key sent (another's answers 404), PHI masked
    compliance  lists and reads every scrub, PHI masked
    coder       lists and reads every scrub, PHI shown
    admin       lists and reads every scrub, PHI shown, and the access log
    api_key_id  shown to admin, or when it is the caller's own key; otherwise null
"""
from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import re
import select
import socket
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlmodel import Session, select as sql_select

from scrubber.service.app import create_app
from scrubber.audit.store import AuditStore
from scrubber.audit.tables import ApiKey, ClaimAccess
from scrubber.ruleset.fields import CLAIM_FIELDS
from tests.contract_example import CONTRACT_CLAIM, assert_problem

SCRUB = "/v1/claims/scrub"
ACCESS = "/v1/audit/access"
MASK = "***"
REFUSED = "this API key is unknown, revoked or expired"
PHI_PATHS = sorted(tuple(f.name.split(".")) for f in CLAIM_FIELDS if f.phi)


def claim_of(claim_id: str, member_id: str, first: str, last: str) -> dict:
    """The contract example (a Medicare claim) for another patient; `member_id` is an MBI, which Medicare requires."""
    claim = copy.deepcopy(CONTRACT_CLAIM)
    claim["claim_id"] = claim_id
    claim["patient"] = {"member_id": member_id, "first_name": first, "last_name": last,
                        "birth_date": "1950-03-14", "death_date": "2026-11-20", "sex": "F"}
    return claim


CLAIMS = {"a": claim_of("PCN-A", "4AA1AA1AA11", "Alma", "Aardvark"),
          "b": claim_of("PCN-B", "4CC2CC2CC22", "Bea", "Bishop"),
          "coder": claim_of("PCN-C", "4DD3DD3DD33", "Cy", "Cole")}
PHI_VALUES = ("4AA1AA1AA11", "4CC2CC2CC22", "4DD3DD3DD33", "Alma", "Aardvark", "Bea", "Bishop", "1950-03-14")


@dataclass
class World:
    """One app; keys (secret, id) of two submitters and every other role; a scrub sent by each of
    submitter a, submitter b and the coder."""

    client: TestClient
    secrets: dict[str, str]
    key_ids: dict[str, str]
    scrubs: dict[str, str]  # who sent it -> scrub id

    def as_(self, who: str) -> dict[str, str]:
        return {"X-API-Key": self.secrets[who]}

    def get(self, who: str, scrub: str):
        return self.client.get(f"/v1/scrubs/{self.scrubs[scrub]}", headers=self.as_(who))

    def list(self, who: str, **params) -> list[str]:
        response = self.client.get("/v1/scrubs", params=params, headers=self.as_(who))
        assert response.status_code == 200, response.text
        return [item["scrub_id"] for item in response.json()["items"]]


@pytest.fixture()
def world(store):
    made = {who: store.create_key(role, label=f"access {who}")
            for who, role in (("a", "submitter"), ("b", "submitter"), ("coder", "coder"),
                              ("compliance", "compliance"), ("admin", "admin"))}
    try:
        with TestClient(create_app(store=store)) as client:
            w = World(client, {k: s for k, (_, s) in made.items()}, {k: i for k, (i, _) in made.items()}, {})
            for who in ("a", "b", "coder"):
                response = client.post(SCRUB, json=CLAIMS[who], headers=w.as_(who))
                assert response.status_code == 200, response.text
                w.scrubs[who] = response.json()["scrub_id"]
            yield w
    finally:
        store.delete_everything()


def patient(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()["claim"]["patient"]


def access_log(w: World, **params) -> list[dict]:
    response = w.client.get(ACCESS, params=params, headers=w.as_("admin"))
    assert response.status_code == 200, response.text
    return response.json()["items"]


# ----------------------------------------------------------------------------- by owner and by role


def test_a_submitter_lists_only_the_scrubs_its_own_key_sent(world):
    assert world.list("a") == [world.scrubs["a"]]
    assert world.list("b") == [world.scrubs["b"]]
    assert world.list("a", claim_id="PCN-B") == []  # a filter never reaches past the owner


def test_a_submitter_gets_404_for_another_keys_scrub_as_if_it_did_not_exist(world):
    other = assert_problem(world.get("a", "b"), 404, "not-found")
    absent = assert_problem(world.client.get("/v1/scrubs/01ZZZZZZZZZZZZZZZZZZZZZZZZ", headers=world.as_("a")),
                            404, "not-found")
    assert other["title"] == absent["title"] == "No such scrub"
    assert other["detail"] == f"no scrub has the id {world.scrubs['b']!r}"
    assert_problem(world.get("a", "coder"), 404, "not-found")


def test_a_submitter_reads_its_own_scrub_with_phi_masked_and_its_own_key_id(world):
    response = world.get("a", "a")
    body = response.json()
    assert patient(response) == {"member_id": MASK, "first_name": MASK, "last_name": MASK,
                                 "birth_date": MASK, "death_date": MASK, "sex": "F"}
    assert body["api_key_id"] == world.key_ids["a"]
    assert body["claim"]["claim_id"] == "PCN-A"
    assert body["claim"]["lines"][0]["procedure_code"] == "99213"
    assert body["result"]["scrub_id"] == world.scrubs["a"]
    assert not any(value in response.text for value in PHI_VALUES)


def test_compliance_lists_and_reads_every_scrub_with_phi_masked_and_no_key_ids(world):
    assert sorted(world.list("compliance")) == sorted(world.scrubs.values())
    for sender in ("a", "b", "coder"):
        response = world.get("compliance", sender)
        assert patient(response) == {"member_id": MASK, "first_name": MASK, "last_name": MASK,
                                     "birth_date": MASK, "death_date": MASK, "sex": "F"}
        assert response.json()["api_key_id"] is None
        assert not any(value in response.text for value in PHI_VALUES)


def test_coder_reads_every_scrub_with_phi_but_only_its_own_key_id(world):
    assert sorted(world.list("coder")) == sorted(world.scrubs.values())
    a = world.get("coder", "a")
    assert patient(a) == {"member_id": "4AA1AA1AA11", "first_name": "Alma", "last_name": "Aardvark",
                          "birth_date": "1950-03-14", "death_date": "2026-11-20", "sex": "F"}
    assert a.json()["api_key_id"] is None
    assert world.get("coder", "coder").json()["api_key_id"] == world.key_ids["coder"]


def test_admin_reads_every_scrub_with_phi_and_every_key_id(world):
    assert sorted(world.list("admin")) == sorted(world.scrubs.values())
    for sender in ("a", "b", "coder"):
        response = world.get("admin", sender)
        assert patient(response)["member_id"] == CLAIMS[sender]["patient"]["member_id"]
        assert response.json()["api_key_id"] == world.key_ids[sender]


def test_the_masked_fields_are_exactly_those_flagged_phi_in_the_field_catalogue(world):
    assert PHI_PATHS == [("patient", "birth_date"), ("patient", "death_date"), ("patient", "first_name"),
                         ("patient", "last_name"), ("patient", "member_id")]
    masked = world.get("compliance", "a").json()["claim"]
    shown = world.get("coder", "a").json()["claim"]

    def leaves(value, path=()):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from leaves(inner, path + (key,))
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                yield from leaves(inner, path + (i,))
        else:
            yield path, value

    differing = sorted(path for (path, a), (_, b) in zip(leaves(masked), leaves(shown)) if a != b)
    assert differing == PHI_PATHS
    assert all(masked["patient"][name] == MASK for _, name in PHI_PATHS)


def test_loopback_without_any_key_is_admin_and_reads_phi(store):
    with TestClient(create_app(store=store)) as client:
        sent = client.post(SCRUB, json=CLAIMS["a"]).json()
        stored = client.get(f"/v1/scrubs/{sent['scrub_id']}").json()
    assert stored["claim"]["patient"]["member_id"] == "4AA1AA1AA11"
    assert stored["api_key_id"] is None
    rows = _access_rows(store)
    assert [(r.action, r.key_id, r.role, r.scrub_id) for r in rows] == [("get", None, "admin", sent["scrub_id"])]


# ----------------------------------------------------------------------------- the access log


def _access_rows(store: AuditStore) -> list[ClaimAccess]:
    with Session(store.engine) as session:
        return list(session.exec(sql_select(ClaimAccess).order_by(ClaimAccess.id)))


def test_every_get_and_list_of_stored_claims_is_recorded_with_who_what_and_when(world):
    before = dt.datetime.now(dt.timezone.utc)
    assert world.get("a", "a").status_code == 200
    assert world.get("compliance", "b").status_code == 200
    assert world.get("a", "b").status_code == 404  # nothing was read
    assert world.list("coder", status="pass", claim_id="PCN-C", limit=7) == [world.scrubs["coder"]]
    assert len(world.list("b")) == 1
    after = dt.datetime.now(dt.timezone.utc)

    items = access_log(world)
    assert [(i["action"], i["key_id"], i["role"], i["scrub_id"], i["claim_id"], i["detail"]) for i in items] == [
        ("list", world.key_ids["b"], "submitter", None, None, {"filters": {"limit": 50}, "count": 1}),
        ("list", world.key_ids["coder"], "coder", None, None,
         {"filters": {"claim_id": "PCN-C", "status": "pass", "limit": 7}, "count": 1}),
        ("get", world.key_ids["compliance"], "compliance", world.scrubs["b"], "PCN-B", {}),
        ("get", world.key_ids["a"], "submitter", world.scrubs["a"], "PCN-A", {}),
    ]
    times = [dt.datetime.fromisoformat(i["at"]) for i in items]
    assert all(before - dt.timedelta(seconds=1) <= t <= after + dt.timedelta(seconds=1) for t in times)
    assert times == sorted(times, reverse=True)  # newest first
    assert all(t.utcoffset() == dt.timedelta(0) for t in times)
    assert not any(value in json.dumps(items) for value in PHI_VALUES)


def test_the_access_log_filters_by_key_scrub_and_date_and_pages_newest_first(world):
    for _ in range(3):
        world.get("coder", "a")
    world.get("admin", "b")
    world.list("a")
    coder = access_log(world, key_id=world.key_ids["coder"])
    assert [(i["action"], i["scrub_id"]) for i in coder] == [("get", world.scrubs["a"])] * 3
    assert [i["key_id"] for i in access_log(world, scrub_id=world.scrubs["b"])] == [world.key_ids["admin"]]
    today = dt.datetime.now(dt.timezone.utc).date()
    assert len(access_log(world, **{"from": today.isoformat(), "to": today.isoformat()})) == 5
    assert access_log(world, **{"from": (today + dt.timedelta(days=1)).isoformat()}) == []
    assert access_log(world, to=(today - dt.timedelta(days=1)).isoformat()) == []

    first = world.client.get(ACCESS, params={"limit": 2}, headers=world.as_("admin")).json()
    second = world.client.get(ACCESS, params={"limit": 2, "cursor": first["next_cursor"]},
                              headers=world.as_("admin")).json()
    third = world.client.get(ACCESS, params={"limit": 2, "cursor": second["next_cursor"]},
                             headers=world.as_("admin")).json()
    assert third["next_cursor"] is None
    paged = [i["id"] for page in (first, second, third) for i in page["items"]]
    assert paged == [i["id"] for i in access_log(world)] and len(paged) == 5
    assert paged == sorted(paged, reverse=True)


def test_an_access_log_cursor_past_every_row_id_pages_from_the_newest(world):
    """A cursor of up to 18 digits is valid; one beyond the id column's range (PostgreSQL INTEGER) is past
    every id, so the page starts at the newest entry (it was a 500 on PostgreSQL: integer out of range)."""
    world.get("coder", "a")
    world.get("admin", "b")
    newest = access_log(world)
    for cursor in ("2147483648", "703063557252943", "999999999999999999"):
        page = world.client.get(ACCESS, params={"cursor": cursor}, headers=world.as_("admin"))
        assert page.status_code == 200
        assert [i["id"] for i in page.json()["items"]][:2] == [i["id"] for i in newest][:2]


@pytest.mark.parametrize("who", ["a", "coder", "compliance"])
def test_the_access_log_is_for_admins_only(world, who):
    body = assert_problem(world.client.get(ACCESS, headers=world.as_(who)), 403, "forbidden")
    assert body["detail"].endswith("it needs one of: admin")


def test_the_access_log_needs_a_key(world):
    assert_problem(world.client.get(ACCESS), 401, "unauthorized")


def test_cli_audit_access_prints_the_log_filtered_by_key_scrub_and_date(world, capsys):
    from scrubber.cli import main

    world.get("coder", "a")
    world.get("compliance", "b")
    capsys.readouterr()
    assert main(["audit", "access", "--key", world.key_ids["coder"], "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["action"], r["key_id"], r["role"], r["scrub_id"], r["claim_id"]) for r in records] == [
        ("get", world.key_ids["coder"], "coder", world.scrubs["a"], "PCN-A")]

    assert main(["audit", "access", "--scrub", world.scrubs["b"], "--json"]) == 0
    assert [json.loads(line)["key_id"] for line in capsys.readouterr().out.splitlines()] == [
        world.key_ids["compliance"]]

    tomorrow = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)).isoformat()
    assert main(["audit", "access", "--since", tomorrow, "--json"]) == 0
    assert capsys.readouterr().out == ""

    assert main(["audit", "access"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["at", "action", "key_id", "role", "scrub_id", "claim_id", "detail"]
    assert len(table) == 2 + 2
    assert world.key_ids["compliance"] in table[2] and world.scrubs["b"] in table[2]

    with pytest.raises(SystemExit) as exited:
        main(["audit", "access", "--since", "yesterday"])
    assert exited.value.code == 2
    assert "'yesterday' is not a date (YYYY-MM-DD)" in capsys.readouterr().err


# ----------------------------------------------------------------------------- keys on the command line


def _rows(store: AuditStore) -> dict[str, ApiKey]:
    with Session(store.engine) as session:
        return {row.key_id: row for row in session.exec(sql_select(ApiKey))}


def _created(out: str, role: str) -> tuple[str, str]:
    lines = out.splitlines()
    match = re.fullmatch(rf"created {role} key (key_[0-9a-f]{{12}}); the key is shown only this once:", lines[0])
    assert match, lines
    assert len(lines) == 2 and out.count(lines[1]) == 1
    return match.group(1), lines[1]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value


def test_cli_keys_create_with_days_or_an_expiry_date(store, capsys):
    from scrubber.cli import main

    assert main(["keys", "create", "--role", "coder", "--label", "billing", "--days", "30"]) == 0
    key_id, secret = _created(capsys.readouterr().out, "coder")
    row = _rows(store)[key_id]
    expected = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
    assert abs(_aware(row.expires_at) - expected) < dt.timedelta(seconds=60)
    assert (row.role, row.label, row.revoked, row.revoked_at) == ("coder", "billing", False, None)
    assert store.key_for(secret).key_id == key_id

    assert main(["keys", "create", "--role", "submitter", "--expires", "2099-01-31"]) == 0
    key_id, _ = _created(capsys.readouterr().out, "submitter")
    assert _aware(_rows(store)[key_id].expires_at) == dt.datetime(2099, 1, 31, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("argv, message", [
    (["--expires", "2001-01-01"], "the expiry date must be in the future"),
    (["--expires", "next week"], "'next week' is not a date (YYYY-MM-DD)"),
    (["--days", "0"], "--days must be at least 1"),
])
def test_cli_keys_create_refuses_a_bad_expiry(store, capsys, argv, message):
    from scrubber.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["keys", "create", "--role", "coder", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert _rows(store) == {}


def test_cli_keys_create_takes_either_days_or_an_expiry_date_not_both(store, capsys):
    from scrubber.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["keys", "create", "--role", "coder", "--days", "3", "--expires", "2099-01-01"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_cli_keys_list_shows_id_role_label_dates_and_revocation_never_a_secret(store, capsys):
    from scrubber.cli import main

    first, first_secret = store.create_key("coder", label="front desk")
    second, second_secret = store.create_key("admin", expires_at=dt.datetime(2099, 1, 31, tzinfo=dt.timezone.utc))
    store.revoke_key(first)
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["key_id", "role", "label", "created", "expires", "revoked"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {first, second}
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    assert rows[first].split() == [first, "coder", "front", "desk", today, "never", today]
    assert rows[second].split() == [second, "admin", "-", today, "2099-01-31", "-"]
    hashes = [row.key_hash for row in _rows(store).values()]
    assert not any(s in out for s in (first_secret, second_secret, *hashes))

    assert main(["keys", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(k["key_id"] for k in listed) == sorted([first, second])
    assert set(listed[0]) == {"key_id", "role", "label", "created_at", "expires_at", "revoked_at"}


def test_a_revoked_key_gets_401_on_the_very_next_request_in_every_worker(store, database_url, capsys):
    from scrubber.cli import main

    key_id, secret = store.create_key("coder")
    _, other = store.create_key("coder")
    second_store = AuditStore(database_url)  # a second worker process has its own engine
    try:
        with TestClient(create_app(store=store)) as one, TestClient(create_app(store=second_store)) as two:
            for client in (one, two):
                assert client.get("/v1/scrubs", headers={"X-API-Key": secret}).status_code == 200
            assert main(["keys", "revoke", key_id]) == 0
            assert capsys.readouterr().out.strip() == f"revoked key {key_id}"
            for client in (one, two):
                body = assert_problem(client.get("/v1/scrubs", headers={"X-API-Key": secret}), 401, "unauthorized")
                assert body["detail"] == REFUSED
                assert client.get("/v1/scrubs", headers={"X-API-Key": other}).status_code == 200
    finally:
        second_store.close()
    row = _rows(store)[key_id]
    assert row.revoked and row.revoked_at is not None


def test_revoking_an_unknown_or_already_revoked_key(store, capsys):
    from scrubber.cli import main

    assert main(["keys", "revoke", "key_000000000000"]) == 1
    assert "no API key has the id 'key_000000000000'" in capsys.readouterr().err
    key_id, _ = store.create_key("coder")
    assert main(["keys", "revoke", key_id]) == 0
    capsys.readouterr()
    assert main(["keys", "revoke", key_id]) == 0
    assert capsys.readouterr().out.startswith(f"key {key_id} was already revoked on ")


def test_cli_keys_rotate_issues_a_new_secret_and_revokes_the_old_one_at_once(store, database_url, capsys):
    from scrubber.cli import main

    old_id, old_secret = store.create_key("compliance", label="analyst",
                                          expires_at=dt.datetime(2099, 1, 31, tzinfo=dt.timezone.utc))
    second_store = AuditStore(database_url)
    try:
        with TestClient(create_app(store=store)) as one, TestClient(create_app(store=second_store)) as two:
            assert one.get("/v1/rules", headers={"X-API-Key": old_secret}).status_code == 200
            capsys.readouterr()
            assert main(["keys", "rotate", old_id]) == 0
            out = capsys.readouterr().out
            lines = out.splitlines()
            match = re.fullmatch(rf"rotated key {old_id} \(now revoked\) to compliance key (key_[0-9a-f]{{12}}); "
                                 "the new key is shown only this once:", lines[0])
            assert match, lines
            new_id, new_secret = match.group(1), lines[1]
            assert len(lines) == 2 and out.count(new_secret) == 1 and new_secret != old_secret
            for client in (one, two):
                assert client.get("/v1/rules", headers={"X-API-Key": new_secret}).status_code == 200
                assert assert_problem(client.get("/v1/rules", headers={"X-API-Key": old_secret}),
                                      401, "unauthorized")["detail"] == REFUSED
    finally:
        second_store.close()
    rows = _rows(store)
    assert new_id != old_id
    assert (rows[new_id].role, rows[new_id].label) == ("compliance", "analyst")
    assert _aware(rows[new_id].expires_at) == dt.datetime(2099, 1, 31, tzinfo=dt.timezone.utc)
    assert rows[old_id].revoked and not rows[new_id].revoked

    assert main(["keys", "rotate", old_id]) == 1
    assert f"key {old_id} is revoked" in capsys.readouterr().err
    assert main(["keys", "rotate", "key_000000000000"]) == 1
    assert "no API key has the id 'key_000000000000'" in capsys.readouterr().err


def test_an_expired_key_gets_401(store):
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    _, expired = store.create_key("coder", expires_at=past)
    key_id, live = store.create_key("coder", expires_at=past + dt.timedelta(days=1))
    with TestClient(create_app(store=store)) as client:
        body = assert_problem(client.get("/v1/scrubs", headers={"X-API-Key": expired}), 401, "unauthorized")
        assert body["detail"] == REFUSED
        assert client.get("/v1/scrubs", headers={"X-API-Key": live}).status_code == 200
        with Session(store.engine) as session:  # the live key's time runs out while the service runs
            row = session.get(ApiKey, key_id)
            row.expires_at = past
            session.add(row)
            session.commit()
        assert_problem(client.get("/v1/scrubs", headers={"X-API-Key": live}), 401, "unauthorized")


def test_revoking_every_key_never_opens_the_service_to_keyless_callers(store):
    key_id, secret = store.create_key("admin")
    store.revoke_key(key_id)
    with TestClient(create_app(store=store)) as local:
        assert_problem(local.get("/v1/stats"), 401, "unauthorized")
        assert_problem(local.get("/v1/stats", headers={"X-API-Key": secret}), 401, "unauthorized")


def test_the_first_key_takes_effect_at_once(store):
    with TestClient(create_app(store=store), client=("10.1.2.3", 50000)) as remote:
        assert_problem(remote.get("/v1/stats"), 403, "loopback-only")
        _, secret = store.create_key("coder")
        assert_problem(remote.get("/v1/stats"), 401, "unauthorized")
        assert remote.get("/v1/stats", headers={"X-API-Key": secret}).status_code == 200


# ----------------------------------------------------------------------------- strength and ids


@pytest.mark.parametrize("secret, why", [
    ("x", "it has 1 character"),
    ("abcdefghijk" + "abcdefghij" * 2, "it has 31 characters"),  # 11 different characters
    ("ab" * 16 + "123456", "it has only 8 different characters"),
])
def test_a_weak_bootstrap_key_stops_the_service_from_starting(store, monkeypatch, secret, why):
    monkeypatch.setenv("SCRUBBER_BOOTSTRAP_KEY", secret)
    with pytest.raises(ValueError) as refused:
        with TestClient(create_app(store=store)):
            pass
    assert str(refused.value) == ("SCRUBBER_BOOTSTRAP_KEY is too weak: a supplied API key needs at least 32 "
                                  f"characters, at least 10 of them different; {why}")
    assert _rows(store) == {}


def test_scrubber_serve_refuses_a_weak_bootstrap_key_before_starting(store, monkeypatch, capsys):
    from scrubber.cli import main

    monkeypatch.setenv("SCRUBBER_BOOTSTRAP_KEY", "x" * 31)
    assert main(["serve", "--port", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "SCRUBBER_BOOTSTRAP_KEY is too weak: a supplied API key needs at least 32 characters, at least 10 of "
        "them different; it has 31 characters")


def test_a_bootstrap_key_of_32_characters_with_10_different_ones_is_accepted(store, monkeypatch):
    secret = "0123456789" * 3 + "ab"
    monkeypatch.setenv("SCRUBBER_BOOTSTRAP_KEY", secret)
    with TestClient(create_app(store=store)) as client:
        assert client.get("/v1/stats", headers={"X-API-Key": secret}).status_code == 200


def test_key_ids_are_random_not_derived_from_the_secret(store):
    known = ["sk_first-known-secret-0123456789abcdef", "sk_second-known-secret-0123456789abcdef"]
    made = [store.create_key("coder", secret=secret) for secret in known]
    for (key_id, secret), given in zip(made, known):
        assert secret == given
        assert re.fullmatch(r"key_[0-9a-f]{12}", key_id)
        assert key_id != f"key_{hashlib.sha256(secret.encode()).hexdigest()[:12]}"
    generated = [store.create_key("coder")[0] for _ in range(5)]
    assert len(set(generated) | {i for i, _ in made}) == 7


# ----------------------------------------------------------------------------- before the body


class _Recorder:
    """An ASGI app behind Authenticate: what it was called with."""

    def __init__(self):
        self.scopes = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _call(app, store, path, headers=(), client=("127.0.0.1", 1234)):
    import asyncio

    received, sent = [], []

    async def receive():
        received.append(1)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": list(headers), "client": client,
             "query_string": b"", "app": SimpleNamespace(state=SimpleNamespace(store=store)), "state": {}}
    asyncio.run(app(scope, receive, send))
    return scope, received, sent


def test_authentication_answers_without_reading_the_body_and_hands_on_the_caller(store):
    from scrubber.service.auth import Authenticate, Caller

    inner = _Recorder()
    app = Authenticate(inner)
    key_id, secret = store.create_key("submitter")

    _, received, sent = _call(app, store, SCRUB)
    assert received == [] and inner.scopes == []
    assert sent[0]["status"] == 401 and (b"www-authenticate", b"X-API-Key") in sent[0]["headers"]

    _, received, sent = _call(app, store, SCRUB, [(b"x-api-key", b"sk_not-a-key")])
    assert received == [] and sent[0]["status"] == 401
    assert json.loads(sent[1]["body"])["detail"] == REFUSED

    scope, received, sent = _call(app, store, SCRUB, [(b"x-api-key", secret.encode())])
    assert sent[0]["status"] == 204 and inner.scopes == [scope]
    assert scope["state"]["caller"] == Caller(key_id=key_id, role="submitter")

    for public in ("/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"):
        _, _, sent = _call(app, store, public)
        assert sent[0]["status"] == 204, public


def test_without_any_key_authentication_lets_loopback_in_as_admin_and_refuses_others(store):
    from scrubber.service.auth import Authenticate, Caller

    app = Authenticate(_Recorder())
    scope, _, sent = _call(app, store, "/v1/stats")
    assert sent[0]["status"] == 204 and scope["state"]["caller"] == Caller(key_id=None, role="admin")
    _, received, sent = _call(app, store, "/v1/stats", client=("10.1.2.3", 1234))
    assert received == [] and sent[0]["status"] == 403
    assert json.loads(sent[1]["body"])["type"] == "/problems/loopback-only"


@contextlib.contextmanager
def served(app):
    """The app behind a real uvicorn server on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def post_streamed(port: int, path: str, total: int, chunk: int = 64 * 1024) -> tuple[int, int]:
    """POST `total` bytes to `path` without a key, pulled from a generator as the socket takes them;
    stop as soon as the server answers. (status, bytes pulled from the generator)."""
    pulled = 0

    def body():
        nonlocal pulled
        while pulled < total:
            piece = b" " * min(chunk, total - pulled)
            pulled += len(piece)
            yield piece

    conn = socket.create_connection(("127.0.0.1", port))
    try:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {total}\r\n\r\n".encode())
        conn.setblocking(False)
        pieces, pending = body(), b""
        while True:
            if not pending:
                pending = next(pieces, b"")
            readable, _, _ = select.select([conn], [conn] if pending else [], [], 60)
            if readable or not pending:
                break  # the server answered (or the whole body is sent)
            try:
                pending = pending[conn.send(pending):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        conn.setblocking(True)
        conn.settimeout(60)
        answer = b""
        while b"\r\n" not in answer:
            more = conn.recv(65536)
            if not more:
                break
            answer += more
        return int(answer.split(b" ", 2)[1]), pulled
    finally:
        conn.close()


def test_a_100_mb_body_without_a_key_is_refused_before_it_is_read(store):
    store.create_key("submitter")
    with served(create_app(store=store)) as port:
        status, pulled = post_streamed(port, SCRUB, 100 * 1024 * 1024)
    assert status == 401
    assert pulled < 8 * 1024 * 1024, f"{pulled} bytes were pulled before the answer"


# ----------------------------------------------------------------------------- the OpenAPI document


def test_the_openapi_document_declares_the_api_key_scheme_on_every_protected_operation():
    document = create_app().openapi()
    schemes = document["components"]["securitySchemes"]
    assert list(schemes) == ["ApiKey"]
    assert {k: schemes["ApiKey"][k] for k in ("type", "in", "name")} == {"type": "apiKey", "in": "header",
                                                                       "name": "X-API-Key"}
    name = "ApiKey"
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if path in ("/healthz", "/readyz"):
                assert "security" not in operation, (method, path)
            else:
                assert operation.get("security") == [{name: []}], (method, path)
