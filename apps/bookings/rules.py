"""The decision rules, as a pure function of the event's state and one command.

``decide()`` touches no database: the worker's service (``decisions.decide_pending``) loads the
state, calls it for each pending command in id order, and writes what it returns.
"""

from dataclasses import dataclass
from datetime import datetime

from apps.bookings.models import BookingStatus, CommandKind, Reason, RequestStatus

MESSAGES = {
    Reason.BOOKED: "Your seat is booked.",
    Reason.REACTIVATED: "Your booking is active again.",
    Reason.CANCELLED: "Your booking is cancelled.",
    Reason.PROMOTED: "A seat freed up: you were moved from the waitlist to a booking.",
    Reason.WAITLISTED: "The event is full; you are on its waitlist.",
    Reason.LEFT_WAITLIST: "You left the waitlist.",
    Reason.CAPACITY_CHANGED: "The capacity is changed.",
    Reason.EVENT_CANCELLED: "The event was cancelled by its organizer.",
    Reason.SOLD_OUT: "The event is sold out.",
    Reason.WAITLIST_FULL: "The event is sold out and its waitlist is full.",
    Reason.DUPLICATE: "You already have an active booking for this event.",
    Reason.ALREADY_WAITLISTED: "You are already on this event's waitlist.",
    Reason.EVENT_CLOSED: "The event has already started or ended.",
    Reason.NOT_ACTIVE: "Only an active booking can be cancelled.",
    Reason.ALREADY_ACTIVE: "The booking is already active.",
    Reason.NOT_WAITLISTED: "You are not on this event's waitlist.",
    Reason.CAPACITY_BELOW_SEATS_TAKEN: "The new capacity is below the seats already taken.",
    Reason.EVENT_HAS_BOOKINGS: "The event has active bookings; delete it with force=true.",
    Reason.INTERNAL_ERROR: "The request could not be applied; nothing was changed.",
}


class SeatCountOutOfBounds(ValueError):
    """A decision would leave the seat count outside 0..capacity: a bug, never a normal outcome
    (the worker rejects that one command with ``internal_error`` and decides the rest)."""


@dataclass
class EventState:
    """What the rules need to know of an event; mutated as commands are decided."""

    capacity: int
    seats_taken: int
    start_time: datetime
    cancelled: bool = False
    waitlist_enabled: bool = False
    waitlist_limit: int | None = None
    waitlist_size: int = 0

    @property
    def free_seats(self) -> int:
        return self.capacity - self.seats_taken


def state_of(event) -> EventState:
    """The rules' view of a stored event (an ``events.Event`` row)."""
    return EventState(
        capacity=event.capacity,
        seats_taken=event.seats_taken,
        start_time=event.start_time,
        cancelled=event.deleted_at is not None,
        waitlist_enabled=event.waitlist_enabled,
        waitlist_limit=event.waitlist_limit,
        waitlist_size=event.waitlist_size,
    )


@dataclass(frozen=True)
class Decision:
    status: RequestStatus
    reason: Reason
    # The booking's status after the decision; None when the booking is not touched.
    booking_status: BookingStatus | None = None
    seat_delta: int = 0
    waitlist_delta: int = 0

    @property
    def message(self) -> str:
        return MESSAGES[self.reason]


def _reject(reason: Reason) -> Decision:
    return Decision(RequestStatus.REJECTED, reason)


def decide(
    *,
    kind: CommandKind,
    event: EventState,
    now: datetime,
    booking_status: BookingStatus | None = None,
    waitlisted: bool = False,
    payload: dict | None = None,
) -> Decision:
    """Decide one command. ``booking_status`` is the customer's booking for this event, if any;
    ``waitlisted`` whether the customer is on its waitlist. Mutates ``event`` by the decision."""
    payload = payload or {}
    if event.cancelled:
        return _reject(Reason.EVENT_CANCELLED)
    decision = _decide(kind, event, now, booking_status, waitlisted, payload)
    event.seats_taken += decision.seat_delta
    event.waitlist_size += decision.waitlist_delta
    if kind == CommandKind.SET_CAPACITY and decision.status == RequestStatus.CONFIRMED:
        event.capacity = payload["capacity"]
    if kind == CommandKind.CANCEL_EVENT and decision.status == RequestStatus.CONFIRMED:
        event.cancelled = True
    if not 0 <= event.seats_taken <= event.capacity:
        raise SeatCountOutOfBounds(
            f"{kind}: {event.seats_taken} seats taken of {event.capacity} after the decision"
        )
    return decision


def _decide(kind, event: EventState, now, booking_status, waitlisted, payload) -> Decision:
    started = now >= event.start_time
    if kind in (CommandKind.BOOK, CommandKind.REACTIVATE):
        if started:
            return _reject(Reason.EVENT_CLOSED)
        if booking_status == BookingStatus.ACTIVE:
            return _reject(Reason.DUPLICATE if kind == CommandKind.BOOK else Reason.ALREADY_ACTIVE)
        if kind == CommandKind.REACTIVATE and booking_status is None:
            return _reject(Reason.NOT_ACTIVE)
        if waitlisted:
            return _reject(Reason.ALREADY_WAITLISTED)
        reason = Reason.BOOKED if booking_status is None else Reason.REACTIVATED
        if event.free_seats > 0:
            return Decision(RequestStatus.CONFIRMED, reason, BookingStatus.ACTIVE, seat_delta=1)
        if kind == CommandKind.BOOK and event.waitlist_enabled:
            if event.waitlist_limit is None or event.waitlist_size < event.waitlist_limit:
                return Decision(RequestStatus.WAITLISTED, Reason.WAITLISTED, waitlist_delta=1)
            return _reject(Reason.WAITLIST_FULL)
        return _reject(Reason.SOLD_OUT)

    if kind == CommandKind.CANCEL:
        if booking_status != BookingStatus.ACTIVE:
            return _reject(Reason.NOT_ACTIVE)
        if started:
            return _reject(Reason.EVENT_CLOSED)
        return Decision(
            RequestStatus.CONFIRMED, Reason.CANCELLED, BookingStatus.CANCELLED, seat_delta=-1
        )

    if kind == CommandKind.LEAVE_WAITLIST:
        if not waitlisted:
            return _reject(Reason.NOT_WAITLISTED)
        return Decision(RequestStatus.CONFIRMED, Reason.LEFT_WAITLIST, waitlist_delta=-1)

    if kind == CommandKind.SET_CAPACITY:
        if payload["capacity"] < event.seats_taken:
            return _reject(Reason.CAPACITY_BELOW_SEATS_TAKEN)
        return Decision(RequestStatus.CONFIRMED, Reason.CAPACITY_CHANGED)

    if kind == CommandKind.CANCEL_EVENT:
        if event.seats_taken > 0 and not payload.get("force"):
            return _reject(Reason.EVENT_HAS_BOOKINGS)
        # The service cancels every booking and empties the waitlist, one outcome each.
        return Decision(
            RequestStatus.CONFIRMED,
            Reason.EVENT_CANCELLED,
            seat_delta=-event.seats_taken,
            waitlist_delta=-event.waitlist_size,
        )

    raise ValueError(f"unknown command kind {kind!r}")


def can_promote(event: EventState, now: datetime) -> bool:
    """A freed seat goes to the oldest waitlisted request, while the event is still open."""
    return (
        not event.cancelled
        and now < event.start_time
        and event.free_seats > 0
        and event.waitlist_size > 0
    )


def promote(event: EventState) -> Decision:
    event.seats_taken += 1
    event.waitlist_size -= 1
    return Decision(
        RequestStatus.CONFIRMED,
        Reason.PROMOTED,
        BookingStatus.ACTIVE,
        seat_delta=1,
        waitlist_delta=-1,
    )


# Commands that can free a seat or change what a book command would be told (a cancellation, a
# capacity change, the event's cancellation): while one is pending, a full event may not stay
# full, so a new book command waits its turn.
SEAT_FREEING_KINDS = frozenset(
    {CommandKind.CANCEL, CommandKind.SET_CAPACITY, CommandKind.CANCEL_EVENT}
)


def refusal_at_the_door(
    *,
    event: EventState,
    now: datetime,
    booking_status: BookingStatus | None,
    seat_freeing_pending: bool,
) -> Decision | None:
    """The rejection the worker would decide for a book command recorded now, when nothing
    ahead of it in line can change that answer: the event is full, keeps no waitlist, and no
    seat-freeing command is pending. None when the command must be recorded and decided in
    line. ``decide`` gives the answer, so the door and the worker always agree."""
    if seat_freeing_pending or event.waitlist_enabled or event.waitlist_size:
        return None
    if event.free_seats > 0:
        return None
    decision = decide(kind=CommandKind.BOOK, event=event, now=now, booking_status=booking_status)
    return decision if decision.status == RequestStatus.REJECTED else None
