"""Hold expiry (runs in the general worker, on beat): a hold past its deadline gets an expire
command on its event's queue; the partition worker decides it in queue order against any confirm,
and frees the seats and promotes the waitlist in the same transaction."""

import logging

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.bookings.commands import fingerprint, ring_doorbell
from apps.bookings.models import Booking, BookingRequest, BookingStatus, CommandKind, RequestStatus

logger = logging.getLogger(__name__)


def record_hold_expiries(*, now=None, limit: int = 1000) -> int:
    """Record an expire command for every live hold past its deadline that has none pending, on
    its event's queue, and ring the doorbells after commit. Idempotent: a partial unique index
    allows one pending expiry per booking, so overlapping runs record each expiry once. The
    worker decides it in queue order against any confirm. Returns the commands recorded."""
    now = now or timezone.now()
    already = BookingRequest.objects.filter(
        booking_id=OuterRef("pk"), kind=CommandKind.EXPIRE_HOLD, status=RequestStatus.PENDING
    )
    due = list(
        Booking.objects.filter(status=BookingStatus.HELD, expires_at__lte=now)
        .exclude(Exists(already))
        .order_by("expires_at")
        .values_list(
            "pk",
            "event_id",
            "event__partition",
            "customer_id",
            "customer__user_id",
            "seats",
            "expires_at",
        )[:limit]
    )
    if not due:
        return 0
    commands = []
    for booking_id, event_id, _partition, customer_id, user_id, seats, expires_at in due:
        payload = {"expires_at": expires_at.isoformat()}
        commands.append(
            BookingRequest(
                kind=CommandKind.EXPIRE_HOLD,
                user_id=user_id,
                customer_id=customer_id,
                event_id=event_id,
                booking_id=booking_id,
                seats=seats,
                payload=payload,
                fingerprint=fingerprint(
                    kind=CommandKind.EXPIRE_HOLD, target=booking_id, payload=payload
                ),
            )
        )
    partitions = {event_id: partition for _, event_id, partition, *_ in due}
    with transaction.atomic():
        BookingRequest.objects.bulk_create(commands, ignore_conflicts=True)
        for event_id, partition in partitions.items():
            transaction.on_commit(
                lambda e=event_id, p=partition: ring_doorbell(event_id=e, partition=p),
                robust=True,
            )
    logger.info("recorded %d hold expiries on %d events", len(commands), len(partitions))
    return len(commands)
