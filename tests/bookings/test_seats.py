"""Group bookings through the worker's service: all or nothing, seat changes through the queue,
and the waitlist as a strict line (nobody overtakes its oldest entry)."""

import pytest

from apps.audit.models import Action, HistoryPoint
from apps.bookings.commands import request_command
from apps.bookings.decisions import decide_pending
from apps.bookings.models import Booking, BookingRequest, CommandKind, Reason, RequestStatus
from apps.events.models import Event
from tests.bookings.test_decisions import (  # noqa: F401 - healthy_afterwards is a fixture
    book,
    capture_outcomes,
    healthy_afterwards,
    outcome,
)
from tests.factories import CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db


def seats_taken(event) -> int:
    return Event.objects.get(pk=event.pk).seats_taken


def change_seats(event, customer, seats: int) -> BookingRequest:
    booking = Booking.objects.get(event=event, customer=customer)
    return request_command(
        user_id=customer.user_id,
        event=event,
        kind=CommandKind.CHANGE_SEATS,
        customer_id=customer.pk,
        booking_id=booking.pk,
        seats=seats,
    )[0]


def booked(event, *seats: int) -> list[BookingRequest]:
    commands = [book(event, CustomerFactory(), seats=n) for n in seats]
    decide_pending(event_id=event.pk)
    return commands


def test_a_group_booking_takes_its_seats_and_seats_taken_counts_seats(event):
    (command,) = booked(event, 4)

    assert outcome(command) == (RequestStatus.CONFIRMED, Reason.BOOKED)
    command.refresh_from_db()
    assert (command.seats, command.booking.seats) == (4, 4)
    assert seats_taken(event) == 4


def test_a_group_that_does_not_fit_is_refused_whole_and_a_smaller_one_still_fits(organizer):
    event = EventFactory(creator=organizer, capacity=5)

    first, too_big, fits = booked(event, 3, 3, 2)

    assert [outcome(c)[1] for c in (first, too_big, fits)] == [
        Reason.BOOKED,
        Reason.NOT_ENOUGH_SEATS,
        Reason.BOOKED,
    ]
    assert not Booking.objects.filter(customer=too_big.customer).exists()
    assert seats_taken(event) == 5


def test_a_booking_above_the_events_limit_is_refused_by_the_worker(organizer):
    event = EventFactory(creator=organizer, max_seats_per_booking=2)

    (command,) = booked(event, 3)

    assert outcome(command) == (RequestStatus.REJECTED, Reason.TOO_MANY_SEATS)


def test_more_seats_are_granted_through_the_queue_when_free(event):
    (first,) = booked(event, 2)
    change = change_seats(event, first.customer, 5)

    decide_pending(event_id=event.pk)

    assert outcome(change) == (RequestStatus.CONFIRMED, Reason.SEATS_CHANGED)
    assert Booking.objects.get(customer=first.customer).seats == 5
    assert seats_taken(event) == 5
    assert HistoryPoint.objects.filter(action=Action.BOOKING_SEATS_CHANGED).count() == 1


def test_more_seats_than_free_are_refused_and_the_booking_keeps_its_seats(organizer):
    event = EventFactory(creator=organizer, capacity=4)
    first, _ = booked(event, 2, 2)
    change = change_seats(event, first.customer, 3)

    decide_pending(event_id=event.pk)

    assert outcome(change) == (RequestStatus.REJECTED, Reason.SOLD_OUT)
    assert Booking.objects.get(customer=first.customer).seats == 2
    assert seats_taken(event) == 4


def test_fewer_seats_free_the_difference_and_promote_the_line_in_the_same_batch(
    organizer, monkeypatch
):
    event = EventFactory(creator=organizer, capacity=4, waitlist_enabled=True)
    (group,) = booked(event, 4)
    (waiting,) = booked(event, 2)
    assert outcome(waiting)[0] == RequestStatus.WAITLISTED
    seen = capture_outcomes(monkeypatch)
    change = change_seats(event, group.customer, 2)

    assert decide_pending(event_id=event.pk) == 1

    assert outcome(change) == (RequestStatus.CONFIRMED, Reason.SEATS_CHANGED)
    assert outcome(waiting) == (RequestStatus.CONFIRMED, Reason.PROMOTED)
    waiting.refresh_from_db()
    assert waiting.booking.seats == 2
    assert seats_taken(event) == 4
    assert ("booking.promoted", str(waiting.uid)) in seen


def test_the_oldest_entry_is_promoted_only_when_all_its_seats_are_free_and_nobody_overtakes(
    organizer, api
):
    event = EventFactory(creator=organizer, capacity=4, waitlist_enabled=True)
    first, second = booked(event, 2, 2)
    big, small = booked(event, 3, 1)  # the line: 3 seats, then 1 seat
    assert [outcome(c)[0] for c in (big, small)] == [RequestStatus.WAITLISTED] * 2

    # Two seats free: the 1-seat entry would fit, but the 3-seat entry is ahead of it.
    request_command(
        user_id=first.customer.user_id,
        event=event,
        kind=CommandKind.CANCEL,
        customer_id=first.customer_id,
        booking_id=Booking.objects.get(customer=first.customer).pk,
    )
    newcomer = book(event, CustomerFactory(), seats=1)
    decide_pending(event_id=event.pk)

    assert seats_taken(event) == 2
    assert [outcome(c)[0] for c in (big, small, newcomer)] == [RequestStatus.WAITLISTED] * 3
    positions = [
        api.as_user(c.user).get(f"/bookingapi/requests/{c.uid}/").json()["waitlist_position"]
        for c in (big, small, newcomer)
    ]
    assert positions == [1, 2, 3]

    # One more seat frees: the head gets its three, the next needs one more than is left.
    change_seats(event, second.customer, 1)
    decide_pending(event_id=event.pk)

    assert outcome(big) == (RequestStatus.CONFIRMED, Reason.PROMOTED)
    assert [outcome(c)[0] for c in (small, newcomer)] == [RequestStatus.WAITLISTED] * 2
    assert seats_taken(event) == 4
    assert (
        api.as_user(small.user)
        .get(f"/bookingapi/requests/{small.uid}/")
        .json()["waitlist_position"]
        == 1
    )
