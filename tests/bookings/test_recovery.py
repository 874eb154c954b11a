"""Nothing lost: a command whose publish fails is still accepted and decided later."""

from datetime import timedelta

import pytest
from kombu.exceptions import OperationalError

from apps.bookings import commands
from apps.bookings.models import BookingRequest, RequestStatus
from apps.bookings.sweeper import sweep_pending
from tests.conftest import wait_until


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(**kwargs):
        raise OperationalError("broker unreachable")

    monkeypatch.setattr(commands, "ring", refuse)
    return monkeypatch


@pytest.mark.django_db(transaction=True)
def test_a_request_is_accepted_while_the_broker_is_down(api, customer, event, broker_down):
    response = api.as_user(customer.user).post(
        "/bookingapi/booking/", {"event": event.pk}, format="json"
    )
    assert response.status_code == 202
    assert BookingRequest.objects.get(uid=response.json()["id"]).status == RequestStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_rings_again_once_the_broker_is_back(
    api, customer, event, broker_down, celery_worker
):
    response = api.as_user(customer.user).post(
        "/bookingapi/booking/", {"event": event.pk}, format="json"
    )
    command = BookingRequest.objects.get(uid=response.json()["id"])
    broker_down.undo()  # the broker is back
    BookingRequest.objects.filter(pk=command.pk).update(
        created_at=command.created_at - timedelta(minutes=1)
    )

    assert sweep_pending(older_than_seconds=5) == 1

    wait_until(lambda: BookingRequest.objects.get(pk=command.pk).status == RequestStatus.CONFIRMED)
    command.refresh_from_db()
    assert command.attempts == 2
    event.refresh_from_db()
    assert event.seats_taken == 1


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_leaves_young_pending_commands_alone(customer, event, broker_down):
    from apps.bookings.commands import request_command
    from apps.bookings.models import CommandKind

    request_command(
        user_id=customer.user_id, event=event, kind=CommandKind.BOOK, customer_id=customer.pk
    )
    assert sweep_pending(older_than_seconds=60) == 0
