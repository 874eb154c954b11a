import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.models import Organizer


class EventQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)


class Event(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    start_time = models.DateTimeField(db_index=True)
    end_time = models.DateTimeField(db_index=True)
    capacity = models.PositiveIntegerField()
    creator = models.ForeignKey(Organizer, on_delete=models.CASCADE, related_name="events")
    # Fixed at creation from a stable hash of ``uid``; names the queue that decides its seats.
    partition = models.PositiveSmallIntegerField(editable=False)
    # Written only by the worker that owns the partition; equals the number of active bookings.
    seats_taken = models.PositiveIntegerField(default=0, editable=False)
    waitlist_enabled = models.BooleanField(default=False)
    waitlist_limit = models.PositiveIntegerField(null=True, blank=True)
    # Written only by the owning worker; equals the number of waitlisted requests.
    waitlist_size = models.PositiveIntegerField(default=0, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["start_time", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(seats_taken__gte=0) & Q(seats_taken__lte=F("capacity")),
                name="event_seats_within_capacity",
            ),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="event_capacity_positive"),
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")), name="event_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def available_slots(self) -> int:
        return max(0, self.capacity - self.seats_taken)

    @property
    def is_full(self) -> bool:
        return self.seats_taken >= self.capacity

    @property
    def is_past(self) -> bool:
        return self.end_time <= timezone.now()

    @property
    def is_ongoing(self) -> bool:
        return self.start_time <= timezone.now() < self.end_time

    @property
    def has_started(self) -> bool:
        return self.start_time <= timezone.now()
