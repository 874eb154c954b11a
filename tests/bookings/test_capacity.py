"""Capacity changes and event cancellation go through the event's queue like bookings do."""

import pytest

from apps.audit.models import Action, HistoryPoint
from apps.bookings.decisions import decide_pending
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


@pytest.fixture
def booked_event(organizer):
    """Capacity 3, all taken, waitlist on with two customers in line."""
    event = EventFactory(creator=organizer, capacity=3, waitlist_enabled=True)
    event.line = [book(event, c) for c in CustomerFactory.create_batch(5)][3:]
    decide_pending(event_id=event.pk)
    event.refresh_from_db()
    assert (event.seats_taken, event.waitlist_size) == (3, 2)
    return event


def patch_capacity(api, event, capacity: int, **headers):
    return api.as_user(event.creator.user).patch(
        f"/eventapi/event/{event.pk}/", {"capacity": capacity}, format="json", **headers
    )


def command_of(response) -> BookingRequest:
    return BookingRequest.objects.get(uid=response.json()["id"])


def test_a_capacity_change_is_accepted_as_a_command_on_the_queue(api, booked_event):
    response = patch_capacity(api, booked_event, 10)

    assert response.status_code == 202
    body = response.json()
    assert (body["kind"], body["status"], body["payload"]) == (
        CommandKind.SET_CAPACITY,
        RequestStatus.PENDING,
        {"capacity": 10},
    )
    assert response.headers["Location"] == f"/bookingapi/requests/{body['id']}/"
    assert Event.objects.get(pk=booked_event.pk).capacity == 3  # not yet decided


def test_raising_the_capacity_promotes_the_waitlist_in_the_same_batch(api, booked_event):
    command = command_of(patch_capacity(api, booked_event, 4))

    assert decide_pending(event_id=booked_event.pk) == 1

    assert outcome(command) == (RequestStatus.CONFIRMED, Reason.CAPACITY_CHANGED)
    first, second = booked_event.line
    assert outcome(first) == (RequestStatus.CONFIRMED, Reason.PROMOTED)
    assert outcome(second)[0] == RequestStatus.WAITLISTED
    booked_event.refresh_from_db()
    assert (booked_event.capacity, booked_event.seats_taken, booked_event.waitlist_size) == (
        4,
        4,
        1,
    )
    assert HistoryPoint.objects.filter(action=Action.CAPACITY_CHANGED).count() == 1
    assert_healthy()


def test_raising_the_capacity_far_enough_empties_the_waitlist(api, booked_event):
    patch_capacity(api, booked_event, 10)

    decide_pending(event_id=booked_event.pk)

    assert [outcome(r)[1] for r in booked_event.line] == [Reason.PROMOTED, Reason.PROMOTED]
    booked_event.refresh_from_db()
    assert (booked_event.seats_taken, booked_event.waitlist_size) == (5, 0)
    assert_healthy()


def test_lowering_the_capacity_below_the_seats_taken_is_rejected_and_changes_nothing(
    api, booked_event
):
    command = command_of(patch_capacity(api, booked_event, 2))

    decide_pending(event_id=booked_event.pk)

    assert outcome(command) == (RequestStatus.REJECTED, Reason.CAPACITY_BELOW_SEATS_TAKEN)
    booked_event.refresh_from_db()
    assert (booked_event.capacity, booked_event.seats_taken, booked_event.waitlist_size) == (
        3,
        3,
        2,
    )
    assert Booking.objects.filter(event=booked_event, status=BookingStatus.ACTIVE).count() == 3
    assert_healthy()


def test_lowering_the_capacity_to_the_seats_taken_is_confirmed(api, organizer):
    event = EventFactory(creator=organizer, capacity=5)
    book(event, CustomerFactory())
    decide_pending(event_id=event.pk)
    command = command_of(patch_capacity(api, event, 1))

    decide_pending(event_id=event.pk)

    assert outcome(command)[0] == RequestStatus.CONFIRMED
    assert Event.objects.get(pk=event.pk).capacity == 1


def test_a_lower_capacity_is_decided_after_the_bookings_ahead_of_it(api, organizer):
    event = EventFactory(creator=organizer, capacity=5)
    for customer in CustomerFactory.create_batch(3):
        book(event, customer)
    command = command_of(patch_capacity(api, event, 2))

    decide_pending(event_id=event.pk)

    assert outcome(command)[1] == Reason.CAPACITY_BELOW_SEATS_TAKEN
    assert Event.objects.get(pk=event.pk).seats_taken == 3


def test_a_patch_that_keeps_the_capacity_answers_at_once(api, event):
    response = api.as_user(event.creator.user).patch(
        f"/eventapi/event/{event.pk}/",
        {"capacity": event.capacity, "title": "Renamed"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["title"] == "Renamed"
    assert not BookingRequest.objects.exists()


def test_only_the_events_organizer_may_change_its_capacity(api, event, other_organizer, customer):
    for user in (other_organizer.user, customer.user):
        response = api.as_user(user).patch(
            f"/eventapi/event/{event.pk}/", {"capacity": 50}, format="json"
        )
        assert response.status_code == 403
    assert not BookingRequest.objects.exists()


def test_a_capacity_below_one_is_refused_by_validation(api, event):
    response = patch_capacity(api, event, 0)

    assert response.status_code == 400
    assert not BookingRequest.objects.exists()


def test_deleting_an_event_without_bookings_removes_it_at_once(api, event):
    client = api.as_user(event.creator.user)

    assert client.delete(f"/eventapi/event/{event.pk}/").status_code == 204

    assert client.get(f"/eventapi/event/{event.pk}/").status_code == 404
    assert not BookingRequest.objects.exists()


def test_deleting_an_event_with_bookings_needs_force(api, booked_event):
    response = api.as_user(booked_event.creator.user).delete(f"/eventapi/event/{booked_event.pk}/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == Reason.EVENT_HAS_BOOKINGS
    assert Event.objects.live().filter(pk=booked_event.pk).exists()
    assert not BookingRequest.objects.filter(kind=CommandKind.CANCEL_EVENT).exists()


def test_deleting_an_event_with_only_pending_requests_needs_force(api, event, customer):
    book(event, customer)

    response = api.as_user(event.creator.user).delete(f"/eventapi/event/{event.pk}/")

    assert response.status_code == 409


def test_a_forced_delete_cancels_every_booking_and_the_waitlist_through_the_queue(
    api, booked_event, monkeypatch
):
    outcomes = capture_outcomes(monkeypatch)
    client = api.as_user(booked_event.creator.user)

    response = client.delete(f"/eventapi/event/{booked_event.pk}/?force=true")

    assert response.status_code == 202
    command = command_of(response)
    assert command.kind == CommandKind.CANCEL_EVENT
    decide_pending(event_id=booked_event.pk)
    assert outcome(command) == (RequestStatus.CONFIRMED, Reason.EVENT_CANCELLED)
    assert not Booking.objects.filter(event=booked_event, status=BookingStatus.ACTIVE).exists()
    assert [outcome(r) for r in booked_event.line] == [
        (RequestStatus.WITHDRAWN, Reason.EVENT_CANCELLED)
    ] * 2
    assert outcomes == [("booking.cancelled", str(command.uid))] * 3
    booked_event.refresh_from_db()
    assert booked_event.deleted_at is not None
    assert (booked_event.seats_taken, booked_event.waitlist_size) == (0, 0)
    assert client.get(f"/eventapi/event/{booked_event.pk}/").status_code == 404
    assert HistoryPoint.objects.filter(action=Action.CANCEL).count() == 3
    assert_healthy()


def test_a_forced_delete_also_cancels_bookings_confirmed_earlier_in_the_same_batch(
    api, event, customer
):
    booking_request = book(event, customer)
    response = api.as_user(event.creator.user).delete(f"/eventapi/event/{event.pk}/?force=1")
    assert response.status_code == 202

    decide_pending(event_id=event.pk)

    assert outcome(booking_request) == (RequestStatus.CONFIRMED, Reason.BOOKED)
    assert Booking.objects.get(event=event, customer=customer).status == BookingStatus.CANCELLED
    assert Event.objects.get(pk=event.pk).seats_taken == 0
    assert_healthy()


def test_commands_behind_a_forced_delete_are_rejected_as_event_cancelled(api, booked_event):
    api.as_user(booked_event.creator.user).delete(f"/eventapi/event/{booked_event.pk}/?force=1")
    late = book(booked_event, CustomerFactory())

    decide_pending(event_id=booked_event.pk)

    assert outcome(late) == (RequestStatus.REJECTED, Reason.EVENT_CANCELLED)
    assert_healthy()


def test_a_deleted_event_can_no_longer_be_booked(api, event, customer):
    api.as_user(event.creator.user).delete(f"/eventapi/event/{event.pk}/")

    response = api.as_user(customer.user).post(
        "/bookingapi/booking/", {"event": event.pk}, format="json"
    )

    assert response.status_code == 400


def test_the_last_capacity_change_wins_even_when_it_restores_the_current_value(api, event):
    patch_capacity(api, event, 50)
    back = patch_capacity(api, event, event.capacity)  # changed their mind before the decision

    assert back.status_code == 202
    decide_pending(event_id=event.pk)

    assert Event.objects.get(pk=event.pk).capacity == event.capacity
    assert list(BookingRequest.objects.order_by("id").values_list("status", flat=True)) == [
        RequestStatus.CONFIRMED,
        RequestStatus.CONFIRMED,
    ]


# --- through the worker ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_through_the_worker_a_capacity_below_the_seats_taken_answers_409(
    api, organizer, celery_worker
):
    event = EventFactory(creator=organizer, capacity=3)
    for customer in CustomerFactory.create_batch(2):
        book(event, customer)

    response = patch_capacity(api, event, 1, HTTP_PREFER="wait=5")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == Reason.CAPACITY_BELOW_SEATS_TAKEN
    event.refresh_from_db()
    assert (event.capacity, event.seats_taken) == (3, 2)


@pytest.mark.django_db(transaction=True)
def test_through_the_worker_a_forced_delete_answers_200_and_the_event_is_gone(
    api, organizer, celery_worker
):
    event = EventFactory(creator=organizer, capacity=1, waitlist_enabled=True)
    for customer in CustomerFactory.create_batch(3):
        book(event, customer)
    client = api.as_user(organizer.user)

    response = client.delete(f"/eventapi/event/{event.pk}/?force=true", HTTP_PREFER="wait=5")

    assert response.status_code == 200
    assert response.json()["reason"] == Reason.EVENT_CANCELLED
    assert client.get(f"/eventapi/event/{event.pk}/").status_code == 404
    assert not Booking.objects.filter(event=event, status=BookingStatus.ACTIVE).exists()
    assert not BookingRequest.objects.filter(
        event=event, status__in=[RequestStatus.PENDING, RequestStatus.WAITLISTED]
    ).exists()
