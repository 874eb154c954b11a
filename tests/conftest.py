import time

import pytest
from celery.contrib.testing.worker import start_worker
from rest_framework.test import APIClient

from tests.factories import CustomerFactory, EventFactory, OrganizerFactory, token_for


def wait_until(predicate, *, timeout: float = 10.0, interval: float = 0.02, message: str = ""):
    """Poll ``predicate`` until it returns a truthy value; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttle counts (the cache) never leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    """An API client; ``api.as_user(user)`` authenticates it with the user's token."""
    client = APIClient()

    def as_user(user):
        if user is None:
            client.credentials()
        else:
            client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        return client

    client.as_user = as_user
    return client


@pytest.fixture
def organizer(db):
    return OrganizerFactory()


@pytest.fixture
def other_organizer(db):
    return OrganizerFactory()


@pytest.fixture
def customer(db):
    return CustomerFactory()


@pytest.fixture
def event(organizer):
    return EventFactory(creator=organizer)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """One in-process worker (solo pool, every queue) for the whole session. Tests that use
    it must be transactional: ``@pytest.mark.django_db(transaction=True)``."""
    from config.celery import app

    with (
        django_db_blocker.unblock(),
        start_worker(
            app,
            pool="solo",
            concurrency=1,
            perform_ping_check=False,
            shutdown_timeout=10,
            loglevel="WARNING",
        ) as worker,
    ):
        yield worker
