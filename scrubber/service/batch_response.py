"""The NDJSON response of a batch (JSON array, NDJSON, X12 or FHIR in): its records scrubbed a group at a
time in the thread pool as the response is sent, each scrub stored before the next claim is read, all on
the rules in force when the batch started; and one log line when a response stops before its end."""
from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from contextvars import copy_context
from dataclasses import dataclass
from typing import IO, Any, AsyncIterator, Callable, Iterator

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from scrubber.contract.claim import ScrubResult
from scrubber.intake.items import Item, judge_item, output_line
from scrubber.service.access import owner_filter
from scrubber.service.auth import Caller
from scrubber.service.current import rules_in_force
from scrubber.service.observability import count_result

log = logging.getLogger("scrubber.service.app")  # the service's logger: its name is in every log line
BATCH_GROUP = 16  # records scrubbed per trip to the thread pool, and sent together


@dataclass
class Progress:
    """How far one batch response has got: records scrubbed (and stored), and whether all were."""
    done: int = 0
    complete: bool = False


class BatchResponse(StreamingResponse):
    """The NDJSON records of a batch, streamed. When the response ends, however it ends (a client
    that went away included), the spooled request body is closed, the record generator is closed
    at once, and if not every record was done one log line says how many of how many were
    (`remaining()` counts the records never read; counted off the event loop)."""

    media_type = "application/x-ndjson"

    def __init__(self, records: AsyncIterator[bytes], progress: Progress, remaining: Callable[[], int],
                 body: IO[bytes] | None = None):
        super().__init__(records)
        self.progress, self.remaining, self.request_body = progress, remaining, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = "the client went away"
        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:
            if not isinstance(exc, ClientDisconnect):
                reason = f"an error stopped it ({type(exc).__name__})"
            raise
        finally:  # nothing reads the body any more: the generator is done, or waits at a `yield`
            if self.progress.complete:
                if self.request_body is not None:
                    self.request_body.close()
            else:
                threading.Thread(target=copy_context().run, name="batch-abandoned", daemon=True,
                                 args=(_log_abandoned, self.progress.done, self.remaining, self.request_body,
                                       reason)).start()
            await self.body_iterator.aclose()  # type: ignore[attr-defined]  # an async generator: _results


def _log_abandoned(done: int, remaining: Callable[[], int], body: IO[bytes] | None, reason: str) -> None:
    try:
        total = done + remaining()
    finally:
        if body is not None:
            body.close()
    log.info(f"batch abandoned: {done} of {total} claims were done when the response stopped ({reason}); "
             "the rest were not scrubbed")


def respond(request: Request, caller: Caller, items: Iterator[Item], as_of: dt.date | None = None, *,
            remaining: Callable[[], int], body: IO[bytes] | None = None) -> BatchResponse:
    """The response that scrubs `items` as it is sent (see BatchResponse and _results)."""
    progress = Progress()
    return BatchResponse(_results(request, caller, items, as_of, progress), progress, remaining, body)


async def _results(request: Request, caller: Caller, items: Iterator[Item], as_of: dt.date | None,
                   progress: Progress) -> AsyncIterator[bytes]:
    """The output records of `items`, in order, scrubbed BATCH_GROUP at a time in the thread
    pool, all on the rules in force when the batch started. A client that goes away abandons
    the records not yet scrubbed (a group already in the thread pool is finished: each scrub
    is stored whole or not at all)."""
    scrubber = (await run_in_threadpool(rules_in_force, request)).hold()
    try:
        while group := await run_in_threadpool(_scrub_items, request, caller, scrubber, items, as_of, progress):
            yield group
        progress.complete = True
    finally:
        scrubber.release()


def _scrub_items(request: Request, caller: Caller, scrubber: Any, items: Iterator[Item], as_of: dt.date | None,
                 progress: Progress) -> bytes:
    """The output of the next BATCH_GROUP items (b"" when none is left); each claim's scrub is
    stored before the next one is read."""
    out = []
    for item in itertools.islice(items, BATCH_GROUP):
        out.append(_scrub_one(request, caller, scrubber, item, as_of))
        progress.done += 1
    request.state.claim_count = progress.done  # for the request's log line
    return b"".join(out)


def _scrub_one(request: Request, caller: Caller, scrubber: Any, item: Item, as_of: dt.date | None = None) -> bytes:
    judged_claim, record = judge_item(scrubber, item, as_of=as_of)
    if isinstance(record, ScrubResult):
        if judged_claim is not None:
            request.app.state.store.record(judged_claim, record, api_key_id=caller.key_id, owner=owner_filter(caller))
        count_result(record)
    return output_line(record)
