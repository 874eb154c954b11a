"""What subscribers hear about a decision: the outcome of a command (a webhook event type, the
request, the booking) and its payload, in the shapes the API shows."""

from collections.abc import Collection
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from apps.accounts.models import Customer
from apps.bookings.models import Booking, BookingRequest, CommandKind, RequestStatus
from apps.bookings.serializers import booking_body, request_body
from apps.core.rows import JoinedRows
from apps.events.models import Event


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
    (CommandKind.HOLD, RequestStatus.CONFIRMED): "booking.held",
    (CommandKind.HOLD, RequestStatus.REJECTED): "booking.rejected",
    (CommandKind.CONFIRM_HOLD, RequestStatus.CONFIRMED): "booking.confirmed",
    (CommandKind.CONFIRM_HOLD, RequestStatus.REJECTED): "booking.rejected",
    (CommandKind.RELEASE_HOLD, RequestStatus.CONFIRMED): "booking.cancelled",
    (CommandKind.EXPIRE_HOLD, RequestStatus.CONFIRMED): "hold.expired",
}


def outcome_data(*, events, outcomes) -> dict[int, dict]:
    """``{"request": …, "booking": …}`` per outcome, as the API shows them; the related rows
    are loaded in one query for all outcomes, and no serializer is built per outcome."""
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
    # Usernames the decision already read with its commands (``customer_username``); the others
    # (an event's cancellation reaches every booking's customer) in one query.
    usernames = {
        o.request.customer_id: o.request.customer_username
        for o in outcomes
        if getattr(o.request, "customer_username", None) is not None
    }
    usernames.update(_usernames({b.customer_id for b in bookings} - usernames.keys()))
    titles = {event.pk: event.title for event in events}
    other_events = {b.event_id for b in bookings} - set(titles)
    if other_events:
        titles.update(Event.objects.filter(pk__in=other_events).values_list("pk", "title"))

    bodies: dict[int, dict] = {}  # an outcome's booking is most often its request's too

    def shown(booking: Booking | None) -> dict | None:
        if booking is None:
            return None
        body = bodies.get(id(booking))
        if body is None:
            body = bodies[id(booking)] = booking_body(
                booking,
                event_title=titles[booking.event_id],
                customer_username=usernames[booking.customer_id],
            )
        return body

    return {
        id(o): {
            "request": request_body(o.request, booking=shown(o.request.booking)),
            "booking": shown(o.booking),
        }
        for o in outcomes
    }


# Written out (``apps.core.rows``'s reasoning): a batch of one or two decisions paid more for
# compiling the ORM's join than the database did for running it.
USERNAMES = JoinedRows(
    [],
    f"{Customer._meta.db_table} c JOIN {get_user_model()._meta.db_table} u ON u.id = c.user_id",
    "c.id IN ({ids})",
    extra=["c.id", "u.username"],
)


def _usernames(customer_ids: Collection[int]) -> dict[int, str]:
    if not customer_ids:
        return {}
    return dict(USERNAMES.fetch(list(customer_ids), ids=len(customer_ids)))
