"""The benchmark's baseline (the old design: the decision inside the request under the event's
row lock) keeps working as the product's tables change: the bench compares nothing otherwise."""

import pytest

from apps.bookings.models import Booking, BookingStatus
from apps.events.models import Event
from tests.factories import CustomerFactory, EventFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("bench.legacy.urls")]

BOOK = "/legacyapi/book/"


def test_a_booking_is_decided_in_the_request_and_counted(api):
    event = EventFactory(capacity=1)
    customer = CustomerFactory()

    answer = api.as_user(customer.user).post(BOOK, {"event": event.pk}, format="json")

    assert answer.status_code == 201, answer.content
    assert answer["Bench-Lock-Statements"]
    booking = Booking.objects.get(event=event, customer=customer)
    assert (booking.status, booking.seats) == (BookingStatus.ACTIVE, 1)
    assert Event.objects.get(pk=event.pk).seats_taken == 1


def test_a_full_event_refuses_and_writes_nothing(api):
    event = EventFactory(capacity=1)
    first, second = CustomerFactory(), CustomerFactory()
    api.as_user(first.user).post(BOOK, {"event": event.pk}, format="json")

    answer = api.as_user(second.user).post(BOOK, {"event": event.pk}, format="json")

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "sold_out"
    assert not Booking.objects.filter(customer=second).exists()
    assert Event.objects.get(pk=event.pk).seats_taken == 1


def test_the_rate_limit_counts_bookings_not_refusals_as_in_the_new_design(api, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "commands": "1/min"}
    customer = CustomerFactory()
    sold_out = EventFactory(capacity=1)
    Event.objects.filter(pk=sold_out.pk).update(seats_taken=1)
    first, second = EventFactory(), EventFactory()
    client = api.as_user(customer.user)

    refused = [client.post(BOOK, {"event": sold_out.pk}, format="json") for _ in range(3)]
    booked = client.post(BOOK, {"event": first.pk}, format="json")
    over = client.post(BOOK, {"event": second.pk}, format="json")

    assert [r.json()["error"]["code"] for r in refused] == ["sold_out"] * 3
    assert booked.status_code == 201
    assert over.status_code == 429 and over.json()["error"]["code"] == "throttled"
    # Refused under the lock: rolled back, nothing of it written.
    assert not Booking.objects.filter(event=second).exists()
    assert Event.objects.get(pk=second.pk).seats_taken == 0
