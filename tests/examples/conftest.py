import pytest

from devtools.stack import Stack


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    """The service as `make run` starts it (the embedded default, real processes, the demo
    data), for the example clients and the README's tour to talk to."""
    with Stack(tmp_path_factory.mktemp("examples")) as running:
        running.manage("seed_demo")
        yield running
