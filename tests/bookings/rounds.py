"""A partition round over several events whose customers overlap, run by the unit tests (SQLite)
and on PostgreSQL (``tests/integration/test_decision_statements.py``): the round reads every
event's row together, and its line with its customers' bookings together, and each event must
still see only its own."""

import re
from collections import Counter

from django.db import connection

from apps.bookings import statements
from apps.bookings.commands import request_command
from apps.bookings.decisions import decide_partition
from apps.bookings.models import Booking
from apps.events.models import Event
from tests.factories import CustomerFactory, EventFactory

# Beyond any stack's BOOKING_PARTITIONS: on a running stack's database (PostgreSQL) no worker
# consumes it and the sweeper never rings it, so the round below is the only decider of its events.
PARTITION = 100

# What each command of the round is decided as, in the order they were sent.
EXPECTED = [
    ("a", "x", "book", "rejected", "duplicate"),  # x holds a seat at a already
    ("b", "x", "cancel", "confirmed", "cancelled"),  # frees a seat at b...
    ("b", "w", "book", "confirmed", "booked"),  # ...that w, next in line, takes
    ("b", "z", "book", "waitlisted", "waitlisted"),  # b is full again
    ("c", "x", "book", "confirmed", "booked"),  # x's bookings at a and b are not at c
    ("c", "y", "book", "rejected", "sold_out"),
    ("a", "z", "book", "confirmed", "booked"),
]


def mixed_round() -> dict:
    """Three events on one partition; x has bookings at a and b, y at b. Then one command per
    line of ``EXPECTED`` and one ``decide_partition``: the outcomes, and the statements the
    round sent by kind."""
    events = {
        "a": EventFactory(capacity=2),
        "b": EventFactory(capacity=2, waitlist_enabled=True),
        "c": EventFactory(capacity=1),
    }
    Event.objects.filter(pk__in=[e.pk for e in events.values()]).update(partition=PARTITION)
    customers = {name: CustomerFactory() for name in "xyzw"}
    for event, customer in (("a", "x"), ("b", "x"), ("b", "y")):
        send(events[event], customers[customer], "book")
    decide_partition(partition=PARTITION)

    commands = [send(events[e], customers[c], kind) for e, c, kind, *_ in EXPECTED]
    statements: Counter = Counter()

    def spot(execute, sql, params, many, context):
        statements.update(kinds_of(sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spot):
        decided = decide_partition(partition=PARTITION)
    for command in commands:
        command.refresh_from_db()
    return {
        "decided": decided,
        "outcomes": [
            [e, c, kind, command.status, command.reason]
            for (e, c, kind, *_), command in zip(EXPECTED, commands, strict=True)
        ],
        "statements": dict(statements),
        "seats_taken": {n: Event.objects.get(pk=e.pk).seats_taken for n, e in events.items()},
    }


def send(event, customer, kind: str):
    """A command of ``kind`` (book, or one on the customer's booking at the event)."""
    booking = None
    if kind != "book":
        booking = Booking.objects.get(event=event, customer=customer).pk
    return request_command(
        user_id=customer.user_id,
        event=event,
        kind=kind,
        customer_id=customer.pk,
        booking_id=booking,
    )[0]


def kinds_of(sql: str) -> list[str]:
    """The round's reads by what they read: the events (locked), their rows' counts (read once
    the locks are held), the lines of pending commands (with their customers' bookings), the
    customers' bookings read apart (none: they come with the lines). A prepared statement is
    named by its ``EXECUTE``."""
    if sql.startswith("PREPARE"):
        return []
    prepared = {
        statements.LOCKED_EVENT.name: "events",
        statements.LOCKED_EVENTS.name: "events",
        statements.LOCKED_EVENTS_WITH_PENDING["postgresql"].name: "events",
        statements.FRESH_COUNTS["postgresql"].name: "counts",
        statements.FRESH_COUNTS["other"].name: "counts",
        statements.REQUESTS_IN_LINE["postgresql"].name: "lines",
        statements.LINES.name: "lines",
    }
    found = re.match(r"EXECUTE (\w+)", sql)
    if found:
        return [prepared[found[1]]] if found[1] in prepared else []
    # The counts' statement reads bookings in a subquery: tested first.
    for kind, pattern in (
        ("counts", r"FROM \(SELECT value AS id FROM json_each"),
        ("events", r'FROM "?events_event"? e WHERE e\.id (IN \(|= %s)'),
        ("lines", r"FROM \S*bookings_bookingrequest\S* r (LEFT JOIN .* )?WHERE r\.event_id"),
        ("bookings", r'FROM "?bookings_booking"? b WHERE b\.event_id'),
    ):
        if re.search(pattern, sql):
            return [kind]
    return []
