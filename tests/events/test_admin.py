"""The staff admin cannot change what only the partition's worker writes: each path ends with
the booking invariants intact."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from apps.bookings.commands import request_command
from apps.bookings.decisions import decide_pending
from apps.bookings.invariants import check_invariants
from apps.bookings.models import BookingRequest, CommandKind, RequestStatus
from apps.events.admin import EventAdmin
from apps.events.models import Event
from tests.factories import CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "x-Staff-93")
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def healthy_afterwards(db):
    yield
    assert check_invariants(pending_threshold_seconds=3600) == []


def book(event) -> BookingRequest:
    customer = CustomerFactory()
    return request_command(
        user_id=customer.user_id, event=event, kind=CommandKind.BOOK, customer_id=customer.pk
    )[0]


def form_data(event: Event, **changes) -> dict:
    start, end = event.start_time, event.end_time
    data = {
        "title": event.title,
        "description": event.description,
        "start_time_0": start.strftime("%Y-%m-%d"),
        "start_time_1": start.strftime("%H:%M:%S"),
        "end_time_0": end.strftime("%Y-%m-%d"),
        "end_time_1": end.strftime("%H:%M:%S"),
        "capacity": event.capacity,
        "creator": event.creator_id,
        "waitlist_limit": "",
    }
    if event.waitlist_enabled:
        data["waitlist_enabled"] = "on"
    data.update(changes)
    return data


def change_url(event) -> str:
    return reverse("admin:events_event_change", args=[event.pk])


def test_an_admin_save_during_a_decision_does_not_write_back_a_stale_seat_count(staff, monkeypatch):
    event = EventFactory(capacity=1)
    first = book(event)
    loaded = EventAdmin.get_object

    def load_then_worker_decides(self, request, object_id, from_field=None):
        obj = loaded(self, request, object_id, from_field)
        if request.method == "POST":
            decide_pending(event_id=event.pk)  # seats_taken 0 -> 1 behind the admin's copy
        return obj

    monkeypatch.setattr(EventAdmin, "get_object", load_then_worker_decides)
    response = staff.post(change_url(event), form_data(event, title="Renamed"))
    assert response.status_code == 302, response.content[:2000]

    event.refresh_from_db()
    assert (event.title, event.seats_taken) == ("Renamed", 1)
    first.refresh_from_db()
    assert first.status == RequestStatus.CONFIRMED
    # The seat is still taken: a second customer is refused, not booked over capacity.
    second = book(event)
    decide_pending(event_id=event.pk)
    second.refresh_from_db()
    assert second.status == RequestStatus.REJECTED


def test_the_worker_s_fields_are_read_only_in_the_admin(staff):
    event = EventFactory(capacity=5)
    response = staff.get(change_url(event))
    form = response.context["adminform"].form
    for name in ("seats_taken", "waitlist_size", "partition", "deleted_at"):
        assert name not in form.fields
    assert "capacity" in form.fields
    # Posting them anyway changes nothing.
    response = staff.post(
        change_url(event), form_data(event, seats_taken=3, waitlist_size=2, partition=7)
    )
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.seats_taken, event.waitlist_size) == (0, 0)


def test_a_capacity_change_in_the_admin_is_a_command_on_the_event_s_queue(staff):
    event = EventFactory(capacity=2)
    book(event)
    book(event)
    decide_pending(event_id=event.pk)

    response = staff.post(change_url(event), form_data(event, capacity=1), follow=True)
    assert b"queued" in response.content
    event.refresh_from_db()
    assert event.capacity == 2  # not yet: the worker decides it
    command = BookingRequest.objects.get(event=event, kind=CommandKind.SET_CAPACITY)
    assert command.payload == {"capacity": 1}
    decide_pending(event_id=event.pk)
    command.refresh_from_db()
    event.refresh_from_db()
    # Below the seats taken: refused by the worker, as through the API.
    assert (command.status, command.reason) == ("rejected", "capacity_below_seats_taken")
    assert event.capacity == 2

    staff.post(change_url(event), form_data(event, capacity=4))
    decide_pending(event_id=event.pk)
    event.refresh_from_db()
    assert event.capacity == 4


def test_an_admin_change_that_moves_the_start_into_the_past_is_refused(staff):
    event = EventFactory()
    past = timezone.now() - timedelta(days=1)
    response = staff.post(
        change_url(event),
        form_data(event, start_time_0=past.strftime("%Y-%m-%d"), start_time_1="10:00:00"),
    )
    assert response.status_code == 200
    assert b"cannot be moved into the past" in response.content


def test_an_event_added_in_the_admin_gets_its_partition(staff, organizer):
    start = timezone.now() + timedelta(days=3)
    draft = Event(
        title="From the admin",
        start_time=start,
        end_time=start + timedelta(hours=2),
        capacity=3,
        creator=organizer,
    )
    response = staff.post(reverse("admin:events_event_add"), form_data(draft))
    assert response.status_code == 302, response.content[:2000]
    event = Event.objects.get(title="From the admin")
    assert 0 <= event.partition < 8 and event.seats_taken == 0


def test_events_are_cancelled_through_the_queue_not_deleted_in_the_admin(staff):
    event = EventFactory(capacity=3)
    book(event)
    decide_pending(event_id=event.pk)
    assert staff.get(reverse("admin:events_event_delete", args=[event.pk])).status_code == 403

    response = staff.post(
        reverse("admin:events_event_changelist"),
        {"action": "cancel_events", "_selected_action": [event.pk]},
    )
    assert response.status_code == 302
    decide_pending(event_id=event.pk)
    event.refresh_from_db()
    assert event.deleted_at is not None and event.seats_taken == 0


def test_a_full_save_of_an_event_never_writes_the_worker_s_fields():
    event = EventFactory(capacity=1)
    stale = Event.objects.get(pk=event.pk)
    book(event)
    decide_pending(event_id=event.pk)
    stale.title = "Saved from an old copy"
    stale.save()
    event.refresh_from_db()
    assert (event.title, event.seats_taken) == ("Saved from an old copy", 1)
    with pytest.raises(ValueError, match="worker"):
        stale.save(update_fields=["seats_taken"])
