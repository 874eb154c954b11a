"""The benchmark: the new design (record + 202, partition workers decide) against the OLD design
(decide inside the request under ``select_for_update`` on the event row), same machine, same
PostgreSQL + Redis, same gunicorn, same tables, in one run.

    make bench                      # python -m bench
    python -m bench --quick         # a smaller load, for a smoke run

It starts a throwaway PostgreSQL and redis-server (tests/servers.py) and the whole service
(tests/integration/stack.py: gunicorn + one worker process per partition + general worker +
beat) with BENCH_LEGACY_ENDPOINT=1, then for each scenario drives a flash crowd of distinct
customers at each design and reports:

- accepted/s (new: 202s per second of the load) and booking/s (old: decided responses per second),
- decisions/s and time from request to decision p50/p95/p99 (new: ``decided_at - created_at``
  from the database; old: the response time, since the request is the decision),
- 5xx and transport errors, confirmed vs capacity, lost commands (accepted, never decided).

Results: ``bench/results/latest.json`` and ``bench/results/latest.png``.
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.stack import Stack  # noqa: E402
from tests.servers import PostgresServer, RedisServer, missing_servers  # noqa: E402

RESULTS = ROOT / "bench" / "results"
NEW_PATH = "/bookingapi/booking/"
OLD_PATH = "/legacyapi/book/"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[int(q) - 1]


def r3(value):
    return None if value is None else round(value, 3)


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Load:
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    # request uid -> wall-clock time the POST was sent (new design: joins decided_at).
    sent_at: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.statuses.values()) + self.errors

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)


class _Connection:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams. httpx's pool scans every
    connection for every request (O(connections x requests)); at 200 connections it used about
    0.7 of a core here, more than the server under test, so the load generator is hand-rolled."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, token: str, timeout: float) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout
            )
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Token {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        length = int(headers.get("content-length", "0"))
        content = b""
        if length:
            content = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _drive(
    base_url: str,
    path: str,
    jobs: list[tuple[str, int]],
    concurrency: int,
    label: str,
    timeout: float = 120.0,
) -> Load:
    load = Load()
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    url = httpx.URL(base_url)

    async def client_loop() -> None:
        connection = _Connection(url.host, url.port)
        try:
            while True:
                try:
                    token, event_id = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                body = json.dumps({"event": event_id}).encode()
                started, sent = time.perf_counter(), time.time()
                try:
                    code, content = await connection.post(path, body, token, timeout)
                    if code == 202:
                        load.sent_at[json.loads(content)["id"]] = sent
                    load.statuses[code] = load.statuses.get(code, 0) + 1
                    load.latencies.append(time.perf_counter() - started)
                except (
                    TimeoutError,
                    OSError,
                    asyncio.IncompleteReadError,
                    ValueError,
                    IndexError,
                ) as exc:
                    connection.close()
                    load.errors += 1
                    kind = type(exc).__name__
                    load.error_kinds[kind] = load.error_kinds.get(kind, 0) + 1
        finally:
            connection.close()

    async def progress(started: float) -> None:
        while True:
            await asyncio.sleep(2)
            elapsed = time.perf_counter() - started
            log(
                f"  {label}: {load.count}/{len(jobs)} responses, "
                f"{load.count / elapsed:.0f}/s, 5xx {load.server_errors}, errors {load.errors}"
            )

    started = time.perf_counter()
    reporter = asyncio.create_task(progress(started))
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    load.seconds = time.perf_counter() - started
    reporter.cancel()
    return load


def drive(base_url, path, jobs, concurrency, label) -> Load:
    return asyncio.run(_drive(base_url, path, jobs, concurrency, label))


# --- database reads (direct, so polling costs no Django start-up) -------------------------------


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


# --- one design, one scenario -------------------------------------------------------------------


def run_new(stack: Stack, db: Db, jobs, events, concurrency, settle_timeout) -> dict:
    load = drive(stack.base_url, NEW_PATH, jobs, concurrency, "new design")
    accepted = load.statuses.get(202, 0)
    log(f"  new design: {accepted} accepted in {load.seconds:.1f}s; waiting for decisions")
    deadline = time.monotonic() + settle_timeout
    while True:
        counts = db.requests_by_status(events)
        pending = counts.get("pending", 0)
        if pending == 0 or time.monotonic() >= deadline:
            break
        log(f"  new design: {pending} pending, {sum(counts.values()) - pending} decided")
        time.sleep(1)
    latencies, span = db.decision_latencies(events)
    decided = len(latencies)
    end_to_end = db.end_to_end(load.sent_at)
    seats = db.seats(events)
    return {
        "requests": len(jobs),
        "accepted": accepted,
        "status_counts": {str(k): v for k, v in sorted(load.statuses.items())},
        "transport_errors": load.errors,
        "transport_error_kinds": load.error_kinds,
        "server_errors_5xx": load.server_errors,
        "load_seconds": r3(load.seconds),
        "accepted_per_second": r3(accepted / load.seconds),
        "request_seconds": {
            "p50": r3(pct(load.latencies, 50)),
            "p95": r3(pct(load.latencies, 95)),
            "p99": r3(pct(load.latencies, 99)),
        },
        "decided": decided,
        "first_request_to_last_decision_seconds": r3(span),
        "decisions_per_second": r3(decided / span) if span else None,
        # From the command's insert (created_at) to its decision, as event_report measures it.
        "recorded_to_decision_seconds": {
            "p50": r3(pct(latencies, 50)),
            "p95": r3(pct(latencies, 95)),
            "p99": r3(pct(latencies, 99)),
            "max": r3(max(latencies) if latencies else None),
        },
        # From the client sending the POST to the decision: comparable with the old design.
        "time_to_decision_seconds": {
            "p50": r3(pct(end_to_end, 50)),
            "p95": r3(pct(end_to_end, 95)),
            "p99": r3(pct(end_to_end, 99)),
            "max": r3(max(end_to_end) if end_to_end else None),
        },
        "confirmed": counts.get("confirmed", 0),
        "rejected": counts.get("rejected", 0),
        "lost": accepted - decided,
        **seats,
    }


def run_old(stack: Stack, db: Db, jobs, events, concurrency) -> dict:
    load = drive(stack.base_url, OLD_PATH, jobs, concurrency, "old design")
    decided = load.statuses.get(201, 0) + load.statuses.get(409, 0)
    seats = db.seats(events)
    return {
        "requests": len(jobs),
        "status_counts": {str(k): v for k, v in sorted(load.statuses.items())},
        "transport_errors": load.errors,
        "transport_error_kinds": load.error_kinds,
        "server_errors_5xx": load.server_errors,
        "load_seconds": r3(load.seconds),
        "decided": decided,
        "bookings_per_second": r3(decided / load.seconds),
        "decisions_per_second": r3(decided / load.seconds),
        "time_to_decision_seconds": {
            "p50": r3(pct(load.latencies, 50)),
            "p95": r3(pct(load.latencies, 95)),
            "p99": r3(pct(load.latencies, 99)),
            "max": r3(max(load.latencies) if load.latencies else None),
        },
        "confirmed": load.statuses.get(201, 0),
        "rejected": load.statuses.get(409, 0),
        "undecided": len(jobs) - decided,
        **seats,
    }


def scenario(
    stack: Stack,
    db: Db,
    idle,
    *,
    name: str,
    requests: int,
    capacity: int,
    events: int,
    concurrency: int,
    settle_timeout: float,
) -> dict:
    per_event = max(1, capacity // events)
    log(
        f"scenario {name}: {requests} requests from distinct customers over {events} event(s), "
        f"capacity {per_event * events} in all, {concurrency} concurrent clients"
    )
    seed = json.loads(
        stack.manage(
            "seed_crowd",
            "--customers",
            str(requests),
            "--capacity",
            str(per_event),
            "--events",
            str(2 * events),
            timeout=600,
        )
        .strip()
        .splitlines()[-1]
    )
    new_events, old_events = seed["events"][:events], seed["events"][events:]
    tokens = seed["tokens"]
    new_jobs = [(t, new_events[i % events]) for i, t in enumerate(tokens)]
    old_jobs = [(t, old_events[i % events]) for i, t in enumerate(tokens)]
    idle()
    old = run_old(stack, db, old_jobs, old_events, concurrency)
    log(
        f"  old design: {old['bookings_per_second']}/s, p99 "
        f"{old['time_to_decision_seconds']['p99']}s, 5xx {old['server_errors_5xx']}"
    )
    idle()
    new = run_new(stack, db, new_jobs, new_events, concurrency, settle_timeout)
    new["queue_drain_seconds_after"] = r3(idle())
    log(
        f"  new design: accepted {new['accepted_per_second']}/s, decisions "
        f"{new['decisions_per_second']}/s, p99 to decision "
        f"{new['time_to_decision_seconds']['p99']}s, lost {new['lost']}"
    )
    old_rate = old["bookings_per_second"] or 0
    ratios = {
        "accepted_per_s_new_over_booking_per_s_old": r3(new["accepted_per_second"] / old_rate)
        if old_rate
        else None,
        "decisions_per_s_new_over_old": r3((new["decisions_per_second"] or 0) / old_rate)
        if old_rate
        else None,
        "p99_decision_old_over_new": r3(
            old["time_to_decision_seconds"]["p99"] / new["time_to_decision_seconds"]["p99"]
        )
        if new["time_to_decision_seconds"]["p99"]
        else None,
    }
    return {
        "requests": requests,
        "capacity": per_event * events,
        "events": events,
        "concurrency": concurrency,
        "new": new,
        "old": old,
        "ratios": ratios,
    }


# --- output -------------------------------------------------------------------------------------

BACKLOG_CODE = """
import json, time
from apps.accounts.models import Customer
from apps.bookings.models import BookingRequest, CommandKind
from apps.events.models import Event
from rest_framework.authtoken.models import Token
from workers.tasks import ring
event = Event.objects.get(pk={event_id})
tokens = json.load(open({tokens_file!r}))
users = Token.objects.filter(key__in=tokens).values_list("user_id", flat=True)
customers = Customer.objects.filter(user_id__in=list(users))
BookingRequest.objects.bulk_create([BookingRequest(kind=CommandKind.BOOK, user_id=c.user_id,
    customer=c, event=event) for c in customers], batch_size=1000)
started = time.time()
ring(event_id=event.pk, partition=event.partition)
print(json.dumps(started))
"""


def backlog(stack: Stack, db: Db, idle, *, requests: int, capacity: int, timeout: float) -> dict:
    """The partition worker's own decision rate: a backlog of pending commands for one event,
    recorded without doorbells, then one doorbell. No HTTP in the way."""
    log(f"backlog: {requests} pending commands at one event (capacity {capacity}), one doorbell")
    seed = json.loads(
        stack.manage(
            "seed_crowd", "--customers", str(requests), "--capacity", str(capacity), timeout=600
        )
        .strip()
        .splitlines()[-1]
    )
    event_id = seed["events"][0]
    tokens_file = stack.data_dir / "backlog-tokens.json"
    tokens_file.write_text(json.dumps(seed["tokens"]))
    idle()
    rung = json.loads(
        stack.manage(
            "shell", "-c", BACKLOG_CODE.format(event_id=event_id, tokens_file=str(tokens_file))
        )
        .strip()
        .splitlines()[-1]
    )
    deadline = time.monotonic() + timeout
    while db.requests_by_status([event_id]).get("pending", 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    observed = time.time() - rung
    counts = db.requests_by_status([event_id])
    last = db.one(
        "SELECT extract(epoch FROM max(decided_at)) FROM bookings_bookingrequest "
        "WHERE event_id = %s",
        [event_id],
    )[0]
    decided = sum(n for s, n in counts.items() if s != "pending")
    # decided_at is each batch's start: the poll's view bounds the last batch's end from above.
    seconds = observed
    result = {
        "requests": requests,
        "capacity": capacity,
        "decided": decided,
        "pending": counts.get("pending", 0),
        "confirmed": counts.get("confirmed", 0),
        "seconds_from_doorbell_to_last_decision": r3(seconds),
        "seconds_from_doorbell_to_last_batch_start": r3(float(last) - rung) if last else None,
        "decisions_per_second": r3(decided / seconds) if seconds else None,
        **db.seats([event_id]),
    }
    log(
        f"  backlog: {decided} decided in {seconds:.2f}s = "
        f"{result['decisions_per_second']}/s, confirmed {result['confirmed']}/{capacity}"
    )
    return result


def table(results: dict) -> str:
    """p50/p95/p99: seconds from sending the request to its decision (client clock)."""
    rows = [
        (
            "scenario",
            "design",
            "accepted/s",
            "decisions/s",
            "p50 s",
            "p95 s",
            "p99 s",
            "recorded->decided p99 s",
            "confirmed/cap",
            "5xx+errors",
            "lost",
        )
    ]
    for name, s in results["scenarios"].items():
        for design in ("old", "new"):
            d = s[design]
            t = d["time_to_decision_seconds"]
            rows.append(
                (
                    name,
                    design,
                    str(d.get("accepted_per_second", d.get("bookings_per_second"))),
                    str(d["decisions_per_second"]),
                    str(t["p50"]),
                    str(t["p95"]),
                    str(t["p99"]),
                    str(d.get("recorded_to_decision_seconds", {}).get("p99", "-")),
                    f"{d['confirmed']}/{s['capacity']}",
                    str(d["server_errors_5xx"] + d["transport_errors"]),
                    str(d.get("lost", d.get("undecided"))),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["scenarios"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.25
    for i, name in enumerate(names):
        s = results["scenarios"][name]
        bars = [
            ("old booking/s", s["old"]["bookings_per_second"], "tab:red"),
            ("new accepted/s", s["new"]["accepted_per_second"], "tab:blue"),
            ("new decisions/s", s["new"]["decisions_per_second"] or 0, "tab:green"),
        ]
        for j, (label, value, color) in enumerate(bars):
            left.bar(
                i + (j - 1) * width, value, width, color=color, label=label if i == 0 else None
            )
            left.text(
                i + (j - 1) * width, value, f"{value:.0f}", ha="center", va="bottom", fontsize=8
            )
    left.set_xticks(range(len(names)), names)
    left.set_ylabel("per second")
    left.set_title("Throughput")
    left.legend()
    labels = []
    for name in names:
        for design in ("old", "new"):
            labels.append(f"{name}\n{design}")
    qs = ("p50", "p95", "p99")
    for k, q in enumerate(qs):
        values = [
            results["scenarios"][n][d]["time_to_decision_seconds"][q] or 0
            for n in names
            for d in ("old", "new")
        ]
        right.bar([x + (k - 1) * width for x in range(len(labels))], values, width, label=q)
    right.set_xticks(range(len(labels)), labels)
    right.set_ylabel("seconds from request to decision")
    right.set_title("Time to decision")
    right.legend()
    fig.suptitle(
        f"make bench on {results['machine']['cpus']} CPUs "
        f"({results['config']['requests']} requests, "
        f"{results['config']['concurrency']} clients)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--capacity", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--spread-events", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=16)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--settle-timeout", type=float, default=240)
    parser.add_argument("--scenario", choices=["hot", "spread", "all"], default="all")
    parser.add_argument(
        "--no-durable",
        dest="durable",
        action="store_false",
        help="PostgreSQL with fsync and synchronous_commit off",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 requests, capacity 200")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the stack (experiments: batch size, ...)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.capacity = 1000, 200
    missing = missing_servers()
    if missing:
        log(f"needs {', '.join(missing)}")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "scenarios": {},
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        PostgresServer(durable=args.durable) as pg,
        RedisServer() as redis,
    ):
        log(f"PostgreSQL on {pg.port} (durable={args.durable}), Redis on {redis.port}")
        env = {
            "DATABASE_URL": pg.url,
            "CELERY_BROKER_URL": redis.url,
            "BENCH_LEGACY_ENDPOINT": "1",
            "BOOKING_PARTITIONS": str(args.partitions),
            "LOG_LEVEL": "WARNING",
        }
        env.update(item.split("=", 1) for item in args.env)
        stack = Stack(
            Path(tmp) / "stack", env=env, web_workers=args.web_workers, web_threads=args.web_threads
        )
        with stack:
            log(
                f"stack up at {stack.base_url} (gunicorn {args.web_workers}x"
                f"{args.web_threads} threads, {args.partitions} partition workers)"
            )
            db = Db(pg.url)
            plan = {"hot": 1, "spread": args.spread_events}
            for name, events in plan.items():
                if args.scenario not in ("all", name):
                    continue
                results["scenarios"][name] = scenario(
                    stack,
                    db,
                    lambda: wait_for_idle_queues(redis.url, args.partitions),
                    name=name,
                    requests=args.requests,
                    capacity=args.capacity,
                    events=events,
                    concurrency=args.concurrency,
                    settle_timeout=args.settle_timeout,
                )
            if args.scenario == "all":
                results["backlog"] = backlog(
                    stack,
                    db,
                    lambda: wait_for_idle_queues(redis.url, args.partitions),
                    requests=args.requests,
                    capacity=args.capacity,
                    timeout=args.settle_timeout,
                )
            invariants = stack.manage("check_invariants", "--pending-threshold", "600", "--json")
            results["invariants"] = json.loads(invariants.strip().splitlines()[-1])
    results["total_seconds"] = r3(time.monotonic() - started)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "latest.png")
    print()
    print(table(results))
    print()
    for name, s in results["scenarios"].items():
        print(f"{name}: " + ", ".join(f"{k} = {v}" for k, v in s["ratios"].items()))
    if "backlog" in results:
        b = results["backlog"]
        print(
            f"backlog (worker only): {b['decided']} decisions in "
            f"{b['seconds_from_doorbell_to_last_decision']}s = {b['decisions_per_second']}/s"
        )
    print(
        f"invariants ok: {results['invariants'].get('ok')}; "
        f"results in {args.out / 'latest.json'} and latest.png "
        f"({results['total_seconds']:.0f}s)"
    )
    return 0
