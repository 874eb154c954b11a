"""Sending deliveries, in the webhook worker: a delivery task claims its delivery with a
conditional UPDATE, posts it signed (see ``transport``), logs the attempt and schedules the next
one in ``next_attempt_at``; the beat task publishes the deliveries that are due again."""

import json
import logging
import random
import socket
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import httpx
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core import metrics
from apps.webhooks import signing, transport
from apps.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from workers import routing

logger = logging.getLogger(__name__)

# Retry delays get ±10 % so deliveries that failed together do not retry together.
RETRY_JITTER = 0.10
# An in-flight attempt owns its delivery this long beyond the HTTP timeouts; after that a
# crashed sender's delivery is due again.
SEND_LEASE_MARGIN_SECONDS = 30.0
# A sender goes on with the same subscription's next due delivery for at most this long.
DRAIN_BUDGET_SECONDS = 30.0
# A published delivery still not attempted after this long is published again (lost message).
REDISPATCH_AFTER_SECONDS = 120.0
DISPATCH_BATCH = 500
ERROR_MAX_LENGTH = 500


def publish_deliveries(*, delivery_ids: Iterable[int]) -> int:
    """Publish a delivery task per id (after commit). A failed publish is left to the
    scheduler, which publishes it again. Returns how many were published."""
    published = 0
    for delivery_id in delivery_ids:
        try:
            current_app.send_task(
                routing.DELIVER_WEBHOOK_TASK,
                args=[delivery_id],
                queue=routing.WEBHOOK_QUEUE,
                retry=False,
            )
        except Exception:  # noqa: BLE001 - any broker failure; the scheduler re-publishes
            logger.warning(
                "webhook delivery %s not published; the scheduler will retry",
                delivery_id,
                exc_info=True,
            )
            continue
        published += 1
    return published


def _due(now: datetime):
    return WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)


def dispatch_due_deliveries(*, limit: int = DISPATCH_BATCH) -> int:
    """The scheduler (beat): publish every due delivery not already published recently.
    Returns how many were published."""
    now = timezone.now()
    stale = now - timedelta(seconds=REDISPATCH_AFTER_SECONDS)
    ids = list(
        _due(now)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=stale))
        .filter(attempt_count__lt=F("max_attempts"))
        # A subscription with an attempt in flight is skipped: its sender sends these next.
        .filter(
            Q(subscription__sending_until__isnull=True) | Q(subscription__sending_until__lt=now)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return 0
    WebhookDelivery.objects.filter(pk__in=ids).update(dispatched_at=now)
    return publish_deliveries(delivery_ids=ids)


def send_due_deliveries(*, limit: int = DISPATCH_BATCH) -> int:
    """Attempt every due delivery in this process (tests, operators). Returns attempts made."""
    ids = list(
        _due(timezone.now()).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )
    return sum(1 for delivery_id in ids if attempt_delivery(delivery_id=delivery_id) is not None)


def _lease_seconds() -> float:
    """An attempt's claim outlives its deadline, so no other sender takes it while it runs."""
    return settings.WEBHOOK_ATTEMPT_DEADLINE_SECONDS + SEND_LEASE_MARGIN_SECONDS


def claim_delivery(*, delivery_id: int, now: datetime | None = None) -> int | None:
    """Take the next attempt of a due delivery: a compare-and-set on ``attempt_count`` so two
    workers never send the same attempt. Returns the attempt number, or None if not ours."""
    now = now or timezone.now()
    current = (
        _due(now)
        .filter(pk=delivery_id, attempt_count__lt=F("max_attempts"))
        .values_list("attempt_count", flat=True)
        .first()
    )
    if current is None:
        return None
    claimed = (
        _due(now)
        .filter(pk=delivery_id, attempt_count=current)
        .update(
            attempt_count=current + 1,
            dispatched_at=None,
            updated_at=now,
            next_attempt_at=now + timedelta(seconds=_lease_seconds()),
        )
    )
    return current + 1 if claimed else None


def encode_payload(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def take_subscription(*, subscription_id: int, now: datetime | None = None) -> datetime | None:
    """Reserve the subscription for one attempt (a compare-and-set on ``sending_until``).
    Returns the reservation's end, or None while another attempt to it is in flight."""
    now = now or timezone.now()
    until = now + timedelta(seconds=_lease_seconds())
    taken = (
        WebhookSubscription.objects.filter(pk=subscription_id)
        .filter(Q(sending_until__isnull=True) | Q(sending_until__lt=now))
        .update(sending_until=until)
    )
    return until if taken else None


def release_subscription(*, subscription_id: int, until: datetime) -> None:
    WebhookSubscription.objects.filter(pk=subscription_id, sending_until=until).update(
        sending_until=None
    )


def attempt_delivery(*, delivery_id: int) -> WebhookAttempt | None:
    """Claim, sign and send one attempt of a due delivery, then log it and schedule what
    follows. Returns the attempt, or None when there was nothing to send, or when another
    attempt to the same subscription is in flight (that sender, or the scheduler, sends this
    one next)."""
    subscription_id = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .values_list("subscription_id", flat=True)
        .first()
    )
    if subscription_id is None:
        return None
    until = take_subscription(subscription_id=subscription_id)
    if until is None:
        # Published again by the scheduler once the subscription is free (or sent next by the
        # sender that holds it).
        WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).update(
            dispatched_at=None
        )
        return None
    try:
        return _attempt_claimed(delivery_id=delivery_id)
    finally:
        release_subscription(subscription_id=subscription_id, until=until)


def deliver(*, delivery_id: int) -> int:
    """The delivery task: attempt this delivery, then the subscription's other due deliveries
    one after another while its receiver answers in time, for at most
    ``DRAIN_BUDGET_SECONDS``; what is left is published for another sender. Returns attempts."""
    started = time.monotonic()
    attempts = 0
    next_id: int | None = delivery_id
    subscription_id = None
    while next_id is not None:
        attempt = attempt_delivery(delivery_id=next_id)
        if attempt is None:
            break
        attempts += 1
        subscription_id = attempt.delivery.subscription_id
        if attempt.timed_out:
            break  # a slow receiver: its other deliveries wait for the scheduler
        next_id = _next_due_of(subscription_id=subscription_id)
        if next_id is not None and time.monotonic() - started > DRAIN_BUDGET_SECONDS:
            publish_deliveries(delivery_ids=[next_id])
            break
    return attempts


def _next_due_of(*, subscription_id: int) -> int | None:
    return (
        _due(timezone.now())
        .filter(subscription_id=subscription_id, attempt_count__lt=F("max_attempts"))
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)
        .first()
    )


def _attempt_claimed(*, delivery_id: int) -> WebhookAttempt | None:
    number = claim_delivery(delivery_id=delivery_id)
    if number is None:
        return None
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    if not subscription.is_active:
        WebhookDelivery.objects.filter(pk=delivery_id, attempt_count=number).update(
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            attempt_count=number - 1,
            last_error="Not sent: the subscription is disabled.",
            updated_at=timezone.now(),
        )
        return None
    body = encode_payload(delivery.payload)
    headers = signing.signature_headers(
        secret=subscription.secret, msg_id=str(delivery.uid), body=body
    )
    status_code, response_body, duration_ms, error = None, "", 0, ""
    outcome = "succeeded"
    try:
        answer = transport.post(url=subscription.url, body=body, headers=headers)
        status_code, response_body, duration_ms = (
            answer.status_code,
            answer.body,
            answer.duration_ms,
        )
        if not 200 <= status_code < 300:
            error, outcome = f"HTTP {status_code}", "http_error"
    except transport.UnsafeDestination as exc:
        # The owner sees "destination refused", whether the host resolved to a non-public
        # address or not at all (the server log tells which). Retried like any failed attempt:
        # a refusal that ended the delivery would tell the two apart, and DNS may yet change.
        error, outcome = f"Refused: {exc}", "refused"
    except httpx.TimeoutException as exc:
        error, outcome = f"Timeout: {type(exc).__name__} {exc}".strip(), "timeout"
    except (httpx.TransportError, socket.gaierror, OSError) as exc:
        error = f"Connection error: {type(exc).__name__} {exc}".strip()
        outcome = "connection_error"
    metrics.count_webhook_attempt(outcome)
    request_id = request_id_of(delivery)
    attempt = _record_attempt(
        delivery=delivery,
        number=number,
        status_code=status_code,
        response_body=response_body,
        duration_ms=duration_ms,
        error=error[:ERROR_MAX_LENGTH],
    )
    logger.info(
        "webhook delivery %s (%s of request %s) attempt %d to subscription %s: %s%s",
        delivery.uid,
        delivery.event_type,
        request_id,
        number,
        subscription.pk,
        outcome,
        f" ({error})" if error else "",
        extra={"request_id": request_id},
    )
    attempt.timed_out = outcome == "timeout"
    return attempt


def request_id_of(delivery: WebhookDelivery) -> str | None:
    """The booking request (command) whose outcome the delivery announces."""
    data = delivery.payload.get("data") if isinstance(delivery.payload, dict) else None
    request = data.get("request") if isinstance(data, dict) else None
    return request.get("id") if isinstance(request, dict) else None


def retry_delay(*, attempt: int) -> float:
    """Seconds before the attempt after ``attempt`` (1-based), with ±10 % jitter."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    base = float(schedule[min(attempt, len(schedule)) - 1])
    return base * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)


def _record_attempt(
    *,
    delivery: WebhookDelivery,
    number: int,
    status_code: int | None,
    response_body: str,
    duration_ms: int,
    error: str,
) -> WebhookAttempt:
    now = timezone.now()
    succeeded = not error
    exhausted = number >= delivery.max_attempts or number > len(settings.WEBHOOK_RETRY_SCHEDULE)
    if succeeded:
        changes = {"status": DeliveryStatus.SUCCEEDED, "next_attempt_at": None, "last_error": ""}
    elif exhausted:
        changes = {"status": DeliveryStatus.FAILED, "next_attempt_at": None, "last_error": error}
    else:
        changes = {
            "next_attempt_at": now + timedelta(seconds=retry_delay(attempt=number)),
            "last_error": error,
        }
    with transaction.atomic():
        attempt = WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            succeeded=succeeded,
            status_code=status_code,
            duration_ms=duration_ms,
            error=error,
            response_body=response_body,
        )
        # Only the claim's owner settles it (a sender whose lease ran out does not).
        WebhookDelivery.objects.filter(
            pk=delivery.pk, attempt_count=number, status=DeliveryStatus.PENDING
        ).update(updated_at=now, **changes)
        _count_result(subscription_id=delivery.subscription_id, succeeded=succeeded)
    return attempt


def _count_result(*, subscription_id: int, succeeded: bool) -> None:
    subscriptions = WebhookSubscription.objects.filter(pk=subscription_id)
    if succeeded:
        subscriptions.filter(consecutive_failures__gt=0).update(consecutive_failures=0)
        return
    subscriptions.update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    disabled = subscriptions.filter(is_active=True, consecutive_failures__gte=limit).update(
        is_active=False,
        disabled_reason=f"Disabled after {limit} consecutive failed attempts; fix the endpoint "
        "and enable it again (PATCH is_active=true).",
    )
    if disabled:
        logger.warning("webhook subscription %s disabled after %d failures", subscription_id, limit)
