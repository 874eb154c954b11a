"""Event writes. Seat-changing ones (capacity, cancellation with bookings) become commands on the
event's partition queue; the rest are plain updates."""

import uuid

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organizer
from apps.audit.models import Action
from apps.audit.services import record
from apps.bookings.commands import request_command
from apps.bookings.models import BookingRequest, CommandKind, RequestStatus
from apps.core.exceptions import Conflict, DomainError
from apps.events.models import Event
from workers.routing import partition_for_key


def _check_window(*, start_time, end_time, now) -> None:
    if end_time <= start_time:
        raise DomainError(
            "end_time must be after start_time.",
            code="invalid_time_window",
            details={"end_time": ["must be after start_time"]},
        )
    if start_time <= now:
        raise DomainError(
            "An event cannot start in the past.",
            code="start_in_past",
            details={"start_time": ["must be in the future"]},
        )


@transaction.atomic
def create_event(
    *,
    creator: Organizer,
    title: str,
    start_time,
    end_time,
    capacity: int,
    description: str = "",
    waitlist_enabled: bool = False,
    waitlist_limit: int | None = None,
    max_seats_per_booking: int = 10,
    hold_seconds: int = 600,
) -> Event:
    _check_window(start_time=start_time, end_time=end_time, now=timezone.now())
    uid = uuid.uuid4()
    event = Event.objects.create(
        uid=uid,
        partition=partition_for_key(str(uid)),
        creator=creator,
        title=title,
        description=description,
        start_time=start_time,
        end_time=end_time,
        capacity=capacity,
        waitlist_enabled=waitlist_enabled,
        waitlist_limit=waitlist_limit,
        max_seats_per_booking=max_seats_per_booking,
        hold_seconds=hold_seconds,
    )
    record(
        user_id=creator.user_id,
        action=Action.CREATE,
        target=event,
        details={"title": title, "capacity": capacity},
    )
    return event


def check_event_update(*, event: Event, fields: dict) -> None:
    """Refuse an update that would break the event's time window (``DomainError``)."""
    if {"start_time", "end_time"} & fields.keys():
        start = fields.get("start_time", event.start_time)
        end = fields.get("end_time", event.end_time)
        if end <= start:
            raise DomainError(
                "end_time must be after start_time.",
                code="invalid_time_window",
                details={"end_time": ["must be after start_time"]},
            )
        if "start_time" in fields and start != event.start_time and start <= timezone.now():
            raise DomainError(
                "An event cannot be moved into the past.",
                code="start_in_past",
                details={"start_time": ["must be in the future"]},
            )


@transaction.atomic
def update_event(
    *, event: Event, user_id: int, fields: dict, idempotency_key: str | None = None
) -> BookingRequest | None:
    """Apply plain fields now; a capacity change becomes a command on the event's queue.
    Returns that command, or None when the capacity is unchanged."""
    check_event_update(event=event, fields=fields)
    capacity = fields.pop("capacity", None)
    changed = {k: v for k, v in fields.items() if getattr(event, k) != v}
    for key, value in changed.items():
        setattr(event, key, value)
    if changed:
        event.save(update_fields=[*changed, "updated_at"])
        record(
            user_id=user_id,
            action=Action.UPDATE,
            target=event,
            details={"changed": sorted(changed)},
        )
    if capacity is None or (capacity == event.capacity and not _capacity_change_pending(event)):
        # Equal to a pending change's old value is still a change: the last request must win.
        return None
    command, _ = request_command(
        user_id=user_id,
        event=event,
        kind=CommandKind.SET_CAPACITY,
        payload={"capacity": capacity},
        idempotency_key=idempotency_key,
    )
    return command


def _capacity_change_pending(event: Event) -> bool:
    return BookingRequest.objects.filter(
        event_id=event.pk, kind=CommandKind.SET_CAPACITY, status=RequestStatus.PENDING
    ).exists()


@transaction.atomic
def delete_event(
    *, event: Event, user_id: int, force: bool = False, idempotency_key: str | None = None
) -> BookingRequest | None:
    """Delete an event at once when nothing is booked or in line for it; otherwise (with
    ``force``) cancel it through its queue, which cancels every booking. Returns that command."""
    locked = Event.objects.select_for_update().get(pk=event.pk)
    busy = BookingRequest.objects.filter(
        event_id=event.pk, status__in=[RequestStatus.PENDING, RequestStatus.WAITLISTED]
    ).exists()
    if locked.seats_taken == 0 and not busy:
        Event.objects.filter(pk=event.pk).update(deleted_at=timezone.now())
        record(
            user_id=user_id,
            action=Action.DELETE,
            target=event,
            details={"title": event.title},
        )
        return None
    if not force:
        raise Conflict(
            "The event has active bookings or requests in line; send force=true to cancel "
            "them all and delete it.",
            code="event_has_bookings",
            details={"seats_taken": locked.seats_taken},
        )
    command, _ = request_command(
        user_id=user_id,
        event=event,
        kind=CommandKind.CANCEL_EVENT,
        payload={"force": True},
        idempotency_key=idempotency_key,
    )
    return command
