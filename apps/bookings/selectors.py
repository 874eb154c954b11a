"""Reads of bookings and commands, shaped for the API."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.bookings.models import Booking, BookingRequest, RequestStatus
from apps.bookings.rules import SEAT_FREEING_KINDS
from apps.core.rows import JoinedRows, literal
from apps.events.models import Event


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


@dataclass(frozen=True)
class Line:
    """An event's line as a new book command finds it."""

    pending_commands: int  # recorded, not yet decided: all ahead of the new command
    seat_freeing_pending: bool  # one of them may free a seat (see rules.SEAT_FREEING_KINDS)
    booking_status: str | None  # the customer's booking there (any status), if any


# One statement, written out: the accept path runs it for every request, and composing it
# through the ORM (a subquery and two EXISTS) cost ten times the database's own work. The line
# is read in one pass over the event's pending commands, through an index: the status is a
# literal, so the prepared statement's generic plan knows it (as a parameter, it was planned
# as a scan of every command ever recorded).
def _event_for_booking_rows() -> JoinedRows:
    request, booking = BookingRequest._meta.db_table, Booking._meta.db_table
    seat_freeing = ", ".join(literal(kind) for kind in sorted(SEAT_FREEING_KINDS))
    return JoinedRows(
        [(Event, "e")],
        f"{Event._meta.db_table} e CROSS JOIN (SELECT COUNT(*) AS commands, "
        f"MAX(CASE WHEN r.kind IN ({seat_freeing}) THEN 1 ELSE 0 END) AS seat_freeing "
        f"FROM {request} r WHERE r.event_id = %s AND r.status = {literal(RequestStatus.PENDING)}"
        ") line",
        "e.id = %s AND e.deleted_at IS NULL",
        extra=[
            "line.commands",
            "line.seat_freeing",
            f"(SELECT b.status FROM {booking} b WHERE b.event_id = e.id AND b.customer_id = %s)",
        ],
    )


EVENT_FOR_BOOKING = _event_for_booking_rows()


def event_for_booking(*, event_id: int, customer_id: int) -> tuple[Event, Line] | None:
    """A live event and its line as a book command of ``customer_id`` would join it, in one
    query; None when there is no such event."""
    # In the statement's order: the select list's customer, the line's event, the event.
    found = EVENT_FOR_BOOKING.fetch([customer_id, event_id, event_id])
    if not found:
        return None
    event, line_pending, line_seat_freeing, line_booking_status = found[0]
    return event, Line(
        pending_commands=int(line_pending),
        seat_freeing_pending=bool(line_seat_freeing),
        booking_status=line_booking_status,
    )
