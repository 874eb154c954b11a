"""Partition ownership writes, made by the process that holds a partition's lease.

The lease (``workers.leases``) decides who may consume a partition; these rows tell everyone
else who does, since when, and whether it is still answering. A new owner bumps
``generation``; a decision transaction that finds another generation was fenced off (its
process lost the lease while paused) and must decide nothing.
"""

import os
import socket
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from apps.bookings.commands import ring_doorbell
from apps.bookings.models import BookingRequest, RequestStatus
from apps.core.clock import database_now
from apps.events.models import Event
from apps.partitions.models import PartitionGrant, PartitionOwner
from workers.routing import partition_for_key


class PartitionLost(Exception):
    """This process no longer owns the partition: another worker took it over."""


def holder_label(*, host: str, pid: int) -> str:
    """How a lease holder (a process) is named in grants and decisions: ``host:pid``."""
    return f"{host}:{pid}"


def this_process() -> str:
    """``holder_label`` of the calling process (a decider records it on its decisions)."""
    return holder_label(host=_HOST, pid=os.getpid())


_HOST = socket.gethostname()


@transaction.atomic
def claim_partition(*, partition: int, host: str, pid: int) -> int:
    """Record the caller (which has just taken the partition's lease) as its owner, and the
    grant in the partition's history. Returns the new generation, the fencing token of every
    decision it makes.

    The owner row is locked ``FOR UPDATE`` first: a decision round holds it ``FOR KEY SHARE``
    until it commits, so the takeover waits for a round in flight, and a round that starts
    meanwhile waits for the takeover and then finds the new generation (PartitionLost). The
    grant's time is read from the database's clock once the lock is held: after every
    decision of an older generation committed."""
    PartitionOwner.objects.get_or_create(partition=partition)
    owner = PartitionOwner.objects.select_for_update().get(partition=partition)
    granted_at = database_now()
    owner.generation += 1
    owner.host, owner.pid = host, pid
    owner.acquired_at = owner.heartbeat_at = owner.answered_at = timezone.now()
    owner.save(
        update_fields=["generation", "host", "pid", "acquired_at", "heartbeat_at", "answered_at"]
    )
    PartitionGrant.objects.create(
        partition=partition,
        generation=owner.generation,
        holder=holder_label(host=host, pid=pid),
        granted_at=granted_at,
    )
    return owner.generation


def record_heartbeat(*, partition: int, generation: int, answered_at: datetime | None) -> bool:
    """The owner is alive (and answered its last doorbell at ``answered_at``). False when the
    partition has a newer owner: the caller must stop consuming at once."""
    fields = {"heartbeat_at": timezone.now()}
    if answered_at is not None:
        fields["answered_at"] = answered_at
    return bool(
        PartitionOwner.objects.filter(partition=partition, generation=generation).update(**fields)
    )


def release_partition(*, partition: int, generation: int) -> None:
    """A clean shutdown: the partition has no owner until the next one claims it."""
    PartitionOwner.objects.filter(partition=partition, generation=generation).update(
        heartbeat_at=None
    )


def check_owner(*, partition: int, generation: int) -> None:
    """The fence, called inside the caller's transaction: raise ``PartitionLost`` unless the
    caller's generation is still the partition's current one. On PostgreSQL the owner row stays
    locked ``FOR KEY SHARE`` until that transaction ends, as a decision round's is: a takeover
    waits for it (heartbeats, plain updates, do not)."""
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT generation FROM {PartitionOwner._meta.db_table} WHERE partition = %s{lock}",
            [partition],
        )
        row = cursor.fetchone()
    if row is None or row[0] != generation:
        raise PartitionLost(f"partition {partition}: generation {generation} was taken over")


def move_events(
    *, partition: int, partitions: int, owner_generation: int | None = None
) -> dict[int, int]:
    """Move the events stored on ``partition`` to the partition their uid has among
    ``partitions`` (a new partition count), then ring the doorbells of moved events with
    pending commands on their new queue. Run by ``partition``'s owner only (its worker, through
    its queue, or ``python -m workers repartition`` holding its lease), so no event is decided
    by two owners at once: the new owner's batches lock the event and check its partition.
    Returns {event id: new partition}."""
    with transaction.atomic():
        if owner_generation is not None:
            check_owner(partition=partition, generation=owner_generation)
        stored = Event.objects.filter(partition=partition).values_list("pk", "uid")
        moves = {
            pk: target
            for pk, uid in stored
            if (target := partition_for_key(str(uid), partitions)) != partition
        }
        by_target: dict[int, list[int]] = {}
        for pk, target in moves.items():
            by_target.setdefault(target, []).append(pk)
        for target, ids in by_target.items():
            Event.objects.filter(pk__in=ids, partition=partition).update(partition=target)
        waiting = set(
            BookingRequest.objects.filter(event_id__in=moves, status=RequestStatus.PENDING)
            .order_by()
            .values_list("event_id", flat=True)
            .distinct()
        )
        for event_id in waiting:
            transaction.on_commit(
                lambda e=event_id: ring_doorbell(event_id=e, partition=moves[e], force=True)
            )
    return moves
