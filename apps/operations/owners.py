"""Which partitions have a live lease holder, seen from outside the workers.

On PostgreSQL a partition's lease is a session advisory lock (``workers/leases.py``): it is
held exactly while its worker's session lives, and ``pg_locks`` lists it, from any machine. On
the embedded default (one machine) it is an ``flock`` on a file under ``LEASE_DIR``: held while
its worker's process lives; a shared lock that cannot be taken means an owner holds it.
"""

import fcntl
from pathlib import Path

from django.conf import settings
from django.db import connection

from workers import routing


def partitions_without_live_owner() -> list[int]:
    partitions = range(routing.partition_count())
    if connection.vendor == "postgresql":
        held = _advisory_lease_holders()
        return [p for p in partitions if p not in held]
    return [p for p in partitions if not _file_lease_held(p)]


def _advisory_lease_holders() -> set[int]:
    with connection.cursor() as cursor:
        # A two-key advisory lock shows its keys as classid and objid, with objsubid 2.
        cursor.execute(
            "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objsubid = 2 AND classid = %s",
            [routing.LEASE_LOCK_NAMESPACE],
        )
        return {int(row[0]) for row in cursor.fetchall()}


def _file_lease_held(partition: int) -> bool:
    path = Path(settings.LEASE_DIR) / f"{routing.lease_name(partition)}.lock"
    try:
        handle = open(path)  # noqa: SIM115 - closed below, whatever happens
    except FileNotFoundError:
        return False  # no worker ever took it
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
    finally:
        handle.close()
