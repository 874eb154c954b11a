"""Webhook subscriptions, as the API manages them: create, change, rotate the secret, delete,
and send a finished delivery once more. Runs in the web process."""

from collections.abc import Iterable, Sequence

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.exceptions import Conflict, DomainError
from apps.webhooks import signing, transport
from apps.webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookSubscription
from apps.webhooks.sending import publish_deliveries


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
