"""The database's half of the history: every command, booking, decision logged, delivery and
lease grant of the run, read with plain SQL once the run has settled."""

import json
import uuid
from datetime import UTC, datetime

from chaos.checker import History

REQUESTS = """
SELECT r.id, r.uid::text, r.event_id, r.kind, r.status, r.reason, r.seats, r.booking_id,
       r.customer_id, r.payload, extract(epoch FROM r.created_at)::float8,
       extract(epoch FROM r.decided_at)::float8, r.decided_partition, r.decided_generation
FROM bookings_bookingrequest r ORDER BY r.id
"""
EVENTS = "SELECT id, capacity, seats_taken, waitlist_size, partition FROM events_event"
BOOKINGS = """
SELECT id, event_id, status, seats, extract(epoch FROM expires_at)::float8 FROM bookings_booking
"""
# The decisions logged: one history row per decision, naming its request and status.
LOGGED = """
SELECT details->>'request', details->>'status' FROM audit_historypoint
WHERE details ? 'request' AND details ? 'status'
"""
DELIVERIES = """
SELECT uid::text, status, extract(epoch FROM created_at)::float8 FROM webhooks_webhookdelivery
"""
GRANTS = """
SELECT partition, generation, extract(epoch FROM granted_at)::float8
FROM partitions_partitiongrant
"""
# SQLite (the embedded default): times are stored as text and uuids as 32 hex digits; both are
# read as they are and converted here (``_epoch``, ``_uuid``), to the microsecond.
SQLITE = {
    REQUESTS: """
SELECT r.id, r.uid, r.event_id, r.kind, r.status, r.reason, r.seats, r.booking_id,
       r.customer_id, r.payload, r.created_at, r.decided_at, r.decided_partition,
       r.decided_generation
FROM bookings_bookingrequest r ORDER BY r.id
""",
    EVENTS: EVENTS,
    BOOKINGS: "SELECT id, event_id, status, seats, expires_at FROM bookings_booking",
    LOGGED: """
SELECT json_extract(details, '$.request'), json_extract(details, '$.status')
FROM audit_historypoint
WHERE json_type(details, '$.request') IS NOT NULL AND json_type(details, '$.status') IS NOT NULL
""",
    DELIVERIES: "SELECT uid, status, created_at FROM webhooks_webhookdelivery",
    GRANTS: "SELECT partition, generation, granted_at FROM partitions_partitiongrant",
}


def _epoch(value) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def _uuid(value: str) -> str:
    return str(uuid.UUID(value))


KEYS = (
    "id",
    "uid",
    "event",
    "kind",
    "status",
    "reason",
    "seats",
    "booking",
    "customer",
    "payload",
    "created_at",
    "decided_at",
    "decided_partition",
    "decided_generation",
)


def load(
    sql,
    *,
    initial_capacity: dict[int, int],
    calls: list[dict],
    received: dict[str, int],
    postgres_restarts: list[tuple[float, float]],
    ended_at: float,
    vendor: str = "postgresql",
) -> History:
    """``sql(query) -> rows``; what the rows cannot tell (the capacity each event started
    with, the client log, the receiver's ids, when PostgreSQL restarted) comes from the run."""
    if vendor == "sqlite":
        read = sql
        sql = lambda query: read(SQLITE[query])  # noqa: E731 - the same reads, in its dialect
    requests = []
    for row in sql(REQUESTS):
        request = dict(zip(KEYS, row, strict=True))
        if isinstance(request["payload"], str):
            request["payload"] = json.loads(request["payload"])
        request["uid"] = _uuid(request["uid"])
        request["created_at"] = _epoch(request["created_at"])
        request["decided_at"] = _epoch(request["decided_at"])
        requests.append(request)
    events = {
        e: {
            "capacity": c,
            "seats_taken": s,
            "waitlist_size": w,
            "partition": p,
            "initial_capacity": initial_capacity.get(e, c),
        }
        for e, c, s, w, p in sql(EVENTS)
    }
    bookings = {
        b: {"event": e, "status": st, "seats": n, "expires_at": _epoch(x)}
        for b, e, st, n, x in sql(BOOKINGS)
    }
    logged: dict[str, list[str]] = {}
    for uid, status in sql(LOGGED):
        logged.setdefault(uid, []).append(status)
    return History(
        requests=requests,
        events=events,
        bookings=bookings,
        decisions_logged=logged,
        deliveries=[
            {"uid": _uuid(u), "status": s, "created_at": _epoch(c)} for u, s, c in sql(DELIVERIES)
        ],
        received=received,
        grants=[
            {"partition": p, "generation": g, "granted_at": _epoch(t)} for p, g, t in sql(GRANTS)
        ],
        calls=calls,
        postgres_restarts=postgres_restarts,
        ended_at=ended_at,
    )
