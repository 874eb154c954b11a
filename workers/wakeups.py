"""Wake-ups: a request that waits for its decision (``Prefer: wait``) sleeps until the partition
worker says the command is decided, instead of polling the database.

After each decision batch commits, the worker announces the decided requests' ids: a Redis
``PUBLISH`` on the scale-out profile, a datagram to every web process's Unix socket (in
``WAITER_DIR``) on the embedded default. Each web process runs one listener thread that wakes the
requests waiting on those ids. A waiter still checks its row once before sleeping (the decision
may have come first) and again after ``BOOKING_WAIT_RECHECK_SECONDS`` without news (a lost
announcement costs that long, never a wrong answer). ``BOOKING_WAITERS_PER_PROCESS`` caps how
many requests of one process wait at once, half its request threads unless set: each waiter holds
a thread, and the other half keeps serving whatever the waiters wait for.

This module imports nothing from ``apps``: the booking service announces, the API waits.
"""

import contextlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL = "reservations:decided"
DATAGRAM_MAX_IDS = 4000  # ids per datagram (well under the socket's buffer)


class DecisionRate:
    """Decisions per second announced over the last ``window`` seconds (every web process hears
    every announcement): what ``Retry-After`` hints are computed from, at no cost per request."""

    def __init__(self, window: int = 10):
        self.window = window
        self._counts: dict[int, int] = {}  # whole second -> decisions announced in it
        self._lock = threading.Lock()

    def heard(self, decided: int, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        with self._lock:
            self._counts[second] = self._counts.get(second, 0) + decided
            for old in [s for s in self._counts if s <= second - self.window]:
                del self._counts[old]

    def per_second(self, now: float | None = None) -> float:
        second = int(time.monotonic() if now is None else now)
        with self._lock:
            recent = sum(n for s, n in self._counts.items() if s > second - self.window)
        return recent / self.window


class Waiters:
    """The requests of this process waiting for their decision (``Prefer: wait``) or watching
    their line (event streams), by request id."""

    def __init__(self, limit: int):
        self._slots = threading.BoundedSemaphore(limit) if limit > 0 else None
        self._events: dict[int, set[threading.Event]] = {}
        self._any: set[threading.Event] = set()  # woken by every announcement
        self._lock = threading.Lock()
        self.rate = DecisionRate()

    def take_slot(self) -> bool:
        """One of the process's places to wait, if one is free; ``give_slot`` returns it."""
        return self._slots is not None and self._slots.acquire(blocking=False)

    def give_slot(self) -> None:
        self._slots.release()

    @contextlib.contextmanager
    def slot(self) -> Iterator[bool]:
        """A place to wait, if one is free (False: the process has its cap of waiters)."""
        if not self.take_slot():
            yield False
            return
        try:
            yield True
        finally:
            self.give_slot()

    @contextlib.contextmanager
    def watching(
        self, request_id: int, *, every_decision: bool = False
    ) -> Iterator[threading.Event]:
        """An event set when ``request_id`` is announced decided, while inside the block; with
        ``every_decision``, set by every announcement (a place in line moves when a command
        ahead is decided, and announcements name the decided commands only)."""
        event = threading.Event()
        with self._lock:
            self._events.setdefault(request_id, set()).add(event)
            if every_decision:
                self._any.add(event)
        try:
            yield event
        finally:
            with self._lock:
                watchers = self._events.get(request_id, set())
                watchers.discard(event)
                if not watchers:
                    self._events.pop(request_id, None)
                self._any.discard(event)

    def wake(self, request_ids: Iterable[int]) -> int:
        request_ids = list(request_ids)
        self.rate.heard(len(request_ids))
        with self._lock:
            woken = {e for i in request_ids for e in self._events.get(i, ())} | self._any
        for event in woken:
            event.set()
        return len(woken)


def _parse(payload: bytes) -> list[int]:
    return [int(part) for part in payload.split(b",") if part.strip().isdigit()]


class RedisWakeups:
    """``PUBLISH`` / ``SUBSCRIBE`` on the broker's Redis."""

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.url = url

    def announce(self, request_ids: list[int]) -> None:
        self.client.publish(CHANNEL, ",".join(map(str, request_ids)))

    def listen(self, waiters: Waiters, ready: threading.Event) -> None:
        import redis

        while True:
            try:
                client = redis.Redis.from_url(self.url, socket_connect_timeout=2)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                ready.set()
                for message in pubsub.listen():
                    if message.get("type") == "message":
                        waiters.wake(_parse(message["data"]))
            except Exception:  # noqa: BLE001 - Redis away: waiters fall back to their rechecks
                logger.warning("wake-up listener lost Redis; reconnecting", exc_info=True)
                threading.Event().wait(1.0)


class SocketWakeups:
    """A Unix datagram socket per web process in one folder (one machine: the embedded
    default); the worker sends each announcement to every socket there."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def announce(self, request_ids: list[int]) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for start in range(0, len(request_ids), DATAGRAM_MAX_IDS):
                payload = ",".join(map(str, request_ids[start : start + DATAGRAM_MAX_IDS]))
                for path in self.directory.glob("*.sock"):
                    try:
                        sender.sendto(payload.encode(), str(path))
                    except (ConnectionRefusedError, FileNotFoundError):
                        path.unlink(missing_ok=True)  # its process is gone
                    except BlockingIOError:
                        pass  # that listener is behind; its waiters recheck on their own

    def listen(self, waiters: Waiters, ready: threading.Event) -> None:
        path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
            receiver.bind(str(path))
            ready.set()
            try:
                while True:
                    waiters.wake(_parse(receiver.recv(65536)))
            finally:
                path.unlink(missing_ok=True)


@cache
def channel() -> RedisWakeups | SocketWakeups:
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return RedisWakeups(settings.CELERY_BROKER_URL)
    return SocketWakeups(Path(settings.WAITER_DIR))


def announce(request_ids: list[int]) -> None:
    """Worker side, after the batch that decided them committed. Never raises: a waiter that
    misses the news finds the decision at its next recheck."""
    if not request_ids:
        return
    try:
        channel().announce(request_ids)
    except Exception:  # noqa: BLE001 - any transport failure
        logger.warning("decisions not announced to waiting requests", exc_info=True)


# The request threads of this web process: told by the web server once its worker is up
# (``config/gunicorn.py``); this many elsewhere (``runserver``, the tests).
_request_threads = 8


def serve_with_threads(threads: int) -> None:
    """The web server's worker serves requests with ``threads`` threads."""
    global _request_threads
    _request_threads = threads


def waiter_cap() -> int:
    """How many requests of this process may wait at once: ``BOOKING_WAITERS_PER_PROCESS``, or
    half the process's request threads (at least one). Were every thread allowed to wait, a
    burst of ``Prefer: wait`` (or a stopped partition worker) would leave the process no thread
    for anything else (health checks included) for up to ``BOOKING_WAIT_MAX_SECONDS``."""
    configured = settings.BOOKING_WAITERS_PER_PROCESS
    if configured is not None:
        return configured
    return max(1, _request_threads // 2)


_listener_lock = threading.Lock()
_listener: dict[int, Waiters] = {}


def waiters() -> Waiters:
    """This process's waiters, with its listener thread running (started on first use, and
    again in a forked child: the thread does not survive a fork)."""
    pid = os.getpid()
    found = _listener.get(pid)
    if found is not None:
        return found
    with _listener_lock:
        if pid not in _listener:
            registry = Waiters(waiter_cap())
            ready = threading.Event()
            threading.Thread(
                target=channel().listen, args=(registry, ready), name="wakeups", daemon=True
            ).start()
            ready.wait(2.0)
            _listener[pid] = registry
        return _listener[pid]


def seconds_until_decided(position: int, *, most: int) -> int:
    """A hint for when a command at ``position`` in its event's line will be decided: its
    position over the rate of decisions this process has heard, 1..``most`` seconds. Nothing
    decided lately: at once if it is first (the worker is idle), else ``most`` (the worker is
    away or far behind)."""
    rate = waiters().rate.per_second()
    if rate <= 0:
        return 1 if position <= 1 else most
    return max(1, min(most, math.ceil(position / rate)))
