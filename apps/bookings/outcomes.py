"""What subscribers hear about a decision: the outcome of a command (a webhook event type, the
request, the booking) and its payload, in the shapes the API shows."""

from dataclasses import dataclass

from apps.accounts.models import Customer
from apps.bookings.models import Booking, BookingRequest, CommandKind, RequestStatus
from apps.bookings.serializers import BookingRequestSerializer, BookingSerializer


@dataclass(frozen=True)
class Outcome:
    """A decided change that subscribers hear about (webhooks)."""

    event_type: str
    request: BookingRequest
    booking: Booking | None


WEBHOOK_EVENT_TYPES = {
    (CommandKind.BOOK, RequestStatus.CONFIRMED): "booking.confirmed",
    (CommandKind.REACTIVATE, RequestStatus.CONFIRMED): "booking.confirmed",
    (CommandKind.BOOK, RequestStatus.REJECTED): "booking.rejected",
    (CommandKind.REACTIVATE, RequestStatus.REJECTED): "booking.rejected",
    (CommandKind.CANCEL, RequestStatus.CONFIRMED): "booking.cancelled",
    (CommandKind.BOOK, RequestStatus.WAITLISTED): "booking.waitlisted",
}


def outcome_data(*, event, outcomes) -> dict[int, dict]:
    """``{"request": …, "booking": …}`` per outcome, as the API shows them; the related rows
    the serializers read are loaded in one query for all outcomes."""
    booking_field = BookingRequest._meta.get_field("booking")
    missing = {
        o.request.booking_id
        for o in outcomes
        if o.request.booking_id is not None and not booking_field.is_cached(o.request)
    }
    loaded = Booking.objects.in_bulk(missing) if missing else {}
    for outcome in outcomes:
        if outcome.request.booking_id in loaded and not booking_field.is_cached(outcome.request):
            outcome.request.booking = loaded[outcome.request.booking_id]
    bookings = [b for o in outcomes for b in (o.booking, o.request.booking) if b is not None]
    customer_ids = {b.customer_id for b in bookings}
    customers = (
        Customer.objects.select_related("user").in_bulk(customer_ids) if customer_ids else {}
    )
    for booking in bookings:
        if booking.event_id == event.pk:
            booking.event = event
        booking.customer = customers[booking.customer_id]
    return {
        id(o): {
            "request": BookingRequestSerializer(o.request).data,
            "booking": BookingSerializer(o.booking).data if o.booking is not None else None,
        }
        for o in outcomes
    }
