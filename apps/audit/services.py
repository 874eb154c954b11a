"""History is written by the service that makes the change, in the same transaction."""

from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import models

from apps.audit.models import Action, HistoryPoint


def history_point(
    *, user_id: int, action: Action, target: models.Model | None = None, details: dict | None = None
) -> HistoryPoint:
    """An unsaved history row (for bulk writes)."""
    return HistoryPoint(
        user_id=user_id,
        action=action,
        content_type=ContentType.objects.get_for_model(target) if target is not None else None,
        object_id=str(target.pk) if target is not None and target.pk is not None else "",
        details=details or {},
    )


def record(
    *, user_id: int, action: Action, target: models.Model | None = None, details: dict | None = None
) -> HistoryPoint:
    point = history_point(user_id=user_id, action=action, target=target, details=details)
    point.save()
    return point


def record_many(points: Iterable[HistoryPoint]) -> None:
    HistoryPoint.objects.bulk_create(list(points), batch_size=500)
