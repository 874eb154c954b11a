"""Every user action leaves a HistoryPoint; /userapi/history/ shows the caller their own."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from apps.audit.models import Action, HistoryPoint
from apps.audit.services import record
from apps.events.models import Event
from tests.events.helpers import event_payload
from tests.factories import PASSWORD, CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
URL = "/userapi/history/"


def only_point(**filters) -> HistoryPoint:
    [point] = HistoryPoint.objects.filter(**filters)
    return point


def content_type_of(model) -> ContentType:
    return ContentType.objects.get_for_model(model)


# --- what is recorded ---------------------------------------------------------------------------


def test_registering_records_the_new_user(api):
    api.post(
        "/userapi/customer/register/",
        {"username": "alice", "email": "a@example.com", "password": "Blue-Kettle-Sings-71"},
        format="json",
    )

    user = User.objects.get(username="alice")
    point = only_point(action=Action.REGISTER)
    assert point.user == user
    assert point.target == user
    assert point.details == {"user_type": "customer"}


def test_logging_in_is_recorded(api, organizer):
    api.post(
        "/userapi/login/",
        {"username": organizer.user.username, "password": PASSWORD},
        format="json",
    )

    point = only_point(action=Action.LOGIN)
    assert (point.user, point.target) == (organizer.user, organizer.user)
    assert point.details == {"user_type": "organizer"}


def test_a_failed_login_records_nothing(api, organizer):
    api.post(
        "/userapi/login/", {"username": organizer.user.username, "password": "nope"}, format="json"
    )

    assert not HistoryPoint.objects.exists()


def test_logging_out_is_recorded(api, customer):
    api.as_user(customer.user).post("/userapi/logout/")

    point = only_point(action=Action.LOGOUT)
    assert (point.user, point.target) == (customer.user, customer.user)


def test_creating_an_event_is_recorded(api, organizer):
    response = api.as_user(organizer.user).post(
        "/eventapi/event/", event_payload(capacity=7), format="json"
    )

    event = Event.objects.get(pk=response.json()["id"])
    point = only_point(action=Action.CREATE)
    assert (point.user, point.target) == (organizer.user, event)
    assert point.details == {"title": "Jazz night", "capacity": 7}


def test_updating_an_event_records_the_changed_fields(api, organizer, event):
    api.as_user(organizer.user).patch(
        f"/eventapi/event/{event.pk}/", {"title": "New", "description": "Text"}, format="json"
    )

    point = only_point(action=Action.UPDATE)
    assert (point.user, point.target) == (organizer.user, event)
    assert point.details == {"changed": ["description", "title"]}


def test_an_update_that_changes_nothing_records_nothing(api, organizer, event):
    api.as_user(organizer.user).patch(
        f"/eventapi/event/{event.pk}/", {"title": event.title}, format="json"
    )

    assert not HistoryPoint.objects.filter(action=Action.UPDATE).exists()


def test_deleting_an_event_is_recorded(api, organizer, event):
    api.as_user(organizer.user).delete(f"/eventapi/event/{event.pk}/")

    point = only_point(action=Action.DELETE)
    assert point.user == organizer.user
    assert (point.content_type, point.object_id) == (content_type_of(Event), str(event.pk))
    assert point.details == {"title": event.title}


def test_a_refused_action_records_nothing(api, other_organizer, event):
    api.as_user(other_organizer.user).patch(
        f"/eventapi/event/{event.pk}/", {"title": "x"}, format="json"
    )
    api.as_user(other_organizer.user).delete(f"/eventapi/event/{event.pk}/")

    assert not HistoryPoint.objects.exists()


# --- the history endpoint -----------------------------------------------------------------------


def test_history_lists_only_the_callers_entries_newest_first(api, customer):
    someone_else = CustomerFactory()
    first = record(user_id=customer.user_id, action=Action.LOGIN, target=customer.user)
    second = record(user_id=customer.user_id, action=Action.LOGOUT, target=customer.user)
    record(user_id=someone_else.user_id, action=Action.LOGIN, target=someone_else.user)

    response = api.as_user(customer.user).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [second.pk, first.pk]
    assert body["results"][0] == {
        "id": second.pk,
        "action": "logout",
        "content_type": "user",
        "object_id": str(customer.user_id),
        "details": {},
        "created_at": body["results"][0]["created_at"],
    }


def test_history_needs_authentication(api):
    response = api.get(URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_history_is_paginated(api, customer):
    for _ in range(5):
        record(user_id=customer.user_id, action=Action.LOGIN, target=customer.user)

    body = api.as_user(customer.user).get(URL, {"page_size": 2}).json()

    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"] is not None


def test_history_filters_by_action(api, customer):
    record(user_id=customer.user_id, action=Action.LOGIN, target=customer.user)
    logout = record(user_id=customer.user_id, action=Action.LOGOUT, target=customer.user)

    body = api.as_user(customer.user).get(URL, {"action": "logout"}).json()

    assert [row["id"] for row in body["results"]] == [logout.pk]


def test_history_filters_by_several_actions(api, customer):
    login = record(user_id=customer.user_id, action=Action.LOGIN, target=customer.user)
    logout = record(user_id=customer.user_id, action=Action.LOGOUT, target=customer.user)
    record(user_id=customer.user_id, action=Action.REGISTER, target=customer.user)

    body = api.as_user(customer.user).get(f"{URL}?action=login&action=logout").json()

    assert sorted(row["id"] for row in body["results"]) == sorted([login.pk, logout.pk])


def test_history_refuses_an_unknown_action(api, customer):
    response = api.as_user(customer.user).get(URL, {"action": "teleport"})

    assert response.status_code == 400
    assert "action" in response.json()["error"]["details"]


def test_history_filters_by_model_name(api, organizer):
    event = EventFactory(creator=organizer)
    on_event = record(user_id=organizer.user_id, action=Action.UPDATE, target=event)
    record(user_id=organizer.user_id, action=Action.LOGIN, target=organizer.user)

    body = api.as_user(organizer.user).get(URL, {"content_type": "event"}).json()

    assert [row["id"] for row in body["results"]] == [on_event.pk]
    assert body["results"][0]["content_type"] == "event"


def test_history_filters_by_creation_time(api, customer):
    now = timezone.now()
    old = record(user_id=customer.user_id, action=Action.LOGIN, target=customer.user)
    HistoryPoint.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=10))
    recent = record(user_id=customer.user_id, action=Action.LOGOUT, target=customer.user)
    client = api.as_user(customer.user)
    cutoff = (now - timedelta(days=1)).isoformat()

    after = client.get(URL, {"created_after": cutoff}).json()
    before = client.get(URL, {"created_before": cutoff}).json()

    assert [row["id"] for row in after["results"]] == [recent.pk]
    assert [row["id"] for row in before["results"]] == [old.pk]


def test_history_refuses_a_malformed_date_filter(api, customer):
    response = api.as_user(customer.user).get(URL, {"created_after": "last week"})

    assert response.status_code == 400
    assert "created_after" in response.json()["error"]["details"]
