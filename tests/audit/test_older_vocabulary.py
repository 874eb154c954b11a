"""History speaks the older system's vocabulary: create, update, delete, cancel, reactivate,
login, logout, register, with content_type saying what was acted on."""

import importlib

import pytest

from apps.audit.models import HistoryPoint
from apps.audit.services import record
from apps.bookings.commands import request_command
from apps.bookings.decisions import decide_pending
from apps.bookings.models import Booking, CommandKind
from apps.events.models import Event
from tests.events.helpers import event_payload
from tests.factories import CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db

URL = "/userapi/history/"


def actions(api, user, **query) -> list[tuple[str, str]]:
    body = api.as_user(user).get(URL, query).json()
    return [(p["action"], p["content_type"]) for p in body["results"]]


def test_an_organizer_finds_its_created_event_with_the_older_query(api, organizer):
    api.as_user(organizer.user).post("/eventapi/event/", event_payload(), format="json")
    event = Event.objects.get()
    api.as_user(organizer.user).patch(
        f"/eventapi/event/{event.pk}/", {"title": "New"}, format="json"
    )

    found = api.as_user(organizer.user).get(URL, {"action": "create", "content_type": "event"})

    assert [p["object_id"] for p in found.json()["results"]] == [str(event.pk)]
    assert actions(api, organizer.user, content_type="event") == [
        ("update", "event"),
        ("create", "event"),
    ]


def test_a_customers_booking_cancel_and_reactivate_use_the_older_names(api):
    customer = CustomerFactory()
    event = EventFactory()

    def command(kind, booking=None):
        request_command(
            user_id=customer.user_id,
            event=event,
            kind=kind,
            customer_id=customer.pk,
            booking_id=booking.pk if booking else None,
        )
        decide_pending(event_id=event.pk)

    command(CommandKind.BOOK)
    booking = Booking.objects.get()
    command(CommandKind.CANCEL, booking)
    command(CommandKind.REACTIVATE, booking)

    assert actions(api, customer.user, content_type="booking") == [
        ("reactivate", "booking"),
        ("cancel", "booking"),
        ("create", "booking"),
    ]


def test_stored_rows_are_renamed_by_the_data_migration(organizer, customer):
    migration = importlib.import_module("apps.audit.migrations.0002_older_action_vocabulary")
    event = EventFactory(creator=organizer)
    booking = Booking.objects.create(customer=customer, event=event)
    old = {
        "event_create": record(user_id=organizer.user_id, action="event_create", target=event),
        "event_update": record(user_id=organizer.user_id, action="event_update", target=event),
        "event_delete": record(user_id=organizer.user_id, action="event_delete", target=event),
        "booking_confirmed": record(
            user_id=customer.user_id,
            action="booking_confirmed",
            target=booking,
            details={"reason": "booked"},
        ),
        "reactivated": record(
            user_id=customer.user_id,
            action="booking_confirmed",
            target=booking,
            details={"reason": "reactivated"},
        ),
        "booking_cancelled": record(
            user_id=customer.user_id, action="booking_cancelled", target=booking
        ),
        "booking_waitlisted": record(
            user_id=customer.user_id, action="booking_waitlisted", target=booking
        ),
    }
    from django.apps import apps

    migration.forwards(apps, None)

    renamed = {name: HistoryPoint.objects.get(pk=p.pk).action for name, p in old.items()}
    assert renamed == {
        "event_create": "create",
        "event_update": "update",
        "event_delete": "delete",
        "booking_confirmed": "create",
        "reactivated": "reactivate",
        "booking_cancelled": "cancel",
        "booking_waitlisted": "booking_waitlisted",
    }

    migration.backwards(apps, None)

    assert HistoryPoint.objects.get(pk=old["event_create"].pk).action == "event_create"
    assert HistoryPoint.objects.get(pk=old["reactivated"].pk).action == "booking_confirmed"
