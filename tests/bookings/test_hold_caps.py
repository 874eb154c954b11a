"""Seat hoarding with holds over HTTP: a customer's caps on holds and held seats (per event,
over all events), the cool-down before holding again where seats were just given back, and
holds that end at the event's start. Decided by the event's worker (``decide_pending``)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bookings.decisions import decide_partition, decide_pending
from apps.bookings.invariants import check_invariants
from apps.bookings.models import Booking, BookingStatus, Reason, RequestStatus
from apps.events.models import Event
from tests.factories import CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db

HOLDS = "/bookingapi/holds/"


@pytest.fixture(autouse=True)
def healthy_afterwards(db):
    yield
    assert check_invariants(pending_threshold_seconds=3600) == []


@pytest.fixture
def limits(settings):
    settings.BOOKING_HELD_SEATS_PER_CUSTOMER_PER_EVENT = 4
    settings.BOOKING_HOLDS_PER_CUSTOMER = 2
    settings.BOOKING_HELD_SEATS_PER_CUSTOMER_TOTAL = 6
    settings.BOOKING_HOLD_COOLDOWN_SECONDS = 300
    return settings


def hold(api, customer, event, seats: int = 1) -> dict:
    """Ask for a hold and let the event's worker decide it: the request as then read."""
    client = api.as_user(customer.user)
    response = client.post(HOLDS, {"event": event.pk, "seats": seats}, format="json")
    assert response.status_code == 202, response.json()
    decide_pending(event_id=event.pk)
    return client.get(f"/bookingapi/requests/{response.json()['id']}/").json()


def refused(request: dict) -> tuple[str, str]:
    return request["status"], request["reason"]


def test_a_hold_keeps_at_most_the_per_event_seats(api, limits):
    event = EventFactory(capacity=5)
    customer = CustomerFactory()

    too_many = hold(api, customer, event, seats=5)
    allowed = hold(api, customer, event, seats=4)

    assert refused(too_many) == (RequestStatus.REJECTED, Reason.HOLD_LIMIT_REACHED)
    assert too_many["message"].startswith("You already hold as many seats")
    assert allowed["status"] == RequestStatus.CONFIRMED
    assert Event.objects.get(pk=event.pk).seats_taken == 4


def test_held_seats_over_all_events_are_capped(api, limits):
    customer = CustomerFactory()
    first, second = EventFactory(), EventFactory()

    kept = hold(api, customer, first, seats=4)
    over = hold(api, customer, second, seats=4)
    within = hold(api, customer, second, seats=2)

    assert kept["status"] == RequestStatus.CONFIRMED
    assert refused(over) == (RequestStatus.REJECTED, Reason.HOLD_LIMIT_REACHED)
    assert within["status"] == RequestStatus.CONFIRMED


def test_live_holds_over_all_events_are_capped_and_free_again_once_one_ends(api, limits):
    customer = CustomerFactory()
    events = [EventFactory() for _ in range(3)]
    client = api.as_user(customer.user)

    answers = [hold(api, customer, event) for event in events]
    first_hold = Booking.objects.get(customer=customer, event=events[0])
    client.post(f"{HOLDS}{first_hold.pk}/confirm/", format="json")
    decide_pending(event_id=events[0].pk)
    after_confirm = hold(api, customer, events[2])

    assert [a["reason"] for a in answers] == [Reason.HELD, Reason.HELD, Reason.HOLD_LIMIT_REACHED]
    assert after_confirm["reason"] == Reason.HELD


def test_a_released_hold_cannot_be_held_again_at_once(api, limits):
    event = EventFactory(capacity=5)
    customer = CustomerFactory()
    client = api.as_user(customer.user)
    held = hold(api, customer, event, seats=4)

    client.delete(f"{HOLDS}{held['booking']['id']}/")
    decide_pending(event_id=event.pk)
    again = hold(api, customer, event, seats=4)
    elsewhere = hold(api, customer, EventFactory(), seats=4)
    # Someone else gets the seats given back.
    other = hold(api, CustomerFactory(), event, seats=4)

    assert refused(again) == (RequestStatus.REJECTED, Reason.HOLD_COOLDOWN)
    assert elsewhere["reason"] == Reason.HELD
    assert other["reason"] == Reason.HELD


def test_an_expired_hold_waits_out_the_cool_down_too(api, limits):
    event = EventFactory()
    customer = CustomerFactory()
    held = hold(api, customer, event, seats=2)
    Booking.objects.filter(pk=held["booking"]["id"]).update(
        status=BookingStatus.EXPIRED, updated_at=timezone.now() - timedelta(seconds=200)
    )
    Event.objects.filter(pk=event.pk).update(seats_taken=0)

    soon = hold(api, customer, event)
    Booking.objects.filter(pk=held["booking"]["id"]).update(
        updated_at=timezone.now() - timedelta(seconds=301)
    )
    later = hold(api, customer, event)

    assert refused(soon) == (RequestStatus.REJECTED, Reason.HOLD_COOLDOWN)
    assert later["reason"] == Reason.HELD


def test_holds_decided_in_one_round_count_against_each_other(api, limits):
    """One partition round decides several events' commands together: a hold granted at one
    event counts against the customer's hold at the next."""
    customer = CustomerFactory()
    events = [EventFactory() for _ in range(3)]
    Event.objects.filter(pk__in=[e.pk for e in events]).update(partition=0)
    client = api.as_user(customer.user)
    ids = [
        client.post(HOLDS, {"event": e.pk, "seats": 3}, format="json").json()["id"] for e in events
    ]

    decide_partition(partition=0)

    reasons = [client.get(f"/bookingapi/requests/{i}/").json()["reason"] for i in ids]
    assert reasons == [Reason.HELD, Reason.HELD, Reason.HOLD_LIMIT_REACHED]


# --- holds end at the event's start ------------------------------------------------------------


def test_a_holds_deadline_never_passes_the_events_start(api, settings):
    starts = timezone.now() + timedelta(seconds=90)
    event = EventFactory(start_time=starts, hold_seconds=600)

    held = hold(api, CustomerFactory(), event)

    assert held["reason"] == Reason.HELD
    assert Booking.objects.get(pk=held["booking"]["id"]).expires_at == starts


def test_a_hold_cannot_be_confirmed_once_the_event_has_started(api):
    event = EventFactory()
    customer = CustomerFactory()
    held = hold(api, customer, event)
    # A hold from before deadlines stopped at the start, its event now begun.
    Event.objects.filter(pk=event.pk).update(start_time=timezone.now() - timedelta(seconds=21))

    confirm = api.as_user(customer.user).post(
        f"{HOLDS}{held['booking']['id']}/confirm/", format="json"
    )

    assert confirm.status_code == 409
    assert confirm.json()["error"]["code"] == Reason.EVENT_CLOSED
    assert Booking.objects.get(pk=held["booking"]["id"]).status == BookingStatus.HELD


def test_the_worker_refuses_a_confirm_decided_after_the_start(api):
    event = EventFactory()
    customer = CustomerFactory()
    held = hold(api, customer, event)
    client = api.as_user(customer.user)
    confirm = client.post(f"{HOLDS}{held['booking']['id']}/confirm/", format="json").json()
    Event.objects.filter(pk=event.pk).update(start_time=timezone.now() - timedelta(seconds=1))

    decide_pending(event_id=event.pk)

    decided = client.get(f"/bookingapi/requests/{confirm['id']}/").json()
    assert refused(decided) == (RequestStatus.REJECTED, Reason.EVENT_CLOSED)
    assert Booking.objects.get(pk=held["booking"]["id"]).status == BookingStatus.HELD
