"""The decision batch's statements, written out once (``apps.core.rows``).

A partition worker runs a batch per doorbell, and under a spread load most batches decide one
or two commands: composing their ten statements through the ORM cost several times what the
database spent on them (profiled: ~7 ms of CPU per small run, most of it query compilation).
Each statement here is what the ORM would have sent; the instances are the ORM's.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import connection

from apps.bookings.models import (
    SEAT_HOLDING_STATUSES,
    Booking,
    BookingRequest,
    RequestStatus,
)
from apps.core.rows import JoinedRows, placeholders, prepared
from apps.events.models import Event
from apps.partitions.models import PartitionOwner

EVENT = Event._meta.db_table
BOOKING = Booking._meta.db_table
REQUEST = BookingRequest._meta.db_table
OWNER = PartitionOwner._meta.db_table

# The event, locked, with what its counters must match (seats of active bookings and live
# holds, waitlisted requests) and whether the caller's generation still owns the partition.
LOCKED_EVENT = JoinedRows(
    [(Event, "e")],
    f"{EVENT} e",
    "e.id = %s",
    extra=[
        f"COALESCE((SELECT SUM(b.seats) FROM {BOOKING} b WHERE b.event_id = e.id "
        "AND b.status IN (%s, %s)), 0)",
        f"(SELECT COUNT(*) FROM {REQUEST} r WHERE r.event_id = e.id AND r.status = %s)",
        f"EXISTS (SELECT 1 FROM {OWNER} o WHERE o.partition = %s AND o.generation = %s)",
    ],
    lock=True,
)
REQUESTS_IN_LINE = JoinedRows(
    [(BookingRequest, "r")],
    f"{REQUEST} r",
    "r.event_id = %s AND r.status = %s ORDER BY r.id LIMIT %s",
)
BOOKINGS_OF_CUSTOMERS = JoinedRows(
    [(Booking, "b")], f"{BOOKING} b", "b.event_id = %s AND b.customer_id IN ({customers})"
)
# The events with pending commands, one index probe per event (request_pending_event_created,
# the next event id after the last), not one row per pending command: a partition's run asks
# before every round, and a backlog of thousands of commands made each answer cost ~10 ms.
_NEXT_PENDING = (
    f"(SELECT r.event_id FROM {REQUEST} r WHERE r.status = %s{{after}} ORDER BY r.event_id LIMIT 1)"
)
EVENTS_WITH_PENDING = (
    f"WITH RECURSIVE pending (event_id) AS (SELECT {_NEXT_PENDING.format(after='')} "
    f"UNION ALL SELECT {_NEXT_PENDING.format(after=' AND r.event_id > p.event_id')} "
    f"FROM pending p WHERE p.event_id IS NOT NULL) "
    f"SELECT p.event_id FROM pending p JOIN {EVENT} e ON e.id = p.event_id WHERE e.partition = %s"
)
# Far above any batch: "every row" for the line's LIMIT.
NO_LIMIT = 2**31 - 1


def locked_event(
    event_id: int, partition: int | None, owner_generation: int | None
) -> Event | None:
    """The event row, locked, annotated with ``active_bookings``, ``waitlisted_requests`` and
    ``owned`` (False when ``owner_generation`` is None); None when there is no such row."""
    params = [
        *SEAT_HOLDING_STATUSES,
        RequestStatus.WAITLISTED,
        -1 if partition is None else partition,
        owner_generation,
        event_id,
    ]
    rows = LOCKED_EVENT.fetch(params)
    if not rows:
        return None
    event, seats, waitlisted, owned = rows[0]
    event.active_bookings, event.waitlisted_requests = int(seats), int(waitlisted)
    event.owned = bool(owned) and owner_generation is not None
    return event


def requests_in_line(event_id: int, status: str, limit: int = NO_LIMIT) -> list[BookingRequest]:
    """The event's requests in ``status`` (pending, waitlisted), oldest first."""
    return [row[0] for row in REQUESTS_IN_LINE.fetch([event_id, status, limit])]


def bookings_of(event_id: int, customer_ids: Iterable[int]) -> list[Booking]:
    customers = list(customer_ids)
    if not customers:
        return []
    rows = BOOKINGS_OF_CUSTOMERS.fetch([event_id, *customers], customers=len(customers))
    return [row[0] for row in rows]


def events_with_pending(partition: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            EVENTS_WITH_PENDING, [RequestStatus.PENDING, RequestStatus.PENDING, partition]
        )
        return [row[0] for row in cursor.fetchall()]


BOOKING_INSERT_FIELDS = (
    "customer",
    "event",
    "status",
    "seats",
    "expires_at",
    "created_at",
    "updated_at",
    "cancelled_at",
)


def _at(model, name: str, value):
    return prepared(model, name, value, using=connection.alias)


def update_bookings(
    ids: Sequence[int], *, status: str, seats: int, expires_at, cancelled_at, now: datetime
) -> None:
    sql = (
        f"UPDATE {BOOKING} SET status = %s, seats = %s, expires_at = %s, updated_at = %s, "
        f"cancelled_at = %s WHERE id IN ({placeholders(len(ids))})"
    )
    params = [
        status,
        seats,
        _at(Booking, "expires_at", expires_at),
        _at(Booking, "updated_at", now),
        _at(Booking, "cancelled_at", cancelled_at),
        *ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def update_requests(
    ids: Sequence[int],
    *,
    status: str,
    reason: str,
    message: str,
    decided_at: datetime,
    bookings: Sequence[int] | None = None,
) -> None:
    """Settle requests; with ``bookings`` (one booking id per request, in order), each is linked
    to its booking in the same statement.

    The links are given, not looked up: a lookup by (event, customer) per row was planned over
    statistics that predate the batch's new bookings and walked all of the event's bookings
    for each row (measured: 255 µs a row at 4,000 bookings, against 15 µs unlinked)."""
    params = [status, reason, message, _at(BookingRequest, "decided_at", decided_at)]
    with connection.cursor() as cursor:
        if bookings is None:
            cursor.execute(
                f"UPDATE {REQUEST} SET status = %s, reason = %s, message = %s, decided_at = %s "
                f"WHERE id IN ({placeholders(len(ids))})",
                [*params, *ids],
            )
            return
        pairs = ", ".join(["(%s, %s)"] * len(ids))
        cursor.execute(
            f"WITH link (id, booking_id) AS (VALUES {pairs}) "
            f"UPDATE {REQUEST} SET status = %s, reason = %s, message = %s, decided_at = %s, "
            f"booking_id = link.booking_id FROM link WHERE {REQUEST}.id = link.id",
            [*(value for pair in zip(ids, bookings, strict=True) for value in pair), *params],
        )


def update_event(
    event_id: int,
    *,
    seats_taken: int,
    capacity: int,
    waitlist_size: int,
    deleted_at,
    now: datetime,
) -> None:
    sql = (
        f"UPDATE {EVENT} SET seats_taken = %s, capacity = %s, waitlist_size = %s, "
        "deleted_at = %s, updated_at = %s WHERE id = %s"
    )
    params = [
        seats_taken,
        capacity,
        waitlist_size,
        _at(Event, "deleted_at", deleted_at),
        _at(Event, "updated_at", now),
        event_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
