"""A slow receiver cannot hold a sender: a deadline per attempt, a claim that outlives it, no
attempt past max_attempts, one attempt in flight per subscription."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.webhooks import sending, transport
from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from devtools.stack import poll
from tests.webhooks.factories import DeliveryFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_an_attempt_ends_at_its_deadline_however_slowly_the_receiver_drips(
    drip, private_urls, settings
):
    settings.WEBHOOK_ATTEMPT_DEADLINE_SECONDS = 1.5
    settings.WEBHOOK_READ_TIMEOUT_SECONDS = 5.0
    delivery = DeliveryFactory(subscription=SubscriptionFactory(url=drip.url))

    attempt = sending.attempt_delivery(delivery_id=delivery.pk)

    assert not attempt.succeeded
    assert attempt.error.startswith("Timeout: AttemptDeadlineExceeded")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempt_count == 1


def test_the_transport_raises_a_timeout_at_the_deadline(drip, private_urls, settings):
    """The receiver drips its answer for 30 s, each byte well within the read timeout: without
    the deadline the read would end only when the receiver gives up (an incomplete answer), not
    with ``AttemptDeadlineExceeded``; the sender hangs up while the receiver is still dripping."""
    settings.WEBHOOK_ATTEMPT_DEADLINE_SECONDS = 1.0
    with pytest.raises(transport.AttemptDeadlineExceeded):
        transport.post(url=drip.url, body=b"{}", headers={})
    poll(lambda: drip.hung_up == 1, timeout=10, what="the receiver to see the sender hang up")


def test_the_claim_outlives_the_attempt_deadline(settings):
    settings.WEBHOOK_ATTEMPT_DEADLINE_SECONDS = 60.0
    delivery = DeliveryFactory()
    now = timezone.now()

    assert sending.claim_delivery(delivery_id=delivery.pk, now=now) == 1

    delivery.refresh_from_db()
    assert delivery.next_attempt_at - now > timedelta(seconds=60)


def test_no_attempt_is_claimed_past_max_attempts():
    delivery = DeliveryFactory(max_attempts=2)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempt_count=2)

    assert sending.claim_delivery(delivery_id=delivery.pk) is None
    assert sending.dispatch_due_deliveries() == 0


def test_one_attempt_in_flight_per_subscription(receiver, private_urls):
    subscription = SubscriptionFactory(url=receiver.url)
    first, second = (
        DeliveryFactory(subscription=subscription),
        DeliveryFactory(subscription=subscription),
    )
    held = sending.take_subscription(subscription_id=subscription.pk)
    assert held is not None

    assert sending.attempt_delivery(delivery_id=second.pk) is None
    assert sending.dispatch_due_deliveries() == 0  # the busy subscription is skipped
    assert receiver.hits == []

    sending.release_subscription(subscription_id=subscription.pk, until=held)
    assert sending.deliver(delivery_id=first.pk) == 2  # then its next due one, same sender
    assert len(receiver.hits) == 2
    assert WebhookSubscription.objects.get(pk=subscription.pk).sending_until is None


def test_a_sender_that_died_holding_a_subscription_frees_it_when_the_lease_ends(
    receiver, private_urls
):
    subscription = SubscriptionFactory(url=receiver.url)
    delivery = DeliveryFactory(subscription=subscription)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        sending_until=timezone.now() - timedelta(seconds=1)
    )

    attempt = sending.attempt_delivery(delivery_id=delivery.pk)

    assert attempt is not None and attempt.succeeded
