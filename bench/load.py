"""Load on the HTTP API: `scrubber serve --workers 2` driven by 50 concurrent clients over loopback.

The server is started as a subprocess (its own process group) on a free port of 127.0.0.1, with
`SCRUBBER_BOOTSTRAP_KEY` (a random key, sent in `X-API-Key`) and `SCRUBBER_DATABASE_URL` (SQLite in
a temporary directory). Once GET /healthz answers and every worker has started, 50 clients (asyncio
tasks sharing one keep-alive httpx.AsyncClient, or `--client threads`: one httpx.Client per thread)
POST seeded realistic 4-line claims (15% with one typical defect) to /v1/claims/scrub, each waiting
for its answer before sending the next: ~2 s of warm-up not counted, then `--seconds` measured.

Printed: requests, req/s, client-measured latency p50/p90/p99/max, errors by kind, the server's
memory (RSS of the process and its children) before and after the load, and the CPU time of the
client and of the server. The machine has 2 cores shared by the client and the 2 workers, so the
client's CPU share is reported: what it spends is capacity the server did not get. With a closed
loop of 50 clients the mean latency is 50 / throughput (Little's law): latency here is mostly
queueing behind the other 49 clients, not the time to scrub one claim.
Targets: p99 < 15 ms for a 4-line claim, 0 errors, memory flat (growth < 10%).

    python bench/load.py [--seconds 20] [--clients 50] [--workers 2] [--client async|threads] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
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


def log(quiet: bool, message: str) -> None:
    print(message, file=sys.stderr if quiet else sys.stdout, flush=True)


# ----------------------------------------------------------------------------- claims

def four_line_claims(seed: int, count: int) -> list[bytes]:
    """Seeded realistic claims with exactly 4 lines, as request bodies. Claims of another size are
    drawn again rather than trimmed, so that the defects (a wrong total among them) stay as made."""
    rng, bodies = random.Random(seed), []
    while len(bodies) < count:
        claim = realistic_claim_dict(rng, len(bodies), defect_rate=DEFECT_RATE)
        if len(claim["lines"]) == LINES:
            bodies.append(json.dumps(claim, separators=(",", ":")).encode())
    return bodies


# ----------------------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def process_tree(root: int) -> list[int]:
    """The root and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
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
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass  # exited meanwhile
    return total


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime of the process itself
    return total / CLOCK_TICKS


class Server:
    """`scrubber serve` in its own process group; `stop()` always ends the whole group."""

    def __init__(self, workers: int, key: str, tmpdir: str):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = Path(tmpdir) / "server.log"
        env = {**os.environ, "SCRUBBER_BOOTSTRAP_KEY": key,
               "SCRUBBER_DATABASE_URL": f"sqlite:///{Path(tmpdir) / 'load.db'}",
               "SCRUBBER_DATA_DIR": tmpdir, "PYTHONUNBUFFERED": "1"}
        entry = Path(sys.executable).parent / "scrubber"
        command = [str(entry)] if entry.exists() else [sys.executable, "-m", "scrubber.cli"]
        command += ["serve", "--host", HOST, "--port", str(self.port), "--workers", str(workers)]
        self.workers = workers
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(command, env=env, cwd=tmpdir, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float) -> None:
        """Until /healthz answers 200 and every worker has said it started; RuntimeError otherwise."""
        deadline = time.monotonic() + timeout
        healthy = False
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with code {self.proc.returncode} before answering")
                if not healthy:
                    try:
                        healthy = client.get(f"{self.url}/healthz").status_code == 200
                    except httpx.HTTPError:
                        pass
                if healthy:
                    started = self.log_path.read_text(errors="replace").count("Application startup complete")
                    if started >= self.workers or self.workers == 1:
                        return
                time.sleep(0.2)
        what = "every worker to start" if healthy else "GET /healthz to answer 200"
        raise RuntimeError(f"gave up after {timeout:.0f} s waiting for {what}")

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def stop(self, timeout: float = 10.0) -> str:
        """SIGTERM to the group, SIGKILL after `timeout`; how it ended."""
        pgid = self.proc.pid  # start_new_session: the group is led by the server process
        if not self._group_alive(pgid):
            self.proc.poll()
            return "already stopped"
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.proc.poll()
            if not self._group_alive(pgid):
                return "stopped by SIGTERM"
            time.sleep(0.1)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        return f"killed (SIGKILL after {timeout:.0f} s)"

    def _group_alive(self, pgid: int) -> bool:
        if self.proc.poll() is None:
            return True
        try:
            os.killpg(pgid, 0)  # workers left behind by the supervisor
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True


# ----------------------------------------------------------------------------- the clients

class Tally:
    """What the clients saw: latencies of 200s, errors by kind, one example body per kind."""

    def __init__(self):
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.lock = threading.Lock()

    def record(self, seconds: float, response: httpx.Response | None, exc: BaseException | None) -> None:
        if exc is None and response.status_code == 200:
            self.latencies.append(seconds)
            return
        kind = f"HTTP {response.status_code}" if exc is None else type(exc).__name__
        with self.lock:
            self.errors[kind] += 1
            self.examples.setdefault(kind, (response.text if exc is None else str(exc))[:300])


async def _async_client(index: int, url: str, key: str, bodies: list[bytes], client: httpx.AsyncClient,
                        tally: Tally, deadline: float, max_requests: int) -> None:
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    clock, n = time.perf_counter, index
    for _ in range(max_requests):
        if clock() >= deadline:
            return
        body = bodies[n % len(bodies)]
        n += 1
        t0 = clock()
        try:
            response = await client.post(url, content=body, headers=headers)
        except (httpx.HTTPError, OSError) as exc:
            tally.record(clock() - t0, None, exc)
            await asyncio.sleep(0.01)  # a refused connection must not spin
            continue
        tally.record(clock() - t0, response, None)


async def _run_async(url: str, key: str, bodies: list[bytes], clients: int, seconds: float,
                     max_requests: int, tally: Tally) -> None:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=60)
    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT) as client:
        deadline = time.perf_counter() + seconds
        tasks = [_async_client(i * 37, url, key, bodies, client, tally, deadline, max_requests)
                 for i in range(clients)]
        # every request ends by the deadline plus its timeout; this bound is only a safety net
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + REQUEST_TIMEOUT + 5)


def _thread_client(index: int, url: str, key: str, bodies: list[bytes], tally: Tally, deadline: float,
                   max_requests: int) -> None:
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    clock, n = time.perf_counter, index
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        for _ in range(max_requests):
            if clock() >= deadline:
                return
            body = bodies[n % len(bodies)]
            n += 1
            t0 = clock()
            try:
                response = client.post(url, content=body, headers=headers)
            except (httpx.HTTPError, OSError) as exc:
                tally.record(clock() - t0, None, exc)
                time.sleep(0.01)
                continue
            tally.record(clock() - t0, response, None)


def _run_threads(url: str, key: str, bodies: list[bytes], clients: int, seconds: float,
                 max_requests: int, tally: Tally) -> None:
    deadline = time.perf_counter() + seconds
    threads = [threading.Thread(target=_thread_client, daemon=True,
                                args=(i * 37, url, key, bodies, tally, deadline, max_requests))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline + REQUEST_TIMEOUT + 5 - time.perf_counter()))


def drive(mode: str, url: str, key: str, bodies: list[bytes], clients: int, seconds: float,
          max_requests: int) -> tuple[Tally, float]:
    """One bounded phase of load; the tally and its wall time."""
    tally = Tally()
    started = time.perf_counter()
    if mode == "async":
        asyncio.run(_run_async(url, key, bodies, clients, seconds, max_requests, tally))
    else:
        _run_threads(url, key, bodies, clients, seconds, max_requests, tally)
    return tally, time.perf_counter() - started


# ----------------------------------------------------------------------------- the run

def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def run(args: argparse.Namespace) -> dict:
    quiet = args.json
    key = secrets.token_urlsafe(32)
    bodies = four_line_claims(args.seed, POOL)
    max_requests = max(1, args.max_requests // args.clients)  # per client
    with tempfile.TemporaryDirectory(prefix="scrubber-load-") as tmpdir:
        server = Server(args.workers, key, tmpdir)
        try:
            log(quiet, f"server: pid {server.proc.pid}, {server.url}, {args.workers} workers; waiting for /healthz")
            try:
                server.wait_ready(args.startup_timeout)
            except RuntimeError as exc:
                raise SystemExit(f"the server did not come up: {exc}\n--- server log (tail) ---\n"
                                 f"{server.log_tail()}") from None
            url = server.url + SCRUB
            log(quiet, f"warm-up: {args.warmup:.0f} s, {args.clients} clients ({args.client})")
            warm, _ = drive(args.client, url, key, bodies, args.clients, args.warmup, max_requests)
            pids = server.pids()
            rss_before, server_cpu_before = rss_bytes(pids), cpu_seconds(pids)
            log(quiet, f"load: {args.seconds:.0f} s, {args.clients} clients, {LINES}-line claims")
            client_cpu_before = time.process_time()
            tally, elapsed = drive(args.client, url, key, bodies, args.clients, args.seconds, max_requests)
            client_cpu = time.process_time() - client_cpu_before
            alive = server.proc.poll() is None
            pids_after = server.pids()
            rss_after = rss_bytes(pids_after)
            # workers that were replaced during the load keep their CPU time out of the sum; say so
            server_cpu = cpu_seconds(pids_after) - server_cpu_before
            workers_replaced = sorted(set(pids) ^ set(pids_after)) != []
        finally:
            how = server.stop(args.stop_timeout)
            log(quiet, f"server: {how}")
        if not alive:
            tally.errors["server exited"] += 1

    ordered = sorted(tally.latencies)
    requests = len(ordered) + sum(tally.errors.values())
    ms = lambda q: round(percentile(ordered, q) * 1e3, 2)  # noqa: E731
    growth = (rss_after - rss_before) / rss_before if rss_before else float("nan")
    return {
        "clients": args.clients, "workers": args.workers, "client_mode": args.client, "lines_per_claim": LINES,
        "cores": os.cpu_count(), "seconds": round(elapsed, 2), "warmup_requests": len(warm.latencies),
        "warmup_errors": sum(warm.errors.values()),
        "requests": requests, "ok": len(ordered), "throughput_rps": round(requests / elapsed, 1),
        "latency_ms": {"p50": ms(0.50), "p90": ms(0.90), "p99": ms(0.99),
                       "max": round(ordered[-1] * 1e3, 2) if ordered else None,
                       "mean": round(sum(ordered) / len(ordered) * 1e3, 2) if ordered else None},
        "errors": sum(tally.errors.values()), "errors_by_kind": dict(tally.errors),
        "error_examples": tally.examples,
        "memory": {"rss_before_mb": round(rss_before / 2**20, 1), "rss_after_mb": round(rss_after / 2**20, 1),
                   "growth_pct": round(growth * 100, 2), "processes": len(pids_after)},
        "cpu": {"client_s": round(client_cpu, 2), "client_cores": round(client_cpu / elapsed, 2),
                "client_us_per_request": round(client_cpu / requests * 1e6, 1) if requests else None,
                "server_s": round(server_cpu, 2), "server_cores": round(server_cpu / elapsed, 2),
                "server_us_per_request": round(server_cpu / requests * 1e6, 1) if requests else None,
                "client_share_pct": round(100 * client_cpu / (client_cpu + server_cpu), 1)
                if client_cpu + server_cpu else None,
                "server_processes_replaced": workers_replaced},
        "targets": {"p99_ms_lt": TARGET_P99_MS, "errors": 0, "memory_growth_pct_lt": TARGET_GROWTH * 100,
                    "p99_met": bool(ordered) and percentile(ordered, 0.99) * 1e3 < TARGET_P99_MS,
                    "errors_met": not tally.errors and bool(ordered),
                    "memory_met": growth < TARGET_GROWTH},
    }


def print_report(r: dict) -> None:
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lat, mem, cpu, t = r["latency_ms"], r["memory"], r["cpu"], r["targets"]
    print(f"\n{r['clients']} clients ({r['client_mode']}) -> {r['workers']} workers, {r['lines_per_claim']}-line "
          f"claims, {r['seconds']:.1f} s on {r['cores']} cores (warm-up: {r['warmup_requests']} requests)")
    print(f"  requests      {r['requests']:>9,d}")
    print(f"  throughput    {r['throughput_rps']:>9,.0f} req/s")
    print(f"  latency p50   {lat['p50']:>9.2f} ms")
    print(f"  latency p90   {lat['p90']:>9.2f} ms")
    print(f"  latency p99   {lat['p99']:>9.2f} ms   target < {t['p99_ms_lt']:.0f} ms: {met(t['p99_met'])}")
    print(f"  latency max   {lat['max'] if lat['max'] is not None else float('nan'):>9.2f} ms")
    print(f"  errors        {r['errors']:>9,d}   target 0: {met(t['errors_met'])}")
    for kind, count in sorted(r["errors_by_kind"].items(), key=lambda kv: -kv[1]):
        print(f"    {kind}: {count:,d}  e.g. {r['error_examples'].get(kind, '')[:160]!r}")
    print(f"  server memory {mem['rss_before_mb']:>9.1f} MB before, {mem['rss_after_mb']:.1f} MB after "
          f"({mem['processes']} processes): {mem['growth_pct']:+.1f}%   target < +{t['memory_growth_pct_lt']:.0f}%: "
          f"{met(t['memory_met'])}")
    print(f"  client CPU    {cpu['client_s']:>9.2f} s = {cpu['client_cores']:.2f} cores, "
          f"{cpu['client_us_per_request']} us/request ({cpu['client_share_pct']}% of all CPU used)")
    print(f"  server CPU    {cpu['server_s']:>9.2f} s = {cpu['server_cores']:.2f} cores, "
          f"{cpu['server_us_per_request']} us/request"
          + ("  (a worker was replaced during the run)" if cpu["server_processes_replaced"] else ""))
    if lat["mean"]:
        print(f"  closed loop: mean latency {lat['mean']:.2f} ms ~ {r['clients']} clients / "
              f"{r['throughput_rps']:,.0f} req/s = {r['clients'] / r['throughput_rps'] * 1e3:.2f} ms (queueing)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured load time (default 20)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up time, not counted (default 2)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", choices=["async", "threads"], default="async",
                        help="one httpx.AsyncClient with a task per client, or a thread and httpx.Client each")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="cap on measured requests")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--startup-timeout", type=float, default=60.0)
    parser.add_argument("--stop-timeout", type=float, default=10.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    args = parser.parse_args()
    # a SIGTERM to this script still goes through the finally that stops the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
