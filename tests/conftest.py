"""Every test runs against one database: a fresh SQLite file, or the PostgreSQL server named by
SCRUBBER_TEST_DATABASE_URL (scripts/test runs the whole suite once on each when it is set)."""
import os

import pytest
import sqlalchemy as sa


def _reset(url: str) -> None:
    """An empty database, so that the migrations run from the start."""
    from sqlmodel import SQLModel

    import scrubber.audit.tables  # noqa: F401  (registers the tables)

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        SQLModel.metadata.drop_all(connection)
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("SCRUBBER_TEST_DATABASE_URL") or \
        f"sqlite:///{tmp_path_factory.mktemp('database') / 'scrubber.db'}"
    _reset(url)
    os.environ["SCRUBBER_DATABASE_URL"] = url
    os.environ.pop("SCRUBBER_BOOTSTRAP_KEY", None)
    return url


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory) -> str:
    """One reference database for the session, with the shipped baseline (built once)."""
    from scrubber.refdata.baseline import ensure_baseline

    path = tmp_path_factory.mktemp("data")
    ensure_baseline(path)
    os.environ["SCRUBBER_DATA_DIR"] = str(path)
    return str(path)


@pytest.fixture(scope="session")
def reference(data_dir):
    from scrubber.refdata.store import ReferenceData, database_path

    return ReferenceData(database_path(data_dir))


@pytest.fixture()
def store(database_url):
    """The audit store on the test database, emptied for this test and after it."""
    from scrubber.audit.store import AuditStore

    store = AuditStore(database_url)
    store.delete_everything()
    yield store
    store.delete_everything()  # and empty after it: keys it created must not lock other tests' clients out
    store.close()
