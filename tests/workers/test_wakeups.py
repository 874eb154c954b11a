"""Wake-ups: the partition worker announces decided requests; the web process's waiters sleep
until then instead of polling (``Prefer: wait``), at most ``BOOKING_WAITERS_PER_PROCESS`` at
once."""

import threading
from types import SimpleNamespace

import pytest
from django.db import transaction

from apps.bookings.decisions import decide_pending
from apps.bookings.models import BookingRequest, CommandKind
from config import gunicorn
from tests.factories import CustomerFactory
from workers import wakeups


def test_a_waiter_is_woken_when_the_worker_announces_its_request():
    with wakeups.waiters().watching(123456) as decided:
        threading.Thread(target=wakeups.announce, args=([7, 123456],)).start()

        assert decided.wait(timeout=30)


def test_an_announcement_wakes_only_the_requests_it_names():
    registry = wakeups.waiters()
    with registry.watching(1001) as named, registry.watching(1002) as other:
        wakeups.announce([1001])

        assert named.wait(timeout=30)
        assert not other.is_set()


@pytest.fixture
def request_threads(monkeypatch):
    """Sets this process's request threads as a web server worker would, restored after."""
    monkeypatch.setattr(wakeups, "_request_threads", wakeups._request_threads)
    return wakeups.serve_with_threads


@pytest.mark.parametrize(("threads", "cap"), [(24, 12), (8, 4), (3, 1), (1, 1)])
def test_unless_set_half_the_request_threads_may_wait(request_threads, settings, threads, cap):
    settings.BOOKING_WAITERS_PER_PROCESS = None
    request_threads(threads)

    assert wakeups.waiter_cap() == cap


@pytest.mark.parametrize("configured", [0, 3, 40])
def test_a_configured_cap_of_waiters_is_kept(request_threads, settings, configured):
    settings.BOOKING_WAITERS_PER_PROCESS = configured
    request_threads(8)

    assert wakeups.waiter_cap() == configured


def test_a_gunicorn_worker_tells_how_many_threads_serve_its_requests(
    request_threads, settings, monkeypatch
):
    settings.BOOKING_WAITERS_PER_PROCESS = None
    monkeypatch.setattr(gunicorn.gc, "freeze", lambda: None)  # not this test's process
    gunicorn.post_worker_init(worker=SimpleNamespace(cfg=SimpleNamespace(threads=24)))

    assert wakeups.waiter_cap() == 12


def test_a_cap_of_zero_lets_no_request_wait():
    with wakeups.Waiters(limit=0).slot() as waiting:
        assert not waiting


def test_a_process_lets_at_most_its_cap_of_requests_wait():
    registry = wakeups.Waiters(limit=2)
    with registry.slot() as first, registry.slot() as second, registry.slot() as third:
        assert (first, second, third) == (True, True, False)
    with registry.slot() as again:
        assert again  # slots are given back


@pytest.mark.django_db
def test_a_decision_batch_announces_its_requests_once_committed(
    event, django_capture_on_commit_callbacks, monkeypatch
):
    announced = []
    monkeypatch.setattr(wakeups, "announce", announced.extend)
    commands = [
        BookingRequest.objects.create(kind=CommandKind.BOOK, user=c.user, customer=c, event=event)
        for c in CustomerFactory.create_batch(3)
    ]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            decide_pending(event_id=event.pk)
        assert announced == []  # nothing before the commit
    for callback in callbacks:
        callback()

    assert sorted(announced) == sorted(c.pk for c in commands)
