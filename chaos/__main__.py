"""``python -m chaos --seed N --duration S``: start the service on PostgreSQL + Redis as several
machines, drive it with clients while faults drawn from the seed hit it, let it settle, then
check the history. Writes chaos/results/latest.json, prints a table, exits 1 on any anomaly.

docs/chaos.md says what is injected, what is checked and what was found."""

import argparse
import dataclasses
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

from chaos import faults, history, report
from chaos.checker import check
from chaos.embedded import EmbeddedTopology
from chaos.topology import STALL_SECONDS, Topology
from chaos.workload import Client, Log, Prober, Setup
from devtools.servers import missing_servers
from devtools.stack import poll

RESULTS = Path(__file__).resolve().parent / "results"
CLIENTS = 6
CUSTOMERS_PER_CLIENT = 25
EVENTS = 10
CAPACITY = 12
PROBE_INTERVAL_SECONDS = 1.0
SETTLE_SECONDS = 90


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def seed_crowd(topology: Topology, *args: str) -> dict:
    done = topology.manage("seed_crowd", *args)
    if done.returncode != 0:
        raise RuntimeError(f"seed_crowd failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(topology: Topology, duration: float) -> tuple[Setup, dict[int, int]]:
    """Events (a hot one, some with waitlists, one probe event per partition), customers with
    tokens, and each organizer subscribed to every outcome at the receiver."""
    probes_needed = math.ceil(duration / PROBE_INTERVAL_SECONDS + 30) * faults.PARTITIONS
    crowd = seed_crowd(
        topology,
        "--customers",
        str(CLIENTS * CUSTOMERS_PER_CLIENT + probes_needed),
        "--events",
        str(EVENTS),
        "--capacity",
        str(CAPACITY),
        "--waitlist",
        "--max-seats",
        "4",
        "--hold-seconds",
        "2",
    )
    probe = seed_crowd(topology, "--customers", "0", "--events", "32", "--capacity", "30000")
    http = httpx.Client(base_url=topology.base_url, timeout=30)
    for organizer in (crowd["organizer_token"], probe["organizer_token"]):
        made = http.post(
            "/webhookapi/subscription/",
            json={
                "url": topology.receiver.url,
                "event_types": [
                    "booking.confirmed",
                    "booking.rejected",
                    "booking.cancelled",
                    "booking.waitlisted",
                    "booking.promoted",
                    "booking.held",
                    "hold.expired",
                ],
            },
            headers={"Authorization": f"Token {organizer}"},
        )
        made.raise_for_status()
    without_line = crowd["events"][6:9]
    for event in without_line:
        http.patch(
            f"/eventapi/event/{event}/",
            json={"waitlist_enabled": False},
            headers={"Authorization": f"Token {crowd['organizer_token']}"},
        ).raise_for_status()
    http.close()
    probes: dict[int, int] = {}
    for event, partition in zip(probe["events"], probe["partitions"], strict=True):
        probes.setdefault(partition, event)
    workload_tokens = crowd["tokens"][: CLIENTS * CUSTOMERS_PER_CLIENT]
    setup = Setup(
        base_url=topology.base_url,
        organizer_token=crowd["organizer_token"],
        events=crowd["events"],
        waitlisted=set(crowd["events"]) - set(without_line),
        probes=probes,
        partitions=dict(zip(crowd["events"], crowd["partitions"], strict=True)),
        tokens=workload_tokens,
        probe_tokens=crowd["tokens"][len(workload_tokens) :],
    )
    initial = dict.fromkeys(crowd["events"], CAPACITY) | dict.fromkeys(probe["events"], 30000)
    return setup, initial


def settle(topology: Topology) -> None:
    """Until no command is pending and no delivery is waiting (or the time is up)."""

    def quiet():
        try:
            pending = topology.sql(
                "SELECT (SELECT count(*) FROM bookings_bookingrequest WHERE status = 'pending'),"
                " (SELECT count(*) FROM webhooks_webhookdelivery WHERE status = 'pending')"
            )[0]
        except Exception:  # noqa: BLE001 - still restarting
            return False
        return pending == (0, 0)

    try:
        poll(quiet, timeout=SETTLE_SECONDS, interval=1.0, what="pending commands and deliveries")
    except TimeoutError as exc:
        say(f"not settled: {exc}")


def run(args) -> int:
    missing = [] if args.embedded else missing_servers()
    if missing:
        print(
            f"make chaos needs {', '.join(missing)}: apt-get install -y redis-server postgresql",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    if args.embedded:
        topology = EmbeddedTopology(work, stall_seconds=args.stall_seconds)
        kinds = faults.EMBEDDED_KINDS
    else:
        topology = Topology(
            work, use_namespaces=not args.no_namespaces, stall_seconds=args.stall_seconds
        )
        kinds = faults.KINDS
    began = time.time()
    try:
        say(f"starting the service in {work}")
        topology.start()
        setup, initial = prepare(topology, args.duration)
        hot_partition = setup.partitions[setup.events[0]]
        cut_possible = bool(topology.machines)
        schedule = faults.plan(
            args.seed,
            args.duration,
            cut_possible=cut_possible,
            stall_seconds=args.stall_seconds,
            kinds=kinds,
        )
        say(f"seed {args.seed}: schedule {json.dumps(faults.describe(schedule))}")
        skipped = dict(faults.NEVER_INJECTED)
        if args.embedded:
            skipped.update(faults.NOT_EMBEDDED)
        elif not cut_possible:
            skipped["network_cut"] = f"no network namespaces: {topology.namespace_skip}"
        log = Log()
        until = time.time() + args.duration
        threads = [
            Client(
                f"client{i}",
                setup,
                log,
                setup.tokens[i * CUSTOMERS_PER_CLIENT : (i + 1) * CUSTOMERS_PER_CLIENT],
                random.Random(args.seed * 1000 + i),
                until,
            )
            for i in range(CLIENTS)
        ]
        threads.append(Prober(setup, log, until, PROBE_INTERVAL_SECONDS))
        for thread in threads:
            thread.start()
        injector = faults.Injector(topology, hot_partition)
        injector.run(schedule, until)
        skipped.update(injector.skipped)
        for thread in threads:
            thread.join(timeout=max(1.0, until - time.time() + 60))
        say("workload done; settling")
        settle(topology)
        invariants = topology.manage("check_invariants", "--pending-threshold", "60", "--json")
        ended = time.time()
        log.dump(work / "client-log.jsonl")
        calls = [c.as_dict() for c in log.calls]
        restarts = [(f.started, f.ended) for f in injector.log if f.kind == "restart_postgres"]
        found = history.load(
            topology.sql,
            initial_capacity=initial,
            calls=calls,
            received=topology.receiver.ids(),
            postgres_restarts=restarts,
            ended_at=ended,
            vendor=topology.vendor,
        )
        # Read after the rows: a delivery marked succeeded by then was received by then.
        found.received = topology.receiver.ids()
        (work / "history.json").write_text(json.dumps(dataclasses.asdict(found)))
        anomalies = check(found)
        if invariants.returncode != 0:
            breaches = json.loads(invariants.stdout.strip().splitlines()[-1])["breaches"]
            anomalies += [
                {"kind": "invariant_breach", "event": None, "commands": [], "detail": b}
                for b in breaches
            ]
        result = report.summary(
            found,
            injector.log,
            skipped,
            anomalies,
            seed=args.seed,
            duration=args.duration,
            extra={
                "schedule": faults.describe(schedule),
                "transport_errors": sum(1 for c in calls if c["status"] is None),
                "wall_seconds": round(time.time() - began, 1),
                "stall_seconds": args.stall_seconds,
                "profile": "embedded" if args.embedded else "scaled",
                "work_dir": str(work),
            },
        )
    finally:
        topology.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(report.table(result))
    return 1 if result["anomalies"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of faults")
    parser.add_argument(
        "--no-namespaces",
        action="store_true",
        help="run every machine in the root network namespace (no network cut)",
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="the embedded default (SQLite, file broker, one machine) and the faults that apply",
    )
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=STALL_SECONDS,
        help="BOOKING_STALL_SECONDS of the service (default %(default)s)",
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
