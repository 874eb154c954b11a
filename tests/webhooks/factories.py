"""Webhook factories (the shared ones live in tests/factories.py)."""

import uuid

import factory
from django.conf import settings
from django.utils import timezone

from apps.bookings.models import BookingRequest, CommandKind, RequestStatus
from apps.webhooks.models import EventType, WebhookDelivery, WebhookSubscription
from apps.webhooks.signing import generate_secret
from tests.factories import CustomerFactory, EventFactory, UserFactory


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    owner = factory.SubFactory(UserFactory)
    url = "https://hooks.example.com/bookings"
    event_types = factory.LazyFunction(lambda: list(EventType.values))
    secret = factory.LazyFunction(generate_secret)


class BookingRequestFactory(factory.django.DjangoModelFactory):
    """A decided book command, as the worker leaves it."""

    class Meta:
        model = BookingRequest

    kind = CommandKind.BOOK
    customer = factory.SubFactory(CustomerFactory)
    user = factory.SelfAttribute("customer.user")
    event = factory.SubFactory(EventFactory)
    status = RequestStatus.CONFIRMED


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A delivery due now, as ``create_deliveries`` leaves it (before its first attempt)."""

    class Meta:
        model = WebhookDelivery

    uid = factory.LazyFunction(uuid.uuid4)
    subscription = factory.SubFactory(SubscriptionFactory)
    event_type = EventType.BOOKING_CONFIRMED
    payload = factory.LazyAttribute(
        lambda d: {
            "type": d.event_type,
            "id": str(d.uid),
            "timestamp": timezone.now().isoformat(),
            "data": {"request": {"status": "confirmed"}, "booking": None},
        }
    )
    next_attempt_at = factory.LazyFunction(timezone.now)
    max_attempts = factory.LazyFunction(lambda: 1 + len(settings.WEBHOOK_RETRY_SCHEDULE))
