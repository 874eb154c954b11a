"""Changing BOOKING_PARTITIONS: events move to their new partition through their old
partition's owner, nothing is left on a partition nobody consumes, and no process starts while
something is."""

import pytest

from apps.bookings.commands import request_command
from apps.bookings.models import CommandKind
from apps.bookings.sweeper import sweep_pending
from apps.events.models import Event
from apps.partitions import services
from apps.partitions.selectors import events_beyond_partitions, misplaced_events
from apps.partitions.services import PartitionLost, claim_partition, move_events
from tests.factories import CustomerFactory, EventFactory
from workers import launcher
from workers.routing import partition_for_key

pytestmark = pytest.mark.django_db


def events_on_every_partition(count: int) -> list[Event]:
    """Events created under ``count`` partitions, at least one on each."""
    found: dict[int, Event] = {}
    while len(found) < count:
        event = EventFactory()
        event_partition = partition_for_key(str(event.uid), count)
        Event.objects.filter(pk=event.pk).update(partition=event_partition)
        event.partition = event_partition
        found.setdefault(event_partition, event)
    return [found[p] for p in range(count)]


def book(event) -> None:
    customer = CustomerFactory()
    request_command(
        user_id=customer.user_id, event=event, kind=CommandKind.BOOK, customer_id=customer.pk
    )


@pytest.fixture
def rung(monkeypatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(
        services,
        "ring_doorbell",
        lambda *, event_id, partition, force=False: calls.append((event_id, partition)),
    )
    return calls


def test_shrinking_moves_each_event_of_a_partition_and_rings_those_with_pending_commands(
    settings, rung, django_capture_on_commit_callbacks
):
    settings.BOOKING_PARTITIONS = 8
    events = events_on_every_partition(8)
    book(events[6])
    settings.BOOKING_PARTITIONS = 4
    assert set(misplaced_events()) >= {4, 5, 6, 7}
    assert set(events_beyond_partitions()) == {4, 5, 6, 7}

    generation = claim_partition(partition=6, host="here", pid=1)
    with django_capture_on_commit_callbacks(execute=True):
        moved = move_events(partition=6, partitions=4, owner_generation=generation)

    target = partition_for_key(str(events[6].uid), 4)
    assert moved[events[6].pk] == target == events[6].partition % 4
    assert Event.objects.get(pk=events[6].pk).partition == target
    assert (events[6].pk, target) in rung
    assert 6 not in events_beyond_partitions()


def test_growing_moves_events_to_their_partition_among_more(settings, rung):
    settings.BOOKING_PARTITIONS = 4
    events = events_on_every_partition(4)
    settings.BOOKING_PARTITIONS = 8
    assert events_beyond_partitions() == {}
    for partition in range(4):
        move_events(partition=partition, partitions=8)
    assert misplaced_events() == {}
    for event in events:
        event.refresh_from_db()
        assert event.partition == partition_for_key(str(event.uid), 8)


def test_a_move_by_a_fenced_off_owner_moves_nothing(settings):
    settings.BOOKING_PARTITIONS = 8
    event = events_on_every_partition(8)[5]
    old = claim_partition(partition=5, host="here", pid=1)
    claim_partition(partition=5, host="there", pid=2)
    with pytest.raises(PartitionLost):
        move_events(partition=5, partitions=4, owner_generation=old)
    assert Event.objects.get(pk=event.pk).partition == 5


def test_no_process_starts_while_an_event_is_beyond_the_partition_count(
    settings, capsys, monkeypatch
):
    # `run` sets the metrics folder for its children; kept empty (no folder) and undone after.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    settings.BOOKING_PARTITIONS = 8
    events_on_every_partition(8)
    settings.BOOKING_PARTITIONS = 4
    assert launcher.main(["run", "--partitions", "none"]) == 2
    message = capsys.readouterr().err
    assert "BOOKING_PARTITIONS=4" in message and "python -m workers repartition" in message


def test_the_sweeper_does_not_ring_a_partition_nobody_consumes(settings, monkeypatch):
    settings.BOOKING_PARTITIONS = 8
    events = events_on_every_partition(8)
    book(events[7])
    book(events[1])
    settings.BOOKING_PARTITIONS = 4
    rung = []
    monkeypatch.setattr(
        "apps.bookings.sweeper.ring_doorbell",
        lambda *, event_id, partition, force=False: rung.append(partition),
    )
    sweep_pending(older_than_seconds=0)
    assert rung == [1]
