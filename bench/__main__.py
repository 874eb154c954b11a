"""The benchmark: the new design (record + 202, partition workers decide) against the OLD design
(decide inside the request under ``select_for_update`` on the event row), same machine, same
PostgreSQL + Redis, same gunicorn, same tables, in one run.

    make bench                      # python -m bench: every scenario, ~10 minutes on 2 cores
    python -m bench --quick         # a smaller load, one pair per setting, for a smoke run
    python -m bench --scenario hot --threads 8,24 --repeat 1

It starts a throwaway PostgreSQL and redis-server (devtools/servers.py) and the whole service
(devtools/stack.py: gunicorn + one worker process per partition + general worker + beat) with
``DJANGO_SETTINGS_MODULE=bench.legacy.settings`` (the product plus the old design's
``/legacyapi/book/``, bench/legacy/), then for each scenario drives a flash crowd of distinct
customers at each design (the hot and spread ones at every thread setting of ``--threads``,
pairs alternated; each design at its best setting in the headline, bench/sweep.py) and reports:

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
import sys
import time
from pathlib import Path

from bench.load import log, r3, wrk_binary
from bench.profiles import run_embedded, run_scaled, timed
from bench.report import markdown, plot, table
from bench.scenarios import RATIO
from bench.sweep import Alternation
from devtools.servers import missing_servers

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCENARIOS = ["hot", "spread", "hot_wait", "backlog", "hot_rtt", "embedded"]


def ensure_tools() -> list[str]:
    """What ``make bench`` needs beyond Python: PostgreSQL, redis-server and wrk. Returns the
    missing ones (``make bench`` installs them when run as root, as .ci/run does)."""
    missing = list(missing_servers())
    if wrk_binary() is None:
        missing.append("wrk")
    return missing


def stop_cleanly_on_terminate() -> None:
    """``SIGTERM`` (``kill``, a CI timeout) ends the run as an exception would: the servers and
    the stack it started are stopped on the way out, not left running."""

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


DEFINITIONS = {
    "answered_per_second": "answered requests per second of load. Old: 201 + 409, each decided "
    "inside its request; new: 202 (recorded for the partition worker) + 409 refused at the door "
    "(decided at once). accepted_per_second (new) and bookings_per_second (old) hold the same",
    "time_to_decision_seconds": "client send -> decision: for a 202 the announcement of the "
    "commit of the round that decided it (time_to_round_start_seconds: to decided_at, the "
    "round's start), the answer otherwise",
    "cpu_ms_per_request": "CPU milliseconds per request by process group, /proc deltas from the "
    "first request until the design's work was done (decisions made, queues drained); "
    "load_generator = wrk's own rusage; rtt_proxy = the delaying proxy (hot_rtt)",
    "threads": "hot, spread at each gunicorn setting (processes x threads): each design's median "
    "run of --repeat pairs; scenarios.<name> shows each design at its best setting",
    "backlog.confirmations_per_second": "confirmed commands / seconds from the doorbell to the "
    "commit of the last confirmation; refusals_per_second: refused / seconds from there to the "
    "commit of the last refusal",
    "footprint.embedded": "processes of python -m workers run --web (embedded default) and their "
    "PSS summed from /proc/<pid>/smaps_rollup, idle and after the embedded crowd",
}


def thread_settings(text: str) -> list[int]:
    settings = [int(part) for part in text.split(",") if part.strip()]
    if not settings or min(settings) < 1:
        raise argparse.ArgumentTypeError("thread counts, comma-separated: 4,8,24")
    return settings


def main(argv: list[str] | None = None) -> int:
    stop_cleanly_on_terminate()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=2500)
    parser.add_argument("--capacity", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--spread-events", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--web-threads",
        type=int,
        default=24,
        help="threads of the stack's own gunicorn (one of --threads' settings needs no web of "
        "its own); the designs' best settings of hot serve hot_wait and hot_rtt",
    )
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--subscriptions", type=int, default=2)
    parser.add_argument("--settle-timeout", type=float, default=240)
    parser.add_argument("--wait", type=int, default=10, help="hot_wait: Prefer: wait=N")
    parser.add_argument("--embedded-customers", type=int, default=3000)
    parser.add_argument("--embedded-capacity", type=int, default=300)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument(
        "--threads",
        type=thread_settings,
        default=[4, 8, 24],
        help="hot, spread: the gunicorn thread settings swept (per process, --web-workers "
        "processes), comma-separated (default 4,8,24)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="hot, spread: old/new pairs at each thread setting, alternated; each design's "
        "median run of them is its figure there (default 3)",
    )
    parser.add_argument(
        "--wait-repeat", type=int, default=1, help="hot_wait: old/new pairs (default 1)"
    )
    parser.add_argument(
        "--rtt-repeat", type=int, default=1, help="hot_rtt: old/new pairs (default 1)"
    )
    parser.add_argument(
        "--rtt-delay-ms",
        type=float,
        default=0.5,
        help="hot_rtt: delay each way between the service and PostgreSQL (default 0.5)",
    )
    parser.add_argument(
        "--backlog-runs",
        type=int,
        default=3,
        help="backlog runs (a few seconds each), the median one reported (default 3)",
    )
    parser.add_argument("--backlog-requests", type=int, default=5000)
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
    if min(args.repeat, args.backlog_runs, args.wait_repeat, args.rtt_repeat) < 1:
        parser.error("--repeat, --wait-repeat, --rtt-repeat and --backlog-runs must be at least 1")
    if args.quick:
        args.requests, args.capacity = 1000, 200
        args.embedded_customers, args.embedded_capacity = 1000, 100
        args.backlog_requests, args.repeat, args.backlog_runs = 1000, 1, 1
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
            # Other work on the machine moves the figures: the load average when the run began.
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        },
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "definitions": DEFINITIONS,
        "scenarios": {},
    }
    pg_scenarios = [s for s in wanted if s != "embedded"]
    if pg_scenarios:
        run_scaled(args, pg_scenarios, results, Alternation())
    if "embedded" in wanted:
        with timed(results, "embedded"):
            run_embedded(args, results)
    results["total_seconds"] = r3(time.monotonic() - started)
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
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
        if "threads" in s:
            print(f"  threads: new at {s['threads']['new']}, old at {s['threads']['old']}")
    for name, points in results.get("threads", {}).items():
        print(
            f"{name} by thread setting (median answered/s new / old, ratio): "
            + "; ".join(
                f"{label}: {p['new']['answered_per_second']} / {p['old']['answered_per_second']}"
                f" ({p['ratios'][RATIO]})"
                for label, p in points.items()
            )
        )
    if "backlog" in results:
        b = results["backlog"]
        print(
            f"backlog (worker only): {b['decided']} decisions in "
            f"{b['seconds_from_doorbell_to_last_decision']}s = {b['decisions_per_second']}/s"
            f" (runs: {b.get('trials_decisions_per_second')}); confirmations "
            f"{b.get('confirmations_per_second')}/s, refusals {b.get('refusals_per_second')}/s"
        )
    if "footprint" in results:
        f = results["footprint"]["embedded"]
        print(
            f"embedded footprint: {f['processes']} processes, {f['pss_mb_idle']} MB PSS idle, "
            f"{f['pss_mb_after_crowd']} MB after the crowd"
        )
    if "phase_seconds" in results:
        print(
            "seconds by part: "
            + ", ".join(f"{k} {v:.0f}" for k, v in results["phase_seconds"].items())
        )
    if "invariants" in results:
        print(f"invariants ok: {results['invariants'].get('ok')}")
    print(f"results in {args.out / 'latest.json'} and latest.png ({results['total_seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
