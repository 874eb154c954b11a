"""Webhook subscriptions and the signed, retried, logged delivery of booking outcomes.

The booking worker calls :func:`create_deliveries` inside its decision transaction (with the
payloads' shapes: this app knows nothing of bookings); the rows are published to the
``webhooks`` queue, by task name, only after that commit. A delivery task claims its delivery
with a conditional UPDATE, posts it (see ``transport``), logs the attempt and schedules the next
one in ``next_attempt_at``; the beat task publishes the deliveries that are due again.
"""

import json
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

import httpx
from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.models import Customer, Organizer
from apps.core import metrics
from apps.core.bulk import insert_rows
from apps.core.exceptions import Conflict, DomainError
from apps.core.rows import JoinedRows
from apps.webhooks import signing, transport
from apps.webhooks.models import (
    DeliveryStatus,
    EventType,
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


# --- subscriptions ------------------------------------------------------------------------------


def validate_url(url: str) -> str:
    """http(s) only; a literal non-public IP is refused up front unless private URLs are
    allowed (host names are checked at every send)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise DomainError(
            f"Invalid URL: {exc}", code="invalid_url", details={"url": [str(exc)]}
        ) from exc
    if parsed.scheme not in transport.ALLOWED_SCHEMES or not parsed.host:
        raise DomainError(
            "The URL must be http:// or https:// with a host.",
            code="invalid_url",
            details={"url": ["must be http(s) with a host"]},
        )
    if parsed.userinfo:
        raise DomainError(
            "The URL must not carry credentials.",
            code="invalid_url",
            details={"url": ["must not contain user:password@"]},
        )
    if not transport.port_allowed(parsed):
        raise DomainError(
            "The URL's port is not allowed.",
            code="unsafe_url",
            details={"url": ["only ports 80 and 443 (and WEBHOOK_ALLOWED_PORTS) are allowed"]},
        )
    address = transport.literal_address(parsed.host)
    if (
        address is not None
        and not settings.WEBHOOK_ALLOW_PRIVATE_URLS
        and not transport.is_public_address(address)
    ):
        raise DomainError(
            "The URL points at a non-public address.",
            code="unsafe_url",
            details={"url": ["private, loopback and reserved addresses are refused"]},
        )
    return url


def _event_types(event_types: Iterable[str]) -> list[str]:
    known = set(EventType.values)
    unknown = [t for t in event_types if t not in known]
    if unknown:
        raise DomainError(f"Unknown event types: {', '.join(unknown)}.", code="invalid_event_types")
    return list(dict.fromkeys(event_types))


@transaction.atomic
def create_subscription(
    *, owner_id: int, url: str, event_types: Sequence[str], is_active: bool = True
) -> WebhookSubscription:
    """A new subscription with a fresh secret (the caller shows it once); at most
    ``WEBHOOK_MAX_SUBSCRIPTIONS_PER_USER`` per user, or every outcome becomes that many POSTs."""
    # Locks the owner's row (PostgreSQL; SQLite's write lock is taken at BEGIN), so two
    # concurrent creations cannot both pass the count.
    get_user_model().objects.select_for_update().filter(pk=owner_id).exists()
    limit = settings.WEBHOOK_MAX_SUBSCRIPTIONS_PER_USER
    if WebhookSubscription.objects.filter(owner_id=owner_id).count() >= limit:
        raise Conflict(
            f"At most {limit} webhook subscriptions per user; delete one first.",
            code="subscription_limit_reached",
            details={"limit": limit},
        )
    return WebhookSubscription.objects.create(
        owner_id=owner_id,
        url=validate_url(url),
        event_types=_event_types(event_types),
        secret=signing.generate_secret(),
        is_active=is_active,
        disabled_reason="" if is_active else "Disabled by its owner.",
    )


def update_subscription(
    *,
    subscription: WebhookSubscription,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    is_active: bool | None = None,
) -> WebhookSubscription:
    """Change the URL or types, or disable/enable. Enabling clears the failure count."""
    if url is not None:
        subscription.url = validate_url(url)
    if event_types is not None:
        subscription.event_types = _event_types(event_types)
    if is_active is not None and is_active != subscription.is_active:
        subscription.is_active = is_active
        subscription.consecutive_failures = 0
        subscription.disabled_reason = "" if is_active else "Disabled by its owner."
    subscription.save()
    return subscription


def rotate_secret(*, subscription: WebhookSubscription) -> WebhookSubscription:
    """A new secret; every attempt from now on (retries included) is signed with it."""
    subscription.secret = signing.generate_secret()
    subscription.save(update_fields=["secret", "updated_at"])
    return subscription


def delete_subscription(*, subscription: WebhookSubscription) -> None:
    subscription.delete()


# --- deliveries: creation (inside the booking worker's transaction) ------------------------------


def create_deliveries(
    *,
    batches: Sequence[tuple],
    describe: Callable[..., dict[int, dict]],
    hand_over: bool = True,
) -> list[int]:
    """Create one delivery per matching subscription per outcome, in the caller's transaction,
    and hand them to the webhooks queue once it commits (``hand_over=False``: the caller hands
    the returned ids over itself, with others, in one message). ``batches`` are ``(event,
    outcomes)`` pairs: a partition round's events are served by the same statements. Queries
    do not grow with the number of outcomes or events, and no model instance is built per
    delivery.

    An outcome has ``event_type``, ``request`` (``user_id``) and ``booking`` (``customer_id``
    or None); ``describe(events=, outcomes=)`` gives each matched outcome's payload ``data`` by
    ``id(outcome)``: the booking side owns those shapes, this module only delivers them."""
    batches = [(event, outcomes) for event, outcomes in batches if outcomes]
    if not batches:
        return []
    events = [event for event, _ in batches]
    subscriptions = _matching_candidates(
        events=events, outcomes=[o for _, outcomes in batches for o in outcomes]
    )
    wanted = {event_type for sub in subscriptions for event_type in sub.event_types}
    pairs = [
        (sub, outcome)
        for event, outcomes in batches
        for outcome in outcomes
        if outcome.event_type in wanted
        for sub in subscriptions
        if _matches(sub, event=event, outcome=outcome)
    ]
    if not pairs:
        return []
    unique = list({id(outcome): outcome for _, outcome in pairs}.values())
    data = describe(events=events, outcomes=unique)
    now = timezone.now()
    timestamp = now.isoformat().replace("+00:00", "Z")
    max_attempts = 1 + len(settings.WEBHOOK_RETRY_SCHEDULE)
    rows = []
    for sub, outcome in pairs:
        uid = uuid.uuid4()
        payload = {
            "type": outcome.event_type,
            "id": str(uid),
            "timestamp": timestamp,
            "data": data[id(outcome)],
        }
        rows.append(
            (uid, sub.pk, outcome.event_type, payload, DeliveryStatus.PENDING, 0, max_attempts)
            + (now, now, "", now, now)
        )
    ids = insert_rows(WebhookDelivery, DELIVERY_FIELDS, rows, returning_ids=True)
    if hand_over:
        transaction.on_commit(lambda: hand_over_deliveries(delivery_ids=ids), robust=True)
    return ids


DELIVERY_FIELDS = (
    "uid",
    "subscription",
    "event_type",
    "payload",
    "status",
    "attempt_count",
    "max_attempts",
    "next_attempt_at",
    "dispatched_at",
    "last_error",
    "created_at",
    "updated_at",
)


def _candidate_rows() -> JoinedRows:
    customer, organizer = Customer._meta.db_table, Organizer._meta.db_table
    return JoinedRows(
        [(WebhookSubscription, "s")],
        f"{WebhookSubscription._meta.db_table} s "
        f"LEFT JOIN {customer} c ON c.user_id = s.owner_id "
        f"LEFT JOIN {organizer} o ON o.user_id = s.owner_id",
        "s.is_active = %s AND (s.owner_id IN ({users}) OR c.id IN ({customers}) "
        "OR o.id IN ({organizers})) "
        "ORDER BY s.id",
        extra=["c.id", "o.id"],
    )


# Written out once (apps.core.rows): a decision batch runs it, however small the batch.
CANDIDATES = _candidate_rows()


def _matching_candidates(*, events, outcomes) -> list[WebhookSubscription]:
    """Active subscriptions of anyone who could hear about these outcomes: the requesters, the
    bookings' customers, the events' organizers. One query."""
    users = sorted({o.request.user_id for o in outcomes})
    customers = sorted({o.booking.customer_id for o in outcomes if o.booking is not None})
    organizers = sorted({event.creator_id for event in events})
    found = []
    rows = CANDIDATES.fetch(
        [True, *users, *customers, *organizers],
        users=len(users),
        customers=len(customers),
        organizers=len(organizers),
    )
    for subscription, customer_pk, organizer_pk in rows:
        subscription.customer_pk, subscription.organizer_pk = customer_pk, organizer_pk
        found.append(subscription)
    return found


def _matches(subscription: WebhookSubscription, *, event, outcome) -> bool:
    if outcome.event_type not in subscription.event_types:
        return False
    if subscription.organizer_pk is not None and subscription.organizer_pk == event.creator_id:
        return True
    if subscription.owner_id == outcome.request.user_id:
        return True
    # A cancellation by the organizer (event cancelled) still reaches the booking's customer.
    booking = outcome.booking
    return (
        booking is not None
        and subscription.customer_pk is not None
        and subscription.customer_pk == booking.customer_id
    )


def hand_over_deliveries(*, delivery_ids: list[int]) -> bool:
    """After the commit that created them: one message hands the deliveries to the webhooks
    queue, whose worker publishes a ``deliver`` task per delivery, so a decision batch pays one
    publish, not one per delivery. A failed publish is left to the scheduler, which publishes
    due deliveries again."""
    try:
        current_app.send_task(
            routing.PUBLISH_WEBHOOKS_TASK,
            args=[delivery_ids],
            queue=routing.WEBHOOK_QUEUE,
            retry=False,
            # Shown by Flower in place of the ids (a round's list, written out, cost more than
            # the rest of the message).
            argsrepr=f"[{len(delivery_ids)} deliveries]",
        )
    except Exception:  # noqa: BLE001 - any broker failure; the scheduler re-publishes
        logger.warning(
            "%d webhook deliveries not handed over; the scheduler will publish them",
            len(delivery_ids),
            exc_info=True,
        )
        return False
    return True


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


# --- deliveries: scheduling and sending ----------------------------------------------------------


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


def redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a finished (succeeded or failed) delivery once more, now: one attempt, same
    message id and body, signed with the current secret."""
    if not delivery.subscription.is_active:
        raise Conflict(
            "The subscription is disabled; enable it first.", code="subscription_disabled"
        )
    now = timezone.now()
    with transaction.atomic():
        reopened = WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status__in=[DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED],
        ).update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            dispatched_at=now,
            max_attempts=F("attempt_count") + 1,
            updated_at=now,
        )
        if not reopened:
            raise Conflict(
                "The delivery is still pending; it will be attempted as scheduled.",
                code="delivery_pending",
            )
        transaction.on_commit(lambda: publish_deliveries(delivery_ids=[delivery.pk]), robust=True)
    delivery.refresh_from_db()
    return delivery
