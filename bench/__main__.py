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
import sys
import tempfile
import time
from pathlib import Path

from bench.db import Db, wait_for_idle_queues
from bench.load import log, r3
from bench.report import plot, table
from bench.scenarios import backlog, scenario
from devtools.servers import PostgresServer, RedisServer, missing_servers
from devtools.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


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
            "DJANGO_SETTINGS_MODULE": "bench.legacy.settings",  # the product + the old design
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


if __name__ == "__main__":
    sys.exit(main())
