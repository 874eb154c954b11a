"""Who may do what on /eventapi/event/: anonymous, the owner, another organizer, a customer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bookings.models import BookingRequest, CommandKind, RequestStatus
from apps.events.models import Event
from tests.events.helpers import event_payload
from tests.factories import BookingFactory, EventFactory

pytestmark = pytest.mark.django_db

LIST_ENDPOINTS = ["/eventapi/event/", "/eventapi/event/upcoming/", "/eventapi/event/past/"]
ORGANIZER_ENDPOINTS = ["/eventapi/event/my_events/", "/eventapi/event/dashboard/"]


def detail(event) -> str:
    return f"/eventapi/event/{event.pk}/"


# --- anonymous ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", LIST_ENDPOINTS + ORGANIZER_ENDPOINTS)
def test_anonymous_reads_are_refused_with_401(api, url):
    response = api.get(url)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_anonymous_retrieve_is_refused_with_401(api, event):
    response = api.get(detail(event))

    assert response.status_code == 401


def test_anonymous_create_is_refused_with_401(api):
    response = api.post("/eventapi/event/", event_payload(), format="json")

    assert response.status_code == 401
    assert not Event.objects.exists()


def test_anonymous_update_is_refused_with_401(api, event):
    response = api.patch(detail(event), {"title": "Hijacked"}, format="json")

    assert response.status_code == 401
    event.refresh_from_db()
    assert event.title != "Hijacked"


def test_anonymous_delete_is_refused_with_401(api, event):
    response = api.delete(detail(event))

    assert response.status_code == 401
    assert Event.objects.live().filter(pk=event.pk).exists()


# --- reading: every signed-in role --------------------------------------------------------------


@pytest.mark.parametrize("role", ["organizer", "other_organizer", "customer"])
def test_every_signed_in_role_lists_events(api, request, event, role):
    user = request.getfixturevalue(role).user

    response = api.as_user(user).get("/eventapi/event/")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [event.pk]


@pytest.mark.parametrize("role", ["organizer", "other_organizer", "customer"])
def test_every_signed_in_role_retrieves_an_event(api, request, event, role):
    user = request.getfixturevalue(role).user

    response = api.as_user(user).get(detail(event))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == event.pk
    assert body["title"] == event.title
    assert body["creator"] == event.creator_id
    assert body["creator_name"] == event.creator.organization_name


def test_retrieving_an_unknown_event_is_404(api, customer):
    response = api.as_user(customer.user).get("/eventapi/event/999999/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_customer_sees_upcoming_and_past_events(api, customer, organizer):
    now = timezone.now()
    upcoming = EventFactory(creator=organizer)
    past = EventFactory(
        creator=organizer, start_time=now - timedelta(days=2), end_time=now - timedelta(days=1)
    )
    client = api.as_user(customer.user)

    assert [e["id"] for e in client.get("/eventapi/event/upcoming/").json()["results"]] == [
        upcoming.pk
    ]
    assert [e["id"] for e in client.get("/eventapi/event/past/").json()["results"]] == [past.pk]


def test_an_ongoing_event_is_neither_upcoming_nor_past(api, customer):
    now = timezone.now()
    EventFactory(start_time=now - timedelta(hours=1), end_time=now + timedelta(hours=1))
    client = api.as_user(customer.user)

    assert client.get("/eventapi/event/upcoming/").json()["count"] == 0
    assert client.get("/eventapi/event/past/").json()["count"] == 0
    assert client.get("/eventapi/event/").json()["count"] == 1


# --- create -------------------------------------------------------------------------------------


def test_an_organizer_creates_an_event(api, organizer):
    response = api.as_user(organizer.user).post("/eventapi/event/", event_payload(), format="json")

    assert response.status_code == 201
    body = response.json()
    event = Event.objects.get(pk=body["id"])
    assert event.creator == organizer
    assert event.title == "Jazz night"
    assert event.capacity == 50
    assert body["creator"] == organizer.pk
    assert body["seats_taken"] == 0
    assert body["available_slots"] == 50
    assert body["is_full"] is False


def test_a_customer_cannot_create_an_event(api, customer):
    response = api.as_user(customer.user).post("/eventapi/event/", event_payload(), format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Event.objects.exists()


def test_read_only_fields_in_a_create_are_ignored(api, organizer, other_organizer):
    payload = event_payload(seats_taken=7, partition=999, creator=other_organizer.pk)

    response = api.as_user(organizer.user).post("/eventapi/event/", payload, format="json")

    assert response.status_code == 201
    event = Event.objects.get(pk=response.json()["id"])
    assert event.seats_taken == 0
    assert event.creator == organizer
    assert event.partition != 999


# --- my_events / dashboard ----------------------------------------------------------------------


def test_my_events_lists_only_the_callers_events(api, organizer, other_organizer):
    mine = EventFactory(creator=organizer)
    EventFactory(creator=other_organizer)

    response = api.as_user(organizer.user).get("/eventapi/event/my_events/")

    assert response.status_code == 200
    assert [e["id"] for e in response.json()["results"]] == [mine.pk]


@pytest.mark.parametrize("url", ORGANIZER_ENDPOINTS)
def test_organizer_only_lists_are_refused_to_customers(api, customer, url):
    response = api.as_user(customer.user).get(url)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_the_dashboard_shows_the_line_of_each_of_the_callers_events(
    api, organizer, other_organizer
):
    event = EventFactory(creator=organizer, capacity=5, seats_taken=1)
    BookingFactory(event=event)
    BookingRequest.objects.create(
        kind=CommandKind.BOOK, user_id=organizer.user_id, event=event, status=RequestStatus.PENDING
    )
    EventFactory(creator=other_organizer)

    response = api.as_user(organizer.user).get("/eventapi/event/dashboard/")

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["id"] == event.pk
    assert row["seats_taken"] == 1
    assert row["pending_commands"] == 1
    assert row["oldest_pending_age_seconds"] >= 0


def test_the_dashboard_of_an_event_with_no_line(api, organizer):
    EventFactory(creator=organizer)

    [row] = api.as_user(organizer.user).get("/eventapi/event/dashboard/").json()["results"]

    assert row["pending_commands"] == 0
    assert row["oldest_pending_age_seconds"] is None


# --- update -------------------------------------------------------------------------------------


def test_the_owner_updates_plain_fields(api, organizer, event):
    response = api.as_user(organizer.user).patch(
        detail(event), {"title": "Renamed", "description": "New text"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["title"] == "Renamed"
    event.refresh_from_db()
    assert (event.title, event.description) == ("Renamed", "New text")
    assert not BookingRequest.objects.exists()


@pytest.mark.parametrize("role", ["other_organizer", "customer"])
def test_only_the_owner_may_update(api, request, event, role):
    user = request.getfixturevalue(role).user
    title = event.title

    response = api.as_user(user).patch(detail(event), {"title": "Hijacked"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    event.refresh_from_db()
    assert event.title == title


def test_updating_an_unknown_event_is_404(api, organizer):
    response = api.as_user(organizer.user).patch(
        "/eventapi/event/999999/", {"title": "x"}, format="json"
    )

    assert response.status_code == 404


def test_a_capacity_change_becomes_a_queued_command(api, organizer, event):
    response = api.as_user(organizer.user).patch(detail(event), {"capacity": 25}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["kind"] == "set_capacity"
    command = BookingRequest.objects.get(uid=body["id"])
    assert command.payload == {"capacity": 25}
    assert response.headers["Location"].endswith(f"/{command.uid}/")
    event.refresh_from_db()
    assert event.capacity == 10  # the worker applies it, not the API


def test_patching_the_same_capacity_is_a_plain_update(api, organizer, event):
    response = api.as_user(organizer.user).patch(
        detail(event), {"capacity": event.capacity}, format="json"
    )

    assert response.status_code == 200
    assert not BookingRequest.objects.exists()


def test_put_is_not_allowed_on_an_event(api, organizer, event):
    response = api.as_user(organizer.user).put(detail(event), {"title": "x"}, format="json")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


# --- delete -------------------------------------------------------------------------------------


def test_the_owner_deletes_an_event_without_bookings(api, organizer, customer, event):
    response = api.as_user(organizer.user).delete(detail(event))

    assert response.status_code == 204
    assert Event.objects.get(pk=event.pk).deleted_at is not None
    reader = api.as_user(customer.user)
    assert reader.get(detail(event)).status_code == 404
    assert reader.get("/eventapi/event/").json()["count"] == 0


@pytest.mark.parametrize("role", ["other_organizer", "customer"])
def test_only_the_owner_may_delete(api, request, event, role):
    user = request.getfixturevalue(role).user

    response = api.as_user(user).delete(detail(event))

    assert response.status_code == 403
    assert Event.objects.live().filter(pk=event.pk).exists()


def test_deleting_an_unknown_event_is_404(api, organizer):
    response = api.as_user(organizer.user).delete("/eventapi/event/999999/")

    assert response.status_code == 404


def test_deleting_twice_is_404_the_second_time(api, organizer, event):
    client = api.as_user(organizer.user)
    client.delete(detail(event))

    response = client.delete(detail(event))

    assert response.status_code == 404


def test_an_event_with_bookings_is_not_deleted_without_force(api, organizer):
    event = EventFactory(creator=organizer, seats_taken=1)
    BookingFactory(event=event)

    response = api.as_user(organizer.user).delete(detail(event))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "event_has_bookings"
    assert Event.objects.live().filter(pk=event.pk).exists()


def test_a_forced_delete_of_an_event_with_bookings_is_queued(api, organizer):
    event = EventFactory(creator=organizer, seats_taken=1)
    BookingFactory(event=event)

    response = api.as_user(organizer.user).delete(f"{detail(event)}?force=true")

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert BookingRequest.objects.get(uid=response.json()["id"]).kind == CommandKind.CANCEL_EVENT
    assert Event.objects.live().filter(pk=event.pk).exists()
