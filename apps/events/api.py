import django_filters
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts.permissions import IsOrganizer
from apps.bookings.api import COMMAND_HEADERS, COMMAND_RESPONSES
from apps.bookings.responses import command_response, idempotency_key
from apps.bookings.serializers import MAX_SEATS_PER_BOOKING
from apps.core.exceptions import PermissionDenied
from apps.core.filters import FILTER_BACKENDS, DateTimeFilter, IdFilter
from apps.events import selectors, services
from apps.events.models import Event

MAX_CAPACITY = 1_000_000


class EventSerializer(serializers.ModelSerializer):
    creator = serializers.PrimaryKeyRelatedField(read_only=True)
    creator_name = serializers.CharField(source="creator.organization_name", read_only=True)
    capacity = serializers.IntegerField(min_value=1, max_value=MAX_CAPACITY)
    waitlist_limit = serializers.IntegerField(
        min_value=1, max_value=MAX_CAPACITY, required=False, allow_null=True
    )
    max_seats_per_booking = serializers.IntegerField(
        min_value=1,
        max_value=MAX_SEATS_PER_BOOKING,
        required=False,
        help_text="Most seats one booking or hold may take (default 10).",
    )
    hold_seconds = serializers.IntegerField(
        min_value=1,
        max_value=3600,
        required=False,
        help_text="How long a hold keeps its seats before it expires (default 600, 30..3600).",
    )
    available_slots = serializers.IntegerField(read_only=True)
    is_full = serializers.BooleanField(read_only=True)
    is_past = serializers.BooleanField(read_only=True)
    is_ongoing = serializers.BooleanField(read_only=True)

    class Meta:
        model = Event
        fields = [
            "id",
            "title",
            "description",
            "start_time",
            "end_time",
            "capacity",
            "creator",
            "creator_name",
            "partition",
            "seats_taken",
            "available_slots",
            "is_full",
            "is_past",
            "is_ongoing",
            "waitlist_enabled",
            "waitlist_limit",
            "waitlist_size",
            "max_seats_per_booking",
            "hold_seconds",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "creator",
            "partition",
            "seats_taken",
            "waitlist_size",
            "created_at",
            "updated_at",
        ]

    def validate_hold_seconds(self, value: int) -> int:
        low, high = settings.BOOKING_HOLD_MIN_SECONDS, settings.BOOKING_HOLD_MAX_SECONDS
        if not low <= value <= high:
            raise serializers.ValidationError(f"must be between {low} and {high} seconds")
        return value


class EventDashboardSerializer(serializers.ModelSerializer):
    pending_commands = serializers.IntegerField(read_only=True)
    seats_held = serializers.IntegerField(
        read_only=True, help_text="Seats of live holds (part of seats_taken)."
    )
    oldest_pending_age_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = [
            "id",
            "title",
            "start_time",
            "capacity",
            "seats_taken",
            "seats_held",
            "waitlist_enabled",
            "waitlist_size",
            "pending_commands",
            "oldest_pending_age_seconds",
            "partition",
        ]
        read_only_fields = fields

    def get_oldest_pending_age_seconds(self, obj) -> float | None:
        if obj.oldest_pending_at is None:
            return None
        return round((timezone.now() - obj.oldest_pending_at).total_seconds(), 3)


class EventFilter(django_filters.FilterSet):
    start_after = DateTimeFilter(field_name="start_time", lookup_expr="gte")
    start_before = DateTimeFilter(field_name="start_time", lookup_expr="lt")
    creator = IdFilter(field_name="creator_id")
    has_seats = django_filters.BooleanFilter(method="filter_has_seats")

    class Meta:
        model = Event
        fields = ["start_after", "start_before", "creator", "has_seats", "waitlist_enabled"]

    def filter_has_seats(self, queryset, name, value):
        seats_left = {"seats_taken__lt": F("capacity")}
        return queryset.filter(**seats_left) if value else queryset.exclude(**seats_left)


FORCE_PARAMETER = OpenApiParameter(
    "force",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    required=False,
    description="Cancel every booking and waitlist entry through the event's queue, then "
    "delete. Without it, an event with bookings or requests in line is not deleted.",
)


class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Events. Anyone signed in reads; organizers create; only the owner changes or deletes."""

    serializer_class = EventSerializer
    filter_backends = FILTER_BACKENDS
    filterset_class = EventFilter
    search_fields = ["title", "description", "creator__organization_name"]
    ordering_fields = ["start_time", "end_time", "created_at", "capacity", "title"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.visible_events()

    def get_permissions(self):
        if self.action in ("create", "my_events", "dashboard"):
            return [IsAuthenticated(), IsOrganizer()]
        return [IsAuthenticated()]

    def _owned(self) -> Event:
        event = self.get_object()
        if event.creator.user_id != self.request.user.id:
            raise PermissionDenied("Only the event's organizer may change it.")
        return event

    def _page(self, queryset, serializer_class=EventSerializer):
        queryset = self.filter_queryset(queryset)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    @extend_schema(responses={201: EventSerializer}, summary="Create an event (organizers)")
    def create(self, request):
        data = EventSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.create_event(creator=request.user.organizer_profile, **data.validated_data)
        return Response(EventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=EventSerializer,
        parameters=COMMAND_HEADERS,
        responses={**COMMAND_RESPONSES, 200: EventSerializer},
        summary="Update an event (owner). A capacity change goes through the event's queue: "
        "202 with the request resource.",
    )
    def partial_update(self, request, pk=None):
        event = self._owned()
        data = EventSerializer(event, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        command = services.update_event(
            event=event,
            user_id=request.user.id,
            fields=dict(data.validated_data),
            idempotency_key=idempotency_key(request),
        )
        if command is not None:
            return command_response(request, command)
        event.refresh_from_db()
        return Response(EventSerializer(event).data)

    @extend_schema(
        parameters=[FORCE_PARAMETER, *COMMAND_HEADERS],
        responses={204: None, **COMMAND_RESPONSES},
        summary="Delete an event (owner)",
    )
    def destroy(self, request, pk=None):
        event = self._owned()
        force = request.query_params.get("force", "").lower() in ("1", "true", "yes")
        command = services.delete_event(
            event=event,
            user_id=request.user.id,
            force=force,
            idempotency_key=idempotency_key(request),
        )
        if command is not None:
            return command_response(request, command)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: EventSerializer(many=True)}, summary="My events (organizers)")
    @action(detail=False, methods=["get"])
    def my_events(self, request):
        return self._page(selectors.organizer_events(request.user))

    @extend_schema(responses={200: EventSerializer(many=True)}, summary="Events not yet started")
    @action(detail=False, methods=["get"])
    def upcoming(self, request):
        return self._page(selectors.upcoming_events())

    @extend_schema(responses={200: EventSerializer(many=True)}, summary="Events that have ended")
    @action(detail=False, methods=["get"])
    def past(self, request):
        return self._page(selectors.past_events())

    @extend_schema(
        responses={200: EventDashboardSerializer(many=True)},
        summary="Organizer view: seats, waitlist and the line per event",
    )
    @action(detail=False, methods=["get"])
    def dashboard(self, request):
        return self._page(selectors.organizer_dashboard(request.user), EventDashboardSerializer)
