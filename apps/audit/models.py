from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Action(models.TextChoices):
    """The older system's vocabulary, with ``content_type`` saying what was acted on (an event, a
    booking, a user); outcomes it did not have keep names of their own."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    CANCEL = "cancel"
    REACTIVATE = "reactivate"
    LOGIN = "login"
    LOGOUT = "logout"
    REGISTER = "register"
    BOOKING_REQUEST = "booking_request"
    BOOKING_REJECTED = "booking_rejected"
    BOOKING_WAITLISTED = "booking_waitlisted"
    BOOKING_PROMOTED = "booking_promoted"
    WAITLIST_LEFT = "waitlist_left"
    CAPACITY_CHANGED = "capacity_changed"
    BOOKING_SEATS_CHANGED = "booking_seats_changed"
    HOLD_CREATED = "hold_created"
    HOLD_CONFIRMED = "hold_confirmed"
    HOLD_RELEASED = "hold_released"
    HOLD_EXPIRED = "hold_expired"
    WEBHOOK_SUBSCRIPTION = "webhook_subscription"


class HistoryPoint(models.Model):
    """One user action: who did what to which object, with JSON details."""

    # Indexed first in the (user, -created_at) index below.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="history_points",
        db_index=False,
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    # A string, so that integer and UUID primary keys both fit.
    object_id = models.CharField(max_length=64, blank=True, default="")
    target = GenericForeignKey("content_type", "object_id")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} {self.action} {self.content_type_id}:{self.object_id}"
