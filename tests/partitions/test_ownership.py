"""Partition ownership as the owner records it, and the stale-partition selector that
watchdogs and readiness checks read."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bookings.models import BookingRequest, CommandKind
from apps.partitions.models import PartitionGrant, PartitionOwner
from apps.partitions.selectors import partition_owners, stale_partitions
from apps.partitions.services import (
    PartitionLost,
    check_owner,
    claim_partition,
    record_heartbeat,
    release_partition,
)
from tests.factories import CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db


def claim_all(count: int = 8) -> dict[int, int]:
    return {p: claim_partition(partition=p, host="host-a", pid=100 + p) for p in range(count)}


def age(partition: int, *, seconds: float, field: str = "heartbeat_at") -> None:
    PartitionOwner.objects.filter(partition=partition).update(
        **{field: timezone.now() - timedelta(seconds=seconds)}
    )


def pending_command(partition: int, *, seconds_old: float) -> BookingRequest:
    event = EventFactory(partition=partition)
    customer = CustomerFactory()
    command = BookingRequest.objects.create(
        kind=CommandKind.BOOK, user_id=customer.user_id, customer=customer, event=event
    )
    BookingRequest.objects.filter(pk=command.pk).update(
        created_at=timezone.now() - timedelta(seconds=seconds_old)
    )
    return command


def test_each_claim_is_a_new_generation_and_fences_off_the_previous_owner():
    first = claim_partition(partition=3, host="host-a", pid=10)
    second = claim_partition(partition=3, host="host-b", pid=20)
    assert second == first + 1
    assert record_heartbeat(partition=3, generation=second, answered_at=None)
    assert not record_heartbeat(partition=3, generation=first, answered_at=None)
    check_owner(partition=3, generation=second)
    with pytest.raises(PartitionLost):
        check_owner(partition=3, generation=first)
    (owner,) = partition_owners()
    assert (owner.partition, owner.holder, owner.generation) == (3, "host-b:20", second)


def test_each_claim_is_kept_in_the_partitions_grant_history_in_time_order():
    first = claim_partition(partition=3, host="host-a", pid=10)
    second = claim_partition(partition=3, host="host-b", pid=20)
    grants = list(PartitionGrant.objects.filter(partition=3))
    assert [(g.generation, g.holder) for g in grants] == [
        (first, "host-a:10"),
        (second, "host-b:20"),
    ]
    assert grants[0].granted_at < grants[1].granted_at


def test_partitions_with_fresh_owners_are_not_stale(settings):
    settings.BOOKING_PARTITIONS = 8
    claim_all()
    assert stale_partitions(older_than_seconds=30) == []


def test_a_partition_without_an_owner_or_released_is_stale(settings):
    settings.BOOKING_PARTITIONS = 8
    generations = claim_all()
    PartitionOwner.objects.filter(partition=2).delete()
    release_partition(partition=5, generation=generations[5])
    assert stale_partitions(older_than_seconds=30) == [2, 5]


def test_a_missed_heartbeat_makes_a_partition_stale(settings):
    settings.BOOKING_PARTITIONS = 8
    claim_all()
    age(4, seconds=31)
    assert stale_partitions(older_than_seconds=30) == [4]
    assert stale_partitions(older_than_seconds=60) == []


def test_a_command_left_pending_while_no_doorbell_was_answered_makes_a_partition_stale(
    settings,
):
    settings.BOOKING_PARTITIONS = 8
    claim_all()
    pending_command(1, seconds_old=40)
    pending_command(6, seconds_old=40)
    age(1, seconds=35, field="answered_at")  # alive, but answering nothing
    # Partition 6's owner answered a doorbell recently: busy, not stuck.
    assert stale_partitions(older_than_seconds=30) == [1]


def test_pending_commands_on_a_partition_beyond_the_configured_count_are_stale(settings):
    settings.BOOKING_PARTITIONS = 8
    claim_all()
    pending_command(9, seconds_old=40)
    assert stale_partitions(older_than_seconds=30) == [9]


@pytest.mark.parametrize("decide", ["partition", "event"])
def test_a_caller_without_a_lease_decides_nothing_on_a_held_partition(decide):
    """A shell, a script or a worker that never took the lease cannot decide a partition whose
    owner holds it, paused or dead as it may be; once the owner let go, it can."""
    from apps.bookings.decisions import decide_partition, decide_pending

    command = pending_command(5, seconds_old=0)
    generation = claim_partition(partition=5, host="host-a", pid=10)

    def decide_without_a_lease():
        if decide == "partition":
            return decide_partition(partition=5)
        return decide_pending(event_id=command.event_id)

    with pytest.raises(PartitionLost, match="held"):
        decide_without_a_lease()
    command.refresh_from_db()
    assert command.status == "pending"

    release_partition(partition=5, generation=generation)
    assert decide_without_a_lease() == 1
    command.refresh_from_db()
    assert command.status != "pending"
    assert command.decided_generation is None
