"""Intake at scale: `scrubber check --out` and `scrubber batch` (scrubber/workflows/batch.py, scrubber/cli.py).

A batch run must write exactly what a single-process `check --out` writes, record for record and
byte for byte but for each result's scrub_id, however the input is cut into chunks and in
whatever order the chunks finish."""
from __future__ import annotations

import io
import json
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scrubber.workflows.batch import Chunk, ChunkResult, Tally, read_chunks, write_in_order, x12_pieces
from scrubber.cli import main
from scrubber.ruleset.loader import SHIPPED_RULES
from scrubber.intake.x12 import X12Error, iter_claims
from tests.generators import realistic_claims
from tests.intake.test_x12 import claim, interchange, transaction, write

RULES = str(SHIPPED_RULES)
X12_SAMPLES = sorted(p for p in (Path(__file__).parents[1] / "fixtures" / "x12").iterdir()
                     if p.suffix in (".837", ".837i"))
SCRUB_ID = re.compile(rb',"scrub_id":"[0-9A-HJKMNP-TV-Z]{26}"')


def ndjson_corpus(path: Path, count: int = 240) -> Path:
    """Realistic claims with, among them, a line that is not JSON, a claim with a wrong type,
    blank lines and a last line without its newline."""
    lines = [c.model_dump_json(exclude_none=True) for c in realistic_claims(17, count)]
    lines.insert(5, "")
    lines.insert(30, '{"claim_id": "BROKEN", "lines": [')
    lines.insert(31, "   ")
    lines.insert(77, json.dumps({"claim_id": "WRONG-TYPE", "claim_type": 7, "lines": []}))
    lines.insert(150, "")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def x12_corpus(path: Path, copies: int = 3) -> Path:
    path.write_bytes(b"".join(p.read_bytes() for p in X12_SAMPLES) * copies)
    return path


def clm01s(data: bytes) -> list[str]:
    """The claim ids (CLM01) of every CLM in concatenated interchanges that all use '*' and '~'."""
    return [s.strip().split(b"*")[1].decode() for s in data.split(b"~") if s.strip().startswith(b"CLM*")]


def without_scrub_ids(path: Path) -> list[bytes]:
    return [SCRUB_ID.sub(b"", line) for line in path.read_bytes().splitlines()]


def check_out(tmp_path: Path, source: Path, capsys) -> list[bytes]:
    out = tmp_path / "check.ndjson"
    main(["check", "--rules", RULES, str(source), "--out", str(out)])
    capsys.readouterr()
    return without_scrub_ids(out)


def batch(tmp_path: Path, source: Path, *options: str) -> tuple[int, list[bytes]]:
    out = tmp_path / "batch.ndjson"
    code = main(["batch", str(source), "--out", str(out), "--rules", RULES, *options])
    return code, without_scrub_ids(out)


# ------------------------------------------------------------------------------ check --out


def test_check_out_writes_one_record_per_claim_and_prints_only_the_summary(tmp_path, capsys):
    source = ndjson_corpus(tmp_path / "claims.ndjson", count=40)
    out = tmp_path / "results.ndjson"

    code = main(["check", "--rules", RULES, str(source), "--out", str(out)])

    captured = capsys.readouterr()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 1
    assert len(records) == 42  # 40 claims, the line that is not JSON, the claim with a wrong type
    assert [r.get("claim_id") for r in records[:6]] == ["PCN-0", "PCN-1", "PCN-2", "PCN-3", "PCN-4", "PCN-5"]
    broken = records[29]
    assert broken["index"] == 30 and broken["error"]["detail"].startswith("line 31 is not valid JSON")
    counts = re.search(r"^(\d+) pass, (\d+) warn, (\d+) fail, 2 unreadable \(42 claims in [\d.]+ s, \d+ claims/s\)$",
                       captured.out, re.MULTILINE)
    assert counts and sum(map(int, counts.groups())) == 40
    assert "top rules by findings:" in captured.out
    assert "PCN-" not in captured.out  # nothing printed per claim
    assert captured.err == ""  # no progress: stderr is not a terminal and --progress was not given


def test_check_summary_lists_the_top_rules_with_their_counts(tmp_path, capsys):
    source = ndjson_corpus(tmp_path / "claims.ndjson", count=60)
    out = tmp_path / "results.ndjson"

    main(["check", "--rules", RULES, str(source), "--out", str(out)])

    counted = Tally()
    for line in out.read_text().splitlines():
        for finding in json.loads(line).get("findings", []):
            counted.rules[finding["rule_id"]] += 1
    listed = capsys.readouterr().out.split("top rules by findings:\n")[1].splitlines()
    assert [line.split() for line in listed] == [[rule, str(n)] for rule, n in counted.rules.most_common(10)]


def test_check_progress_line_on_stderr_with_the_flag(tmp_path, capsys):
    source = ndjson_corpus(tmp_path / "claims.ndjson", count=20)

    main(["check", "--rules", RULES, str(source), "--out", str(tmp_path / "r.ndjson"), "--progress"])

    lines = capsys.readouterr().err.splitlines()
    assert lines and all(re.fullmatch(r"\d+ claims, \d+ claims/s", line) for line in lines)
    assert lines[-1].startswith("22 claims, ")


def test_check_reads_an_837_file_one_result_per_clm(tmp_path, capsys):
    source = x12_corpus(tmp_path / "claims.837", copies=1)

    main(["check", "--rules", RULES, str(source), "--json"])

    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["claim_id"] for r in results] == clm01s(source.read_bytes())


def test_check_an_x12_file_whose_isa_cannot_be_read_is_one_unreadable_record(tmp_path, capsys):
    source = tmp_path / "broken.837"
    source.write_text("ISA*00*short~GS*HC~", encoding="ascii")

    code = main(["check", "--rules", RULES, str(source), "--out", str(tmp_path / "r.ndjson")])

    (record,) = [json.loads(line) for line in (tmp_path / "r.ndjson").read_text().splitlines()]
    assert code == 1
    assert record["index"] == 1
    assert record["error"]["detail"].startswith("the file is not a readable X12 interchange: the ISA")
    assert "0 pass, 0 warn, 0 fail, 1 unreadable" in capsys.readouterr().out


# ------------------------------------------------------------------------------ batch = check


def test_batch_with_two_processes_writes_what_check_writes_on_ndjson(tmp_path, capsys):
    source = ndjson_corpus(tmp_path / "claims.ndjson")
    expected = check_out(tmp_path, source, capsys)

    code, got = batch(tmp_path, source, "--workers", "2", "--chunk-size", "25")

    out = capsys.readouterr().out
    assert code == 1
    assert len(got) == 242
    assert got == expected
    errors = [(n, json.loads(line)) for n, line in enumerate(got, start=1) if line.startswith(b'{"index":')]
    assert [(n, record["index"]) for n, record in errors] == [(30, 30), (76, 76)]  # counted over the file
    assert errors[0][1]["error"]["detail"].startswith("line 31 is not valid JSON")
    assert re.search(r"^\d+ pass, \d+ warn, \d+ fail, 2 unreadable \(242 claims in ", out, re.MULTILINE)
    assert re.search(r"^2 worker process\(es\); peak memory: coordinator \d+ MiB, largest worker \d+ MiB$", out, re.MULTILINE)


def test_batch_with_two_processes_writes_what_check_writes_on_837(tmp_path, capsys):
    source = x12_corpus(tmp_path / "claims.837")
    expected = check_out(tmp_path, source, capsys)

    code, got = batch(tmp_path, source, "--workers", "2", "--chunk-size", "2")

    assert code == 1  # the samples carry defects
    assert got == expected
    assert [json.loads(line)["claim_id"] for line in got] == clm01s(source.read_bytes())


def test_batch_on_a_dask_local_cluster_writes_what_check_writes(tmp_path, capsys):
    source = ndjson_corpus(tmp_path / "claims.ndjson", count=120)
    expected = check_out(tmp_path, source, capsys)
    started = time.monotonic()

    code, got = batch(tmp_path, source, "--dask", "--workers", "2", "--chunk-size", "20", "--progress")

    captured = capsys.readouterr()
    assert code == 1
    assert got == expected
    assert "2 worker process(es)" in captured.out
    assert re.search(r"^122 claims, \d+ claims/s$", captured.err, re.MULTILINE)
    assert time.monotonic() - started < 60


def test_batch_of_a_json_array_is_one_chunk(tmp_path, capsys):
    claims = [json.loads(c.model_dump_json(exclude_none=True)) for c in realistic_claims(3, 5)]
    source = tmp_path / "claims.json"
    source.write_text(json.dumps([*claims[:2], {"claim_type": "dental"}, *claims[2:]]), encoding="utf-8")
    expected = check_out(tmp_path, source, capsys)

    assert [c.kind for c in read_chunks(source, 2)] == ["json"]
    assert batch(tmp_path, source, "--workers", "1")[1] == expected


# ------------------------------------------------------------------------------ chunks and order


def test_ndjson_chunks_count_records_and_lines_before_them(tmp_path):
    source = tmp_path / "claims.ndjson"
    source.write_bytes(b'{"a": 1}\n\n{"b": 2}\n{"c": 3}\n  \n{"d": 4}\n{"e": 5}')

    chunks = list(read_chunks(source, 2))

    assert [(c.data, c.first_index, c.first_line) for c in chunks] == [
        (b'{"a": 1}\n\n{"b": 2}\n', 0, 1), (b'{"c": 3}\n  \n{"d": 4}\n', 2, 4), (b'{"e": 5}', 4, 7)]


def _read(data: bytes) -> list:
    try:
        return [(r.claim, r.findings) for r in iter_claims(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8",
                                                                              errors="replace", newline=""))]
    except X12Error as exc:
        return [str(exc)]


def test_837_chunks_are_whole_transaction_sets_with_the_envelope_repeated(tmp_path):
    one = transaction([claim("A1"), claim("A2")], st02="0001")
    two = transaction([claim("B1")], st02="0002")
    text = write(interchange(one, two, transaction([claim("C1")], st02="0003")))

    pieces = list(x12_pieces(io.BytesIO(text.encode()), 2))

    isa, gs = text.split("\n")[:2]
    assert len(pieces) == 2
    assert pieces[0].startswith(b"ISA*") and pieces[0].rstrip().endswith(b"SE*43*0001~")
    # after the envelope, the cutter's TA1 tells the reader that 1 set of the group came before (GE01)
    assert pieces[1].startswith(f"{isa}{gs}TA1*X12RESUME*0*1*1~\nST*837*0002*".encode())
    assert [p.count(b"CLM*") for p in pieces] == [2, 2]
    assert [r for p in pieces for r in _read(p)] == _read(text.encode())


JUNK = ["REF*XX*1", "CLM*J1*10***11:B:1", "SE*3*0001", "HL*7*1*22*0", "GE*1*1", "IEA*1*000000001",
        "ISA*00*short", "ST*837*9999*005010X222A1", "LX*1", "", "TA1*1", "X\x01Y", "IEA", "SE", "GS*HC\t*1",
        "ST*8837*0009*005010X222A1"]
SEPARATORS = [("*", ":", "^", "~", "\n"), ("|", ">", "^", "~", ""), ("*", ":", "^", "\n", "")]


def interchanges(rng: random.Random, junk: int = 0) -> bytes:
    """1-3 interchanges of 1-4 transaction sets of 0-3 claims, with up to `junk` misplaced
    segments in each."""
    texts = []
    for n in range(rng.randint(1, 3)):
        sets = [transaction([claim(f"P{n}{s}{k}") for k in range(rng.randint(0, 3))], st02=f"{s:04d}")
                for s in range(rng.randint(1, 4))]
        segments = interchange(*sets, control=f"{n:09d}")
        for _ in range(rng.randint(0, junk)):
            segments.insert(rng.randrange(1, len(segments) + 1), rng.choice(JUNK))
        texts.append(write(segments, *rng.choice(SEPARATORS)))
    return "".join(texts).encode()


def assert_cuts_read_as_whole(data: bytes, rng: random.Random) -> None:
    whole = _read(data)
    for size in (1, 2):
        pieces = list(x12_pieces(io.BytesIO(data), size, block=rng.choice([7, 64, 1 << 20])))
        assert [r for p in pieces for r in _read(p)] == whole


@pytest.mark.parametrize("seed", range(3))
def test_837_cut_with_misplaced_segments_reads_as_the_whole_file(seed):
    """Segments outside any transaction set, after the last claim, a broken ISA, an envelope
    segment without elements, a missing SE, a set that is not an 837, an unterminated end: the
    chunks give the same claims and findings, segment positions included, as the whole file."""
    rng = random.Random(seed)
    for _ in range(120):
        data = interchanges(rng, junk=3)
        assert_cuts_read_as_whole(data.rstrip(b"~\n") if rng.random() < 0.1 else data, rng)


@pytest.mark.parametrize("seed", range(3))
def test_837_cut_after_random_byte_changes_reads_as_the_whole_file(seed):
    rng = random.Random(seed)
    for _ in range(120):
        data = bytearray(interchanges(rng))
        for _ in range(rng.choice([1, 2, 3, 6])):  # insert, replace or delete a byte
            at = rng.randrange(len(data))
            data[at:at + rng.choice([0, 1])] = rng.choice([b"", bytes([rng.choice(b"~*:^|>\n\r\t \x00STHLCMIA08")])])
        assert_cuts_read_as_whole(bytes(data), rng)


def test_results_are_written_in_input_order_when_chunks_finish_out_of_order():
    running, most = 0, 0
    lock = threading.Lock()

    def scrub(chunk: Chunk) -> ChunkResult:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05 if chunk.number % 3 == 0 else 0.001)  # every third chunk finishes last
        with lock:
            running -= 1
        tally = Tally()
        tally.statuses["pass"] = 1
        return ChunkResult(chunk.number, f"{chunk.number}\n".encode(), tally, f"worker-{chunk.number % 2}", 1)

    chunks = (Chunk(n, "ndjson", b"") for n in range(30))
    out = io.BytesIO()
    with ThreadPoolExecutor(4) as pool:
        tally, workers = write_in_order(chunks, lambda chunk: pool.submit(scrub, chunk), out, in_flight=6)

    assert out.getvalue().decode().split() == [str(n) for n in range(30)]
    assert tally.records == 30 and set(workers) == {"worker-0", "worker-1"}
    assert most <= 4


def test_no_more_chunks_in_flight_than_allowed():
    submitted: list[int] = []
    written: list[int] = []

    class Done:
        def __init__(self, number: int):
            self.number = number

        def done(self) -> bool:
            return False  # never done early: only the in-flight bound makes room

        def result(self) -> ChunkResult:
            written.append(self.number)
            assert len(submitted) - len(written) < 3  # read-ahead stays bounded
            return ChunkResult(self.number, b"", Tally(), "w", 0)

    def submit(chunk: Chunk) -> Done:
        submitted.append(chunk.number)
        return Done(chunk.number)

    write_in_order((Chunk(n, "ndjson", b"") for n in range(10)), submit, io.BytesIO(), in_flight=3)

    assert written == list(range(10))
