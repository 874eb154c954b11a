"""The pure rules for group bookings, seat changes, the strict waitlist line and holds."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.bookings.models import BookingStatus, CommandKind, Reason, RequestStatus
from apps.bookings.rules import EventState, can_promote, decide, promote

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ACTIVE, HELD, EXPIRED = BookingStatus.ACTIVE, BookingStatus.HELD, BookingStatus.EXPIRED
CANCELLED = BookingStatus.CANCELLED


def state(**overrides) -> EventState:
    values = {"capacity": 10, "seats_taken": 0, "start_time": NOW + timedelta(days=1)}
    return EventState(**(values | overrides))


def run(kind, event, **kwargs):
    return decide(kind=kind, event=event, now=NOW, **kwargs)


# --- group bookings ------------------------------------------------------------------------------


def test_a_group_booking_takes_all_its_seats_at_once():
    event = state(seats_taken=6)

    decision = run(CommandKind.BOOK, event, seats=4)

    assert (decision.status, decision.reason, decision.seats) == (
        RequestStatus.CONFIRMED,
        Reason.BOOKED,
        4,
    )
    assert event.seats_taken == 10


def test_a_group_larger_than_the_free_seats_is_refused_whole():
    event = state(seats_taken=7)

    decision = run(CommandKind.BOOK, event, seats=4)

    assert (decision.status, decision.reason) == (RequestStatus.REJECTED, Reason.NOT_ENOUGH_SEATS)
    assert event.seats_taken == 7


def test_a_group_at_a_full_event_is_sold_out():
    assert run(CommandKind.BOOK, state(seats_taken=10), seats=2).reason == Reason.SOLD_OUT


def test_a_group_above_the_events_limit_per_booking_is_refused():
    event = state(max_seats_per_booking=3)

    assert run(CommandKind.BOOK, event, seats=4).reason == Reason.TOO_MANY_SEATS
    assert event.seats_taken == 0


def test_cancelling_a_group_booking_frees_all_its_seats():
    event = state(seats_taken=5)

    decision = run(CommandKind.CANCEL, event, booking_status=ACTIVE, booking_seats=3)

    assert decision.reason == Reason.CANCELLED
    assert event.seats_taken == 2


def test_reactivating_asks_for_the_seats_again():
    event = state(seats_taken=8)

    refused = run(CommandKind.REACTIVATE, event, booking_status=CANCELLED, seats=3)
    confirmed = run(CommandKind.REACTIVATE, event, booking_status=CANCELLED, seats=2)

    assert refused.reason == Reason.NOT_ENOUGH_SEATS
    assert (confirmed.reason, confirmed.seats, event.seats_taken) == (Reason.REACTIVATED, 2, 10)


# --- changing a booking's seats ------------------------------------------------------------------


def test_more_seats_are_granted_when_free():
    event = state(seats_taken=5)

    decision = run(CommandKind.CHANGE_SEATS, event, booking_status=ACTIVE, booking_seats=2, seats=4)

    assert (decision.status, decision.reason, decision.seats) == (
        RequestStatus.CONFIRMED,
        Reason.SEATS_CHANGED,
        4,
    )
    assert event.seats_taken == 7


def test_more_seats_than_free_are_refused_and_the_booking_keeps_its_seats():
    event = state(seats_taken=9)

    decision = run(CommandKind.CHANGE_SEATS, event, booking_status=ACTIVE, booking_seats=2, seats=4)

    assert (decision.reason, decision.seats, decision.booking_status) == (
        Reason.NOT_ENOUGH_SEATS,
        None,
        None,
    )
    assert event.seats_taken == 9


def test_more_seats_never_overtake_the_waitlist():
    event = state(seats_taken=8, waitlist_enabled=True, waitlist_size=1)

    decision = run(CommandKind.CHANGE_SEATS, event, booking_status=ACTIVE, booking_seats=2, seats=3)

    assert decision.reason == Reason.NOT_ENOUGH_SEATS
    assert event.seats_taken == 8


def test_fewer_seats_free_the_difference_at_once():
    event = state(seats_taken=10)

    decision = run(CommandKind.CHANGE_SEATS, event, booking_status=ACTIVE, booking_seats=4, seats=1)

    assert (decision.reason, decision.seat_delta, decision.seats) == (Reason.SEATS_CHANGED, -3, 1)
    assert event.seats_taken == 7


@pytest.mark.parametrize("booking_status", [None, CANCELLED, HELD, EXPIRED])
def test_only_an_active_booking_changes_its_seats(booking_status):
    decision = run(CommandKind.CHANGE_SEATS, state(), booking_status=booking_status, seats=2)

    assert decision.reason == Reason.NOT_ACTIVE


def test_a_seat_change_above_the_limit_is_refused():
    event = state(max_seats_per_booking=4)

    decision = run(CommandKind.CHANGE_SEATS, event, booking_status=ACTIVE, booking_seats=2, seats=5)

    assert decision.reason == Reason.TOO_MANY_SEATS


# --- the waitlist is a strict line ---------------------------------------------------------------


def test_a_group_that_does_not_fit_joins_the_waitlist_when_enabled():
    event = state(seats_taken=8, waitlist_enabled=True)

    decision = run(CommandKind.BOOK, event, seats=3)

    assert decision.status == RequestStatus.WAITLISTED
    assert (event.seats_taken, event.waitlist_size) == (8, 1)


def test_a_new_booking_does_not_overtake_the_line_even_when_it_would_fit():
    # Two seats are free but the oldest entry waits for three: a single seat goes in line too.
    event = state(seats_taken=8, waitlist_enabled=True, waitlist_size=1)

    decision = run(CommandKind.BOOK, event, seats=1)

    assert decision.status == RequestStatus.WAITLISTED
    assert event.seats_taken == 8


def test_the_head_of_the_line_is_promoted_only_when_all_its_seats_are_free():
    event = state(seats_taken=8, waitlist_enabled=True, waitlist_size=2)

    assert not can_promote(event, NOW, seats=3)
    assert can_promote(event, NOW, seats=2)

    decision = promote(event, seats=2)

    assert (decision.reason, decision.seats, decision.seat_delta) == (Reason.PROMOTED, 2, 2)
    assert (event.seats_taken, event.waitlist_size) == (10, 1)


# --- holds ---------------------------------------------------------------------------------------


def test_a_hold_takes_its_seats_until_its_deadline():
    event = state(seats_taken=2, hold_seconds=120)

    decision = run(CommandKind.HOLD, event, seats=3)

    assert (decision.status, decision.reason, decision.booking_status) == (
        RequestStatus.CONFIRMED,
        Reason.HELD,
        HELD,
    )
    assert decision.expires_at == NOW + timedelta(seconds=120)
    assert (decision.seats, event.seats_taken) == (3, 5)


def test_a_hold_never_waitlists():
    event = state(seats_taken=10, waitlist_enabled=True)

    decision = run(CommandKind.HOLD, event, seats=1)

    assert (decision.status, decision.reason) == (RequestStatus.REJECTED, Reason.SOLD_OUT)
    assert event.waitlist_size == 0


def test_a_hold_does_not_overtake_the_waitlist():
    event = state(seats_taken=5, waitlist_enabled=True, waitlist_size=1)

    assert run(CommandKind.HOLD, event, seats=1).reason == Reason.NOT_ENOUGH_SEATS


@pytest.mark.parametrize(
    ("booking_status", "reason"),
    [(ACTIVE, Reason.DUPLICATE), (HELD, Reason.ALREADY_HELD)],
)
def test_one_booking_or_hold_per_customer(booking_status, reason):
    for kind in (CommandKind.HOLD, CommandKind.BOOK):
        decision = run(kind, state(seats_taken=1), booking_status=booking_status)
        assert decision.reason == reason


def test_a_released_or_expired_booking_can_be_held_again():
    for previous in (CANCELLED, EXPIRED):
        decision = run(CommandKind.HOLD, state(), booking_status=previous, seats=2)
        assert (decision.reason, decision.booking_status) == (Reason.HELD, HELD)


def test_a_hold_on_a_started_event_is_closed():
    assert run(CommandKind.HOLD, state(start_time=NOW)).reason == Reason.EVENT_CLOSED


def _held(**kwargs):
    return {
        "booking_status": HELD,
        "booking_seats": 3,
        "hold_expires_at": NOW + timedelta(seconds=1),
    } | kwargs


def test_confirming_a_live_hold_books_the_same_seats():
    event = state(seats_taken=3)

    decision = run(CommandKind.CONFIRM_HOLD, event, **_held(), requested_at=NOW)

    assert (decision.status, decision.reason, decision.booking_status) == (
        RequestStatus.CONFIRMED,
        Reason.HOLD_CONFIRMED,
        ACTIVE,
    )
    assert event.seats_taken == 3


def test_a_confirm_recorded_before_the_deadline_wins_even_if_decided_after_it():
    event = state(seats_taken=3)
    late = NOW + timedelta(seconds=5)

    decision = decide(
        kind=CommandKind.CONFIRM_HOLD, event=event, now=late, requested_at=NOW, **_held()
    )

    assert decision.reason == Reason.HOLD_CONFIRMED


def test_a_confirm_recorded_after_the_deadline_expires_the_hold():
    event = state(seats_taken=3)

    decision = run(
        CommandKind.CONFIRM_HOLD, event, **_held(), requested_at=NOW + timedelta(seconds=1)
    )

    assert (decision.status, decision.reason, decision.booking_status) == (
        RequestStatus.REJECTED,
        Reason.HOLD_EXPIRED,
        EXPIRED,
    )
    assert event.seats_taken == 0


def test_a_confirm_after_the_expiry_was_decided_is_refused_as_expired():
    event = state()

    decision = run(CommandKind.CONFIRM_HOLD, event, booking_status=EXPIRED, booking_seats=3)

    assert (decision.reason, decision.booking_status) == (Reason.HOLD_EXPIRED, None)


def test_an_expire_command_releases_a_hold_past_its_deadline():
    event = state(seats_taken=3)
    deadline = NOW - timedelta(seconds=1)

    decision = run(
        CommandKind.EXPIRE_HOLD,
        event,
        **_held(hold_expires_at=deadline),
        payload={"expires_at": deadline.isoformat()},
    )

    assert (decision.status, decision.reason, decision.booking_status) == (
        RequestStatus.CONFIRMED,
        Reason.HOLD_EXPIRED,
        EXPIRED,
    )
    assert event.seats_taken == 0


@pytest.mark.parametrize(
    "booking",
    [
        {"booking_status": ACTIVE},  # confirmed first
        {"booking_status": CANCELLED},  # released first
        {"booking_status": EXPIRED},  # expired already
        # Held again since: a new deadline, still ahead.
        {"hold_expires_at": NOW + timedelta(minutes=5)},
    ],
    ids=["confirmed", "released", "expired", "held-again"],
)
def test_an_expire_command_that_finds_no_lapsed_hold_changes_nothing(booking):
    event = state(seats_taken=3)
    deadline = NOW - timedelta(seconds=1)

    decision = run(
        CommandKind.EXPIRE_HOLD,
        event,
        **(_held(hold_expires_at=deadline) | booking),
        payload={"expires_at": deadline.isoformat()},
    )

    assert (decision.status, decision.reason, decision.booking_status) == (
        RequestStatus.REJECTED,
        Reason.NOT_HELD,
        None,
    )
    assert event.seats_taken == 3


def test_releasing_a_hold_frees_its_seats():
    event = state(seats_taken=3)

    decision = run(CommandKind.RELEASE_HOLD, event, **_held())

    assert (decision.reason, decision.booking_status) == (Reason.HOLD_RELEASED, CANCELLED)
    assert event.seats_taken == 0


@pytest.mark.parametrize("kind", [CommandKind.CANCEL, CommandKind.CHANGE_SEATS])
def test_a_hold_is_not_cancelled_or_resized_like_a_booking(kind):
    event = state(seats_taken=3)

    assert run(kind, event, **_held(), seats=1).reason == Reason.NOT_ACTIVE
    assert event.seats_taken == 3


def test_cancelling_the_event_frees_held_seats_too():
    event = state(seats_taken=7)

    decision = run(CommandKind.CANCEL_EVENT, event, payload={"force": True})

    assert decision.seat_delta == -7
    assert event.seats_taken == 0
