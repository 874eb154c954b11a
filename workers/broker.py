"""The embedded default broker: kombu's file-system transport, hardened.

The stock transport keeps every queue in one folder and names files by a millisecond clock, so a
backlog makes each poll list and sort every message of every queue, same-millisecond messages come
out in random order, and a reader can open a file its writer has not finished (kombu#1551, which
kills the worker). This one:

- keeps a folder per queue, so a poll lists only its own queue;
- names a message ``<ns clock>-<pid>-<counter>.msg``: fixed width, so the name sorts in publish
  order for one publisher;
- writes into ``tmp/`` and renames into the queue folder, so a message is whole or absent;
- claims a message by renaming it out of the queue folder, so two consumers never get the same one;
- drops fan-out bindings (Flower's and other monitors' event queues) whose queue nobody drains.

Order across publishers is still only approximate; the service never relies on broker order.
"""

import itertools
import os
import re
import time
import uuid
from pathlib import Path

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

_counter = itertools.count()
# Queue names become folder names: no separators, no "..". Celery's reply queues contain "@".
QUEUE_NAME_RE = re.compile(r"\A[A-Za-z0-9._@-]+\Z")

# A fan-out queue holding this many unread messages has lost its reader (a closed Flower, an
# `events` monitor that was killed): stop feeding it.
STALE_FANOUT_BACKLOG = 2000


class Channel(filesystem.Channel):
    supports_fanout = True

    @cached_property
    def root(self) -> Path:
        root = Path(self.transport_options.get("data_folder", "data/broker"))
        for sub in ("queues", "tmp", "claimed", "control"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return root

    @property
    def control_folder(self) -> Path:
        return self.root / "control"

    def _queue_dir(self, queue: str) -> Path:
        path = self._known_dirs.get(queue)
        if path is None:
            if not QUEUE_NAME_RE.match(queue) or not queue.strip("."):
                raise ChannelError(f"Invalid queue name: {queue!r}")
            path = self.root / "queues" / queue
            path.mkdir(exist_ok=True)
            self._known_dirs[queue] = path
        return path

    @cached_property
    def _known_dirs(self) -> dict[str, Path]:
        return {}

    def _put(self, queue, payload, **kwargs):
        name = f"{time.time_ns():020d}-{os.getpid():07d}-{next(_counter) % 10**9:09d}.msg"
        tmp = self.root / "tmp" / f"{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(dumps(payload).encode())
            os.rename(tmp, self._queue_dir(queue) / name)
        except OSError as exc:
            raise ChannelError(f"Cannot add a message to queue {queue!r}") from exc

    def _get(self, queue):
        folder = self._queue_dir(queue)
        claimed_dir = self.root / "claimed"
        for name in sorted(os.listdir(folder)):
            claimed = claimed_dir / f"{uuid.uuid4().hex}-{name}"
            try:
                os.rename(folder / name, claimed)
            except FileNotFoundError:
                continue  # another consumer took it first
            try:
                payload = claimed.read_bytes()
            finally:
                claimed.unlink(missing_ok=True)
            return loads(payload)
        raise filesystem.Empty()

    def _put_fanout(self, exchange, payload, routing_key, **kwargs):
        for binding in self.get_table(exchange):
            if self._size(binding.queue) >= STALE_FANOUT_BACKLOG:
                self._delete(binding.queue, exchange, binding.routing_key, binding.pattern)
                self._purge(binding.queue)
                continue
            self._put(binding.queue, payload, **kwargs)

    def _purge(self, queue):
        folder = self._queue_dir(queue)
        count = 0
        for name in os.listdir(folder):
            try:
                os.unlink(folder / name)
                count += 1
            except FileNotFoundError:
                pass
        return count

    def _size(self, queue):
        return len(os.listdir(self._queue_dir(queue)))


class Transport(filesystem.Transport):
    Channel = Channel
    driver_type = "filesystem"
    driver_name = "safefs"
