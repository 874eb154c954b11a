"""The decision rules, as a pure function of the event's state and one command.

``decide()`` touches no database: the worker's service (``decisions.decide_pending``) loads the
state, calls it for each pending command in id order, and writes what it returns.

Seats: a command asks for ``seats`` (all or nothing). The waitlist is a strict line: freed seats
go to the oldest entry, and nobody overtakes it — not a smaller entry behind it, not a new book
or hold, not a booking asking for more seats — while it waits for enough seats to be free.
Holds: a held booking's seats count as taken until it is confirmed, released or expired; a
confirm recorded before the deadline wins, one recorded after it (or decided after an expire
command) is refused ``hold_expired``; a hold's deadline is never past the event's start, and
no hold is confirmed once the event has started (``event_closed``). A customer's holds are
capped (``HoldLimits``: seats at one event, live holds and seats over all events,
``hold_limit_reached``), and a new hold at an event where the customer's seats were just given
back waits out a cool-down (``hold_cooldown``).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from apps.bookings.hold_caps import Caps, CustomerHolds, HoldLimits, count_holds, hold_refusal
from apps.bookings.models import BookingStatus, CommandKind, Reason, RequestStatus

# Set in a pending command's payload by its owner's DELETE (``commands.request_withdrawal``,
# under the event's lock): the worker withdraws the command instead of deciding it.
WITHDRAW = "withdraw"

MESSAGES = {
    Reason.WITHDRAWN: "You withdrew this request before it was decided.",
    Reason.BOOKED: "Your seats are booked.",
    Reason.REACTIVATED: "Your booking is active again.",
    Reason.CANCELLED: "Your booking is cancelled.",
    Reason.PROMOTED: "Seats freed up: you were moved from the waitlist to a booking.",
    Reason.WAITLISTED: "The event has not enough free seats; you are on its waitlist.",
    Reason.LEFT_WAITLIST: "You left the waitlist.",
    Reason.CAPACITY_CHANGED: "The capacity is changed.",
    Reason.EVENT_CANCELLED: "The event was cancelled by its organizer.",
    Reason.SOLD_OUT: "The event is sold out.",
    Reason.WAITLIST_FULL: "The event is sold out and its waitlist is full.",
    Reason.DUPLICATE: "You already have an active booking for this event.",
    Reason.ALREADY_WAITLISTED: "You are already on this event's waitlist.",
    Reason.EVENT_CLOSED: "The event has already started or ended.",
    Reason.NOT_ACTIVE: "Only an active booking can be changed or cancelled.",
    Reason.ALREADY_ACTIVE: "The booking is already active.",
    Reason.NOT_WAITLISTED: "You are not on this event's waitlist.",
    Reason.CAPACITY_BELOW_SEATS_TAKEN: "The new capacity is below the seats already taken.",
    Reason.EVENT_HAS_BOOKINGS: "The event has active bookings; delete it with force=true.",
    Reason.INTERNAL_ERROR: "The request could not be applied; nothing was changed.",
    Reason.SEATS_CHANGED: "Your booking's seats are changed.",
    Reason.NOT_ENOUGH_SEATS: "Not enough seats are free (seats freed go to the waitlist first).",
    Reason.TOO_MANY_SEATS: "More seats than this event allows per booking.",
    Reason.HELD: "Your seats are held until the hold expires; confirm it to book them.",
    Reason.HOLD_CONFIRMED: "Your hold is confirmed: the seats are booked.",
    Reason.HOLD_RELEASED: "Your hold is released.",
    Reason.HOLD_EXPIRED: "The hold expired before it was confirmed; its seats were released.",
    Reason.ALREADY_HELD: "You already hold seats for this event; confirm or release the hold.",
    Reason.NOT_HELD: "This booking is not a live hold.",
    Reason.HOLD_LIMIT_REACHED: (
        "You already hold as many seats or holds as a customer may; confirm or release one first."
    ),
    Reason.HOLD_COOLDOWN: (
        "Your seats at this event were given back a moment ago; you can hold them again later."
    ),
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
    max_seats_per_booking: int = 10
    hold_seconds: int = 600

    @property
    def free_seats(self) -> int:
        return self.capacity - self.seats_taken

    def can_take(self, seats: int) -> bool:
        """Free seats go to the waitlist first: nobody takes them while anyone is in line."""
        return self.waitlist_size == 0 and self.free_seats >= seats


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
        max_seats_per_booking=event.max_seats_per_booking,
        hold_seconds=event.hold_seconds,
    )


@dataclass(frozen=True)
class Decision:
    status: RequestStatus
    reason: Reason
    # The booking's status after the decision; None when the booking is not touched.
    booking_status: BookingStatus | None = None
    seat_delta: int = 0
    waitlist_delta: int = 0
    # The booking's seats after the decision (None: unchanged); a hold's deadline.
    seats: int | None = None
    expires_at: datetime | None = None

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
    seats: int = 1,
    booking_seats: int | None = None,
    hold_expires_at: datetime | None = None,
    requested_at: datetime | None = None,
    booking_changed_at: datetime | None = None,
    holds: CustomerHolds | None = None,
    hold_limits: HoldLimits | None = None,
) -> Decision:
    """Decide one command. ``booking_status``/``booking_seats``/``hold_expires_at``/
    ``booking_changed_at`` describe the customer's booking for this event, if any;
    ``waitlisted`` whether the customer is on its waitlist; ``seats`` what the command asks
    for; ``requested_at`` when it was recorded. ``holds`` are the customer's live holds over
    all events, checked against ``hold_limits`` (None: no caps). Mutates ``event`` and
    ``holds`` by the decision."""
    payload = payload or {}
    if payload.get(WITHDRAW):
        return Decision(RequestStatus.WITHDRAWN, Reason.WITHDRAWN)
    if event.cancelled:
        return _reject(Reason.EVENT_CANCELLED)
    booking = _Booking(
        booking_status,
        1 if booking_seats is None else booking_seats,
        hold_expires_at,
        booking_changed_at,
    )
    caps = (holds or CustomerHolds(), hold_limits) if hold_limits is not None else None
    decision = _decide(
        kind, event, now, booking, waitlisted, payload, seats, requested_at or now, caps
    )
    if holds is not None:
        count_holds(
            holds,
            was=booking.status,
            seats=booking.seats,
            now=decision.booking_status,
            granted=decision.seats,
        )
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


@dataclass(frozen=True)
class _Booking:
    status: BookingStatus | None
    seats: int
    expires_at: datetime | None
    changed_at: datetime | None = None

    @property
    def holds_seats(self) -> bool:
        return self.status in (BookingStatus.ACTIVE, BookingStatus.HELD)


def _no_seats(event: EventState) -> Reason:
    """Why the seats asked for cannot be had: none free, or too few (or promised to the line)."""
    return Reason.SOLD_OUT if event.free_seats <= 0 else Reason.NOT_ENOUGH_SEATS


def _expire(booking: _Booking, status: RequestStatus, reason: Reason) -> Decision:
    return Decision(status, reason, BookingStatus.EXPIRED, seat_delta=-booking.seats)


def _decide(
    kind,
    event: EventState,
    now,
    booking: _Booking,
    waitlisted,
    payload,
    seats,
    asked_at,
    caps: Caps | None,
):
    started = now >= event.start_time
    if kind in (CommandKind.BOOK, CommandKind.REACTIVATE, CommandKind.HOLD):
        if started:
            return _reject(Reason.EVENT_CLOSED)
        if booking.status == BookingStatus.ACTIVE:
            return _reject(
                Reason.ALREADY_ACTIVE if kind == CommandKind.REACTIVATE else Reason.DUPLICATE
            )
        if booking.status == BookingStatus.HELD:
            return _reject(Reason.ALREADY_HELD)
        if kind == CommandKind.REACTIVATE and booking.status is None:
            return _reject(Reason.NOT_ACTIVE)
        if waitlisted:
            return _reject(Reason.ALREADY_WAITLISTED)
        if seats > event.max_seats_per_booking:
            return _reject(Reason.TOO_MANY_SEATS)
        if kind == CommandKind.HOLD:
            capped = hold_refusal(now, booking.status, booking.changed_at, seats, caps)
            if capped is not None:
                return _reject(capped)
            if not event.can_take(seats):
                return _reject(_no_seats(event))
            # Never past the start: a hold cannot be confirmed once the event has started.
            deadline = min(now + timedelta(seconds=event.hold_seconds), event.start_time)
            return Decision(
                RequestStatus.CONFIRMED,
                Reason.HELD,
                BookingStatus.HELD,
                seat_delta=seats,
                seats=seats,
                expires_at=deadline,
            )
        reason = Reason.BOOKED if booking.status is None else Reason.REACTIVATED
        if event.can_take(seats):
            return Decision(
                RequestStatus.CONFIRMED, reason, BookingStatus.ACTIVE, seat_delta=seats, seats=seats
            )
        if kind == CommandKind.BOOK and event.waitlist_enabled:
            if event.waitlist_limit is None or event.waitlist_size < event.waitlist_limit:
                return Decision(RequestStatus.WAITLISTED, Reason.WAITLISTED, waitlist_delta=1)
            return _reject(Reason.WAITLIST_FULL)
        return _reject(_no_seats(event))

    if kind == CommandKind.CANCEL:
        if booking.status != BookingStatus.ACTIVE:
            return _reject(Reason.NOT_ACTIVE)
        if started:
            return _reject(Reason.EVENT_CLOSED)
        return Decision(
            RequestStatus.CONFIRMED,
            Reason.CANCELLED,
            BookingStatus.CANCELLED,
            seat_delta=-booking.seats,
        )

    if kind == CommandKind.CHANGE_SEATS:
        if booking.status != BookingStatus.ACTIVE:
            return _reject(Reason.NOT_ACTIVE)
        if started:
            return _reject(Reason.EVENT_CLOSED)
        if seats > event.max_seats_per_booking:
            return _reject(Reason.TOO_MANY_SEATS)
        more = seats - booking.seats
        if more > 0 and not event.can_take(more):
            return _reject(_no_seats(event))
        return Decision(
            RequestStatus.CONFIRMED,
            Reason.SEATS_CHANGED,
            BookingStatus.ACTIVE,
            seat_delta=more,
            seats=seats,
        )

    if kind == CommandKind.CONFIRM_HOLD:
        if booking.status == BookingStatus.EXPIRED:
            return _reject(Reason.HOLD_EXPIRED)
        if booking.status != BookingStatus.HELD:
            return _reject(Reason.NOT_HELD)
        if asked_at >= booking.expires_at:
            # Too late: this confirm is what expires the hold (no expire command got there first).
            return _expire(booking, RequestStatus.REJECTED, Reason.HOLD_EXPIRED)
        if started:
            # A hold from before deadlines stopped at the start: its expiry frees the seats.
            return _reject(Reason.EVENT_CLOSED)
        return Decision(RequestStatus.CONFIRMED, Reason.HOLD_CONFIRMED, BookingStatus.ACTIVE)

    if kind == CommandKind.RELEASE_HOLD:
        if booking.status == BookingStatus.EXPIRED:
            return _reject(Reason.HOLD_EXPIRED)
        if booking.status != BookingStatus.HELD:
            return _reject(Reason.NOT_HELD)
        return Decision(
            RequestStatus.CONFIRMED,
            Reason.HOLD_RELEASED,
            BookingStatus.CANCELLED,
            seat_delta=-booking.seats,
        )

    if kind == CommandKind.EXPIRE_HOLD:
        # Only the hold it was recorded for, and only once its deadline has passed: the booking
        # may have been confirmed, released, or held again since.
        if (
            booking.status != BookingStatus.HELD
            or _deadline(payload) != booking.expires_at
            or now < booking.expires_at
        ):
            return _reject(Reason.NOT_HELD)
        return _expire(booking, RequestStatus.CONFIRMED, Reason.HOLD_EXPIRED)

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
        # The service cancels every booking and hold and empties the waitlist, one outcome each.
        return Decision(
            RequestStatus.CONFIRMED,
            Reason.EVENT_CANCELLED,
            seat_delta=-event.seats_taken,
            waitlist_delta=-event.waitlist_size,
        )

    raise ValueError(f"unknown command kind {kind!r}")


def _deadline(payload: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(payload["expires_at"])
    except (KeyError, TypeError, ValueError):
        return None


def can_promote(event: EventState, now: datetime, seats: int = 1) -> bool:
    """Strict line: the oldest waitlisted entry, asking ``seats``, is promoted once that many
    seats are free, while the event is still open; until then nobody behind it is."""
    return (
        not event.cancelled
        and now < event.start_time
        and event.waitlist_size > 0
        and event.free_seats >= seats
    )


def promote(event: EventState, seats: int = 1) -> Decision:
    event.seats_taken += seats
    event.waitlist_size -= 1
    return Decision(
        RequestStatus.CONFIRMED,
        Reason.PROMOTED,
        BookingStatus.ACTIVE,
        seat_delta=seats,
        waitlist_delta=-1,
        seats=seats,
    )


# Commands that can free a seat or change what a book command would be told (a cancellation,
# fewer seats, a released or expired hold, a capacity change, the event's cancellation): while one
# is pending, a full event may not stay full, so a new book command waits its turn.
SEAT_FREEING_KINDS = frozenset(
    {
        CommandKind.CANCEL,
        CommandKind.SET_CAPACITY,
        CommandKind.CANCEL_EVENT,
        CommandKind.CHANGE_SEATS,
        CommandKind.RELEASE_HOLD,
        CommandKind.EXPIRE_HOLD,
        # A confirm recorded after its hold's deadline expires the hold.
        CommandKind.CONFIRM_HOLD,
    }
)


def refuses_every_book(event: EventState, now: datetime) -> bool:
    """Whoever sends it, a book command decided now is refused: the event is open (neither
    cancelled nor started), full, and keeps no waitlist. Which refusal depends only on the
    customer's booking there and the seats asked for (``decide``), so a line of book commands can
    be refused in one statement (``refusals.refuse_head_of_line``)."""
    return (
        not event.cancelled
        and now < event.start_time
        and not event.waitlist_enabled
        and event.waitlist_size == 0
        and event.free_seats <= 0
    )


def refusal_at_the_door(
    *,
    event: EventState,
    now: datetime,
    booking_status: BookingStatus | None,
    seat_freeing_pending: bool,
    seats: int = 1,
) -> Decision | None:
    """The rejection the worker would decide for a book command recorded now, when nothing
    ahead of it in line can change that answer: the event is full, keeps no waitlist, and no
    seat-freeing command is pending. None when the command must be recorded and decided in
    line. ``decide`` gives the answer, so the door and the worker always agree."""
    if seat_freeing_pending or event.waitlist_enabled or event.waitlist_size:
        return None
    if event.free_seats > 0:
        return None
    decision = decide(
        kind=CommandKind.BOOK, event=event, now=now, booking_status=booking_status, seats=seats
    )
    return decision if decision.status == RequestStatus.REJECTED else None
