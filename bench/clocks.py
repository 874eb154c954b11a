"""When a decision was committed, as the service itself tells it: after a partition round commits,
its worker announces the decided requests' ids (``workers.wakeups``: a Redis ``PUBLISH`` on the
scale-out profile, a datagram to every socket in the waiters' folder on the embedded default),
the announcement ``Prefer: wait`` requests wake on. The bench listens like a web process and
stamps each id with the time the announcement reached it: a point after the commit (by the
publish and its delivery on loopback, well under a millisecond), where ``decided_at`` is
stamped when the round starts, before its writes and its commit's fsync.
"""

import contextlib
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from workers.wakeups import CHANNEL


def _ids(payload: bytes) -> list[int]:
    return [int(part) for part in payload.split(b",") if part.strip().isdigit()]


class DecisionClock:
    """Request id (primary key) -> epoch seconds its decision's announcement arrived."""

    def __init__(self):
        self.stamps: dict[int, float] = {}
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def stamp(self, payload: bytes, at: float) -> None:
        for request_id in _ids(payload):
            self.stamps.setdefault(request_id, at)

    def start(self) -> "DecisionClock":
        self._thread = threading.Thread(target=self._listen, name="decision-clock", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the decision clock could not listen to the announcements")
        return self

    def _listen(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "DecisionClock":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class RedisDecisionClock(DecisionClock):
    """Subscribed to the announcements' channel on the broker's Redis."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url

    def _listen(self) -> None:
        import redis

        pubsub = redis.Redis.from_url(self.url).pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(CHANNEL)
        pubsub.get_message(timeout=5)  # the subscription's confirmation
        self._ready.set()
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message and message.get("type") == "message":
                self.stamp(message["data"], time.time())
        pubsub.close()


class SocketDecisionClock(DecisionClock):
    """A datagram socket in the waiters' folder, as each web process of the embedded default
    has: the worker sends every announcement there too."""

    def __init__(self, directory: Path):
        super().__init__()
        self.path = directory / f"bench-{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"

    def _listen(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
            receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            receiver.bind(str(self.path))
            receiver.settimeout(0.2)
            self._ready.set()
            try:
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        self.stamp(receiver.recv(1 << 20), time.time())
            finally:
                self.path.unlink(missing_ok=True)
