"""Two sessions interleaved on PostgreSQL, step by step: one holds a lock (and commits) while
the other's decision round, or takeover, waits for it. Run in a Django shell of a migrated
database of their own (``tests/integration/test_fencing.py``); each scenario returns what it saw
as a dict. Whether the other side waits is read from ``pg_stat_activity``, never slept on."""

import threading

import psycopg2
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from apps.bookings import statements
from apps.bookings.commands import request_command
from apps.bookings.decisions import decide_partition
from apps.bookings.invariants import check_invariants
from apps.bookings.models import Booking, BookingRequest, CommandKind
from apps.events.models import Event
from apps.partitions.models import PartitionGrant
from apps.partitions.services import PartitionLost, claim_partition, record_heartbeat
from devtools.stack import poll
from tests.factories import CustomerFactory, EventFactory, OrganizerFactory, UserFactory

# No worker runs on these databases; each scenario takes a partition of its own.
SEATS, AFTER_A_LOCK_WAIT, BEHIND_A_TAKEOVER, IN_FLIGHT = 1, 2, 3, 4
WAIT_SECONDS = 60


class Side:
    """A call run in a thread of its own, on a database session of its own whose backend pid is
    known before the call starts."""

    def __init__(self, call):
        self.pid = None
        self.result = self.error = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()
        self._started.wait(WAIT_SECONDS)

    def _run(self, call) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self._started.set()
            self.result = call()
        except Exception as error:  # noqa: BLE001 - reported to the scenario
            self.error = error
        finally:
            self._started.set()
            connection.close()

    def waits_on_a_lock(self) -> None:
        def waiting() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                    [self.pid],
                )
                row = cursor.fetchone()
            return bool(row and row[0])

        poll(waiting, timeout=WAIT_SECONDS, interval=0.01, what=f"session {self.pid} to wait")

    def join(self) -> "Side":
        self._thread.join(WAIT_SECONDS)
        if self._thread.is_alive():
            raise TimeoutError("the other side never finished")
        return self


def raw_session():
    """A session outside Django's, to hold a lock across the other side's steps."""
    db = settings.DATABASES["default"]
    return psycopg2.connect(
        dbname=db["NAME"],
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
    )


def one_pending_book(partition: int, *, capacity: int, seats: int = 1):
    # Each scenario runs in a shell of its own on a shared database: names past those taken.
    taken = get_user_model().objects.count()
    for made in (OrganizerFactory, CustomerFactory, UserFactory):
        made.reset_sequence(taken)
    event = EventFactory(capacity=capacity)
    Event.objects.filter(pk=event.pk).update(partition=partition)
    event.refresh_from_db()
    customer = CustomerFactory()
    command, _ = request_command(
        user_id=customer.user_id,
        event=event,
        kind=CommandKind.BOOK,
        customer_id=customer.pk,
        seats=seats,
    )
    return event, command


def seats_booked_while_a_round_waits() -> dict:
    """Another session locks the event, books 4 of its 5 seats and commits while a round that
    has a book of 2 seats to decide waits for the lock: the round must count the 4."""
    event, command = one_pending_book(SEATS, capacity=5, seats=2)
    other = raw_session()
    with other.cursor() as cursor:
        cursor.execute("SELECT id FROM events_event WHERE id = %s FOR NO KEY UPDATE", [event.pk])
        cursor.execute(
            "INSERT INTO bookings_booking (customer_id, event_id, status, seats, created_at, "
            "updated_at) VALUES (%s, %s, 'active', 4, now(), now())",
            [CustomerFactory().pk, event.pk],
        )
        cursor.execute("UPDATE events_event SET seats_taken = 4 WHERE id = %s", [event.pk])
    round_ = Side(lambda: decide_partition(partition=SEATS))
    round_.waits_on_a_lock()
    other.commit()
    other.close()
    round_.join()
    return {
        "error": repr(round_.error) if round_.error else None,
        **_seen(event, command),
    }


def takeover_while_a_round_waits_for_an_event() -> dict:
    """The owner's round waits for an event's lock; meanwhile the partition is taken over
    (committed). The round must find it lost and decide nothing."""
    old = claim_partition(partition=AFTER_A_LOCK_WAIT, host="old-host", pid=1)
    event, command = one_pending_book(AFTER_A_LOCK_WAIT, capacity=5)
    blocker = raw_session()
    with blocker.cursor() as cursor:
        cursor.execute("SELECT id FROM events_event WHERE id = %s FOR NO KEY UPDATE", [event.pk])
    round_ = Side(lambda: decide_partition(partition=AFTER_A_LOCK_WAIT, owner_generation=old))
    round_.waits_on_a_lock()
    new = claim_partition(partition=AFTER_A_LOCK_WAIT, host="new-host", pid=2)
    blocker.rollback()
    blocker.close()
    round_.join()
    return _fenced(round_, event, command, old, new)


def round_behind_an_uncommitted_takeover() -> dict:
    """A takeover holds the owner row (not committed yet) when the old owner's round starts: the
    round waits for it, then finds the new generation and decides nothing."""
    old = claim_partition(partition=BEHIND_A_TAKEOVER, host="old-host", pid=1)
    event, command = one_pending_book(BEHIND_A_TAKEOVER, capacity=5)
    claimed, finish = threading.Event(), threading.Event()

    def takeover() -> int:
        with transaction.atomic():
            generation = claim_partition(partition=BEHIND_A_TAKEOVER, host="new-host", pid=2)
            claimed.set()
            finish.wait(WAIT_SECONDS)
        return generation

    taker = Side(takeover)
    claimed.wait(WAIT_SECONDS)
    round_ = Side(lambda: decide_partition(partition=BEHIND_A_TAKEOVER, owner_generation=old))
    round_.waits_on_a_lock()
    finish.set()
    taker.join()
    round_.join()
    return _fenced(round_, event, command, old, taker.result)


def takeover_behind_a_round_in_flight() -> dict:
    """A takeover that starts while a round is deciding waits for the round to commit: the
    round's decisions carry the old generation and precede the new grant."""
    old = claim_partition(partition=IN_FLIGHT, host="old-host", pid=1)
    event, command = one_pending_book(IN_FLIGHT, capacity=5)
    reading, go_on = threading.Event(), threading.Event()
    lines = statements.lines

    def lines_held_open(sizes):
        reading.set()
        go_on.wait(WAIT_SECONDS)
        return lines(sizes)

    statements.lines = lines_held_open
    try:
        round_ = Side(lambda: decide_partition(partition=IN_FLIGHT, owner_generation=old))
        reading.wait(WAIT_SECONDS)
        # The owner's heartbeat (a plain UPDATE of the row the round holds FOR KEY SHARE) does
        # not wait for the round: it would block here (and time out) if it did.
        beat = Side(lambda: record_heartbeat(partition=IN_FLIGHT, generation=old, answered_at=None))
        beat.join()
        taker = Side(lambda: claim_partition(partition=IN_FLIGHT, host="new-host", pid=2))
        taker.waits_on_a_lock()
        go_on.set()
        round_.join()
        taker.join()
    finally:
        statements.lines = lines
    return {**_fenced(round_, event, command, old, taker.result), "beat": beat.result}


def _seen(event, command) -> dict:
    event.refresh_from_db()
    command.refresh_from_db()
    rows = sum(
        Booking.objects.filter(event=event, status__in=["active", "held"]).values_list(
            "seats", flat=True
        )
    )
    return {
        "outcome": [command.status, command.reason],
        "decided_by": [command.decided_partition, command.decided_generation],
        "seats_taken": event.seats_taken,
        "seats_of_rows": rows,
        "capacity": event.capacity,
    }


def _fenced(round_: Side, event, command, old: int, new: int) -> dict:
    granted = PartitionGrant.objects.get(partition=event.partition, generation=new).granted_at
    command.refresh_from_db()
    return {
        "lost": isinstance(round_.error, PartitionLost),
        "error": None if round_.error is None else type(round_.error).__name__,
        "decided": round_.result,
        "old": old,
        "new": new,
        "decided_before_the_grant": (
            command.decided_at < granted if command.decided_at is not None else None
        ),
        "decided_by_old_after_the_grant": BookingRequest.objects.filter(
            event=event, decided_generation=old, decided_at__gte=granted
        ).count(),
        "breaches": [b for b in check_invariants(pending_threshold_seconds=3600)],
        **_seen(event, command),
    }
