"""The pure rules for a customer's hold caps and holds at the event's start."""

from datetime import UTC, datetime, timedelta

from apps.bookings.hold_caps import CustomerHolds, HoldLimits
from apps.bookings.models import BookingStatus, CommandKind, Reason, RequestStatus
from apps.bookings.rules import EventState, decide

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LIMITS = HoldLimits(seats_per_event=4, holds_total=2, seats_total=6, cooldown=timedelta(minutes=5))


def state(**overrides) -> EventState:
    values = {"capacity": 10, "seats_taken": 0, "start_time": NOW + timedelta(days=1)}
    return EventState(**(values | overrides))


def hold(holds: CustomerHolds, seats: int = 1, **kwargs):
    return decide(
        kind=CommandKind.HOLD,
        event=state(),
        now=NOW,
        seats=seats,
        holds=holds,
        hold_limits=LIMITS,
        **kwargs,
    )


def test_a_granted_hold_counts_into_the_customers_holds():
    holds = CustomerHolds(holds=1, seats=2)

    assert hold(holds, seats=3).reason == Reason.HELD
    assert (holds.holds, holds.seats) == (2, 5)


def test_holds_over_a_cap_are_refused_and_not_counted():
    cases = [
        (CustomerHolds(), 5),  # more seats than one hold may keep at an event
        (CustomerHolds(holds=2, seats=2), 1),  # one hold too many
        (CustomerHolds(holds=1, seats=4), 3),  # seats over all events
    ]
    for holds, seats in cases:
        before = (holds.holds, holds.seats)
        decision = hold(holds, seats=seats)
        assert (decision.status, decision.reason) == (
            RequestStatus.REJECTED,
            Reason.HOLD_LIMIT_REACHED,
        )
        assert (holds.holds, holds.seats) == before


def test_the_cool_down_runs_from_when_the_seats_were_given_back():
    for given_back in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
        soon = hold(
            CustomerHolds(),
            booking_status=given_back,
            booking_changed_at=NOW - timedelta(minutes=4),
        )
        later = hold(
            CustomerHolds(),
            booking_status=given_back,
            booking_changed_at=NOW - timedelta(minutes=5),
        )
        assert (soon.reason, later.reason) == (Reason.HOLD_COOLDOWN, Reason.HELD)


def test_a_hold_that_ends_leaves_the_customers_holds():
    for kind, payload in [(CommandKind.CONFIRM_HOLD, {}), (CommandKind.RELEASE_HOLD, {})]:
        holds = CustomerHolds(holds=2, seats=5)
        decision = decide(
            kind=kind,
            event=state(seats_taken=3),
            now=NOW,
            booking_status=BookingStatus.HELD,
            booking_seats=3,
            hold_expires_at=NOW + timedelta(minutes=1),
            payload=payload,
            holds=holds,
            hold_limits=LIMITS,
        )
        assert decision.status == RequestStatus.CONFIRMED
        assert (holds.holds, holds.seats) == (1, 2)


def test_without_limits_no_cap_applies():
    decision = decide(kind=CommandKind.HOLD, event=state(), now=NOW, seats=10)
    assert decision.reason == Reason.HELD


def test_a_holds_deadline_stops_at_the_start():
    event = state(start_time=NOW + timedelta(seconds=90), hold_seconds=600)

    decision = decide(kind=CommandKind.HOLD, event=event, now=NOW)

    assert decision.expires_at == NOW + timedelta(seconds=90)


def test_a_confirm_decided_once_the_event_has_started_is_closed():
    event = state(start_time=NOW - timedelta(seconds=1), seats_taken=2)

    decision = decide(
        kind=CommandKind.CONFIRM_HOLD,
        event=event,
        now=NOW,
        booking_status=BookingStatus.HELD,
        booking_seats=2,
        hold_expires_at=NOW + timedelta(minutes=5),
        requested_at=NOW - timedelta(seconds=2),
    )

    assert (decision.status, decision.reason) == (RequestStatus.REJECTED, Reason.EVENT_CLOSED)
    assert decision.booking_status is None  # the hold stays until its expiry frees the seats
    assert event.seats_taken == 2
