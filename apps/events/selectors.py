"""Reads of events."""

from django.db.models import Count, Min, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.bookings.models import Booking, BookingRequest, BookingStatus, RequestStatus
from apps.events.models import Event


def visible_events() -> QuerySet[Event]:
    return Event.objects.live().select_related("creator__user")


def upcoming_events() -> QuerySet[Event]:
    return visible_events().filter(start_time__gt=timezone.now())


def past_events() -> QuerySet[Event]:
    return visible_events().filter(end_time__lte=timezone.now())


def organizer_events(user) -> QuerySet[Event]:
    return visible_events().filter(creator__user=user)


def organizer_dashboard(user) -> QuerySet[Event]:
    """The organizer's events with their line (pending commands, the oldest one's age) and the
    seats of live holds, in one query (correlated subqueries on (event, status) indexes)."""
    pending = (
        BookingRequest.objects.filter(event_id=OuterRef("pk"), status=RequestStatus.PENDING)
        .order_by()
        .values("event_id")
    )
    held = (
        Booking.objects.filter(event_id=OuterRef("pk"), status=BookingStatus.HELD)
        .order_by()
        .values("event_id")
        .annotate(n=Sum("seats"))
        .values("n")
    )
    return organizer_events(user).annotate(
        seats_held=Coalesce(Subquery(held), 0),
        pending_commands=Coalesce(Subquery(pending.annotate(n=Count("id")).values("n")), 0),
        oldest_pending_at=Subquery(pending.annotate(t=Min("created_at")).values("t")),
    )
