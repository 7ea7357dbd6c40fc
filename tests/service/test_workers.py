"""The service as it runs in production (issue 9, items 6, 7 and part of 8): `scrubber serve` with
several worker processes, started as a real subprocess, and its server options.

- a rule reload through one worker reaches every worker (the shared database carries the
  generation of the rule set; each worker catches up before a request that depends on the rules);
- every worker logs the same JSON request lines (pid, request id, key id, client, scrub id or
  claim count), never PHI;
- metric labels come from a fixed set, whatever methods and paths clients send;
- a connection that stalls in its request head is closed;
- TLS through `scrubber serve --ssl-certfile/--ssl-keyfile`.

The servers use the test database (tests/conftest.py), a temporary data directory and temporary
copies of rules/ and payers/ (so that a test may change a rule file before reloading).
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from scrubber.service.app import create_app
from scrubber.audit.store import AuditStore
from scrubber.audit.tables import ApiKey
from scrubber.ruleset.examples import complete_claim
from scrubber.refdata.store import database_path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
HEADER_TIMEOUT = 1.0  # --header-timeout of the two-worker server
BALANCING_TITLE = "title: Total charge is not the sum of the line charges"
NEW_TITLE = "title: Total charge differs from the sum of the line charges"

# PHI of the claims the log test sends: none of it may appear in the log
FIRST, LAST, BIRTH = "Zebulonia", "Quattlebaum", "1947-02-13"


def member(n: int) -> str:
    return f"7QX{n:04d}WZ9"


# ----------------------------------------------------------------------------- a real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """`scrubber serve` in a subprocess (its own process group), output captured to a file."""

    def __init__(self, base: Path, database_url: str, data_dir: str, *args: str, scheme: str = "http"):
        self.base, self.port, self.scheme = base, free_port(), scheme
        self.rules_dir, self.payers_dir = base / "rules", base / "payers"
        shutil.copytree(ROOT / "rules", self.rules_dir)
        shutil.copytree(ROOT / "payers", self.payers_dir)
        data = base / "data"
        data.mkdir()
        shutil.copy(database_path(data_dir), database_path(data))  # the baseline, built once per session
        self.key = f"sk_{secrets.token_urlsafe(32)}"
        env = {**os.environ, "SCRUBBER_DATA_DIR": str(data), "SCRUBBER_DATABASE_URL": database_url,
               "SCRUBBER_RULES_DIR": str(self.rules_dir), "SCRUBBER_PAYERS_DIR": str(self.payers_dir),
               "SCRUBBER_BOOTSTRAP_KEY": self.key}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log_path = base / "server.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scrubber.cli", "serve", "--host", HOST, "--port", str(self.port), *args],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, cwd=base)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}"

    def wait_ready(self, workers: int, verify=True, timeout: float = 40.0) -> None:
        """Until /healthz answers and `workers` processes have logged their start-up (when they log)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", verify=verify, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)
        started = time.monotonic()  # the other workers: a few more seconds at most
        while len(self.started_pids()) < workers and time.monotonic() - started < 15:
            time.sleep(0.2)

    def started_pids(self) -> set[int]:
        return {r["pid"] for r in self.records() if r.get("msg") == "Application startup complete." and "pid" in r}

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def records(self) -> list[dict]:
        """The JSON lines of the log (other lines are left out)."""
        out = []
        for line in self.log_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, database_url, data_dir):
    """`scrubber serve --workers 2 --header-timeout 1` with an admin bootstrap key."""
    store = AuditStore(database_url)
    store.delete_everything()
    store.close()
    running = Server(tmp_path_factory.mktemp("workers"), database_url, data_dir,
                     "--workers", "2", "--header-timeout", str(HEADER_TIMEOUT))
    try:
        running.wait_ready(workers=2)
        yield running
    finally:
        running.stop()


def fresh_client(server: Server) -> httpx.Client:
    """A client that opens a new connection for every request, so that requests spread over the workers."""
    return httpx.Client(base_url=server.url, headers={"X-API-Key": server.key}, timeout=30,
                        limits=httpx.Limits(max_keepalive_connections=0))


def in_parallel(calls, threads: int = 8) -> list:
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda call: call(), calls))


def bootstrap_key_id(database_url: str) -> str:
    store = AuditStore(database_url, run_migrations=False)
    try:
        with Session(store.engine) as session:
            return session.exec(select(ApiKey.key_id).where(ApiKey.label == "bootstrap")).one()
    finally:
        store.close()


# ----------------------------------------------------------------------------- 6. reload reaches every worker


def test_a_reload_through_one_worker_reaches_every_worker(server):
    with fresh_client(server) as client:
        before = client.get("/v1/rules").json()["revision"]
        rule_file = server.rules_dir / "balancing.yaml"
        assert BALANCING_TITLE in rule_file.read_text()
        rule_file.write_text(rule_file.read_text().replace(BALANCING_TITLE, NEW_TITLE))

        reloaded = client.post("/v1/rules/reload")
        assert reloaded.status_code == 200, reloaded.text
        after = reloaded.json()["revision"]
        assert after != before and reloaded.json()["previous_revision"] == before

        claims = [complete_claim({"claim_id": f"RELOAD-{i}", "patient": {"member_id": member(i)}}) for i in range(80)]
        scrubs = in_parallel([lambda c=c: client.post("/v1/claims/scrub", json=c) for c in claims])
        listings = in_parallel([lambda: client.get("/v1/rules") for _ in range(20)])

    assert [r.status_code for r in scrubs] == [200] * 80
    assert [r.status_code for r in listings] == [200] * 20
    assert Counter(r.json()["ruleset"]["revision"] for r in scrubs) == {after: 80}
    assert Counter(r.json()["revision"] for r in listings) == {after: 20}
    titles = {rule["title"] for r in listings for rule in r.json()["rules"] if rule["id"] == "total-charge-mismatch"}
    assert titles == {NEW_TITLE.removeprefix("title: ")}
    # the scrubs were answered by both workers
    served = {r["pid"] for r in server.records() if r.get("msg") == "request" and r.get("path") == "/v1/claims/scrub"
              and "pid" in r}
    assert len(served) == 2, server.log_tail()


# ----------------------------------------------------------------------------- 7. logs from every worker


def test_every_worker_logs_json_request_lines_with_request_id_key_id_client_and_scrub_id_never_phi(
        server, database_url):
    phi_claims = [complete_claim({"claim_id": f"LOG-{i}", "patient": {
        "member_id": member(1000 + i), "first_name": FIRST, "last_name": LAST, "birth_date": BIRTH}}) for i in range(40)]
    with fresh_client(server) as client:
        answers = in_parallel([lambda i=i, c=c: client.post("/v1/claims/scrub", json=c,
                                                             headers={"X-Request-ID": f"log-test-{i}"})
                               for i, c in enumerate(phi_claims)])
        batch = client.post("/v1/claims/scrub/batch", content="\n".join(json.dumps(c) for c in phi_claims[:3]),
                            headers={"content-type": "application/x-ndjson", "X-Request-ID": "log-test-batch"})
    assert [a.status_code for a in answers] == [200] * 40
    assert batch.status_code == 200 and len(batch.text.splitlines()) == 3
    scrub_ids = {f"log-test-{i}": a.json()["scrub_id"] for i, a in enumerate(answers)}
    key_id = bootstrap_key_id(database_url)
    time.sleep(0.5)  # the last lines reach the file

    records = server.records()
    lines = {r["request_id"]: r for r in records if r.get("msg") == "request" and
             str(r.get("request_id", "")).startswith("log-test-")}
    assert set(lines) == set(scrub_ids) | {"log-test-batch"}, server.log_tail()
    for rid, scrub_id in scrub_ids.items():
        line = lines[rid]
        assert (line["method"], line["path"], line["status"]) == ("POST", "/v1/claims/scrub", 200)
        assert (line["scrub_id"], line["key_id"], line["client"]) == (scrub_id, key_id, HOST)
        assert isinstance(line["duration_ms"], (int, float)) and line["level"] == "info"
    batch_line = lines["log-test-batch"]
    assert (batch_line["path"], batch_line["status"], batch_line["claim_count"], batch_line["key_id"]) == \
        ("/v1/claims/scrub/batch", 200, 3, key_id)
    assert "scrub_id" not in batch_line
    assert len({lines[rid]["pid"] for rid in scrub_ids}) == 2  # both workers log
    assert len({r["pid"] for r in records} - {server.process.pid}) >= 2

    text = server.log_text()
    not_json = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
    assert not_json == []
    for phi in [FIRST, LAST, BIRTH] + [member(1000 + i) for i in range(40)]:
        assert phi not in text


# ----------------------------------------------------------------------------- 8. stalled connections


def _closed_after(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closed the connection (None: still open after `limit`)."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except (socket.timeout, TimeoutError):
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_a_connection_that_stalls_in_its_request_head_is_closed_after_the_header_timeout(server):
    with socket.create_connection((HOST, server.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        closed = _closed_after(sock, HEADER_TIMEOUT + 2)
    assert closed is not None and HEADER_TIMEOUT - 0.3 <= closed <= HEADER_TIMEOUT + 2


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(server):
    with socket.create_connection((HOST, server.port)) as sock:
        closed = _closed_after(sock, HEADER_TIMEOUT + 2)
    assert closed is not None and closed <= HEADER_TIMEOUT + 2


def test_after_a_response_a_stalled_next_request_head_is_closed_too(server):
    with socket.create_connection((HOST, server.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        answer = b""
        while not answer.endswith(b'{"status":"ok"}'):
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # the keep-alive timer of uvicorn stops here
        closed = _closed_after(sock, HEADER_TIMEOUT + 2)
    assert closed is not None and closed <= HEADER_TIMEOUT + 2


# ----------------------------------------------------------------------------- 8. metric labels


def _series(text: str, name: str) -> dict[tuple, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {tuple(sorted(s.labels.items())): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name}


def test_metric_labels_come_from_a_fixed_set_whatever_methods_and_paths_clients_send(store):
    rng = random.Random(9)
    admin = {"X-API-Key": store.create_key("admin", secret=f"sk_{secrets.token_urlsafe(32)}")[1]}
    junk = lambda n: "".join(rng.choice(string.ascii_letters) for _ in range(n))  # noqa: E731
    with TestClient(create_app(store=store)) as client:
        client.get("/metrics", headers=admin)  # its own series exist from here on
        before = client.get("/metrics", headers=admin).text
        for i in range(300):  # without a key, as in the attack
            method = junk(rng.randint(3, 12)).upper() if i % 2 else junk(rng.randint(3, 12))
            path = "/healthz" if i % 3 == 0 else "/" + "/".join(junk(rng.randint(1, 20)) for _ in range(rng.randint(1, 4)))
            client.request(method, path)
        after = client.get("/metrics", headers=admin).text
    requests_before, requests_after = (_series(t, "scrubber_http_requests_total") for t in (before, after))
    new = set(requests_after) - set(requests_before)
    # unauthenticated junk: 401 before routing (route "unmatched"), or 404 / 405 (with a key-less route)
    assert new <= {(("method", "other"), ("route", route), ("status", status))
                   for route in ("unmatched", "/healthz") for status in ("401", "404", "405")}
    junk_counted = sum(v - requests_before.get(k, 0) for k, v in requests_after.items() if dict(k)["method"] == "other")
    assert junk_counted == 300
    buckets_before, buckets_after = (_series(t, "scrubber_http_request_duration_seconds_count") for t in (before, after))
    assert set(buckets_after) - set(buckets_before) <= {(("method", "other"), ("route", "unmatched")),
                                                        (("method", "other"), ("route", "/healthz"))}


# ----------------------------------------------------------------------------- reload, in one process


@pytest.fixture()
def rule_copies(tmp_path, monkeypatch):
    rules, payers = tmp_path / "rules", tmp_path / "payers"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copytree(ROOT / "payers", payers)
    monkeypatch.setenv("SCRUBBER_RULES_DIR", str(rules))
    monkeypatch.setenv("SCRUBBER_PAYERS_DIR", str(payers))
    return rules


def test_a_worker_behind_the_published_generation_loads_the_files_and_warns_when_they_changed_again(
        store, rule_copies, caplog):
    """Two apps on one database stand for two workers: a reload through the first publishes
    generation 1; the second, on its next request, loads the files from disk. When the files
    changed again after the reload, the second warns, naming both revisions, and runs what it
    loaded."""
    balancing = rule_copies / "balancing.yaml"
    with TestClient(create_app(store=store)) as first, TestClient(create_app(store=store)) as second:
        start = second.get("/v1/rules").json()["revision"]
        assert store.rules_generation() == (0, None)
        balancing.write_text(balancing.read_text().replace(BALANCING_TITLE, NEW_TITLE))
        reloaded = first.post("/v1/rules/reload").json()["revision"]
        assert reloaded != start
        assert store.rules_generation() == (1, reloaded)
        balancing.write_text(balancing.read_text().replace(NEW_TITLE, "title: Edited once more"))
        with caplog.at_level(logging.WARNING, logger="scrubber.service.app"):
            seen = second.get("/v1/rules").json()["revision"]
        assert seen not in (start, reloaded)
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "scrubber.service.app"]
        assert len(warnings) == 1 and reloaded in warnings[0] and seen in warnings[0]
        assert second.get("/readyz").json()["revision"] == seen
        assert first.get("/v1/rules").json()["revision"] == reloaded  # generation 1 is what it runs


def test_a_worker_that_starts_after_a_reload_adopts_the_published_generation(store, rule_copies):
    published = store.publish_rules("abc123")
    assert published == 1 and store.publish_rules("abc123") == 2
    with TestClient(create_app(store=store)) as client:
        assert client.app.state.current.generation == 2
        revision = client.get("/v1/rules").json()["revision"]
        assert client.app.state.current.revision == revision  # nothing reloaded on the way


# ----------------------------------------------------------------------------- TLS


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with openssl or else with `cryptography`."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        return cert, key
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                   .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


def test_serve_answers_over_tls_with_the_certificate_and_key_given(tmp_path, database_url, data_dir):
    cert, key = self_signed_certificate(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    running = Server(tmp_path / "server", database_url, data_dir, "--ssl-certfile", str(cert),
                     "--ssl-keyfile", str(key), scheme="https")
    try:
        running.wait_ready(workers=1, verify=trust)
        response = httpx.get(f"{running.url}/healthz", verify=trust, timeout=10)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        with pytest.raises(httpx.HTTPError):  # plain HTTP is not answered on a TLS port
            httpx.get(f"http://{HOST}:{running.port}/healthz", timeout=5).raise_for_status()
    finally:
        running.stop()


def test_serve_refuses_a_certificate_without_its_key_and_a_missing_file(tmp_path, capsys):
    from scrubber.cli import main

    cert = tmp_path / "cert.pem"
    cert.write_text("not used")
    assert main(["serve", "--ssl-certfile", str(cert)]) == 2
    assert capsys.readouterr().err == "give both --ssl-certfile and --ssl-keyfile (or neither)\n"
    assert main(["serve", "--ssl-certfile", str(cert), "--ssl-keyfile", str(tmp_path / "missing.pem")]) == 2
    assert capsys.readouterr().err == f"--ssl-keyfile: no such file: {tmp_path / 'missing.pem'}\n"
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--header-timeout", "0"])
    assert exited.value.code == 2
    assert "--header-timeout: '0' is not a number of seconds between 0 and 3600" in capsys.readouterr().err
