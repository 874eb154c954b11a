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


def test_copy_is_used_only_where_its_text_and_new_ids_are_known():
    """COPY on psycopg2 only; new ids only for an auto-incremented key (its sequence); a column
    type without a known COPY text keeps the multi-row INSERT."""
    from types import SimpleNamespace

    import psycopg2
    from knox.models import AuthToken

    from apps.core.bulk import _copies
    from apps.webhooks.models import WebhookDelivery

    postgres = SimpleNamespace(vendor="postgresql", Database=psycopg2)
    sqlite = SimpleNamespace(vendor="sqlite", Database=SimpleNamespace(__name__="sqlite3"))
    deliveries = WebhookDelivery._meta
    columns = [deliveries.get_field(name) for name in ("uid", "payload", "created_at")]
    tokens = AuthToken._meta
    token_columns = [tokens.get_field("token_key"), tokens.get_field("created")]

    assert _copies(postgres, columns, deliveries, True)
    assert not _copies(sqlite, columns, deliveries, True)
    assert _copies(postgres, token_columns, tokens, False)
    assert not _copies(postgres, token_columns, tokens, True)  # its key is the digest
    binary = SimpleNamespace(get_internal_type=lambda: "BinaryField")
    assert not _copies(postgres, [*columns, binary], deliveries, False)
