"""Reads of webhook subscriptions and deliveries: always the caller's own."""

from django.db.models import QuerySet

from apps.webhooks.models import WebhookDelivery, WebhookSubscription


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
