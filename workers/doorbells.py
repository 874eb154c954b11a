"""Doorbell latches: while one doorbell for a partition waits unanswered, ringing again is waste.

A request sets its partition's latch after its command commits and publishes a doorbell only if
the latch was clear; the partition worker clears the latch *before* it looks for pending
commands, and then decides every event of the partition that has some. So a request that finds
the latch set knows a run will start after its commit and see its command. Under a flash crowd
this turns thousands of doorbells (each a message to publish and a task to run) into a handful,
and the commands that arrive while the worker is busy are decided together. A latch expires
after ``BOOKING_DOORBELL_TTL_SECONDS`` so a lost doorbell costs at most that long (the sweeper
re-rings regardless); 0 turns latches off.
"""

import logging
import os
import time
from functools import cache
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)


class NoLatch:
    """Every request rings."""

    def set(self, partition: int) -> bool:
        return True

    def clear(self, partition: int) -> None:
        pass


class FileLatch:
    """A file per partition, created with O_EXCL (atomic across processes on one machine)."""

    def __init__(self, directory: Path, ttl: float):
        self.directory = directory
        self.ttl = ttl
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, partition: int) -> Path:
        return self.directory / f"partition-{partition}"

    def set(self, partition: int) -> bool:
        path = self._path(partition)
        for _ in range(2):
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return True
            except FileExistsError:
                try:
                    if time.time() - path.stat().st_mtime < self.ttl:
                        return False
                    path.unlink()  # expired: the doorbell it stood for was lost
                except FileNotFoundError:
                    pass
        return True  # raced twice with other requests: ring anyway, a spare doorbell is harmless

    def clear(self, partition: int) -> None:
        self._path(partition).unlink(missing_ok=True)


class RedisLatch:
    """``SET NX PX`` on the broker's Redis."""

    def __init__(self, url: str, ttl: float):
        import redis  # lazy: only the Redis profile needs the client

        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.ttl_ms = max(1, int(ttl * 1000))

    @staticmethod
    def _key(partition: int) -> str:
        return f"reservations:doorbell:p{partition}"

    def set(self, partition: int) -> bool:
        try:
            return bool(self.client.set(self._key(partition), 1, nx=True, px=self.ttl_ms))
        except Exception:  # noqa: BLE001 - Redis unreachable: ring (the publish decides)
            return True

    def clear(self, partition: int) -> None:
        try:
            self.client.delete(self._key(partition))
        except Exception:  # noqa: BLE001 - the latch expires on its own
            logger.warning("doorbell latch of partition %s not cleared", partition, exc_info=True)


@cache
def latch() -> NoLatch | FileLatch | RedisLatch:
    ttl = settings.BOOKING_DOORBELL_TTL_SECONDS
    if ttl <= 0:
        return NoLatch()
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return RedisLatch(settings.CELERY_BROKER_URL, ttl)
    return FileLatch(Path(settings.DOORBELL_DIR), ttl)
