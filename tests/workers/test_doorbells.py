"""Doorbell latches: one waiting doorbell per partition is enough."""

import os
import time
from types import SimpleNamespace

import pytest
from kombu.exceptions import OperationalError

from apps.bookings import commands
from apps.bookings.commands import ring_doorbell
from workers import doorbells, tasks
from workers.doorbells import FileLatch


def test_a_latch_is_set_once_until_cleared(tmp_path):
    latch = FileLatch(tmp_path, ttl=60)
    assert latch.set(7)
    assert not latch.set(7)
    assert latch.set(8)  # other partitions have their own
    latch.clear(7)
    assert latch.set(7)


def test_a_latch_older_than_its_ttl_is_treated_as_a_lost_doorbell(tmp_path):
    latch = FileLatch(tmp_path, ttl=5)
    assert latch.set(7)
    stale = time.time() - 10
    os.utime(tmp_path / "partition-7", (stale, stale))
    assert latch.set(7)


@pytest.fixture
def rung(monkeypatch, tmp_path):
    """A file latch, and the doorbells actually published."""
    published = []
    monkeypatch.setattr(doorbells, "latch", lambda: FileLatch(tmp_path, ttl=60))
    monkeypatch.setattr(commands, "ring", lambda **kwargs: published.append(kwargs))
    return published


def test_requests_ring_once_while_a_doorbell_waits_on_their_partition(rung):
    for event_id in (3, 3, 4, 5):  # events of partition 1
        assert ring_doorbell(event_id=event_id, partition=1)
    ring_doorbell(event_id=6, partition=2)
    assert rung == [{"event_id": 3, "partition": 1}, {"event_id": 6, "partition": 2}]


def test_the_worker_clearing_the_latch_lets_the_next_request_ring(rung):
    ring_doorbell(event_id=3, partition=1)
    doorbells.latch().clear(1)  # what the worker does before it reads the pending commands
    ring_doorbell(event_id=3, partition=1)
    assert len(rung) == 2


def test_the_sweeper_rings_whatever_the_latch_says(rung):
    ring_doorbell(event_id=3, partition=1)
    ring_doorbell(event_id=3, partition=1, force=True)
    assert len(rung) == 2


def test_a_failed_publish_clears_the_latch_so_the_next_request_rings(monkeypatch, tmp_path):
    latch = FileLatch(tmp_path, ttl=60)
    monkeypatch.setattr(doorbells, "latch", lambda: latch)

    def refuse(**kwargs):
        raise OperationalError("broker unreachable")

    monkeypatch.setattr(commands, "ring", refuse)
    assert not ring_doorbell(event_id=3, partition=1)
    assert latch.set(1)


@pytest.mark.django_db
def test_one_doorbell_decides_every_waiting_event_of_its_partition(organizer):
    from apps.bookings.commands import request_command
    from apps.bookings.models import BookingRequest, CommandKind, RequestStatus
    from tests.factories import CustomerFactory, EventFactory

    rung = EventFactory(creator=organizer, partition=1)
    other = EventFactory(creator=organizer, partition=1)
    elsewhere = EventFactory(creator=organizer, partition=2)
    for event in (rung, other, elsewhere):
        customer = CustomerFactory()
        request_command(
            user_id=customer.user_id, event=event, kind=CommandKind.BOOK, customer_id=customer.pk
        )

    assert tasks.decide_event(rung.pk, 1) == 2

    pending = BookingRequest.objects.filter(status=RequestStatus.PENDING)
    assert list(pending.values_list("event_id", flat=True)) == [elsewhere.pk]


# --- lingering: a busy partition's run waits a moment, so commands join it --------------------


@pytest.fixture
def lingering(settings, monkeypatch, rung):
    """Latches on (a file latch), a 10 ms linger, no run of any partition yet in this process;
    ``time.sleep`` in the task recorded instead of slept, running what the test puts in
    ``lingering.meanwhile``."""
    settings.BOOKING_DOORBELL_TTL_SECONDS = 60.0
    settings.BOOKING_DOORBELL_LINGER_SECONDS = 0.01
    monkeypatch.setattr(tasks, "_last_run_ended", {})
    monkeypatch.setattr(tasks, "latch", doorbells.latch)  # the worker clears the same latch
    slept, meanwhile = [], []

    def sleep(seconds):
        slept.append(seconds)
        while meanwhile:
            meanwhile.pop(0)()

    monkeypatch.setattr(tasks.time, "sleep", sleep)
    return SimpleNamespace(slept=slept, meanwhile=meanwhile, rung=rung)


def _book(event, django_capture_on_commit_callbacks):
    from apps.bookings.commands import request_command
    from apps.bookings.models import CommandKind
    from tests.factories import CustomerFactory

    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):  # rings once committed
        command, _ = request_command(
            user_id=customer.user_id, event=event, kind=CommandKind.BOOK, customer_id=customer.pk
        )
    return command


@pytest.mark.django_db
def test_a_busy_partitions_run_lingers_and_decides_what_arrived_meanwhile(
    lingering, organizer, django_capture_on_commit_callbacks
):
    from apps.bookings.models import BookingRequest, RequestStatus
    from tests.factories import EventFactory

    event = EventFactory(creator=organizer, partition=1)
    _book(event, django_capture_on_commit_callbacks)
    assert tasks.decide_event(event.pk, 1) == 1
    assert lingering.slept == []  # the first run after a quiet spell: at once

    _book(event, django_capture_on_commit_callbacks)  # rings: the run above cleared the latch
    late = []
    lingering.meanwhile.append(
        lambda: late.append(_book(event, django_capture_on_commit_callbacks))
    )
    assert tasks.decide_event(event.pk, 1) == 2  # its own command and the one that came late

    assert lingering.slept == [0.01]
    assert len(lingering.rung) == 2  # the late command did not ring: the latch was still set
    late[0].refresh_from_db()
    assert late[0].status != RequestStatus.PENDING
    assert not BookingRequest.objects.filter(status=RequestStatus.PENDING).exists()


@pytest.mark.django_db
def test_a_run_long_after_the_last_one_does_not_linger(lingering, organizer):
    from tests.factories import EventFactory

    event = EventFactory(creator=organizer, partition=1)
    tasks._last_run_ended[1] = time.monotonic() - 1.0  # a second ago: a hundred lingers

    tasks.decide_event(event.pk, 1)

    assert lingering.slept == []


@pytest.mark.django_db
def test_without_latches_no_run_lingers(lingering, settings, organizer):
    from tests.factories import EventFactory

    settings.BOOKING_DOORBELL_TTL_SECONDS = 0.0  # every request rings: nothing to gather
    event = EventFactory(creator=organizer, partition=1)
    tasks.decide_event(event.pk, 1)
    tasks.decide_event(event.pk, 1)

    assert lingering.slept == []
