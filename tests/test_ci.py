"""CI must test against a real PostgreSQL server, not only the embedded SQLite."""
import os

import pytest
import sqlalchemy as sa


@pytest.mark.skipif(not os.environ.get("CI"), reason="only CI must have PostgreSQL")
def test_ci_has_a_postgresql_server_for_the_tests():
    url = os.environ.get("SCRUBBER_TEST_POSTGRES_URL")
    assert url, "CI ran without PostgreSQL: .ci/run must start it and export SCRUBBER_TEST_POSTGRES_URL"
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version()")).scalar().startswith("PostgreSQL")
    engine.dispose()
