"""The benchmark: the new design (record + 202, partition workers decide) against the OLD design
(decide inside the request under ``select_for_update`` on the event row), same machine, same
PostgreSQL + Redis, same gunicorn, same tables, in one run.

    make bench                      # python -m bench
    python -m bench --quick         # a smaller load, for a smoke run

It starts a throwaway PostgreSQL and redis-server (devtools/servers.py) and the whole service
(devtools/stack.py: gunicorn + one worker process per partition + general worker + beat) with
``DJANGO_SETTINGS_MODULE=bench.legacy.settings`` (the product plus the old design's
``/legacyapi/book/``, bench/legacy/), then for each scenario drives a flash crowd of distinct
customers at each design and reports:

- accepted/s (new: 202s per second of the load) and booking/s (old: decided responses per second),
- decisions/s and time from request to decision p50/p95/p99 (new: ``decided_at - created_at``
  from the database; old: the response time, since the request is the decision),
- 5xx and transport errors, confirmed vs capacity, lost commands (accepted, never decided).

Results: ``bench/results/latest.json`` and ``bench/results/latest.png``.
"""

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.cpu import CpuMeter, Proc
from bench.db import Db, wait_for_idle_queues
from bench.load import drive, log, r3, wrk_binary
from bench.report import markdown, plot, table
from bench.scenarios import (
    OLD_PATH,
    RATIO,
    backlog,
    embedded_scenario,
    median_backlog,
    median_of_pairs,
    scenario,
    seed,
    subscribe,
    waiting_scenario,
)
from devtools.servers import PostgresServer, RedisServer, missing_servers
from devtools.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCENARIOS = ["hot", "spread", "hot_wait", "backlog", "embedded"]
# Database round trips of a model of the old design's lock hold (a model, not a measurement).
MODEL_RTT_MS = (0.1, 0.5, 1.0)


def classify(proc: Proc) -> str | None:
    """The process group of a process of the benchmark's stack (None: its parent's)."""
    if proc.comm in ("postgres", "postmaster") or proc.cmdline.startswith("postgres"):
        return "postgresql"
    if proc.comm == "redis-server":
        return "redis"
    if "gunicorn" in proc.cmdline:
        return "web"
    if "-m workers partition" in proc.cmdline:
        return "partition_workers"
    if "celery" in proc.cmdline or "-m workers run" in proc.cmdline:
        return "other_celery"
    return None


def meter_for(stack: Stack, pg: PostgresServer | None, redis: RedisServer | None) -> CpuMeter:
    def roots() -> set[int]:
        found = {stack.process.pid}
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


def old_design_limits(stack: Stack, db: Db, hot: dict, idle, subscriptions: int) -> dict:
    """The old design's ceiling at one event: a booking holds the event's row lock for
    ``hold``, so at most ``1 / hold`` bookings a second, whatever the hardware. ``hold`` is
    measured alone (one client) and under the hot crowd; how it grows with the database's round
    trip is a model: each statement under the lock, and the commit, pays one more round trip."""
    seeded = seed(stack, customers=50, capacity=100, events=1)
    subscribe(stack, seeded["organizer_token"], subscriptions)
    jobs = [(t, seeded["events"][0]) for t in seeded["tokens"]]
    idle()
    alone = drive(stack.base_url, OLD_PATH, jobs, 1, "old design, one client")
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
        "round_trips_under_lock x (rtt - measured round trip)",
        "model_by_round_trip_ms": model,
    }


def ensure_tools() -> list[str]:
    """What ``make bench`` needs beyond Python: PostgreSQL, redis-server and wrk. Returns the
    missing ones (``make bench`` installs them when run as root, as .ci/run does)."""
    missing = list(missing_servers())
    if wrk_binary() is None:
        missing.append("wrk")
    return missing


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


def stop_cleanly_on_terminate() -> None:
    """``SIGTERM`` (``kill``, a CI timeout) ends the run as an exception would: the servers and
    the stack it started are stopped on the way out, not left running."""

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


def main(argv: list[str] | None = None) -> int:
    stop_cleanly_on_terminate()
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
    parser.add_argument("--web-threads", type=int, default=24)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--subscriptions", type=int, default=2)
    parser.add_argument("--settle-timeout", type=float, default=240)
    parser.add_argument("--wait", type=int, default=10, help="hot_wait: Prefer: wait=N")
    parser.add_argument("--embedded-customers", type=int, default=3000)
    parser.add_argument("--embedded-capacity", type=int, default=300)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="hot, spread: old/new pairs run one after the other, each ratio the median of the "
        "pairs' (default 3)",
    )
    parser.add_argument(
        "--backlog-runs",
        type=int,
        default=5,
        help="backlog runs (a few seconds each), the median one reported (default 5)",
    )
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
    if args.repeat < 1 or args.backlog_runs < 1:
        parser.error("--repeat and --backlog-runs must be at least 1")
    if args.quick:
        args.requests, args.capacity = 1000, 200
        args.embedded_customers, args.embedded_capacity = 1000, 100
    missing = ensure_tools()
    if missing:
        log(f"needs {', '.join(missing)}: sudo apt-get install -y postgresql redis-server wrk")
        return 2
    wanted = SCENARIOS if args.scenario == "all" else [args.scenario]
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
        "definitions": {
            "accepted_per_second (new)": "answered requests per second of load: 202 (recorded "
            "for the partition worker) + 409 refused at the door (decided at once)",
            "bookings_per_second (old)": "answered requests per second of load: 201 + 409, "
            "each decided inside its request",
            "time_to_decision_seconds": "client send -> decision: decided_at for a 202, the "
            "answer otherwise",
            "cpu_ms_per_request": "CPU milliseconds per request by process group, /proc deltas "
            "from the first request until the design's work was done (decisions made, queues "
            "drained); load_generator = wrk's own rusage",
        },
        "scenarios": {},
    }
    pg_scenarios = [s for s in wanted if s != "embedded"]
    if pg_scenarios:
        run_scaled(args, pg_scenarios, results)
    if "embedded" in wanted:
        run_embedded(args, results)
    results["total_seconds"] = r3(time.monotonic() - started)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "latest.png")
    print()
    print(table(results))
    print()
    print(markdown(results))
    print()
    for name, s in results["scenarios"].items():
        if "ratios" in s:
            print(f"{name}: " + ", ".join(f"{k} = {v}" for k, v in s["ratios"].items()))
        if len(s.get("trials", ())) > 1:
            print(
                f"  median of {s['repeat']} pairs (figures above: pair {s['median_pair']}); "
                "each pair's answered ratio and p99 new/old: "
                + ", ".join(
                    f"{t['ratios'][RATIO]} / {t['ratios']['p99_decision_new_over_old']}"
                    for t in s["trials"]
                )
            )
    if "backlog" in results:
        b = results["backlog"]
        print(
            f"backlog (worker only): {b['decided']} decisions in "
            f"{b['seconds_from_doorbell_to_last_decision']}s = {b['decisions_per_second']}/s"
            f" (median of runs: {b.get('trials_decisions_per_second')})"
        )
    if "invariants" in results:
        print(f"invariants ok: {results['invariants'].get('ok')}")
    print(f"results in {args.out / 'latest.json'} and latest.png ({results['total_seconds']:.0f}s)")
    return 0


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


def run_scaled(args, wanted: list[str], results: dict) -> None:
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
        with stack:
            log(
                f"stack up at {stack.base_url} (gunicorn {args.web_workers}x"
                f"{args.web_threads} threads, {args.partitions} partition workers)"
            )
            pause_webhook_sending(stack)
            db = Db(pg.url)
            meter = meter_for(stack, pg, redis)

            def idle(quiesce: bool = True):
                """Wait for drained queues; then, between runs (not inside a measured one),
                vacuum, analyze and checkpoint."""
                waited = wait_for_idle_queues(redis.url, args.partitions)
                if quiesce:
                    db.quiesce()
                return waited

            plan = {"hot": 1, "spread": args.spread_events}
            for name, events in plan.items():
                if name not in wanted:
                    continue
                pairs = [
                    scenario(
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
                    )
                    for _ in range(args.repeat)
                ]
                results["scenarios"][name] = median_of_pairs(pairs)
            if "hot" in wanted:
                results["limits"] = {
                    "old": old_design_limits(
                        stack, db, results["scenarios"]["hot"], idle, args.subscriptions
                    )
                }
            if "hot_wait" in wanted:
                results["scenarios"]["hot_wait"] = waiting_scenario(
                    stack,
                    db,
                    idle,
                    requests=args.requests,
                    capacity=args.capacity,
                    concurrency=args.concurrency,
                    settle_timeout=args.settle_timeout,
                    subscriptions=args.subscriptions,
                    meter=meter,
                    wait=args.wait,
                )
            if "backlog" in wanted:
                results["backlog"] = median_backlog(
                    [
                        backlog(
                            stack,
                            db,
                            idle,
                            requests=args.requests,
                            capacity=args.capacity,
                            timeout=args.settle_timeout,
                            subscriptions=args.subscriptions,
                        )
                        for _ in range(args.backlog_runs)
                    ]
                )
                results.setdefault("limits", {})["new"] = {
                    "ceiling_decisions_per_second_one_worker": results["backlog"][
                        "decisions_per_second"
                    ],
                    "note": "one partition worker decides this many commands a second from a "
                    "backlog (one event); partitions add workers, one event stays on one",
                }
            import redis as redis_client

            # The webhooks queue was not consumed (pause_webhook_sending): what both designs
            # handed over is still there.
            results["webhook_messages_left_unsent"] = redis_client.Redis.from_url(redis.url).llen(
                "webhooks"
            )
            invariants = stack.manage("check_invariants", "--pending-threshold", "600", "--json")
            results["invariants"] = json.loads(invariants.strip().splitlines()[-1])


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
            results["scenarios"]["embedded"] = embedded_scenario(
                stack,
                customers=args.embedded_customers,
                capacity=args.embedded_capacity,
                concurrency=args.concurrency,
                meter=meter_for(stack, None, None),
            )


if __name__ == "__main__":
    sys.exit(main())
