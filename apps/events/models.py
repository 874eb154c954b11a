import uuid

from django.db import models
from django.db.models import F, Q
from django.db.models.deletion import CASCADE, ProtectedError
from django.utils import timezone

from apps.accounts.models import Organizer


def cascade_unless_in_business(collector, field, sub_objs, using):
    """``on_delete`` of an organizer's events: refused while a live event has seats taken, a
    waitlist or pending commands (cancel it through its queue first); cascades otherwise."""
    busy = list(
        Event.objects.filter(pk__in=[e.pk for e in sub_objs], deleted_at__isnull=True)
        .filter(
            Q(seats_taken__gt=0) | Q(waitlist_size__gt=0) | Q(booking_requests__status="pending")
        )
        .distinct()
    )
    if busy:
        raise ProtectedError("Live events with bookings must be cancelled first.", busy)
    CASCADE(collector, field, sub_objs, using)


class EventQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)


# Written only by the worker that owns the event's partition (in its decision transaction, with
# UPDATE statements) or set once at creation: ``save()`` of an existing event never writes them.
WORKER_FIELDS = frozenset({"capacity", "seats_taken", "waitlist_size", "partition", "deleted_at"})


class Event(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    start_time = models.DateTimeField(db_index=True)
    end_time = models.DateTimeField(db_index=True)
    capacity = models.PositiveIntegerField()
    creator = models.ForeignKey(
        Organizer, on_delete=cascade_unless_in_business, related_name="events"
    )
    # Fixed at creation from a stable hash of ``uid``; names the queue that decides its seats.
    partition = models.PositiveSmallIntegerField(editable=False)
    # Written only by the worker that owns the partition; equals the seats of active bookings
    # plus the seats of live holds.
    seats_taken = models.PositiveIntegerField(default=0, editable=False)
    waitlist_enabled = models.BooleanField(default=False)
    waitlist_limit = models.PositiveIntegerField(null=True, blank=True)
    # A book or hold command asks for 1..max_seats_per_booking seats (all or nothing).
    max_seats_per_booking = models.PositiveSmallIntegerField(default=10)
    # How long a hold keeps its seats before the worker expires it.
    hold_seconds = models.PositiveIntegerField(default=600)
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
            models.CheckConstraint(
                condition=Q(max_seats_per_booking__gte=1), name="event_max_seats_positive"
            ),
            models.CheckConstraint(
                condition=Q(hold_seconds__gte=1) & Q(hold_seconds__lte=3600),
                name="event_hold_seconds_bounds",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, update_fields=None, **kwargs):
        """Insert as usual; an update writes only the given fields (a full save writes every
        field but the worker's), so a copy read before a decision cannot undo it."""
        if not self._state.adding:
            if update_fields is None:
                update_fields = [
                    f.name
                    for f in self._meta.concrete_fields
                    if not f.primary_key and f.name not in WORKER_FIELDS
                ]
            elif WORKER_FIELDS & set(update_fields):
                raise ValueError(
                    f"{sorted(WORKER_FIELDS & set(update_fields))} are written by the "
                    "partition's worker only"
                )
        super().save(*args, update_fields=update_fields, **kwargs)

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
