import pytest

from tests.integration.stack import Stack


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The service on its embedded default (SQLite + file-system broker), as real processes."""
    with Stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
