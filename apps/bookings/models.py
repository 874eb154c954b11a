import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.deletion import CASCADE, ProtectedError

from apps.accounts.models import Customer
from apps.events.models import Event

HELD_PLACES_MESSAGE = (
    "A user who holds an active booking, a waitlist entry or a pending command cannot be "
    "deleted: cancel the bookings and leave the waitlists through the API first (the event's "
    "worker releases the seats); an organizer's live events with bookings are cancelled with "
    "DELETE /eventapi/event/<id>/?force=true or the events admin's cancel action."
)


def cascade_unless_held(collector, field, sub_objs, using):
    """``on_delete`` for a customer's (or user's) bookings and commands: refused while any of
    them holds a seat, a place in line or an undecided command, since only the event's worker
    may release those (a cascade would leave its counters wrong); cascades otherwise."""
    held = [obj for obj in sub_objs if obj.holds_a_place]
    if held:
        raise ProtectedError(HELD_PLACES_MESSAGE, held)
    CASCADE(collector, field, sub_objs, using)


class BookingStatus(models.TextChoices):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    # A time-limited hold: its seats count against capacity until it is confirmed (→ active),
    # released (→ cancelled) or expired (→ expired) by the event's worker.
    HELD = "held"
    EXPIRED = "expired"


# The statuses whose seats count in ``Event.seats_taken``.
SEAT_HOLDING_STATUSES = (BookingStatus.ACTIVE, BookingStatus.HELD)


class Booking(models.Model):
    """A customer's seats at an event (or a hold on them). One row per (customer, event):
    reactivated, re-held or resized, never duplicated."""

    customer = models.ForeignKey(Customer, on_delete=cascade_unless_held, related_name="bookings")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="bookings")
    status = models.CharField(
        max_length=16, choices=BookingStatus.choices, default=BookingStatus.ACTIVE
    )
    seats = models.PositiveSmallIntegerField(default=1)
    # While held: when the hold lapses (the worker expires it on an expire command).
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "event"], name="booking_one_per_customer"),
            models.CheckConstraint(condition=Q(seats__gte=1), name="booking_seats_positive"),
            models.CheckConstraint(
                condition=~Q(status="held") | Q(expires_at__isnull=False),
                name="booking_hold_expires",
            ),
        ]
        indexes = [
            models.Index(fields=["event", "status"]),
            # The expiry scan: live holds by deadline.
            models.Index(fields=["status", "expires_at"], name="booking_status_expires"),
        ]

    def __str__(self) -> str:
        return f"booking {self.pk} {self.customer_id}@{self.event_id} {self.status}"

    @property
    def holds_a_place(self) -> bool:
        return self.status in SEAT_HOLDING_STATUSES


class CommandKind(models.TextChoices):
    BOOK = "book"
    CANCEL = "cancel"
    REACTIVATE = "reactivate"
    LEAVE_WAITLIST = "leave_waitlist"
    SET_CAPACITY = "set_capacity"
    CANCEL_EVENT = "cancel_event"
    CHANGE_SEATS = "change_seats"
    HOLD = "hold"
    CONFIRM_HOLD = "confirm_hold"
    RELEASE_HOLD = "release_hold"
    # Recorded by beat for a hold past its deadline; decided in queue order like the rest.
    EXPIRE_HOLD = "expire_hold"


class RequestStatus(models.TextChoices):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    # A book command that found the event full, in line for a freed seat.
    WAITLISTED = "waitlisted"
    # A waitlisted book command whose customer left the waitlist (or whose event was cancelled).
    WITHDRAWN = "withdrawn"


FINAL_STATUSES = (RequestStatus.CONFIRMED, RequestStatus.REJECTED, RequestStatus.WITHDRAWN)


class Reason(models.TextChoices):
    """Machine-readable outcome codes (each request also carries a human message)."""

    BOOKED = "booked"
    REACTIVATED = "reactivated"
    CANCELLED = "cancelled"
    PROMOTED = "promoted_from_waitlist"
    WAITLISTED = "waitlisted"
    LEFT_WAITLIST = "left_waitlist"
    CAPACITY_CHANGED = "capacity_changed"
    EVENT_CANCELLED = "event_cancelled"
    SOLD_OUT = "sold_out"
    WAITLIST_FULL = "waitlist_full"
    DUPLICATE = "duplicate"
    ALREADY_WAITLISTED = "already_waitlisted"
    EVENT_CLOSED = "event_closed"
    NOT_ACTIVE = "booking_not_active"
    ALREADY_ACTIVE = "booking_already_active"
    NOT_WAITLISTED = "not_waitlisted"
    CAPACITY_BELOW_SEATS_TAKEN = "capacity_below_seats_taken"
    EVENT_HAS_BOOKINGS = "event_has_bookings"
    INTERNAL_ERROR = "internal_error"
    SEATS_CHANGED = "seats_changed"
    NOT_ENOUGH_SEATS = "not_enough_seats"
    TOO_MANY_SEATS = "too_many_seats"
    HELD = "held"
    HOLD_CONFIRMED = "hold_confirmed"
    HOLD_RELEASED = "hold_released"
    HOLD_EXPIRED = "hold_expired"
    ALREADY_HELD = "already_held"
    NOT_HELD = "hold_not_live"
    # A customer's caps on live holds and held seats (settings BOOKING_HOLDS_PER_CUSTOMER,
    # BOOKING_HELD_SEATS_PER_CUSTOMER_*), and the pause before holding again at an event.
    HOLD_LIMIT_REACHED = "hold_limit_reached"
    HOLD_COOLDOWN = "hold_cooldown"
    # Its owner withdrew it (DELETE) before the worker decided it.
    WITHDRAWN = "withdrawn"


class BookingRequest(models.Model):
    """The durable command. Recorded by the API; decided once by the partition's worker.

    ``id`` orders an event's commands (the database, not the broker, holds the order); ``uid``
    is the public identifier.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=CommandKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=cascade_unless_held, related_name="booking_requests"
    )
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=cascade_unless_held,
        related_name="booking_requests",
    )
    # Indexed first in request_event_status_id: an index of its own would only cost writes.
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="booking_requests", db_index=False
    )
    booking = models.ForeignKey(
        Booking, null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True, default="")
    message = models.CharField(max_length=255, blank=True, default="")
    # Seats asked for (book, hold, reactivate) or the new total (change_seats).
    seats = models.PositiveSmallIntegerField(default=1)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Who decided it: the partition and lease generation the decider held (null: a decider
    # outside the lease, e.g. a shell or a test) and its process, ``host:pid``. An audit (and
    # check_invariants) proves from these and ``PartitionGrant`` that no decision committed
    # after its generation was granted away.
    decided_partition = models.PositiveSmallIntegerField(null=True, blank=True)
    decided_generation = models.PositiveBigIntegerField(null=True, blank=True)
    decided_by = models.CharField(max_length=255, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="request_idempotency_key_per_user",
            ),
            models.UniqueConstraint(
                fields=["customer", "event"],
                condition=Q(status="waitlisted"),
                name="request_one_waitlist_entry_per_customer",
            ),
            # A customer's second book command for an event while the first is pending is
            # refused when it is recorded (commands.request_command), not queued behind it.
            models.UniqueConstraint(
                fields=["customer", "event"],
                condition=Q(kind="book", status="pending"),
                name="request_one_pending_book_per_customer",
            ),
            # Beat records at most one pending expiry per hold, however often it runs.
            models.UniqueConstraint(
                fields=["booking"],
                condition=Q(kind="expire_hold", status="pending"),
                name="request_one_pending_expiry_per_booking",
            ),
        ]
        indexes = [
            # The worker's scan, the line position and the waitlist order all walk this index.
            models.Index(fields=["event", "status", "id"], name="request_event_status_id"),
            # Pending commands only: which events have any (a partition's rounds, walked one
            # event at a time), the oldest (sweeper, metrics). A decided row leaves this index,
            # so deciding a command writes no entry into it.
            models.Index(
                fields=["event", "created_at"],
                condition=Q(status="pending"),
                name="request_pending_event_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.uid} {self.status}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def holds_a_place(self) -> bool:
        """Pending (the worker has yet to decide it) or waitlisted (counted in line)."""
        return not self.is_final
