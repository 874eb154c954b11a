import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class EventType(models.TextChoices):
    """The booking outcomes a subscriber can hear about."""

    BOOKING_CONFIRMED = "booking.confirmed"
    BOOKING_REJECTED = "booking.rejected"
    BOOKING_CANCELLED = "booking.cancelled"
    BOOKING_WAITLISTED = "booking.waitlisted"
    BOOKING_PROMOTED = "booking.promoted"
    BOOKING_HELD = "booking.held"
    HOLD_EXPIRED = "hold.expired"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookSubscription(models.Model):
    """A URL that receives signed outcomes. Customers hear about their own requests and
    bookings; organizers about everything on their events."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    url = models.URLField(max_length=2000)
    event_types = models.JSONField(default=list)
    # Standard Webhooks secret: "whsec_" + base64 of random bytes. Shown to the owner only when
    # created or rotated.
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # While an attempt to this subscription is in flight, the end of its lease: at most one
    # attempt per subscription at a time, so a slow receiver holds one sender thread, not all.
    sending_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["owner", "is_active"])]

    def __str__(self) -> str:
        return f"subscription {self.pk} → {self.url}"


class WebhookDelivery(models.Model):
    """One outcome for one subscription. ``uid`` is the message id (``webhook-id``); it stays the
    same over every attempt so receivers can deduplicate."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    # The whole JSON body: {"type", "id", "timestamp", "data"}; signed at each attempt.
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    # 1 + the retry schedule's length; a redelivery by hand allows one more attempt.
    max_attempts = models.PositiveIntegerField(default=1)
    # When the next attempt is due; while an attempt is in flight, the end of its lease (a
    # crashed sender's delivery becomes due again). Null once final.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When a task for the current attempt was last published (the scheduler skips it for a
    # while so a backlog is not published twice). Null: not published since the last attempt.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The scheduler's scan: pending deliveries by due time.
            models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.uid} {self.event_type} {self.status}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery, as the subscriber answered it (or why it did not)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, default="")
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"
