"""History is written by the service that makes the change, in the same transaction."""

from collections.abc import Iterable
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import models

from apps.audit.models import Action, HistoryPoint
from apps.core.bulk import insert_rows


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


HISTORY_FIELDS = ("user", "action", "content_type", "object_id", "details", "created_at")


def record_batch(
    entries: Iterable[tuple[int, Action, models.Model, dict]], *, at: datetime
) -> None:
    """Write ``(user_id, action, target, details)`` entries, all at ``at``, in a few statements
    (a decision batch writes one per command). Targets must have their ids by then."""
    content_types: dict[type, int] = {}

    def content_type_id(target: models.Model) -> int:
        if type(target) not in content_types:
            content_types[type(target)] = ContentType.objects.get_for_model(target).pk
        return content_types[type(target)]

    insert_rows(
        HistoryPoint,
        HISTORY_FIELDS,
        (
            (user_id, action, content_type_id(target), str(target.pk), details, at)
            for user_id, action, target, details in entries
        ),
    )
