"""On PostgreSQL the statements every request runs are prepared once per database session."""

import pytest

from devtools.stack import shell_json

pytestmark = pytest.mark.servers

CODE = """
import json
from django.db import connection
from apps.bookings.selectors import event_for_booking
from apps.events.models import Event

def prepared():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'rows_%%'")
        return cursor.fetchone()[0]

event = Event.objects.order_by("pk").first()
answers = [event_for_booking(event_id=event.pk, customer_id=0)[0].pk for _ in range(3)]
first_session = prepared()
connection.close()  # a new session: prepared again on first use
answers.append(event_for_booking(event_id=event.pk, customer_id=0)[0].pk)
missing = event_for_booking(event_id=-1, customer_id=0)
print(json.dumps({"answers": answers, "event": event.pk, "first_session": first_session,
                  "second_session": prepared(), "missing": missing}))
"""


def test_statements_are_prepared_once_per_session_and_again_after_a_reconnect(scaled_stack):
    scaled_stack.manage("seed_crowd", "--customers", "1", "--capacity", "1")

    found = shell_json(scaled_stack, CODE)

    assert found["answers"] == [found["event"]] * 4
    assert found["first_session"] == 1 and found["second_session"] == 1
    assert found["missing"] is None


def test_prepared_statements_can_be_turned_off(scaled_stack, monkeypatch):
    monkeypatch.setitem(scaled_stack.env, "DATABASE_PREPARED_STATEMENTS", "0")
    scaled_stack.manage("seed_crowd", "--customers", "1", "--capacity", "1")

    found = shell_json(scaled_stack, CODE)

    assert found["first_session"] == 0 and found["second_session"] == 0
    assert found["answers"] == [found["event"]] * 4
