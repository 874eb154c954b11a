"""Thin Celery tasks: ids in, one service call. Task names are stable (see workers.routing)."""

import logging

from celery import shared_task

from workers import routing

logger = logging.getLogger(__name__)


@shared_task(name=routing.DECIDE_EVENT_TASK, acks_late=True)
def decide_event(event_id: int, partition: int | None = None) -> int:
    """A doorbell: decide every pending command of the event, then of every other event of the
    partition that has some. Never retried by Celery: a failure leaves the commands pending,
    and the sweeper rings again."""
    from apps.bookings.services import decide_partition
    from apps.events.models import Event
    from workers.doorbells import latch

    if partition is None:
        partition = Event.objects.filter(pk=event_id).values_list("partition", flat=True).first()
        if partition is None:
            return 0
    latch().clear(partition)  # before reading: a request that rings after this gets a new run
    return decide_partition(partition=partition, first_event_id=event_id)


def ring(*, event_id: int, partition: int) -> None:
    """Publish a doorbell; fails fast (no publish retries) so a broker outage never holds a
    request: the command is already committed and the sweeper will ring again."""
    decide_event.apply_async(
        args=[event_id, partition], queue=routing.partition_queue(partition), retry=False
    )


@shared_task(name=routing.SWEEP_TASK)
def sweep_pending() -> int:
    from apps.bookings.services import sweep_pending as sweep

    return sweep()
