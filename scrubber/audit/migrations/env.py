"""Alembic environment: migrations run on the connection the application hands over
(scrubber.audit.database.migrate), against SQLite or PostgreSQL."""
from alembic import context
from sqlmodel import SQLModel

import scrubber.audit.tables  # noqa: F401  (registers the tables)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
