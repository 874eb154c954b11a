"""Thin Celery tasks: ids in, one service call. Task names are stable (see workers.routing);
the request side publishes them by name (``apps.bookings.commands.ring``)."""

import logging
import time

from celery import shared_task
from django.conf import settings

from apps.bookings import expiries, sweeper
from apps.bookings.decisions import decide_partition
from apps.events.models import Event
from apps.partitions import services as partition_services
from workers import leases, routing
from workers.doorbells import latch

logger = logging.getLogger(__name__)


@shared_task(name=routing.DECIDE_EVENT_TASK, acks_late=True)
def decide_event(event_id: int, partition: int | None = None) -> int:
    """A doorbell: decide every pending command of the event, then of every other event of the
    partition that has some. Never retried by Celery: a failure leaves the commands pending,
    and the sweeper rings again."""
    if partition is None:
        partition = Event.objects.filter(pk=event_id).values_list("partition", flat=True).first()
        if partition is None:
            return 0
    if _busy(partition):
        time.sleep(settings.BOOKING_DOORBELL_LINGER_SECONDS)
    latch().clear(partition)  # before reading: a request that rings after this gets a new run
    try:
        return _decide(event_id, partition)
    finally:
        _last_run_ended[partition] = time.monotonic()


# When this process's last run of each partition ended (time.monotonic()).
_last_run_ended: dict[int, float] = {}


def _busy(partition: int) -> bool:
    """Whether a run of ``partition`` should linger first: runs follow one another (the last
    one ended less than five lingers ago), so commands are arriving a few at a time, and each
    run's fixed cost (the task, its transaction, its statements, its announcements) would be
    paid for a handful of them. While it lingers the latch stays set, so the requests recorded
    meanwhile do not ring; the run that follows reads them all. A first doorbell after a quiet
    spell (a backlog's, a lone request's) runs at once. Only with latches: without them every
    request rings, and every one of those doorbells would linger."""
    linger = settings.BOOKING_DOORBELL_LINGER_SECONDS
    if linger <= 0 or settings.BOOKING_DOORBELL_TTL_SECONDS <= 0:
        return False
    return time.monotonic() - _last_run_ended.get(partition, float("-inf")) < 5 * linger


def _decide(event_id: int, partition: int) -> int:
    holding = leases.current()
    if holding is None:  # not a lease-holding process (the in-process test worker)
        return decide_partition(partition=partition, first_event_id=event_id)
    ownership = holding.ownership(partition)
    if ownership is None:  # a stray doorbell: not this worker's partition
        return 0
    with holding.answering():
        return decide_partition(
            partition=partition, first_event_id=event_id, owner_generation=ownership.generation
        )


@shared_task(name=routing.SWEEP_TASK)
def sweep_pending() -> int:
    return sweeper.sweep_pending()


@shared_task(name=routing.MOVE_EVENTS_TASK, acks_late=True)
def move_events(partition: int, partitions: int) -> int:
    """Move this partition's events to their partition among ``partitions`` (sent by
    ``python -m workers repartition`` on the partition's own queue, so its owner does it
    between two decision runs). Only the partition's owner acts."""
    holding = leases.current()
    ownership = holding.ownership(partition) if holding is not None else None
    if ownership is None:
        return 0
    with holding.answering():
        moved = partition_services.move_events(
            partition=partition, partitions=partitions, owner_generation=ownership.generation
        )
    logger.warning(
        "partition %s: moved %d events for %d partitions", partition, len(moved), partitions
    )
    return len(moved)


@shared_task(name=routing.EXPIRE_HOLDS_TASK)
def expire_holds() -> int:
    """Record expire commands for holds past their deadline; their workers decide them."""
    return expiries.record_hold_expiries()
