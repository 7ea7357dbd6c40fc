"""The audit database: its engine (SQLite by default, PostgreSQL in production, owner-only files),
the schema by Alembic, one writer thread that commits concurrent writes together, and the SQLite
writer lock the worker processes take turns with.
"""
from __future__ import annotations

import contextlib
import fcntl
import queue
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from scrubber.owner_only import private_directory, private_file
from scrubber.settings import settings

Work = Callable[[Session], None]
"""One write: adds (and flushes) its rows in the session of a group commit."""


def database_url() -> str:
    return settings().database_url or f"sqlite:///{Path(settings().data_dir) / 'scrubber.db'}"


def make_engine(url: str | None = None) -> sa.Engine:
    url = url or database_url()
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            private_directory(Path(path).parent)
            for companion in ("", "-wal", "-shm"):  # SQLite gives new -wal and -shm files the database's mode
                if companion == "" or Path(path + companion).exists():
                    private_file(path + companion)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):  # WAL: readers never block the writer
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the latest Alembic revision."""
    # Alembic is imported only when migrating: a process that opens the store without migrating
    # (a worker, `run_migrations=False`) does not pay for loading it
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


class GroupCommit:
    """One writer thread: each `write` waits until its rows are committed, and rows that arrive
    while a transaction is running go together into the next one. If a batch fails, every write in
    it gets the error (none is lost silently)."""

    MAX_BATCH = 256

    def __init__(self, write_batch: Callable[[list[Work]], None]):
        self._write_batch = write_batch
        self._queue: queue.Queue[tuple[Work, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def write(self, work: Work) -> None:
        done: dict[str, Any] = {"event": threading.Event(), "error": None}
        self._queue.put((work, done))
        done["event"].wait()
        if done["error"] is not None:
            raise done["error"]

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                self._write_batch([work for work, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for _, done in batch:
                    done["error"] = exc
            for _, done in batch:
                done["event"].set()


class Database:
    """The engine, the group committer and the writer lock, shared by the parts of the audit store."""

    def __init__(self, url: str | None = None, *, run_migrations: bool = True):
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        if run_migrations:
            migrate(self.engine)
        self._committer = GroupCommit(self._write_batch)
        path = sa.engine.make_url(self.url).database if self.url.startswith("sqlite") else None
        self._lock_path = f"{path}.writer-lock" if path and path != ":memory:" else None
        if self._lock_path:
            private_file(self._lock_path)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """SQLite: the worker processes take turns to write through a file lock. The kernel wakes
        the next writer at once, where SQLite's own busy handler would sleep and poll (up to
        100 ms a turn: seconds of latency under load). PostgreSQL needs no such thing."""
        if self._lock_path is None:
            yield
            return
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, work: Work) -> None:
        """Run `work` in the next group commit; returns once it is committed. Concurrent calls share
        one transaction: with SQLite, one commit for many writes instead of many writers queueing
        for the write lock."""
        self._committer.write(work)

    def _write_batch(self, batch: list[Work]) -> None:
        with self.writer_lock(), Session(self.engine) as session:
            for work in batch:
                work(session)
            session.commit()

    def reachable(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def close(self) -> None:
        self._committer.close()
        self.engine.dispose()
