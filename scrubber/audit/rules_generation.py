"""The rule set generation, shared by the worker processes: each reload publishes the next
generation with its revision, and every worker catches up with the latest one it reads.
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import Session, col, select

from scrubber.audit.database import Database
from scrubber.audit.queries import utcnow
from scrubber.audit.tables import ServiceState

RULES_STATE = "rules"  # the ServiceState row of the rule set generation: {"generation": n, "revision": r}
RULES_GENERATION = sa.select(col(ServiceState.value)).where(col(ServiceState.name) == RULES_STATE)


class RulesGeneration:
    """The ServiceState row of the rule set generation."""

    def __init__(self, db: Database):
        self._db = db

    def current(self) -> tuple[int, str | None]:
        """(generation, revision) of the rule set the last reload published; (0, None) before any.
        One primary-key read: every request that depends on the rules asks."""
        with self._db.engine.connect() as connection:
            value = connection.execute(RULES_GENERATION).scalar()
        if value is None:
            return 0, None
        state = json.loads(value)
        return int(state["generation"]), state.get("revision")

    def publish(self, revision: str) -> int:
        """Record that a reload put `revision` in force: the next generation, returned. Concurrent
        reloads (in several processes) each get their own generation."""
        try:
            return self._next_generation(revision)
        except sa.exc.IntegrityError:  # another process inserted the first generation meanwhile
            return self._next_generation(revision)

    def _next_generation(self, revision: str) -> int:
        with self._db.writer_lock(), Session(self._db.engine) as session:
            row = session.exec(select(ServiceState).where(ServiceState.name == RULES_STATE).with_for_update()).first()
            generation = (json.loads(row.value)["generation"] if row is not None else 0) + 1
            value = json.dumps({"generation": generation, "revision": revision})
            if row is None:
                row = ServiceState(name=RULES_STATE, value=value, updated_at=utcnow())
            else:
                row.value, row.updated_at = value, utcnow()
            session.add(row)
            session.commit()
            return generation
