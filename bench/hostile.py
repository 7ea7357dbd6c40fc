"""The hostile inputs of issue 9, each sent to a fresh `scrubber serve`: what the server answers,
in how long, and at what peak memory.

    python bench/hostile.py [--source DIR] [--only NAME,...] [--json OUT]

Each case gets its own server: `python -m scrubber.cli serve --port P` (one worker) with
`PYTHONPATH=DIR` (default: this checkout), so that `--source /tmp/before` runs an older tree of the
code with the same virtualenv; a fresh temporary data dir and SQLite database
(`SCRUBBER_DATA_DIR`, `SCRUBBER_DATABASE_URL`) and an admin key (`SCRUBBER_BOOTSTRAP_KEY`, a random
40-character secret) that the client sends in `X-API-Key` except where a case says "no key". The
server runs under an address-space limit (`RLIMIT_AS` 6 GiB) so that a bomb cannot take the machine
down: past it, an allocation fails (MemoryError) instead of the kernel killing something. Every
client read or write waits at most 60 s; each case also has an overall cap.

For each case: the outcome (status, records returned against claims sent, error records, or
"timed out" / "connection cut" / "server died"), the wall time of the case, the server's peak RSS
(VmHWM of the server process, read after the case and before stopping it; the RSS after start-up
is given too), and the worst latency of GET /healthz probed every 0.5 s from another thread while
the case ran (it shows whether the event loop stalled). The batch cases use a small full-duplex
HTTP/1.1 client (a thread uploads while the answer is read), so that a server that answers as it
reads is never stalled by a client that only reads once it has sent everything.

Claims are seeded realistic claims (tests/generators.py of this checkout, each with its own
member id and a unique claim id) and the contract example (tests/contract_example.py).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import secrets
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.contract_example import CONTRACT_CLAIM  # noqa: E402
from tests.generators import realistic_claim_dict  # noqa: E402

HOST = "127.0.0.1"
MEMORY_LIMIT = 6 * 1024 ** 3  # RLIMIT_AS of the server
TIMEOUT = 60.0  # any one client read or write
PROBE_EVERY = 0.5  # GET /healthz while a case runs
ERROR = "<error record>"  # where an error record is expected among the claim ids


# ----------------------------------------------------------------------------- the server

def _limit_memory() -> None:  # runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """`scrubber serve` (one worker) on a fresh data dir, in its own process group."""

    def __init__(self, source: Path, key: str, workdir: Path):
        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = workdir / "server.log"
        self.env = server_env(source, key, workdir)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scrubber.cli", "serve", "--host", HOST, "--port", str(self.port)],
                cwd=workdir, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_limit_memory)
        self.peak_kb = 0
        self.vm_peak_kb = 0
        self._sampling = threading.Event()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with code {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"GET /healthz did not answer 200 within {timeout:.0f} s:\n{self.log_tail()}")

    def status_kb(self, name: str) -> int | None:
        """A field of /proc/PID/status in kB (VmHWM, VmRSS, VmPeak), None once the process is gone."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(name + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def sample(self) -> None:
        """Keep the peak figures (in case the process dies before they are read at the end)."""
        self.peak_kb = max(self.peak_kb, self.status_kb("VmHWM") or 0)
        self.vm_peak_kb = max(self.vm_peak_kb, self.status_kb("VmPeak") or 0)

    def start_sampling(self) -> None:
        def run():
            while not self._sampling.wait(0.2):
                self.sample()
        threading.Thread(target=run, daemon=True).start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to the group, SIGKILL after `timeout` (a server stuck on its event loop ignores SIGTERM)."""
        self._sampling.set()
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def server_env(source: Path, key: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SCRUBBER_RULES_DIR", "SCRUBBER_PAYERS_DIR", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(PYTHONPATH=str(source), PYTHONUNBUFFERED="1", SCRUBBER_DATA_DIR=str(workdir),
               SCRUBBER_DATABASE_URL=f"sqlite:///{workdir / 'scrubber.db'}", SCRUBBER_BOOTSTRAP_KEY=key)
    return env


def code_under_test(source: Path) -> str:
    """Where the server's `scrubber` package comes from, and the git commit when there is one."""
    with tempfile.TemporaryDirectory() as tmp:
        where = subprocess.run([sys.executable, "-c", "import scrubber; print(scrubber.__file__)"],
                               cwd=tmp, env=server_env(source, "x", Path(tmp)), capture_output=True, text=True)
    text = where.stdout.strip() or where.stderr.strip()[-200:]
    git = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if git.returncode == 0 and (source / ".git").exists():
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain"], capture_output=True, text=True)
        text += f" (git {git.stdout.strip()}{', with uncommitted changes' if dirty.stdout.strip() else ''})"
    else:
        text += " (no git metadata)"
    return text


# ----------------------------------------------------------------------------- a full-duplex HTTP/1.1 client

@dataclass
class Answer:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)  # kept only when no `on_data` is given
    body_bytes: int = 0
    ended: str = "complete"  # complete | timed out | connection cut | refused
    head_after: float | None = None  # seconds from the start until the status line arrived
    sent: int = 0  # body bytes the server accepted
    upload_error: str | None = None

    def problem_detail(self) -> str:
        try:
            return str(json.loads(self.body).get("detail", ""))[:120]
        except (ValueError, AttributeError):
            return bytes(self.body[:120]).decode(errors="replace")


class _Closed(Exception):
    pass


def exchange(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None, *,
             chunks: Iterable[bytes] | None = None, chunk_delay: float = 0.0,
             on_data: Callable[[bytes], None] | None = None, cap: float = 300.0) -> Answer:
    """One request: `body` is sent with a Content-Length, `chunks` with chunked encoding (and
    `chunk_delay` seconds between chunks), by a thread, while the answer is read here. Each read or
    write waits at most TIMEOUT; the whole exchange at most `cap` seconds."""
    answer, started = Answer(), time.monotonic()
    deadline = started + cap
    try:
        sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
    except OSError:
        answer.ended = "refused"
        return answer
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        head.append(f"Content-Length: {len(body)}")
    elif chunks is not None:
        head.append("Transfer-Encoding: chunked")
    reading_done = threading.Event()

    def upload():
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            if body is not None:
                view = memoryview(body)
                for at in range(0, len(view), 256 * 1024):
                    piece = view[at:at + 256 * 1024]
                    sock.sendall(piece)
                    answer.sent += len(piece)
            elif chunks is not None:
                for chunk in chunks:
                    if reading_done.is_set() or time.monotonic() > deadline:
                        return
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    answer.sent += len(chunk)
                    if chunk_delay:
                        time.sleep(chunk_delay)
                sock.sendall(b"0\r\n\r\n")
        except OSError as exc:
            if not reading_done.is_set():
                answer.upload_error = f"{type(exc).__name__} after {answer.sent / 1e6:.1f} MB"

    writer = threading.Thread(target=upload, daemon=True)
    writer.start()
    buffer = bytearray()

    def fill(n: int) -> None:
        while len(buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the case's cap")  # (a read may also time out at the cap)
            sock.settimeout(min(TIMEOUT, left))
            data = sock.recv(1024 * 1024)
            if not data:
                raise _Closed()
            buffer.extend(data)

    def take(n: int) -> bytes:
        fill(n)
        out = bytes(buffer[:n])
        del buffer[:n]
        return out

    def line() -> bytes:
        while (at := buffer.find(b"\r\n")) < 0:
            fill(len(buffer) + 1)
        return take(at + 2)[:-2]

    def deliver(data: bytes) -> None:
        answer.body_bytes += len(data)
        if on_data:
            on_data(data)
        else:
            answer.body.extend(data)

    until_eof = False
    try:
        while (at := buffer.find(b"\r\n\r\n")) < 0:
            fill(len(buffer) + 1)
        raw_head = take(at + 4).decode("latin-1").split("\r\n")
        answer.head_after = time.monotonic() - started
        answer.status = int(raw_head[0].split()[1])
        answer.headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in raw_head[1:] if h)}
        if answer.headers.get("transfer-encoding", "").lower() == "chunked":
            while (size := int(line().split(b";")[0], 16)) > 0:
                deliver(take(size))
                take(2)
        elif "content-length" in answer.headers:
            left = int(answer.headers["content-length"])
            while left:
                fill(1)
                piece = take(min(left, len(buffer)))
                left -= len(piece)
                deliver(piece)
        else:
            until_eof = True
            while True:
                fill(len(buffer) + 1)
                deliver(take(len(buffer)))
    except TimeoutError:  # socket.timeout is TimeoutError
        answer.ended = (f"timed out (the case's {cap:.0f} s cap)" if time.monotonic() >= deadline - 0.5
                        else f"timed out (nothing for {TIMEOUT:.0f} s)")
    except _Closed:
        answer.ended = "complete" if until_eof else "connection cut"
    except ConnectionError:
        answer.ended = "connection cut"
    finally:
        reading_done.set()
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        writer.join(5.0)
    return answer


class Records:
    """NDJSON records as they arrive: the claim id of each, or ERROR for an error record."""

    def __init__(self):
        self.buffer = bytearray()
        self.ids: list[str | None] = []
        self.error_details: list[str] = []
        self.unreadable = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while (at := self.buffer.find(b"\n")) >= 0:
            raw = bytes(self.buffer[:at])
            del self.buffer[:at + 1]
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                self.unreadable += 1
                continue
            if "error" in record:
                self.ids.append(ERROR)
                self.error_details.append(str(record["error"].get("detail", ""))[:100])
            else:
                self.ids.append(record.get("claim_id"))

    def against(self, expected: list[str]) -> dict:
        """How the records compare with one record per claim sent, in order."""
        mismatch = next((i for i, (got, want) in enumerate(zip(self.ids, expected)) if got != want), None)
        return {"records": len(self.ids), "expected": len(expected), "error_records": self.ids.count(ERROR),
                "expected_error_records": expected.count(ERROR), "unreadable_lines": self.unreadable,
                "partial_line": bool(self.buffer.strip()),
                "in_order": mismatch is None and len(self.ids) == len(expected),
                "first_mismatch": None if mismatch is None else mismatch + 1,
                "error_details": self.error_details[:3]}


# ----------------------------------------------------------------------------- the inputs

MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"


def claims(n: int, seed: int = 9) -> list[dict]:
    """Seeded realistic claims, each with its own member id and a unique claim id."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        claim = realistic_claim_dict(rng, i)
        claim["claim_id"] = f"H{seed}-{i:05d}"
        claim["patient"]["member_id"] = (f"{rng.randint(1, 9)}{rng.choice(MBI_LETTERS)}{rng.randint(0, 9)}"
                                         f"{rng.randint(0, 9)}{rng.choice(MBI_LETTERS)}{rng.choice(MBI_LETTERS)}"
                                         f"{rng.randint(0, 9)}{rng.choice(MBI_LETTERS)}{rng.choice(MBI_LETTERS)}"
                                         f"{rng.randint(10, 99)}")
        out.append(claim)
    return out


def ndjson(items: list[dict]) -> bytes:
    return b"".join(json.dumps(c, separators=(",", ":")).encode() + b"\n" for c in items)


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def yaml_laughs(levels: int, size: int, fanout: int = 10) -> bytes:
    """Billion laughs: each anchor a list of `fanout` aliases of the one before (fanout**levels
    leaves), padded with a comment to `size` bytes."""
    names = string.ascii_lowercase
    lines = [f"a: &a [{','.join(['lol'] * fanout)}]"]
    lines += [f"{names[i]}: &{names[i]} [{','.join(['*' + names[i - 1]] * fanout)}]" for i in range(1, levels)]
    return _padded("\n".join(lines) + "\n", size)


def yaml_merge_bomb(levels: int = 7, fanout: int = 10) -> bytes:
    """Merge keys: each mapping merges `fanout` times the one before (fanout**levels entries)."""
    names = string.ascii_lowercase
    lines = ["a: &a {" + ", ".join(f"k{i}: lol" for i in range(fanout)) + "}"]
    lines += [f"{names[i]}: &{names[i]} {{<<: [{','.join(['*' + names[i - 1]] * fanout)}]}}" for i in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


def yaml_deep(depth: int = 10_000) -> bytes:
    """`depth` nested collections, mappings and sequences in turn."""
    return ("a: " + "[{a: " * (depth // 2) + "1" + "}]" * (depth // 2) + "\n").encode()


def _padded(text: str, size: int) -> bytes:
    pad = size - len(text) - 3
    return (("# " + "." * pad + "\n") if pad > 0 else "").encode() + text.encode()


def duplicate_lines_claim(n: int = 999) -> dict:
    """The contract claim with its one line written `n` times (numbered 1..n, otherwise identical)."""
    claim = json.loads(json.dumps(CONTRACT_CLAIM))
    line = claim["lines"][0]
    claim["claim_id"] = "DUP-999"
    claim["lines"] = [{**line, "line_number": i + 1} for i in range(n)]
    claim["total_charge"] = f"{125 * n:.2f}"
    return claim


def hundred_mb_claim(size: int = 100 * 1024 * 1024) -> bytes:
    """A claim-shaped JSON object of exactly `size` bytes: ~1 million small service lines."""
    head = b'{"claim_id":"BIG-1","claim_type":"professional","lines":['
    item = (b'{"procedure_code":"99213","units":1,"charge":"100.00","service_date":"2026-11-01",'
            b'"diagnosis_pointers":[1]}')
    tail = b"]}"
    count = (size - len(head) - len(tail) + 1) // (len(item) + 1)
    body = head + b",".join([item] * count) + tail
    return body[:-1] + b" " * (size - len(body)) + body[-1:]


# ----------------------------------------------------------------------------- the probe of /healthz

class HealthProbe(threading.Thread):
    """GET /healthz every PROBE_EVERY s while a case runs; the worst latency (a probe still waiting
    3 s after the case counts with the time it has waited)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.stop_event = url, threading.Event()
        self.latencies: list[float] = []
        self.failures = 0
        self.in_flight_since: float | None = None

    def run(self) -> None:
        # longer than the case's own requests: a probe stalled as long as the case is still waiting
        # when the case ends, rather than timed out just before
        with httpx.Client(timeout=TIMEOUT + 30) as client:
            while not self.stop_event.is_set():
                self.in_flight_since = t0 = time.monotonic()
                try:
                    ok = client.get(f"{self.url}/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.in_flight_since = None
                self.latencies.append(time.monotonic() - t0)
                self.failures += not ok
                self.stop_event.wait(max(0.0, PROBE_EVERY - (time.monotonic() - t0)))

    def finish(self) -> dict:
        self.stop_event.set()
        self.join(3.0)  # a probe in flight gets a moment to come back
        since = self.in_flight_since
        waiting = time.monotonic() - since if since is not None and self.is_alive() else 0.0
        worst = max(self.latencies + [waiting]) if self.latencies or waiting else None
        return {"probes": len(self.latencies), "failures": self.failures,
                "worst_s": None if worst is None else round(worst, 3),
                "still_waiting_at_end": waiting > 0 and waiting >= worst}


# ----------------------------------------------------------------------------- the cases

@dataclass
class Context:
    server: Server
    key: str

    @property
    def port(self) -> int:
        return self.server.port

    def auth(self, **more: str) -> dict[str, str]:
        return {"X-API-Key": self.key, **more}


def _stream_outcome(answer: Answer, records: Records, expected: list[str]) -> dict:
    result = {"status": answer.status, "ended": answer.ended, "upload_error": answer.upload_error,
              **records.against(expected)}
    if answer.status is None:
        result["outcome"] = answer.ended
        return result
    if answer.status != 200:
        result["outcome"] = f"{answer.status} {answer.problem_detail()}"
        return result
    text = f"200, {result['records']}/{len(expected)} records"
    text += f", {result['error_records']} error record{'s' * (result['error_records'] != 1)}"
    if result["expected_error_records"]:
        text += f" (expected {result['expected_error_records']})"
    text += ", in order" if result["in_order"] else (
        f", wrong from record {result['first_mismatch']}" if result["first_mismatch"] else "")
    if answer.ended != "complete":
        text += f"; {answer.ended}"
    if answer.upload_error:
        text += f"; upload: {answer.upload_error}"
    if result["error_details"] and result["error_records"] > result["expected_error_records"]:
        text += f"; error: \"{result['error_details'][0]}\""
    result["outcome"] = text
    return result


def case_ndjson(n: int, cap: float) -> Callable[[Context], dict]:
    def run(ctx: Context) -> dict:
        batch = claims(n)
        body = ndjson(batch)
        records = Records()
        answer = exchange(ctx.port, "POST", "/v1/claims/scrub/batch",
                          ctx.auth(**{"Content-Type": "application/x-ndjson"}), body, on_data=records.feed, cap=cap)
        return {**_stream_outcome(answer, records, [c["claim_id"] for c in batch]), "body_mb": round(len(body) / 1e6, 2)}
    return run


def case_ndjson_slow(ctx: Context) -> dict:
    batch = claims(300)
    body = ndjson(batch)
    records = Records()
    pieces = [body[i:i + 2048] for i in range(0, len(body), 2048)]
    answer = exchange(ctx.port, "POST", "/v1/claims/scrub/batch",
                      ctx.auth(**{"Content-Type": "application/x-ndjson"}), chunks=pieces, chunk_delay=0.01,
                      on_data=records.feed, cap=180)
    return {**_stream_outcome(answer, records, [c["claim_id"] for c in batch]),
            "body_mb": round(len(body) / 1e6, 2), "chunks": len(pieces)}


def case_deep_line(ctx: Context) -> dict:
    batch = claims(99)
    lines = [json.dumps(c, separators=(",", ":")).encode() for c in batch]
    lines.insert(49, deep_json())  # line 50
    expected = [c["claim_id"] for c in batch]
    expected.insert(49, ERROR)
    records = Records()
    answer = exchange(ctx.port, "POST", "/v1/claims/scrub/batch",
                      ctx.auth(**{"Content-Type": "application/x-ndjson"}), b"\n".join(lines) + b"\n",
                      on_data=records.feed, cap=120)
    result = _stream_outcome(answer, records, expected)
    result["records_after_line_50"] = max(0, result["records"] - 50)
    if answer.status == 200:
        result["outcome"] += f"; {result['records_after_line_50']}/50 records after line 50"
    return result


def case_deep_array(ctx: Context) -> dict:
    batch = claims(10)
    items = [json.dumps(c, separators=(",", ":")).encode() for c in batch]
    items.insert(5, deep_json())
    expected = [c["claim_id"] for c in batch]
    expected.insert(5, ERROR)
    records = Records()
    answer = exchange(ctx.port, "POST", "/v1/claims/scrub/batch", ctx.auth(**{"Content-Type": "application/json"}),
                      b"[" + b",".join(items) + b"]", on_data=records.feed, cap=120)
    return _stream_outcome(answer, records, expected)


def case_yaml(text: bytes) -> Callable[[Context], dict]:
    def run(ctx: Context) -> dict:
        try:
            with httpx.Client(timeout=TIMEOUT) as client:
                r = client.post(f"{ctx.server.url}/v1/rules/validate", params={"name": "rules/hostile.yaml"},
                                content=text, headers=ctx.auth(**{"Content-Type": "application/yaml"}))
        except httpx.TimeoutException:
            return {"outcome": f"timed out (no answer in {TIMEOUT:.0f} s)", "yaml_bytes": len(text)}
        except httpx.HTTPError as exc:
            return {"outcome": f"connection cut ({type(exc).__name__})", "yaml_bytes": len(text)}
        result = {"status": r.status_code, "yaml_bytes": len(text)}
        try:
            data = r.json()
        except ValueError:
            data = {}
        if r.status_code == 200 and "problems" in data:
            first = data["problems"][0]["message"][:100] if data["problems"] else ""
            result["outcome"] = f"200 valid={data.get('valid')}, {len(data['problems'])} problem(s)" + (
                f": \"{first}\"" if first else "")
        else:
            result["outcome"] = f"{r.status_code} {data.get('type', '')} {str(data.get('detail', ''))[:100]}".strip()
        return result
    return run


def case_claim_999_dup(ctx: Context) -> dict:
    body = json.dumps(duplicate_lines_claim(), separators=(",", ":")).encode()
    answer = exchange(ctx.port, "POST", "/v1/claims/scrub", ctx.auth(**{"Content-Type": "application/json"}), body,
                      cap=180)
    findings = answer.body.count(b'"rule_id":')
    dup = answer.body.count(b'"rule_id":"duplicate-line"')
    result = {"status": answer.status, "ended": answer.ended, "request_kb": round(len(body) / 1024, 1),
              "response_mb": round(answer.body_bytes / 1e6, 2), "findings": findings, "duplicate_line_findings": dup}
    if answer.status is None:
        result["outcome"] = answer.ended
    else:
        result["outcome"] = (f"{answer.status}, {result['response_mb']} MB response, {findings} findings "
                             f"({dup} duplicate-line)" + ("" if answer.ended == "complete" else f"; {answer.ended}"))
    return result


def case_body_100mb_nokey(ctx: Context) -> dict:
    body = hundred_mb_claim()
    answer = exchange(ctx.port, "POST", "/v1/claims/scrub", {"Content-Type": "application/json"}, body, cap=180)
    result = {"status": answer.status, "ended": answer.ended, "body_mb": round(len(body) / 1e6, 1),
              "answered_after_s": None if answer.head_after is None else round(answer.head_after, 2),
              "uploaded_mb": round(answer.sent / 1e6, 1), "upload_error": answer.upload_error}
    if answer.status is None:
        result["outcome"] = answer.ended
    else:
        result["outcome"] = (f"{answer.status} after {result['answered_after_s']} s, {result['uploaded_mb']} MB "
                             f"of {result['body_mb']} MB uploaded by then")
    return result


def _metric_series(text: str) -> dict:
    samples = [line for line in text.splitlines() if line.startswith("scrubber_http_")]
    requests = [line for line in samples if line.startswith("scrubber_http_requests_total{")]
    methods = {m for line in samples for m in re.findall(r'method="([^"]*)"', line)}
    return {"requests_total_series": len(requests), "http_series": len(samples), "methods": len(methods)}


def case_junk_methods(ctx: Context) -> dict:
    rng = random.Random(9)
    letters = string.ascii_uppercase
    statuses: Counter[str] = Counter()
    with httpx.Client(timeout=TIMEOUT) as client:
        before = _metric_series(client.get(f"{ctx.server.url}/metrics", headers=ctx.auth()).text)
        for _ in range(300):
            method = "".join(rng.choice(letters) for _ in range(rng.randint(3, 10)))
            path = rng.choice(["/v1/claims/scrub", "/v1/scrubs", "/metrics", "/"]) if rng.random() < 0.5 else (
                "/" + "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 12))))
            try:
                statuses[str(client.request(method, f"{ctx.server.url}{path}").status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
        after = _metric_series(client.get(f"{ctx.server.url}/metrics", headers=ctx.auth()).text)
    answers = ", ".join(f"{k}×{v}" for k, v in sorted(statuses.items()))
    return {"answers": dict(statuses), "series_before": before, "series_after": after,
            "outcome": (f"answers {answers}; scrubber_http_requests_total series {before['requests_total_series']}"
                        f" → {after['requests_total_series']}, all scrubber_http_* series {before['http_series']}"
                        f" → {after['http_series']}, method labels {after['methods']}")}


def case_slowloris(ctx: Context, wait: float = 30.0) -> dict:
    sock = socket.create_connection((HOST, ctx.port), timeout=TIMEOUT)
    sock.sendall(f"POST /v1/claims/scrub HTTP/1.1\r\nHost: {HOST}:{ctx.port}\r\nContent-Type: application/json\r\n"
                 .encode())  # no blank line: the head never ends
    started = time.monotonic()
    got = bytearray()
    closed_after = None
    try:
        while (left := wait - (time.monotonic() - started)) > 0:
            sock.settimeout(left)
            data = sock.recv(65536)
            if not data:
                closed_after = time.monotonic() - started
                break
            got += data
    except socket.timeout:
        pass
    except ConnectionError:
        closed_after = time.monotonic() - started
    finally:
        sock.close()
    status = got[9:12].decode(errors="replace") if got.startswith(b"HTTP/") else None
    said = f"answered {status}, " if status else ""
    outcome = (f"{said}closed by the server after {closed_after:.1f} s" if closed_after is not None
               else f"{said}still open after {wait:.0f} s (the cap)")
    return {"outcome": outcome, "closed_after_s": None if closed_after is None else round(closed_after, 2),
            "status": status}


@dataclass
class Case:
    name: str
    run: Callable[[Context], dict]
    what: str
    probe: bool = True


CASES = [
    # the caps only stop a server that is still answering, slowly (one that stalls times out after
    # TIMEOUT): ~35 ms a claim on this machine when it is loaded, so 10,000 claims take minutes
    Case("ndjson-1k", case_ndjson(1000, cap=220), "1,000 claims as NDJSON to /v1/claims/scrub/batch"),
    Case("ndjson-5k", case_ndjson(5000, cap=620), "5,000 claims as NDJSON"),
    Case("ndjson-10k", case_ndjson(10_000, cap=1120), "10,000 claims as NDJSON"),
    Case("ndjson-slow", case_ndjson_slow, "300 claims uploaded 2 KB every 10 ms (chunked)"),
    Case("deep-line", case_deep_line, "NDJSON of 100 claims, line 50 nested 100,000 deep"),
    Case("deep-array", case_deep_array, "JSON array of 11 items, item 6 nested 100,000 deep"),
    Case("yaml-laughs-370", case_yaml(yaml_laughs(7, 370)),
         "billion laughs, 370 bytes (10^7 leaves) to /v1/rules/validate"),
    Case("yaml-laughs-450", case_yaml(yaml_laughs(8, 450)), "billion laughs, 450 bytes (10^8 leaves)"),
    Case("yaml-merge-bomb", case_yaml(yaml_merge_bomb()),
         f"merge-key bomb, {len(yaml_merge_bomb())} bytes (10^7 merged entries)"),
    Case("yaml-deep", case_yaml(yaml_deep()), f"10,000 nested mappings/sequences, {len(yaml_deep()) // 1000} KB"),
    Case("claim-999-dup", case_claim_999_dup, "one claim with 999 identical lines to /v1/claims/scrub"),
    Case("body-100mb-nokey", case_body_100mb_nokey, "100 MB claim-shaped JSON to /v1/claims/scrub without a key"),
    Case("junk-methods", case_junk_methods, "300 requests with junk methods/paths without a key", probe=False),
    Case("slowloris", case_slowloris, "a request head that never ends, watched for up to 30 s", probe=False),
]


# ----------------------------------------------------------------------------- running

def run_case(case: Case, source: Path) -> dict:
    key = "sk_" + secrets.token_urlsafe(30)[:37]  # 40 characters
    with tempfile.TemporaryDirectory(prefix=f"hostile-{case.name}-") as tmp:
        server = Server(source, key, Path(tmp))
        try:
            try:
                server.wait_ready()
            except RuntimeError as exc:
                return {"case": case.name, "what": case.what, "outcome": "skipped: the server did not start",
                        "wall_s": 0.0, "peak_rss_mb": 0, "rss_after_start_mb": 0, "vm_peak_mb": 0, "healthz": None,
                        "server_alive": False, "capped": False, "log_errors": {}, "notes": [str(exc)[:300]]}
            rss_start = server.status_kb("VmRSS") or 0
            server.start_sampling()
            probe = HealthProbe(server.url) if case.probe else None
            if probe:
                probe.start()
            started = time.monotonic()
            try:
                result = case.run(Context(server, key))
            except Exception as exc:  # a bug of this script, or the server gone: record it, go on
                result = {"outcome": f"client error: {type(exc).__name__}: {exc}"[:200]}
            wall = time.monotonic() - started
            health = probe.finish() if probe else None
            server.sample()
            alive = server.alive()
        finally:
            server.stop()
        log = server.log_text()
    died = None if alive else f"server died (exit code {server.proc.returncode})"
    memory_errors = log.count("MemoryError")
    errors = _log_errors(log)
    capped = (memory_errors > 0 or server.vm_peak_kb * 1024 > 0.97 * MEMORY_LIMIT
              or (not alive and server.proc.returncode in (-signal.SIGKILL, -signal.SIGABRT, -signal.SIGSEGV)))
    notes = []
    if died:
        notes.append(died)
    if capped:
        notes.append("capped by the 6 GiB address-space limit" + (f" ({memory_errors} MemoryError in the log)"
                                                                  if memory_errors else ""))
    if alive and health and health["still_waiting_at_end"] and health["worst_s"] > 5:
        notes.append("server still busy when stopped (its peak RSS is a lower bound)")
    if errors:
        notes.append("server log: " + ", ".join(f"{n}× {what}" for what, n in errors.most_common(3)))
    return {"case": case.name, "what": case.what, **result, "wall_s": round(wall, 2),
            "peak_rss_mb": round(server.peak_kb / 1024), "rss_after_start_mb": round(rss_start / 1024),
            "vm_peak_mb": round(server.vm_peak_kb / 1024), "healthz": health, "server_alive": alive,
            "capped": capped, "log_errors": dict(errors), "notes": notes}


def _log_errors(log: str) -> Counter[str]:
    """Errors the server logged (JSON lines at level error, with the last line of their exception),
    and tracebacks printed outside the JSON log."""
    found: Counter[str] = Counter()
    for line in log.splitlines():
        if line.startswith("Traceback"):
            found["traceback outside the JSON log"] += 1
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") in ("error", "critical"):
            found[str(record.get("error") or record.get("msg"))[:100]] += 1
    return found


def _health_text(health: dict | None) -> str:
    if not health or health["worst_s"] is None:
        return "–"
    text = f"{health['worst_s']:.2f} s"
    if health["failures"]:
        text += f" ({health['failures']} failed)"
    if health["still_waiting_at_end"]:
        text += " (still waiting)"
    return text


def _load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " / ".join(f.read().split()[:3]) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def main() -> int:
    global TIMEOUT
    parser = argparse.ArgumentParser(description="Hostile inputs of issue 9, each against a fresh server: "
                                     "the answer, its time and the peak memory.")
    parser.add_argument("--source", type=Path, default=ROOT, help="the tree whose `scrubber` package is served")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds a client read or write may wait (default {TIMEOUT:.0f})")
    args = parser.parse_args()
    TIMEOUT = args.timeout
    source = args.source.resolve()
    names = [c.name for c in CASES]
    chosen = CASES
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            parser.error(f"unknown case(s) {', '.join(unknown)}; the cases are {', '.join(names)}")
        chosen = [c for c in CASES if c.name in wanted]

    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print("# Hostile inputs of issue 9\n")
    print(f"- code under test: `{code_under_test(source)}` (`--source {args.source}`)")
    print(f"- run {when} on {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"`python bench/hostile.py --source {args.source}" + (f" --only {args.only}" if args.only else "")
          + (f" --timeout {args.timeout:g}" if args.timeout != 60 else "") + "`")
    print("- each case on a fresh `scrubber serve` (one worker, fresh SQLite database and data dir, an admin "
          f"key), under RLIMIT_AS {MEMORY_LIMIT // 1024 ** 3} GiB; client reads/writes time out after "
          f"{TIMEOUT:.0f} s")
    print("- **timings are noisy**: the machine's 2 cores are shared with other work (tests of other "
          f"sessions may run at the same time; load average at the start {_load()}), and the client runs "
          "on the same machine")
    print("- peak RSS is VmHWM of the server process (start-up included; its RSS after start-up is in the "
          "JSON); /healthz is probed every 0.5 s while a case runs (worst latency shown)\n")
    sys.stdout.flush()

    results = []
    for case in chosen:
        print(f"- **{case.name}** ({case.what}): ", end="", flush=True)
        result = run_case(case, source)
        results.append(result)
        extra = f"; {'; '.join(result['notes'])}" if result["notes"] else ""
        print(f"{result['outcome']} — {result['wall_s']:.1f} s, peak RSS {result['peak_rss_mb']} MB "
              f"(after start-up {result['rss_after_start_mb']} MB), worst /healthz "
              f"{_health_text(result['healthz'])}{extra}", flush=True)

    print(f"\nLoad average at the end: {_load()}.")
    print("\n| case | outcome | time | peak RSS | worst /healthz | notes |")
    print("|---|---|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['case']} | {_cell(r['outcome'])} | {r['wall_s']:.1f} s | {r['peak_rss_mb']} MB | "
              f"{_health_text(r['healthz'])} | {_cell('; '.join(r['notes']))} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"source": str(source), "when": when, "memory_limit": MEMORY_LIMIT,
                                         "timeout_s": TIMEOUT, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
