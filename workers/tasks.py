"""Thin Celery tasks: ids in, one service call. Task names are stable (see workers.routing)."""

import logging

from celery import shared_task

from workers import routing

logger = logging.getLogger(__name__)


@shared_task(name=routing.DECIDE_EVENT_TASK, acks_late=True)
def decide_event(event_id: int) -> int:
    """A doorbell: decide every pending command of the event. Never retried by Celery: a
    failure leaves the commands pending, and the sweeper rings again."""
    from apps.bookings.services import decide_pending
    from workers.doorbells import latch

    latch().clear(event_id)  # before reading: a request that rings after this gets a new run
    return decide_pending(event_id=event_id)


def ring(*, event_id: int, partition: int) -> None:
    """Publish a doorbell; fails fast (no publish retries) so a broker outage never holds a
    request: the command is already committed and the sweeper will ring again."""
    decide_event.apply_async(args=[event_id], queue=routing.partition_queue(partition),
                             retry=False)


@shared_task(name=routing.SWEEP_TASK)
def sweep_pending() -> int:
    from apps.bookings.services import sweep_pending as sweep

    return sweep()
