"""The batch endpoints through a real uvicorn server (issue 9, items 1 and 2).

TestClient hands the app its whole body at once and never listens for a disconnect, so these
tests start `uvicorn.Server` for `create_app()` on a loopback port, in a thread of the test
process (the test database and data directory of conftest; no key stored, so loopback clients are
admin), and talk HTTP to it: every claim of an NDJSON body yields exactly one record, in order,
however large the body and however it is paced; a line too long or nested too deeply yields an
error record and the rest go on; a client that goes away mid-answer leaves only whole scrubs in
the audit store and one line in the server's log with the counts. The 10,000-claim test stubs
the scrub itself (`transport_only`): scrubbing and storing that many claims takes minutes on a
loaded machine, and the other tests scrub and store for real."""
from __future__ import annotations

import itertools
import json
import logging
import random
import re
import select as io_select
import socket
import threading
import time
from typing import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy import func
from sqlmodel import Session, select

import scrubber.service.app
import scrubber.service.batch_response
from scrubber import limits
from scrubber.audit.tables import FindingRecord, Scrub
from scrubber.intake.items import Item
from scrubber.intake.parse import TooDeep, loads
from tests.contract_example import CONTRACT_CLAIM, assert_problem
from tests.generators import realistic_claim_dict

BATCH = "/v1/claims/scrub/batch"
NDJSON = {"content-type": "application/x-ndjson"}
DEEP = 100_000  # levels: far past the interpreter's recursion limit
ABANDONED = re.compile(r"batch abandoned: (\d+) of (\d+) claims were done")


class ServerLog(logging.Handler):
    """What the service logs (the `scrubber` loggers), kept for the tests to read."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: re.Pattern, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.search(self.text())
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no log line matches {pattern.pattern!r}:\n{self.text()[-3000:]}")


class Server:
    def __init__(self, url: str, log: ServerLog):
        self.url, self.log = url, log
        self.port = int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def server(database_url, data_dir) -> Iterator[Server]:
    """The service on a free loopback port, run by uvicorn in a thread of this process."""
    from scrubber.audit.store import AuditStore

    keys = AuditStore(database_url)
    keys.delete_everything()  # no key left by an earlier test: loopback clients are served without one
    keys.close()
    log, logger = ServerLog(), logging.getLogger("scrubber")
    level = logger.level
    logger.addHandler(log)
    logger.setLevel(logging.INFO)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    instance = uvicorn.Server(uvicorn.Config(scrubber.service.app.create_app(), log_config=None, access_log=False))
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{sock.getsockname()[1]}", log)
    instance.should_exit = True
    thread.join(30)
    sock.close()
    logger.removeHandler(log)
    logger.setLevel(level)


@pytest.fixture()
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=300) as client:
        yield client


@pytest.fixture()
def transport_only(monkeypatch):
    """The server answers each item with `{"index", "claim_id"}` instead of scrubbing and storing it:
    for tests of the transport alone (reading, parsing, ordering and streaming), whose size would
    otherwise be spent in the rule engine and the audit store."""
    def answer(scrubber_, item: Item, **_) -> tuple[None, dict]:
        return None, {"index": item.index, "claim_id": item.claim.claim_id if item.claim else None}

    monkeypatch.setattr(scrubber.service.batch_response, "judge_item", answer)


def claim(index: int, rng: random.Random) -> dict:
    """A realistic claim `BS-<index>` of a member of its own (so that no claim is another's history)."""
    data = realistic_claim_dict(rng, index)
    data["claim_id"] = f"BS-{index}"
    data["patient"]["member_id"] = f"BSM{index:07d}"
    return data


def claim_line(index: int, rng: random.Random | None = None) -> bytes:
    return json.dumps(claim(index, rng or random.Random(index))).encode() + b"\n"


def ndjson_body(count: int, seed: int = 9) -> bytes:
    rng = random.Random(seed)
    return b"".join(claim_line(i, rng) for i in range(count))


def records(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.content.splitlines()]


def answered_ids(answered: list[dict]) -> list[str | int]:
    """Each record's claim id, or for an error record its index."""
    return [r["claim_id"] if "scrub_id" in r else r["index"] for r in answered]


def error_detail(record: dict) -> str:
    assert record["error"]["type"] == "/problems/invalid-claim" and record["error"]["status"] == 422
    return record["error"]["detail"]


def deep_array(levels: int = DEEP) -> bytes:
    return b"[" * levels + b"]" * levels


def deep_object(levels: int = DEEP) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


# ------------------------------------------------------------------------------ size and pacing

def test_500_claim_ndjson_body_gives_500_scrubs_in_order_each_stored(http, store):
    body = ndjson_body(500)
    assert len(body) > 500 * 1024  # the size past which claims were lost

    answered = records(http.post(BATCH, content=body, headers=NDJSON))

    assert answered_ids(answered) == [f"BS-{i}" for i in range(500)]
    assert {r["status"] for r in answered} <= {"pass", "warn", "fail"}
    with Session(store.engine) as session:
        assert set(session.exec(select(Scrub.scrub_id)).all()) == {r["scrub_id"] for r in answered}


def test_10000_claim_ndjson_body_gives_10000_records_in_order_with_their_claim_ids(http, transport_only):
    body = ndjson_body(10_000, seed=10)
    assert len(body) > 10 * limits.MB  # past the part of a body kept in memory: spooled to disk

    answered = records(http.post(BATCH, content=body, headers=NDJSON))

    assert answered == [{"index": i + 1, "claim_id": f"BS-{i}"} for i in range(10_000)]


def test_a_slow_chunked_upload_gives_every_record(http):
    body = ndjson_body(150, seed=11)

    def slowly() -> Iterator[bytes]:  # pieces that cut lines anywhere, with pauses between them
        rng, start = random.Random(3), 0
        for n in itertools.count(1):
            if start >= len(body):
                return
            size = rng.choice([1, 7, 300, 1500, 4096])
            yield body[start:start + size]
            start += size
            time.sleep(0.5 if n % 60 == 0 else 0.002)

    answered = records(http.post(BATCH, content=slowly(), headers=NDJSON))

    assert answered_ids(answered) == [f"BS-{i}" for i in range(150)]


# ------------------------------------------------------------------------------ bad lines

def test_a_line_longer_than_the_limit_gives_an_error_record_and_the_rest_go_on(http):
    too_long = b'{"claim_id": "' + b"x" * limits.MAX_LINE_BYTES + b'"}\n'
    at_limit = b'{"claim_id": "' + b"y" * (limits.MAX_LINE_BYTES - 16) + b'"}\n'
    assert len(at_limit) - 1 == limits.MAX_LINE_BYTES  # the longest line read: the limit itself
    body = claim_line(0) + too_long + claim_line(2) + at_limit + claim_line(4)

    answered = records(http.post(BATCH, content=body, headers=NDJSON))

    assert answered_ids(answered) == ["BS-0", 2, "BS-2", 4, "BS-4"]
    assert error_detail(answered[1]) == "line 2 is longer than 8 MB"
    assert answered[1]["error"]["errors"] == []
    assert "claim_id" in [e["field"] for e in answered[3]["error"]["errors"]]  # read, then refused as a claim


def test_a_line_nested_100000_deep_gives_an_error_record_and_the_rest_go_on(http):
    shallow_enough = json.dumps({**CONTRACT_CLAIM, "claim_id": "AT-64"}).encode()[:-1] + \
        b', "note": ' + deep_array(63) + b"}\n"
    body = b"".join([claim_line(0), deep_array() + b"\n", claim_line(2), deep_object() + b"\n",
                     b'{"claim_id": "BS-x", "lines": ' + deep_array(64) + b"}\n", shallow_enough, claim_line(6)])

    answered = records(http.post(BATCH, content=body, headers=NDJSON))

    assert answered_ids(answered) == ["BS-0", 2, "BS-2", 4, 5, 6, "BS-6"]
    assert error_detail(answered[1]) == "line 2 is nested deeper than 64 levels"
    assert error_detail(answered[3]) == "line 4 is nested deeper than 64 levels"
    assert error_detail(answered[4]) == "line 5 is nested deeper than 64 levels"
    # 64 levels are read: the claim is then refused for its unknown field, not for its depth
    assert answered[5]["error"]["errors"] == [{"field": "note", "message": "is not a field of the claim contract"}]


def test_a_deep_json_array_body_is_a_422_problem(http):
    claim_json = json.dumps(CONTRACT_CLAIM).encode()
    for body in (deep_array(), b"[" + claim_json + b"," + deep_object() + b"]",
                 b"[" + claim_json + b"," + deep_array(64) + b"]"):
        problem = assert_problem(http.post(BATCH, content=body, headers={"content-type": "application/json"}),
                                 422, "invalid-request")
        assert problem["detail"] == "the body is nested deeper than 64 levels"
        assert problem["errors"] == [{"field": "(body)", "message": "is nested deeper than 64 levels"}]


def test_deep_json_to_the_fhir_and_single_claim_endpoints_is_a_422_problem(http):
    for body in (deep_array(), deep_object()):
        fhir = assert_problem(http.post("/v1/claims/scrub/fhir", content=body,
                                        headers={"content-type": "application/fhir+json"}), 422, "invalid-fhir")
        assert fhir["detail"] == "the body is not valid JSON: nested deeper than 64 levels"
        assert_problem(http.post("/v1/claims/scrub", content=body, headers={"content-type": "application/json"}),
                       422, "invalid-claim")


def test_the_json_reader_refuses_more_than_64_levels_before_parsing():
    assert loads(b"[" * 64 + b"]" * 64) is not None
    assert loads('["' + "[" * 100 + '"]') == ["[" * 100]  # brackets inside a string do not nest
    for text in (deep_array(65), deep_object(), b"[" * DEEP, "[" * DEEP):
        with pytest.raises(TooDeep, match="^nested deeper than 64 levels$"):
            loads(text)


# ------------------------------------------------------------------------------ limits

def post_until_answered(server: Server, head: str, pieces: Iterator[bytes]) -> tuple[bytes, dict, int]:
    """On a raw socket: a request head, then body pieces until the server answers (or they run
    out); the response's head, its JSON body, and how many bytes of pieces were sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as conn:
        conn.sendall(head.encode())
        sent = 0
        for piece in pieces:
            if io_select.select([conn], [], [], 0)[0]:  # answered: stop sending
                break
            try:
                conn.sendall(piece)
            except OSError:  # answered and closed: the rest is never read
                break
            sent += len(piece)
        response = b""
        while not response.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            response += chunk
    status, _, body = response.partition(b"\r\n\r\n")
    return status, json.loads(body), sent


def test_a_json_array_batch_past_its_limit_is_413_before_the_rest_is_sent(server):
    declared = limits.MAX_WHOLE_BODY_BYTES + 64 * limits.MB  # under the NDJSON limit: the handler decides
    pieces = (b"[" + b" " * (limits.MB - 1) if i == 0 else b" " * limits.MB for i in range(declared // limits.MB))

    status, problem, sent = post_until_answered(
        server, f"POST {BATCH} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
                f"content-length: {declared}\r\n\r\n", pieces)

    assert status.startswith(b"HTTP/1.1 413 ")
    assert problem["type"] == "/problems/too-large"
    assert problem["detail"] == ("a batch sent as a JSON array (send NDJSON for more) is at most 64 MB; "
                                 "split it into several requests")
    assert sent < declared  # answered while the body was unfinished: refused as it was read, not after


def test_an_ndjson_batch_past_its_limit_is_413_while_it_is_read(server, monkeypatch):
    monkeypatch.setattr(limits, "MAX_NDJSON_BATCH_BYTES", limits.MB)  # the server reads it per request
    body = ndjson_body(1000, seed=14)
    assert len(body) > limits.MB

    def chunked() -> Iterator[bytes]:  # no Content-Length to refuse it by: counted as it arrives
        for start in range(0, len(body), 65536):
            piece = body[start:start + 65536]
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        yield b"0\r\n\r\n"

    status, problem, sent = post_until_answered(
        server, f"POST {BATCH} HTTP/1.1\r\nhost: test\r\ncontent-type: application/x-ndjson\r\n"
                "transfer-encoding: chunked\r\n\r\n", chunked())

    assert status.startswith(b"HTTP/1.1 413 ")
    assert problem["type"] == "/problems/too-large"
    assert problem["detail"] == "a batch sent as NDJSON is at most 1 MB; split it into several requests"


# ------------------------------------------------------------------------------ a client that goes away

def test_a_client_that_disconnects_midway_leaves_whole_scrubs_and_a_log_line_with_the_counts(server, http, store):
    count = 3000
    body = ndjson_body(count, seed=12)
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as conn:
        conn.sendall(f"POST {BATCH} HTTP/1.1\r\nhost: test\r\ncontent-type: application/x-ndjson\r\n"
                     f"content-length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        while len(received) < 4096:  # the status line, headers and the first records
            received += conn.recv(4096)
    assert received.startswith(b"HTTP/1.1 200 ")

    found = server.log.wait_for(ABANDONED)
    done, total = int(found[1]), int(found[2])

    assert total == count and 0 < done < count
    assert "BSM0" not in server.log.text() and "Lee" not in server.log.text()  # counts only, no PHI
    assert "unexpected error" not in server.log.text()
    assert http.get("/healthz").status_code == 200
    assert records(http.post(BATCH, content=claim_line(count + 1), headers=NDJSON))[0]["claim_id"] == f"BS-{count + 1}"
    with Session(store.engine) as session:
        stored = session.exec(select(Scrub.scrub_id, Scrub.claim_id, Scrub.finding_count)
                              .where(Scrub.claim_id != f"BS-{count + 1}")).all()
        findings = dict(session.exec(select(FindingRecord.scrub_id, func.count())
                                     .group_by(FindingRecord.scrub_id)).all())
    # exactly the first `done` claims, each stored with all its findings
    assert sorted(claim_id for _, claim_id, _ in stored) == sorted(f"BS-{i}" for i in range(done))
    assert [(scrub_id, findings.get(scrub_id, 0)) for scrub_id, _, _ in stored] == \
        [(scrub_id, finding_count) for scrub_id, _, finding_count in stored]


def test_a_client_that_disconnects_while_sending_gets_nothing_scrubbed_and_a_log_line(server, http, store):
    body = ndjson_body(200, seed=13)
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as conn:
        conn.sendall(f"POST {BATCH} HTTP/1.1\r\nhost: test\r\ncontent-type: application/x-ndjson\r\n"
                     f"content-length: {len(body)}\r\n\r\n".encode() + body[:len(body) // 2])
        time.sleep(0.2)

    found = server.log.wait_for(re.compile(r"request abandoned: the client went away while sending its body, "
                                           r"after (\d+) bytes; nothing was scrubbed"))

    assert int(found[1]) == len(body) // 2
    assert "Traceback" not in server.log.text() and "unexpected error" not in server.log.text()
    assert http.get("/healthz").status_code == 200
    with Session(store.engine) as session:
        assert session.exec(select(func.count()).select_from(Scrub)).one() == 0
