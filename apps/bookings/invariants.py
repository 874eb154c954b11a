"""The pipeline's invariants, checked with a handful of aggregate queries (none per event).

Used by the ``check_invariants`` management command (operators, CI) and by the tests after every
scenario: the counters the worker keeps must match the rows they count.
"""

from datetime import timedelta

from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.bookings.models import (
    SEAT_HOLDING_STATUSES,
    Booking,
    BookingRequest,
    Reason,
    RequestStatus,
)
from apps.events.models import Event
from apps.partitions.models import PartitionGrant


def _count_per_event(queryset) -> Coalesce:
    counted = (
        queryset.filter(event_id=OuterRef("pk"))
        .order_by()
        .values("event_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)


def _seats_per_event(queryset) -> Coalesce:
    summed = (
        queryset.filter(event_id=OuterRef("pk"))
        .order_by()
        .values("event_id")
        .annotate(n=Sum("seats"))
        .values("n")
    )
    return Coalesce(Subquery(summed), 0)


def _event_breaches() -> list[str]:
    """seats_taken == seats of active bookings + seats of live holds, within capacity; the
    waitlist counter equals its entries. A counter mismatch also holds the event's commands
    pending (the worker decides nothing on counters it cannot trust: docs/fencing.md)."""
    events = (
        Event.objects.annotate(
            active_bookings=_seats_per_event(
                Booking.objects.filter(status__in=SEAT_HOLDING_STATUSES)
            ),
            waitlisted_requests=_count_per_event(
                BookingRequest.objects.filter(status=RequestStatus.WAITLISTED)
            ),
        )
        .filter(
            ~Q(seats_taken=F("active_bookings"))
            | Q(seats_taken__gt=F("capacity"))
            | Q(active_bookings__gt=F("capacity"))
            | ~Q(waitlist_size=F("waitlisted_requests"))
        )
        .order_by("id")
        .values(
            "id",
            "capacity",
            "seats_taken",
            "active_bookings",
            "waitlist_size",
            "waitlisted_requests",
        )
    )
    breaches = []
    for e in events:
        if e["seats_taken"] != e["active_bookings"]:
            breaches.append(
                f"event {e['id']}: counter mismatch: seats_taken {e['seats_taken']} != "
                f"{e['active_bookings']} seats of active bookings and live holds"
            )
        if max(e["seats_taken"], e["active_bookings"]) > e["capacity"]:
            breaches.append(
                f"event {e['id']}: over capacity ({e['seats_taken']} seats taken, "
                f"{e['active_bookings']} seats booked or held, capacity {e['capacity']})"
            )
        if e["waitlist_size"] != e["waitlisted_requests"]:
            breaches.append(
                f"event {e['id']}: counter mismatch: waitlist_size {e['waitlist_size']} != "
                f"{e['waitlisted_requests']} waitlisted requests"
            )
    return breaches


def _waitlist_breaches() -> list[str]:
    """A waitlisted customer who already holds an active booking for the same event."""
    holds_seat = Booking.objects.filter(
        customer_id=OuterRef("customer_id"),
        event_id=OuterRef("event_id"),
        status__in=SEAT_HOLDING_STATUSES,
    )
    both = (
        BookingRequest.objects.filter(status=RequestStatus.WAITLISTED)
        .filter(Exists(holds_seat))
        .order_by("id")
        .values_list("uid", "customer_id", "event_id")
    )
    return [
        f"event {event_id}: customer {customer_id} is waitlisted (request {uid}) while "
        f"holding an active booking"
        for uid, customer_id, event_id in both
    ]


def _pending_breaches(threshold_seconds: float) -> list[str]:
    now = timezone.now()
    cutoff = now - timedelta(seconds=threshold_seconds)
    stranded = BookingRequest.objects.filter(
        status=RequestStatus.PENDING, created_at__lt=cutoff
    ).order_by()
    summary = stranded.aggregate(
        n=Count("id"), oldest=Min("created_at"), events=Count("event_id", distinct=True)
    )
    if not summary["n"]:
        return []
    age = (now - summary["oldest"]).total_seconds()
    return [
        f"{summary['n']} command(s) of {summary['events']} event(s) pending longer than "
        f"{threshold_seconds:g}s (oldest {age:.1f}s)"
    ]


def _fence_breaches() -> list[str]:
    """Decisions of a partition's lease generation stamped at or after a newer generation of it
    was granted: their decider had lost the lease (the fence lets none through: a takeover
    waits for the round in flight, and its grant's time is read once that round committed)."""
    granted_later = PartitionGrant.objects.filter(
        partition=OuterRef("decided_partition"),
        generation__gt=OuterRef("decided_generation"),
        granted_at__lte=OuterRef("decided_at"),
    )
    late = (
        BookingRequest.objects.filter(decided_generation__isnull=False)
        .filter(Exists(granted_later))
        .order_by()
        .values("decided_partition", "decided_generation")
        .annotate(n=Count("id"), last=Max("decided_at"))
        .order_by("decided_partition", "decided_generation")
    )
    return [
        f"partition {row['decided_partition']}: decided after its lease was granted away: "
        f"{row['n']} request(s) decided by generation {row['decided_generation']} at or after "
        f"a newer generation's grant (last at {row['last'].isoformat()})"
        for row in late
    ]


def check_invariants(*, pending_threshold_seconds: float) -> list[str]:
    """Every breach of the booking invariants, as one line each; an empty list means healthy."""
    return [
        *_event_breaches(),
        *_waitlist_breaches(),
        *_pending_breaches(pending_threshold_seconds),
        *_fence_breaches(),
    ]


def out_of_order_decisions(
    *, event_ids: list[int] | None = None, request_ids: list[int] | None = None
) -> int:
    """Commands decided in a later batch than a command of the same event with a higher id:
    on PostgreSQL ids are taken before commit, so a command can become visible just after a
    higher id was decided. 0 when every event's line was kept. Promotions and withdrawals are
    left out (their ``decided_at`` is when they left the waitlist, not when they were read).
    ``request_ids``: pairs among these only (commands each recorded once the one before it was
    acknowledged, as one client sends them: their commit order is their id order, so any such
    pair decided out of order broke the line)."""
    commands = BookingRequest.objects.filter(decided_at__isnull=False).exclude(
        Q(reason=Reason.PROMOTED) | Q(status=RequestStatus.WITHDRAWN)
    )
    if event_ids is not None:
        commands = commands.filter(event_id__in=event_ids)
    overtaken = BookingRequest.objects.filter(
        event_id=OuterRef("event_id"),
        id__gt=OuterRef("id"),
        decided_at__lt=OuterRef("decided_at"),
    )
    if request_ids is not None:
        commands = commands.filter(id__in=request_ids)
        overtaken = overtaken.filter(id__in=request_ids)
    return commands.filter(Exists(overtaken)).count()
