"""The decision batch's statements, written out once (``apps.core.rows``).

A partition worker runs a batch per doorbell, and under a spread load most batches decide one
or two commands: composing their ten statements through the ORM cost several times what the
database spent on them (profiled: ~7 ms of CPU per small run, most of it query compilation).
Each statement here is what the ORM would have sent; the instances are the ORM's.
"""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection

from apps.accounts.models import Customer
from apps.bookings.models import (
    SEAT_HOLDING_STATUSES,
    Booking,
    BookingRequest,
    BookingStatus,
    RequestStatus,
)
from apps.core.rows import JoinedRows, Statement, literal, placeholders, prepared
from apps.events.models import Event
from apps.partitions.models import PartitionOwner

EVENT = Event._meta.db_table
BOOKING = Booking._meta.db_table
REQUEST = BookingRequest._meta.db_table
OWNER = PartitionOwner._meta.db_table

# The events, locked (a partition's round locks all of its events in one statement, in id order).
# What their counters must match is read by the next statement (``FRESH_COUNTS``), not here: under
# READ COMMITTED a statement's subqueries read the snapshot of its start, so counts read in the
# statement that waited for a lock would miss what the lock's holder committed meanwhile.
LOCKED_EVENT = JoinedRows([(Event, "e")], f"{EVENT} e", "e.id = %s", lock=True)
LOCKED_EVENTS = JoinedRows(
    [(Event, "e")], f"{EVENT} e", "e.id IN ({events}) ORDER BY e.id", lock=True
)
# A line of requests comes with each requester's booking at the event (if any), read by the
# (customer, event) key, and the customer's username (what webhook payloads show), in the same
# statement: the decisions need them, and reads of their own cost two statements per round.
# PostgreSQL: the booking in a subquery of its own (OFFSET 0 keeps it one), so that it is one
# probe of the (customer, event) key per request: joined directly, the planner knew the event
# from the line's condition and probed by the event alone (a generic plan on a grown database:
# all of the event's bookings read for each request) or by the customer alone.
_WITH_BOOKING = {
    "postgresql": f"LEFT JOIN LATERAL (SELECT * FROM {BOOKING} k WHERE k.customer_id = "
    "r.customer_id AND k.event_id = r.event_id OFFSET 0) b ON TRUE",
    "other": f"LEFT JOIN {BOOKING} b ON b.customer_id = r.customer_id AND b.event_id = r.event_id",
}
_WITH_USERNAME = (
    f"LEFT JOIN {Customer._meta.db_table} c ON c.id = r.customer_id "
    f"LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = c.user_id"
)
REQUESTS_IN_LINE = {
    vendor: JoinedRows(
        [(BookingRequest, "r"), (Booking, "b")],
        f"{REQUEST} r {with_booking} {_WITH_USERNAME}",
        "r.event_id = %s AND r.status = %s ORDER BY r.id LIMIT %s",
        extra=["u.username"],
    )
    for vendor, with_booking in _WITH_BOOKING.items()
}
# The heads of several events' lines of pending commands (PostgreSQL: one index walk per event,
# each stopping at its own size), oldest first within each event.
_PENDING = literal(RequestStatus.PENDING)
LINES = JoinedRows(
    [(BookingRequest, "r"), (Booking, "b")],
    "unnest(%s::bigint[], %s::integer[]) AS line (event_id, size) CROSS JOIN LATERAL "
    f"(SELECT * FROM {REQUEST} x WHERE x.event_id = line.event_id AND x.status = {_PENDING} "
    f"ORDER BY x.id LIMIT line.size) r {_WITH_BOOKING['postgresql']} {_WITH_USERNAME}",
    "TRUE ORDER BY r.event_id, r.id",
    extra=["u.username"],
)
# The events with pending commands, one index probe per event (request_pending_event_created,
# the next event id after the last), not one row per pending command: a partition's run asks
# before every round, and a backlog of thousands of commands made each answer cost ~10 ms.
# Prepared (PostgreSQL: planning it cost ten times running it), the status written in so that
# the plan is the partial index's.
_NEXT_PENDING = (
    f"(SELECT r.event_id FROM {REQUEST} r WHERE r.status = {_PENDING}{{after}} "
    "ORDER BY r.event_id LIMIT 1)"
)
_PENDING_EVENT_IDS = (
    f"WITH RECURSIVE pending (event_id) AS (SELECT {_NEXT_PENDING.format(after='')} "
    f"UNION ALL SELECT {_NEXT_PENDING.format(after=' AND r.event_id > p.event_id')} "
    f"FROM pending p WHERE p.event_id IS NOT NULL) "
    "SELECT p.event_id FROM pending p WHERE p.event_id IS NOT NULL"
)
EVENTS_WITH_PENDING = Statement(
    f"SELECT x.event_id FROM ({_PENDING_EVENT_IDS}) x "
    # Each event's partition by its primary key: a join was planned as a scan of every event.
    f"WHERE (SELECT e.partition FROM {EVENT} e WHERE e.id = x.event_id) = %s ORDER BY x.event_id"
)
# A partition's round finds its events with pending commands and locks them in one statement.
# PostgreSQL: the ids as one array, so each event is read by its key (as ``IN (…)``, the events
# were planned as a scan of all of them); SQLite reads them by key either way.
LOCKED_EVENTS_WITH_PENDING = {
    vendor: JoinedRows(
        [(Event, "e")],
        f"{EVENT} e",
        f"{where} AND e.partition = %s ORDER BY e.id",
        lock=True,
    )
    for vendor, where in [
        ("postgresql", f"e.id = ANY (ARRAY({_PENDING_EVENT_IDS}))"),
        ("other", f"e.id IN ({_PENDING_EVENT_IDS})"),
    ]
}
# Once the events are locked: each one's seats booked or held and waitlisted requests, the
# generation of the partition's owner, its row locked FOR KEY SHARE until the round commits (a
# takeover's FOR UPDATE waits for the round; a round that waited for a takeover reads the new
# generation: PostgreSQL returns the newest version of a row it waited to lock), and the
# database's time then (the round's decision time). A statement of its own, started once the
# event locks are held: under READ COMMITTED it sees every commit that came before.
_SEATS = ", ".join(literal(status) for status in SEAT_HOLDING_STATUSES)
_FRESH_COUNTS = (
    f"SELECT x.id, COALESCE((SELECT SUM(b.seats) FROM {BOOKING} b WHERE b.event_id = x.id "
    f"AND b.status IN ({_SEATS})), 0), "
    f"(SELECT COUNT(*) FROM {REQUEST} r WHERE r.event_id = x.id "
    f"AND r.status = {literal(RequestStatus.WAITLISTED)}), "
    f"(SELECT o.generation FROM {OWNER} o WHERE o.partition = %s{{lock}}), {{clock}}, "
    f"(SELECT o.heartbeat_at IS NOT NULL FROM {OWNER} o WHERE o.partition = %s{{lock}}) "
    "FROM (SELECT {ids}) x"
)
FRESH_COUNTS = {
    "postgresql": Statement(
        _FRESH_COUNTS.format(
            lock=" FOR KEY SHARE", clock="clock_timestamp()", ids="unnest(%s::bigint[]) AS id"
        )
    ),
    # SQLite: the transaction holds the database's write lock from its start (BEGIN IMMEDIATE).
    "other": Statement(
        _FRESH_COUNTS.format(lock="", clock="NULL", ids="value AS id FROM json_each(%s)")
    ),
}
# Far above any batch: "every row" for the line's LIMIT.
NO_LIMIT = 2**31 - 1


def locked_events(event_ids: Sequence[int]) -> list[Event]:
    """The events' rows, locked, in id order (those found). One event's is a prepared
    statement (PostgreSQL)."""
    if len(event_ids) == 1:
        rows = LOCKED_EVENT.fetch([event_ids[0]])
    else:
        rows = LOCKED_EVENTS.fetch(list(event_ids), events=len(event_ids))
    return [event for (event,) in rows]


def _vendor() -> str:
    """Which of a statement's written-out forms this database takes."""
    return "postgresql" if connection.vendor == "postgresql" else "other"


def locked_events_with_pending(partition: int) -> list[Event]:
    """``locked_events`` of the partition's events with pending commands, found by the same
    statement (the events with a pending command are few of all events: the recursive walk
    of ``events_with_pending`` finds them, each event's row is then read by its key)."""
    statement = LOCKED_EVENTS_WITH_PENDING[_vendor()]
    return [event for (event,) in statement.fetch([partition])]


class Counted(NamedTuple):
    """What ``FRESH_COUNTS`` read once the events were locked: {event id: (seats booked or
    held, waitlisted requests)}, the partition owner's generation (None: no owner row, or no
    partition asked), the database's time (None on SQLite) and whether the partition is held:
    its owner took the lease and has not let go (it may be alive, paused or dead)."""

    counts: dict[int, tuple[int, int]]
    generation: int | None
    now: datetime | None
    held: bool


def fresh_counts(event_ids: Sequence[int], partition: int | None) -> Counted:
    """``FRESH_COUNTS`` for the locked events, and the owner of ``partition`` (locked)."""
    ids = list(event_ids) if _vendor() == "postgresql" else json.dumps(list(event_ids))
    owner = -1 if partition is None else partition
    rows = FRESH_COUNTS[_vendor()].fetchall([owner, owner, ids])
    counts = {event_id: (int(seats), int(waitlisted)) for event_id, seats, waitlisted, *_ in rows}
    generation = rows[0][3] if rows else None
    now = max((row[4] for row in rows if row[4] is not None), default=None)
    return Counted(counts, generation, now, bool(rows and rows[0][5]))


class InLine(NamedTuple):
    """A request in its event's line, with its requester's booking there and username (None if
    none: an organizer's command)."""

    request: BookingRequest
    booking: Booking | None
    username: str | None


def requests_in_line(event_id: int, status: str, limit: int = NO_LIMIT) -> list[InLine]:
    """The event's requests in ``status`` (pending, waitlisted), oldest first."""
    statement = REQUESTS_IN_LINE[_vendor()]
    return [InLine(*row) for row in statement.fetch([event_id, status, limit])]


def lines(sizes: dict[int, int]) -> dict[int, list[InLine]]:
    """The oldest ``size`` pending commands of each event (``{event id: size}``), oldest first;
    one statement on PostgreSQL, one per event elsewhere. Events with none are left out."""
    if connection.vendor != "postgresql":
        found = {e: requests_in_line(e, RequestStatus.PENDING, size) for e, size in sizes.items()}
        return {e: commands for e, commands in found.items() if commands}
    if len(sizes) == 1:
        [(event_id, size)] = sizes.items()
        commands = requests_in_line(event_id, RequestStatus.PENDING, size)
        return {event_id: commands} if commands else {}
    grouped: dict[int, list[InLine]] = {}
    for row in LINES.fetch([list(sizes), list(sizes.values())]):
        in_line = InLine(*row)
        grouped.setdefault(in_line.request.event_id, []).append(in_line)
    return grouped


def live_holds(customer_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """``{customer id: (live holds, held seats)}`` over all events, for the customers given
    (those with none are left out): the hold caps' reading, once per round with hold commands.
    By the (customer, event) key; holds granted meanwhile on other partitions are not seen."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.customer_id, COUNT(*), SUM(b.seats) FROM {BOOKING} b "
            f"WHERE b.customer_id IN ({placeholders(len(customer_ids))}) AND b.status = %s "
            "GROUP BY b.customer_id",
            [*customer_ids, BookingStatus.HELD],
        )
        return {customer: (int(count), int(seats)) for customer, count, seats in cursor}


def events_with_pending(partition: int) -> list[int]:
    return [row[0] for row in EVENTS_WITH_PENDING.fetchall([partition])]


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


class Decider(NamedTuple):
    """Who decides: the partition and lease generation it holds (None: outside the lease) and
    its process (``host:pid``), written on every request it decides."""

    partition: int | None
    generation: int | None
    holder: str


def update_requests(
    ids: Sequence[int],
    *,
    status: str,
    reason: str,
    message: str,
    decided_at: datetime,
    decider: Decider,
    bookings: Sequence[int] | None = None,
) -> None:
    """Settle requests (by ``decider``); with ``bookings`` (one booking id per request, in
    order), each is linked to its booking in the same statement.

    The links are given, not looked up: a lookup by (event, customer) per row was planned over
    statistics that predate the batch's new bookings and walked all of the event's bookings
    for each row (measured: 255 µs a row at 4,000 bookings, against 15 µs unlinked)."""
    params = [status, reason, message, _at(BookingRequest, "decided_at", decided_at), *decider]
    settled = (
        "status = %s, reason = %s, message = %s, decided_at = %s, decided_partition = %s, "
        "decided_generation = %s, decided_by = %s"
    )
    with connection.cursor() as cursor:
        if bookings is None:
            cursor.execute(
                f"UPDATE {REQUEST} SET {settled} WHERE id IN ({placeholders(len(ids))})",
                [*params, *ids],
            )
            return
        pairs = ", ".join(["(%s, %s)"] * len(ids))
        cursor.execute(
            f"WITH link (id, booking_id) AS (VALUES {pairs}) "
            f"UPDATE {REQUEST} SET {settled}, "
            f"booking_id = link.booking_id FROM link WHERE {REQUEST}.id = link.id",
            [*(value for pair in zip(ids, bookings, strict=True) for value in pair), *params],
        )


class Counters(NamedTuple):
    event_id: int
    seats_taken: int
    capacity: int
    waitlist_size: int


def update_events(counters: Sequence[Counters], *, now: datetime) -> None:
    """The events' counters (and ``updated_at``), in one statement for a round's events."""
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(counters))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH counters (id, seats_taken, capacity, waitlist_size) AS (VALUES {rows}) "
            f"UPDATE {EVENT} SET seats_taken = counters.seats_taken, "
            "capacity = counters.capacity, waitlist_size = counters.waitlist_size, "
            f"updated_at = %s FROM counters WHERE {EVENT}.id = counters.id",
            [*(value for row in counters for value in row), _at(Event, "updated_at", now)],
        )


def mark_event_cancelled(event_id: int, *, at: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {EVENT} SET deleted_at = %s WHERE id = %s",
            [_at(Event, "deleted_at", at), event_id],
        )
