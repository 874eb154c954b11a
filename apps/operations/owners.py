"""Which partitions have a live lease holder."""

from django.conf import settings


def partitions_without_live_owner() -> list[int]:
    return []


def stale_after_seconds() -> float:
    return settings.READINESS_PARTITION_STALE_SECONDS
