import pytest

from apps.bookings.models import BookingRequest, RequestStatus
from tests.conftest import wait_until


@pytest.mark.django_db(transaction=True)
def test_a_booking_request_is_decided_by_the_worker(api, customer, event, celery_worker):
    response = api.as_user(customer.user).post(
        "/bookingapi/booking/", {"event": event.pk}, format="json"
    )
    assert response.status_code == 202
    request = BookingRequest.objects.get(uid=response.json()["id"])
    wait_until(lambda: BookingRequest.objects.get(pk=request.pk).status != RequestStatus.PENDING)
    event.refresh_from_db()
    assert event.seats_taken == 1
