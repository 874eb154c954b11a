"""Edges of the HTTP surface: ids are integers (a float is not truncated to an id)."""

import pytest

from apps.bookings.models import BookingRequest

pytestmark = pytest.mark.django_db


NOT_AN_ID = {
    "float": lambda pk: pk + 0.5,
    "integral-float": lambda pk: float(pk),
    "boolean": lambda pk: True,
    "decimal-string": lambda pk: f"{pk}.5",
    "full-width-digits": lambda pk: str(pk).translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    ),
    "list": lambda pk: [pk],
    "object": lambda pk: {"id": pk},
}


@pytest.mark.parametrize("make", NOT_AN_ID.values(), ids=NOT_AN_ID.keys())
def test_a_non_integer_event_id_is_refused_and_books_nothing(api, customer, event, make):
    response = api.as_user(customer.user).post(
        "/bookingapi/booking/", {"event": make(event.pk)}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "event" in response.json()["error"]["details"]
    assert not BookingRequest.objects.exists()


def test_an_integer_id_in_a_string_is_accepted(api, customer, event):
    response = api.as_user(customer.user).post(
        "/bookingapi/booking/", {"event": str(event.pk)}, format="json"
    )

    assert response.status_code == 202


@pytest.mark.django_db
def test_api_requests_skip_the_admins_messages_browser_requests_keep_them(rf):
    from django.contrib.messages import get_messages

    from apps.core.middleware import BrowserMessageMiddleware

    middleware = BrowserMessageMiddleware(lambda request: None)
    api_request = rf.get("/", HTTP_AUTHORIZATION="Token abc")
    browser_request = rf.get("/")
    browser_request.session = {}
    middleware.process_request(api_request)
    middleware.process_request(browser_request)

    assert not hasattr(api_request, "_messages")
    assert list(get_messages(browser_request)) == []
    assert hasattr(browser_request, "_messages")
