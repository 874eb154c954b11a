"""The OLD design, kept only as the benchmark's baseline: decide the booking inside the HTTP
request, holding a row lock on the event (``SELECT … FOR UPDATE``) until the decision commits.

For an honest comparison it shares everything with the new design but the design itself: the
same tables and constraints, the same rules (``rules.decide``), the same writes for a confirmed
booking (the booking, the seat counter, a history row, a delivery per matching webhook
subscription, handed to the webhooks queue after commit), the same HTTP stack (DRF view, token
authentication, the per-user rate limit, the error handler) and the same statement style as the
new accept path (one written-out statement per step, rows through ``insert_rows``).

The same shortcuts as the new design, too: a book for an event that is full, keeps no waitlist
and has nothing pending that could free a seat is refused at the same door, from the same
unlocked read (``commands.event_and_line``, ``commands.refuse_at_the_door``), without taking the
lock; the statements under the lock are prepared once per session where the new design's are
(PostgreSQL, ``DATABASE_PREPARED_STATEMENTS``: the locked event read, the customer's booking,
the reactivation, the seat counter; multi-row inserts are prepared in neither design); the
event is locked ``FOR NO KEY UPDATE``, as the new design's worker locks it; and webhook payloads
take the customer's username from the authenticated request, not from a read under the lock. A
refusal under the lock (a seat taken meanwhile, a duplicate) rolls back and writes nothing.

Every request for one event queues on that row lock while holding a database connection and a
web thread. Each answer carries how long this request held the lock and how many statements it
sent meanwhile (``Bench-Lock-Hold-Us``, ``Bench-Lock-Statements``): the benchmark's model of
the design's ceiling, ``1 / hold``, is built from them.
"""

import time
import uuid
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsCustomer
from apps.audit.services import record_batch
from apps.bookings import commands, rules
from apps.bookings.ledger import HISTORY_ACTIONS
from apps.bookings.models import Booking, BookingRequest, CommandKind
from apps.bookings.outcomes import WEBHOOK_EVENT_TYPES, Outcome, outcome_data
from apps.bookings.serializers import book_request, booking_body
from apps.core.bulk import insert_rows
from apps.core.exceptions import Conflict
from apps.core.rows import JoinedRows, Statement
from apps.core.throttling import CommandThrottle
from apps.events.models import Event
from apps.webhooks import deliveries as webhooks

# Written out and prepared like the new design's statements (``apps.core.rows``).
LOCKED_EVENT = JoinedRows(
    [(Event, "e")], f"{Event._meta.db_table} e", "e.id = %s AND e.deleted_at IS NULL", lock=True
)
BOOKING = Statement(
    f"SELECT id, status, created_at FROM {Booking._meta.db_table} "
    "WHERE event_id = %s AND customer_id = %s"
)
REACTIVATE = Statement(
    f"UPDATE {Booking._meta.db_table} "
    "SET status = %s, seats = %s, cancelled_at = NULL, updated_at = %s WHERE id = %s RETURNING id"
)
COUNTER = Statement(
    f"UPDATE {Event._meta.db_table} SET seats_taken = seats_taken + %s, updated_at = %s "
    "WHERE id = %s RETURNING seats_taken"
)
BOOKING_FIELDS = ("customer", "event", "status", "seats", "created_at", "updated_at")
SEATS = 1  # the bench books one seat a request, in both designs


class _Statements:
    """Counts the statements sent while the lock is held (an execute wrapper)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


class LegacyBookView(APIView):
    """POST {"event": id} → 201 with the booking, or 409 with the reason (sold_out, duplicate)."""

    permission_classes = [IsAuthenticated, IsCustomer]
    # The same rate limit as the new design's booking endpoint, with the same rule: it counts
    # the bookings that would be written, not the refusals. This design knows which is which
    # only under the lock, so a booking is counted there (``_count_booking``), before its writes.
    throttle_classes = [CommandThrottle]

    def get_throttles(self):
        return []

    def _count_booking(self) -> None:
        for throttle in super().get_throttles():
            if not throttle.allow_request(self.request, self):
                self.throttled(self.request, throttle.wait())

    def post(self, request):
        event_id, _seats = book_request(request.data)
        customer = request.user.customer_profile
        # The new design's door: refused from one unlocked read when nothing can change it.
        event, line = commands.event_and_line(
            event_id=event_id, customer_id=customer.pk, seats=SEATS
        )
        commands.refuse_at_the_door(event=event, line=line, seats=SEATS)
        statements = _Statements()
        with connection.execute_wrapper(statements):
            try:
                with transaction.atomic():
                    found = LOCKED_EVENT.fetch([event_id])
                    locked_at, statements.count = time.perf_counter(), 0
                    if not found:
                        raise commands.no_such_event(event_id)
                    event = found[0][0]
                    booking = _decide(event, customer, request.user, self._count_booking)
            except Conflict:
                self.lock_held = time.perf_counter() - locked_at, statements.count
                raise
        self.lock_held = time.perf_counter() - locked_at, statements.count
        body = booking_body(
            booking, event_title=event.title, customer_username=request.user.username
        )
        return Response(body, status=status.HTTP_201_CREATED)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        held = getattr(self, "lock_held", None)
        if held is not None:
            response["Bench-Lock-Hold-Us"] = str(round(held[0] * 1e6))
            response["Bench-Lock-Statements"] = str(held[1])
        return response


def _decide(event: Event, customer, user, count: Callable[[], None]) -> Booking:
    """Under the event's row lock: the rules decide; a refusal raises (and rolls back), a
    booking is counted against the rate limit (``count`` raises over it, and nothing is
    written) and writes what the new design's worker writes for it."""
    now = timezone.now()
    user_id = user.pk
    found = BOOKING.fetchall([event.pk, customer.pk])
    row = found[0] if found else None
    decision = rules.decide(
        kind=CommandKind.BOOK,
        event=rules.state_of(event),
        now=now,
        booking_status=row[1] if row else None,
    )
    if decision.booking_status is None:
        raise Conflict(decision.message, code=decision.reason)
    count()
    booking = Booking(
        customer_id=customer.pk, event_id=event.pk, status=decision.booking_status, seats=SEATS
    )
    booking.created_at = row[2] if row else now
    booking.updated_at = now
    if row:
        booking.pk = row[0]
        REACTIVATE.fetchall([decision.booking_status, SEATS, now, booking.pk])
    else:
        (booking.pk,) = insert_rows(
            Booking,
            BOOKING_FIELDS,
            [(customer.pk, event.pk, booking.status, SEATS, now, now)],
            returning_ids=True,
        )
    COUNTER.fetchall([decision.seat_delta, now, event.pk])
    # The request as the new design would show it: the decision is the request here, so it is
    # not stored, but subscribers and history hear of it in the same shape.
    shown = BookingRequest(
        uid=uuid.uuid4(),
        kind=CommandKind.BOOK,
        user_id=user_id,
        customer_id=customer.pk,
        event_id=event.pk,
        booking=booking,
        status=decision.status,
        reason=decision.reason,
        message=decision.message,
        created_at=now,
        decided_at=now,
    )
    shown.customer_username = user.username  # webhook payloads: no read of it under the lock
    details = {
        "request": str(shown.uid),
        "kind": CommandKind.BOOK,
        "status": decision.status,
        "reason": decision.reason,
        "event": event.pk,
        "requested_at": now.isoformat(),
    }
    record_batch([(user_id, HISTORY_ACTIONS[decision.reason], booking, details)], at=now)
    event_type = WEBHOOK_EVENT_TYPES[(CommandKind.BOOK, decision.status)]
    webhooks.create_deliveries(
        batches=[(event, [Outcome(event_type, shown, booking)])], describe=outcome_data
    )
    return booking
