"""Reading a request body whole before answering: spooled to disk past a few MB, refused with a 413 as
soon as it passes its limit, and a client that goes away meanwhile logged once."""
from __future__ import annotations

import logging
import tempfile
from typing import IO, Callable

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from scrubber import limits
from scrubber.intake.items import in_words
from scrubber.service.problems import ApiError

BOM = b"\xef\xbb\xbf"  # UTF-8 byte-order mark
log = logging.getLogger("scrubber.service.app")  # the service's logger: its name is in every log line


async def read_body(request: Request, limit_for: Callable[[bytes], tuple[int, str]]) -> tuple[IO[bytes], bytes]:
    """The whole request body, read before any answer is sent (so that answering never competes
    with reading), kept in memory up to limits.SPOOL_MEMORY_BYTES and in a temporary file past
    that; and its first byte that is not white space (b"" for none). `limit_for(first byte)`
    gives the most bytes such a body may have and what it is called: past it, a 413 at once,
    before the rest is read. A client that goes away meanwhile gets nothing done and one log
    line (and a 499 no one reads). The caller closes the file."""
    body = tempfile.SpooledTemporaryFile(max_size=limits.SPOOL_MEMORY_BYTES)
    first, size = b"", 0
    limit, what = limit_for(first)
    try:
        async for chunk in request.stream():
            if not first and (first := _after_bom(chunk, size).lstrip(b" \t\r\n")[:1]):
                limit, what = limit_for(first)
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too-large", "Request too large",
                               f"{what} is at most {in_words(limit)}; split it into several requests")
            body.write(chunk)
        body.seek(0)
    except ClientDisconnect:
        body.close()
        log.info(f"request abandoned: the client went away while sending its body, after {size} bytes; "
                 "nothing was scrubbed")
        raise ApiError(499, "client-closed-request", "Client closed request",
                       "the client went away while sending the body") from None
    except BaseException:
        body.close()
        raise
    return body, first


def _after_bom(chunk: bytes, offset: int) -> bytes:
    """A body's chunk without the UTF-8 byte-order mark that Windows tools put first (``offset``: of
    the chunk in the body; a mark cut across two chunks is not looked for)."""
    return chunk[len(BOM):] if offset == 0 and chunk.startswith(BOM) else chunk


async def whole_text(request: Request, what: str) -> str:
    """The whole body as text (at most limits.MAX_WHOLE_BODY_BYTES), UTF-8 (after a byte-order mark,
    if any) or a 422."""
    body, _ = await read_body(request, lambda first: (limits.MAX_WHOLE_BODY_BYTES, what))
    try:
        with body:
            return await run_in_threadpool(lambda: body.read().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ApiError(422, "invalid-request", "The request is not valid", "the body is not UTF-8 text") from None
