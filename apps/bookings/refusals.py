"""The head of a line nobody can get a seat from, refused in one statement (partition worker).

At an open event that is full and keeps no waitlist (``rules.refuses_every_book``) each book
command's refusal depends only on the customer's booking there and the seats asked for, so a
backlog's refusals are written by one statement with their history rows instead of being read
and decided one by one (PostgreSQL). The commands from the first one of another kind, or the
first one its owner asked to withdraw (``rules.WITHDRAW``), go through the batch as usual.
"""

import json
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from apps.accounts.models import Organizer
from apps.audit.models import Action, HistoryPoint
from apps.bookings import rules
from apps.bookings.models import Booking, BookingStatus, CommandKind, Reason, RequestStatus
from apps.bookings.rules import MESSAGES
from apps.bookings.statements import BOOKING, REQUEST, Decider
from apps.core.rows import literal
from apps.events.models import Event
from apps.webhooks.models import WebhookSubscription

# The refusal ``rules.decide`` gives a book command at an open event that is full and keeps no
# waitlist (``rules.refuses_every_book``), by the customer's booking there and the seats asked
# for, in the order ``decide`` checks them.
_REFUSALS = [
    (f"b.status = {literal(BookingStatus.ACTIVE)}", Reason.DUPLICATE),
    (f"b.status = {literal(BookingStatus.HELD)}", Reason.ALREADY_HELD),
    ("q.seats > %(max_seats)s", Reason.TOO_MANY_SEATS),
]
_REFUSAL = (
    "CASE "
    + " ".join(f"WHEN {when} THEN {literal(reason)}" for when, reason in _REFUSALS)
    + f" ELSE {literal(Reason.SOLD_OUT)} END"
)
REFUSAL_REASONS = [*(reason for _, reason in _REFUSALS), Reason.SOLD_OUT]
_REFUSAL_MESSAGE = (
    "CASE d.reason "
    + " ".join(f"WHEN {literal(r)} THEN %(message_{r})s" for r in REFUSAL_REASONS)
    + " END"
)
# ``datetime.isoformat()`` of a UTC time stamp, as the decision's history details write it.
_ISO = (
    "to_char(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
    "|| CASE WHEN date_part('microseconds', f.created_at)::bigint %% 1000000 = 0 THEN '' "
    "ELSE to_char(f.created_at AT TIME ZONE 'UTC', '.US') END || '+00:00'"
)
PENDING, BOOK = literal(RequestStatus.PENDING), literal(CommandKind.BOOK)
# Each command's booking is joined on the command's own event column, not the event's id given
# as a value: planned for a value, statistics gathered before the event filled (a backlog fills it
# in its first batch) said the event had no bookings, and each command walked all of them.
REFUSE_HEAD_OF_LINE = f"""
WITH line AS (
    SELECT r.id, r.kind, r.payload ? {literal(rules.WITHDRAW)} AS withdrawn FROM {REQUEST} r
    WHERE r.event_id = %(event)s AND r.status = {PENDING} ORDER BY r.id LIMIT %(limit)s
), head AS (
    SELECT l.id FROM line l
    WHERE l.id < COALESCE(
        (SELECT min(n.id) FROM line n WHERE n.kind <> {BOOK} OR n.withdrawn), %(no_limit)s)
), commands AS (
    SELECT q.id, q.user_id, q.customer_id, q.event_id, q.seats
    FROM head h JOIN {REQUEST} q ON q.id = h.id
), heard AS (
    SELECT 1 FROM {WebhookSubscription._meta.db_table} s
    WHERE s.is_active AND s.event_types @> %(rejected)s::jsonb
    AND (s.owner_id IN (SELECT c.user_id FROM commands c)
         OR s.owner_id IN (SELECT o.user_id FROM {Organizer._meta.db_table} o
                           WHERE o.id = %(organizer)s))
), decided AS (
    SELECT q.id, b.id AS booking_id, {_REFUSAL} AS reason
    FROM commands q
    LEFT JOIN {BOOKING} b ON b.customer_id = q.customer_id AND b.event_id = q.event_id
    WHERE NOT EXISTS (SELECT 1 FROM heard)
), refused AS (
    UPDATE {REQUEST} r SET status = {literal(RequestStatus.REJECTED)}, reason = d.reason,
        message = {_REFUSAL_MESSAGE}, decided_at = %(now)s, booking_id = d.booking_id,
        decided_partition = %(partition)s, decided_generation = %(generation)s,
        decided_by = %(holder)s
    FROM decided d WHERE r.id = d.id
    RETURNING r.id, r.uid, r.user_id, r.created_at, r.reason, r.booking_id
), history AS (
    INSERT INTO {HistoryPoint._meta.db_table}
        (user_id, action, content_type_id, object_id, details, created_at)
    SELECT f.user_id, {literal(Action.BOOKING_REJECTED)},
        CASE WHEN f.booking_id IS NULL THEN %(event_type)s ELSE %(booking_type)s END,
        COALESCE(f.booking_id, %(event)s)::text,
        jsonb_build_object('request', f.uid::text, 'kind', {BOOK},
            'status', {literal(RequestStatus.REJECTED)}, 'reason', f.reason,
            'event', %(event)s::bigint, 'requested_at', {_ISO}),
        %(now)s
    FROM refused f ORDER BY f.id
)
SELECT f.id, f.uid::text, f.created_at, f.reason FROM refused f ORDER BY f.id
"""


class Refused(NamedTuple):
    """A book command refused with the head of its line (what metrics and logs read; the id
    as text, for the log line: parsing thousands of UUIDs a backlog was not free)."""

    id: int
    uid: str
    created_at: datetime
    reason: str
    decided_at: datetime
    kind: str = CommandKind.BOOK
    status: str = RequestStatus.REJECTED


def refuse_in_one_statement(
    event: Event, *, limit: int, now: datetime, decider: Decider
) -> list[Refused]:
    """Refuse, in one statement, the run of book commands at the head of the event's line (up to
    ``limit``), with their history rows, as the decision batch would one by one: for an open,
    full event that keeps no waitlist (``rules.refuses_every_book``, the caller's check) each
    answer depends only on the customer's booking and the seats asked for. PostgreSQL only.
    Nothing is refused (an empty list) when a subscription could hear of these refusals
    (``booking.rejected``): those go through the batch, which writes their deliveries."""
    with connection.cursor() as cursor:
        cursor.execute(
            REFUSE_HEAD_OF_LINE, refusal_params(event, limit=limit, now=now, decider=decider)
        )
        return [Refused(*row, decided_at=now) for row in cursor.fetchall()]


def refusal_params(event: Event, *, limit: int, now: datetime, decider: Decider) -> dict:
    """``REFUSE_HEAD_OF_LINE``'s parameters for the event's line."""
    return {
        **decider._asdict(),
        "event": event.pk,
        "limit": limit,
        "no_limit": NO_LIMIT_ID,
        "max_seats": event.max_seats_per_booking,
        "rejected": json.dumps(["booking.rejected"]),
        "organizer": event.creator_id,
        "now": now,
        "event_type": ContentType.objects.get_for_model(Event).pk,
        "booking_type": ContentType.objects.get_for_model(Booking).pk,
        **{f"message_{reason}": MESSAGES[reason] for reason in REFUSAL_REASONS},
    }


NO_LIMIT_ID = 2**63 - 1


def refuse_head_of_line(
    event: Event, *, limit: int, now: datetime, decider: Decider
) -> list[Refused]:
    """At an open event that is full and keeps no waitlist, every book command is refused
    whoever sent it: the run of them at the head of the line (up to ``limit``) is refused in one
    statement (PostgreSQL, ``BOOKING_SET_BASED_REFUSALS``), not read and decided one by one."""
    if not settings.BOOKING_SET_BASED_REFUSALS or connection.vendor != "postgresql":
        return []
    if not rules.refuses_every_book(rules.state_of(event), now):
        return []
    return refuse_in_one_statement(event, limit=limit, now=now, decider=decider)
