"""Seats and holds over HTTP: validation, the 202 + request contract, Prefer: wait,
Idempotency-Key, who may act on a hold, the organizer's dashboard; once through the worker and
beat's expiry task."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bookings.decisions import decide_pending
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
from tests.conftest import wait_until
from tests.factories import CustomerFactory, EventFactory

BOOKINGS = "/bookingapi/booking/"
HOLDS = "/bookingapi/holds/"


def post(api, user, path, body=None, **headers):
    return api.as_user(user).post(path, body or {}, format="json", **headers)


def decided_hold(api, event, customer, seats=2) -> dict:
    response = post(api, customer.user, HOLDS, {"event": event.pk, "seats": seats})
    assert response.status_code == 202, response.json()
    decide_pending(event_id=event.pk)
    return api.get(f"/bookingapi/requests/{response.json()['id']}/").json()


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", [BOOKINGS, HOLDS])
@pytest.mark.parametrize("seats", [0, -1, 5, "two", 101])
def test_seats_outside_one_to_the_events_limit_are_refused_with_400(
    api, organizer, customer, path, seats
):
    event = EventFactory(creator=organizer, max_seats_per_booking=4)

    response = post(api, customer.user, path, {"event": event.pk, "seats": seats})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "seats" in error["details"]
    assert not BookingRequest.objects.exists()


@pytest.mark.django_db
def test_a_book_command_carries_its_seats(api, event, customer):
    response = post(api, customer.user, BOOKINGS, {"event": event.pk, "seats": 3})

    assert response.status_code == 202
    assert (response.json()["seats"], response.json()["kind"]) == (3, CommandKind.BOOK)
    decide_pending(event_id=event.pk)
    booking = Booking.objects.get(customer=customer)
    assert booking.seats == 3
    body = api.get(f"{BOOKINGS}{booking.pk}/").json()
    assert (body["seats"], body["status"], body["expires_at"]) == (3, "active", None)


@pytest.mark.django_db
def test_organizers_set_seat_and_hold_limits_within_bounds(api, organizer, settings):
    settings.BOOKING_HOLD_MIN_SECONDS = 30
    start = timezone.now() + timedelta(days=3)
    body = {
        "title": "Matinee",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(hours=2)).isoformat(),
        "capacity": 50,
    }
    client = api.as_user(organizer.user)

    created = client.post("/eventapi/event/", body, format="json")
    assert created.status_code == 201
    assert (created.json()["max_seats_per_booking"], created.json()["hold_seconds"]) == (10, 600)
    for hold_seconds in (29, 3601):
        refused = client.post(
            "/eventapi/event/", body | {"hold_seconds": hold_seconds}, format="json"
        )
        assert refused.status_code == 400
        assert "hold_seconds" in refused.json()["error"]["details"]
    changed = client.patch(
        f"/eventapi/event/{created.json()['id']}/",
        {"hold_seconds": 30, "max_seats_per_booking": 4},
        format="json",
    )
    assert changed.status_code == 200
    assert (changed.json()["max_seats_per_booking"], changed.json()["hold_seconds"]) == (4, 30)


# --- PATCH seats ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_patching_seats_is_a_command_on_the_events_queue(api, event, customer):
    post(api, customer.user, BOOKINGS, {"event": event.pk, "seats": 2})
    decide_pending(event_id=event.pk)
    booking = Booking.objects.get(customer=customer)

    response = api.as_user(customer.user).patch(
        f"{BOOKINGS}{booking.pk}/", {"seats": 5}, format="json"
    )

    assert response.status_code == 202
    assert (response.json()["kind"], response.json()["seats"]) == (CommandKind.CHANGE_SEATS, 5)
    assert Booking.objects.get(pk=booking.pk).seats == 2  # not before the worker decides
    decide_pending(event_id=event.pk)
    assert Booking.objects.get(pk=booking.pk).seats == 5
    assert Event.objects.get(pk=event.pk).seats_taken == 5


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [{}, {"seats": 0}, {"seats": 11}, {"status": "cancelled", "seats": 1}]
)
def test_a_bad_patch_is_refused_with_400(api, event, customer, body):
    post(api, customer.user, BOOKINGS, {"event": event.pk})
    decide_pending(event_id=event.pk)
    booking = Booking.objects.get(customer=customer)

    response = api.as_user(customer.user).patch(f"{BOOKINGS}{booking.pk}/", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


# --- holds ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_hold_is_accepted_then_held_with_its_deadline(api, organizer, customer):
    event = EventFactory(creator=organizer, hold_seconds=300)

    request = decided_hold(api, event, customer, seats=3)

    assert (request["kind"], request["status"], request["reason"]) == (
        CommandKind.HOLD,
        RequestStatus.CONFIRMED,
        Reason.HELD,
    )
    hold = request["booking"]
    assert (hold["status"], hold["seats"]) == (BookingStatus.HELD, 3)
    assert hold["expires_at"] is not None
    listed = api.get(HOLDS).json()["results"]
    assert [h["id"] for h in listed] == [hold["id"]]
    dashboard = api.as_user(organizer.user).get("/eventapi/event/dashboard/").json()["results"]
    assert (dashboard[0]["seats_taken"], dashboard[0]["seats_held"]) == (3, 3)


@pytest.mark.django_db
def test_confirming_a_hold_through_the_api_books_it(api, event, customer):
    hold = decided_hold(api, event, customer)["booking"]

    response = post(api, customer.user, f"{HOLDS}{hold['id']}/confirm/")

    assert response.status_code == 202
    assert response.json()["kind"] == CommandKind.CONFIRM_HOLD
    decide_pending(event_id=event.pk)
    assert api.get(f"{HOLDS}{hold['id']}/").json()["status"] == BookingStatus.ACTIVE
    assert api.get(HOLDS).json()["results"] == []


@pytest.mark.django_db
def test_deleting_a_hold_releases_it(api, event, customer):
    hold = decided_hold(api, event, customer)["booking"]

    response = api.as_user(customer.user).delete(f"{HOLDS}{hold['id']}/")

    assert response.status_code == 202
    assert response.json()["kind"] == CommandKind.RELEASE_HOLD
    decide_pending(event_id=event.pk)
    assert Booking.objects.get(pk=hold["id"]).status == BookingStatus.CANCELLED
    assert Event.objects.get(pk=event.pk).seats_taken == 0


@pytest.mark.django_db
def test_only_the_holder_confirms_or_releases_a_hold(api, event, customer):
    hold = decided_hold(api, event, customer)["booking"]
    stranger = CustomerFactory()

    confirm = post(api, stranger.user, f"{HOLDS}{hold['id']}/confirm/")
    release = api.as_user(stranger.user).delete(f"{HOLDS}{hold['id']}/")
    organizer_confirm = post(api, event.creator.user, f"{HOLDS}{hold['id']}/confirm/")

    assert (confirm.status_code, release.status_code) == (404, 404)
    assert organizer_confirm.status_code == 403
    assert not BookingRequest.objects.filter(kind=CommandKind.CONFIRM_HOLD).exists()


@pytest.mark.django_db
def test_an_organizer_cannot_hold_seats(api, event):
    response = post(api, event.creator.user, HOLDS, {"event": event.pk})

    assert response.status_code == 403


@pytest.mark.django_db
def test_a_retried_hold_with_the_same_key_is_one_hold_and_a_changed_body_is_refused(
    api, event, customer
):
    key = {"HTTP_IDEMPOTENCY_KEY": "checkout-7"}
    first = post(api, customer.user, HOLDS, {"event": event.pk, "seats": 2}, **key)
    again = post(api, customer.user, HOLDS, {"event": event.pk, "seats": 2}, **key)
    changed = post(api, customer.user, HOLDS, {"event": event.pk, "seats": 3}, **key)

    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert changed.status_code == 422
    assert BookingRequest.objects.filter(kind=CommandKind.HOLD).count() == 1


@pytest.mark.django_db
def test_a_hold_on_a_started_event_is_refused_at_once(api, organizer, customer):
    event = EventFactory(
        creator=organizer,
        start_time=timezone.now() - timedelta(minutes=1),
        end_time=timezone.now() + timedelta(hours=1),
    )

    response = post(api, customer.user, HOLDS, {"event": event.pk})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == Reason.EVENT_CLOSED


# --- through the worker and beat's task -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_prefer_wait_answers_201_with_the_hold_then_200_with_the_confirmed_booking(
    api, event, customer, celery_worker
):
    held = post(api, customer.user, HOLDS, {"event": event.pk, "seats": 2}, HTTP_PREFER="wait=5")

    assert held.status_code == 201, held.json()
    hold = held.json()["booking"]
    assert hold["status"] == BookingStatus.HELD
    assert held.headers["Location"] == f"{HOLDS}{hold['id']}/"

    confirmed = post(api, customer.user, f"{HOLDS}{hold['id']}/confirm/", HTTP_PREFER="wait=5")

    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["reason"] == Reason.HOLD_CONFIRMED
    assert confirmed.json()["booking"]["status"] == BookingStatus.ACTIVE
    assert check_invariants(pending_threshold_seconds=60) == []


@pytest.mark.django_db(transaction=True)
def test_beats_expiry_task_expires_a_lapsed_hold_through_the_worker(
    api, organizer, customer, celery_worker
):
    from workers.tasks import expire_holds

    event = EventFactory(creator=organizer, hold_seconds=1)
    held = post(api, customer.user, HOLDS, {"event": event.pk, "seats": 2}, HTTP_PREFER="wait=5")
    hold_id = held.json()["booking"]["id"]
    wait_until(lambda: Booking.objects.get(pk=hold_id).expires_at <= timezone.now())

    expire_holds.delay()

    wait_until(
        lambda: Booking.objects.get(pk=hold_id).status == BookingStatus.EXPIRED,
        message="the hold expired by the worker",
    )
    late = post(api, customer.user, f"{HOLDS}{hold_id}/confirm/", HTTP_PREFER="wait=5")
    assert late.status_code == 409
    assert late.json()["error"]["code"] == Reason.HOLD_EXPIRED
    assert Event.objects.get(pk=event.pk).seats_taken == 0
    assert check_invariants(pending_threshold_seconds=60) == []


# --- the door: refusals that need no queue, with holds and seats -------------------------------


@pytest.mark.django_db
def test_at_a_full_event_a_customer_holding_seats_is_told_already_held_at_the_door(
    api, organizer, customer
):
    event = EventFactory(creator=organizer, capacity=2)
    decided_hold(api, event, customer, seats=2)

    response = post(api, customer.user, BOOKINGS, {"event": event.pk, "seats": 2})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == Reason.ALREADY_HELD
    assert not BookingRequest.objects.filter(kind=CommandKind.BOOK).exists()


@pytest.mark.django_db
def test_a_pending_release_keeps_a_full_event_open_at_the_door(api, organizer, customer):
    event = EventFactory(creator=organizer, capacity=2)
    hold = decided_hold(api, event, customer, seats=2)["booking"]
    api.as_user(customer.user).delete(f"{HOLDS}{hold['id']}/")  # pending: may free seats
    other = CustomerFactory()

    response = post(api, other.user, BOOKINGS, {"event": event.pk, "seats": 2})

    assert response.status_code == 202
    decide_pending(event_id=event.pk)
    assert Booking.objects.get(customer=other).seats == 2
