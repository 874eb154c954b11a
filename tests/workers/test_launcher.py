"""The launcher's processes: outbound HTTP has a worker of its own; partition workers own
BOOKING_PARTITIONS_PER_PROCESS partitions each, and the watchdog watches every one of them."""

from argparse import Namespace
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from apps.partitions.models import PartitionOwner
from apps.partitions.services import claim_partition
from workers import routing
from workers.launcher import children_for, stalled_children
from workers.leases import HOST


def queues_of(child) -> list[str]:
    return child.argv[child.argv.index("-Q") + 1].split(",")


def test_the_sweeper_and_the_scheduler_never_share_a_worker_with_webhook_sending():
    args = Namespace(partitions="0", general=True, beat=True, web=None, log_level="INFO")

    children = {child.name: child for child in children_for(args)}

    assert queues_of(children["general worker"]) == [routing.DEFAULT_QUEUE]
    assert queues_of(children["webhook worker"]) == [routing.WEBHOOK_QUEUE]
    consumers = [c for c in children.values() if "-Q" in c.argv]
    assert sum(routing.WEBHOOK_QUEUE in queues_of(c) for c in consumers) == 1


def test_no_general_starts_neither_worker():
    args = Namespace(partitions="0", general=False, beat=False, web=None, log_level="INFO")

    assert [child.name for child in children_for(args)] == ["partition 0"]


def partition_children(settings, *, partitions: int, per_process: int) -> list:
    settings.BOOKING_PARTITIONS = partitions
    settings.BOOKING_PARTITIONS_PER_PROCESS = per_process
    args = Namespace(partitions="all", general=False, beat=False, web=None, log_level="INFO")
    return children_for(args)


def test_a_partition_worker_process_owns_as_many_partitions_as_configured(settings):
    children = partition_children(settings, partitions=8, per_process=3)

    assert [c.partitions for c in children] == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert [c.argv[-3:] for c in children] == [
        ["workers", "partition", "0-2"],
        ["workers", "partition", "3-5"],
        ["workers", "partition", "6-7"],
    ]
    assert [c.name for c in children] == ["partitions 0-2", "partitions 3-5", "partitions 6-7"]


def test_one_partition_per_process_starts_one_worker_per_partition(settings):
    children = partition_children(settings, partitions=4, per_process=1)

    assert [c.partitions for c in children] == [[0], [1], [2], [3]]
    assert [c.argv[-3:] for c in children][3] == ["workers", "partition", "3"]
    assert [c.name for c in children][3] == "partition 3"


@pytest.mark.django_db
def test_the_watchdog_kills_a_group_s_process_when_one_of_its_partitions_stalls(settings):
    settings.BOOKING_PARTITIONS = 4
    settings.BOOKING_STALL_SECONDS = 30
    (group,) = partition_children(settings, partitions=4, per_process=4)
    group.process = SimpleNamespace(pid=4242)
    long_ago = timezone.now() - timedelta(seconds=120)
    for partition in range(4):
        claim_partition(partition=partition, host=HOST, pid=4242)
    PartitionOwner.objects.update(acquired_at=long_ago)
    assert stalled_children([group]) == []

    PartitionOwner.objects.filter(partition=2).update(heartbeat_at=long_ago)

    assert stalled_children([group]) == [group]


def test_a_crash_loop_backs_off_and_a_lost_lease_restarts_after_the_first_wait():
    from workers.launcher import RESTART_BACKOFF_MAX_SECONDS, Child
    from workers.leases import LOST_EXIT_CODE

    crashing = Child("partition 0", [])
    waits = []
    for _ in range(7):
        crashing.started_at = 100.0
        waits.append(crashing.exited(1, now=101.0))
    assert waits == [1, 2, 4, 8, 16, RESTART_BACKOFF_MAX_SECONDS, RESTART_BACKOFF_MAX_SECONDS]
    crashing.started_at = 100.0
    assert crashing.exited(1, now=500.0) == 1  # it had run for a while: a fresh start

    # Every lease session ends when PostgreSQL restarts: each worker exits LOST_EXIT_CODE and
    # waits for the database as a standby; restarting it later only delays the recovery.
    lost = Child("partition 1", [])
    lost.started_at = 100.0
    assert [lost.exited(LOST_EXIT_CODE, now=101.0) for _ in range(5)] == [1] * 5
    assert lost.exited(1, now=101.0) == 1 and lost.exited(1, now=101.0) == 2
    assert lost.restarts == 7 and lost.process is None
