"""Reads of bookings and commands, shaped for the API."""

from datetime import datetime

from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.bookings.models import Booking, BookingRequest, RequestStatus


def _count_before(status: RequestStatus) -> Coalesce:
    """How many commands of the same event, in ``status``, came before this one: an index range
    count on (event, status, id), so cheap however long the line."""
    earlier = (
        BookingRequest.objects.filter(
            event_id=OuterRef("event_id"), status=status, id__lt=OuterRef("id")
        )
        .order_by()
        .values("event_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(earlier), 0)


def requests_for(user) -> QuerySet[BookingRequest]:
    """The caller's own commands, with their place in line."""
    return with_line_position(
        BookingRequest.objects.filter(user=user).select_related("booking", "event")
    )


def with_line_position(queryset: QuerySet[BookingRequest]) -> QuerySet[BookingRequest]:
    return queryset.annotate(
        ahead_in_line=_count_before(RequestStatus.PENDING),
        ahead_in_waitlist=_count_before(RequestStatus.WAITLISTED),
    )


def ahead_in_line(command: BookingRequest) -> int:
    return BookingRequest.objects.filter(
        event_id=command.event_id, status=RequestStatus.PENDING, id__lt=command.pk
    ).count()


def request_with_position(pk: int) -> BookingRequest:
    return with_line_position(BookingRequest.objects.select_related("booking", "event")).get(pk=pk)


def bookings_for(user) -> QuerySet[Booking]:
    """Customers see their own bookings; organizers the bookings of their events."""
    visible = Q(pk__in=[])
    if hasattr(user, "customer_profile"):
        visible |= Q(customer__user=user)
    if hasattr(user, "organizer_profile"):
        visible |= Q(event__creator__user=user)
    return Booking.objects.filter(visible).select_related("event", "customer__user")


def pending_by_partition() -> dict[int, tuple[int, datetime]]:
    """``{partition: (pending commands, when the oldest was recorded)}`` for every partition
    with pending commands: one grouped query (for metrics, read at scrape time)."""
    rows = (
        BookingRequest.objects.filter(status=RequestStatus.PENDING)
        .order_by()
        .values("event__partition")
        .annotate(count=Count("id"), oldest=Min("created_at"))
    )
    return {row["event__partition"]: (row["count"], row["oldest"]) for row in rows}
