"""Holds through the worker's service: held seats count until confirmed, released or expired;
beat records expiries idempotently; of a confirm and an expiry, queue order decides."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import Action, HistoryPoint
from apps.bookings.commands import request_command
from apps.bookings.decisions import decide_pending
from apps.bookings.expiries import record_hold_expiries
from apps.bookings.invariants import check_invariants
from apps.bookings.models import (
    Booking,
    BookingRequest,
    BookingStatus,
    CommandKind,
    Reason,
    RequestStatus,
)
from apps.events.models import Event
from tests.bookings.test_decisions import (  # noqa: F401 - healthy_afterwards is a fixture
    assert_healthy,
    book,
    capture_outcomes,
    healthy_afterwards,
    outcome,
)
from tests.factories import CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db


def hold(event, customer, seats: int = 1) -> BookingRequest:
    return request_command(
        user_id=customer.user_id,
        event=event,
        kind=CommandKind.HOLD,
        customer_id=customer.pk,
        seats=seats,
    )[0]


def on_hold(kind: CommandKind, booking: Booking) -> BookingRequest:
    return request_command(
        user_id=booking.customer.user_id,
        event=booking.event,
        kind=kind,
        customer_id=booking.customer_id,
        booking_id=booking.pk,
        seats=booking.seats,
    )[0]


def held(event, customer=None, seats: int = 2) -> Booking:
    command = hold(event, customer or CustomerFactory(), seats)
    decide_pending(event_id=event.pk)
    command.refresh_from_db()
    assert (command.status, command.reason) == (RequestStatus.CONFIRMED, Reason.HELD)
    return command.booking


def lapse(booking: Booking) -> None:
    """Move a hold's deadline into the past (as if its time had run out)."""
    Booking.objects.filter(pk=booking.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    booking.refresh_from_db()


def seats_taken(event) -> int:
    return Event.objects.get(pk=event.pk).seats_taken


def test_a_hold_takes_its_seats_until_its_deadline(organizer):
    event = EventFactory(creator=organizer, capacity=5, hold_seconds=120)
    command = hold(event, CustomerFactory(), seats=3)

    decide_pending(event_id=event.pk)

    command.refresh_from_db()
    booking = command.booking
    assert (booking.status, booking.seats) == (BookingStatus.HELD, 3)
    assert booking.expires_at == command.decided_at + timedelta(seconds=120)
    assert seats_taken(event) == 3
    assert HistoryPoint.objects.filter(action=Action.HOLD_CREATED).count() == 1


def test_a_hold_is_refused_when_its_seats_are_not_free(organizer):
    event = EventFactory(creator=organizer, capacity=3)
    held(event, seats=2)
    command = hold(event, CustomerFactory(), seats=2)

    decide_pending(event_id=event.pk)

    assert outcome(command) == (RequestStatus.REJECTED, Reason.NOT_ENOUGH_SEATS)
    assert seats_taken(event) == 2


def test_confirming_a_hold_books_its_seats(event, monkeypatch):
    booking = held(event, seats=3)
    seen = capture_outcomes(monkeypatch)
    confirm = on_hold(CommandKind.CONFIRM_HOLD, booking)

    decide_pending(event_id=event.pk)

    assert outcome(confirm) == (RequestStatus.CONFIRMED, Reason.HOLD_CONFIRMED)
    booking.refresh_from_db()
    assert (booking.status, booking.seats, booking.expires_at) == (BookingStatus.ACTIVE, 3, None)
    assert seats_taken(event) == 3
    assert seen == [("booking.confirmed", str(confirm.uid))]


def test_releasing_a_hold_frees_its_seats_for_the_waitlist(organizer):
    event = EventFactory(creator=organizer, capacity=2, waitlist_enabled=True)
    booking = held(event, seats=2)
    waiting = book(event, CustomerFactory(), seats=2)
    decide_pending(event_id=event.pk)
    assert outcome(waiting)[0] == RequestStatus.WAITLISTED
    release = on_hold(CommandKind.RELEASE_HOLD, booking)

    decide_pending(event_id=event.pk)

    assert outcome(release) == (RequestStatus.CONFIRMED, Reason.HOLD_RELEASED)
    assert outcome(waiting) == (RequestStatus.CONFIRMED, Reason.PROMOTED)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert seats_taken(event) == 2


def test_beat_records_one_expire_command_per_lapsed_hold_however_often_it_runs(event):
    lapsed, live = held(event), held(event)
    lapse(lapsed)

    assert record_hold_expiries() == 1
    record_hold_expiries()

    (expiry,) = BookingRequest.objects.filter(kind=CommandKind.EXPIRE_HOLD)
    assert (expiry.booking_id, expiry.status, expiry.customer_id) == (
        lapsed.pk,
        RequestStatus.PENDING,
        lapsed.customer_id,
    )
    assert expiry.payload == {"expires_at": lapsed.expires_at.isoformat()}
    assert not BookingRequest.objects.filter(booking=live, kind=CommandKind.EXPIRE_HOLD).exists()


def test_an_expiry_releases_the_seats_and_promotes_the_waitlist_in_one_batch(
    organizer, monkeypatch
):
    event = EventFactory(creator=organizer, capacity=3, waitlist_enabled=True)
    booking = held(event, seats=3)
    first, second = (book(event, CustomerFactory(), seats=n) for n in (2, 2))
    decide_pending(event_id=event.pk)
    lapse(booking)
    record_hold_expiries()
    seen = capture_outcomes(monkeypatch)

    assert decide_pending(event_id=event.pk) == 1

    expiry = BookingRequest.objects.get(kind=CommandKind.EXPIRE_HOLD)
    assert outcome(expiry) == (RequestStatus.CONFIRMED, Reason.HOLD_EXPIRED)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.EXPIRED
    # The line is strict: the first entry gets two of the three seats, the second waits.
    assert outcome(first) == (RequestStatus.CONFIRMED, Reason.PROMOTED)
    assert outcome(second)[0] == RequestStatus.WAITLISTED
    assert seats_taken(event) == 2
    assert seen == [("hold.expired", str(expiry.uid)), ("booking.promoted", str(first.uid))]
    assert HistoryPoint.objects.filter(action=Action.HOLD_EXPIRED).count() == 1


def test_a_confirm_ahead_of_the_expiry_in_the_queue_wins(event):
    booking = held(event)
    confirm = on_hold(CommandKind.CONFIRM_HOLD, booking)
    lapse(booking)  # the deadline passes while the confirm waits in the queue
    # The confirm was recorded before the deadline.
    BookingRequest.objects.filter(pk=confirm.pk).update(
        created_at=booking.expires_at - timedelta(seconds=1)
    )
    record_hold_expiries()

    decide_pending(event_id=event.pk)

    expiry = BookingRequest.objects.get(kind=CommandKind.EXPIRE_HOLD)
    assert outcome(confirm) == (RequestStatus.CONFIRMED, Reason.HOLD_CONFIRMED)
    assert outcome(expiry) == (RequestStatus.REJECTED, Reason.NOT_HELD)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.ACTIVE
    assert seats_taken(event) == 2
    assert not HistoryPoint.objects.filter(action=Action.HOLD_EXPIRED).exists()


def test_an_expiry_ahead_of_the_confirm_in_the_queue_wins(event, monkeypatch):
    booking = held(event)
    lapse(booking)
    record_hold_expiries()
    confirm = on_hold(CommandKind.CONFIRM_HOLD, booking)
    seen = capture_outcomes(monkeypatch)

    decide_pending(event_id=event.pk)

    expiry = BookingRequest.objects.get(kind=CommandKind.EXPIRE_HOLD)
    assert outcome(expiry) == (RequestStatus.CONFIRMED, Reason.HOLD_EXPIRED)
    assert outcome(confirm) == (RequestStatus.REJECTED, Reason.HOLD_EXPIRED)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.EXPIRED
    assert seats_taken(event) == 0
    assert [t for t, _ in seen].count("hold.expired") == 1
    # History tells the expiry once; the confirm is logged as refused.
    assert HistoryPoint.objects.filter(action=Action.HOLD_EXPIRED).count() == 1


def test_a_confirm_recorded_after_the_deadline_expires_the_hold_itself(event, monkeypatch):
    booking = held(event)
    lapse(booking)
    confirm = on_hold(CommandKind.CONFIRM_HOLD, booking)  # before beat noticed
    seen = capture_outcomes(monkeypatch)

    decide_pending(event_id=event.pk)

    assert outcome(confirm) == (RequestStatus.REJECTED, Reason.HOLD_EXPIRED)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.EXPIRED
    assert seats_taken(event) == 0
    assert seen == [
        ("booking.rejected", str(confirm.uid)),
        ("hold.expired", str(confirm.uid)),
    ]
    # Beat finds nothing left to expire.
    assert record_hold_expiries() == 0


def test_an_expired_hold_can_be_held_again_and_a_stale_expiry_leaves_the_new_hold_alone(event):
    booking = held(event)
    lapse(booking)
    record_hold_expiries()
    decide_pending(event_id=event.pk)
    stale = BookingRequest.objects.get(kind=CommandKind.EXPIRE_HOLD)
    again = hold(event, booking.customer, seats=1)
    # A second expiry recorded for the old deadline, decided after the new hold.
    BookingRequest.objects.create(
        kind=CommandKind.EXPIRE_HOLD,
        user_id=booking.customer.user_id,
        customer=booking.customer,
        event=event,
        booking=booking,
        payload=stale.payload,
    )

    decide_pending(event_id=event.pk)

    assert outcome(again) == (RequestStatus.CONFIRMED, Reason.HELD)
    booking.refresh_from_db()
    assert (booking.status, booking.seats) == (BookingStatus.HELD, 1)
    assert BookingRequest.objects.filter(reason=Reason.NOT_HELD).count() == 1
    assert seats_taken(event) == 1


def test_a_hold_holder_cannot_book_or_hold_twice(event):
    booking = held(event)
    again = [hold(event, booking.customer), book(event, booking.customer)]

    decide_pending(event_id=event.pk)

    assert [outcome(c)[1] for c in again] == [Reason.ALREADY_HELD, Reason.ALREADY_HELD]


def test_cancelling_the_event_releases_holds_too(event):
    booking = held(event, seats=3)
    cancel = request_command(
        user_id=event.creator.user_id,
        event=event,
        kind=CommandKind.CANCEL_EVENT,
        payload={"force": True},
    )[0]

    decide_pending(event_id=event.pk)

    assert outcome(cancel) == (RequestStatus.CONFIRMED, Reason.EVENT_CANCELLED)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert seats_taken(event) == 0


def test_the_invariant_counts_held_seats(event):
    booking = held(event, seats=3)
    assert_healthy()

    Booking.objects.filter(pk=booking.pk).update(seats=2)

    assert check_invariants(pending_threshold_seconds=60) == [
        f"event {event.pk}: counter mismatch: "
        "seats_taken 3 != 2 seats of active bookings and live holds"
    ]
    Booking.objects.filter(pk=booking.pk).update(seats=3)
