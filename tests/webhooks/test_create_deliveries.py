"""Which subscriptions hear about which outcomes (create_deliveries, in the worker's
transaction)."""

import pytest
from django.db import transaction

from apps.bookings.models import (
    Booking,
    BookingRequest,
    BookingStatus,
    CommandKind,
    RequestStatus,
)
from apps.bookings.outcomes import Outcome, outcome_data
from apps.bookings.serializers import BookingSerializer
from apps.webhooks import deliveries
from apps.webhooks.models import EventType, WebhookDelivery
from tests.factories import BookingFactory, CustomerFactory, EventFactory, OrganizerFactory
from tests.webhooks.factories import BookingRequestFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def create_deliveries(*, event, outcomes):
    """As the booking worker calls it: with the booking side's payload shapes."""
    return deliveries.create_deliveries(batches=[(event, outcomes)], describe=outcome_data)


def _confirmed(event, customer=None):
    customer = customer or CustomerFactory()
    booking = BookingFactory(event=event, customer=customer)
    request = BookingRequestFactory(event=event, customer=customer, booking=booking)
    return Outcome(EventType.BOOKING_CONFIRMED, request, booking)


def _rejected(event, customer=None):
    request = BookingRequestFactory(
        event=event, customer=customer or CustomerFactory(), status=RequestStatus.REJECTED
    )
    return Outcome(EventType.BOOKING_REJECTED, request, None)


def _deliveries_to(subscription):
    return list(WebhookDelivery.objects.filter(subscription=subscription).order_by("id"))


def test_a_customer_hears_about_its_own_requests_only(event, customer):
    subscription = SubscriptionFactory(owner=customer.user)
    mine, theirs = _confirmed(event, customer), _confirmed(event)

    create_deliveries(event=event, outcomes=[mine, theirs])

    (delivery,) = _deliveries_to(subscription)
    assert delivery.payload["data"]["request"]["id"] == str(mine.request.uid)


def test_an_organizer_hears_about_every_outcome_on_its_events_only(event, organizer):
    subscription = SubscriptionFactory(owner=organizer.user)
    other_event = EventFactory(creator=OrganizerFactory())

    create_deliveries(event=event, outcomes=[_confirmed(event), _rejected(event)])
    create_deliveries(event=other_event, outcomes=[_confirmed(other_event)])

    assert [d.event_type for d in _deliveries_to(subscription)] == [
        EventType.BOOKING_CONFIRMED,
        EventType.BOOKING_REJECTED,
    ]


def test_several_events_in_one_call_each_reach_their_own_organizer(event, organizer):
    mine = SubscriptionFactory(owner=organizer.user)
    other_event = EventFactory(creator=OrganizerFactory())
    theirs = SubscriptionFactory(owner=other_event.creator.user)
    ours, other = _confirmed(event), _confirmed(other_event)

    deliveries.create_deliveries(
        batches=[(event, [ours]), (other_event, [other])], describe=outcome_data
    )

    [to_me], [to_them] = _deliveries_to(mine), _deliveries_to(theirs)
    assert to_me.payload["data"]["request"]["id"] == str(ours.request.uid)
    assert to_them.payload["data"]["request"]["id"] == str(other.request.uid)
    assert to_them.payload["data"]["booking"]["event_title"] == other_event.title


def test_a_subscription_hears_only_its_event_types(event, customer):
    subscription = SubscriptionFactory(
        owner=customer.user, event_types=[EventType.BOOKING_REJECTED]
    )

    create_deliveries(event=event, outcomes=[_confirmed(event, customer)])

    assert _deliveries_to(subscription) == []


def test_a_disabled_subscription_hears_nothing(event, customer):
    subscription = SubscriptionFactory(owner=customer.user, is_active=False)

    create_deliveries(event=event, outcomes=[_confirmed(event, customer)])

    assert _deliveries_to(subscription) == []


def test_an_event_cancellation_reaches_the_bookings_customer(event, organizer, customer):
    subscription = SubscriptionFactory(owner=customer.user)
    booking = BookingFactory(event=event, customer=customer, status=BookingStatus.CANCELLED)
    command = BookingRequestFactory(
        event=event, kind=CommandKind.CANCEL_EVENT, customer=None, user=organizer.user
    )

    create_deliveries(
        event=event, outcomes=[Outcome(EventType.BOOKING_CANCELLED, command, booking)]
    )

    (delivery,) = _deliveries_to(subscription)
    assert delivery.event_type == EventType.BOOKING_CANCELLED
    assert delivery.payload["data"]["booking"]["id"] == booking.pk


def test_the_payload_shows_the_request_and_booking_as_the_api_does(event, customer):
    SubscriptionFactory(owner=customer.user)
    outcome = _confirmed(event, customer)

    create_deliveries(event=event, outcomes=[outcome])

    delivery = WebhookDelivery.objects.get()
    assert set(delivery.payload) == {"type", "id", "timestamp", "data"}
    assert delivery.payload["type"] == "booking.confirmed"
    assert delivery.payload["id"] == str(delivery.uid)
    assert delivery.payload["data"]["booking"] == BookingSerializer(outcome.booking).data
    assert delivery.payload["data"]["request"]["status"] == "confirmed"


def test_deliveries_are_published_only_after_the_commit(
    event, customer, django_capture_on_commit_callbacks
):
    SubscriptionFactory(owner=customer.user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        ids = create_deliveries(event=event, outcomes=[_confirmed(event, customer)])
    assert len(ids) == 1
    assert len(callbacks) == 1


def test_a_batch_hands_its_deliveries_over_in_one_message_after_the_commit(
    event, organizer, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        deliveries.current_app, "send_task", lambda name, **kwargs: sent.append((name, kwargs))
    )
    SubscriptionFactory(owner=organizer.user)
    SubscriptionFactory(owner=organizer.user)
    outcomes = [_confirmed(event) for _ in range(5)]

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        ids = create_deliveries(event=event, outcomes=outcomes)

    assert len(ids) == 10
    ((name, kwargs),) = sent
    assert name == "webhooks.publish"
    assert sorted(kwargs["args"][0]) == sorted(ids)
    assert kwargs["queue"] == "webhooks"


def test_queries_do_not_grow_with_the_outcomes(event, organizer, django_assert_max_num_queries):
    """A flash crowd's batch is hundreds of outcomes: subscriptions, customers and the insert
    are each one query."""
    outcomes = [_confirmed(event) for _ in range(30)] + [_rejected(event) for _ in range(30)]
    SubscriptionFactory(owner=organizer.user)
    SubscriptionFactory(owner=outcomes[0].request.user)
    # As the worker holds them: rows loaded by id, no related rows cached.
    requests = BookingRequest.objects.in_bulk([o.request.pk for o in outcomes])
    bookings = Booking.objects.in_bulk([o.booking.pk for o in outcomes if o.booking])
    fresh = [
        Outcome(o.event_type, requests[o.request.pk], bookings[o.booking.pk] if o.booking else None)
        for o in outcomes
    ]

    with django_assert_max_num_queries(6):
        ids = create_deliveries(event=event, outcomes=fresh)

    assert len(ids) == 61
