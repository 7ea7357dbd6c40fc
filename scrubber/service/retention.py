"""Retention: with SCRUBBER_RETENTION_DAYS set, the service purges the stored scrubs older than that
(AuditStore.purge: their counts stay in /v1/stats) at start-up and then every 6 hours, in a
background thread of each worker process. The purge itself makes concurrent runs safe."""
from __future__ import annotations

import datetime as dt
import logging
import threading

log = logging.getLogger("scrubber.service.retention")

PURGE_EVERY_S = 6 * 3600


def cutoff(days: int, today: dt.date | None = None) -> dt.date:
    """The first day kept: scrubs created before it (00:00 UTC) are purged."""
    return (today or dt.datetime.now(dt.timezone.utc).date()) - dt.timedelta(days=days)


class RetentionSchedule:
    """A daemon thread that purges at once, then every `every` seconds, until stopped."""

    def __init__(self, store, days: int, every: float = PURGE_EVERY_S):
        self.store, self.days, self.every = store, days, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                purged = self.store.purge(before=cutoff(self.days))
                log.info(f"retention: purged {purged.scrubs} scrub(s) and {purged.findings} finding(s) created "
                         f"before {purged.before.isoformat()} ({self.days} days kept)")
            except Exception:  # noqa: BLE001 - logged; the next run tries again
                log.exception("retention: the purge failed; it runs again in 6 hours")
            if self._stop.wait(self.every):
                return
