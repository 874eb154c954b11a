"""Reads of partition ownership: who consumes which partition, and which partitions stalled."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.bookings.models import BookingRequest, RequestStatus
from apps.events.models import Event
from apps.partitions.models import PartitionOwner
from workers.routing import partition_for_key


def partition_owners() -> list[PartitionOwner]:
    """Every partition's last recorded owner, by partition."""
    return list(PartitionOwner.objects.order_by("partition"))


def stale_partitions(*, older_than_seconds: float | None = None) -> list[int]:
    """Partitions whose commands nobody is deciding, sorted by number.

    A partition is stale when, for longer than ``older_than_seconds`` (default
    ``BOOKING_STALL_SECONDS``):
    - its owner has not written a heartbeat (a frozen process, or one stuck inside a decision
      run: the heartbeat skips while a run lasts that long), or it has no owner at all; or
    - a command of one of its events has been pending while its owner answered no doorbell
      (a consumer stuck outside the decision code, e.g. on a hung broker socket).
    Partitions beyond ``BOOKING_PARTITIONS`` that still hold pending commands are stale too:
    no worker may consume them.
    """
    if older_than_seconds is None:
        older_than_seconds = settings.BOOKING_STALL_SECONDS
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    owners = {o.partition: o for o in PartitionOwner.objects.all()}
    stale = {
        p
        for p in range(settings.BOOKING_PARTITIONS)
        if p not in owners or owners[p].heartbeat_at is None or owners[p].heartbeat_at < cutoff
    }
    waiting = (
        BookingRequest.objects.filter(status=RequestStatus.PENDING, created_at__lt=cutoff)
        .order_by()
        .values_list("event__partition", flat=True)
        .distinct()
    )
    for partition in waiting:
        owner = owners.get(partition)
        answered = owner.answered_at if owner is not None else None
        if answered is None or answered < cutoff or partition >= settings.BOOKING_PARTITIONS:
            stale.add(partition)
    return sorted(stale)


def partition_owner(partition: int) -> PartitionOwner | None:
    return PartitionOwner.objects.filter(partition=partition).first()


def misplaced_events(*, partitions: int | None = None) -> dict[int, list[int]]:
    """Events stored on another partition than their uid's among ``partitions`` (default
    ``BOOKING_PARTITIONS``), as {stored partition: [event ids]}: what ``repartition`` moves."""
    count = partitions or settings.BOOKING_PARTITIONS
    misplaced: dict[int, list[int]] = {}
    for pk, uid, partition in Event.objects.order_by("pk").values_list("pk", "uid", "partition"):
        if partition_for_key(str(uid), count) != partition:
            misplaced.setdefault(partition, []).append(pk)
    return misplaced


def events_beyond_partitions() -> dict[int, list[int]]:
    """Events that still matter (live, or with commands pending or waitlisted) stored on a
    partition at or beyond ``BOOKING_PARTITIONS``: no worker may consume it."""
    beyond = (
        Event.objects.filter(partition__gte=settings.BOOKING_PARTITIONS)
        .filter(
            Q(deleted_at__isnull=True)
            | Q(booking_requests__status__in=[RequestStatus.PENDING, RequestStatus.WAITLISTED])
        )
        .order_by("pk")
        .values_list("partition", "pk")
        .distinct()
    )
    found: dict[int, list[int]] = {}
    for partition, pk in beyond:
        found.setdefault(partition, []).append(pk)
    return found
