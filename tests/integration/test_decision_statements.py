"""The decision batch's written-out statements on PostgreSQL, at batch sizes a backlog reaches:
which events of a partition have pending commands, and each decided request linked to its own
booking (given, not looked up: the statistics of a batch's new bookings are not known yet)."""

import pytest

from devtools.stack import shell_json
from tests.bookings.rounds import EXPECTED

pytestmark = pytest.mark.servers

CODE = """
import json
from django.db import connection
from apps.accounts.models import Customer
from apps.accounts.tokens import user_ids_for_keys
from apps.bookings import statements
from apps.bookings.decisions import decide_partition
from apps.bookings.models import BookingRequest, CommandKind
from apps.events.models import Event

seeded = json.loads({seeded!r})
events = list(Event.objects.filter(pk__in=seeded["events"]).order_by("pk"))
Event.objects.filter(pk__in=[e.pk for e in events[:2]]).update(partition=5)
Event.objects.filter(pk=events[2].pk).update(partition=6)
customers = list(Customer.objects.filter(user_id__in=user_ids_for_keys(seeded["tokens"])))
BookingRequest.objects.bulk_create([BookingRequest(kind=CommandKind.BOOK, user_id=c.user_id,
    customer=c, event=e) for e in events for c in customers])
found = {{p: statements.events_with_pending(p) for p in (5, 6, 7)}}
decided = decide_partition(partition=5)
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT r.status, count(*), count(r.booking_id), count(b.id) "
        "FROM bookings_bookingrequest r LEFT JOIN bookings_booking b "
        "ON b.id = r.booking_id AND b.customer_id = r.customer_id AND b.event_id = r.event_id "
        "WHERE r.event_id IN %s GROUP BY r.status ORDER BY r.status",
        [tuple(e.pk for e in events[:2])],
    )
    links = cursor.fetchall()
print(json.dumps({{"events": [e.pk for e in events], "found": found, "decided": decided,
                  "links": links, "after": statements.events_with_pending(5)}}))
"""


def test_a_partitions_events_with_pending_and_links_at_backlog_batch_sizes(postgres_shell):
    seeded = postgres_shell.manage(
        "seed_crowd", "--customers", "700", "--capacity", "600", "--events", "3"
    )

    found = shell_json(postgres_shell, CODE.format(seeded=seeded.strip().splitlines()[-1]))

    first, second, third = found["events"]
    assert found["found"] == {"5": [first, second], "6": [third], "7": []}
    assert found["decided"] == 1400 and found["after"] == []
    # Every confirmed request names its customer's booking for its event; refusals name none.
    assert found["links"] == [["confirmed", 1200, 1200, 1200], ["rejected", 200, 0, 0]]


ROUND = """
import json
import apps.bookings.commands
apps.bookings.commands.ring_doorbell = lambda **kwargs: True  # this shell decides, not a worker
from tests.bookings.rounds import mixed_round
print(json.dumps(mixed_round()))
"""


def test_a_round_reads_its_events_and_its_lines_with_their_bookings_in_one_statement_each(
    postgres_shell,
):
    found = shell_json(postgres_shell, ROUND)

    assert found["outcomes"] == [list(line) for line in EXPECTED]
    assert found["seats_taken"] == {"a": 2, "b": 2, "c": 1}
    assert found["statements"] == {"events": 1, "counts": 1, "lines": 1}


LINE_PLAN = """
import json
from django.db import connection, transaction
from apps.bookings import statements
from apps.bookings.models import Booking, BookingRequest, CommandKind
from apps.events.models import Event
from tests.integration.plans import crowd_customers, rows_walked_past

seeded = json.loads({seeded!r})
event, *others = Event.objects.filter(pk__in=seeded["events"]).order_by("pk")
customers = crowd_customers(seeded)
booked, waiting = customers[:300], customers[300:]

with transaction.atomic():  # all taken back: the stack's other tests see none of it
    Booking.objects.bulk_create([Booking(customer=c, event=event, seats=1) for c in booked])
    # The waiting customers are regulars: bookings at every other event.
    Booking.objects.bulk_create(
        [Booking(customer=c, event=e, seats=1) for c in waiting for e in others])
    BookingRequest.objects.bulk_create([BookingRequest(kind=CommandKind.BOOK,
        user_id=c.user_id, customer=c, event=event) for c in waiting])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    line = statements.requests_in_line(event.pk, "pending")  # prepares the statement
    name = statements.REQUESTS_IN_LINE["postgresql"].name
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {{name}} (%s, 'pending', 500)",
                       [event.pk])
        [plan] = cursor.fetchone()[0]
    transaction.set_rollback(True)
print(json.dumps({{
    "line": len(line),
    "with_username": sum(1 for _, _, username in line if username),
    "rows_walked_past": rows_walked_past(plan),
}}))
"""


def test_a_lines_commands_find_their_bookings_by_key_in_the_generic_plan(postgres_shell):
    """Each command's booking is one probe of the (customer, event) key, even in the prepared
    statement's generic plan. Joined directly, the planner knew the event from the line's
    condition: it read all of the event's bookings for each command on one grown database, and
    here, where the customers are regulars with bookings at 39 other events, all of each
    customer's (3,900 rows read and dropped for 100 commands)."""
    seeded = postgres_shell.manage(
        "seed_crowd", "--customers", "400", "--capacity", "400", "--events", "40"
    )

    found = shell_json(postgres_shell, LINE_PLAN.format(seeded=seeded.strip().splitlines()[-1]))

    assert found == {"line": 100, "with_username": 100, "rows_walked_past": 0}
