"""BOOKING_PARTITIONS changes, both ways, with commands pending: each event ends on the
partition its key hashes to under the new count, and its pending commands are decided there,
by that partition's new owner; nothing is stranded."""

import json
import subprocess
import sys

from devtools.stack import ROOT, Stack, shell_json
from tests.integration.crowd import decision_counts, flash_crowd, settle
from workers.routing import partition_for_key

# Only the repartition's doorbells on the new queues may get the pending commands decided: the
# sweeper, which re-rings commands pending this long on their event's stored partition, would
# otherwise let the old owner decide some of them before the move.
NO_SWEEP = {"BOOKING_SWEEP_AFTER_SECONDS": "600"}

# An event on every partition; with a partition count to move to, only events that count moves
# (growing from 4 to 8, an event stays where it is one time in two).
PER_PARTITION = """
import json
from datetime import timedelta
from django.conf import settings
from django.utils import timezone
from apps.accounts.models import Organizer
from apps.events.services import create_event
from workers.routing import partition_for_key
organizer = Organizer.objects.first()
start = timezone.now() + timedelta(days=30)
moving_to = {moving_to}
chosen = {{}}
while len(chosen) < settings.BOOKING_PARTITIONS:
    event = create_event(creator=organizer, title="spread", start_time=start,
                         end_time=start + timedelta(hours=2), capacity=3)
    if moving_to and partition_for_key(str(event.uid), moving_to) == event.partition:
        continue
    chosen.setdefault(event.partition, event.pk)
print(json.dumps([chosen[p] for p in sorted(chosen)]))
"""

RECORD_WITHOUT_DOORBELL = """
import json
from apps.accounts.models import Customer
from apps.accounts.tokens import user_ids_for_keys
from apps.bookings.models import BookingRequest, CommandKind
customers = Customer.objects.filter(user_id__in=user_ids_for_keys({tokens})).order_by("pk")
rows = []
for event_id, customer in zip({events}, customers):
    rows.append(BookingRequest(kind=CommandKind.BOOK, user_id=customer.user_id,
                               customer=customer, event_id=event_id))
BookingRequest.objects.bulk_create(rows)
print(json.dumps({{r.event_id: str(r.uid) for r in rows}}))
"""

PLACES = """
import json
from apps.events.models import Event
print(json.dumps({{pk: [str(uid), partition] for pk, uid, partition in
                  Event.objects.filter(pk__in={events}).values_list("pk", "uid", "partition")}}))
"""


def workers_cli(stack: Stack, *args: str, partitions: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workers", *args],
        cwd=ROOT,
        env={**stack.environment(), "BOOKING_PARTITIONS": str(partitions)},
        capture_output=True,
        text=True,
        timeout=180,
    )


def with_partitions(stack: Stack, count: int) -> Stack:
    """The same data, ``count`` partitions; logging each decision with its process id."""
    env = {**stack.env, "BOOKING_PARTITIONS": str(count), "LOG_FORMAT": "json"}
    return Stack(stack.data_dir, env=env, log_level="INFO")


def places(stack: Stack, events: list[int]) -> dict[int, tuple[str, int]]:
    """Each event's key (uid) and stored partition."""
    found = shell_json(stack, PLACES.format(events=events))
    return {int(pk): (uid, partition) for pk, (uid, partition) in found.items()}


def events_and_customers(stack: Stack, moving_to: int | None = None) -> tuple[list[int], list[str]]:
    """An event on every partition (capacity 3), each moving when the partitions become
    ``moving_to`` if given, and three customers' tokens per event."""
    seed = stack.manage_json("seed_crowd", "--customers", "24", "--events", "0")
    events = shell_json(stack, PER_PARTITION.format(moving_to=moving_to))
    return events, seed["tokens"][: 3 * len(events)]


def pending_on_every_event(
    stack: Stack, events: list[int], tokens: list[str]
) -> tuple[dict[int, str], list[str]]:
    """One command per event recorded (no doorbell): pending when the partitions change.
    Returns each event's pending command (uid), and the tokens left."""
    recorded = shell_json(
        stack, RECORD_WITHOUT_DOORBELL.format(events=events, tokens=tokens[: len(events)])
    )
    return {int(event): uid for event, uid in recorded.items()}, tokens[len(events) :]


def book_each(stack: Stack, events: list[int], tokens: list[str]) -> None:
    jobs = [(t, events[i % len(events)]) for i, t in enumerate(tokens)]
    # Capacity 3 per event: none of these is refused at the door.
    assert {r.status for r in flash_crowd(stack.base_url, jobs, concurrency=16)} == {202}


def deciding_pids(stack: Stack, request_ids: set[str]) -> dict[str, list[int]]:
    """The processes that logged deciding each of these commands (JSON log lines)."""
    found: dict[str, list[int]] = {uid: [] for uid in request_ids}
    for line in stack.log().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        uid = entry.get("request_id")
        if uid in found and entry.get("message", "").startswith(f"request {uid} decided"):
            found[uid].append(entry["pid"])
    return found


def assert_moved_and_decided_by_the_new_owners(
    stack: Stack,
    before: dict[int, tuple[str, int]],
    pending: dict[int, str],
    count: int,
    moving: set[int],
) -> None:
    """Each event is on the partition its key hashes to under ``count``; ``moving`` are the
    ones whose partition changed; the command pending on each event during the change was
    decided once, by the worker that now owns the event's partition."""
    after = places(stack, list(before))
    assert {e: partition for e, (_, partition) in after.items()} == {
        e: partition_for_key(uid, count) for e, (uid, _) in before.items()
    }
    assert {e for e in before if after[e][1] != before[e][1]} == moving
    owners = {e: stack.partition_worker_pid(partition) for e, (_, partition) in after.items()}
    deciders = deciding_pids(stack, set(pending.values()))
    assert {e: deciders[uid] for e, uid in pending.items()} == {e: [owners[e]] for e in pending}


def assert_all_decided(stack: Stack, events: list[int]) -> None:
    report = settle(stack, *events, timeout=90)
    assert report["requests"]["confirmed"] == 3 * len(events)
    counts = decision_counts(stack, events)
    assert counts["decided_twice"] == 0 and counts["decided_once"] == counts["requests"]
    stack.manage("check_invariants", "--pending-threshold", "60")


def test_shrinking_from_8_to_4_partitions_with_the_workers_stopped(tmp_path):
    old = Stack(tmp_path, env={"BOOKING_PARTITIONS": "8", **NO_SWEEP})
    with old:
        events, tokens = events_and_customers(old)
        pending, spare = pending_on_every_event(old, events, tokens)
        before = places(old, events)
    # Events on partitions 4-7 move (to the partition their key hashes to among 4); the others
    # stay where they are.
    moving = {e for e, (_, partition) in before.items() if partition >= 4}
    assert len(moving) == 4

    # Started with 4 partitions first: refused, with the way out.
    refused = workers_cli(old, "run", "--partitions", "none", partitions=4)
    assert refused.returncode == 2
    assert "python -m workers repartition" in refused.stderr

    moved = workers_cli(old, "repartition", partitions=4)
    assert moved.returncode == 0, moved.stderr[-3000:]

    with with_partitions(old, 4) as new:
        book_each(new, events, spare)
        assert_all_decided(new, events)
        assert_moved_and_decided_by_the_new_owners(new, before, pending, 4, moving)


def test_growing_from_4_to_8_partitions_through_the_running_owners(tmp_path):
    old = Stack(tmp_path, env={"BOOKING_PARTITIONS": "4", **NO_SWEEP})
    with old:
        events, tokens = events_and_customers(old, moving_to=8)
        before = places(old, events)
    with with_partitions(old, 8) as new:
        pending, spare = pending_on_every_event(new, events, tokens)
        moved = workers_cli(new, "repartition", partitions=8)
        assert moved.returncode == 0, moved.stderr[-3000:]
        assert "sent to its owner" in moved.stderr
        book_each(new, events, spare)
        assert_all_decided(new, events)
        # Every event was chosen to move (from p to p + 4).
        assert_moved_and_decided_by_the_new_owners(new, before, pending, 8, set(events))
