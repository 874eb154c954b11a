"""The partition lease: who may consume a partition queue, and the watch on whoever does.

Exactly one worker consumes each partition. A worker takes its partition's lease before it
starts consuming and holds it for its whole life; a second worker for the same partition stands
by, polling, and takes over when the owner dies (the lease dies with the owner's process or
database session). On PostgreSQL the lease is a session advisory lock, so it spans machines; on
SQLite (one machine) it is an ``flock`` on a file under ``data/leases/``. On the embedded
default one worker process owns a group of partitions (``BOOKING_PARTITIONS_PER_PROCESS``): it
takes the group's leases all together or stands by, and consumes their queues with one
single-threaded consumer.

An owner that is alive but stuck keeps its lease, so ownership is also watched: the owner
records itself (``apps.partitions``) with a new generation when it takes the lease and writes a
heartbeat every few seconds, unless a decision run has lasted longer than
``BOOKING_STALL_SECONDS``. A partition whose owner misses its heartbeat, or leaves its doorbells
unanswered, that long is stalled; a standby then evicts the owner (PostgreSQL: terminates its
sessions, which frees the lock and rolls back its open transaction; SQLite: kills the process,
which is on the same machine) and the launcher that started it kills it. An evicted owner that
resumes finds a newer generation: its heartbeat exits the process, and every decision
transaction checks the generation first, so it decides nothing.
"""

import contextlib
import fcntl
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from workers import routing
from workers.routing import partition_queue

logger = logging.getLogger(__name__)

ADVISORY_LOCK_NAMESPACE = 0x5EA7  # first key of the two-key advisory lock: "partition leases"
HOST = socket.gethostname()
# Exit code of a worker that lost its partition (its launcher restarts it as a standby).
LOST_EXIT_CODE = 75

# The lease session's TCP keepalives (client and server side) and user timeout: a dead host's
# session, and so its lock, is dropped within about half a minute instead of the kernel's hours.
# A new owner's consumer may take a while to start (a loaded machine: 16 s measured); until it is
# ready the owner counts as answering, for at most this long, so that a slow start is not taken
# for a stall and evicted before its first run (and the next owner with it, again and again).
CONSUMER_START_GRACE_SECONDS = 60.0

KEEPALIVE_IDLE_SECONDS = 10
KEEPALIVE_INTERVAL_SECONDS = 5
KEEPALIVE_COUNT = 3
TCP_USER_TIMEOUT_SECONDS = 30


def holder_label(pid: int | None = None, host: str = HOST) -> str:
    return f"{host}:{pid or os.getpid()}"


def connection_label(role: str, partition: int, holder: str) -> str:
    """PostgreSQL ``application_name`` of a partition owner's sessions (63 bytes at most)."""
    return f"{role} p{partition} {holder}"[:63]


def heartbeat_interval() -> float:
    return max(0.5, min(5.0, settings.BOOKING_STALL_SECONDS / 4))


class Lease:
    name: str

    def try_acquire(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """Raise if the lease may have been lost."""

    def evict(self, owner) -> None:
        """Free the lease held by a stalled ``owner`` (a ``PartitionOwner``)."""
        raise NotImplementedError

    def acquire(
        self, *, poll_seconds: float = 0.5, timeout: float | None = None, on_wait=None
    ) -> bool:
        """Block until the lease is ours (True) or the timeout passes (False). ``on_wait`` is
        called about every heartbeat interval while another worker holds it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        announced = False
        next_check = time.monotonic()
        while not self.try_acquire():
            if not announced:
                logger.info("%s is held by another worker; standing by", self.name)
                announced = True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if on_wait is not None and time.monotonic() >= next_check:
                next_check = time.monotonic() + heartbeat_interval()
                try:
                    on_wait()
                except Exception:  # noqa: BLE001 - a watch failure must not kill the standby
                    logger.warning("%s: checking the owner failed", self.name, exc_info=True)
                    close_old_connections()  # a broken session is not used again
            time.sleep(poll_seconds)
        logger.info("%s acquired by pid %s", self.name, os.getpid())
        close_old_connections()  # the claim that follows must not find a session broken meanwhile
        return True


class FileLease(Lease):
    def __init__(self, name: str, directory: Path):
        self.name = name
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}.lock"
        self._file = None

    def try_acquire(self) -> bool:
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the life of the lease
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{HOST} {os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def holder(self) -> str:
        return self.path.read_text().strip() if self.path.exists() else ""

    def evict(self, owner) -> None:
        # A file lock only spans one machine, so the owner runs here; kill it if it still
        # holds this lease (the file names the holder, so a reused pid is never hit).
        if owner.host != HOST or self.holder() != f"{owner.host} {owner.pid}":
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(owner.pid, signal.SIGKILL)

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class LeaseGroup(Lease):
    """The leases of a group of partitions, taken all together or not at all: in order, and
    released again when one is held elsewhere, so two processes for the same group never hold
    half of it each, and a process that consumes nothing holds nothing."""

    def __init__(self, name: str, leases: list[Lease]):
        self.name = name
        self.leases = leases

    def try_acquire(self) -> bool:
        taken = []
        for lease in self.leases:
            if not lease.try_acquire():
                for held in reversed(taken):
                    held.release()
                return False
            taken.append(lease)
        return True

    def check(self) -> None:
        for lease in self.leases:
            lease.check()

    def release(self) -> None:
        for lease in self.leases:
            lease.release()


class AdvisoryLease(Lease):
    """A PostgreSQL session advisory lock on a connection of its own (TCP keepalives and a
    user timeout on both ends, so a dead host's lock is released in about half a minute)."""

    def __init__(self, name: str, key: int):
        self.name = name
        self.key = key
        self._conn = None
        self._away = False

    def _connect(self):
        import psycopg2  # lazy: only the PostgreSQL profile needs the driver

        db = settings.DATABASES["default"]
        server_side = (
            f"-c tcp_keepalives_idle={KEEPALIVE_IDLE_SECONDS} "
            f"-c tcp_keepalives_interval={KEEPALIVE_INTERVAL_SECONDS} "
            f"-c tcp_keepalives_count={KEEPALIVE_COUNT} "
            f"-c tcp_user_timeout={TCP_USER_TIMEOUT_SECONDS * 1000}"
        )
        return psycopg2.connect(
            dbname=db["NAME"],
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=KEEPALIVE_IDLE_SECONDS,
            keepalives_interval=KEEPALIVE_INTERVAL_SECONDS,
            keepalives_count=KEEPALIVE_COUNT,
            tcp_user_timeout=TCP_USER_TIMEOUT_SECONDS * 1000,
            options=server_side,
            application_name=connection_label("lease", self.key, holder_label()),
        )

    def _cursor(self):
        if self._conn is None:
            self._conn = self._connect()
            self._conn.autocommit = True
        return self._conn.cursor()

    def try_acquire(self) -> bool:
        """Whether the lock is now ours. A database that does not answer (restarting,
        unreachable) is "not yet": the worker stands by until it is back, instead of exiting
        and being restarted with a growing back-off (a PostgreSQL restart ends every lease
        session at once, and the database takes a few seconds to accept connections again)."""
        import psycopg2

        try:
            with self._cursor() as cursor:
                cursor.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, self.key]
                )
                acquired = cursor.fetchone()[0]
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            self.release()
            if not self._away:
                logger.warning(
                    "%s: the database does not answer (%s); waiting for it",
                    self.name,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                )
            self._away = True
            return False
        if self._away:
            logger.info("%s: the database answers again", self.name)
            self._away = False
        return acquired

    def check(self) -> None:
        with self._conn.cursor() as cursor:
            cursor.execute("SELECT 1")

    def evict(self, owner) -> None:
        """Terminate the stalled owner's sessions: its lock goes with its lease session, and
        an open decision transaction is rolled back (its row locks freed)."""
        labels = [connection_label(role, self.key, owner.holder) for role in ("lease", "worker")]
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = ANY(%s) AND pid <> pg_backend_pid()",
                [labels],
            )
            logger.warning(
                "%s: terminated %s session(s) of stalled owner %s",
                self.name,
                cursor.fetchone()[0],
                owner.holder,
            )

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def partition_lease(partition: int) -> Lease:
    name = f"lease-{partition_queue(partition)}"
    if connections["default"].vendor == "postgresql":
        return AdvisoryLease(name, key=partition)
    return FileLease(name, Path(settings.LEASE_DIR))


# --- ownership: the owner's record, heartbeat and fence -----------------------------------------


@dataclass
class Ownership:
    """This process owns ``partition`` at ``generation``; tracks its decision runs."""

    partition: int
    generation: int
    lease: Lease
    answered_at: datetime | None = None
    run_started: float | None = None
    # Whether this process's consumer is up (Celery's worker_ready), and when the lease was
    # claimed: until it is up, for CONSUMER_START_GRACE_SECONDS at most, the owner is starting.
    consuming: bool = False
    claimed: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)

    @contextlib.contextmanager
    def answering(self):
        """Around one doorbell's run: the heartbeat stops while a run lasts too long."""
        self.run_started = time.monotonic()
        try:
            yield
        finally:
            self.run_started = None
            self.answered_at = timezone.now()

    def starting(self) -> bool:
        return not self.consuming and time.monotonic() - self.claimed < CONSUMER_START_GRACE_SECONDS

    def stuck(self) -> bool:
        started = self.run_started
        return started is not None and time.monotonic() - started > settings.BOOKING_STALL_SECONDS

    def beat(self) -> bool:
        """One heartbeat; False when the partition has a newer owner."""
        from apps.partitions.services import record_heartbeat

        self.lease.check()
        if self.stuck():
            logger.warning(
                "partition %s: a decision run has lasted over %.0fs; withholding the heartbeat",
                self.partition,
                settings.BOOKING_STALL_SECONDS,
            )
            return True
        # A run in progress (not stuck) is answering: doorbells are not going unanswered. So is
        # a consumer still starting: its doorbells wait in its queue for it.
        answering = self.run_started is not None or self.starting()
        answered = timezone.now() if answering else self.answered_at
        return record_heartbeat(
            partition=self.partition, generation=self.generation, answered_at=answered
        )

    def _heartbeat(self) -> None:
        while not self._stop.wait(heartbeat_interval()):
            try:
                owned = self.beat()
            except Exception:  # noqa: BLE001 - a lost lease session, or the database away
                if self._lease_lost():
                    _exit_lost(self.partition, "lease session lost")
                logger.warning("partition %s: heartbeat failed", self.partition, exc_info=True)
                continue
            if not owned:
                _exit_lost(self.partition, f"taken over (generation {self.generation} is old)")

    def _lease_lost(self) -> bool:
        try:
            self.lease.check()
        except Exception:  # noqa: BLE001
            return True
        return False

    def start_heartbeat(self) -> None:
        threading.Thread(
            target=self._heartbeat, name=f"p{self.partition}-heartbeat", daemon=True
        ).start()

    def release(self) -> None:
        from apps.partitions.services import release_partition

        self._stop.set()
        with contextlib.suppress(Exception):
            release_partition(partition=self.partition, generation=self.generation)
        self.lease.release()


class Holding:
    """The partitions this process owns, all consumed by its one consumer thread: a run of any
    of them is a run of that consumer, so it counts for each (every heartbeat stops while a run
    lasts too long, and each partition answered when the consumer did)."""

    def __init__(self, ownerships: list[Ownership]):
        self.ownerships = {o.partition: o for o in ownerships}

    def ownership(self, partition: int) -> Ownership | None:
        return self.ownerships.get(partition)

    def start_consuming(self) -> None:
        """The consumer is up: from now on only its runs count as answering."""
        for ownership in self.ownerships.values():
            ownership.consuming = True

    @contextlib.contextmanager
    def answering(self):
        with contextlib.ExitStack() as runs:
            for ownership in self.ownerships.values():
                runs.enter_context(ownership.answering())
            yield

    def release(self) -> None:
        for ownership in self.ownerships.values():
            ownership.release()


_current: Holding | None = None


def current() -> Holding | None:
    """The partitions this process owns, if it is a partition worker."""
    return _current


def _exit_lost(partition: int, why: str) -> None:
    logger.critical("partition %s: %s; exiting so the new owner alone decides", partition, why)
    os._exit(LOST_EXIT_CODE)


def label_connections(partition: int) -> None:
    """Name this process's PostgreSQL sessions so a standby can terminate them, and bound how
    long a paused process can hold a transaction (and its row locks) open."""
    db = connections["default"]
    if db.vendor != "postgresql":
        return
    options = db.settings_dict.setdefault("OPTIONS", {})
    options["application_name"] = connection_label("worker", partition, holder_label())
    timeout_ms = int(settings.BOOKING_STALL_SECONDS * 1000)
    options["options"] = (
        options.get("options", "") + f" -c idle_in_transaction_session_timeout={timeout_ms}"
    ).strip()


def owned_long_enough(owner) -> bool:
    """An owner that is still there and has had the stall period to show it is alive."""
    if owner.heartbeat_at is None or owner.acquired_at is None:
        return False
    return (timezone.now() - owner.acquired_at).total_seconds() > settings.BOOKING_STALL_SECONDS


def evict_if_stalled(partition: int, lease: Lease) -> bool:
    """Called by a standby: evict the partition's owner when it has stalled."""
    from apps.partitions.selectors import partition_owner, stale_partitions

    owner = partition_owner(partition)
    if owner is None or not owned_long_enough(owner) or owner.holder == holder_label():
        return False
    if partition not in stale_partitions():
        return False
    logger.warning(
        "partition %s: owner %s stalled for over %.0fs; evicting it",
        partition,
        owner.holder,
        settings.BOOKING_STALL_SECONDS,
    )
    lease.evict(owner)
    return True


def hold_partitions(partitions: list[int]) -> Holding:
    """Take the partitions' leases, all together (standing by, and evicting a stalled owner,
    meanwhile), record this process as each one's owner and start the heartbeats."""
    global _current
    from apps.partitions.services import claim_partition

    if len(partitions) == 1:
        label_connections(partitions[0])
    leases = {p: partition_lease(p) for p in partitions}
    group = (
        leases[partitions[0]]
        if len(partitions) == 1
        else LeaseGroup(f"lease-{routing.partition_worker_name(partitions)}", list(leases.values()))
    )
    group.acquire(on_wait=lambda: [evict_if_stalled(p, lease) for p, lease in leases.items()])
    ownerships = []
    for partition, lease in leases.items():
        generation = claim_partition(partition=partition, host=HOST, pid=os.getpid())
        ownerships.append(Ownership(partition=partition, generation=generation, lease=lease))
        logger.info("partition %s: owner %s, generation %s", partition, holder_label(), generation)
    _current = Holding(ownerships)
    for ownership in ownerships:
        ownership.start_heartbeat()
    return _current
