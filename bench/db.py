"""What the benchmark reads from PostgreSQL and Redis directly, so that polling costs no Django
start-up."""

import time


class Db:
    def __init__(self, url: str):
        import psycopg2

        self.conn = psycopg2.connect(url.replace("postgres://", "postgresql://", 1))
        self.conn.autocommit = True

    def quiesce(self) -> None:
        """Vacuum, analyze and checkpoint between runs: each design starts with fresh planner
        statistics and no clean-up left over from the previous run (autovacuum and a
        checkpoint would otherwise land in whichever run comes next)."""
        with self.conn.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")

    def one(self, sql: str, args=()) -> tuple:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchone()

    def any_pending(self, events: list[int]) -> bool:
        """One probe of the pending-only index: cheap enough to ask every few milliseconds
        while a worker decides (a count by status read every row of the event each time)."""
        (found,) = self.one(
            "SELECT EXISTS (SELECT 1 FROM bookings_bookingrequest "
            "WHERE event_id = ANY(%s) AND status = 'pending')",
            [events],
        )
        return found

    def requests_by_status(self, events: list[int]) -> dict[str, int]:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT status, count(*) FROM bookings_bookingrequest "
                "WHERE event_id = ANY(%s) GROUP BY status",
                [events],
            )
            return dict(cursor.fetchall())

    def seats(self, events: list[int]) -> dict:
        taken, capacity, over = self.one(
            "SELECT sum(seats_taken), sum(capacity), count(*) FILTER "
            "(WHERE seats_taken > capacity) FROM events_event WHERE id = ANY(%s)",
            [events],
        )
        active = self.one(
            "SELECT count(*) FROM bookings_booking WHERE event_id = ANY(%s) AND status = 'active'",
            [events],
        )[0]
        return {
            "seats_taken": int(taken or 0),
            "capacity": int(capacity or 0),
            "events_over_capacity": int(over),
            "active_bookings": int(active),
        }

    def out_of_order_decisions(self, events: list[int]) -> int:
        """Commands decided after a command of the same event with a higher id (a later
        batch than a command recorded after them): 0 when the line was kept."""
        return int(
            self.one(
                "SELECT count(*) FROM (SELECT decided_at, min(decided_at) OVER (PARTITION BY "
                "event_id ORDER BY id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) "
                "AS first_after FROM bookings_bookingrequest WHERE event_id = ANY(%s) "
                "AND decided_at IS NOT NULL) decided WHERE first_after < decided_at",
                [events],
            )[0]
        )

    def decided_at(self, sent_at: dict[str, float]) -> dict[str, tuple[int, float]]:
        """Request uid -> (its primary key, decided_at in epoch seconds), for the decided ones."""
        with self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT uid::text, id, extract(epoch FROM decided_at) FROM "
                "bookings_bookingrequest WHERE uid::text = ANY(%s) "
                "AND decided_at IS NOT NULL",
                [list(sent_at)],
            )
            return {uid: (pk, float(decided)) for uid, pk, decided in cursor.fetchall()}

    def statuses_by_id(self, events: list[int]) -> dict[int, str]:
        """Request primary key -> status, for every request of the events."""
        with self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT id, status FROM bookings_bookingrequest WHERE event_id = ANY(%s)", [events]
            )
            return dict(cursor.fetchall())

    def decision_latencies(self, events: list[int]) -> tuple[list[float], float | None]:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT extract(epoch FROM decided_at - created_at), created_at, "
                "decided_at FROM bookings_bookingrequest WHERE event_id = ANY(%s) "
                "AND decided_at IS NOT NULL",
                [events],
            )
            rows = cursor.fetchall()
        if not rows:
            return [], None
        span = (max(r[2] for r in rows) - min(r[1] for r in rows)).total_seconds()
        return [float(r[0]) for r in rows], span


class SqliteDb:
    """The same reads on the embedded default's SQLite file (read-only, beside the service)."""

    def __init__(self, path):
        import sqlite3

        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def _in(self, events: list[int]) -> str:
        return ",".join(str(int(e)) for e in events)

    def any_pending(self, events: list[int]) -> bool:
        (found,) = self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM bookings_bookingrequest "
            f"WHERE event_id IN ({self._in(events)}) AND status = 'pending')"
        ).fetchone()
        return bool(found)

    def requests_by_status(self, events: list[int]) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT status, count(*) FROM bookings_bookingrequest "
            f"WHERE event_id IN ({self._in(events)}) GROUP BY status"
        ).fetchall()
        return dict(rows)

    def seats(self, events: list[int]) -> dict:
        taken, capacity, over = self.conn.execute(
            "SELECT sum(seats_taken), sum(capacity), sum(seats_taken > capacity) "
            f"FROM events_event WHERE id IN ({self._in(events)})"
        ).fetchone()
        (active,) = self.conn.execute(
            "SELECT count(*) FROM bookings_booking "
            f"WHERE event_id IN ({self._in(events)}) AND status = 'active'"
        ).fetchone()
        return {
            "seats_taken": int(taken or 0),
            "capacity": int(capacity or 0),
            "events_over_capacity": int(over or 0),
            "active_bookings": int(active),
        }

    @staticmethod
    def _epoch(text: str) -> float:
        from datetime import UTC, datetime

        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()

    def decided_at(self, sent_at: dict[str, float]) -> dict[str, tuple[int, float]]:
        rows = self.conn.execute(
            "SELECT uid, id, decided_at FROM bookings_bookingrequest WHERE decided_at IS NOT NULL"
        ).fetchall()
        by_hex = {uid.replace("-", ""): uid for uid in sent_at}
        return {by_hex[u]: (pk, self._epoch(d)) for u, pk, d in rows if u in by_hex}

    def decision_latencies(self, events: list[int]) -> tuple[list[float], float | None]:
        rows = [
            (self._epoch(c), self._epoch(d))
            for c, d in self.conn.execute(
                "SELECT created_at, decided_at FROM bookings_bookingrequest "
                f"WHERE event_id IN ({self._in(events)}) AND decided_at IS NOT NULL"
            ).fetchall()
        ]
        if not rows:
            return [], None
        span = max(d for _, d in rows) - min(c for c, _ in rows)
        return [d - c for c, d in rows], span


def wait_for_idle_queues(redis_url: str, partitions: int, timeout: float = 300) -> float:
    """Wait until every partition queue is drained (left-over doorbells burn CPU that the next
    measurement would pay for). Returns the seconds waited."""
    import redis

    client = redis.Redis.from_url(redis_url)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        depth = sum(client.llen(f"bookings.p{p}") for p in range(partitions))
        if depth == 0:
            break
        time.sleep(0.2)
    return time.monotonic() - started
