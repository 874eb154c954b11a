"""An owner's heartbeat: what it reports as answered while its consumer starts, and after."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.partitions.models import PartitionOwner
from apps.partitions.selectors import stale_partitions
from apps.partitions.services import claim_partition
from tests.partitions.test_ownership import pending_command
from workers import leases
from workers.leases import FileLease, Holding, Ownership

pytestmark = pytest.mark.django_db


def owner_of(partition: int, tmp_path) -> Ownership:
    generation = claim_partition(partition=partition, host=leases.HOST, pid=1)
    return Ownership(
        partition=partition, generation=generation, lease=FileLease(f"p{partition}", tmp_path)
    )


def as_if_claimed(partition: int, seconds_ago: float) -> None:
    """The claim, its answers and the heartbeat all that long ago (a slow consumer start)."""
    then = timezone.now() - timedelta(seconds=seconds_ago)
    PartitionOwner.objects.filter(partition=partition).update(
        acquired_at=then, heartbeat_at=then, answered_at=then
    )


def test_an_owner_whose_consumer_is_starting_counts_as_answering(settings, tmp_path):
    """A command waited past the stall time while the new owner's consumer started: not a
    stall (evicting it would evict every slow starter, one after the other)."""
    settings.BOOKING_STALL_SECONDS = 5
    ownership = owner_of(2, tmp_path)
    pending_command(2, seconds_old=30)
    as_if_claimed(2, seconds_ago=20)
    assert 2 in stale_partitions()

    assert ownership.beat()

    assert 2 not in stale_partitions()


def test_once_consuming_only_runs_count_as_answering(settings, tmp_path):
    settings.BOOKING_STALL_SECONDS = 5
    ownership = owner_of(2, tmp_path)
    pending_command(2, seconds_old=30)
    Holding([ownership]).start_consuming()
    as_if_claimed(2, seconds_ago=20)

    assert ownership.beat()  # alive...

    assert 2 in stale_partitions()  # ...and leaving its doorbells unanswered
    with ownership.answering():
        pass
    assert ownership.beat()
    assert 2 not in stale_partitions()


def test_the_start_grace_ends(settings, tmp_path, monkeypatch):
    """An owner that never gets its consumer up is answering for the grace period only."""
    settings.BOOKING_STALL_SECONDS = 5
    ownership = owner_of(2, tmp_path)
    pending_command(2, seconds_old=30)
    ownership.claimed -= leases.CONSUMER_START_GRACE_SECONDS + 1
    as_if_claimed(2, seconds_ago=20)

    assert ownership.beat()

    assert 2 in stale_partitions()
