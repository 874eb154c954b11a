"""The benchmark's row-lock baseline prepares its statements under the lock on PostgreSQL, as
the new design prepares its own: neither design gets a shortcut the other lacks."""

import pytest

from devtools.stack import Stack, shell_json

pytestmark = pytest.mark.servers

CODE = """
import json
from django.db import connection
from django.test import Client
from apps.accounts.tokens import issue_token
from apps.accounts.models import Customer
from apps.events.models import Event
from bench.legacy.views import BOOKING, COUNTER, LOCKED_EVENT, REACTIVATE

event = Event.objects.order_by("pk").first()
customer = Customer.objects.order_by("pk").first()
key, _ = issue_token(user=customer.user)
answer = Client().post("/legacyapi/book/", {"event": event.pk}, content_type="application/json",
                       HTTP_AUTHORIZATION=f"Token {key}")
with connection.cursor() as cursor:
    cursor.execute("SELECT name FROM pg_prepared_statements")
    names = [row[0] for row in cursor.fetchall()]
print(json.dumps({"status": answer.status_code, "names": names,
                  "ours": [LOCKED_EVENT.name, BOOKING.name, COUNTER.name],
                  "reactivate": REACTIVATE.name}))
"""


def test_the_old_designs_statements_under_the_lock_are_prepared(servers, tmp_path):
    stack = Stack(
        tmp_path, env={**servers["env"], "DJANGO_SETTINGS_MODULE": "bench.legacy.settings"}
    )
    stack.manage("migrate", "--noinput", "-v", "0")
    stack.manage("seed_crowd", "--customers", "1", "--capacity", "1")

    found = shell_json(stack, CODE)

    assert found["status"] == 201
    assert set(found["ours"]) <= set(found["names"])
