import pytest

from devtools.stack import Stack
from tests.receiver import receiver  # noqa: F401 - fixture


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The service on its embedded default (SQLite + file-system broker), as real processes."""
    with Stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


# --- the scale-out profile: PostgreSQL + Redis started by the tests (devtools/servers.py) ----


@pytest.fixture(scope="session")
def servers():
    """A throwaway PostgreSQL cluster and redis-server on free 127.0.0.1 ports, for the session.
    Skips when the binaries are missing, unless CI_REQUIRE_SERVERS=1 (CI), where it fails."""
    import os

    from devtools.servers import PostgresServer, RedisServer, ServerUnavailable, missing_servers

    missing = missing_servers()
    if missing:
        message = f"scale-out servers not installed: {', '.join(missing)}"
        if os.environ.get("CI_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{message} (CI_REQUIRE_SERVERS=1)", pytrace=False)
        pytest.skip(message)
    postgres, redis = PostgresServer(), RedisServer()
    try:
        postgres.start()
        redis.start()
    except ServerUnavailable as exc:
        postgres.stop()
        redis.stop()
        if os.environ.get("CI_REQUIRE_SERVERS") == "1":
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    try:
        yield {
            "postgres": postgres,
            "redis": redis,
            "env": {"DATABASE_URL": postgres.url, "CELERY_BROKER_URL": redis.url},
        }
    finally:
        redis.stop()
        postgres.stop()


@pytest.fixture(scope="module")
def scaled_stack(servers, tmp_path_factory):
    """The service on PostgreSQL + Redis, as real processes (gunicorn, partition workers...)."""
    with Stack(tmp_path_factory.mktemp("scaled"), env=dict(servers["env"])) as running:
        yield running
