"""Intake: claims in every accepted format, one at a time, ready to scrub.

Each input (a JSON claim or array, NDJSON, an X12 837 interchange, a FHIR Claim or Bundle) becomes
a stream of Items, in order: a contract Claim to scrub (with any findings the format itself gave,
such as an X12 segment problem), or the reason one record could not be read. Nothing is dropped:
every record of the input yields exactly one output record (`record()`), a scrub result or an
error record in its place. NDJSON and X12 are read incrementally, so memory does not grow with
the input.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from pydantic import ValidationError

from scrubber import limits
from scrubber.contract.claim import Claim, Finding, ScrubResult
from scrubber.intake.parse import ClaimError, FieldError, TooDeep, claim_from_object, field_errors, loads
from scrubber.intake.x12 import iter_claims


@dataclass
class Item:
    index: int  # 1-based position in the input
    claim: Claim | None = None
    error: ClaimError | None = None  # the record cannot be read as a claim
    found: list[Finding] = field(default_factory=list)  # findings the format gave (X12)
    claim_id: str | None = None  # when there is no claim: the id the record carried, if any


def error_record(index: int, error: ClaimError) -> dict[str, Any]:
    """What stands in the output for a record that is not a claim (contract: batch error record)."""
    return {"index": index, "error": {"type": "/problems/invalid-claim", "title": "The claim is not valid",
                                      "status": 422, "detail": error.detail,
                                      "errors": [e.as_dict() for e in error.errors]}}


def scrub_item(scrubber, item: Item, *, today=None, as_of=None) -> ScrubResult | dict[str, Any]:
    """The output record of one item: its scrub result, or its error record. `scrubber` is a
    ClaimScrubber (scrubber.pipeline.scrubber)."""
    return judge_item(scrubber, item, today=today, as_of=as_of)[1]


def judge_item(scrubber, item: Item, *, today=None, as_of=None) -> tuple[Claim | None, ScrubResult | dict[str, Any]]:
    """The claim as judged (normalised; None when there was no claim to judge) and the output record
    of one item: what the service stores and what it answers."""
    if item.claim is not None:
        judged = scrubber.judge(item.claim, today=today, found=item.found, as_of=as_of)
        return judged.claim, judged.result
    if item.found:
        return None, scrubber.unreadable(item.claim_id, item.found)
    return None, error_record(item.index, item.error or ClaimError("the record is not a claim"))


def output_line(record: ScrubResult | dict[str, Any]) -> bytes:
    if isinstance(record, ScrubResult):
        return record.model_dump_json().encode() + b"\n"
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


# ------------------------------------------------------------------------------ JSON and NDJSON

def _from_object(index: int, data: Any) -> Item:
    try:
        return Item(index, claim=claim_from_object(data))
    except ClaimError as exc:
        return Item(index, error=exc)


def object_items(values: Iterable[Any]) -> Iterator[Item]:
    """One item per JSON value already parsed (the elements of a JSON array), numbered from 1."""
    for index, data in enumerate(values, start=1):
        yield _from_object(index, data)


def _line_item(index: int, line_number: int, raw: str | bytes) -> Item:
    """The item of one non-blank NDJSON line: its claim, or why it cannot be read."""
    try:
        data = loads(raw)
    except TooDeep:
        return Item(index, error=ClaimError(f"line {line_number} is nested deeper than {limits.MAX_JSON_DEPTH} levels"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return Item(index, error=ClaimError(f"line {line_number} is not valid JSON: {exc}"))
    return _from_object(index, data)


def ndjson_items(lines: Iterable[str | bytes], start: int = 1, first_line: int = 1) -> Iterator[Item]:
    """One item per non-blank line, read as it comes; `start` numbers the first record and
    `first_line` the first line (a piece of a larger file counts on from what came before)."""
    index = start - 1
    for line_number, raw in enumerate(lines, start=first_line):
        if not raw.strip():
            continue
        index += 1
        yield _line_item(index, line_number, raw)


def _bounded_lines(raw: IO[bytes], max_line: int) -> Iterator[bytes | None]:
    """The lines of a file from where it stands, each read whole unless it is longer than
    `max_line` bytes: then None stands for it, and it is skipped without being held."""
    while line := raw.readline(max_line + 1):
        if len(line) <= max_line or line.endswith(b"\n"):
            yield line
            continue
        while (rest := raw.readline(1024 * 1024)) and not rest.endswith(b"\n"):
            pass
        yield None


def in_words(count: int) -> str:
    """A size in bytes, in words: "8 MB", or "1000 bytes" when not a whole number of MB."""
    return f"{count // limits.MB} MB" if count % limits.MB == 0 else f"{count} bytes"


def ndjson_file_items(raw: IO[bytes], max_line: int | None = None) -> Iterator[Item]:
    """One item per non-blank line of NDJSON in a file (a spooled request body), read line by line.
    A line longer than `max_line` bytes (default: limits.MAX_LINE_BYTES) is answered by an error
    item and skipped, so that one runaway record never holds the whole input in memory."""
    max_line = max_line or limits.MAX_LINE_BYTES
    index = 0
    for line_number, line in enumerate(_bounded_lines(raw, max_line), start=1):
        if line is None:
            index += 1
            yield Item(index, error=ClaimError(f"line {line_number} is longer than {in_words(max_line)}"))
        elif line.strip():
            index += 1
            yield _line_item(index, line_number, line)


def count_ndjson_records(raw: IO[bytes], max_line: int | None = None) -> int:
    """How many items `ndjson_file_items` would still give from where the file stands, without
    parsing them (to say how much of a batch was left undone)."""
    return sum(1 for line in _bounded_lines(raw, max_line or limits.MAX_LINE_BYTES) if line is None or line.strip())


def json_items(text: str) -> Iterator[Item]:
    """A JSON claim, a JSON array of claims, or NDJSON given whole (a file), numbered from 1; a claim
    that cannot be read gives an error item in its place and the others still come. NDJSON lines are
    read by `ndjson_items`, the one NDJSON reader."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            values = loads(stripped)
        except json.JSONDecodeError as exc:  # TooDeep included
            yield Item(1, error=ClaimError(f"the file is not a valid JSON array: {exc}"))
            return
        yield from object_items(values)
        return
    if stripped.startswith("{"):
        try:
            value = loads(stripped)
        except json.JSONDecodeError:
            value = None  # several objects: NDJSON
        if value is not None:
            yield _from_object(1, value)
            return
    yield from ndjson_items(text.split("\n"))


# ------------------------------------------------------------------------------ X12 837

def _finding(data: dict[str, Any]) -> Finding:
    return Finding.model_validate(data)


def x12_items(stream: IO[str]) -> Iterator[Item]:
    """One item per CLM of the interchange(s), plus one for findings no claim could take. A claim
    the contract model refuses (an 837 claim without a service line) keeps its X12 findings and
    gets one more per refused field; it is reported failed, never dropped."""
    for index, read in enumerate(iter_claims(stream), start=1):
        found = [_finding(f) for f in read.findings]
        if read.claim is None:
            yield Item(index, found=found)
            continue
        try:
            yield Item(index, claim=Claim.model_validate(read.claim), found=found)
        except ValidationError as exc:
            found += [Finding(rule_id="x12-claim-incomplete", category="required_field", severity="error",
                              message=f"The 837 claim cannot be checked: {e.field} {e.message}", lines=[],
                              field=e.field, carc="CO-16", rarc="MA130",
                              suggestion="Correct the claim in the billing system and send it again",
                              source="x12") for e in field_errors(exc.errors())]
            yield Item(index, found=found, claim_id=read.claim.get("claim_id"))


# ------------------------------------------------------------------------------ files

def sniff(head: bytes) -> str:
    """'x12', 'fhir', 'json' (an array or one object) or 'ndjson', from the first bytes."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"ISA"):
        return "x12"
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{") and b'"resourceType"' in text.split(b"\n", 1)[0][:4096]:
        return "fhir"
    return "ndjson"


def file_format(raw: IO[bytes]) -> str:
    """'x12', 'fhir', 'ndjson' (one claim per line, or lines that are not JSON: said per line) or
    'json' (an array, or one claim written over several lines), from a file's first bytes; the
    file is left at its start."""
    kind = sniff(raw.read(8192))
    raw.seek(0)
    if kind != "ndjson":
        return kind
    first = raw.readline()
    raw.seek(0)
    return "ndjson" if _is_json(first) or not first.strip().startswith(b"{") else "json"


def file_items(path: str | Path) -> Iterator[Item]:
    """The items of a file of any accepted format; NDJSON and X12 are streamed."""
    with open(path, "rb") as raw:
        kind = file_format(raw)
        if kind == "x12":
            yield from x12_items(io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=""))
        elif kind == "ndjson":
            yield from ndjson_items(raw)
        elif kind == "fhir":
            yield from fhir_items(raw.read())
        else:
            yield from json_items(raw.read().decode("utf-8-sig", errors="replace"))


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


def fhir_items(data: bytes | str) -> Iterator[Item]:
    """A FHIR R4 Claim or Bundle of Claims (scrubber.intake.fhir), one item per Claim."""
    # imported here: the FHIR models (fhir.resources) cost a quarter of a second to import; only FHIR input needs them
    from scrubber.intake.fhir import read_fhir_claims

    for index, (_label, mapped) in enumerate(read_fhir_claims(data), start=1):
        if isinstance(mapped, ClaimError):
            yield Item(index, error=mapped)
        else:
            yield Item(index, claim=mapped)


__all__ = ["Item", "FieldError", "count_ndjson_records", "error_record", "file_format", "file_items", "fhir_items",
           "in_words", "json_items", "judge_item", "ndjson_file_items", "ndjson_items", "object_items", "output_line",
           "scrub_item", "sniff", "x12_items"]

