"""The pure decision rules (``apps.bookings.rules``): one rule per test, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.bookings import rules
from apps.bookings.models import BookingStatus, CommandKind, Reason, RequestStatus
from apps.bookings.rules import Decision, EventState, can_promote, decide, promote

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ACTIVE, CANCELLED = BookingStatus.ACTIVE, BookingStatus.CANCELLED


def state(**overrides) -> EventState:
    values = {"capacity": 2, "seats_taken": 0, "start_time": NOW + timedelta(days=1)}
    return EventState(**(values | overrides))


def book(event: EventState, **kwargs) -> Decision:
    return decide(kind=CommandKind.BOOK, event=event, now=NOW, **kwargs)


def test_a_book_command_on_an_open_event_with_free_seats_is_confirmed():
    event = state()

    decision = book(event)

    assert decision == Decision(
        RequestStatus.CONFIRMED, Reason.BOOKED, ACTIVE, seat_delta=1, seats=1
    )
    assert event.seats_taken == 1
    assert decision.message == "Your seats are booked."


@pytest.mark.parametrize("start", [NOW, NOW - timedelta(hours=1)], ids=["starting", "started"])
def test_booking_an_event_that_has_started_is_rejected_as_closed(start):
    event = state(start_time=start)

    assert book(event).reason == Reason.EVENT_CLOSED
    assert event.seats_taken == 0


def test_booking_an_event_that_has_ended_is_rejected_as_closed():
    assert book(state(start_time=NOW - timedelta(days=2))).reason == Reason.EVENT_CLOSED


def test_booking_again_while_holding_an_active_booking_is_a_duplicate():
    event = state(seats_taken=1)

    decision = book(event, booking_status=ACTIVE)

    assert (decision.status, decision.reason) == (RequestStatus.REJECTED, Reason.DUPLICATE)
    assert event.seats_taken == 1


def test_booking_again_after_cancelling_reactivates_the_booking():
    decision = book(state(), booking_status=CANCELLED)

    assert (decision.status, decision.reason) == (RequestStatus.CONFIRMED, Reason.REACTIVATED)
    assert decision.booking_status == ACTIVE


def test_booking_a_full_event_without_a_waitlist_is_sold_out():
    event = state(seats_taken=2)

    decision = book(event)

    assert (decision.status, decision.reason) == (RequestStatus.REJECTED, Reason.SOLD_OUT)
    assert (event.seats_taken, event.waitlist_size) == (2, 0)


def test_booking_a_full_event_with_a_waitlist_puts_the_customer_in_line():
    event = state(seats_taken=2, waitlist_enabled=True, waitlist_size=4)

    decision = book(event)

    assert (decision.status, decision.reason) == (RequestStatus.WAITLISTED, Reason.WAITLISTED)
    assert decision.booking_status is None
    assert (event.seats_taken, event.waitlist_size) == (2, 5)


def test_booking_a_full_event_whose_waitlist_is_at_its_limit_is_waitlist_full():
    event = state(seats_taken=2, waitlist_enabled=True, waitlist_limit=3, waitlist_size=3)

    decision = book(event)

    assert (decision.status, decision.reason) == (RequestStatus.REJECTED, Reason.WAITLIST_FULL)
    assert event.waitlist_size == 3


def test_a_waitlist_below_its_limit_still_takes_customers():
    event = state(seats_taken=2, waitlist_enabled=True, waitlist_limit=3, waitlist_size=2)

    assert book(event).status == RequestStatus.WAITLISTED


def test_a_customer_already_on_the_waitlist_cannot_join_it_twice():
    event = state(seats_taken=2, waitlist_enabled=True, waitlist_size=1)

    assert book(event, waitlisted=True).reason == Reason.ALREADY_WAITLISTED
    assert event.waitlist_size == 1


def test_cancelling_an_active_booking_frees_its_seat():
    event = state(seats_taken=2)

    decision = decide(kind=CommandKind.CANCEL, event=event, now=NOW, booking_status=ACTIVE)

    assert decision == Decision(RequestStatus.CONFIRMED, Reason.CANCELLED, CANCELLED, seat_delta=-1)
    assert event.seats_taken == 1


@pytest.mark.parametrize("booking_status", [CANCELLED, None])
def test_only_an_active_booking_can_be_cancelled(booking_status):
    event = state(seats_taken=1)

    decision = decide(kind=CommandKind.CANCEL, event=event, now=NOW, booking_status=booking_status)

    assert decision.reason == Reason.NOT_ACTIVE
    assert event.seats_taken == 1


def test_a_booking_cannot_be_cancelled_once_the_event_has_started():
    event = state(seats_taken=1, start_time=NOW - timedelta(minutes=1))

    decision = decide(kind=CommandKind.CANCEL, event=event, now=NOW, booking_status=ACTIVE)

    assert decision.reason == Reason.EVENT_CLOSED
    assert event.seats_taken == 1


def test_reactivating_a_cancelled_booking_takes_a_free_seat():
    event = state(seats_taken=1)

    decision = decide(kind=CommandKind.REACTIVATE, event=event, now=NOW, booking_status=CANCELLED)

    assert (decision.status, decision.reason) == (RequestStatus.CONFIRMED, Reason.REACTIVATED)
    assert event.seats_taken == 2


def test_reactivation_rechecks_capacity_and_never_joins_the_waitlist():
    event = state(seats_taken=2, waitlist_enabled=True)

    decision = decide(kind=CommandKind.REACTIVATE, event=event, now=NOW, booking_status=CANCELLED)

    assert decision.reason == Reason.SOLD_OUT
    assert (event.seats_taken, event.waitlist_size) == (2, 0)


def test_reactivating_an_active_booking_is_refused():
    decision = decide(
        kind=CommandKind.REACTIVATE, event=state(seats_taken=1), now=NOW, booking_status=ACTIVE
    )

    assert decision.reason == Reason.ALREADY_ACTIVE


def test_reactivating_without_a_booking_is_refused():
    decision = decide(kind=CommandKind.REACTIVATE, event=state(), now=NOW)

    assert decision.reason == Reason.NOT_ACTIVE


def test_leaving_the_waitlist_shortens_it():
    event = state(seats_taken=2, waitlist_enabled=True, waitlist_size=2)

    decision = decide(kind=CommandKind.LEAVE_WAITLIST, event=event, now=NOW, waitlisted=True)

    assert (decision.status, decision.reason) == (RequestStatus.CONFIRMED, Reason.LEFT_WAITLIST)
    assert event.waitlist_size == 1


def test_leaving_a_waitlist_one_is_not_on_is_refused():
    event = state(waitlist_enabled=True, waitlist_size=1)

    decision = decide(kind=CommandKind.LEAVE_WAITLIST, event=event, now=NOW)

    assert decision.reason == Reason.NOT_WAITLISTED
    assert event.waitlist_size == 1


def test_raising_the_capacity_is_confirmed_and_applied():
    event = state(seats_taken=2)

    decision = decide(kind=CommandKind.SET_CAPACITY, event=event, now=NOW, payload={"capacity": 5})

    assert (decision.status, decision.reason) == (RequestStatus.CONFIRMED, Reason.CAPACITY_CHANGED)
    assert (event.capacity, event.free_seats) == (5, 3)


def test_lowering_the_capacity_to_the_seats_taken_is_allowed():
    event = state(capacity=5, seats_taken=3)

    decide(kind=CommandKind.SET_CAPACITY, event=event, now=NOW, payload={"capacity": 3})

    assert event.capacity == 3


def test_lowering_the_capacity_below_the_seats_taken_is_refused():
    event = state(capacity=5, seats_taken=3)

    decision = decide(kind=CommandKind.SET_CAPACITY, event=event, now=NOW, payload={"capacity": 2})

    assert decision.reason == Reason.CAPACITY_BELOW_SEATS_TAKEN
    assert event.capacity == 5


def test_cancelling_an_event_with_bookings_needs_force():
    event = state(seats_taken=1)

    decision = decide(kind=CommandKind.CANCEL_EVENT, event=event, now=NOW, payload={})

    assert decision.reason == Reason.EVENT_HAS_BOOKINGS
    assert (event.cancelled, event.seats_taken) == (False, 1)


def test_cancelling_an_event_with_force_frees_every_seat_and_empties_the_waitlist():
    event = state(seats_taken=2, waitlist_enabled=True, waitlist_size=3)

    decision = decide(kind=CommandKind.CANCEL_EVENT, event=event, now=NOW, payload={"force": True})

    assert (decision.status, decision.reason) == (RequestStatus.CONFIRMED, Reason.EVENT_CANCELLED)
    assert (event.cancelled, event.seats_taken, event.waitlist_size) == (True, 0, 0)


def test_cancelling_an_empty_event_needs_no_force():
    event = state()

    decision = decide(kind=CommandKind.CANCEL_EVENT, event=event, now=NOW, payload={})

    assert decision.status == RequestStatus.CONFIRMED
    assert event.cancelled


@pytest.mark.parametrize("kind", list(CommandKind))
def test_every_command_on_a_cancelled_event_is_rejected(kind):
    event = state(cancelled=True)

    decision = decide(
        kind=kind,
        event=event,
        now=NOW,
        booking_status=ACTIVE,
        waitlisted=True,
        payload={"capacity": 5, "force": True},
    )

    assert decision.reason == Reason.EVENT_CANCELLED
    assert event.seats_taken == 0


def test_an_unknown_command_kind_is_an_error():
    with pytest.raises(ValueError):
        decide(kind="teleport", event=state(), now=NOW)


def test_a_freed_seat_can_be_promoted_to_the_waitlist():
    assert can_promote(state(seats_taken=1, waitlist_size=1), NOW)


@pytest.mark.parametrize(
    "overrides",
    [
        {"seats_taken": 2, "waitlist_size": 1},  # no free seat
        {"seats_taken": 1, "waitlist_size": 0},  # nobody in line
        {"seats_taken": 1, "waitlist_size": 1, "cancelled": True},
        {"seats_taken": 1, "waitlist_size": 1, "start_time": NOW},  # started
    ],
    ids=["full", "empty-waitlist", "cancelled", "started"],
)
def test_no_promotion_without_a_free_seat_a_waiting_customer_and_an_open_event(overrides):
    assert not can_promote(state(**overrides), NOW)


def test_promotion_moves_one_customer_from_the_waitlist_to_a_seat():
    event = state(seats_taken=1, waitlist_size=2)

    decision = promote(event)

    assert decision == Decision(
        RequestStatus.CONFIRMED, Reason.PROMOTED, ACTIVE, seat_delta=1, waitlist_delta=-1, seats=1
    )
    assert (event.seats_taken, event.waitlist_size) == (2, 1)
    assert not can_promote(event, NOW)


# --- the door: a book command refused before it is recorded -----------------------------------


def _full(**overrides):
    values = {"capacity": 2, "seats_taken": 2, "start_time": NOW + timedelta(days=1)}
    return rules.EventState(**(values | overrides))


@pytest.mark.parametrize(
    ("booking_status", "reason"),
    [
        (None, Reason.SOLD_OUT),
        (BookingStatus.CANCELLED, Reason.SOLD_OUT),
        (BookingStatus.ACTIVE, Reason.DUPLICATE),
    ],
)
def test_the_door_refuses_what_the_worker_would_refuse_at_a_full_event(booking_status, reason):
    refusal = rules.refusal_at_the_door(
        event=_full(), now=NOW, booking_status=booking_status, seat_freeing_pending=False
    )

    assert (refusal.status, refusal.reason) == (RequestStatus.REJECTED, reason)


@pytest.mark.parametrize(
    ("event", "seat_freeing_pending"),
    [
        (_full(seats_taken=1), False),  # a seat is free
        (_full(), True),  # a cancellation or capacity change is in line
        (_full(waitlist_enabled=True), False),  # the worker would waitlist it
    ],
)
def test_the_door_lets_in_what_the_worker_may_accept(event, seat_freeing_pending):
    assert (
        rules.refusal_at_the_door(
            event=event, now=NOW, booking_status=None, seat_freeing_pending=seat_freeing_pending
        )
        is None
    )


def test_a_full_open_event_without_a_waitlist_refuses_every_book_command():
    assert rules.refuses_every_book(_full(), NOW)


@pytest.mark.parametrize(
    "event",
    [
        _full(seats_taken=1),  # a seat is free
        _full(waitlist_enabled=True),  # the line goes to the waitlist
        _full(waitlist_size=1),  # someone is still waitlisted
        _full(cancelled=True),  # refused, but as event_cancelled
        _full(start_time=NOW),  # refused, but as event_closed
    ],
)
def test_an_event_that_may_answer_otherwise_does_not_refuse_every_book_command(event):
    assert not rules.refuses_every_book(event, NOW)
