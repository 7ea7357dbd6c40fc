"""Load on the HTTP API: `scrubber serve --workers 2` driven by 50 concurrent clients over loopback.

The server is started as a subprocess (its own process group) on a free port of 127.0.0.1, with
`SCRUBBER_BOOTSTRAP_KEY` (a random key, sent in `X-API-Key`) and `SCRUBBER_DATABASE_URL` (SQLite in
a temporary directory). It is ready once GET /healthz answers and its processes have gone idle (no
worker still starting). Then:

- one claim with the key and one without: is the key accepted, and required;
- one client alone, 40 claims in a row: the latency of a claim with no queue in front of it;
- 50 clients, each on its own keep-alive connection, POST seeded realistic 4-line claims (15% with
  one typical defect, each for its own member) to /v1/claims/scrub, each waiting for its answer
  before sending the next: ~2 s of warm-up (connections opened one by one) not counted, then
  `--seconds` measured; every client stops by itself at the deadline or after its share of
  `--max-requests`.

Printed: requests, req/s (and by quarter of the run), client-measured latency p50/p90/p99/max,
errors by kind, the server's memory (RSS of the process and its children) after warm-up, at its
peak and after the load, CPU time of the client and of the server, and how the connections spread
over the workers. The server is stopped (SIGTERM to its group, SIGKILL after a timeout) whatever
happens. With a closed loop the mean latency is clients / throughput (Little's law).
Targets: p99 < 15 ms for a 4-line claim, 0 errors, memory flat (growth < 10%).

The clients share the machine (2 cores) with the server: what they spend in CPU the server does not
get. `--client` picks one of three:

- `raw` (default): one asyncio loop, requests pre-built as bytes, answers read by Content-Length;
  ~0.2 ms of CPU per request, a few % of the CPU used;
- `threads`: a thread and an httpx.Client per client, ~1 ms of CPU per request;
- `async`: one httpx.AsyncClient shared by the 50 clients, ~6 ms of CPU per request (its pool is
  slow with many connections): the client, not the server, then sets the pace.

    python bench/load.py [--seconds 20] [--clients 50] [--workers 2] [--client raw|threads|async] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.generators import realistic_claim_dict  # noqa: E402

HOST = "127.0.0.1"  # loopback only, always
SCRUB = "/v1/claims/scrub"
LINES = 4
DEFECT_RATE = 0.15
POOL = 2000  # distinct claims, sent round-robin
REQUEST_TIMEOUT = 10.0
TARGET_P99_MS, TARGET_GROWTH = 15.0, 0.10
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def say(quiet: bool, message: str) -> None:
    print(message, file=sys.stderr if quiet else sys.stdout, flush=True)


MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"  # a Medicare Beneficiary Identifier leaves out S, L, O, I, B, Z


def member_id(rng: random.Random) -> str:
    digit, letter = lambda: rng.choice("0123456789"), lambda: rng.choice(MBI_LETTERS)  # noqa: E731
    either = lambda: rng.choice("0123456789" + MBI_LETTERS)  # noqa: E731
    return (rng.choice("123456789") + letter() + either() + digit() + letter() + either() + digit()
            + letter() + letter() + digit() + digit())


def four_line_claims(seed: int, count: int, same_member: bool = False) -> list[bytes]:
    """Seeded realistic claims with exactly 4 lines, as request bodies. Claims of another size are
    drawn again rather than trimmed, so that the defects (a wrong total among them) stay as made.
    The generator gives every claim the same member; here each claim has its own (unless
    `same_member`), as in real traffic, where the claim-history lookup finds few lines per member."""
    rng, bodies = random.Random(seed), []
    while len(bodies) < count:
        claim = realistic_claim_dict(rng, len(bodies), defect_rate=DEFECT_RATE)
        if len(claim["lines"]) == LINES:
            if not same_member:
                claim["patient"]["member_id"] = member_id(rng)
            bodies.append(json.dumps(claim, separators=(",", ":")).encode())
    return bodies


# ----------------------------------------------------------------------------- the server's processes

def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:].split()  # from the state on: the name may hold spaces


def process_tree(root: int) -> list[int]:
    """The root and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root] if os.path.exists(f"/proc/{root}") else []
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass  # exited meanwhile
    return total


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        if (fields := _stat_fields(pid)) is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime + stime of the process itself
    return ticks / CLOCK_TICKS


def connections_by_process(pids: list[int], port: int) -> dict[int, int]:
    """Established TCP connections on the server's port held by each process (loopback, IPv4)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[3] == "01" and int(cols[1].split(":")[1], 16) == port:  # ESTABLISHED, local port
                inodes.add(f"socket:[{cols[9]}]")
    out = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        held = 0
        for fd in fds:
            try:
                held += os.readlink(f"/proc/{pid}/fd/{fd}") in inodes
            except OSError:
                pass
        if held:
            out[pid] = held
    return out


class Server:
    """`scrubber serve` in its own process group; `stop()` always ends the whole group."""

    def __init__(self, workers: int, key: str, tmpdir: str):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            self.port = s.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.workers = workers
        self.log_path = Path(tmpdir) / "server.log"
        env = {**os.environ, "SCRUBBER_BOOTSTRAP_KEY": key,
               "SCRUBBER_DATABASE_URL": f"sqlite:///{Path(tmpdir) / 'load.db'}",
               "SCRUBBER_DATA_DIR": tmpdir, "PYTHONUNBUFFERED": "1"}
        entry = Path(sys.executable).parent / "scrubber"
        command = [str(entry)] if entry.exists() else [sys.executable, "-m", "scrubber.cli"]
        command += ["serve", "--host", HOST, "--port", str(self.port), "--workers", str(workers)]
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(command, env=env, cwd=tmpdir, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float) -> None:
        """Until /healthz answers 200, the workers exist and the processes have been idle for a
        while (a worker that is still importing or loading rules is busy); RuntimeError otherwise."""
        deadline = time.monotonic() + timeout
        healthy, idle_since, last_cpu = False, None, None
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with code {self.proc.returncode}")
                if not healthy:
                    try:
                        healthy = client.get(f"{self.url}/healthz").status_code == 200
                    except httpx.HTTPError:
                        pass
                if healthy:
                    pids = self.pids()
                    cpu = cpu_seconds(pids)
                    expected = 1 + self.workers if self.workers > 1 else 1  # a supervisor and its workers
                    busy = last_cpu is None or cpu - last_cpu > 0.02 or len(pids) < expected
                    idle_since = None if busy else idle_since or time.monotonic()
                    last_cpu = cpu
                    if idle_since and time.monotonic() - idle_since >= 0.6:
                        return
                time.sleep(0.2)
        what = "its workers to finish starting" if healthy else "GET /healthz to answer 200"
        raise RuntimeError(f"gave up after {timeout:.0f} s waiting for {what}")

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def stop(self, timeout: float = 10.0) -> str:
        """SIGTERM to the group, SIGKILL after `timeout`; how it ended."""
        pgid = self.proc.pid  # start_new_session: the server leads its own group
        if not self._group_alive(pgid):
            return f"had already exited (code {self.proc.returncode})"
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._group_alive(pgid):
                return "stopped by SIGTERM"
            time.sleep(0.1)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        return f"killed by SIGKILL after {timeout:.0f} s"

    def _group_alive(self, pgid: int) -> bool:
        if self.proc.poll() is None:
            return True
        try:
            os.killpg(pgid, 0)  # workers the supervisor left behind
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True


class Sampler(threading.Thread):
    """Peak RSS of the server every 0.5 s, and how the connections spread over its processes."""

    def __init__(self, pids: list[int], port: int):
        super().__init__(daemon=True)
        self.pids, self.port = pids, port
        self.peak, self.connections = 0, {}
        self.done = threading.Event()

    def run(self) -> None:
        self.done.wait(1.0)  # every client has connected by now
        self.connections = connections_by_process(self.pids, self.port)
        while True:
            self.peak = max(self.peak, rss_bytes(self.pids))
            if self.done.wait(0.5):
                return


# ----------------------------------------------------------------------------- the clients

class Tally:
    """What the clients saw: latencies of 200s and when they ended, errors by kind, one example per kind."""

    def __init__(self):
        self.latencies: list[float] = []
        self.ended: list[float] = []  # list.append is atomic under the GIL: threads need no lock for these
        self.errors: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.lock = threading.Lock()

    def error(self, kind: str, example: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            self.examples.setdefault(kind, example[:300])


class Load:
    """Clients that ramp up over the warm-up, keep their connections and go on into the measured
    phase: a request counts in the phase in which it started. `on_measure` is called as the measured
    phase starts (to take the "before" figures). Each client stops at the deadline, or after its
    share of `max_requests` measured requests."""

    def __init__(self, server: Server, key: str, bodies: list[bytes], clients: int, max_requests: int,
                 rate: float = 0.0):
        self.server, self.key, self.bodies, self.clients, self.rate = server, key, bodies, clients, rate
        self.per_client = max(1, max_requests // clients)
        head = (f"POST {SCRUB} HTTP/1.1\r\nHost: {HOST}:{server.port}\r\nX-API-Key: {key}\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n").encode()
        self.raw_requests = [head % len(body) + body for body in bodies]
        self.warm, self.measured = Tally(), Tally()

    def run(self, mode: str, warmup: float, seconds: float, on_measure) -> None:
        self.started = time.perf_counter()
        self.measure_start = self.started + warmup
        self.deadline = self.measure_start + seconds
        # connections opened one by one, as clients come, rather than in one burst that the first
        # worker to wake up would accept nearly whole
        self.ramp_step = min(warmup / 2, 1.0) / self.clients
        if mode == "threads":
            threads = [threading.Thread(target=self._thread_client, args=(i,), daemon=True)
                       for i in range(self.clients)]
            for t in threads:
                t.start()
            time.sleep(max(0.0, self.measure_start - time.perf_counter()))
            on_measure()
            for t in threads:  # every request ends by the deadline plus its timeout
                t.join(timeout=max(0.0, self.deadline + REQUEST_TIMEOUT + 5 - time.perf_counter()))
        else:
            asyncio.run(self._async_clients(mode, on_measure))
        self.elapsed = time.perf_counter() - self.measure_start

    def _tally(self, t0: float) -> Tally:
        return self.measured if t0 >= self.measure_start else self.warm

    async def _async_clients(self, mode: str, on_measure) -> None:
        async def measure_at_start():
            await asyncio.sleep(max(0.0, self.measure_start - time.perf_counter()))
            on_measure()

        bound = self.deadline - time.perf_counter() + REQUEST_TIMEOUT + 5  # only a safety net
        if mode == "raw":
            async with asyncio.timeout(bound):
                await asyncio.gather(measure_at_start(), *(self._raw_client(i) for i in range(self.clients)))
            return
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT) as client:
            async with asyncio.timeout(bound):
                await asyncio.gather(measure_at_start(),
                                     *(self._httpx_async_client(i, client) for i in range(self.clients)))

    def _requests(self, index: int):
        """The numbers of the client's requests, each with the time it is sent; until the deadline or the cap."""
        n, counted, clock = index * 37, 0, time.perf_counter
        while counted < self.per_client:
            t0 = clock()
            if t0 >= self.deadline:
                return
            counted += t0 >= self.measure_start
            yield n, t0
            n += 1

    async def _raw_client(self, index: int) -> None:
        await asyncio.sleep(index * self.ramp_step)
        clock, requests, writer = time.perf_counter, self.raw_requests, None
        # open loop (--rate): each client sends on a fixed schedule, and a request's latency counts
        # from when it was due, so a slow answer cannot hide the requests queued behind it
        interval = self.clients / self.rate if self.rate else 0.0
        due = clock() + (interval * index / self.clients)
        try:
            for n, t0 in self._requests(index):
                if interval:
                    await asyncio.sleep(max(0.0, due - clock()))
                    t0, due = due, due + interval
                tally = self._tally(t0)
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT):
                        if writer is None:
                            reader, writer = await asyncio.open_connection(HOST, self.server.port)
                        writer.write(requests[n % len(requests)])
                        head = await reader.readuntil(b"\r\n\r\n")
                        lower = head.lower()
                        at = lower.find(b"\r\ncontent-length:")
                        if at < 0:
                            raise ConnectionError(f"an answer without Content-Length: {head[:200]!r}")
                        body = await reader.readexactly(int(head[at + 17:head.index(b"\r\n", at + 2)]))
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                        ValueError) as exc:
                    tally.error(type(exc).__name__, str(exc) or repr(exc))
                    if writer is not None:
                        writer.close()
                        writer = None
                    await asyncio.sleep(0.01)  # a refused connection must not spin
                    continue
                ended = clock()
                status = head[9:12]
                if status == b"200":
                    tally.latencies.append(ended - t0)
                    tally.ended.append(ended)
                else:
                    tally.error(f"HTTP {status.decode(errors='replace')}", body.decode(errors="replace"))
                if b"\r\nconnection: close" in lower:
                    writer.close()
                    writer = None
        finally:
            if writer is not None:
                writer.close()

    async def _httpx_async_client(self, index: int, client: httpx.AsyncClient) -> None:
        await asyncio.sleep(index * self.ramp_step)
        headers = {"X-API-Key": self.key, "Content-Type": "application/json"}
        url, clock, bodies = self.server.url + SCRUB, time.perf_counter, self.bodies
        for n, t0 in self._requests(index):
            try:
                response = await client.post(url, content=bodies[n % len(bodies)], headers=headers)
            except (httpx.HTTPError, OSError) as exc:
                self._tally(t0).error(type(exc).__name__, str(exc) or repr(exc))
                await asyncio.sleep(0.01)
                continue
            self._record(self._tally(t0), t0, clock(), response)

    def _thread_client(self, index: int) -> None:
        time.sleep(index * self.ramp_step)
        headers = {"X-API-Key": self.key, "Content-Type": "application/json"}
        url, clock, bodies = self.server.url + SCRUB, time.perf_counter, self.bodies
        with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
            for n, t0 in self._requests(index):
                try:
                    response = client.post(url, content=bodies[n % len(bodies)], headers=headers)
                except (httpx.HTTPError, OSError) as exc:
                    self._tally(t0).error(type(exc).__name__, str(exc) or repr(exc))
                    time.sleep(0.01)
                    continue
                self._record(self._tally(t0), t0, clock(), response)

    @staticmethod
    def _record(tally: Tally, t0: float, ended: float, response: httpx.Response) -> None:
        if response.status_code == 200:
            tally.latencies.append(ended - t0)
            tally.ended.append(ended)
        else:
            tally.error(f"HTTP {response.status_code}", response.text)


# ----------------------------------------------------------------------------- the run

def check_key(server: Server, key: str, body: bytes) -> dict:
    """One claim with the key and one without: is the key accepted, and is one required?"""
    out = {}
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        for name, headers in (("with_key", {"X-API-Key": key}), ("without_key", {})):
            try:
                response = client.post(server.url + SCRUB, content=body,
                                       headers={**headers, "Content-Type": "application/json"})
                out[name] = response.status_code
                if name == "with_key" and response.status_code != 200:
                    out["with_key_answer"] = response.text[:300]
            except httpx.HTTPError as exc:
                out[name] = type(exc).__name__
    return out


def percentile(ordered: list[float], q: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else None


async def _alone(port: int, requests: list[bytes], count: int) -> list[float]:
    reader, writer = await asyncio.open_connection(HOST, port)
    times = []
    try:
        async with asyncio.timeout(count * REQUEST_TIMEOUT):
            for n in range(count):
                t0 = time.perf_counter()
                writer.write(requests[n % len(requests)])
                head = await reader.readuntil(b"\r\n\r\n")
                at = head.lower().find(b"\r\ncontent-length:")
                await reader.readexactly(int(head[at + 17:head.index(b"\r\n", at + 2)]))
                times.append(time.perf_counter() - t0)
    finally:
        writer.close()
    return sorted(times)


def latency_alone(server: Server, load: Load, count: int = 40) -> dict:
    """One client alone, `count` claims one after the other on one keep-alive connection: the
    latency of a claim with no queue in front of it, the floor under the loaded figures."""
    try:
        times = asyncio.run(_alone(server.port, load.raw_requests, count))
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"requests": count, "p50": round(percentile(times, 0.5) * 1e3, 2),
            "p90": round(percentile(times, 0.9) * 1e3, 2), "max": round(times[-1] * 1e3, 2)}


def run(args: argparse.Namespace) -> dict:
    quiet = args.json
    key = secrets.token_urlsafe(32)
    bodies = four_line_claims(args.seed, POOL, args.same_member)
    with tempfile.TemporaryDirectory(prefix="scrubber-load-") as tmpdir:
        server = Server(args.workers, key, tmpdir)
        try:
            say(quiet, f"server: pid {server.proc.pid}, {server.url}, {args.workers} workers; waiting until ready")
            try:
                server.wait_ready(args.startup_timeout)
            except RuntimeError as exc:
                raise SystemExit(f"the server did not come up: {exc}\n--- server log (last lines) ---\n"
                                 f"{server.log_tail()}") from None
            auth = check_key(server, key, bodies[0])
            say(quiet, f"X-API-Key: {auth['with_key']} with the key, {auth['without_key']} without one"
                + (f"; the answer: {auth['with_key_answer']}" if "with_key_answer" in auth else ""))
            load = Load(server, key, bodies, args.clients, args.max_requests, args.rate)
            alone = latency_alone(server, load)
            say(quiet, "one client alone: " + (alone.get("error") or
                f"p50 {alone['p50']:.2f} ms, p90 {alone['p90']:.2f} ms, max {alone['max']:.2f} ms"))
            before: dict = {}

            def on_measure() -> None:
                before["pids"] = pids = server.pids()
                before["rss"], before["server_cpu"] = rss_bytes(pids), cpu_seconds(pids)
                before["sampler"] = Sampler(pids, server.port)
                before["sampler"].start()
                before["client_cpu"] = time.process_time()
                say(quiet, f"load: {args.seconds:g} s, {args.clients} clients, {LINES}-line claims")

            say(quiet, f"warm-up: {args.warmup:g} s, {args.clients} clients ({args.client})")
            load.run(args.client, args.warmup, args.seconds, on_measure)
            client_cpu = time.process_time() - before["client_cpu"]
            sampler = before["sampler"]
            sampler.done.set()
            sampler.join()
            alive = server.proc.poll() is None
            pids, pids_after = before["pids"], server.pids()
            rss_before, rss_after = before["rss"], rss_bytes(pids_after)
            # a worker replaced during the load takes its CPU time with it; the report says so
            server_cpu = cpu_seconds(pids_after) - before["server_cpu"] if alive else None
            log_tail = None if alive and not load.measured.errors else server.log_tail(15)
        finally:
            say(quiet, f"server: {server.stop(args.stop_timeout)}")
            if args.server_log:
                shutil.copyfile(server.log_path, args.server_log)
    tally, warm, started, elapsed = load.measured, load.warm, load.measure_start, load.elapsed
    if not alive:
        tally.error("server exited", f"exit code {server.proc.returncode} during the load")
        rss_after = None

    ordered = sorted(tally.latencies)
    quarter = min(args.seconds, elapsed) / 4  # answers by quarter of the run: does the service slow down?
    by_quarter = Counter(min(3, int((t - started) / quarter)) for t in tally.ended)
    errors = sum(tally.errors.values())
    requests = len(ordered) + errors
    ms = lambda s: None if s is None else round(s * 1e3, 2)  # noqa: E731
    growth = (rss_after - rss_before) / rss_before if rss_before and rss_after is not None else None
    mb = lambda b: None if b is None else round(b / 2**20, 1)  # noqa: E731
    p99 = percentile(ordered, 0.99)
    per_request = lambda cpu: round(cpu / requests * 1e6) if requests else None  # noqa: E731
    return {
        "client_mode": args.client, "clients": args.clients, "workers": args.workers, "lines_per_claim": LINES,
        "cores": os.cpu_count(), "seconds": round(elapsed, 2), "same_member": args.same_member, "auth": auth,
        "warmup": {"requests": len(warm.latencies) + sum(warm.errors.values()), "errors": dict(warm.errors)},
        "requests": requests, "ok": len(ordered), "throughput_rps": round(requests / elapsed, 1),
        "ok_rps_by_quarter": [round(by_quarter[q] / quarter, 1) for q in range(4)],
        "latency_alone_ms": alone,
        "latency_ms": {"p50": ms(percentile(ordered, 0.50)), "p90": ms(percentile(ordered, 0.90)),
                       "p99": ms(p99), "max": ms(ordered[-1] if ordered else None),
                       "mean": ms(sum(ordered) / len(ordered) if ordered else None)},
        "errors": errors, "errors_by_kind": dict(tally.errors), "error_examples": tally.examples,
        "memory": {"rss_before_mb": mb(rss_before), "rss_peak_mb": mb(sampler.peak),
                   "rss_after_mb": mb(rss_after),
                   "growth_pct": None if growth is None else round(growth * 100, 2),
                   "processes": len(pids_after), "processes_replaced": sorted(pids) != sorted(pids_after)},
        "cpu": {"client_s": round(client_cpu, 2), "client_cores": round(client_cpu / elapsed, 2),
                "client_us_per_request": per_request(client_cpu),
                "server_s": None if server_cpu is None else round(server_cpu, 2),
                "server_cores": None if server_cpu is None else round(server_cpu / elapsed, 2),
                "server_us_per_request": None if server_cpu is None else per_request(server_cpu),
                "client_share_pct": round(100 * client_cpu / (client_cpu + server_cpu), 1)
                if server_cpu is not None and client_cpu + server_cpu > 0 else None},
        "connections_by_process": {str(pid): n for pid, n in sampler.connections.items()},
        "server_log_tail": log_tail,
        "rate": args.rate,
        "targets": {"p99_ms_below": TARGET_P99_MS, "errors": 0, "memory_growth_pct_below": TARGET_GROWTH * 100,
                    "p99_met": p99 is not None and p99 * 1e3 < TARGET_P99_MS,
                    "errors_met": errors == 0 and requests > 0,
                    "memory_met": growth is not None and growth < TARGET_GROWTH},
    }


def print_report(r: dict) -> None:
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    num = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    lat, mem, cpu, t = r["latency_ms"], r["memory"], r["cpu"], r["targets"]
    print(f"\n{r['clients']} clients ({r['client_mode']}) -> {r['workers']} workers, {r['lines_per_claim']}-line "
          f"claims, {r['seconds']:.1f} s on {r['cores']} cores (warm-up: {r['warmup']['requests']:,d} requests)")
    print(f"  requests      {r['requests']:>9,d}")
    print(f"  throughput    {r['throughput_rps']:>9,.0f} req/s   by quarter of the run: "
          + " / ".join(f"{v:,.0f}" for v in r["ok_rps_by_quarter"]))
    print(f"  latency p50   {num(lat['p50']):>9s} ms")
    print(f"  latency p90   {num(lat['p90']):>9s} ms")
    print(f"  latency p99   {num(lat['p99']):>9s} ms   target < {t['p99_ms_below']:g} ms: {met(t['p99_met'])}")
    print(f"  latency max   {num(lat['max']):>9s} ms")
    print(f"  errors        {r['errors']:>9,d}   target 0: {met(t['errors_met'])}")
    for kind, count in sorted(r["errors_by_kind"].items(), key=lambda kv: -kv[1]):
        print(f"    {kind}: {count:,d}, e.g. {r['error_examples'].get(kind, '')[:160]!r}")
    growth = "-" if mem["growth_pct"] is None else f"{mem['growth_pct']:+.1f}%"
    after = "-" if mem["rss_after_mb"] is None else f"{mem['rss_after_mb']:.1f}"
    print(f"  server RSS    {mem['rss_before_mb']:>9.1f} MB after warm-up, {mem['rss_peak_mb'] or 0:.1f} MB peak, "
          f"{after} MB after ({mem['processes']} processes): {growth}   "
          f"target < +{t['memory_growth_pct_below']:g}%: {met(t['memory_met'])}")
    if mem["processes_replaced"]:
        print("    the server's processes changed during the load (a worker died and was replaced?)")
    share = "-" if cpu["client_share_pct"] is None else f"{cpu['client_share_pct']:.1f}%"
    print(f"  client CPU    {cpu['client_s']:>9.2f} s = {cpu['client_cores']:.2f} cores, "
          f"{cpu['client_us_per_request']} us/request ({share} of the CPU used)")
    print(f"  server CPU    {num(cpu['server_s']):>9s} s = {num(cpu['server_cores'])} cores, "
          f"{cpu['server_us_per_request'] or '-'} us/request")
    if r["connections_by_process"]:
        spread = ", ".join(f"{n} (pid {pid})" for pid, n in r["connections_by_process"].items())
        print(f"  connections   {spread}")
    alone = r["latency_alone_ms"]
    if "error" in alone:
        print(f"  one client alone: {alone['error']}")
    else:
        print(f"  one client alone ({alone['requests']} claims in a row, no load): p50 {alone['p50']:.2f} ms, "
              f"p90 {alone['p90']:.2f} ms, max {alone['max']:.2f} ms")
    if r.get("rate"):
        print(f"  open loop: {r['clients']} clients sending {r['rate']:g} requests/s together, latency counted "
              "from when each request was due")
    elif lat["mean"] and r["throughput_rps"]:
        print(f"  closed loop: mean latency {lat['mean']:.2f} ms, {r['clients']} clients / "
              f"{r['throughput_rps']:,.0f} req/s = {r['clients'] / r['throughput_rps'] * 1e3:.2f} ms (Little's law)")
    if r["server_log_tail"]:
        print("  server log (last lines):\n    " + r["server_log_tail"].replace("\n", "\n    "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured load time (default 20)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up time, not counted (default 2)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", choices=["raw", "threads", "async"], default="raw",
                        help="raw asyncio HTTP/1.1 (default), a thread with an httpx.Client each, "
                             "or one shared httpx.AsyncClient")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="cap on measured requests")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="open loop: the clients together send this many requests/s on a fixed schedule "
                             "(raw client only); default 0: closed loop, each client sends as soon as answered")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--same-member", action="store_true",
                        help="every claim for one member (as the generator makes them): the claim history "
                             "of that member then grows with every request")
    parser.add_argument("--startup-timeout", type=float, default=60.0)
    parser.add_argument("--stop-timeout", type=float, default=10.0)
    parser.add_argument("--server-log", metavar="FILE", help="keep the server's output in FILE")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    args = parser.parse_args()
    # a SIGTERM to this script, like Ctrl-C, still goes through the finally that stops the server
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        result = run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)
    return 1 if "server exited" in result["errors_by_kind"] or not result["ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
