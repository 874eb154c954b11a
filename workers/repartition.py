"""``python -m workers repartition``: move events to their partition under a new
``BOOKING_PARTITIONS``, through each old partition's owner, so no event is ever decided by two
workers at once.

For each old partition that has events to move:
- while a live worker owns it (fresh heartbeat), the move is a task on that partition's queue:
  the owner runs it between two decision runs;
- otherwise this command takes the partition's lease itself (evicting a stalled owner, like a
  standby), records itself as the owner (fencing off any paused one) and moves the events.
Moved events with pending commands get a doorbell on their new queue. The command returns once
no event is misplaced, or fails after ``--timeout`` seconds.
"""

import logging
import os
import time

from celery import current_app
from django.conf import settings

from apps.partitions.selectors import misplaced_events, stale_partitions
from apps.partitions.services import claim_partition, move_events
from workers import routing
from workers.leases import HOST, Ownership, evict_if_stalled, partition_lease

logger = logging.getLogger(__name__)


def move_through_owner(partition: int, partitions: int) -> None:
    current_app.send_task(
        routing.MOVE_EVENTS_TASK,
        args=[partition, partitions],
        queue=routing.partition_queue(partition),
    )


def move_holding_the_lease(lease, partition: int, partitions: int) -> int:
    generation = claim_partition(partition=partition, host=HOST, pid=os.getpid())
    ownership = Ownership(partition=partition, generation=generation, lease=lease)
    try:
        return len(
            move_events(partition=partition, partitions=partitions, owner_generation=generation)
        )
    finally:
        ownership.release()


def repartition(*, timeout: float = 120.0) -> int:
    """Move every misplaced event; returns how many were misplaced at the start."""
    partitions = settings.BOOKING_PARTITIONS
    misplaced = misplaced_events()
    total = sum(len(ids) for ids in misplaced.values())
    logger.warning(
        "repartition to %d partitions: %d events to move from partitions %s",
        partitions,
        total,
        sorted(misplaced),
    )
    deadline = time.monotonic() + timeout
    for partition in sorted(misplaced):
        lease = partition_lease(partition)
        # Free: nobody consumes the partition. Held by a stalled owner: evict it, as a standby
        # would. Held by a live owner (possibly of the old deployment): ask it.
        if lease.try_acquire() or (
            partition in stale_partitions()
            and lease.acquire(
                timeout=max(1.0, deadline - time.monotonic()),
                on_wait=lambda p=partition, lease=lease: evict_if_stalled(p, lease),
            )
        ):
            moved = move_holding_the_lease(lease, partition, partitions)
            logger.warning("partition %s: moved %d events holding its lease", partition, moved)
        else:
            move_through_owner(partition, partitions)
            logger.warning("partition %s: move sent to its owner", partition)
    while misplaced_events():
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"events still misplaced after {timeout:.0f}s: {misplaced_events()} "
                "(stored partition: event ids)"
            )
        time.sleep(0.5)
    return total
