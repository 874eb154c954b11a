"""Waitlists: a full event puts customers in line; a freed seat goes to the oldest of them in
the same transaction; customers may leave the line. Service-level, then once through the worker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import Action, HistoryPoint
from apps.bookings.decisions import decide_pending
from apps.bookings.invariants import check_invariants
from apps.bookings.models import (
    Booking,
    BookingRequest,
    BookingStatus,
    CommandKind,
    Reason,
    RequestStatus,
)
from apps.events.models import Event
from tests.bookings.test_decisions import (  # noqa: F401 - healthy_afterwards is a fixture
    assert_healthy,
    book,
    capture_outcomes,
    healthy_afterwards,
    on_booking,
    outcome,
)
from tests.conftest import wait_until
from tests.factories import CustomerFactory, EventFactory


@pytest.fixture
def outcomes(monkeypatch):
    return capture_outcomes(monkeypatch)


@pytest.fixture
def full_event(organizer):
    """Capacity 2, both seats taken (by ``holders``), waitlist on."""
    event = EventFactory(creator=organizer, capacity=2, waitlist_enabled=True)
    event.holders = CustomerFactory.create_batch(2)
    for holder in event.holders:
        book(event, holder)
    decide_pending(event_id=event.pk)
    return event


def waitlist(event, count: int) -> list[BookingRequest]:
    commands = [book(event, c) for c in CustomerFactory.create_batch(count)]
    decide_pending(event_id=event.pk)
    return commands


def waitlist_position(api, request: BookingRequest) -> int | None:
    response = api.as_user(request.user).get(f"/bookingapi/requests/{request.uid}/")
    return response.json()["waitlist_position"]


@pytest.mark.django_db
def test_an_organizer_enables_a_waitlist_with_a_limit_when_creating_an_event(api, organizer):
    start = timezone.now() + timedelta(days=3)
    response = api.as_user(organizer.user).post(
        "/eventapi/event/",
        {
            "title": "Launch",
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(hours=2)).isoformat(),
            "capacity": 5,
            "waitlist_enabled": True,
            "waitlist_limit": 20,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["waitlist_enabled"], body["waitlist_limit"], body["waitlist_size"]) == (
        True,
        20,
        0,
    )


@pytest.mark.django_db
def test_an_organizer_turns_the_waitlist_on_by_patching_the_event(api, event):
    response = api.as_user(event.creator.user).patch(
        f"/eventapi/event/{event.pk}/",
        {"waitlist_enabled": True, "waitlist_limit": 3},
        format="json",
    )

    assert response.status_code == 200
    event.refresh_from_db()
    assert (event.waitlist_enabled, event.waitlist_limit) == (True, 3)


@pytest.mark.django_db
def test_booking_a_full_event_puts_the_customer_on_its_waitlist_with_a_position(
    api, full_event, outcomes
):
    first, second = waitlist(full_event, 2)

    assert outcome(first) == (RequestStatus.WAITLISTED, Reason.WAITLISTED)
    full_event.refresh_from_db()
    assert (full_event.seats_taken, full_event.waitlist_size) == (2, 2)
    body = api.as_user(second.user).get(f"/bookingapi/requests/{second.uid}/").json()
    assert (body["status"], body["waitlist_position"], body["position"]) == (
        RequestStatus.WAITLISTED,
        2,
        None,
    )
    assert waitlist_position(api, first) == 1
    assert ("booking.waitlisted", str(first.uid)) in outcomes
    assert_healthy()


@pytest.mark.django_db
def test_a_full_waitlist_rejects_further_customers(organizer):
    event = EventFactory(creator=organizer, capacity=1, waitlist_enabled=True, waitlist_limit=2)
    commands = waitlist(event, 4)

    assert [outcome(c)[1] for c in commands] == [
        Reason.BOOKED,
        Reason.WAITLISTED,
        Reason.WAITLISTED,
        Reason.WAITLIST_FULL,
    ]
    assert_healthy()


@pytest.mark.django_db
def test_a_waitlisted_customer_cannot_join_the_line_twice(full_event):
    (entry,) = waitlist(full_event, 1)
    again = book(full_event, entry.customer)

    decide_pending(event_id=full_event.pk)

    assert outcome(again) == (RequestStatus.REJECTED, Reason.ALREADY_WAITLISTED)
    assert Event.objects.get(pk=full_event.pk).waitlist_size == 1


@pytest.mark.django_db
def test_a_cancellation_promotes_the_oldest_waitlisted_in_the_same_batch(full_event, outcomes):
    first, second = waitlist(full_event, 2)
    outcomes.clear()
    cancel = on_booking(CommandKind.CANCEL, full_event, full_event.holders[0])

    assert decide_pending(event_id=full_event.pk) == 1

    assert outcome(cancel) == (RequestStatus.CONFIRMED, Reason.CANCELLED)
    assert outcome(first) == (RequestStatus.CONFIRMED, Reason.PROMOTED)
    assert outcome(second)[0] == RequestStatus.WAITLISTED
    first.refresh_from_db()
    assert first.booking.status == BookingStatus.ACTIVE
    assert first.booking.customer_id == first.customer_id
    assert outcomes == [
        ("booking.cancelled", str(cancel.uid)),
        ("booking.promoted", str(first.uid)),
    ]
    promoted = HistoryPoint.objects.get(action=Action.BOOKING_PROMOTED)
    assert promoted.details["request"] == str(first.uid)
    assert promoted.target == first.booking
    full_event.refresh_from_db()
    assert (full_event.seats_taken, full_event.waitlist_size) == (2, 1)
    assert_healthy()


@pytest.mark.django_db
def test_a_promoted_customer_who_had_cancelled_gets_the_same_booking_back(full_event):
    leaver = full_event.holders[0]
    on_booking(CommandKind.CANCEL, full_event, leaver)
    book(full_event, CustomerFactory())  # takes the freed seat
    decide_pending(event_id=full_event.pk)
    entry = book(full_event, leaver)
    decide_pending(event_id=full_event.pk)
    assert outcome(entry)[0] == RequestStatus.WAITLISTED

    on_booking(CommandKind.CANCEL, full_event, full_event.holders[1])
    decide_pending(event_id=full_event.pk)

    assert outcome(entry) == (RequestStatus.CONFIRMED, Reason.PROMOTED)
    assert Booking.objects.filter(event=full_event, customer=leaver).count() == 1
    assert Booking.objects.get(event=full_event, customer=leaver).status == BookingStatus.ACTIVE
    assert_healthy()


@pytest.mark.django_db
def test_a_customer_leaves_the_waitlist_through_the_api(api, full_event):
    first, second, third = waitlist(full_event, 3)
    client = api.as_user(first.user)

    response = client.post(f"/bookingapi/requests/{first.uid}/leave-waitlist/")

    assert response.status_code == 202
    body = response.json()
    assert (body["kind"], body["status"], body["position"]) == (
        CommandKind.LEAVE_WAITLIST,
        RequestStatus.PENDING,
        1,
    )
    decide_pending(event_id=full_event.pk)
    leave = BookingRequest.objects.get(uid=body["id"])
    assert outcome(leave) == (RequestStatus.CONFIRMED, Reason.LEFT_WAITLIST)
    assert outcome(first) == (RequestStatus.WITHDRAWN, Reason.LEFT_WAITLIST)
    assert Event.objects.get(pk=full_event.pk).waitlist_size == 2
    assert [waitlist_position(api, r) for r in (second, third)] == [1, 2]
    assert_healthy()


@pytest.mark.django_db
def test_the_next_free_seat_skips_customers_who_left_the_line(full_event):
    first, second = waitlist(full_event, 2)
    request_leave = BookingRequest.objects.create(
        kind=CommandKind.LEAVE_WAITLIST, user=first.user, customer=first.customer, event=full_event
    )
    on_booking(CommandKind.CANCEL, full_event, full_event.holders[0])

    decide_pending(event_id=full_event.pk)

    assert outcome(request_leave)[0] == RequestStatus.CONFIRMED
    assert outcome(first)[0] == RequestStatus.WITHDRAWN
    assert outcome(second) == (RequestStatus.CONFIRMED, Reason.PROMOTED)
    assert_healthy()


@pytest.mark.django_db
def test_leaving_a_waitlist_one_is_not_on_is_rejected(api, full_event):
    holder_request = BookingRequest.objects.filter(customer=full_event.holders[0]).get()

    response = api.as_user(holder_request.user).post(
        f"/bookingapi/requests/{holder_request.uid}/leave-waitlist/", HTTP_PREFER="wait=0.2"
    )
    decide_pending(event_id=full_event.pk)

    assert response.status_code == 202  # the doorbell never rings inside this test's transaction
    leave = BookingRequest.objects.get(kind=CommandKind.LEAVE_WAITLIST)
    assert outcome(leave) == (RequestStatus.REJECTED, Reason.NOT_WAITLISTED)


@pytest.mark.django_db
def test_a_customer_cannot_take_someone_else_off_the_waitlist(api, full_event):
    (entry,) = waitlist(full_event, 1)
    stranger = CustomerFactory()

    response = api.as_user(stranger.user).post(f"/bookingapi/requests/{entry.uid}/leave-waitlist/")

    assert response.status_code == 404
    assert not BookingRequest.objects.filter(kind=CommandKind.LEAVE_WAITLIST).exists()


# --- through the worker ---------------------------------------------------------------------------


def _decided(event) -> bool:
    return not BookingRequest.objects.filter(event=event, status=RequestStatus.PENDING).exists()


@pytest.mark.django_db(transaction=True)
def test_a_flash_crowd_fills_the_seats_then_the_waitlist_and_promotes_in_line_order(
    api, organizer, celery_worker
):
    event = EventFactory(creator=organizer, capacity=10, waitlist_enabled=True)
    crowd = CustomerFactory.create_batch(40)
    for customer in crowd:
        response = api.as_user(customer.user).post(
            "/bookingapi/booking/", {"event": event.pk}, format="json"
        )
        assert response.status_code == 202
    wait_until(lambda: _decided(event), timeout=20, message="the crowd's requests decided")

    statuses = list(
        BookingRequest.objects.filter(event=event).order_by("id").values_list("status", flat=True)
    )
    assert statuses == [RequestStatus.CONFIRMED] * 10 + [RequestStatus.WAITLISTED] * 30
    assert check_invariants(pending_threshold_seconds=60) == []

    line = list(
        BookingRequest.objects.filter(event=event, status=RequestStatus.WAITLISTED).order_by("id")
    )
    holders = [b.customer for b in Booking.objects.filter(event=event).order_by("id")]
    # Interleave: cancel, leave the line (the 2nd in line), cancel, cancel, cancel.
    api.as_user(holders[0].user).post(f"/bookingapi/booking/{_booking(event, holders[0])}/cancel/")
    api.as_user(line[1].user).post(f"/bookingapi/requests/{line[1].uid}/leave-waitlist/")
    for holder in holders[1:4]:
        response = api.as_user(holder.user).delete(
            f"/bookingapi/booking/{_booking(event, holder)}/"
        )
        assert response.status_code == 202
    wait_until(lambda: _decided(event), timeout=20, message="cancellations decided")

    promoted = list(
        BookingRequest.objects.filter(event=event, reason=Reason.PROMOTED)
        .order_by("decided_at", "id")
        .values_list("id", flat=True)
    )
    assert promoted == [line[0].pk, line[2].pk, line[3].pk, line[4].pk]
    assert BookingRequest.objects.get(pk=line[1].pk).status == RequestStatus.WITHDRAWN
    event.refresh_from_db()
    assert (event.seats_taken, event.waitlist_size) == (10, 25)
    assert check_invariants(pending_threshold_seconds=60) == []


def _booking(event, customer) -> int:
    return Booking.objects.get(event=event, customer=customer).pk
