"""Scrubbing large files: several worker processes or a Dask cluster, results in input order.

The coordinator (the `scrubber batch` process) cuts the input into chunks of about K records
without parsing any claim, hands them to workers, and writes their NDJSON results to OUT strictly
in input order while later chunks are still being scrubbed. At most 2 chunks per worker are in
flight, so the coordinator's memory does not grow with the input.

How an input is cut (`read_chunks`):

- NDJSON: groups of K non-blank lines. A chunk carries the number of records and lines before
  it, so that an error record's `index` and a "line N is not valid JSON" message are those of
  the whole file.
- X12 837: whole transaction sets (ST..SE), K claims (CLM) or more per chunk, each chunk
  reading as its part of the whole file does (`scrubber.intake.x12.chunking`, which shares the
  reader's reading of the ISA header). A file whose first ISA cannot be read is one chunk, and
  one error record.
- a JSON claim or array, a multi-line JSON object, a FHIR Claim or Bundle: one chunk, read whole.

Each worker process loads the rules and reference data once (`worker_scrubber`, one Scrubber per
thread, kept for the life of the process), scrubs its chunk with the run's fixed `today` and
returns the NDJSON lines (`scrubber.intake.items.output_line`) with a tally of what it found.
"""
from __future__ import annotations

import datetime as dt
import io
import multiprocessing
import os
import resource
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, Protocol

from scrubber.contract.claim import ScrubResult
from scrubber.intake.items import (Item, fhir_items, file_format, file_items, json_items, ndjson_items, output_line,
                                   scrub_item, x12_items)
from scrubber.intake.parse import ClaimError
from scrubber.intake.x12 import X12Error
from scrubber.intake.x12.chunking import x12_pieces

from scrubber.pipeline.routing import PayerRouter
from scrubber.refdata.baseline import open_reference
from scrubber.ruleset.payers import Deployment, load_deployment
from scrubber.settings import settings as configuration

DEFAULT_CHUNK_SIZE = 1000
Kind = Literal["ndjson", "x12", "json", "fhir"]


# ------------------------------------------------------------------------------ run statistics

@dataclass
class Tally:
    """What a run found: records by status (`unreadable`: an error record), findings by rule."""

    statuses: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    revisions: set[str] = field(default_factory=set)

    @property
    def records(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> bool:
        """Any claim failed or could not be read (the CLI then exits 1)."""
        return bool(self.statuses["fail"] or self.statuses["unreadable"])

    def add(self, record: ScrubResult | dict[str, Any]) -> None:
        if isinstance(record, ScrubResult):
            self.statuses[record.status] += 1
            self.rules.update(f.rule_id for f in record.findings)
            self.revisions.add(record.ruleset.revision)
        else:
            self.statuses["unreadable"] += 1

    def merge(self, other: Tally) -> None:
        self.statuses.update(other.statuses)
        self.rules.update(other.rules)
        self.revisions |= other.revisions


def summary(tally: Tally, seconds: float) -> str:
    """The end-of-run report: counts by status, then the 10 rules with the most findings."""
    s = tally.statuses
    rate = tally.records / seconds if seconds > 0 else 0.0
    lines = [(f"{s['pass']} pass, {s['warn']} warn, {s['fail']} fail, {s['unreadable']} unreadable "
              f"({tally.records} claims in {seconds:.1f} s, {rate:.0f} claims/s)")]
    top = tally.rules.most_common(10)
    if top:
        width = max(len(rule) for rule, _ in top)
        lines.append("top rules by findings:")
        lines += [f"  {rule:<{width}}  {count}" for rule, count in top]
    return "\n".join(lines)


class Progress:
    """One progress line on stderr (claims done, claims/s), rewritten at most 5 times a second:
    in place on a terminal, as successive lines elsewhere. `finish` writes the final count."""

    def __init__(self, enabled: bool, stream: IO[str] | None = None, interval: float = 0.2):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interval = interval
        self.tty = self.stream.isatty()
        self.started = self.last = time.monotonic()

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < self.interval and not force):
            return
        self.last = now
        rate = done / (now - self.started) if now > self.started else 0.0
        text = f"{done} claims, {rate:.0f} claims/s"
        self.stream.write(f"\r{text:<40}" if self.tty else text + "\n")
        self.stream.flush()

    def finish(self, done: int) -> None:
        self.update(done, force=True)
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def file_records(path: str | Path) -> Iterator[Item]:
    """`intake.file_items`, except that an X12 file whose ISA header cannot be read at all is one
    record that cannot be read, as a JSON file that is not JSON is, rather than an exception."""
    count = 0
    try:
        for item in file_items(path):
            count += 1
            yield item
    except X12Error as exc:
        yield Item(count + 1, error=ClaimError(f"the file is not a readable X12 interchange: {exc}"))


# ------------------------------------------------------------------------------ chunks

@dataclass(frozen=True, slots=True)
class Chunk:
    """A run of consecutive records of the input, as bytes of the input's own format."""

    number: int  # 0, 1, 2... in input order
    kind: Kind
    data: bytes
    first_index: int = 0  # NDJSON: records before this chunk
    first_line: int = 1  # NDJSON: the file's line number of the chunk's first line


def file_kind(raw: BinaryIO) -> Kind:
    """The format, decided as `intake.file_items` decides it."""
    return file_format(raw)  # type: ignore[return-value]


def read_chunks(path: str | Path, size: int = DEFAULT_CHUNK_SIZE) -> Iterator[Chunk]:
    """The input cut into chunks of about `size` records (see the module docstring)."""
    with open(path, "rb") as raw:
        kind = file_kind(raw)
        if kind == "ndjson":
            pieces: Iterator[tuple[bytes, int, int]] = ndjson_pieces(raw, size)
        elif kind == "x12":
            pieces = ((data, 0, 1) for data in x12_pieces(raw, size))
        else:
            pieces = iter([(raw.read(), 0, 1)])
        for number, (data, first_index, first_line) in enumerate(pieces):
            yield Chunk(number, kind, data, first_index, first_line)


def ndjson_pieces(raw: BinaryIO, size: int) -> Iterator[tuple[bytes, int, int]]:
    """(data, records before it, line number of its first line) for each `size` non-blank lines."""
    lines: list[bytes] = []
    records = before = first_line = 0
    for line_number, line in enumerate(raw, start=1):  # split at b"\n" only, as intake.ndjson_items reads
        if not lines:
            first_line = line_number
        lines.append(line)
        if not line.isspace():
            records += 1
            if records == size:
                yield b"".join(lines), before, first_line
                before, records, lines = before + records, 0, []
    if records:
        yield b"".join(lines), before, first_line


# ------------------------------------------------------------------------------ workers

@dataclass(frozen=True, slots=True)
class Settings:
    """What every worker scrubs with. None: the worker's own configuration (SCRUBBER_RULES_DIR,
    SCRUBBER_DATA_DIR), which is what a remote Dask worker has."""

    today: dt.date
    rules_dir: str | None = None
    data_dir: str | None = None


@dataclass(slots=True)
class ChunkResult:
    number: int
    output: bytes  # NDJSON, one line per record, in order
    tally: Tally
    worker: str  # host:pid
    peak_rss: int  # bytes, the worker process's peak resident memory so far


class _WorkerScrubber(threading.local):
    """This thread's scrubber and what it was built from: (rules, payers, data directory)."""

    built: tuple[tuple[str, str | None, str], PayerRouter] | None = None


_local = _WorkerScrubber()


def worker_scrubber(rules_dir: str | None, data_dir: str | None) -> PayerRouter:
    """This thread's Scrubber, built on first use and kept (rules compiled, reference data open).
    Per thread rather than per process, since a SQLite connection serves only its own thread; a
    batch worker process (or a Dask worker started by `scrubber batch --dask`) has one thread."""
    rules = rules_dir or configuration().rules_dir
    key = (rules, payers_beside(rules), data_dir or configuration().data_dir)
    cached = _local.built
    if cached is None or cached[0] != key:
        if cached is not None:
            cached[1].close()
        cached = _local.built = (key, make_scrubber(load_deployment(key[0], key[1]), key[2]))
    return cached[1]


def payers_beside(rules_dir: str, payers: str | None = None) -> str | None:
    """The payer profiles that go with a rules directory: `payers` when given ('' for none), the
    configured payers/ for the configured rules, else a payers/ directory next to the rules."""
    if payers is not None:
        return payers or None
    if Path(rules_dir).resolve() == Path(configuration().rules_dir).resolve():
        return configuration().payers_dir
    beside = Path(rules_dir).resolve().parent / "payers"
    return str(beside) if beside.is_dir() else None


def make_scrubber(deployment: Deployment, data_dir: str) -> PayerRouter:
    """What `scrubber check` and the batch workers scrub with: the rules and payer profiles, with
    the coding edits of the reference data in `data_dir`. Files are scrubbed without the claim
    history (no cross-claim duplicate or frequency check: a file has no order of submission)."""
    return PayerRouter(deployment, open_reference(data_dir))


def chunk_items(chunk: Chunk) -> Iterator[Item]:
    """The items of a chunk, numbered as in the whole input."""
    if chunk.kind == "ndjson":
        return _ndjson_items(chunk.data, chunk.first_index, chunk.first_line)
    if chunk.kind == "x12":
        return _x12_records(chunk.data)
    if chunk.kind == "fhir":
        return fhir_items(chunk.data)
    return json_items(chunk.data.decode("utf-8", errors="replace"))


def _ndjson_items(data: bytes, first_index: int, first_line: int) -> Iterator[Item]:
    """`intake.ndjson_items` over a piece of a file: the records and lines before the piece are
    counted in, so that indexes and messages are those of the whole file."""
    return ndjson_items(io.BytesIO(data), start=first_index + 1, first_line=first_line)


def _x12_records(data: bytes) -> Iterator[Item]:
    count = 0
    try:
        for item in x12_items(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace",
                                               newline="")):
            count += 1
            yield item
    except X12Error as exc:  # the same record as `file_records` gives for the whole file
        yield Item(count + 1, error=ClaimError(f"the file is not a readable X12 interchange: {exc}"))


def scrub_chunk(chunk: Chunk, settings: Settings) -> ChunkResult:
    """Run in a worker: every record of the chunk scrubbed, as NDJSON lines in order."""
    scrubber = worker_scrubber(settings.rules_dir, settings.data_dir)
    out = bytearray()
    tally = Tally()
    for item in chunk_items(chunk):
        record = scrub_item(scrubber, item, today=settings.today)
        tally.add(record)
        out += output_line(record)
    return ChunkResult(chunk.number, bytes(out), tally, f"{os.uname().nodename}:{os.getpid()}", peak_rss())


def peak_rss() -> int:
    """This process's peak resident memory in bytes (getrusage gives KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# ------------------------------------------------------------------------------ the coordinator

class _Pending(Protocol):
    def done(self) -> bool: ...

    def result(self) -> ChunkResult: ...


@dataclass
class Report:
    tally: Tally
    seconds: float
    workers: int  # worker processes that scrubbed a chunk
    coordinator_rss: int  # peak, bytes
    worker_rss: int  # the largest worker peak reported, bytes


def write_in_order(chunks: Iterable[Chunk], submit: Callable[[Chunk], _Pending], out: BinaryIO, *,
                   in_flight: int, progress: Progress | None = None) -> tuple[Tally, dict[str, int]]:
    """Submit chunks, at most `in_flight` at a time, and write each chunk's output as soon as it
    and every chunk before it are done. Returns the tally and each worker's peak memory."""
    tally = Tally()
    workers: dict[str, int] = {}
    running: deque[_Pending] = deque()

    def write(pending: _Pending) -> None:
        result = pending.result()
        out.write(result.output)
        tally.merge(result.tally)
        workers[result.worker] = max(workers.get(result.worker, 0), result.peak_rss)
        if progress is not None:
            progress.update(tally.records)

    for chunk in chunks:
        running.append(submit(chunk))
        while running and (len(running) >= in_flight or running[0].done()):
            write(running.popleft())
    while running:
        write(running.popleft())
    return tally, workers


@contextmanager
def process_pool(workers: int, settings: Settings) -> Iterator[tuple[Callable[[Chunk], Future], int]]:
    """Local worker processes (started with spawn: nothing of the coordinator's state is copied)."""
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield (lambda chunk: pool.submit(scrub_chunk, chunk, settings)), workers
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# Dask starts its worker processes with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc hand memory
# back to the system and fault it in again for every claim: measured, 120,000 page faults per
# 1,000 claims and 1.7x the time. None unsets it (set the same in a cluster's worker config).
WORKER_MALLOC_CONFIG = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


@contextmanager
def dask_cluster(address: str | None, workers: int, settings: Settings) -> Iterator[tuple[Callable, int]]:
    """A Dask client: on the scheduler at `address`, or on a LocalCluster of `workers` processes
    with one thread each. Yields the submit function and the number of worker threads."""
    # imported here: Dask is heavy to import (about a second, and its own threads); only --dask needs it
    import dask
    from dask.distributed import Client, LocalCluster

    cluster = None
    if address:
        client = Client(address)
    else:
        with dask.config.set({WORKER_MALLOC_CONFIG: None}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(cluster)
    try:
        slots = sum(client.nthreads().values()) or workers
        # the chunk travels to a worker on its own (scatter), not inside the task: Dask keeps the
        # tasks' arguments in the coordinator, whose memory then grew with the input (measured)
        yield (lambda chunk: client.submit(scrub_chunk, client.scatter(chunk, hash=False), settings,
                                           pure=False)), slots
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run(path: str | Path, out_path: str | Path, *, settings: Settings, workers: int | None = None,
        dask: str | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: Progress | None = None) -> Report:
    """Scrub the file at `path` into `out_path` (NDJSON, one record per input record, in order)
    with `workers` local processes, or on Dask: `dask` is a scheduler address, or "" for a
    LocalCluster of `workers` processes."""
    workers = workers or os.cpu_count() or 1
    started = time.perf_counter()
    with open(path, "rb"):  # an input that cannot be read fails before any worker starts
        pass
    executor = process_pool(workers, settings) if dask is None else dask_cluster(dask or None, workers, settings)
    with executor as (submit, slots), open(out_path, "wb") as out:
        tally, peaks = write_in_order(read_chunks(path, chunk_size), submit, out, in_flight=2 * slots,
                                      progress=progress)
    if progress is not None:
        progress.finish(tally.records)
    return Report(tally, time.perf_counter() - started, len(peaks), peak_rss(),
                  max(peaks.values(), default=0))
