import re

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


def module_database(servers, request, kind: str) -> dict:
    """``servers["env"]`` with a PostgreSQL database of the calling test module's own (created
    empty): what one module leaves behind, another's invariant check never sees."""
    module = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])
    name = f"{kind}_{module}"[:63]
    return {**servers["env"], "DATABASE_URL": servers["postgres"].create_database(name)}


@pytest.fixture(scope="module")
def scaled_stack(servers, tmp_path_factory, request):
    """The service on PostgreSQL + Redis, as real processes (gunicorn, partition workers...),
    on a database of the module's own."""
    env = module_database(servers, request, "scaled")
    with Stack(tmp_path_factory.mktemp("scaled"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def postgres_shell(servers, tmp_path_factory, request):
    """A migrated PostgreSQL database of the module's own, no process running: a ``Stack``
    for ``manage`` and ``shell_json`` only."""
    shell = Stack(tmp_path_factory.mktemp("shell"), env=module_database(servers, request, "shell"))
    shell.manage("migrate", "--noinput", "-v", "0")
    return shell
