"""The safety net (runs in the general worker, on beat): commands left pending too long get
their event's doorbell rung again, so a lost doorbell or a broker outage loses no command."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from apps.bookings.commands import ring_doorbell
from apps.bookings.models import BookingRequest, RequestStatus
from apps.core import metrics

logger = logging.getLogger(__name__)


def sweep_pending(*, older_than_seconds: float | None = None) -> int:
    """Re-ring the doorbell of every event with a command pending longer than the threshold.
    Returns the number of events rung."""
    if older_than_seconds is None:
        older_than_seconds = settings.BOOKING_SWEEP_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stranded = BookingRequest.objects.filter(status=RequestStatus.PENDING, created_at__lt=cutoff)
    events = list(stranded.values_list("event_id", "event__partition").distinct())
    if not events:
        return 0
    stranded.update(attempts=F("attempts") + 1)
    metrics.count_rerung(len(events))
    for event_id, partition in events:
        if partition >= settings.BOOKING_PARTITIONS:
            # No worker consumes that queue: ringing it only grows the broker's backlog.
            logger.error(
                "event %s is on partition %s, beyond BOOKING_PARTITIONS=%s: its commands wait "
                "for `python -m workers repartition`",
                event_id,
                partition,
                settings.BOOKING_PARTITIONS,
            )
            continue
        logger.warning(
            "re-ringing event %s: commands pending over %.0fs", event_id, older_than_seconds
        )
        ring_doorbell(event_id=event_id, partition=partition, force=True)
    return len(events)
