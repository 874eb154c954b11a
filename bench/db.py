"""What the benchmark reads from PostgreSQL and Redis directly, so that polling costs no Django
start-up."""

import time

from bench.load import log


class Db:
    def __init__(self, url: str):
        import psycopg2

        self.conn = psycopg2.connect(url.replace("postgres://", "postgresql://", 1))
        self.conn.autocommit = True

    def one(self, sql: str, args=()) -> tuple:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchone()

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

    def end_to_end(self, sent_at: dict[str, float]) -> list[float]:
        """Seconds from sending the POST (client clock) to the decision (same machine)."""
        with self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT uid::text, extract(epoch FROM decided_at) FROM "
                "bookings_bookingrequest WHERE uid::text = ANY(%s) "
                "AND decided_at IS NOT NULL",
                [list(sent_at)],
            )
            return [float(decided) - sent_at[uid] for uid, decided in cursor.fetchall()]

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
        log(f"  waiting for {depth} queued doorbells to drain")
        time.sleep(2)
    return time.monotonic() - started
