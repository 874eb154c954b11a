"""The plain shape builders (``booking_body``, ``request_body``) answer exactly what the
serializers answer, for every state a request can be in."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bookings.models import BookingStatus, Reason, RequestStatus
from apps.bookings.serializers import (
    BookingRequestSerializer,
    BookingSerializer,
    booking_body,
    request_body,
)
from tests.factories import BookingFactory, CustomerFactory, EventFactory
from tests.webhooks.factories import BookingRequestFactory

pytestmark = pytest.mark.django_db


def _body(booking):
    return booking_body(
        booking,
        event_title=booking.event.title,
        customer_username=booking.customer.user.username,
    )


@pytest.mark.parametrize("status", [BookingStatus.ACTIVE, BookingStatus.CANCELLED])
def test_a_booking_is_shown_as_the_serializer_shows_it(event, status):
    cancelled_at = timezone.now() - timedelta(minutes=3) if status == "cancelled" else None
    booking = BookingFactory(event=event, status=status, cancelled_at=cancelled_at)

    assert _body(booking) == BookingSerializer(booking).data


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (RequestStatus.PENDING, ""),
        (RequestStatus.CONFIRMED, Reason.BOOKED),
        (RequestStatus.REJECTED, Reason.SOLD_OUT),
        (RequestStatus.WAITLISTED, Reason.WAITLISTED),
    ],
)
def test_a_request_is_shown_as_the_serializer_shows_it(status, reason):
    event = EventFactory()
    customer = CustomerFactory()
    booking = BookingFactory(event=event, customer=customer) if status == "confirmed" else None
    request = BookingRequestFactory(
        event=event,
        customer=customer,
        booking=booking,
        status=status,
        reason=reason,
        payload={"note": "x"},
        decided_at=None if status == "pending" else timezone.now(),
    )
    request.ahead_in_line, request.ahead_in_waitlist = 4, 2

    shown = request_body(request, booking=_body(booking) if booking else None)

    assert shown == BookingRequestSerializer(request).data


@pytest.mark.parametrize(
    "body",
    [
        {"event": 7},
        {"event": 7, "seats": 3},
        {"event": "7"},
        {"event": 7.0},
        {"event": True},
        {"event": 0},
        {"event": 2**63},
        {"event": 7, "seats": 0},
        {"event": 7, "seats": 11},
        {"event": 7, "seats": "2"},
        {"seats": 2},
        {},
        [7],
        "7",
        None,
        {"event": 7, "other": "ignored"},
    ],
)
def test_the_book_body_fast_path_answers_as_the_serializer_does(body):
    from rest_framework.exceptions import ValidationError

    from apps.bookings.serializers import BookRequestSerializer, book_request

    serializer = BookRequestSerializer(data=body)
    if serializer.is_valid():
        expected = (serializer.validated_data["event"], serializer.validated_data["seats"])
        assert book_request(body) == expected
    else:
        with pytest.raises(ValidationError) as refused:
            book_request(body)
        assert refused.value.detail == serializer.errors
