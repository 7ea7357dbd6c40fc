"""The rules in force in a worker process, and their hot swap: `Current` holds the payer router that
requests scrub with; a reload swaps it atomically, and a worker catches up with a reload that another
worker published in the shared database before it answers a request that depends on the rules."""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Callable, Iterator

from fastapi import FastAPI, Request
from sqlalchemy.exc import SQLAlchemyError

from scrubber.audit.store import AuditStore
from scrubber.pipeline.routing import PayerRouter
from scrubber.ruleset.loader import RuleSetError
from scrubber.ruleset.payers import Deployment, load_deployment
from scrubber.settings import settings

log = logging.getLogger("scrubber.service.app")  # the service's logger: its name is in every log line


class Current:
    """The rules in force in the service, swapped atomically by a reload. A request takes the
    router with `use()` (or `hold()` ... `release()` around a stream) and keeps it to its end; a
    replaced router closes its engines once its last request is done.

    With several worker processes, each has its own; `generation` is the number of the reload (as
    published in the shared database) whose rules it runs, None when it follows no database."""

    def __init__(self, scrubber: Any, *, owned: bool):
        self._scrubber = scrubber  # a PayerRouter, or a caller's Scrubber
        self._owned = owned  # a router the service built (and may close); else the caller's
        self._lock = threading.Lock()
        self.generation: int | None = None
        self._updating = threading.Lock()  # one reload or catch-up at a time

    @property
    def scrubber(self) -> Any:
        return self._scrubber

    @property
    def revision(self) -> str:
        return getattr(self._scrubber, "revision", None) or self._scrubber.ruleset.revision

    @property
    def deployment(self) -> Deployment | None:
        """The payer rule sets in force; None when the service was given a single scrubber."""
        return getattr(self._scrubber, "deployment", None)

    def sources(self) -> dict[str, str]:
        deployment = self.deployment
        return dict(deployment.sources) if deployment is not None else dict(self._scrubber.ruleset.sources)

    def split(self, sources: dict[str, str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        deployment = self.deployment or Deployment(self._scrubber.ruleset)
        return deployment.split(sources)

    def hold(self) -> Any:
        """The rules in force, kept for the caller until it calls `release()` on them."""
        with self._lock:
            return self._scrubber.acquire()

    @contextlib.contextmanager
    def use(self) -> Iterator[Any]:
        scrubber = self.hold()
        try:
            yield scrubber
        finally:
            scrubber.release()

    def replace(self, new: Any, publish: Callable[[], int]) -> int:
        """A reload in this process: swap in `new` as the generation `publish()` records for the other
        worker processes (nothing changes if publishing fails); that generation."""
        with self._updating:
            generation = publish()
            self.swap(new)
            self.generation = generation
        return generation

    def catch_up(self, generation: int, load: Callable[[], Any]) -> bool:
        """Another process reloaded: when this one runs an older generation, swap in what `load()`
        gives (None: keep the rules in hand) and take that generation. Requests that arrive
        meanwhile wait here, so that none that saw the new generation runs on the old rules.
        False when already up to date."""
        if self.generation is None or generation <= self.generation:
            return False
        with self._updating:
            if generation <= self.generation:  # another thread caught up while this one waited
                return False
            new = load()
            if new is not None:
                self.swap(new)
            self.generation = generation
        return True

    def swap(self, new: Any) -> None:
        with self._lock:
            old, owned = self._scrubber, self._owned
            self._scrubber, self._owned = new, True
        if owned:  # a router the service built; a caller's scrubber stays the caller's to close
            old.retire()

    def close(self) -> None:
        if self._owned:
            self._scrubber.close()


def rules_in_force(request: Request) -> Current:
    """The rules in force in this worker process, first brought up to the generation the last reload
    published in the shared database (a reload through another worker): one primary-key read. Every
    request that depends on the rule set takes its rules from here. Blocking: call it off the event loop."""
    current: Current = request.app.state.current
    if current is None or current.generation is None:  # the lifespan did not run: no database to follow
        return current
    try:
        generation, published = request.app.state.store.rules_generation()
    except SQLAlchemyError:  # the database is down (/readyz says so): the rules in hand stay in force
        return current
    if generation > current.generation:
        current.catch_up(generation, lambda: _load_published(request.app, generation, published))
    return current


def _load_published(app: FastAPI, generation: int, published: str | None) -> PayerRouter | None:
    """The rule and payer files as they are on disk now, for a worker that catches up with the reload
    of `generation` (its examples ran in the worker that reloaded); None when they no longer load
    (then this worker keeps its rules, and says so)."""
    current = app.state.current
    try:
        deployment = load_deployment(settings().rules_dir, settings().payers_dir)
    except RuleSetError as exc:
        log.error(f"the rule files of reload {generation} (revision {published}) no longer load here "
                  f"({len(exc.problems)} problem(s), the first: {exc.problems[0]}); this worker stays on "
                  f"revision {current.revision}", extra={"generation": generation})
        return None
    warn_if_changed(published, deployment.revision)
    log.info("rules caught up with a reload in another worker", extra={
        "revision": deployment.revision, "previous_revision": current.revision, "generation": generation})
    return PayerRouter(deployment, app.state.reference, app.state.store)


def published_generation(store: AuditStore) -> tuple[int, str | None]:
    """(generation, revision) the last reload published; (0, None) when the database cannot say."""
    try:
        return store.rules_generation()
    except SQLAlchemyError:
        return 0, None


def warn_if_changed(published: str | None, loaded: str) -> None:
    """One warning when the files on disk are not the revision the last reload published."""
    if published is not None and published != loaded:
        log.warning(f"the rule files changed after the last reload: it published revision {published}, the "
                    f"files on disk are revision {loaded}; this worker runs {loaded}, as loaded (reload again "
                    "to run the same revision everywhere)", extra={"revision": loaded})
