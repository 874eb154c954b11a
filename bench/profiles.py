"""The stacks ``make bench`` runs its scenarios on: the scale-out profile (PostgreSQL + Redis,
both designs, every thread setting), the same with PostgreSQL one delayed hop away
(``hot_rtt``), and the embedded default."""

import contextlib
import json
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

from bench.backlog import backlog, median_backlog
from bench.clocks import RedisDecisionClock
from bench.cpu import CpuMeter, Proc
from bench.db import Db, wait_for_idle_queues
from bench.embedded import embedded_scenario
from bench.load import drive, log, r3
from bench.scenarios import OLD_PATH, run_pair, seed, subscribe
from bench.sweep import Alternation, Webs, headline, point, sweep, threads_of, threads_table
from devtools.delay_proxy import DelayProxy
from devtools.servers import PostgresServer, RedisServer
from devtools.stack import Stack

# Database round trips of a model of the old design's lock hold (a model, not a measurement;
# ``hot_rtt`` measures one of them).
MODEL_RTT_MS = (0.1, 0.5, 1.0)


@contextlib.contextmanager
def timed(results: dict, name: str):
    """Wall seconds of a part of the bench, in ``phase_seconds`` (what a full run spends where)."""
    started = time.monotonic()
    try:
        yield
    finally:
        results.setdefault("phase_seconds", {})[name] = r3(time.monotonic() - started)


def classify(proc: Proc) -> str | None:
    """The process group of a process of the benchmark's stack (None: its parent's)."""
    if proc.comm in ("postgres", "postmaster") or proc.cmdline.startswith("postgres"):
        return "postgresql"
    if proc.comm == "redis-server":
        return "redis"
    if "devtools.delay_proxy" in proc.cmdline:
        return "rtt_proxy"
    if "gunicorn" in proc.cmdline:
        return "web"
    if "-m workers partition" in proc.cmdline:
        return "partition_workers"
    if "celery" in proc.cmdline or "-m workers run" in proc.cmdline:
        return "other_celery"
    return None


def meter_for(stack: Stack, pg: PostgresServer | None, redis: RedisServer | None, more=set):
    """CPU by group over the stack's processes, the servers' and ``more()``'s (other webs, the
    delaying proxy)."""

    def roots() -> set[int]:
        found = {stack.process.pid, *more()}
        if pg is not None:
            found.add(int((pg.root / "data" / "postmaster.pid").read_text().split()[0]))
        if redis is not None and redis.process is not None:
            found.add(redis.process.pid)
        return found

    return CpuMeter(roots, classify)


def round_trip_ms(db: Db, count: int = 300) -> float:
    """The database's round trip from this machine: the median of ``SELECT 1``."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        db.one("SELECT 1")
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def old_design_limits(stack: Stack, db: Db, url: str, hot: dict, idle, subscriptions) -> dict:
    """The old design's ceiling at one event: a booking holds the event's row lock for
    ``hold``, so at most ``1 / hold`` bookings a second, whatever the hardware. ``hold`` is
    measured alone (one client) and under the hot crowd; how it grows with the database's round
    trip is a model: each statement under the lock, and the commit, pays one more round trip."""
    seeded = seed(stack, customers=50, capacity=100, events=1)
    subscribe(stack, seeded["organizer_token"], subscriptions)
    jobs = [(t, seeded["events"][0]) for t in seeded["tokens"]]
    idle()
    alone = drive(url, OLD_PATH, jobs, 1, "old design, one client")
    holds = [a.lock_hold * 1000 for a in alone.answers if a.status == 201 and a.lock_hold]
    statements = [a.lock_statements for a in alone.answers if a.lock_statements]
    hold_ms = statistics.median(holds)
    round_trips = max(set(statements), key=statements.count) + 1  # + the commit
    rtt_ms = round_trip_ms(db)
    model = {
        f"{rtt:g}": {
            "hold_ms": r3(hold_ms + round_trips * (rtt - rtt_ms)),
            "ceiling_bookings_per_second": r3(1000 / (hold_ms + round_trips * (rtt - rtt_ms))),
        }
        for rtt in MODEL_RTT_MS
    }
    crowd_hold = hot["old"]["lock_hold_ms_booked"]["p50"] if hot else None
    return {
        "lock_hold_ms_one_client": r3(hold_ms),
        "lock_hold_ms_under_hot_crowd_p50": crowd_hold,
        "round_trips_under_lock": round_trips,
        "database_round_trip_ms_measured": r3(rtt_ms),
        "ceiling_bookings_per_second_one_client": r3(1000 / hold_ms),
        "ceiling_bookings_per_second_under_crowd": r3(1000 / crowd_hold) if crowd_hold else None,
        "model_note": "a model, not a measurement: hold(rtt) = hold measured alone + "
        "round_trips_under_lock x (rtt - measured round trip); scenarios.hot_rtt measures it",
        "model_by_round_trip_ms": model,
    }


PAUSE_WEBHOOKS = (
    "import json; from config.celery import app\n"
    "replies = app.control.cancel_consumer('webhooks', reply=True, timeout=2)\n"
    "print(json.dumps([name for reply in replies or [] for name in reply]))\n"
)


def pause_webhook_sending(stack: Stack, timeout: float = 60) -> None:
    """Deliveries are written and queued by both designs alike; sending them (the same work
    for both, on their own queue) is not what is compared, so the webhook worker stops
    consuming the webhooks queue for the run. Asked until it answers (a worker still starting
    does not hear the broadcast)."""
    deadline = time.monotonic() + timeout
    while True:
        answered = json.loads(stack.manage("shell", "-c", PAUSE_WEBHOOKS).strip().splitlines()[-1])
        if any(name.startswith("webhooks@") for name in answered):
            log(f"webhook sending paused ({', '.join(answered)} answered)")
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the webhook worker did not stop consuming (answers: {answered})")
        time.sleep(1)


def bench_environment(args) -> dict:
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.legacy.settings",  # the product + the old design
        "BOOKING_PARTITIONS": str(args.partitions),
        "LOG_LEVEL": "WARNING",
        # Failed deliveries (the subscriptions point at a closed port) are not retried nor
        # their subscriptions disabled during the run.
        "WEBHOOK_RETRY_SCHEDULE": "3600",
        # Nor are the deliveries both designs wrote (left unsent: the webhook worker is paused)
        # published by the scheduler during the runs: every 5 s it published up to 500 of them
        # (~0.3 ms of CPU a publish) into the middle of whichever run was going on.
        "WEBHOOK_SCHEDULE_INTERVAL_SECONDS": "3600",
        # The product's sweeper defaults (the test stack's 2 s / 1 s would re-ring, and bump
        # the attempts of, every command the busy worker has not reached yet).
        "BOOKING_SWEEP_AFTER_SECONDS": "5",
        "BOOKING_SWEEP_INTERVAL_SECONDS": "5",
        "WEBHOOK_DISABLE_AFTER_FAILURES": "1000000000",
        # The crowd opens all its keep-alive connections at once, and whichever gunicorn
        # process wakes first accepts most of them (145 of 200 measured): that process's one
        # core then serves most of the load. A cap per process spreads them (either design).
        "GUNICORN_CMD_ARGS": f"--worker-connections {-(-args.concurrency // args.web_workers) + 5}",
    }
    env.update(item.split("=", 1) for item in args.env)
    return env


def _pair_runner(args, stack, db, idle, meter, clock, *, name: str, events: int, **more):
    return partial(
        run_pair,
        stack,
        db,
        idle,
        name=name,
        requests=args.requests,
        capacity=args.capacity,
        events=events,
        concurrency=args.concurrency,
        settle_timeout=args.settle_timeout,
        subscriptions=args.subscriptions,
        meter=meter,
        clock=clock,
        **more,
    )


def _idler(redis_url: str, partitions: int, db: Db):
    def idle(quiesce: bool = True):
        """Wait for drained queues; then, between runs (not inside a measured one), vacuum,
        analyze and checkpoint."""
        waited = wait_for_idle_queues(redis_url, partitions)
        if quiesce:
            db.quiesce()
        return waited

    return idle


def run_scaled(args, wanted: list[str], results: dict, alternation: Alternation) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        PostgresServer(durable=args.durable) as pg,
        RedisServer() as redis,
    ):
        log(f"PostgreSQL on {pg.port} (durable={args.durable}), Redis on {redis.port}")
        env = {"DATABASE_URL": pg.url, "CELERY_BROKER_URL": redis.url, **bench_environment(args)}
        stack = Stack(
            Path(tmp) / "stack", env=env, web_workers=args.web_workers, web_threads=args.web_threads
        )
        best = {"old": args.web_threads, "new": args.web_threads}
        with stack, RedisDecisionClock(redis.url) as clock:
            log(f"stack up at {stack.base_url} ({args.partitions} partition workers)")
            webs = Webs(stack, args.web_workers)
            try:
                best = _scaled_runs(
                    args, wanted, results, alternation, stack, pg, redis, webs, clock
                )
            finally:
                webs.stop()
        if "hot_rtt" in wanted:
            with timed(results, "hot_rtt"):
                run_rtt(args, results, alternation, pg, redis, best, Path(tmp))


def _scaled_runs(args, wanted, results, alternation, stack, pg, redis, webs, clock) -> dict:
    pause_webhook_sending(stack)
    db = Db(pg.url)
    meter = meter_for(stack, pg, redis, webs.pids)
    idle = _idler(redis.url, args.partitions, db)
    best = {"old": args.web_threads, "new": args.web_threads}
    for name, events in {"hot": 1, "spread": args.spread_events}.items():
        if name not in wanted:
            continue
        runner = _pair_runner(args, stack, db, idle, meter, clock, name=name, events=events)
        with timed(results, name):
            points = sweep(runner, webs, alternation, settings=args.threads, repeat=args.repeat)
        results.setdefault("threads", {})[name] = threads_table(points)
        results["scenarios"][name] = headline(points)
        if name == "hot":
            best = {
                d: threads_of(label) for d, label in results["scenarios"][name]["threads"].items()
            }
    urls = {design: webs.url(threads) for design, threads in best.items()}
    if "hot" in wanted:
        hot = results["scenarios"]["hot"]
        results["limits"] = {
            "old": old_design_limits(stack, db, urls["old"], hot, idle, args.subscriptions)
        }
    if "hot_wait" in wanted:
        runner = _pair_runner(
            args,
            stack,
            db,
            idle,
            meter,
            clock,
            name="hot_wait",
            events=1,
            prefer=f"wait={args.wait}",
        )
        with timed(results, "hot_wait"):
            pairs = [
                runner(urls=urls, order=alternation.next_order()) for _ in range(args.wait_repeat)
            ]
        results["scenarios"]["hot_wait"] = {**point(pairs), "threads": _labels(args, best)}
    if "backlog" in wanted:
        with timed(results, "backlog"):
            runs = [
                backlog(
                    stack,
                    db,
                    idle,
                    requests=args.backlog_requests,
                    capacity=args.backlog_requests // 5,
                    timeout=args.settle_timeout,
                    subscriptions=args.subscriptions,
                    clock=clock,
                )
                for _ in range(args.backlog_runs)
            ]
        results["backlog"] = median_backlog(runs)
        results.setdefault("limits", {})["new"] = {
            "ceiling_decisions_per_second_one_worker": results["backlog"]["decisions_per_second"],
            "note": "one partition worker decides this many commands a second from a backlog "
            "(one event); partitions add workers, one event stays on one",
        }
    import redis as redis_client

    # The webhooks queue was not consumed (pause_webhook_sending): what both designs handed
    # over is still there.
    results["webhook_messages_left_unsent"] = redis_client.Redis.from_url(redis.url).llen(
        "webhooks"
    )
    invariants = stack.manage("check_invariants", "--pending-threshold", "600", "--json")
    results["invariants"] = json.loads(invariants.strip().splitlines()[-1])
    return best


def _labels(args, best: dict) -> dict:
    return {design: f"{args.web_workers}x{threads}" for design, threads in best.items()}


def run_rtt(args, results, alternation, pg, redis, best: dict, tmp: Path) -> None:
    """The hot crowd with PostgreSQL one hop away: every process of both designs (web, partition
    workers, the rest) reaches it through the delaying proxy, ``--rtt-delay-ms`` each way. Each
    design at its best thread setting of ``hot``."""
    with DelayProxy(target_port=pg.port, delay_ms=args.rtt_delay_ms) as proxy:
        far = pg.url.replace(f":{pg.port}/", f":{proxy.port}/")
        env = {"DATABASE_URL": far, "CELERY_BROKER_URL": redis.url, **bench_environment(args)}
        stack = Stack(
            tmp / "stack-rtt", env=env, web_workers=args.web_workers, web_threads=best["new"]
        )
        with stack, RedisDecisionClock(redis.url) as clock:
            log(f"stack up at {stack.base_url}, PostgreSQL through {proxy.port}")
            webs = Webs(stack, args.web_workers)
            try:
                pause_webhook_sending(stack)
                db = Db(pg.url)  # the bench's own reads: not through the hop
                measured = round_trip_ms(Db(far))
                meter = meter_for(stack, pg, redis, lambda: webs.pids() | {proxy.process.pid})
                idle = _idler(redis.url, args.partitions, db)
                runner = _pair_runner(args, stack, db, idle, meter, clock, name="hot_rtt", events=1)
                urls = {design: webs.url(threads) for design, threads in best.items()}
                pairs = [
                    runner(urls=urls, order=alternation.next_order())
                    for _ in range(args.rtt_repeat)
                ]
                found = point(pairs)
                results["scenarios"]["hot_rtt"] = {
                    **found,
                    "threads": _labels(args, best),
                    "rtt_delay_ms_each_way": args.rtt_delay_ms,
                    "database_round_trip_ms_through_proxy": r3(measured),
                    "database_round_trip_ms_direct": r3(round_trip_ms(db)),
                    "lock_hold_ms_old_booked_p50": found["old"]["lock_hold_ms_booked"]["p50"],
                }
            finally:
                webs.stop()


def run_embedded(args, results: dict) -> None:
    """``make run``'s profile: SQLite + the file-system broker, the launcher's defaults."""
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        env = {
            "DJANGO_SETTINGS_MODULE": "bench.legacy.settings",
            "LOG_LEVEL": "WARNING",
            "BOOKING_PARTITIONS": "8",
            "BOOKING_SWEEP_AFTER_SECONDS": "5",
            "BOOKING_SWEEP_INTERVAL_SECONDS": "5",
        }
        env.update(item.split("=", 1) for item in args.env)
        stack = Stack(Path(tmp) / "stack", env=env, web_workers=2, web_threads=8)
        with stack:
            log(f"embedded stack up at {stack.base_url} (gunicorn 2x8 threads, SQLite)")
            scenario, footprint = embedded_scenario(
                stack,
                customers=args.embedded_customers,
                capacity=args.embedded_capacity,
                concurrency=args.concurrency,
                meter=meter_for(stack, None, None),
            )
            results["scenarios"]["embedded"] = scenario
            results["footprint"] = {"embedded": footprint}
