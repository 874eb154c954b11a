"""The request side of the pipeline (runs in the web process): record a command durably and
ring its event's doorbell once the row is committed. Deciding is ``decisions``' job, in the
partition worker."""

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from contextlib import nullcontext

from celery import current_app
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.bookings import rules, selectors
from apps.bookings.models import BookingRequest, CommandKind, Reason, RequestStatus
from apps.core import metrics
from apps.core.bulk import insert_rows
from apps.core.exceptions import Conflict, DomainError, Unprocessable
from apps.core.logs import bind_request_id
from apps.events.models import Event
from workers import doorbells, routing

logger = logging.getLogger(__name__)


def fingerprint(*, kind: CommandKind, target: object, payload: dict) -> str:
    """What an idempotency key is bound to: the command and its body."""
    text = json.dumps([kind, str(target), payload], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# Refused at once, without the queue, when the event has started: the worker would refuse them
# too (rules.decide is the authority); this spares the client the round trip.
REFUSED_ONCE_STARTED = frozenset(
    {
        CommandKind.BOOK,
        CommandKind.REACTIVATE,
        CommandKind.CANCEL,
        CommandKind.HOLD,
        CommandKind.CHANGE_SEATS,
        CommandKind.CONFIRM_HOLD,
    }
)


def request_command(
    *,
    user_id: int,
    event: Event,
    kind: CommandKind,
    customer_id: int | None = None,
    booking_id: int | None = None,
    payload: dict | None = None,
    seats: int = 1,
    idempotency_key: str | None = None,
) -> tuple[BookingRequest, bool]:
    """Record a command durably; its doorbell rings once the row is committed.

    Returns ``(request, created)``: with an ``idempotency_key`` already used for the same
    command, the earlier request and ``False``; used for another command, ``Unprocessable``.
    """
    payload = payload or {}
    digest = fingerprint(kind=kind, target=booking_id or event.pk, payload=_bound(payload, seats))
    if idempotency_key is not None:
        earlier = _earlier_request(user_id=user_id, key=idempotency_key, digest=digest)
        if earlier is not None:
            return earlier, False
    if kind in REFUSED_ONCE_STARTED and event.has_started:
        raise Conflict(rules.MESSAGES[Reason.EVENT_CLOSED], code=Reason.EVENT_CLOSED)
    uid = uuid.uuid4()
    command = BookingRequest(
        uid=uid,
        kind=kind,
        user_id=user_id,
        customer_id=customer_id,
        event_id=event.pk,
        booking_id=booking_id,
        payload=payload,
        seats=seats,
        status=RequestStatus.PENDING,
        idempotency_key=idempotency_key,
        fingerprint=digest,
        attempts=1,
        created_at=timezone.now(),
    )
    # One statement, committed on its own (autocommit: no BEGIN/COMMIT round trips); inside a
    # caller's transaction, in a savepoint (a refused insert must not doom the caller's).
    saved = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with bind_request_id(uid), saved:
            (command.pk,) = insert_rows(
                BookingRequest,
                COMMAND_FIELDS,
                [[getattr(command, name) for name in COMMAND_ATTRIBUTES]],
                returning_ids=True,
            )
            transaction.on_commit(lambda: _accepted(command, event), robust=True)
    except IntegrityError:
        # Two requests raced with the same key: the other one recorded the command.
        earlier = _earlier_request(user_id=user_id, key=idempotency_key, digest=digest)
        if earlier is not None:
            return earlier, False
        if kind == CommandKind.BOOK:
            _refuse_second_pending_book(customer_id=customer_id, event_id=event.pk)
        raise
    command._state.adding = False
    return command, True


def _refuse_second_pending_book(*, customer_id: int | None, event_id: int) -> None:
    """At most one pending book command per customer and event (a database constraint, so no
    query on the accept path): the second one is a 409 that names the first."""
    pending = BookingRequest.objects.filter(
        kind=CommandKind.BOOK,
        status=RequestStatus.PENDING,
        customer_id=customer_id,
        event_id=event_id,
    ).first()
    if pending is not None:
        raise Conflict(
            "You already have a booking request pending for this event.",
            code="book_pending",
            details={"request": str(pending.uid)},
        )


def _accepted(command: BookingRequest, event: Event) -> None:
    logger.info(
        "accepted %s %s for event %s (partition %s)",
        command.kind,
        command.uid,
        event.pk,
        event.partition,
    )
    ring_doorbell(event_id=event.pk, partition=event.partition)


# The command's row, written in one INSERT (the ORM's create() compiles it anew per request).
COMMAND_FIELDS = (
    "uid",
    "kind",
    "user",
    "customer",
    "event",
    "booking",
    "payload",
    "seats",
    "status",
    "reason",
    "message",
    "idempotency_key",
    "fingerprint",
    "attempts",
    "created_at",
)
COMMAND_ATTRIBUTES = [BookingRequest._meta.get_field(name).attname for name in COMMAND_FIELDS]


def _bound(payload: dict, seats: int) -> dict:
    """What an idempotency key binds: the payload, and the seats when not the default one."""
    return payload if seats == 1 else {**payload, "seats": seats}


def request_booking(
    *,
    user_id: int,
    customer_id: int,
    event_id: int,
    seats: int = 1,
    idempotency_key: str | None = None,
    before_recording: Callable[[], None] | None = None,
) -> tuple[BookingRequest, bool]:
    """A customer asks for a seat: record a book command (see ``request_command``), or refuse
    it at once when its answer cannot change before its turn (``rules.refusal_at_the_door``:
    the event is full, keeps no waitlist, and nothing pending can free a seat). Such a refusal
    records nothing, like the refusal of a started event.

    ``before_recording`` is called once the command is to be recorded, and may refuse it by
    raising (the API's per-user rate limit: it counts the commands that reach the queue)."""
    event, line = event_and_line(event_id=event_id, customer_id=customer_id, seats=seats)
    digest = fingerprint(kind=CommandKind.BOOK, target=event.pk, payload=_bound({}, seats))
    earlier = _earlier_request(user_id=user_id, key=idempotency_key, digest=digest)
    if earlier is not None:
        return earlier, False
    refuse_at_the_door(event=event, line=line, seats=seats)
    if before_recording is not None:
        before_recording()
    command, created = request_command(
        user_id=user_id,
        event=event,
        kind=CommandKind.BOOK,
        customer_id=customer_id,
        seats=seats,
        idempotency_key=idempotency_key,
    )
    # The line as the event was read: every command pending then is ahead of this one.
    command.ahead_in_line = line.pending_commands
    return command, created


def event_and_line(*, event_id: int, customer_id: int, seats: int) -> tuple[Event, selectors.Line]:
    """The live event a book command asks for and its line, read without a lock (one
    statement); ``DomainError`` for no such event or more seats than it allows per booking."""
    found = selectors.event_for_booking(event_id=event_id, customer_id=customer_id)
    if found is None:
        raise no_such_event(event_id)
    event, line = found
    if seats > event.max_seats_per_booking:
        message = f"at most {event.max_seats_per_booking} seats per booking at this event"
        raise DomainError(
            f"seats: {message}", code="validation_error", details={"seats": [message]}
        )
    return event, line


def no_such_event(event_id: int) -> DomainError:
    message = f'Invalid pk "{event_id}" - object does not exist.'
    return DomainError(f"event: {message}", code="validation_error", details={"event": [message]})


def refuse_at_the_door(*, event: Event, line: selectors.Line, seats: int) -> None:
    """Raise the refusal the worker would decide for a book command recorded now, when nothing
    ahead of it in line can change it (``rules.refusal_at_the_door``): the event is full, keeps
    no waitlist, and nothing pending can free a seat. The benchmark's row-lock baseline
    (bench/legacy) refuses at the same door."""
    refusal = rules.refusal_at_the_door(
        event=rules.state_of(event),
        now=timezone.now(),
        booking_status=line.booking_status,
        seat_freeing_pending=line.seat_freeing_pending,
        seats=seats,
    )
    if refusal is not None:
        raise Conflict(refusal.message, code=refusal.reason)


def _earlier_request(*, user_id: int, key: str | None, digest: str) -> BookingRequest | None:
    if key is None:
        return None
    earlier = BookingRequest.objects.filter(user_id=user_id, idempotency_key=key).first()
    if earlier is not None and earlier.fingerprint != digest:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
        )
    return earlier


def ring_doorbell(*, event_id: int, partition: int, force: bool = False) -> bool:
    """Publish a doorbell for the event on its partition queue, unless one is already waiting
    there (see ``workers.doorbells``; ``force`` skips that check). A failed publish is logged and
    left to the sweeper: the command is already safe in the database."""
    latch = doorbells.latch()
    if not latch.set(partition) and not force:
        metrics.count_doorbell(metrics.DOORBELL_SKIPPED)
        logger.info("doorbell for event %s: one already waits on partition %s", event_id, partition)
        return True
    try:
        ring(event_id=event_id, partition=partition)
    except Exception:  # noqa: BLE001 - any broker failure; the sweeper re-rings
        latch.clear(partition)
        metrics.count_doorbell(metrics.DOORBELL_FAILED)
        logger.warning(
            "doorbell for event %s not published; the sweeper will retry", event_id, exc_info=True
        )
        return False
    metrics.count_doorbell(metrics.DOORBELL_PUBLISHED)
    logger.info("doorbell for event %s published on partition %s", event_id, partition)
    return True


def ring(*, event_id: int, partition: int) -> None:
    """Publish a doorbell (task ``bookings.decide_event``, by name) on the partition's queue;
    fails fast (no publish retries) so a broker outage never holds a request: the command is
    already committed and the sweeper will ring again."""
    current_app.send_task(
        routing.DECIDE_EVENT_TASK,
        args=[event_id, partition],
        queue=routing.partition_queue(partition),
        retry=False,
    )


def request_withdrawal(*, command: BookingRequest) -> bool:
    """Ask the event's worker to withdraw ``command`` instead of deciding it. True when it was
    still pending: flagged (``rules.WITHDRAW``) under the event's lock, which a batch deciding
    the event holds, so no batch has read it yet and the next one withdraws it. False when it
    was decided first: the decision stands."""
    with transaction.atomic():
        partition = (
            Event.objects.select_for_update()
            .filter(pk=command.event_id)
            .values_list("partition", flat=True)
            .first()
        )
        payload = {**command.payload, rules.WITHDRAW: True}
        pending = BookingRequest.objects.filter(pk=command.pk, status=RequestStatus.PENDING)
        flagged = pending.update(payload=payload)
    if not flagged:
        return False
    command.payload = payload
    logger.info("request %s: withdrawal asked", command.uid)
    # Its doorbell rang when it was recorded; a ring now (skipped while one waits) costs little
    # and brings the answer sooner if that one was lost.
    ring_doorbell(event_id=command.event_id, partition=partition)
    return True
