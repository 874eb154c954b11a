"""BOOKING_PARTITIONS changes, both ways, with commands pending: nothing is stranded."""

import subprocess
import sys

from devtools.stack import ROOT, Stack, shell_json
from tests.integration.crowd import decision_counts, flash_crowd, settle

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
print(json.dumps(len(rows)))
"""

PARTITIONS = """
import json
from apps.events.models import Event
print(json.dumps(dict(Event.objects.filter(pk__in={events}).values_list("pk", "partition"))))
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
    return Stack(stack.data_dir, env={**stack.env, "BOOKING_PARTITIONS": str(count)})


def events_and_customers(stack: Stack, moving_to: int | None = None) -> tuple[list[int], list[str]]:
    """An event on every partition (capacity 3), each moving when the partitions become
    ``moving_to`` if given, and three customers' tokens per event."""
    seed = stack.manage_json("seed_crowd", "--customers", "24", "--events", "0")
    events = shell_json(stack, PER_PARTITION.format(moving_to=moving_to))
    return events, seed["tokens"][: 3 * len(events)]


def pending_on_every_event(stack: Stack, events: list[int], tokens: list[str]) -> list[str]:
    """One command per event recorded (no doorbell): pending when the partitions change.
    Returns the tokens left."""
    shell_json(stack, RECORD_WITHOUT_DOORBELL.format(events=events, tokens=tokens[: len(events)]))
    return tokens[len(events) :]


def book_each(stack: Stack, events: list[int], tokens: list[str]) -> None:
    jobs = [(t, events[i % len(events)]) for i, t in enumerate(tokens)]
    # Capacity 3 per event: none of these is refused at the door.
    assert {r.status for r in flash_crowd(stack.base_url, jobs, concurrency=16)} == {202}


def assert_all_decided(stack: Stack, events: list[int], count: int) -> None:
    report = settle(stack, *events, timeout=90)
    assert report["requests"]["confirmed"] == 3 * len(events)
    placed = {int(k): v for k, v in shell_json(stack, PARTITIONS.format(events=events)).items()}
    assert all(0 <= p < count for p in placed.values())
    counts = decision_counts(stack, events)
    assert counts["decided_twice"] == 0 and counts["decided_once"] == counts["requests"]
    stack.manage("check_invariants", "--pending-threshold", "60")


def test_shrinking_from_8_to_4_partitions_with_the_workers_stopped(tmp_path):
    old = Stack(tmp_path, env={"BOOKING_PARTITIONS": "8"})
    with old:
        events, tokens = events_and_customers(old)
        spare = pending_on_every_event(old, events, tokens)

    # Started with 4 partitions first: refused, with the way out.
    refused = workers_cli(old, "run", "--partitions", "none", partitions=4)
    assert refused.returncode == 2
    assert "python -m workers repartition" in refused.stderr

    moved = workers_cli(old, "repartition", partitions=4)
    assert moved.returncode == 0, moved.stderr[-3000:]

    with with_partitions(old, 4) as new:
        book_each(new, events, spare)
        assert_all_decided(new, events, 4)


def test_growing_from_4_to_8_partitions_through_the_running_owners(tmp_path):
    old = Stack(tmp_path, env={"BOOKING_PARTITIONS": "4"})
    with old:
        events, tokens = events_and_customers(old, moving_to=8)
    with with_partitions(old, 8) as new:
        spare = pending_on_every_event(new, events, tokens)
        moved = workers_cli(new, "repartition", partitions=8)
        assert moved.returncode == 0, moved.stderr[-3000:]
        assert "sent to its owner" in moved.stderr
        book_each(new, events, spare)
        assert_all_decided(new, events, 8)
