"""Reads of webhook subscriptions and deliveries: always the caller's own."""

from datetime import datetime

from django.db.models import Count, Min, QuerySet

from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription


def subscriptions_for(user) -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.filter(owner_id=user.id)


def deliveries_for(user) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(subscription__owner_id=user.id)
        .select_related("subscription")
        .prefetch_related("attempts")
    )


def deliveries_of(subscription: WebhookSubscription) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(subscription=subscription)
        .select_related("subscription")
        .prefetch_related("attempts")
    )


def due_deliveries(*, now: datetime) -> tuple[int, datetime | None]:
    """How many deliveries are due for an attempt now, and since when the oldest is due."""
    due = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).aggregate(count=Count("id"), oldest=Min("next_attempt_at"))
    return due["count"], due["oldest"]


def failing_subscriptions(*, limit: int = 50) -> list[tuple[int, int]]:
    """``(subscription id, consecutive failed attempts)`` of the active subscriptions whose
    latest attempt failed, the worst first (at most ``limit``)."""
    return list(
        WebhookSubscription.objects.filter(is_active=True, consecutive_failures__gt=0)
        .order_by("-consecutive_failures", "id")
        .values_list("id", "consecutive_failures")[:limit]
    )
