"""Step 1 of the pipeline: bytes in, Claim models (or precise errors) out.

A structurally invalid claim is reported with every bad field at once, as `lines[0].units`
paths (0-based list indexes), so a billing system can fix them all in one go.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, AnyStr, Iterable, Mapping

from pydantic import ValidationError

from scrubber.contract.claim import PRINTABLE, Claim
from scrubber.limits import MAX_JSON_DEPTH
from scrubber.errors import ScrubberError


@dataclass
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ClaimError(ScrubberError):
    """A claim that cannot be checked: not JSON, or not shaped like a claim."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


def field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(body)"


def field_message(err: Mapping[str, Any]) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of the claim contract"
    if kind == "string_type":
        return f"must be text (a string in quotes), got {type(value).__name__ if value is not None else 'null'}"
    if kind == "literal_error":
        return err["msg"].replace("Input should be", "must be")
    if kind == "value_error":
        return err["msg"].removeprefix("Value error, ")
    if kind in ("list_type", "model_type", "dict_type"):
        return err["msg"].replace("Input should be", "must be")
    return err["msg"]


def _is_path(part) -> bool:
    """Whether a part of a pydantic error location names a field (not a union member or validator)."""
    return isinstance(part, int) or (part not in ("int", "str", "constrained-str", "body")
                                     and not part.startswith("function-"))


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic (or FastAPI) errors as one FieldError per bad field, in words."""
    out: dict[tuple, FieldError] = {}
    for err in errors:
        loc = tuple(p for p in err["loc"] if _is_path(p))
        if loc and loc[0] in ("query", "path", "header"):
            loc = loc[1:]
        if err["type"] == "json_invalid":
            loc, message = (), f"the body is not valid JSON: {err.get('ctx', {}).get('error', 'syntax error')}"
        elif not loc and isinstance(err.get("input"), (str, bytes)):
            message = "must be a JSON object (the claim), sent with Content-Type: application/json"
        elif not loc and err["type"] in ("model_attributes_type", "dict_type", "model_type"):
            message = "must be a JSON object (the claim)"
        elif "diagnosis_pointers" in loc and len(loc) > loc.index("diagnosis_pointers") + 1:
            message = "must be a diagnosis number (1-12) or letter (A-L)"  # one message for the union
        elif err["type"] == "string_pattern_mismatch":
            message = "must not contain control characters" if err.get("ctx", {}).get("pattern") == PRINTABLE \
                else field_message(err)
        else:
            message = field_message(err)
        error = FieldError(field_path(loc), message)
        out[(error.field, error.message)] = error
    return list(out.values())


def claim_from_object(data: Any) -> Claim:
    if not isinstance(data, dict):
        raise ClaimError("a claim must be a JSON object", [FieldError("(body)", "must be a JSON object")])
    try:
        return Claim.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        raise ClaimError(f"{len(errors)} field{'s' if len(errors) != 1 else ''} of the claim "
                         f"{'are' if len(errors) != 1 else 'is'} invalid", errors) from None


class TooDeep(json.JSONDecodeError):
    """JSON nested deeper than `limits.MAX_JSON_DEPTH` levels: refused before it is parsed (the
    parser would recurse once per level). A JSONDecodeError, so that every reader that answers
    text that is not JSON answers this too."""

    def __init__(self, doc: str | bytes, pos: int):
        head = doc[:pos + 1]  # enough for the line and column; the text may be large
        super().__init__(f"nested deeper than {MAX_JSON_DEPTH} levels",
                         head if isinstance(head, str) else head.decode("utf-8", errors="replace"), pos)

    def __str__(self) -> str:
        return self.msg


# a JSON string (skipped: brackets inside it do not nest) or one bracket
_TEXT_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_BYTES_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def check_depth(text: str | bytes) -> None:
    """Raise TooDeep if arrays and objects in `text` nest deeper than MAX_JSON_DEPTH. Costs two
    counts for most claims; otherwise one pass over the strings and brackets, which stops at the
    first bracket too deep."""
    if isinstance(text, (bytearray, memoryview)):
        text = bytes(text)
    if isinstance(text, str):
        _check_depth(text, _TEXT_TOKENS, ("[", "{"))
    else:
        _check_depth(text, _BYTES_TOKENS, (b"[", b"{"))


def _check_depth(text: AnyStr, tokens: re.Pattern[AnyStr], opening: tuple[AnyStr, AnyStr]) -> None:
    if text.count(opening[0]) + text.count(opening[1]) <= MAX_JSON_DEPTH:
        return
    depth = 0
    for token in tokens.finditer(text):
        bracket = token[0]
        if bracket in opening:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise TooDeep(text, token.start())
        elif len(bracket) == 1:
            depth -= 1


def loads(text: str | bytes) -> Any:
    """JSON text (numbers with a fraction as Decimal), at most MAX_JSON_DEPTH levels deep: every
    JSON the service reads from a client comes through here. Raises json.JSONDecodeError (TooDeep
    when too deep) or UnicodeDecodeError."""
    if isinstance(text, str) and text.startswith("\ufeff"):  # a byte-order mark (bytes: json skips it)
        text = text[1:]
    check_depth(text)
    return json.loads(text, parse_float=Decimal)


def claim_from_json(text: str | bytes) -> Claim:
    try:
        data = loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ClaimError(f"the body is not valid JSON: {exc}") from None
    return claim_from_object(data)
