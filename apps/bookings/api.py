import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated

from apps.accounts.permissions import IsCustomer
from apps.bookings import selectors
from apps.bookings.commands import request_booking, request_command
from apps.bookings.models import (
    Booking,
    BookingRequest,
    BookingStatus,
    CommandKind,
    RequestStatus,
)
from apps.bookings.responses import command_response, idempotency_key
from apps.bookings.serializers import (
    BookingRequestSerializer,
    BookingSerializer,
    BookingUpdateSerializer,
    BookRequestSerializer,
)
from apps.core.exceptions import Conflict, PermissionDenied
from apps.core.throttling import CommandThrottle

PREFER_HEADER = OpenApiParameter(
    "Prefer",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="`wait=N` (RFC 7240): wait up to N seconds (capped) for the decision and answer "
    "201/200 when confirmed, 409 when rejected, 202 if still pending.",
)
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="A retry with the same key and body returns the same request; the same key "
    "with another body is refused with 422.",
)
COMMAND_HEADERS = [PREFER_HEADER, IDEMPOTENCY_HEADER]


COMMAND_RESPONSES = {
    202: OpenApiResponse(BookingRequestSerializer, description="Accepted; pending or waitlisted"),
    201: OpenApiResponse(BookingRequestSerializer, description="Prefer: wait: booked"),
    200: OpenApiResponse(BookingRequestSerializer, description="Prefer: wait: done"),
    409: OpenApiResponse(OpenApiTypes.OBJECT, description="Refused (error.code = reason)"),
}


class BookingFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=BookingStatus.choices)

    class Meta:
        model = Booking
        fields = ["status", "event"]


class BookingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Bookings. Every change is a command decided by the event's partition worker: the answer
    is 202 with a request resource to poll (or see ``Prefer: wait``)."""

    serializer_class = BookingSerializer
    filterset_class = BookingFilter
    throttle_classes = [CommandThrottle]
    search_fields = ["event__title"]
    ordering_fields = ["created_at", "updated_at", "event__start_time"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Booking.objects.none()
        return selectors.bookings_for(self.request.user)

    def get_permissions(self):
        if self.action == "create":
            return [IsAuthenticated(), IsCustomer()]
        return [IsAuthenticated()]

    def _own_booking(self) -> Booking:
        booking = self.get_object()
        if booking.customer.user_id != self.request.user.id:
            raise PermissionDenied("Only the customer who holds a booking may change it.")
        return booking

    def _command(self, booking: Booking, kind: CommandKind):
        command, created = request_command(
            user_id=self.request.user.id,
            event=booking.event,
            kind=kind,
            customer_id=booking.customer_id,
            booking_id=booking.pk,
            idempotency_key=idempotency_key(self.request),
        )
        return command_response(self.request, command, created=created)

    @extend_schema(
        request=BookRequestSerializer,
        responses=COMMAND_RESPONSES,
        parameters=COMMAND_HEADERS,
        summary="Request a booking (202 + request)",
    )
    def create(self, request):
        data = BookRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        command, created = request_booking(
            user_id=request.user.id,
            customer_id=request.user.customer_profile.pk,
            event_id=data.validated_data["event"],
            idempotency_key=idempotency_key(request),
        )
        return command_response(request, command, created=created)

    @extend_schema(
        request=BookingUpdateSerializer,
        responses=COMMAND_RESPONSES,
        parameters=COMMAND_HEADERS,
        summary="Reactivate (status=active) or cancel (status=cancelled)",
    )
    def partial_update(self, request, pk=None):
        booking = self._own_booking()
        data = BookingUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data["status"]
        kind = CommandKind.REACTIVATE if wanted == BookingStatus.ACTIVE else CommandKind.CANCEL
        return self._command(booking, kind)

    @extend_schema(
        request=None,
        responses=COMMAND_RESPONSES,
        parameters=COMMAND_HEADERS,
        summary="Cancel the booking (kept as cancelled; the seat is freed)",
    )
    def destroy(self, request, pk=None):
        return self._command(self._own_booking(), CommandKind.CANCEL)

    @extend_schema(
        request=None,
        responses=COMMAND_RESPONSES,
        parameters=COMMAND_HEADERS,
        summary="Cancel the booking",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._command(self._own_booking(), CommandKind.CANCEL)


class RequestFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RequestStatus.choices)
    kind = django_filters.ChoiceFilter(choices=CommandKind.choices)

    class Meta:
        model = BookingRequest
        fields = ["status", "kind", "event"]


class BookingRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The caller's commands and their outcomes."""

    serializer_class = BookingRequestSerializer
    filterset_class = RequestFilter
    throttle_classes = [CommandThrottle]
    lookup_field = "uid"
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"
    ordering_fields = ["id", "created_at", "decided_at"]
    search_fields: list[str] = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return BookingRequest.objects.none()
        return selectors.requests_for(self.request.user)

    @extend_schema(
        request=None,
        responses=COMMAND_RESPONSES,
        parameters=COMMAND_HEADERS,
        summary="Leave the waitlist (a command on the event's queue)",
    )
    @action(detail=True, methods=["post"], url_path="leave-waitlist")
    def leave_waitlist(self, request, uid=None):
        entry = self.get_object()
        if entry.kind != CommandKind.BOOK or entry.customer_id is None:
            raise Conflict("Only a booking request can leave a waitlist.", code="not_waitlisted")
        command, created = request_command(
            user_id=request.user.id,
            event=entry.event,
            kind=CommandKind.LEAVE_WAITLIST,
            customer_id=entry.customer_id,
            payload={"request": str(entry.uid)},
            idempotency_key=idempotency_key(request),
        )
        return command_response(request, command, created=created)
