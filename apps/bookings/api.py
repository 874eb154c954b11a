import django_filters
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer

from apps.accounts.permissions import IsCustomer
from apps.bookings import selectors, stream
from apps.bookings.commands import request_booking, request_command, request_withdrawal
from apps.bookings.models import (
    Booking,
    BookingRequest,
    BookingStatus,
    CommandKind,
    RequestStatus,
)
from apps.bookings.responses import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    command_response,
    idempotency_key,
    poll_headers,
    withdrawal_response,
)
from apps.bookings.serializers import (
    BookingRequestSerializer,
    BookingSerializer,
    BookingUpdateSerializer,
    BookRequestSerializer,
    HoldRequestSerializer,
    book_request,
    check_seats,
)
from apps.core.exceptions import Conflict, PermissionDenied
from apps.core.schema import ErrorEnvelopeSerializer
from apps.core.throttling import CommandThrottle, HoldThrottle

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
    {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH, "pattern": r"\S"},
    OpenApiParameter.HEADER,
    required=False,
    description="A retry with the same key and body returns the same request; the same key "
    "with another body is refused with 422.",
)
COMMAND_HEADERS = [PREFER_HEADER, IDEMPOTENCY_HEADER]
LAST_EVENT_ID_HEADER = OpenApiParameter(
    "Last-Event-ID",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The id of the last event received: its state is not sent again.",
)
# A refused stream tries again after this long (an open stream lasts until its outcome).
STREAM_RETRY_SECONDS = 5


COMMAND_RESPONSES = {
    202: OpenApiResponse(BookingRequestSerializer, description="Accepted; pending or waitlisted"),
    201: OpenApiResponse(BookingRequestSerializer, description="Prefer: wait: booked"),
    200: OpenApiResponse(BookingRequestSerializer, description="Prefer: wait: done"),
    409: OpenApiResponse(
        ErrorEnvelopeSerializer,
        description="Prefer: wait: refused (`error.code` is the reason, `error.details.request` "
        "the request), or refused at once (e.g. `event_closed`, `book_pending`)",
    ),
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

    def get_throttles(self):
        # A booking is counted once it is to be recorded (``_count_command``): refused at the
        # door, it records nothing and does not use up the customer's commands.
        return [] if self.action == "create" else super().get_throttles()

    def _count_command(self) -> None:
        """The per-user commands limit, for a book command about to be recorded (a 429
        records nothing)."""
        for throttle in super().get_throttles():
            if not throttle.allow_request(self.request, self):
                self.throttled(self.request, throttle.wait())

    def _own_booking(self) -> Booking:
        booking = self.get_object()
        if booking.customer.user_id != self.request.user.id:
            raise PermissionDenied("Only the customer who holds a booking may change it.")
        return booking

    def _command(self, booking: Booking, kind: CommandKind, seats: int | None = None):
        command, created = request_command(
            user_id=self.request.user.id,
            event=booking.event,
            kind=kind,
            customer_id=booking.customer_id,
            booking_id=booking.pk,
            seats=booking.seats if seats is None else seats,
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
        event_id, seats = book_request(request.data)
        command, created = request_booking(
            user_id=request.user.id,
            customer_id=request.user.customer_profile.pk,
            event_id=event_id,
            seats=seats,
            idempotency_key=idempotency_key(request),
            before_recording=self._count_command,
        )
        return command_response(request, command, created=created)

    @extend_schema(
        request=BookingUpdateSerializer,
        responses=COMMAND_RESPONSES,
        parameters=COMMAND_HEADERS,
        summary="Change seats (seats=n), reactivate (status=active) or cancel (status=cancelled)",
    )
    def partial_update(self, request, pk=None):
        booking = self._own_booking()
        data = BookingUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted, seats = data.validated_data.get("status"), data.validated_data.get("seats")
        if seats is not None:
            check_seats(seats, booking.event)
        if wanted == BookingStatus.CANCELLED:
            return self._command(booking, CommandKind.CANCEL)
        if wanted == BookingStatus.ACTIVE:
            return self._command(booking, CommandKind.REACTIVATE, seats)
        return self._command(booking, CommandKind.CHANGE_SEATS, seats)

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
        responses={
            200: OpenApiResponse(
                BookingRequestSerializer,
                description="While pending, `Retry-After` says when to look again (from its "
                "place in line and the workers' pace, 1..30 s).",
            )
        },
        summary="A request and its outcome (while pending: its place in line)",
    )
    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        for name, value in poll_headers(response.data).items():
            response[name] = value
        return response

    @extend_schema(
        request=None,
        responses={
            202: OpenApiResponse(
                BookingRequestSerializer,
                description="Still pending: the event's worker withdraws it (status "
                "`withdrawn`, reason `withdrawn`) instead of deciding it",
            ),
            200: OpenApiResponse(BookingRequestSerializer, description="Prefer: wait: withdrawn"),
            409: OpenApiResponse(
                ErrorEnvelopeSerializer,
                description="`already_decided`: decided before the withdrawal; the decision "
                "stands (`error.details.request`)",
            ),
        },
        parameters=[PREFER_HEADER],
        summary="Withdraw a pending request (decided through the event's queue)",
    )
    def destroy(self, request, uid=None):
        command = self.get_object()
        withdrawing = command.status == RequestStatus.PENDING and request_withdrawal(
            command=command
        )
        return withdrawal_response(request, command, withdrawing=withdrawing)

    def perform_content_negotiation(self, request, force=False):
        if self.action == "events":  # the stream is text/event-stream; its errors are JSON
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        responses={
            (200, stream.CONTENT_TYPE): OpenApiResponse(
                OpenApiTypes.STR,
                description="Server-Sent Events: `state` (the request) at once, `position` as "
                "its place in line moves, `outcome` (the decided request), then the end; "
                "comment heartbeats. Ids name the state shown: reconnect with `Last-Event-ID`.",
            ),
            204: OpenApiResponse(description="`Last-Event-ID` names the outcome: nothing more"),
            429: OpenApiResponse(
                ErrorEnvelopeSerializer,
                description="This process has its cap of open streams and waiting requests "
                "(`BOOKING_WAITERS_PER_PROCESS`): retry after `Retry-After` seconds",
            ),
        },
        parameters=[LAST_EVENT_ID_HEADER],
        summary="Watch a request: its place in line and its outcome, as Server-Sent Events",
    )
    @action(detail=True, methods=["get"])
    def events(self, request, uid=None):
        command = self.get_object()
        last = request.headers.get("Last-Event-ID", "").strip()
        if command.is_final and stream.has_outcome(last):
            return HttpResponse(status=status.HTTP_204_NO_CONTENT)
        events = stream.open_stream(command, last_event_id=last, context={"request": request})
        if events is None:
            request.throttled_scope = "streams"
            raise Throttled(wait=STREAM_RETRY_SECONDS)
        response = StreamingHttpResponse(events, content_type=stream.CONTENT_TYPE)
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # a proxy passes each event on at once
        return response

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


class HoldViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Holds: seats kept for a customer until the event's ``hold_seconds`` pass. Holding,
    confirming, releasing and expiring are commands on the event's queue; of a confirm and an
    expiry, the one first in the queue wins. A hold's id is its booking's id."""

    serializer_class = BookingSerializer
    filterset_class = BookingFilter
    throttle_classes = [CommandThrottle]
    search_fields = ["event__title"]
    ordering_fields = ["created_at", "expires_at"]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Booking.objects.none()
        bookings = selectors.bookings_for(self.request.user)
        return bookings.filter(status=BookingStatus.HELD) if self.action == "list" else bookings

    def get_permissions(self):
        if self.action == "create":
            return [IsAuthenticated(), IsCustomer()]
        return [IsAuthenticated()]

    def get_throttles(self):
        # A new hold is counted twice: as a command, and by the holds' own, tighter limit.
        throttles = super().get_throttles()
        return [*throttles, HoldThrottle()] if self.action == "create" else throttles

    def _command(self, kind: CommandKind):
        booking = self.get_object()
        if booking.customer.user_id != self.request.user.id:
            raise PermissionDenied("Only the customer who holds the seats may change the hold.")
        command, created = request_command(
            user_id=self.request.user.id,
            event=booking.event,
            kind=kind,
            customer_id=booking.customer_id,
            booking_id=booking.pk,
            seats=booking.seats,
            idempotency_key=idempotency_key(self.request),
        )
        return command_response(self.request, command, created=created)

    @extend_schema(summary="Your live holds (organizers: holds on their events)")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="A hold (its booking: `held`, then `active`, `cancelled` or `expired`)")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=HoldRequestSerializer,
        responses=COMMAND_RESPONSES,
        parameters=COMMAND_HEADERS,
        summary="Hold seats (202 + request; decided: the booking is `held` until `expires_at`)",
    )
    def create(self, request):
        data = HoldRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        command, created = request_command(
            user_id=request.user.id,
            event=data.validated_data["event"],
            kind=CommandKind.HOLD,
            customer_id=request.user.customer_profile.pk,
            seats=data.validated_data["seats"],
            idempotency_key=idempotency_key(request),
        )
        return command_response(request, command, created=created)

    @extend_schema(
        request=None,
        responses=COMMAND_RESPONSES,
        parameters=COMMAND_HEADERS,
        summary="Confirm the hold: its seats become a booking, or `hold_expired`",
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        return self._command(CommandKind.CONFIRM_HOLD)

    @extend_schema(
        request=None,
        responses=COMMAND_RESPONSES,
        parameters=COMMAND_HEADERS,
        summary="Release the hold (its seats are freed and go to the waitlist first)",
    )
    def destroy(self, request, pk=None):
        return self._command(CommandKind.RELEASE_HOLD)
