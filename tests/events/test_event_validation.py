"""What an event create or update refuses, and the fields it computes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.events.models import Event
from tests.events.helpers import event_payload, iso
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def create(api, organizer, **overrides):
    return api.as_user(organizer.user).post(
        "/eventapi/event/", event_payload(**overrides), format="json"
    )


@pytest.mark.parametrize("hours", [0, -1], ids=["equal", "before"])
def test_an_event_must_end_after_it_starts(api, organizer, hours):
    start = timezone.now() + timedelta(days=1)

    response = create(
        api, organizer, start_time=iso(start), end_time=iso(start + timedelta(hours=hours))
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_time_window"
    assert "end_time" in response.json()["error"]["details"]
    assert not Event.objects.exists()


def test_an_event_cannot_start_in_the_past(api, organizer):
    start = timezone.now() - timedelta(hours=1)

    response = create(
        api, organizer, start_time=iso(start), end_time=iso(start + timedelta(hours=3))
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "start_in_past"
    assert not Event.objects.exists()


@pytest.mark.parametrize("capacity", [0, -5, 1_000_001])
def test_the_capacity_must_be_between_one_and_a_million(api, organizer, capacity):
    response = create(api, organizer, capacity=capacity)

    assert response.status_code == 400
    assert "capacity" in response.json()["error"]["details"]
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "field,value",
    [
        ("capacity", "many"),
        ("capacity", 2.5),
        ("capacity", [1]),
        ("title", {"a": 1}),
        ("start_time", 12345),
        ("waitlist_enabled", "perhaps"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(api, organizer, field, value):
    response = create(api, organizer, **{field: value})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["details"]
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "value", ["tomorrow", "2030-13-01T10:00:00Z", "2030-02-30T10:00:00Z", "", "10:00"]
)
def test_a_malformed_date_is_refused(api, organizer, value):
    response = create(api, organizer, start_time=value)

    assert response.status_code == 400
    assert "start_time" in response.json()["error"]["details"]
    assert not Event.objects.exists()


@pytest.mark.parametrize("missing", ["title", "start_time", "end_time", "capacity"])
def test_a_required_field_is_needed(api, organizer, missing):
    payload = event_payload()
    del payload[missing]

    response = api.as_user(organizer.user).post("/eventapi/event/", payload, format="json")

    assert response.status_code == 400
    assert missing in response.json()["error"]["details"]


def test_a_title_longer_than_200_characters_is_refused(api, organizer):
    response = create(api, organizer, title="x" * 201)

    assert response.status_code == 400
    assert "title" in response.json()["error"]["details"]


def test_a_json_array_body_is_refused(api, organizer):
    response = api.as_user(organizer.user).post(
        "/eventapi/event/", [event_payload()], format="json"
    )

    assert response.status_code == 400
    assert not Event.objects.exists()


def test_an_update_cannot_end_before_the_start(api, organizer, event):
    response = api.as_user(organizer.user).patch(
        f"/eventapi/event/{event.pk}/",
        {"end_time": iso(event.start_time - timedelta(hours=1))},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_time_window"
    ends = event.end_time
    event.refresh_from_db()
    assert event.end_time == ends


def test_an_update_cannot_move_the_start_into_the_past(api, organizer, event):
    response = api.as_user(organizer.user).patch(
        f"/eventapi/event/{event.pk}/",
        {"start_time": iso(timezone.now() - timedelta(hours=1))},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "start_in_past"


def test_an_update_with_a_wrong_type_is_refused(api, organizer, event):
    response = api.as_user(organizer.user).patch(
        f"/eventapi/event/{event.pk}/", {"capacity": "lots"}, format="json"
    )

    assert response.status_code == 400
    assert "capacity" in response.json()["error"]["details"]


# --- computed fields ----------------------------------------------------------------------------


def get(api, user, event) -> dict:
    return api.as_user(user).get(f"/eventapi/event/{event.pk}/").json()


def test_available_slots_is_capacity_minus_seats_taken(api, customer):
    event = EventFactory(capacity=10, seats_taken=4)

    body = get(api, customer.user, event)

    assert body["available_slots"] == 6
    assert body["is_full"] is False


def test_a_full_event_has_no_available_slots(api, customer):
    event = EventFactory(capacity=3, seats_taken=3)

    body = get(api, customer.user, event)

    assert body["available_slots"] == 0
    assert body["is_full"] is True


def test_an_upcoming_event_is_neither_past_nor_ongoing(api, customer, event):
    body = get(api, customer.user, event)

    assert (body["is_past"], body["is_ongoing"]) == (False, False)


def test_a_running_event_is_ongoing(api, customer):
    now = timezone.now()
    event = EventFactory(start_time=now - timedelta(hours=1), end_time=now + timedelta(hours=1))

    body = get(api, customer.user, event)

    assert (body["is_past"], body["is_ongoing"]) == (False, True)


def test_an_ended_event_is_past(api, customer):
    now = timezone.now()
    event = EventFactory(start_time=now - timedelta(days=1), end_time=now - timedelta(hours=1))

    body = get(api, customer.user, event)

    assert (body["is_past"], body["is_ongoing"]) == (True, False)
