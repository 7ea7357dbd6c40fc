"""Scrubbing large files: several worker processes or a Dask cluster, results in input order.

The coordinator (the `scrubber batch` process) cuts the input into chunks of about K records
without parsing any claim, hands them to workers, and writes their NDJSON results to OUT strictly
in input order while later chunks are still being scrubbed. At most 2 chunks per worker are in
flight, so the coordinator's memory does not grow with the input.

How an input is cut (`read_chunks`):

- NDJSON: groups of K non-blank lines. A chunk carries the number of records and lines before
  it, so that an error record's `index` and a "line N is not valid JSON" message are those of
  the whole file.
- X12 837: whole transaction sets (ST..SE), K claims (CLM) or more per chunk; a transaction set is
  never cut, so a chunk holds at least one (the 837 guide allows up to 5,000 claims in one). Every
  chunk after the first starts with the ISA and GS segments in force where it was cut, so that a
  worker reads it as an interchange of its own. A cut is made only before an ST that follows a
  clean SE: nothing between them but GE / IEA / ISA / GS segments, and no findings waiting for a
  next claim (the closed set's last CLM came after its last HL). When something lies outside the
  transaction sets (a stray segment, a broken envelope segment), the chunk also gets TA1 segments,
  which the reader ignores, after its ISA and GS, so that the reader counts segment positions in
  the interchange as it does in the whole file; a GS the reader cleans of control characters
  is repeated cleaned, so that its problem is reported once. Where the cutter cannot be sure to
  see the segments as the reader does (a later ISA it cannot read, a control character other
  than a line break or tab, a segment id broken by a line break, a segment over 1 MB), the rest
  of the file is one chunk, joined to the chunk before when it holds no claim (the reader treats
  an unreadable ISA before any claim differently). The results are those of reading the file
  whole: tests/test_batch.py cuts randomly broken interchanges to check it. A file whose first
  ISA cannot be read is one chunk, and one error record.
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
import re
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
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, NamedTuple, Protocol

from scrubber.contract.claim import ScrubResult
from scrubber.intake.items import (Item, fhir_items, file_format, json_items, ndjson_items, output_line, scrub_item,
                             x12_items)
from scrubber.intake.parse import ClaimError

if TYPE_CHECKING:
    from scrubber.pipeline.routing import PayerRouter
    from scrubber.ruleset.payers import Deployment

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
    from scrubber.intake.items import file_items
    from scrubber.intake.x12.reader import X12Error

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


_BLANK = b" \t\r\n"  # what scrubber.intake.x12.reader skips around segments
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")  # what scrubber.intake.x12.reader removes from a segment
_STRAY_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # all of them but blanks
_ISA_SCAN = 256
_MAX_SEGMENT = 1 << 20  # scrubber.intake.x12.reader gives up on the rest of a stream with a longer segment


class _Isa(NamedTuple):
    element: bytes
    terminator: bytes
    length: int  # of the ISA segment with its terminator


def _isa(buf: bytes | bytearray, at: int) -> _Isa | None:
    """The separators of the ISA at `at`, found as scrubber.intake.x12.reader finds them (16 element separators
    within 256 characters, then ISA16 and the terminator), or None when they cannot be read or
    the header is not plain ASCII (character and byte offsets would differ)."""
    text = bytes(buf[at:at + _ISA_SCAN])
    if len(text) < 4:
        return None
    element = text[3:4]
    cuts = [3]
    while len(cuts) < 16:
        j = text.find(element, cuts[-1] + 1)
        if j < 0:
            return None
        cuts.append(j)
    last = cuts[-1]
    if last + 2 >= len(text) or not text[:last + 3].isascii():
        return None
    component, terminator = text[last + 1:last + 2], text[last + 2:last + 3]
    if element.isalnum() or component.isalnum() or terminator.isalnum() or terminator == b" " \
            or len({element, component, terminator}) < 3:
        return None
    return _Isa(element, terminator, last + 3)


def _segment_pattern(isa: _Isa) -> re.Pattern[bytes]:
    """The start of every segment the cutter looks at, with the terminator before it: an ISA
    header (group 1), a segment it follows (group 2, with or without elements), or a segment id
    broken by a line break or tab (group 3), which the reader would join into another id."""
    term, el = re.escape(isa.terminator), re.escape(isa.element)
    return re.compile(term + rb"[ \t\r\n]*(?:(ISA)(?=[^A-Za-z0-9" + term + rb"])"
                      rb"|(ST|SE|GS|GE|IEA|CLM|HL)(?=" + el + rb"|[ \t\r\n]*" + term + rb")"
                      rb"|([A-Za-z0-9]{1,3}[\t\r\n]+(?!" + term + rb")[^ \t\r\n]))")


def x12_pieces(raw: BinaryIO, size: int, block: int = 1 << 20) -> Iterator[bytes]:
    """The 837 interchange(s) of `raw` in chunks of whole transaction sets (module docstring)."""
    return _X12Cutter(raw, size, block).pieces()


class _X12Cutter:
    def __init__(self, raw: BinaryIO, size: int, block: int):
        self.raw, self.size, self.block = raw, size, block
        self.buf = bytearray()
        self.consumed = 0  # input offset of buf[0]
        self.eof = self.stray = False

    def _more(self) -> None:
        data = self.raw.read(self.block)
        self.buf += data
        self.eof = not data
        # a control character can make the reader see another segment id than the cutter does
        self.stray = self.stray or _STRAY_CONTROL.search(data) is not None

    def pieces(self) -> Iterator[bytes]:
        buf = self.buf
        while len(buf) < _ISA_SCAN and not self.eof:
            self._more()
        at = len(buf) - len(buf.lstrip(_BLANK))
        isa = _isa(buf, at) if buf[at:at + 3] == b"ISA" else None
        if isa is None:  # the reader will say why the file cannot be read
            yield bytes(buf) + self.raw.read()
            return
        envelope = _Envelope(isa, at, bytes(buf[at:at + isa.length]))  # in force here
        start = envelope  # in force where the current chunk starts (the first needs none)
        odd = False  # the chunk needs the reader's positions outside transaction sets exactly
        # the last chunk cut, kept until the next cut: when the cutter stops with no claim since
        # that cut, the rest joins it, since the reader raises X12Error for an unreadable ISA only
        # before any claim
        held: tuple[_Envelope, bool, bytes, int] | None = None
        pattern, term = _segment_pattern(isa), isa.terminator
        pos = at + isa.length - len(term)  # search from the terminator before the next segment
        last_end = at + isa.length  # end of the last segment looked at outside a transaction set
        in_set = clean = False  # clean: an ST here may start a new chunk
        claims = set_claims = 0  # claims: CLMs of 837 transaction sets since the chunk's start
        counted = False  # the transaction set is an 837 (the reader skips any other)
        last_marker = b""
        finished = False  # read to the end (else the rest of the input is one chunk)
        while not self.stray:
            m = pattern.search(buf, pos)
            if m is None:
                if self.eof:
                    finished = True
                    break
                pos = max(pos, buf.rfind(term))
                if len(buf) - pos > _MAX_SEGMENT:  # the reader gives up on the rest here
                    break
                self._more()
                continue
            if m.group(3):
                break
            sid = m.group(1) or m.group(2)
            seg = m.start(1) if m.group(1) else m.start(2)
            if in_set and sid in (b"CLM", b"HL"):  # most segments: their end is not needed
                claims += sid == b"CLM" and counted
                set_claims += sid == b"CLM"
                last_marker = sid
                pos = m.end()
                continue
            if sid == b"ISA":
                isa = _isa(buf, seg)
                if isa is None and not self.eof and len(buf) - seg < _ISA_SCAN:
                    self._more()
                    continue
                if isa is None:
                    break
                end = seg + isa.length
            else:
                end = buf.find(term, m.end())
                if end < 0 and len(buf) - seg > _MAX_SEGMENT:
                    break
                if end < 0 and not self.eof:
                    self._more()
                    continue
                end = len(buf) if end < 0 else end + len(term)
            closed = sid == b"ISA" or buf.endswith(term, seg, end)
            if not in_set and buf[last_end:seg].strip(_BLANK):
                clean, odd = False, True  # some other segment lies outside the transaction sets
            if sid == b"ST":
                if not in_set and clean and claims >= self.size:
                    cut = m.start() + len(term)
                    if held is not None:
                        yield self._chunk(*held)
                    held = (start, odd, bytes(buf[:cut]), self.consumed)
                    start, odd = envelope, False
                    del buf[:cut]
                    self.consumed += cut
                    seg, end, claims = seg - cut, end - cut, 0
                in_set, clean, set_claims, last_marker = True, False, 0, b""
                counted = buf[seg:end].split(envelope.separators.element)[1:2] == [b"837"]
            elif sid == b"SE":
                # nothing waits for a next claim: the last claim was open until SE, or there was none
                clean = in_set and (set_claims == 0 or last_marker == b"CLM")
                odd = odd or not in_set
                in_set = False
            elif sid in (b"CLM", b"HL"):  # outside any transaction set
                clean, odd = False, True
            else:  # ISA, GS, GE, IEA: well-formed, or no cut before the next SE
                body = buf[seg:end - len(term) if closed else end].rstrip(_BLANK)
                if in_set or not closed or (sid != b"ISA" and _CONTROL.search(body)):
                    clean, odd = False, True
                in_set = False
                if sid == b"GS":  # repeated without what the reader removes (and reports) once
                    envelope = envelope._replace(gs=_CONTROL.sub(b"", body) + term)
                elif sid == b"ISA":
                    assert isa is not None
                    envelope = _Envelope(isa, self.consumed + seg, bytes(buf[seg:end]))
                    pattern, term = _segment_pattern(isa), isa.terminator
            last_end = end
            pos = end - len(term) if closed else end
        if not finished:  # no further cut is safe: the rest is one chunk
            odd = True
            buf += self.raw.read()
        elif not in_set and buf[last_end:].strip(_BLANK):
            odd = True  # something after the last envelope segment
        if held is not None and not finished and claims == 0:
            yield self._chunk(held[0], True, held[2] + bytes(buf), held[3])
            return
        if held is not None:
            yield self._chunk(*held)
        yield self._chunk(start, odd, bytes(buf), self.consumed)

    def _chunk(self, start: _Envelope, odd: bool, body: bytes, offset: int) -> bytes:
        """A chunk's text: the envelope in force where it starts, then its body (the first chunk,
        at offset 0, is the file's own beginning). A chunk with something outside its transaction
        sets gets TA1 segments (ignored by the reader) after the envelope, so that the reader
        counts positions in the interchange as in the whole file."""
        if offset == 0:
            return body
        prefix = start.isa + start.gs
        if odd:
            padding = self._segments(start.isa_offset, offset, start.separators) - 1 - bool(start.gs)
            prefix += (b"TA1" + start.separators.terminator) * padding
        return prefix + body

    def _segments(self, begin: int, end: int, isa: _Isa) -> int:
        """How many segments scrubber.intake.x12.reader reads in the input from the ISA at `begin` to `end`."""
        here = self.raw.tell()
        self.raw.seek(begin + isa.length)
        count, carry, left = 1, b"", end - begin - isa.length
        while left > 0:
            block = self.raw.read(min(left, 1 << 20))
            if not block:
                break
            left -= len(block)
            parts = (carry + block).split(isa.terminator)
            carry = parts.pop()
            count += sum(1 for part in parts if part.strip(_BLANK))
        self.raw.seek(here)
        return count + bool(carry.strip(_BLANK))


class _Envelope(NamedTuple):
    """The ISA (and GS) in force at some point of the input."""

    separators: _Isa
    isa_offset: int
    isa: bytes
    gs: bytes = b""


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


_local = threading.local()


def worker_scrubber(rules_dir: str | None, data_dir: str | None) -> PayerRouter:
    """This thread's Scrubber, built on first use and kept (rules compiled, reference data open).
    Per thread rather than per process, since a SQLite connection serves only its own thread; a
    batch worker process (or a Dask worker started by `scrubber batch --dask`) has one thread."""
    from scrubber import config
    from scrubber.ruleset.payers import load_deployment

    rules = rules_dir or config.rules_dir()
    key = (rules, payers_beside(rules), data_dir or config.data_dir())
    cached = getattr(_local, "scrubber", None)
    if cached is None or cached[0] != key:
        if cached is not None:
            cached[1].close()
        _local.scrubber = (key, make_scrubber(load_deployment(key[0], key[1]), key[2]))
    return _local.scrubber[1]


def payers_beside(rules_dir: str, payers: str | None = None) -> str | None:
    """The payer profiles that go with a rules directory: `payers` when given ('' for none), the
    configured payers/ for the configured rules, else a payers/ directory next to the rules."""
    from scrubber import config

    if payers is not None:
        return payers or None
    if Path(rules_dir).resolve() == Path(config.rules_dir()).resolve():
        return config.payers_dir()
    beside = Path(rules_dir).resolve().parent / "payers"
    return str(beside) if beside.is_dir() else None


def make_scrubber(deployment: Deployment, data_dir: str) -> PayerRouter:
    """What `scrubber check` and the batch workers scrub with: the rules and payer profiles, with
    the coding edits of the reference data in `data_dir`. Files are scrubbed without the claim
    history (no cross-claim duplicate or frequency check: a file has no order of submission)."""
    from scrubber.pipeline.routing import PayerRouter
    from scrubber.refdata.baseline import open_reference

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
    from scrubber.intake.x12.reader import X12Error

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
