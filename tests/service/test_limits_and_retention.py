"""Issue 9, item 8 and "At rest": request bodies are limited while they are read (scrubber.service.body_limits),
the database files are owner-only, an impact run stops when its client goes away or it runs too
long, and `scrubber audit purge` / SCRUBBER_RETENTION_DAYS remove old scrubs while /v1/stats keeps
their counts.

Some tests run a real uvicorn server in a thread of this process (so that they may patch it):
TestClient never shows what a server does with a declared Content-Length or a stalled body."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from scrubber import limits

from scrubber.settings import PROJECT, settings

from scrubber.service import body_limits
from scrubber.service.app import create_app
from scrubber.audit.store import AuditStore
from scrubber.audit.tables import ClaimAccess, ScrubRollup
from scrubber.contract.claim import Claim, Finding, RulesetInfo, ScrubResult
from scrubber.cli import main
from scrubber.ruleset.examples import complete_claim
from scrubber.pipeline.routing import PayerRouter
from scrubber.pipeline.scrubber import new_scrub_id
from tests.contract_example import CONTRACT_CLAIM, assert_problem

SCRUB = "/v1/claims/scrub"
IMPACT = "/v1/rules/impact"
MB = 1024 * 1024
UTC = dt.timezone.utc
CHUNK_TIMEOUT = 1.0  # the body chunk timeout of the real server below


# ----------------------------------------------------------------------------- helpers


def admin_headers(store: AuditStore) -> dict[str, str]:
    _, secret = store.create_key("admin", label="limits test")
    return {"X-API-Key": secret}


class Server:
    """The service on a real uvicorn server, in a thread of this process, on a free port."""

    def __init__(self, app):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            assert self.thread.is_alive(), "the server failed to start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="module")
def server():
    """One real server for the module, on the test database, with a body chunk timeout of 1 s
    (read when the middleware is built, at start-up)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(body_limits, "CHUNK_TIMEOUT_S", CHUNK_TIMEOUT)
        store = AuditStore(os.environ["SCRUBBER_DATABASE_URL"])
        try:
            with Server(create_app(store=store)) as running:
                running.store = store
                yield running
        finally:
            store.close()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP/1.1 response (Content-Length or until the close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", -1))
    while length < 0 or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def raw_post(port: int, path: str, headers: dict[str, str], body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(head.encode() + b"\r\n" + body)
    return sock


def problem_of(status: int, headers: dict[str, str], body: bytes, expected: int, kind: str) -> dict:
    assert status == expected, body
    assert headers["content-type"] == "application/problem+json"
    document = json.loads(body)
    assert (document["type"], document["status"]) == (f"/problems/{kind}", expected)
    return document


# ----------------------------------------------------------------------------- 1. body limits


@pytest.mark.parametrize("path, limit", [
    ("/v1/claims/scrub", limits.MAX_CLAIM_BYTES),
    ("/v1/claims/scrub/batch", limits.MAX_NDJSON_BATCH_BYTES),
    ("/v1/claims/scrub/x12", limits.MAX_WHOLE_BODY_BYTES),
    ("/v1/claims/scrub/fhir", limits.MAX_WHOLE_BODY_BYTES),
    ("/v1/rules/validate", limits.MAX_RULE_FILE_BYTES),
    ("/v1/rules/impact", limits.MAX_IMPACT_BYTES),
    ("/v1/rules/reload", limits.MAX_OTHER_BYTES),
    ("/v1/scrubs", limits.MAX_OTHER_BYTES),
])
def test_each_endpoint_has_its_body_limit(path, limit):
    assert body_limits.limit_for(path) == limit


def test_a_5_mb_claim_sent_in_chunks_is_refused_with_413_after_reading_little(store):
    """TestClient reads a whole body before the app sees it: httpx's ASGI transport hands it over
    chunk by chunk, as a server does, in the event loop where the app was started."""
    import httpx

    pulled = []

    async def five_megabytes():
        for _ in range(80):  # 80 x 64 KiB = 5 MiB, chunked (no Content-Length)
            pulled.append(1)
            yield b" " * 65536

    async def post(app, headers):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
            return await c.post(SCRUB, content=five_megabytes(), headers=headers)

    app = create_app(store=store)
    with TestClient(app) as client:
        response = client.portal.call(post, app, {"content-type": "application/json", **admin_headers(store)})

    body = assert_problem(response, 413, "too-large")
    assert "4 MB" in body["detail"] and "/v1/claims/scrub" in body["detail"]
    assert len(pulled) <= limits.MAX_CLAIM_BYTES // 65536 + 2  # stopped at the limit, not at the end


def test_an_impact_body_over_16_mb_is_refused_with_413(store):
    text = "#" + "x" * (17 * MB)
    with TestClient(create_app(store=store)) as client:
        response = client.post(IMPACT, json={"files": [{"name": "rules/big.yaml", "text": text}]},
                               headers=admin_headers(store))

    body = assert_problem(response, 413, "too-large")
    assert "16 MB" in body["detail"] and IMPACT in body["detail"]


def test_a_body_to_another_endpoint_over_64_kb_is_refused_with_413(store):
    with TestClient(create_app(store=store)) as client:
        response = client.post("/v1/rules/reload", content=b"x" * (65 * 1024), headers=admin_headers(store))

    body = assert_problem(response, 413, "too-large")
    assert "64 KB" in body["detail"] and "/v1/rules/reload" in body["detail"]


def test_a_claim_under_the_limit_is_scrubbed_as_before(store):
    with TestClient(create_app(store=store)) as client:
        response = client.post(SCRUB, json=CONTRACT_CLAIM, headers=admin_headers(store))

    assert response.status_code == 200, response.text
    assert response.json()["claim_id"] == "PCN-000123"


def test_a_declared_content_length_over_the_limit_is_refused_before_any_body_is_sent(server):
    started = time.monotonic()
    sock = raw_post(server.port, SCRUB, {"Content-Type": "application/json", "Content-Length": str(100 * MB),
                                         **admin_headers(server.store)})
    with sock:
        sock.settimeout(5)
        status, headers, body = read_response(sock)
    elapsed = time.monotonic() - started

    document = problem_of(status, headers, body, 413, "too-large")
    assert "4 MB" in document["detail"] and SCRUB in document["detail"]
    assert headers.get("connection") == "close"
    assert elapsed < 2


def test_a_body_that_stalls_is_answered_408_within_the_chunk_timeout(server):
    started = time.monotonic()
    sock = raw_post(server.port, SCRUB, {"Content-Type": "application/json", "Content-Length": "1000",
                                         **admin_headers(server.store)}, b'{"claim_id"')
    with sock:
        sock.settimeout(CHUNK_TIMEOUT + 5)
        status, headers, body = read_response(sock)
    elapsed = time.monotonic() - started

    document = problem_of(status, headers, body, 408, "request-timeout")
    assert "1 s" in document["detail"]
    assert CHUNK_TIMEOUT <= elapsed < CHUNK_TIMEOUT + 2


def test_a_body_over_the_limit_on_a_real_server_is_refused_while_it_is_sent(server):
    sock = raw_post(server.port, IMPACT, {"Content-Type": "application/json", "Transfer-Encoding": "chunked",
                                          **admin_headers(server.store)})
    with sock:
        chunk = b"x" * MB
        try:
            for _ in range(20):  # 20 MB, more than the 16 MB allowed
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the server answered and closed before the end: what is wanted
        sock.settimeout(5)
        status, headers, body = read_response(sock)

    document = problem_of(status, headers, body, 413, "too-large")
    assert "16 MB" in document["detail"]


# ----------------------------------------------------------------------------- 2. owner-only files


@pytest.fixture()
def open_umask():
    """A permissive umask, as many servers have: the files must be owner-only all the same."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_audit_database_and_its_wal_shm_and_lock_files_are_owner_only(tmp_path, open_umask):
    data = tmp_path / "data"
    store = AuditStore(f"sqlite:///{data / 'scrubber.db'}")
    try:
        claim, result = make_scrub("P-1", "acme-health", "pass", [])
        store.record(claim, result)
        files = {p.name: mode(p) for p in data.iterdir()}
    finally:
        store.close()

    assert files == {"scrubber.db": 0o600, "scrubber.db-wal": 0o600, "scrubber.db-shm": 0o600,
                     "scrubber.db.writer-lock": 0o600}
    assert mode(data) == 0o700


def test_an_existing_world_readable_audit_database_is_made_owner_only(tmp_path, open_umask):
    (tmp_path / "scrubber.db").touch(mode=0o644)
    store = AuditStore(f"sqlite:///{tmp_path / 'scrubber.db'}")
    store.close()

    assert mode(tmp_path / "scrubber.db") == 0o600


def test_the_reference_database_is_owner_only(tmp_path, open_umask):
    from scrubber.refdata.store import Writer, database_path

    data = tmp_path / "data"
    with Writer(database_path(data)).connect() as conn:
        conn.execute("SELECT 1")
    files = {p.name: mode(p) for p in data.iterdir()}

    assert files["reference.sqlite"] == 0o600
    assert set(files.values()) == {0o600}  # the lock files too
    assert mode(data) == 0o700


# ----------------------------------------------------------------------------- 3. impact


class SlowRouter(PayerRouter):
    """A payer router that takes 50 ms a claim and counts its scrubs."""

    scrubs = 0
    lock = threading.Lock()

    def scrub(self, claim, **options):
        time.sleep(0.05)
        with SlowRouter.lock:
            SlowRouter.scrubs += 1
        return super().scrub(claim, **options)


@pytest.fixture()
def slow_impact(monkeypatch):
    import scrubber.workflows.impact

    SlowRouter.scrubs = 0
    monkeypatch.setattr(scrubber.workflows.impact, "PayerRouter", SlowRouter)
    return SlowRouter


def impact_request(claims: int) -> dict:
    profile = (PROJECT / "payers" / "acme-commercial.yaml").read_text()
    return {"files": [{"name": "payers/acme-commercial.yaml", "text": profile}],
            "claims": [complete_claim({"claim_id": f"C-{i}", "lines": [{}]}) for i in range(claims)]}


def test_an_impact_run_stops_when_its_client_goes_away(server, slow_impact, caplog):
    caplog.set_level(logging.INFO, logger="scrubber.service.app")
    body = json.dumps(impact_request(200)).encode()  # 400 scrubs of 50 ms: 20 s if nothing stops it
    sock = raw_post(server.port, IMPACT, {"Content-Type": "application/json", "Content-Length": str(len(body)),
                                          **admin_headers(server.store)}, body)
    deadline = time.monotonic() + 20
    while slow_impact.scrubs < 4:
        assert time.monotonic() < deadline, "the measurement did not start"
        time.sleep(0.05)
    sock.close()  # the client goes away
    time.sleep(2)
    after_two_seconds = slow_impact.scrubs
    time.sleep(1)

    assert slow_impact.scrubs == after_two_seconds < 400
    stopped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("impact run stopped")]
    assert len(stopped) == 1
    assert stopped[0].endswith(f"{after_two_seconds // 2} of 200 claims measured") or \
        stopped[0].endswith(f"{(after_two_seconds + 1) // 2} of 200 claims measured")
    assert "client went away" in stopped[0]


def test_an_impact_run_past_its_time_limit_stops_with_a_503_saying_how_far_it_got(store, slow_impact, monkeypatch):
    # 100 claims take 10 s here (two 50 ms scrubs each); the limit also covers compiling both rule sets
    # (over 1 s on a busy CI machine), so it is 3 s: some claims are measured, never all
    monkeypatch.setattr(limits, "IMPACT_TIMEOUT_S", 3.0)
    with TestClient(create_app(store=store)) as client:
        started = time.monotonic()
        response = client.post(IMPACT, json=impact_request(100), headers=admin_headers(store))
        elapsed = time.monotonic() - started
        time.sleep(0.5)

    body = assert_problem(response, 503, "impact-timeout")
    assert "of 100 claims" in body["detail"]
    done = int(body["detail"].split(" of 100 claims")[0].split()[-1])
    assert 0 < done < 100
    assert slow_impact.scrubs in (2 * done, 2 * done + 1)  # nothing ran after the answer
    assert elapsed < 7


def test_measure_stops_at_the_next_claim_once_cancelled():
    from scrubber.workflows.impact import ImpactStopped, measure
    from scrubber.ruleset.payers import load_deployment

    deployment = load_deployment(settings().rules_dir, settings().payers_dir)
    cancel = threading.Event()
    seen = []

    def corpus():
        for i in range(10):
            seen.append(i)
            if i == 3:
                cancel.set()
            yield f"C-{i}", Claim.model_validate(complete_claim({"claim_id": f"C-{i}", "lines": [{}]}))

    with pytest.raises(ImpactStopped) as stopped:
        measure(deployment, deployment, corpus(), cancel=cancel)

    assert stopped.value.claims == 3
    assert seen == [0, 1, 2, 3]


# ----------------------------------------------------------------------------- 4. retention


def make_scrub(claim_id: str, payer: str | None, status: str, findings: list[tuple[str, str, str]],
               member: str = "M-1") -> tuple[Claim, ScrubResult]:
    claim = Claim.model_validate(complete_claim({
        "claim_id": claim_id, "payer": {"id": payer, "name": payer} if payer else None,
        "patient": {"member_id": member}, "lines": [{}]}))
    result = ScrubResult(claim_id=claim_id, status=status, scrub_id=new_scrub_id(),
                         ruleset=RulesetInfo(revision="r1", effective_date=None),
                         findings=[Finding(rule_id=rule, category=category, severity=severity, message="m", lines=[1],
                                           field=None, carc=None, rarc=None, suggestion=None, source="rules/x.yaml")
                                   for rule, category, severity in findings])
    return claim, result


NPI = ("npi-check-digit", "npi", "error")
POINTER = ("pointer-invalid", "dx_pointer", "error")
TIMELY = ("timely-filing", "timely_filing", "warning")
PAYERS = ["acme-health", "medicare", None]
WINDOWS = [(None, None), ("2026-01-01", "2026-01-07"), ("2026-01-05", "2026-01-09"), ("2026-01-08", None),
           ("2026-01-07", "2026-01-07"), (None, "2026-01-06"), ("2026-01-10", "2026-01-12")]


def record_history(store: AuditStore) -> dict[str, list[str]]:
    """36 scrubs over 3-14 January 2026 (three a day: one per payer, or none), with findings of
    several rules (some twice in one scrub). Returns the scrub ids before and from 8 January."""
    shapes = [("pass", []), ("warn", [TIMELY]), ("fail", [NPI, POINTER, POINTER]), ("fail", [NPI, TIMELY])]
    ids: dict[str, list[str]] = {"before": [], "after": []}
    n = 0
    for day in range(3, 15):
        for hour, payer in zip((0, 11, 23), PAYERS):
            status, findings = shapes[n % len(shapes)]
            claim, result = make_scrub(f"H-{n}", payer, status, findings, member=f"M-{n % 5}")
            at = dt.datetime(2026, 1, day, hour, 59, tzinfo=UTC)
            store.record(claim, result, at=at)
            ids["before" if day < 8 else "after"].append(result.scrub_id)
            n += 1
    return ids


def all_stats(store: AuditStore) -> list[dict]:
    return [store.stats(since=dt.date.fromisoformat(a) if a else None, until=dt.date.fromisoformat(b) if b else None,
                        payer=payer) for a, b in WINDOWS for payer in PAYERS]


def test_purge_removes_old_scrubs_and_keeps_every_stats_count(store):
    ids = record_history(store)
    before = all_stats(store)

    purged = store.purge(before=dt.date(2026, 1, 8))

    assert (purged.scrubs, purged.findings) == (15, 22)
    assert all_stats(store) == before
    overall = store.stats()
    assert overall["scrubs"] == 36 and overall["findings_by_rule"] == {
        "npi-check-digit": 18, "pointer-invalid": 18, "timely-filing": 18}
    assert overall["top_failing_rules"] == [{"rule_id": "npi-check-digit", "failed_scrubs": 18, "share_of_scrubs": 0.5},
                                            {"rule_id": "pointer-invalid", "failed_scrubs": 9, "share_of_scrubs": 0.25}]
    assert all(store.get(i) is None for i in ids["before"])
    assert all(store.get(i) is not None for i in ids["after"])
    listed = store.list(limit=500).items
    assert sorted(s["scrub_id"] for s in listed) == sorted(ids["after"])


def test_purging_twice_is_idempotent(store):
    record_history(store)
    before = all_stats(store)

    first = store.purge(before=dt.date(2026, 1, 8))
    second = store.purge(before=dt.date(2026, 1, 8))

    assert (first.scrubs, second.scrubs, second.findings) == (15, 0, 0)
    assert all_stats(store) == before
    with Session(store.engine) as session:
        assert sum(r.scrubs for r in session.exec(select(ScrubRollup))) == 15


def test_a_later_purge_adds_to_the_counts_kept_by_an_earlier_one(store):
    record_history(store)
    before = all_stats(store)

    store.purge(before=dt.date(2026, 1, 5))
    store.purge(before=dt.date(2026, 1, 10))

    assert all_stats(store) == before
    assert len(store.list(limit=500).items) == 15


def test_two_purges_at_once_do_not_count_twice(store, database_url):
    record_history(store)
    before = all_stats(store)
    other = AuditStore(database_url)
    barrier = threading.Barrier(2)
    results = []

    def purge(s: AuditStore) -> None:
        barrier.wait()
        results.append(s.purge(before=dt.date(2026, 1, 12)))

    try:
        threads = [threading.Thread(target=purge, args=(s,)) for s in (store, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.close()

    assert sorted(r.scrubs for r in results) == [0, 27]
    assert all_stats(store) == before


def test_purge_keeps_the_claim_line_history_and_the_access_log(store):
    claim, result = make_scrub("OLD-1", "medicare", "pass", [], member="M-KEPT")
    store.record(claim, result, at=dt.datetime(2026, 1, 3, 12, tzinfo=UTC))
    with Session(store.engine) as session:
        session.add(ClaimAccess(at=dt.datetime(2026, 1, 4, tzinfo=UTC), key_id=None, role="admin", action="get",
                                scrub_id=result.scrub_id, claim_id="OLD-1", detail=""))
        session.commit()

    store.purge(before=dt.date(2026, 1, 8))

    later, _ = make_scrub("NEW-1", "medicare", "pass", [], member="M-KEPT")
    assert store.get(result.scrub_id) is None
    assert store.services(later, frozenset({"99213"}), None, dt.date(2026, 12, 31)) == [
        (dt.date(2026, 1, 5), "99213", "OLD-1")]
    with Session(store.engine) as session:
        assert [a.scrub_id for a in session.exec(select(ClaimAccess))] == [result.scrub_id]


def test_stats_and_scrub_list_over_http_are_the_same_after_a_purge(store):
    ids = record_history(store)
    with TestClient(create_app(store=store)) as client:
        headers = admin_headers(store)
        queries = [{k: v for k, v in (("from", a), ("to", b), ("payer", p)) if v} for a, b in WINDOWS for p in PAYERS]
        before = [client.get("/v1/stats", params=q, headers=headers).json() for q in queries]

        store.purge(before=dt.date(2026, 1, 8))

        after = [client.get("/v1/stats", params=q, headers=headers).json() for q in queries]
        listed = client.get("/v1/scrubs", params={"limit": 500}, headers=headers).json()["items"]
        gone = client.get(f"/v1/scrubs/{ids['before'][0]}", headers=headers)

    assert after == before
    assert sorted(s["scrub_id"] for s in listed) == sorted(ids["after"])
    assert_problem(gone, 404, "not-found")


def test_audit_purge_on_the_command_line_prints_what_it_purged(store, capsys):
    record_history(store)
    before = all_stats(store)

    code = main(["audit", "purge", "--before", "2026-01-08"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == "purged 15 scrub(s) and 22 finding(s) created before 2026-01-08"
    assert all_stats(store) == before
    assert main(["audit", "purge", "--before", "2026-01-08"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "purged 0 scrub(s) and 0 finding(s) created before 2026-01-08"


@pytest.mark.parametrize("given", ["2026-13-01", "yesterday"])
def test_audit_purge_refuses_a_date_that_is_not_one(store, given, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "purge", "--before", given])

    assert exit_.value.code == 2
    assert f"'{given}' is not a date (YYYY-MM-DD)" in capsys.readouterr().err


def test_audit_purge_refuses_a_date_after_today(store, capsys):
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    assert main(["audit", "purge", "--before", tomorrow.isoformat()]) == 2
    assert "is after today" in capsys.readouterr().err


@pytest.mark.parametrize("value, days", [(None, None), ("", None), ("30", 30), (" 365 ", 365)])
def test_the_retention_setting(monkeypatch, value, days):
    if value is None:
        monkeypatch.delenv("SCRUBBER_RETENTION_DAYS", raising=False)
    else:
        monkeypatch.setenv("SCRUBBER_RETENTION_DAYS", value)
    assert settings().retention_days == days


@pytest.mark.parametrize("value", ["0", "-3", "thirty", "1.5"])
def test_a_bad_retention_setting_is_refused_with_its_name(monkeypatch, value):
    monkeypatch.setenv("SCRUBBER_RETENTION_DAYS", value)
    with pytest.raises(ValueError, match="SCRUBBER_RETENTION_DAYS must be a whole number of days, at least 1"):
        settings().retention_days


def test_the_service_purges_past_retention_at_start_up(store, monkeypatch):
    now = dt.datetime.now(UTC)
    old_claim, old = make_scrub("RET-OLD", "medicare", "fail", [NPI])
    new_claim, new = make_scrub("RET-NEW", "medicare", "pass", [])
    store.record(old_claim, old, at=now - dt.timedelta(days=40))
    store.record(new_claim, new, at=now - dt.timedelta(days=1))
    before = store.stats()
    monkeypatch.setenv("SCRUBBER_RETENTION_DAYS", "30")

    with TestClient(create_app(store=store)):
        deadline = time.monotonic() + 10
        while store.get(old.scrub_id) is not None:
            assert time.monotonic() < deadline, "nothing was purged"
            time.sleep(0.05)

    assert store.get(new.scrub_id) is not None
    assert store.stats() == before
