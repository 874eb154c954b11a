"""The history read from the embedded default's database (SQLite stores times as text and uuids
as 32 hex digits): the same values the checker gets from PostgreSQL, to the microsecond."""

import sqlite3

import pytest
from django.db import connection
from django.utils import timezone

from apps.audit.models import HistoryPoint
from apps.bookings.models import BookingRequest, CommandKind, RequestStatus
from apps.partitions.models import PartitionGrant
from chaos import history
from tests.factories import CustomerFactory, EventFactory

# Committed, and read over a plain connection of its own, as the harness reads the service's
# file (Django's own connection would convert the times on the way).
pytestmark = pytest.mark.django_db(transaction=True)


def sqlite(query: str) -> list[tuple]:
    conn = sqlite3.connect(connection.settings_dict["NAME"])
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def test_the_rows_of_the_embedded_default_read_as_the_checker_expects():
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite reads")
    event = EventFactory(partition=3)
    customer = CustomerFactory()
    decided = timezone.now()
    request = BookingRequest.objects.create(
        kind=CommandKind.BOOK,
        user_id=customer.user_id,
        customer=customer,
        event=event,
        status=RequestStatus.REJECTED,
        reason="sold_out",
        decided_at=decided,
        decided_partition=3,
        decided_generation=2,
        payload={"seats": 1},
    )
    HistoryPoint.objects.create(
        user_id=customer.user_id,
        action="booking_rejected",
        details={"request": str(request.uid), "status": "rejected"},
    )
    grant = PartitionGrant.objects.create(
        partition=3, generation=2, holder="host:1", granted_at=decided
    )

    found = history.load(
        sqlite,
        initial_capacity={},
        calls=[],
        received={},
        postgres_restarts=[],
        ended_at=0.0,
        vendor="sqlite",
    )

    [row] = found.requests
    assert row["uid"] == str(request.uid)
    assert row["created_at"] == request.created_at.timestamp()
    assert row["decided_at"] == decided.timestamp()
    assert (row["decided_partition"], row["decided_generation"]) == (3, 2)
    assert row["payload"] == {"seats": 1}
    assert found.decisions_logged == {str(request.uid): ["rejected"]}
    assert found.grants == [
        {"partition": 3, "generation": 2, "granted_at": grant.granted_at.timestamp()}
    ]
    assert found.events[event.pk]["partition"] == 3
