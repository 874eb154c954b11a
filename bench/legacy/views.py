"""The OLD design, kept only as the benchmark's baseline: decide the booking inside the HTTP
request, holding a row lock on the event (``select_for_update``) for the whole decision. Same
tables and constraints as the new design (the seat counter, one booking per customer/event).

Every request for one event queues on that row lock while holding a database connection and a
web worker thread; that is what ``make bench`` measures against the partition workers.
"""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Customer
from apps.bookings.models import Booking, BookingStatus
from apps.events.models import Event


def _refuse(code: str, message: str, http_status: int) -> Response:
    return Response({"error": {"code": code, "message": message}}, status=http_status)


class LegacyBookView(APIView):
    """POST {"event": id} → 201 with the booking, or 409 sold_out / duplicate."""

    def post(self, request):
        try:
            event_id = int(request.data.get("event"))
        except (TypeError, ValueError):
            return _refuse("invalid", "event must be an id", status.HTTP_400_BAD_REQUEST)
        customer = Customer.objects.filter(user_id=request.user.pk).first()
        if customer is None:
            return _refuse("not_a_customer", "only customers book", status.HTTP_403_FORBIDDEN)
        try:
            with transaction.atomic():
                event = Event.objects.select_for_update().filter(pk=event_id).first()
                if event is None or event.deleted_at is not None:
                    return _refuse("not_found", "no such event", status.HTTP_404_NOT_FOUND)
                if event.start_time <= timezone.now():
                    return _refuse(
                        "event_closed", "the event has started", status.HTTP_409_CONFLICT
                    )
                if Booking.objects.filter(
                    event=event, customer=customer, status=BookingStatus.ACTIVE
                ).exists():
                    return _refuse("duplicate", "already booked", status.HTTP_409_CONFLICT)
                if event.seats_taken >= event.capacity:
                    return _refuse("sold_out", "no seats left", status.HTTP_409_CONFLICT)
                booking = Booking.objects.create(event=event, customer=customer)
                Event.objects.filter(pk=event.pk).update(seats_taken=F("seats_taken") + 1)
        except IntegrityError:
            return _refuse("duplicate", "already booked", status.HTTP_409_CONFLICT)
        return Response(
            {"id": booking.pk, "event": event_id, "status": booking.status},
            status=status.HTTP_201_CREATED,
        )
