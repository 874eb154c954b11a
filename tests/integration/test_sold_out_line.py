"""A line nobody can get a seat from (the event full, no waitlist) is refused in one statement on
PostgreSQL: the same answers, links, messages and history rows as the batch deciding each
command, for every kind of customer (none, active, held, cancelled, expired, too many seats);
the run stops at the first command that is not a booking (what follows is decided in order); and
refusals someone listens to (``booking.rejected``) go through the batch, with their deliveries."""

import pytest

from devtools.stack import shell_json

pytestmark = pytest.mark.servers

CODE = """
import json
from datetime import timedelta
from django.conf import settings
from django.db import connection
from django.utils import timezone
from apps.accounts.models import Customer
from apps.accounts.tokens import user_ids_for_keys
from apps.audit.models import HistoryPoint
from apps.bookings.decisions import decide_pending
from apps.bookings.models import Booking, BookingRequest, BookingStatus, CommandKind
from apps.events.models import Event
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.subscriptions import create_subscription

seeded = json.loads({seeded!r})
users = user_ids_for_keys(seeded["tokens"])
customers = list(Customer.objects.filter(user_id__in=users).order_by("pk"))
soon = timezone.now() + timedelta(minutes=5)

def line(event):
    Event.objects.filter(pk=event.pk).update(seats_taken=2, max_seats_per_booking=2)
    for n, status in [(1, BookingStatus.ACTIVE), (2, BookingStatus.HELD),
                      (3, BookingStatus.CANCELLED), (5, BookingStatus.EXPIRED)]:
        Booking.objects.create(customer=customers[n], event=event, status=status, seats=1,
                               expires_at=soon if status == BookingStatus.HELD else None)
    commands = [(CommandKind.BOOK, n, 1) for n in range(4)]
    commands += [(CommandKind.BOOK, 4, 5), (CommandKind.BOOK, 5, 1), (CommandKind.CANCEL, 1, 1),
                 (CommandKind.BOOK, 6, 1)]
    for kind, n, seats in commands:
        BookingRequest.objects.create(kind=kind, user_id=customers[n].user_id,
            customer=customers[n], event=event, seats=seats, fingerprint=f"{{kind}}-{{n}}")
    # Its owner asked to withdraw it (DELETE): withdrawn, not refused with the others.
    BookingRequest.objects.filter(event=event, customer=customers[3]).update(
        payload={{"withdraw": True}})

def outcome(event):
    who = {{c.pk: n for n, c in enumerate(customers)}}
    bookings = {{b.pk: who[b.customer_id] for b in Booking.objects.filter(event=event)}}
    rows = []
    for r in BookingRequest.objects.filter(event=event).order_by("pk"):
        history = []
        for h in HistoryPoint.objects.filter(details__request=str(r.uid)).order_by("pk"):
            details = dict(h.details)
            assert details.pop("request") == str(r.uid)
            assert details.pop("event") == event.pk
            assert details.pop("requested_at") == r.created_at.isoformat()
            target = (bookings[int(h.object_id)] if h.content_type.model == "booking"
                      else "event" if int(h.object_id) == event.pk else h.object_id)
            mine = h.user_id == r.user_id
            history.append([h.action, h.content_type.model, target, details, mine])
        rows.append([r.kind, r.status, r.reason, r.message,
                     bookings.get(r.booking_id), r.decided_at is not None, history])
    event.refresh_from_db()
    return {{"requests": rows, "seats_taken": event.seats_taken}}

statements = []
def spot(execute, sql, params, many, context):
    if "WITH line AS" in sql:
        statements.append(sql)
    return execute(sql, params, many, context)

events = list(Event.objects.filter(pk__in=seeded["events"]).order_by("pk"))
found = {{}}
for event, set_based, heard in [(events[0], True, False), (events[1], False, False),
                                (events[2], True, True)]:
    line(event)
    subscription = None
    if heard:
        owner = event.creator.user_id
        subscription = create_subscription(owner_id=owner, url="http://127.0.0.1:9/hook",
                                           event_types=["booking.rejected"])
    settings.BOOKING_SET_BASED_REFUSALS = set_based
    statements.clear()
    with connection.execute_wrapper(spot):
        decided = decide_pending(event_id=event.pk)
    heard_of = 0
    if subscription is not None:
        heard_of = WebhookDelivery.objects.filter(
            subscription=subscription, event_type="booking.rejected").count()
        subscription.delete()
    found[str(event.pk)] = {{"decided": decided, "one_statement": len(statements),
                            "rejected_deliveries": heard_of, **outcome(event)}}
print(json.dumps(found))
"""


def test_a_sold_out_line_is_refused_in_one_statement_as_one_by_one(postgres_shell):
    seeded = postgres_shell.manage(
        "seed_crowd", "--customers", "7", "--capacity", "2", "--events", "3"
    )

    found = shell_json(postgres_shell, CODE.format(seeded=seeded.strip().splitlines()[-1]))

    set_based, one_by_one, heard = found.values()
    assert set_based["one_statement"] == 1  # the run of book commands up to the withdrawn one
    assert one_by_one["one_statement"] == 0
    assert set_based["decided"] == one_by_one["decided"] == heard["decided"] == 8
    assert set_based["requests"] == one_by_one["requests"] == heard["requests"]
    reasons = [row[:3] for row in one_by_one["requests"]]
    assert reasons == [
        ["book", "rejected", "sold_out"],
        ["book", "rejected", "duplicate"],
        ["book", "rejected", "already_held"],
        ["book", "withdrawn", "withdrawn"],  # its owner's DELETE came first
        ["book", "rejected", "too_many_seats"],
        ["book", "rejected", "sold_out"],
        ["cancel", "confirmed", "cancelled"],  # frees a seat:
        ["book", "confirmed", "booked"],  # decided in order, after the cancellation
    ]
    # Refusals name the customer's booking there (any status), and their history targets it.
    assert [row[4] for row in one_by_one["requests"][:6]] == [None, 1, 2, 3, None, 5]
    assert set_based["seats_taken"] == one_by_one["seats_taken"] == 2
    # Someone listens to refusals: each is delivered (the batch wrote them, not the statement).
    assert heard["rejected_deliveries"] == 5  # the withdrawn one is no refusal


PLAN = """
import json
from django.db import connection, transaction
from django.utils import timezone
from apps.bookings import refusals, statements
from apps.bookings.models import Booking, BookingRequest, CommandKind
from apps.events.models import Event
from tests.integration.plans import crowd_customers, nodes, rows_walked_past

seeded = json.loads({seeded!r})
first, second = Event.objects.filter(pk__in=seeded["events"]).order_by("pk")
booked, refused = crowd_customers(seeded)[:300], crowd_customers(seeded)[300:]

with transaction.atomic():  # all taken back: the stack's other tests see none of it
    Booking.objects.bulk_create([Booking(customer=c, event=first, seats=1) for c in booked])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE bookings_booking")
    # The second event fills after the statistics were gathered (as a backlog's batch does).
    Booking.objects.bulk_create([Booking(customer=c, event=second, seats=1) for c in booked])
    Event.objects.filter(pk=second.pk).update(seats_taken=300)
    BookingRequest.objects.bulk_create([BookingRequest(kind=CommandKind.BOOK,
        user_id=c.user_id, customer=c, event=second) for c in refused])
    second.refresh_from_db()
    params = refusals.refusal_params(
        second, limit=500, now=timezone.now(), decider=statements.Decider(None, None, "")
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + refusals.REFUSE_HEAD_OF_LINE, params)
        [plan] = cursor.fetchone()[0]
    transaction.set_rollback(True)
[update] = [n for n in nodes(plan["Plan"]) if n.get("Operation") == "Update"]
print(json.dumps({{
    "refused": update["Actual Rows"],
    "rows_walked_past": rows_walked_past(plan),
}}))
"""


def test_each_refusal_finds_its_customers_booking_by_index_on_stale_statistics(postgres_shell):
    """The customer's booking at the event is looked up by (customer, event), one index probe per
    command, even where the statistics predate the event's bookings (they said: none there, so
    walking the event's bookings per command looked cheap: 100 commands × 300 bookings)."""
    seeded = postgres_shell.manage(
        "seed_crowd", "--customers", "400", "--capacity", "300", "--events", "2"
    )

    found = shell_json(postgres_shell, PLAN.format(seeded=seeded.strip().splitlines()[-1]))

    assert found == {"refused": 100, "rows_walked_past": 0}
