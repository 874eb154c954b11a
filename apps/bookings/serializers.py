"""The JSON shapes of a booking and of a request (a command and its outcome): used by the API,
the ``Prefer: wait`` answer and webhook payloads alike."""

from rest_framework import serializers

from apps.bookings.models import Booking, BookingRequest, BookingStatus, Reason, RequestStatus
from apps.events.models import Event


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
        help_text="While waitlisted: 1 for the next customer to get a freed seat."
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


class BookRequestSerializer(serializers.Serializer):
    event = serializers.PrimaryKeyRelatedField(queryset=Event.objects.live())


class BookingUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=BookingStatus.choices)
