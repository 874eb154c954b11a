"""Prometheus counters and histograms, and one-line calls to feed them.

Counts live in memory; nothing here touches the database, so a call costs microseconds. With
``PROMETHEUS_MULTIPROC_DIR`` set (the launcher sets it for every process it starts) each
process writes its counts to its own memory-mapped file in that folder and ``/metrics`` adds
up every process's files: every gunicorn worker, partition worker, webhook worker and beat of
the machine (or of every container that shares the folder). Without it the counts are this
process's own. Gauges that describe the database (pending commands, due deliveries) are read
at scrape time instead (``apps.operations.collectors``).
"""

import bisect
import os
import socket
import time
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def process_identifier() -> str:
    """Names this process's files: ``<pid>@<host>``, unique across containers that share the
    folder (their pids overlap) and easy to match per machine (``*@<host>.db``)."""
    return f"{os.getpid()}@{socket.gethostname()}"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


if multiprocess_dir():
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)


DECISIONS = Counter(
    "reservations_decisions",
    "Commands decided by the partition workers, by kind, status and reason.",
    ["kind", "status", "reason"],
)
DECISION_BATCH_SIZE = Histogram(
    "reservations_decision_batch_size",
    "Commands decided per transaction (batch).",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)
DECISION_BATCH_SECONDS = Histogram(
    "reservations_decision_batch_duration_seconds",
    "Time to decide and commit one batch.",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUEST_TO_DECISION_SECONDS = Histogram(
    "reservations_request_to_decision_seconds",
    "Time from a command being recorded to its decision.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
DOORBELLS = Counter(
    "reservations_doorbells",
    "Doorbells after a command committed: published, skipped (one already waits on the "
    "partition's latch) or failed to publish (left to the sweeper).",
    ["outcome"],
)
DOORBELLS_RERUNG = Counter(
    "reservations_doorbells_rerung",
    "Doorbells re-rung by the sweeper for events with commands pending too long.",
)
WEBHOOK_ATTEMPTS = Counter(
    "reservations_webhook_attempts",
    "Webhook delivery attempts, by outcome.",
    ["outcome"],
)
COUNTER_MISMATCHES = Counter(
    "reservations_counter_mismatches",
    "Events held back from a decision round because a counter (seats_taken, waitlist_size) "
    "disagreed with its rows counted under the event's lock, by counter and direction.",
    ["counter", "direction"],
)
THROTTLED_REQUESTS = Counter(
    "reservations_throttled_requests",
    "API requests refused with 429 by a rate limit, by view.",
    ["view"],
)


# --- the one-line calls ---------------------------------------------------------------------------


def count_decisions(requests: Iterable) -> None:
    """Count decided requests (objects with kind, status and reason), one add per group."""
    tally = Tally((r.kind, r.status, r.reason) for r in requests)
    for (kind, status, reason), count in tally.items():
        DECISIONS.labels(str(kind), str(status), str(reason)).inc(count)


def observe_time_to_decision(commands: Iterable) -> None:
    """Each command's time from recorded (``created_at``) to decided (``decided_at``)."""
    waits = [
        max(0.0, (c.decided_at - c.created_at).total_seconds())
        for c in commands
        if c.created_at is not None and c.decided_at is not None
    ]
    observe_many(REQUEST_TO_DECISION_SECONDS, waits)


def observe_many(histogram: Histogram, amounts: list[float]) -> None:
    """``observe`` each amount, with one write per bucket rather than per amount: a batch of
    500 costs a few writes, not 1,500 (in multiprocess mode each write is a locked mmap write)."""
    bounds = getattr(histogram, "_upper_bounds", None)
    if bounds is None or len(amounts) < 8:
        for amount in amounts:
            histogram.observe(amount)
        return
    per_bucket = Tally(bisect.bisect_left(bounds, amount) for amount in amounts)
    histogram._sum.inc(sum(amounts))
    for index, count in per_bucket.items():
        histogram._buckets[index].inc(count)


def observe_batch(*, size: int, started: float) -> None:
    """One decided batch: its size and its duration since ``started`` (``time.perf_counter()``)."""
    DECISION_BATCH_SIZE.observe(size)
    DECISION_BATCH_SECONDS.observe(time.perf_counter() - started)


DOORBELL_PUBLISHED, DOORBELL_SKIPPED, DOORBELL_FAILED = "published", "skipped", "failed"


def count_doorbell(outcome: str) -> None:
    DOORBELLS.labels(outcome).inc()


def count_rerung(events: int) -> None:
    if events:
        DOORBELLS_RERUNG.inc(events)


def count_webhook_attempt(outcome: str) -> None:
    WEBHOOK_ATTEMPTS.labels(outcome).inc()


def count_counter_mismatch(*, counter: str, above_rows: bool) -> None:
    COUNTER_MISMATCHES.labels(counter, "above_rows" if above_rows else "below_rows").inc()


def count_throttled(view: str) -> None:
    THROTTLED_REQUESTS.labels(view).inc()


# --- exposition ---------------------------------------------------------------------------------


def counters_registry() -> CollectorRegistry:
    """The counters and histograms to expose: every process's (multiprocess mode) or this one's."""
    folder = multiprocess_dir()
    if folder is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)
    return registry


def wipe_host_files(folder: str) -> int:
    """Remove the metric files of this machine's processes that are gone (a launcher starting
    anew); live processes' files (another launcher's on this machine) and other hosts' files in
    a shared folder are left alone. Returns how many were removed."""
    suffix = f"@{socket.gethostname()}.db"
    removed = 0
    for name in os.listdir(folder):
        if not name.endswith(suffix):
            continue
        pid = name.removesuffix(suffix).rpartition("_")[2]
        if pid.isdigit() and _running(int(pid)):
            continue
        os.unlink(os.path.join(folder, name))
        removed += 1
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
