"""Sending one delivery: signed, logged, retried, given up, guarded (service calls)."""

import socket
from datetime import timedelta
from ipaddress import ip_address

import pytest
from django.utils import timezone

from apps.webhooks import sending, signing, subscriptions, transport
from apps.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tests.conftest import wait_until
from tests.webhooks.factories import DeliveryFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_retries(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0.05, 0.05]
    return settings


def _subscribed(receiver, **kwargs):
    return SubscriptionFactory(url=receiver.url, **kwargs)


def _retry_until_final(delivery):
    """Play the scheduler: attempt what is due until the delivery is final."""

    def final():
        sending.send_due_deliveries()
        delivery.refresh_from_db()
        return delivery.status != DeliveryStatus.PENDING

    wait_until(final, timeout=10, message="the delivery to finish")


def test_the_receiver_verifies_the_signature(receiver, private_urls):
    subscription = _subscribed(receiver)
    delivery = DeliveryFactory(subscription=subscription)

    attempt = sending.attempt_delivery(delivery_id=delivery.pk)

    assert attempt.succeeded and attempt.status_code == 200
    (hit,) = receiver.hits
    signing.verify(secret=subscription.secret, headers=hit.headers, body=hit.body)
    assert hit.headers["webhook-id"] == str(delivery.uid)
    assert hit.json == delivery.payload
    assert hit.headers["content-type"] == "application/json"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.next_attempt_at is None


def test_every_attempt_is_logged_with_code_duration_and_body(receiver, private_urls):
    delivery = DeliveryFactory(subscription=_subscribed(receiver))

    sending.attempt_delivery(delivery_id=delivery.pk)

    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.number == 1
    assert attempt.status_code == 200
    assert attempt.duration_ms >= 0
    assert '"received": true' in attempt.response_body


def test_a_500_is_retried_then_succeeds_with_the_same_message_id(
    receiver, private_urls, fast_retries
):
    receiver.answer(500)
    delivery = DeliveryFactory(subscription=_subscribed(receiver))
    before = timezone.now()

    first = sending.attempt_delivery(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert not first.succeeded and first.error == "HTTP 500"
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at >= before  # the retry is scheduled, after the attempt

    _retry_until_final(delivery)

    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert [a.status_code for a in delivery.attempts.order_by("number")] == [500, 200]
    assert len(set(receiver.ids())) == 1 and len(receiver.hits) == 2


def test_a_retry_waits_for_its_delay_with_jitter(settings, receiver, private_urls):
    settings.WEBHOOK_RETRY_SCHEDULE = [100]
    receiver.answer(503)
    delivery = DeliveryFactory(subscription=_subscribed(receiver))

    before = timezone.now()
    sending.attempt_delivery(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    delay = (delivery.next_attempt_at - before).total_seconds()
    assert 90 <= delay <= 111
    assert sending.send_due_deliveries() == 0  # not due yet


def test_delivery_gives_up_after_the_retry_schedule(receiver, private_urls, fast_retries):
    receiver.default_status = 500
    delivery = DeliveryFactory(subscription=_subscribed(receiver))

    sending.attempt_delivery(delivery_id=delivery.pk)
    _retry_until_final(delivery)

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempt_count == 3  # the first attempt + one per scheduled retry
    assert delivery.next_attempt_at is None
    assert delivery.last_error == "HTTP 500"
    assert len(receiver.hits) == 3


def test_a_timeout_is_a_failed_attempt_that_is_retried(settings, receiver, private_urls):
    settings.WEBHOOK_READ_TIMEOUT_SECONDS = 0.2
    receiver.stall = 5
    delivery = DeliveryFactory(subscription=_subscribed(receiver))

    attempt = sending.attempt_delivery(delivery_id=delivery.pk)

    assert not attempt.succeeded
    assert attempt.status_code is None
    assert attempt.error.startswith("Timeout")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING


def test_a_dead_subscriber_is_a_connection_error(private_urls):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delivery = DeliveryFactory(subscription=SubscriptionFactory(url=f"http://127.0.0.1:{port}/"))

    attempt = sending.attempt_delivery(delivery_id=delivery.pk)

    assert attempt.error.startswith("Connection error")


def test_loopback_is_refused_unless_private_urls_are_allowed(settings, receiver, caplog):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    delivery = DeliveryFactory(subscription=_subscribed(receiver))

    attempt = sending.attempt_delivery(delivery_id=delivery.pk)

    assert not attempt.succeeded
    # The owner reads that the destination was refused, not what it resolved to; the server
    # log has the details.
    assert attempt.error == "Refused: destination refused"
    assert "127.0.0.1" not in attempt.error
    assert "non-public address (127.0.0.1)" in caplog.text
    delivery.refresh_from_db()
    # Retried like a host that does not resolve (an ending would tell the two apart).
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at is not None
    assert receiver.hits == []


def test_a_host_that_does_not_resolve_reads_like_a_private_one(settings, monkeypatch, caplog):
    """No oracle for which names resolve inside the service's network."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    def attempt_to(host: str, resolved):
        monkeypatch.setattr(transport, "resolve", resolved)
        delivery = DeliveryFactory(subscription=SubscriptionFactory(url=f"https://{host}/in"))
        attempt = sending.attempt_delivery(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        return attempt.error, attempt.duration_ms, delivery.status

    def nowhere(host, port):
        raise socket.gaierror("Name or service not known")

    private = attempt_to("db.internal.example", lambda host, port: [ip_address("10.0.0.5")])
    unresolved = attempt_to("nowhere.example", nowhere)

    assert private == unresolved == ("Refused: destination refused", 0, DeliveryStatus.PENDING)
    assert "does not resolve" in caplog.text  # the server log tells them apart


def test_loopback_is_delivered_when_private_urls_are_allowed(receiver, private_urls):
    delivery = DeliveryFactory(subscription=_subscribed(receiver))

    assert sending.attempt_delivery(delivery_id=delivery.pk).succeeded
    assert len(receiver.hits) == 1


def test_an_attempt_is_claimed_once(receiver, private_urls):
    delivery = DeliveryFactory(subscription=_subscribed(receiver))

    assert sending.claim_delivery(delivery_id=delivery.pk) == 1
    assert sending.claim_delivery(delivery_id=delivery.pk) is None
    assert sending.attempt_delivery(delivery_id=delivery.pk) is None
    assert receiver.hits == []


def test_a_crashed_senders_claim_expires(receiver, private_urls):
    delivery = DeliveryFactory(subscription=_subscribed(receiver))
    sending.claim_delivery(delivery_id=delivery.pk)

    later = timezone.now() + timedelta(seconds=sending._lease_seconds() + 1)
    assert sending.claim_delivery(delivery_id=delivery.pk, now=later) == 2


def test_rotation_signs_new_deliveries_with_the_new_secret_only(receiver, private_urls):
    subscription = _subscribed(receiver)
    old_secret = subscription.secret

    subscriptions.rotate_secret(subscription=subscription)
    sending.attempt_delivery(delivery_id=DeliveryFactory(subscription=subscription).pk)

    (hit,) = receiver.hits
    signing.verify(secret=subscription.secret, headers=hit.headers, body=hit.body)
    with pytest.raises(signing.InvalidSignature):
        signing.verify(secret=old_secret, headers=hit.headers, body=hit.body)


def test_a_subscription_is_disabled_after_consecutive_failures(
    settings, receiver, private_urls, fast_retries
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    receiver.default_status = 500
    subscription = _subscribed(receiver)
    delivery = DeliveryFactory(subscription=subscription)

    sending.attempt_delivery(delivery_id=delivery.pk)
    _retry_until_final(delivery)

    subscription.refresh_from_db()
    assert subscription.is_active is False
    assert subscription.consecutive_failures == 3
    assert "3 consecutive failed attempts" in subscription.disabled_reason


def test_deliveries_of_a_disabled_subscription_are_not_sent(receiver, private_urls):
    subscription = _subscribed(receiver, is_active=False)
    delivery = DeliveryFactory(subscription=subscription)

    assert sending.attempt_delivery(delivery_id=delivery.pk) is None

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempt_count == 0
    assert receiver.hits == []


def test_a_success_resets_the_failure_count(receiver, private_urls):
    subscription = _subscribed(receiver, consecutive_failures=5)

    sending.attempt_delivery(delivery_id=DeliveryFactory(subscription=subscription).pk)

    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0


def test_redelivery_sends_a_failed_delivery_once_more(receiver, private_urls, fast_retries):
    receiver.answer(500, 500, 500)
    delivery = DeliveryFactory(subscription=_subscribed(receiver))
    sending.attempt_delivery(delivery_id=delivery.pk)
    _retry_until_final(delivery)
    assert delivery.status == DeliveryStatus.FAILED

    subscriptions.redeliver(delivery=delivery)
    sending.send_due_deliveries()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempt_count == 4
    assert len(set(receiver.ids())) == 1


def test_a_redelivery_that_fails_is_not_retried(receiver, private_urls, fast_retries):
    receiver.default_status = 500
    delivery = DeliveryFactory(
        subscription=_subscribed(receiver), status=DeliveryStatus.SUCCEEDED, attempt_count=1
    )

    subscriptions.redeliver(delivery=delivery)
    sending.send_due_deliveries()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempt_count == 2


def test_the_scheduler_publishes_only_due_deliveries_not_recently_published(
    django_capture_on_commit_callbacks, monkeypatch
):
    published = []
    monkeypatch.setattr(
        sending,
        "publish_deliveries",
        lambda *, delivery_ids: published.extend(delivery_ids) or len(delivery_ids),
    )
    now = timezone.now()
    due = DeliveryFactory(dispatched_at=None)
    DeliveryFactory(next_attempt_at=now + timedelta(hours=1))
    DeliveryFactory(dispatched_at=now)  # on its way already
    lost = DeliveryFactory(dispatched_at=now - timedelta(hours=1))
    DeliveryFactory(status=DeliveryStatus.SUCCEEDED, next_attempt_at=None)

    assert sending.dispatch_due_deliveries() == 2

    assert sorted(published) == sorted([due.pk, lost.pk])
    assert sending.dispatch_due_deliveries() == 0  # published a moment ago
    assert WebhookDelivery.objects.get(pk=due.pk).dispatched_at is not None
