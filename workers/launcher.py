"""Starts the service's processes and restarts any that die.

    python -m workers run                 # every partition + general + webhook worker + beat
    python -m workers run --web 127.0.0.1:8000   # ... and the API under gunicorn
    python -m workers run --partitions 0-3 --no-general --no-beat   # a booking machine
    python -m workers partition 3         # one partition worker (takes the lease first)
    python -m workers partition 0-7       # one worker owning partitions 0-7 (all their leases)

Partition workers own BOOKING_PARTITIONS_PER_PROCESS partitions each: all of them in one
process on the embedded default (SQLite), one per process on PostgreSQL.

Ctrl-C (SIGINT) or SIGTERM stops every child.
"""

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connections

from workers import forking, routing
from workers.leases import (
    HOST,
    LOST_EXIT_CODE,
    heartbeat_interval,
    hold_partitions,
    owned_long_enough,
)

logger = logging.getLogger("workers.launcher")

RESTART_BACKOFF_MAX_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | forking.ForkedProcess | None = None
    started_at: float = 0.0
    backoff: float = 1.0
    restart_at: float = 0.0
    restarts: int = field(default=0)
    # The partitions a partition worker owns (none for other processes).
    partitions: list[int] = field(default_factory=list)

    # Forked from the launcher's imports (LAUNCHER_PRELOAD) rather than started anew.
    fork: bool = False

    def exited(self, code: int, now: float) -> float:
        """Record that the process exited with ``code``; returns how long to wait before its
        restart. The wait doubles with each exit soon after a start (a crash loop), up to
        RESTART_BACKOFF_MAX_SECONDS, except for a partition worker that lost its lease
        (LOST_EXIT_CODE: taken over, or its lease session ended, as every one does when
        PostgreSQL restarts): an orderly exit, restarted after the first wait every time, as a
        standby that waits for the database and the lease by itself."""
        if code == LOST_EXIT_CODE or now - self.started_at > STABLE_AFTER_SECONDS:
            self.backoff = 1.0
        wait = self.backoff
        if code != LOST_EXIT_CODE:
            self.backoff = min(self.backoff * 2, RESTART_BACKOFF_MAX_SECONDS)
        self.process, self.restart_at = None, now + wait
        self.restarts += 1
        return wait

    def start(self) -> None:
        if self.fork:
            connections.close_all()  # the child must not share the launcher's connections
            self.process = forking.fork(self.argv)
        else:
            self.process = subprocess.Popen(self.argv)
        self.started_at = time.monotonic()
        logger.info("started %s (pid %s)", self.name, self.process.pid)


def quiet_celery() -> list[str]:
    """Celery prints its banner outside logging; JSON logs leave it out."""
    return ["--quiet"] if os.environ.get("LOG_FORMAT") == "json" else []


def celery_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "config", *quiet_celery(), *args]


def partition_worker_argv(partitions: list[int]) -> list[str]:
    return [sys.executable, "-m", "workers", "partition", routing.format_partitions(partitions)]


def partition_child_name(partitions: list[int]) -> str:
    spec = routing.format_partitions(partitions)
    return f"partition {spec}" if len(partitions) == 1 else f"partitions {spec}"


def gunicorn_argv(bind: str, workers: int, threads: int) -> list[str]:
    """The API under gunicorn (gthread), with the settings of ``config/gunicorn.py``."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi",
        "-c",
        "python:config.gunicorn",
        "-b",
        bind,
        "-w",
        str(workers),
        "-k",
        "gthread",
        "--threads",
        str(threads),
        "--graceful-timeout",
        "5",
        "--timeout",
        "60",
    ]


def general_worker_argv(log_level: str) -> list[str]:
    """The default queue: the sweeper and the webhook scheduler, short database tasks."""
    return celery_argv(
        "worker",
        "-Q",
        routing.DEFAULT_QUEUE,
        "-P",
        "threads",
        "-c",
        "2",
        "-n",
        "general@%h",
        "--without-mingle",
        "--without-gossip",
        "-l",
        log_level,
    )


def webhook_worker_argv(log_level: str) -> list[str]:
    """The webhooks queue: outbound HTTP, one thread per attempt in flight."""
    return celery_argv(
        "worker",
        "-Q",
        routing.WEBHOOK_QUEUE,
        "-P",
        "threads",
        "-c",
        str(settings.CELERY_WEBHOOK_CONCURRENCY),
        "-n",
        "webhooks@%h",
        "--without-mingle",
        "--without-gossip",
        "-l",
        log_level,
    )


def children_for(args) -> list[Child]:
    groups = routing.partition_groups(
        routing.parse_partitions(args.partitions), settings.BOOKING_PARTITIONS_PER_PROCESS
    )
    children = [
        Child(partition_child_name(group), partition_worker_argv(group), partitions=group)
        for group in groups
    ]
    if args.general:
        # Two processes: the sweeper and the webhook scheduler (default queue) never wait
        # behind outbound HTTP (webhooks queue, its own thread pool).
        children.append(Child("general worker", general_worker_argv(args.log_level)))
        children.append(Child("webhook worker", webhook_worker_argv(args.log_level)))
    if args.beat:
        children.append(
            Child(
                "beat",
                celery_argv(
                    "beat",
                    "-l",
                    args.log_level,
                    "-s",
                    str(settings.DATA_DIR / "celerybeat-schedule"),
                ),
            )
        )
    if args.web:
        children.append(Child("web", gunicorn_argv(args.web, args.web_workers, args.web_threads)))
    return children


def stalled_children(children: list[Child]) -> list[Child]:
    """Partition workers started here that own a stalled partition (frozen, or stuck): they
    keep their leases while they live, so they must be killed to be replaced (with every
    partition they own: their one consumer serves them all)."""
    # Lazy: models need django.setup(), which main() runs first.
    from apps.partitions.selectors import partition_owners, stale_partitions

    watched = [c for c in children if c.partitions and c.process is not None]
    if not watched:
        return []
    # Owners first: a partition found stale afterwards with the same owner is that owner's.
    owners = {o.partition: o for o in partition_owners()}
    stale = set(stale_partitions())
    return [
        child
        for child in watched
        if any(
            partition in stale
            and (owner := owners.get(partition)) is not None
            and owned_long_enough(owner)
            and owner.host == HOST
            and owner.pid == child.process.pid
            for partition in child.partitions
        )
    ]


def watch(children: list[Child]) -> None:
    try:
        stalled = stalled_children(children)
    except Exception:  # noqa: BLE001 - the database away: the next round retries
        logger.warning("could not check the partition workers", exc_info=True)
        connections.close_all()
        return
    for child in stalled:
        logger.warning(
            "%s (pid %s) stalled for over %.0fs; killing it so it is replaced",
            child.name,
            child.process.pid,
            settings.BOOKING_STALL_SECONDS,
        )
        child.process.kill()


def supervise(children: list[Child]) -> int:
    stopping = False
    next_watch = time.monotonic() + heartbeat_interval()

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.start()
    while not stopping:
        now = time.monotonic()
        for child in children:
            if child.process is None:
                if now >= child.restart_at:
                    child.start()
                continue
            code = child.process.poll()
            if code is None:
                continue
            wait = child.exited(code, now)
            logger.warning("%s exited with %s; restarting in %.0fs", child.name, code, wait)
        if now >= next_watch:
            watch(children)
            next_watch = time.monotonic() + heartbeat_interval()
        time.sleep(0.2)
    logger.info("stopping %d processes", len(children))
    running = [c.process for c in children if c.process is not None and c.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in running:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    return 0


def run_partitions(spec: str, log_level: str) -> None:
    """Take the partitions' leases, all together (standing by while another worker holds any),
    then consume their queues with one single-threaded Celery worker in this process."""
    # Lazy: the Celery app reads the settings at import, and main() configures Django first.
    from celery import signals

    from config.celery import app

    partitions = routing.parse_partitions(spec)  # ValueError when out of range
    queues = ",".join(routing.partition_queue(p) for p in partitions)
    holding = hold_partitions(partitions)
    signals.worker_ready.connect(lambda **kwargs: holding.start_consuming(), weak=False)
    try:
        app.worker_main(
            [
                *quiet_celery(),
                "worker",
                "-Q",
                queues,
                "-P",
                "solo",
                "-c",
                "1",
                "-n",
                f"{routing.partition_worker_name(partitions)}@%h",
                "--without-mingle",
                "--without-gossip",
                "-l",
                log_level,
            ]
        )
    finally:
        holding.release()


# The folder where each process writes its metrics for ``/metrics`` to add up. The metrics
# module reads it when Django imports it, and children forked from the launcher keep the
# launcher's import: so it is set before ``django.setup()``.
METRICS_FOLDER_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_environment() -> None:
    """What every child inherits: the log format, and the metrics folder (this machine's old
    files wiped: a fresh start)."""
    from apps.core import metrics

    os.environ["LOG_FORMAT"] = settings.LOG_FORMAT
    os.environ["LOG_LEVEL"] = settings.LOG_LEVEL
    folder = os.environ.setdefault(metrics.MULTIPROC_ENV, str(settings.DATA_DIR / "metrics"))
    os.makedirs(folder, exist_ok=True)
    removed = metrics.wipe_host_files(folder)
    logger.info("metrics of every process in %s (%d old files removed)", folder, removed)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    parser = argparse.ArgumentParser(
        prog="python -m workers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start and supervise a set of processes")
    run.add_argument("--partitions", default="all", help="'all', 'none', '3', '0-3', '0,2,5-7'")
    run.add_argument(
        "--no-general",
        dest="general",
        action="store_false",
        help="no general worker (default queue) and no webhook worker (webhooks queue)",
    )
    run.add_argument("--no-beat", dest="beat", action="store_false", help="no scheduler")
    run.add_argument("--web", metavar="HOST:PORT", help="also serve the API with gunicorn")
    run.add_argument("--web-workers", type=int, default=2)
    run.add_argument("--web-threads", type=int, default=8)
    run.add_argument("--log-level", default=settings.LOG_LEVEL, help="default: LOG_LEVEL")
    one = commands.add_parser(
        "partition", help="run one partition worker for '3', or for a group: '0-7', '0,2,5-7'"
    )
    one.add_argument("partitions", help="the partitions it owns (their leases first)")
    one.add_argument("--log-level", default=settings.LOG_LEVEL, help="default: LOG_LEVEL")
    moves = commands.add_parser(
        "repartition", help="move events to their partition under BOOKING_PARTITIONS"
    )
    moves.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    if args.command == "run":
        # The folder must exist before Django imports the metrics module (which opens its file
        # there); the old files are wiped by ``prepare_environment`` once the start is allowed.
        folder = os.environ.setdefault(METRICS_FOLDER_ENV, str(settings.DATA_DIR / "metrics"))
        if folder:  # empty: no folder, no metrics files
            os.makedirs(folder, exist_ok=True)
    django.setup()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    if args.command == "repartition":
        from workers.repartition import repartition

        try:
            moved = repartition(timeout=args.timeout)
        except TimeoutError as exc:
            print(f"repartition did not finish: {exc}", file=sys.stderr)
            return 1
        print(
            f"{moved} events moved; every event is on its partition of {routing.partition_count()}"
        )
        return 0
    refusal = partitions_out_of_range()
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    if args.command == "partition":
        run_partitions(args.partitions, args.log_level)
        return 0
    prepare_environment()
    if args.partitions == "none":
        args.partitions = ""
    children = children_for(args) if args.partitions else children_for_no_partitions(args)
    if settings.LAUNCHER_PRELOAD:
        forking.preload()
        for child in children:
            child.fork = forking.title_fits(child.argv)
        logger.info(
            "%d of %d processes forked from the launcher's imports",
            sum(c.fork for c in children),
            len(children),
        )
    return supervise(children)


def partitions_out_of_range() -> str | None:
    """Why this process must not start: events that still matter are stored on partitions
    this deployment does not consume (BOOKING_PARTITIONS was lowered without repartitioning)."""
    # Lazy: models need django.setup(), which main() runs first.
    from apps.partitions.selectors import events_beyond_partitions

    try:
        beyond = events_beyond_partitions()
    except DatabaseError:  # not migrated yet: nothing can be stored beyond
        return None
    if not beyond:
        return None
    count = sum(len(ids) for ids in beyond.values())
    example_partition = min(beyond)
    return (
        f"Refusing to start: BOOKING_PARTITIONS={routing.partition_count()}, but {count} "
        f"event(s) are stored on partitions {sorted(beyond)} (e.g. event "
        f"{beyond[example_partition][0]} on partition {example_partition}), which no worker "
        "of this deployment would consume. Run `python -m workers repartition` with the new "
        "BOOKING_PARTITIONS first (while the old workers still run, or with none running), "
        "then start."
    )


def children_for_no_partitions(args) -> list[Child]:
    args.partitions = "all"
    return [c for c in children_for(args) if not c.partitions]
