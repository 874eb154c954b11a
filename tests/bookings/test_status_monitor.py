"""The request as a status monitor: when to look again (Retry-After), what the answer depends
on (Vary: Prefer), and withdrawing a command its worker has not decided yet (DELETE)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bookings import rules
from apps.bookings.decisions import decide_pending
from apps.bookings.invariants import check_invariants
from apps.bookings.models import BookingRequest, BookingStatus, CommandKind, Reason, RequestStatus
from apps.bookings.rules import EventState
from tests.factories import CustomerFactory, EventFactory
from workers import wakeups

BOOKINGS = "/bookingapi/booking/"
REQUESTS = "/bookingapi/requests/"


def book(api, customer, event, **headers):
    return api.as_user(customer.user).post(BOOKINGS, {"event": event.pk}, format="json", **headers)


def line_of(event, n: int) -> None:
    """``n`` book commands of other customers, pending ahead of the next one."""
    for ahead in CustomerFactory.create_batch(n):
        BookingRequest.objects.create(
            kind=CommandKind.BOOK, user=ahead.user, customer=ahead, event=event
        )


# --- Retry-After and Vary ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_202_says_when_to_look_again_and_that_it_varies_with_prefer(api, event, customer):
    response = book(api, customer, event)

    assert response.status_code == 202
    assert 1 <= int(response.headers["Retry-After"]) <= 30
    assert "Prefer" in response.headers["Vary"]


@pytest.mark.django_db
def test_a_pending_requests_get_says_when_to_look_again(api, event, customer):
    uid = book(api, customer, event).json()["id"]

    response = api.as_user(customer.user).get(f"{REQUESTS}{uid}/")

    assert response.json()["status"] == RequestStatus.PENDING
    assert 1 <= int(response.headers["Retry-After"]) <= 30


@pytest.mark.django_db
def test_a_decided_requests_get_has_no_retry_after(api, event, customer):
    uid = book(api, customer, event).json()["id"]
    decide_pending(event_id=event.pk)

    response = api.as_user(customer.user).get(f"{REQUESTS}{uid}/")

    assert response.json()["status"] == RequestStatus.CONFIRMED
    assert "Retry-After" not in response.headers


@pytest.mark.django_db
def test_the_hint_grows_with_the_line_ahead(api, organizer, customer):
    """Nothing decided lately: the first in line is told to look again at once; one far back
    is told the most (the worker is away or behind)."""
    short, long = EventFactory(creator=organizer), EventFactory(creator=organizer)
    line_of(long, 20)

    first = book(api, customer, short)
    far_back = book(api, customer, long)

    assert (first.json()["position"], far_back.json()["position"]) == (1, 21)
    assert int(first.headers["Retry-After"]) < int(far_back.headers["Retry-After"])


def test_the_hint_is_the_position_over_the_rate_heard_within_bounds(monkeypatch):
    rate = wakeups.DecisionRate(window=10)
    monkeypatch.setattr(wakeups.waiters(), "rate", rate)
    rate.heard(100)  # 10 decisions a second over the window

    assert wakeups.seconds_until_decided(50, most=30) == 5
    assert wakeups.seconds_until_decided(1, most=30) == 1
    assert wakeups.seconds_until_decided(10_000, most=30) == 30


# --- DELETE: withdrawing a pending command -----------------------------------------------------


@pytest.mark.django_db
def test_deleting_a_pending_request_has_its_worker_withdraw_it(api, event, customer):
    uid = book(api, customer, event).json()["id"]

    response = api.as_user(customer.user).delete(f"{REQUESTS}{uid}/")
    decide_pending(event_id=event.pk)

    assert response.status_code == 202
    assert response.json()["status"] == RequestStatus.PENDING
    assert response.headers["Location"] == f"{REQUESTS}{uid}/"
    withdrawn = BookingRequest.objects.get(uid=uid)
    assert (withdrawn.status, withdrawn.reason) == (RequestStatus.WITHDRAWN, Reason.WITHDRAWN)
    assert not event.bookings.exists()
    event.refresh_from_db()
    assert event.seats_taken == 0
    assert check_invariants(pending_threshold_seconds=60) == []


@pytest.mark.django_db
def test_a_withdrawn_command_does_not_hold_up_the_line_behind_it(api, event, customer):
    uid = book(api, customer, event).json()["id"]
    behind = CustomerFactory()
    later = book(api, behind, event).json()["id"]

    api.as_user(customer.user).delete(f"{REQUESTS}{uid}/")
    decide_pending(event_id=event.pk)

    assert BookingRequest.objects.get(uid=later).status == RequestStatus.CONFIRMED
    assert event.bookings.get().customer == behind


@pytest.mark.django_db
def test_deleting_a_decided_request_is_refused_and_the_decision_stands(api, event, customer):
    uid = book(api, customer, event).json()["id"]
    decide_pending(event_id=event.pk)

    response = api.as_user(customer.user).delete(f"{REQUESTS}{uid}/")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "already_decided"
    assert error["details"]["request"]["status"] == RequestStatus.CONFIRMED
    assert event.bookings.get().status == BookingStatus.ACTIVE


@pytest.mark.django_db
def test_only_the_owner_may_withdraw_a_request(api, event, customer):
    uid = book(api, customer, event).json()["id"]

    response = api.as_user(CustomerFactory().user).delete(f"{REQUESTS}{uid}/")
    decide_pending(event_id=event.pk)

    assert response.status_code == 404
    assert BookingRequest.objects.get(uid=uid).status == RequestStatus.CONFIRMED


@pytest.mark.django_db(transaction=True)
def test_delete_with_prefer_wait_answers_the_withdrawal(api, organizer, customer, celery_worker):
    event = EventFactory(creator=organizer)
    # Recorded straight in the table: no doorbell rang for it, so the withdrawal's ring is what
    # brings the worker.
    command = BookingRequest.objects.create(
        kind=CommandKind.BOOK, user=customer.user, customer=customer, event=event
    )

    response = api.as_user(customer.user).delete(f"{REQUESTS}{command.uid}/", HTTP_PREFER="wait=5")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"]) == (
        RequestStatus.WITHDRAWN,
        Reason.WITHDRAWN,
    )


def test_the_rules_withdraw_a_flagged_command_whatever_it_asks():
    now = timezone.now()
    event = EventState(capacity=1, seats_taken=0, start_time=now + timedelta(days=1))

    decision = rules.decide(
        kind=CommandKind.BOOK, event=event, now=now, payload={rules.WITHDRAW: True}
    )

    assert (decision.status, decision.reason) == (RequestStatus.WITHDRAWN, Reason.WITHDRAWN)
    assert event.seats_taken == 0
