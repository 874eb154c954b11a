import pytest

from tests.receiver import Hit, Receiver, drip, receiver  # noqa: F401 - fixtures and types


@pytest.fixture
def private_urls(settings):
    """The receiver listens on loopback: allow private targets (production refuses them)."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    return settings
