"""Event → partition → queue. The only module that knows queue names."""

import zlib

from django.conf import settings
from kombu import Queue

PARTITION_QUEUE_PREFIX = "bookings.p"
DEFAULT_QUEUE = "default"
WEBHOOK_QUEUE = "webhooks"

DECIDE_EVENT_TASK = "bookings.decide_event"
SWEEP_TASK = "bookings.sweep_pending"
MOVE_EVENTS_TASK = "bookings.move_events"
EXPIRE_HOLDS_TASK = "bookings.expire_holds"
DELIVER_WEBHOOK_TASK = "webhooks.deliver"
PUBLISH_WEBHOOKS_TASK = "webhooks.publish"
SCHEDULE_WEBHOOKS_TASK = "webhooks.schedule_due"


def partition_count() -> int:
    return settings.BOOKING_PARTITIONS


def partition_for_key(key: str, count: int | None = None) -> int:
    """A stable hash (CRC-32, not Python's salted hash) so every process agrees; ``count``
    defaults to ``BOOKING_PARTITIONS``."""
    return zlib.crc32(key.encode()) % (count or partition_count())


def partition_queue(partition: int) -> str:
    return f"{PARTITION_QUEUE_PREFIX}{partition}"


# A partition's lease (workers/leases.py) is named after its queue; on PostgreSQL it is the
# advisory lock (LEASE_LOCK_NAMESPACE, partition). Readiness looks for the holders by these.
LEASE_LOCK_NAMESPACE = 0x5EA7


def lease_name(partition: int) -> str:
    return f"lease-{partition_queue(partition)}"


def partition_queues() -> list[str]:
    return [partition_queue(p) for p in range(partition_count())]


def parse_partitions(spec: str) -> list[int]:
    """'all', '3', '0-3', '0,2,5-7' → sorted partition numbers; ValueError when out of range."""
    count = partition_count()
    if spec.strip() == "all":
        return list(range(count))
    chosen = partitions_in(spec)
    if chosen and not 0 <= chosen[0] <= chosen[-1] < count:
        raise ValueError(f"partitions {spec!r} are not all within 0-{count - 1}")
    return chosen


def partitions_in(spec: str) -> list[int]:
    """'3', '0-3', '0,2,5-7' → sorted partition numbers (no range check: see parse_partitions)."""
    chosen: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        low, high = int(first), int(last or first)
        if low > high:
            raise ValueError(f"partition range {part!r} is empty")
        chosen.update(range(low, high + 1))
    return sorted(chosen)


def format_partitions(partitions: list[int]) -> str:
    """[0, 1, 2, 3, 5] → '0-3,5': the short form ``partitions_in`` reads back."""
    runs: list[list[int]] = []
    for p in sorted(partitions):
        if runs and p == runs[-1][-1] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def partition_groups(partitions: list[int], per_process: int) -> list[list[int]]:
    """The partitions split into the groups one partition-worker process each owns."""
    return [partitions[i : i + per_process] for i in range(0, len(partitions), per_process)]


def partition_worker_name(partitions: list[int]) -> str:
    """The Celery node name of the worker consuming ``partitions``: ``bookings.p3`` for one,
    ``bookings.p0-7`` for a group."""
    return f"{PARTITION_QUEUE_PREFIX}{format_partitions(partitions)}"


def all_queues() -> list[Queue]:
    names = [DEFAULT_QUEUE, WEBHOOK_QUEUE, *partition_queues()]
    return [Queue(name, routing_key=name) for name in names]


def task_routes() -> dict:
    # Doorbells are routed per call (the event's partition); these are the fixed routes.
    return {
        SWEEP_TASK: {"queue": DEFAULT_QUEUE},
        EXPIRE_HOLDS_TASK: {"queue": DEFAULT_QUEUE},
        SCHEDULE_WEBHOOKS_TASK: {"queue": DEFAULT_QUEUE},
        DELIVER_WEBHOOK_TASK: {"queue": WEBHOOK_QUEUE},
        PUBLISH_WEBHOOKS_TASK: {"queue": WEBHOOK_QUEUE},
    }


def beat_schedule() -> dict:
    return {
        "sweep-pending-commands": {
            "task": SWEEP_TASK,
            "schedule": settings.BOOKING_SWEEP_INTERVAL_SECONDS,
        },
        "expire-lapsed-holds": {
            "task": EXPIRE_HOLDS_TASK,
            "schedule": settings.BOOKING_HOLD_EXPIRY_INTERVAL_SECONDS,
        },
        "schedule-due-webhooks": {
            "task": SCHEDULE_WEBHOOKS_TASK,
            "schedule": settings.WEBHOOK_SCHEDULE_INTERVAL_SECONDS,
        },
    }
