"""apps.core.bulk on PostgreSQL: a large run of rows goes by COPY, and what is stored is what
the multi-row INSERT stores, whatever the values hold (separators, backslashes, NULLs,
JSON, UUIDs, time stamps); new ids come back in row order; errors are Django's.

The rows go into the scaled stack's shared database: the test counts only its own (its user's
subscription, its own history tags), none of its deliveries is due while it runs (the stack's
scheduler would send them), and it deletes its user, and so everything it wrote, at the end."""

import uuid

import pytest

from devtools.stack import shell_json

pytestmark = pytest.mark.servers

CODE = """
import json, uuid
from datetime import timedelta
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from apps.audit.models import Action, HistoryPoint
from apps.audit.services import HISTORY_FIELDS
from apps.core import bulk
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from apps.webhooks.deliveries import DELIVERY_FIELDS
from django.contrib.auth import get_user_model

run = "RUN"
user = get_user_model().objects.create_user(username=f"bulk-{run}")
subscription = WebhookSubscription.objects.create(
    owner=user, url="http://127.0.0.1:9/hook", event_types=["booking.confirmed"], secret="s")
at = timezone.now()
awkward = ["tab\\there", "line\\nbreak\\r\\nend", "back\\\\slash \\\\N", "\\\\.",
           "quote ' \\" é ✓", ""]
details = [
    {"text": text, "nested": {"list": [1, None, True, text]}, "n": n}
    for n, text in enumerate(awkward)
]
details += [{"path": "C:\\\\dir\\\\file", "unicode": "snow ☃ \\u2603"}, []]

def history_rows(tag):
    tag = f"{run}-{tag}"
    return [
        (user.pk, Action.CREATE, None, f"{tag}-{n:03d}-{awkward[n % len(awkward)]}",
         details[n % len(details)], at + timedelta(microseconds=n % 3))
        for n in range(150)
    ]

def stored_history(tag):
    tag = f"{run}-{tag}"
    return [
        [p.object_id[len(tag):], p.details, p.created_at.isoformat(), p.action, p.content_type_id]
        for p in HistoryPoint.objects.filter(object_id__startswith=tag).order_by("object_id")
    ]

# Not due while the test runs (a day ahead), or the stack's scheduler would publish them.
later = at + timedelta(days=1)
seen = []
def record(execute, sql, params, many, context):
    seen.append(sql.split()[0].upper())
    return execute(sql, params, many, context)

with connection.execute_wrapper(record):
    bulk.insert_rows(HistoryPoint, HISTORY_FIELDS, history_rows("copy"))
copied_statements = list(seen)
limit, bulk.COPY_MIN_ROWS = bulk.COPY_MIN_ROWS, 10**9
seen.clear()
with connection.execute_wrapper(record):
    bulk.insert_rows(HistoryPoint, HISTORY_FIELDS, history_rows("insert"))
inserted_statements = list(seen)
bulk.COPY_MIN_ROWS = limit

def delivery_rows():
    rows = []
    for n in range(100):
        uid = uuid.uuid4()
        payload = {"type": "booking.confirmed", "id": str(uid), "data": details[n % len(details)]}
        rows.append((uid, subscription.pk, "booking.confirmed", payload, "pending", 0, 3,
                     None if n % 2 else later, None, awkward[n % len(awkward)], at, at))
    return rows

rows = delivery_rows()
ids = bulk.insert_rows(WebhookDelivery, DELIVERY_FIELDS, rows, returning_ids=True)
by_id = WebhookDelivery.objects.in_bulk(ids)
deliveries_match = all(
    (d.uid, d.payload, d.next_attempt_at, d.last_error) == (row[0], row[3], row[7], row[9])
    for d, row in zip((by_id[i] for i in ids), rows)
)
again = delivery_rows()
again[60] = (rows[3][0],) + again[60][1:]  # a uid already stored: the unique constraint
try:
    with transaction.atomic():
        bulk.insert_rows(WebhookDelivery, DELIVERY_FIELDS, again, returning_ids=True)
    error = None
except IntegrityError as exc:
    error = type(exc).__module__ + "." + type(exc).__name__
print(json.dumps({
    "copied": stored_history("copy"), "inserted": stored_history("insert"),
    "copied_statements": copied_statements, "inserted_statements": inserted_statements,
    "ids": ids, "deliveries_match": deliveries_match, "error": error,
    "after_error": WebhookDelivery.objects.filter(subscription=subscription).count(),
    "dispatched": WebhookDelivery.objects.filter(
        subscription=subscription, dispatched_at__isnull=False).count(),
}))
"""


CLEAN_UP = """
import json
from django.contrib.auth import get_user_model
from apps.audit.models import HistoryPoint
from apps.webhooks.models import WebhookDelivery
get_user_model().objects.filter(username="bulk-RUN").delete()  # its subscription, deliveries
HistoryPoint.objects.filter(object_id__startswith="RUN-").delete()
print(json.dumps(WebhookDelivery.objects.filter(subscription__owner__username="bulk-RUN").count()
                 + HistoryPoint.objects.filter(object_id__startswith="RUN-").count()))
"""


@pytest.fixture
def run_tag(scaled_stack):
    """A tag for this run's rows, and everything tagged with it deleted afterwards."""
    tag = uuid.uuid4().hex[:8]
    yield tag
    assert shell_json(scaled_stack, CLEAN_UP.replace("RUN", tag)) == 0


def test_copy_stores_what_insert_stores_returns_ids_in_order_and_raises_djangos_errors(
    scaled_stack, run_tag
):
    found = shell_json(scaled_stack, CODE.replace('"RUN"', f'"{run_tag}"'))

    assert len(found["copied"]) == 150
    assert found["copied"] == found["inserted"]
    # COPY does not go through cursor.execute: no INSERT statement was run for the rows.
    assert found["copied_statements"] == []
    assert found["inserted_statements"] == ["INSERT"]
    ids = found["ids"]
    assert len(ids) == 100 and ids == sorted(ids) and len(set(ids)) == 100
    assert found["deliveries_match"] is True
    assert found["error"] == "django.db.utils.IntegrityError"
    assert found["after_error"] == 100  # the failed COPY stored none of its rows
    assert found["dispatched"] == 0  # none was due: the stack's scheduler left them alone
