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


def test_a_full_event_is_refused_at_the_door_without_taking_the_lock(api):
    event = EventFactory(capacity=1)
    Event.objects.filter(pk=event.pk).update(seats_taken=1)
    customer = CustomerFactory()

    answer = api.as_user(customer.user).post(BOOK, {"event": event.pk}, format="json")

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "sold_out"
    # The same door as the new design: no lock was taken, so no hold is reported.
    assert not answer.has_header("Bench-Lock-Hold-Us")


def test_a_customer_holding_a_seat_at_a_full_event_hears_duplicate_at_the_door(api):
    event = EventFactory(capacity=1)
    customer = CustomerFactory()
    api.as_user(customer.user).post(BOOK, {"event": event.pk}, format="json")

    answer = api.as_user(customer.user).post(BOOK, {"event": event.pk}, format="json")

    assert answer.json()["error"]["code"] == "duplicate"
    assert not answer.has_header("Bench-Lock-Hold-Us")


def test_a_webhook_payload_takes_the_username_from_the_request_not_a_read_under_the_lock(
    api, settings
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.webhooks.models import WebhookDelivery
    from apps.webhooks.subscriptions import create_subscription

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    event = EventFactory(capacity=5)
    create_subscription(
        owner_id=event.creator.user_id,
        url="http://127.0.0.1:9/hook",
        event_types=["booking.confirmed"],
    )
    customer = CustomerFactory()

    with CaptureQueriesContext(connection) as queries:
        answer = api.as_user(customer.user).post(BOOK, {"event": event.pk}, format="json")

    assert answer.status_code == 201
    delivery = WebhookDelivery.objects.get()
    assert delivery.payload["data"]["booking"]["customer_username"] == customer.user.username
    assert not [q for q in queries.captured_queries if "u.username" in q["sql"]]
