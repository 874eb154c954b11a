"""Small builders shared by the event tests."""

from datetime import timedelta

from django.utils import timezone


def iso(moment) -> str:
    return moment.isoformat()


def event_payload(**overrides) -> dict:
    start = timezone.now() + timedelta(days=3)
    return {
        "title": "Jazz night",
        "description": "Live quartet",
        "start_time": iso(start),
        "end_time": iso(start + timedelta(hours=2)),
        "capacity": 50,
        **overrides,
    }
