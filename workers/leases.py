"""The partition lease: who may consume a partition queue.

Exactly one worker consumes each partition. A worker takes its partition's lease before it
starts consuming and holds it for its whole life; a second worker for the same partition stands
by, polling, and takes over when the owner dies (the lease dies with the owner's process or
database session). On PostgreSQL the lease is a session advisory lock, so it spans machines; on
SQLite (one machine) it is an ``flock`` on a file under ``data/leases/``.
"""

import fcntl
import logging
import os
import socket
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import connections

from workers.routing import partition_queue

logger = logging.getLogger(__name__)

ADVISORY_LOCK_NAMESPACE = 0x5EA7  # first key of the two-key advisory lock: "partition leases"


class Lease:
    name: str

    def try_acquire(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def acquire(self, *, poll_seconds: float = 0.5, timeout: float | None = None) -> bool:
        """Block until the lease is ours (True) or the timeout passes (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        announced = False
        while not self.try_acquire():
            if not announced:
                logger.info("%s is held by another worker; standing by", self.name)
                announced = True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(poll_seconds)
        logger.info("%s acquired by pid %s", self.name, os.getpid())
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
        handle.write(f"{socket.gethostname()} {os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def holder(self) -> str:
        return self.path.read_text().strip() if self.path.exists() else ""

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class AdvisoryLease(Lease):
    """A PostgreSQL session advisory lock on a connection of its own, checked by a heartbeat:
    if the session is lost the lock is gone, so the process exits rather than consume unowned."""

    HEARTBEAT_SECONDS = 5.0

    def __init__(self, name: str, key: int):
        self.name = name
        self.key = key
        self._conn = None

    def _connect(self):
        import psycopg2  # lazy: only the PostgreSQL profile needs the driver

        db = settings.DATABASES["default"]
        return psycopg2.connect(
            dbname=db["NAME"],
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            connect_timeout=5,
            application_name=f"lease {self.name}",
        )

    def try_acquire(self) -> bool:
        if self._conn is None:
            self._conn = self._connect()
            self._conn.autocommit = True
        with self._conn.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, self.key]
            )
            acquired = cursor.fetchone()[0]
        if acquired:
            threading.Thread(
                target=self._heartbeat, name=f"{self.name}-heartbeat", daemon=True
            ).start()
        return acquired

    def _heartbeat(self) -> None:
        while self._conn is not None:
            time.sleep(self.HEARTBEAT_SECONDS)
            try:
                with self._conn.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except Exception:  # noqa: BLE001 - any failure means the lock may be gone
                logger.critical(
                    "%s: lease session lost; exiting so a standby can take over", self.name
                )
                os._exit(75)

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def partition_lease(partition: int) -> Lease:
    name = f"lease-{partition_queue(partition)}"
    if connections["default"].vendor == "postgresql":
        return AdvisoryLease(name, key=partition)
    return FileLease(name, Path(settings.LEASE_DIR))
