"""The state of events' pipelines as JSON: seats, bookings, requests by status, and the time
from request to decision. Used by the integration tests and the benchmark.

    python manage.py event_report 12 13
"""

import json
import statistics

from django.core.management.base import BaseCommand
from django.db.models import Count, Q

from apps.bookings.models import BookingRequest, BookingStatus, RequestStatus
from apps.events.models import Event


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(event_ids: list[int]) -> dict:
    events = Event.objects.filter(pk__in=event_ids).annotate(
        active=Count("bookings", filter=Q(bookings__status=BookingStatus.ACTIVE), distinct=True)
    )
    by_status = dict(
        BookingRequest.objects.filter(event_id__in=event_ids)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    decided = BookingRequest.objects.filter(event_id__in=event_ids, decided_at__isnull=False)
    latencies = sorted(
        (d - c).total_seconds() for c, d in decided.values_list("created_at", "decided_at")
    )
    span = decided.values_list("created_at", "decided_at")
    first_created = min((c for c, _ in span), default=None)
    last_decided = max((d for _, d in span), default=None)
    return {
        "events": [
            {
                "id": e.pk,
                "capacity": e.capacity,
                "seats_taken": e.seats_taken,
                "active_bookings": e.active,
                "partition": e.partition,
            }
            for e in events
        ],
        "requests": {s: by_status.get(s, 0) for s in RequestStatus.values},
        "decision_latency_seconds": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else None,
        },
        "first_request_to_last_decision_seconds": (
            (last_decided - first_created).total_seconds() if latencies else None
        ),
    }


class Command(BaseCommand):
    help = "Print a JSON report of the given events' seats, requests and decision latency."

    def add_arguments(self, parser):
        parser.add_argument("event_ids", nargs="+", type=int)

    def handle(self, *args, event_ids, **options):
        self.stdout.write(json.dumps(report(event_ids)))
