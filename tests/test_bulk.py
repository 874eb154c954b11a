"""apps.core.bulk: multi-row INSERTs whose values go through each field's preparation."""

import uuid

import pytest
from django.utils import timezone

from apps.audit.models import Action, HistoryPoint
from apps.audit.services import HISTORY_FIELDS
from apps.core.bulk import insert_rows
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_rows_are_stored_as_the_orm_would_store_them_and_a_repeated_value_is_prepared_once(
    monkeypatch,
):
    user = CustomerFactory().user
    at, later = timezone.now(), timezone.now() + timezone.timedelta(seconds=1)
    field = HistoryPoint._meta.get_field("created_at")
    prepare = field.get_db_prep_save
    prepared = []

    def counted(value, connection):
        prepared.append(value)
        return prepare(value, connection)

    monkeypatch.setattr(field, "get_db_prep_save", counted)
    rows = [
        (user.pk, Action.CREATE, None, str(n), {"n": n, "id": str(uuid.uuid4())}, when)
        for n, when in enumerate([at, at, at, later, later, at])
    ]

    insert_rows(HistoryPoint, HISTORY_FIELDS, rows)

    assert prepared == [at, later, at]  # each run of the very same object once
    stored = HistoryPoint.objects.filter(user=user).order_by("object_id")
    assert [(p.object_id, p.details, p.created_at) for p in stored] == [
        (r[3], r[4], r[5]) for r in rows
    ]
