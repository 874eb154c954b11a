"""The JSON shapes of a booking and of a request (a command and its outcome): used by the API,
the ``Prefer: wait`` answer and webhook payloads alike.

The serializers describe the shapes (schema, read endpoints); ``booking_body`` and
``request_body`` build the same dictionaries without a serializer per object, for the paths
that build thousands a second (every webhook payload of a decision batch, the 202 of an
accepted command). ``tests/bookings/test_serializers.py`` holds the two equal.
"""

from datetime import datetime

from rest_framework import serializers

from apps.bookings.models import Booking, BookingRequest, BookingStatus, Reason, RequestStatus
from apps.core.fields import IdField
from apps.core.filters import MAX_ID
from apps.events.models import Event

# The most any event may allow per booking (``Event.max_seats_per_booking``).
MAX_SEATS_PER_BOOKING = 100


class BookingSerializer(serializers.ModelSerializer):
    event_title = serializers.CharField(source="event.title", read_only=True)
    customer_username = serializers.CharField(source="customer.user.username", read_only=True)
    booking_date = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Booking
        fields = [
            "id",
            "event",
            "event_title",
            "customer",
            "customer_username",
            "status",
            "seats",
            "expires_at",
            "booking_date",
            "updated_at",
            "cancelled_at",
        ]
        read_only_fields = fields


class BookingRequestSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uid", read_only=True)
    reason = serializers.ChoiceField(
        choices=Reason.choices, allow_blank=True, read_only=True, help_text="Empty while pending."
    )
    booking = BookingSerializer(read_only=True, allow_null=True)
    position = serializers.SerializerMethodField(
        help_text="While pending: 1 + the number of the event's commands ahead of this one."
    )
    waitlist_position = serializers.SerializerMethodField(
        help_text="While waitlisted: 1 + the entries ahead. The line is strict: seats that free "
        "up go to position 1 as soon as all its seats are free, and nobody overtakes it."
    )

    class Meta:
        model = BookingRequest
        fields = [
            "id",
            "kind",
            "status",
            "reason",
            "message",
            "event",
            "seats",
            "booking",
            "payload",
            "position",
            "waitlist_position",
            "attempts",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields

    def get_position(self, obj) -> int | None:
        if obj.status != RequestStatus.PENDING:
            return None
        return getattr(obj, "ahead_in_line", 0) + 1

    def get_waitlist_position(self, obj) -> int | None:
        if obj.status != RequestStatus.WAITLISTED:
            return None
        return getattr(obj, "ahead_in_waitlist", 0) + 1


def check_seats(seats: int, event: Event) -> int:
    if seats > event.max_seats_per_booking:
        raise serializers.ValidationError(
            {"seats": [f"at most {event.max_seats_per_booking} seats per booking at this event"]}
        )
    return seats


SEATS_FIELD = {"min_value": 1, "max_value": MAX_SEATS_PER_BOOKING}


class BookRequestSerializer(serializers.Serializer):
    # An id only: the command service reads the event together with its line, in one query
    # (and checks the seats against the event's max_seats_per_booking).
    event = IdField(help_text="The event's id.")
    seats = serializers.IntegerField(
        default=1,
        **SEATS_FIELD,
        help_text="Seats wanted together, all or nothing (1..the event's max_seats_per_booking).",
    )


def book_request(data) -> tuple[int, int]:
    """``(event id, seats)`` of a book request's body. The usual body (integers in range) is read
    as is; anything else goes through ``BookRequestSerializer``, which answers it (the same
    errors): building a serializer costs more than the rest of a refused request's Python."""
    if isinstance(data, dict):
        event, seats = data.get("event"), data.get("seats", 1)
        if (
            type(event) is int
            and 1 <= event <= MAX_ID
            and type(seats) is int
            and SEATS_FIELD["min_value"] <= seats <= SEATS_FIELD["max_value"]
        ):
            return event, seats
    serializer = BookRequestSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["event"], serializer.validated_data["seats"]


class HoldRequestSerializer(serializers.Serializer):
    event = serializers.PrimaryKeyRelatedField(queryset=Event.objects.live())
    seats = serializers.IntegerField(
        default=1,
        **SEATS_FIELD,
        help_text="Seats to hold until the hold expires (the event's hold_seconds).",
    )

    def validate(self, attrs):
        check_seats(attrs["seats"], attrs["event"])
        return attrs


class BookingUpdateSerializer(serializers.Serializer):
    min_properties = 1  # the schema says so (apps.core.schema)
    status = serializers.ChoiceField(
        choices=[BookingStatus.ACTIVE, BookingStatus.CANCELLED],
        required=False,
        help_text="`active` reactivates a cancelled booking, `cancelled` cancels it.",
    )
    seats = serializers.IntegerField(
        required=False,
        **SEATS_FIELD,
        help_text="The booking's new number of seats: more only if free (the waitlist goes "
        "first), fewer frees the difference at once and promotes from the waitlist.",
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send `status` or `seats`.")
        if attrs.get("status") == BookingStatus.CANCELLED and "seats" in attrs:
            raise serializers.ValidationError({"seats": ["not with status=cancelled"]})
        return attrs


def timestamp(value: datetime | None) -> str | None:
    """As DRF renders an aware datetime in UTC: ISO 8601 with ``Z``."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def booking_body(booking: Booking, *, event_title: str, customer_username: str) -> dict:
    """``BookingSerializer(booking).data``, given the event's title and the customer's name."""
    return {
        "id": booking.pk,
        "event": booking.event_id,
        "event_title": event_title,
        "customer": booking.customer_id,
        "customer_username": customer_username,
        "status": str(booking.status),
        "seats": booking.seats,
        "expires_at": timestamp(booking.expires_at),
        "booking_date": timestamp(booking.created_at),
        "updated_at": timestamp(booking.updated_at),
        "cancelled_at": timestamp(booking.cancelled_at),
    }


def request_body(request: BookingRequest, *, booking: dict | None = None) -> dict:
    """``BookingRequestSerializer(request).data``, given its booking as ``booking_body`` shows
    it (or None); ``ahead_in_line`` / ``ahead_in_waitlist`` are read as the serializer does."""
    status = request.status
    return {
        "id": str(request.uid),
        "kind": str(request.kind),
        "status": str(status),
        "reason": str(request.reason),
        "message": request.message,
        "event": request.event_id,
        "seats": request.seats,
        "booking": booking,
        "payload": request.payload,
        "position": (
            getattr(request, "ahead_in_line", 0) + 1 if status == RequestStatus.PENDING else None
        ),
        "waitlist_position": (
            getattr(request, "ahead_in_waitlist", 0) + 1
            if status == RequestStatus.WAITLISTED
            else None
        ),
        "attempts": request.attempts,
        "created_at": timestamp(request.created_at),
        "decided_at": timestamp(request.decided_at),
    }
