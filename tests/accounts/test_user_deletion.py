"""Removing a user never changes seats behind the worker's back: refused, with a clear message,
while the user holds a seat, a place in line or an undecided command; allowed otherwise."""

import pytest
from django.contrib.auth import get_user_model
from django.db.models import ProtectedError
from django.urls import reverse

from apps.bookings.commands import request_command
from apps.bookings.decisions import decide_pending
from apps.bookings.invariants import check_invariants
from apps.bookings.models import Booking, BookingRequest, CommandKind, RequestStatus
from apps.events.services import delete_event
from tests.factories import CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture(autouse=True)
def healthy_afterwards(db):
    yield
    assert check_invariants(pending_threshold_seconds=3600) == []


def command(kind, event, customer, **kwargs) -> BookingRequest:
    return request_command(
        user_id=customer.user_id, event=event, kind=kind, customer_id=customer.pk, **kwargs
    )[0]


def test_a_customer_holding_a_seat_cannot_be_deleted():
    event = EventFactory(capacity=1)
    holder = CustomerFactory()
    command(CommandKind.BOOK, event, holder)
    decide_pending(event_id=event.pk)

    with pytest.raises(ProtectedError):
        holder.user.delete()
    assert Booking.objects.filter(customer=holder, status="active").count() == 1


def test_a_waitlisted_customer_cannot_be_deleted_and_the_event_keeps_deciding():
    event = EventFactory(capacity=1, waitlist_enabled=True)
    seated, waiting, later = CustomerFactory(), CustomerFactory(), CustomerFactory()
    command(CommandKind.BOOK, event, seated)
    command(CommandKind.BOOK, event, waiting)
    decide_pending(event_id=event.pk)

    with pytest.raises(ProtectedError):
        waiting.user.delete()
    with pytest.raises(ProtectedError):
        waiting.delete()
    # The waitlist is intact, so the next decisions of the event still run.
    booking = Booking.objects.get(customer=seated)
    command(CommandKind.CANCEL, event, seated, booking_id=booking.pk)
    late = command(CommandKind.BOOK, event, later)
    decide_pending(event_id=event.pk)
    late.refresh_from_db()
    assert late.status == RequestStatus.WAITLISTED
    assert Booking.objects.get(customer=waiting).status == "active"


def test_a_customer_with_a_pending_command_cannot_be_deleted():
    event = EventFactory(capacity=1)
    customer = CustomerFactory()
    command(CommandKind.BOOK, event, customer)
    with pytest.raises(ProtectedError):
        customer.user.delete()
    decide_pending(event_id=event.pk)


def test_a_customer_whose_bookings_are_all_cancelled_can_be_deleted():
    event = EventFactory(capacity=2)
    customer = CustomerFactory()
    command(CommandKind.BOOK, event, customer)
    decide_pending(event_id=event.pk)
    booking = Booking.objects.get(customer=customer)
    command(CommandKind.CANCEL, event, customer, booking_id=booking.pk)
    decide_pending(event_id=event.pk)

    customer.user.delete()
    assert not User.objects.filter(pk=customer.user_id).exists()
    assert not Booking.objects.filter(pk=booking.pk).exists()


def test_an_organizer_with_a_booked_event_cannot_be_deleted_until_it_is_cancelled():
    event = EventFactory(capacity=2)
    command(CommandKind.BOOK, event, CustomerFactory())
    decide_pending(event_id=event.pk)
    organizer_user = event.creator.user

    with pytest.raises(ProtectedError):
        organizer_user.delete()
    delete_event(event=event, user_id=organizer_user.pk, force=True)
    decide_pending(event_id=event.pk)
    organizer_user.delete()
    assert not User.objects.filter(pk=organizer_user.pk).exists()


def test_the_admin_refuses_to_delete_a_user_holding_a_seat_and_says_why(client):
    staff = User.objects.create_superuser("staff", "staff@example.com", "x-Staff-93")
    client.force_login(staff)
    event = EventFactory(capacity=1)
    holder = CustomerFactory()
    command(CommandKind.BOOK, event, holder)
    decide_pending(event_id=event.pk)

    url = reverse("admin:auth_user_delete", args=[holder.user_id])
    page = client.get(url)
    assert b"protected" in page.content
    assert b"cancel the bookings and leave the waitlists through the API first" in page.content
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 200  # the refusal page again, nothing deleted
    assert User.objects.filter(pk=holder.user_id).exists()
