"""Exactly one consumer per partition: a second worker stands by and takes over, for one
partition or for a group of them owned by one process (the embedded default)."""

import os
import signal
import subprocess
import sys

import pytest

from devtools.stack import ROOT, Stack, group_processes, poll, shell_json
from tests.integration.crowd import events_on_every_partition, flash_crowd, settle
from workers.leases import FileLease

BOOK_AND_RING = """
import json
from apps.bookings.commands import request_command
from apps.bookings.models import CommandKind
from apps.accounts.models import Customer
from apps.events.models import Event
from apps.accounts.tokens import user_ids_for_keys
event = Event.objects.get(pk={event_id})
customer = Customer.objects.get(user_id__in=user_ids_for_keys(["{token}"]))
command, _ = request_command(user_id=customer.user_id, event=event, kind=CommandKind.BOOK,
                             customer_id=customer.pk)
print(json.dumps(str(command.uid)))
"""

OWNER = """
import json
from apps.partitions.selectors import partition_owners
print(json.dumps([[o.partition, o.pid, o.generation, o.heartbeat_at is not None]
                  for o in partition_owners()]))
"""

REQUEST_STATUS = """
import json
from apps.bookings.models import BookingRequest
print(json.dumps(BookingRequest.objects.get(uid="{uid}").status))
"""


def test_a_file_lease_has_one_holder_until_released(tmp_path):
    first, second = FileLease("p0", tmp_path), FileLease("p0", tmp_path)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def migrated_with_workers(tmp_path, partitions: int, spec: str):
    """A migrated embedded-default database with ``partitions`` partitions and no processes
    running yet, and a way to start ``python -m workers partition <spec>`` processes."""
    stack = Stack(tmp_path, env={"BOOKING_PARTITIONS": str(partitions)})
    stack.manage("migrate", "--noinput", "-v", "0")
    workers = []

    def start_worker() -> subprocess.Popen:
        log_path = tmp_path / f"worker-{len(workers)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "workers", "partition", spec],
                cwd=ROOT,
                env={**stack.environment(), "LOG_LEVEL": "INFO"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.log_path = log_path
        workers.append(process)
        return process

    return stack, start_worker, workers


def stop_all(workers: list[subprocess.Popen]) -> None:
    for process in workers:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture
def lone_partition(tmp_path):
    stack, start_worker, workers = migrated_with_workers(tmp_path, 1, "0")
    yield stack, start_worker
    stop_all(workers)


@pytest.fixture
def four_partitions_in_one_process(tmp_path):
    stack, start_worker, workers = migrated_with_workers(tmp_path, 4, "0-3")
    yield stack, start_worker
    stop_all(workers)


def lease_holder(stack, partition: int = 0) -> int | None:
    """The pid the partition's lease file names, if its lock is held (as readiness sees it)."""
    directory = stack.data_dir / "leases"
    path = directory / f"lease-bookings.p{partition}.lock"
    text = path.read_text().split() if path.exists() else []
    probe = FileLease(f"lease-bookings.p{partition}", directory)
    if probe.try_acquire():  # nobody holds it
        probe.release()
        return None
    return int(text[1]) if len(text) == 2 else None


def test_a_second_worker_stands_by_and_takes_over_when_the_owner_dies(lone_partition):
    stack, start_worker = lone_partition
    seed = stack.manage_json("seed_crowd", "--customers", "2", "--capacity", "5")
    owner = start_worker()
    poll(lambda: lease_holder(stack) == owner.pid, timeout=30, what="the first worker's lease")
    standby = start_worker()

    # The standby does not take the lease while the owner lives; the owner decides.
    first = shell_json(
        stack, BOOK_AND_RING.format(event_id=seed["events"][0], token=seed["tokens"][0])
    )
    poll(
        lambda: shell_json(stack, REQUEST_STATUS.format(uid=first)) == "confirmed",
        timeout=30,
        what="the owner's decision",
    )
    assert standby.poll() is None
    assert lease_holder(stack) == owner.pid
    # ... and has not started consuming: it logged that it stands by, and no Celery worker
    # (whose banner lists its [queues]) runs in it.
    poll(lambda: "standing by" in standby.log_path.read_text(), timeout=30, what="standing by")
    assert "[queues]" in owner.log_path.read_text()
    assert "[queues]" not in standby.log_path.read_text()

    # The owner recorded itself (readiness and watchdogs read this), the standby did not.
    ((partition, pid, first_generation, beating),) = shell_json(stack, OWNER)
    assert (partition, pid, beating) == (0, owner.pid, True)

    os.killpg(owner.pid, signal.SIGKILL)
    owner.wait(10)
    poll(lambda: lease_holder(stack) == standby.pid, timeout=30, what="the standby's takeover")
    poll(
        lambda: shell_json(stack, OWNER) == [[0, standby.pid, first_generation + 1, True]],
        timeout=30,
        what="the standby recorded as the new owner",
    )
    second = shell_json(
        stack, BOOK_AND_RING.format(event_id=seed["events"][0], token=seed["tokens"][1])
    )
    poll(
        lambda: shell_json(stack, REQUEST_STATUS.format(uid=second)) == "confirmed",
        timeout=30,
        what="the new owner's decision",
    )


# --- one process owning a group of partitions (the embedded default) ----------------------------

GROUP_OWNERS = """
import json
from apps.partitions.selectors import partition_owners
print(json.dumps({o.partition: [o.pid, o.generation] for o in partition_owners()
                  if o.heartbeat_at is not None}))
"""


def book_on_each(stack, events: list[int], tokens: list[str]) -> list[str]:
    return [
        shell_json(stack, BOOK_AND_RING.format(event_id=event, token=token))
        for event, token in zip(events, tokens, strict=False)
    ]


def all_confirmed(stack, uids: list[str]) -> bool:
    return all(shell_json(stack, REQUEST_STATUS.format(uid=uid)) == "confirmed" for uid in uids)


def test_a_standby_takes_over_every_partition_of_a_killed_group_owner(
    four_partitions_in_one_process,
):
    stack, start_worker = four_partitions_in_one_process
    seed = stack.manage_json("seed_crowd", "--customers", "8", "--capacity", "5")
    events = events_on_every_partition(stack, capacity=5)
    owner = start_worker()
    poll(
        lambda: [lease_holder(stack, p) for p in range(4)] == [owner.pid] * 4,
        timeout=30,
        what="the owner's four leases",
    )
    standby = start_worker()
    poll(lambda: "standing by" in standby.log_path.read_text(), timeout=30, what="standing by")

    # One process, one consumer, every partition's commands decided.
    first = book_on_each(stack, events, seed["tokens"][:4])
    poll(lambda: all_confirmed(stack, first), timeout=60, what="the owner's decisions")
    generations = shell_json(stack, GROUP_OWNERS)
    assert {int(p): pid for p, (pid, _) in generations.items()} == dict.fromkeys(
        range(4), owner.pid
    )
    assert standby.poll() is None and "[queues]" not in standby.log_path.read_text()
    assert [lease_holder(stack, p) for p in range(4)] == [owner.pid] * 4

    os.killpg(owner.pid, signal.SIGKILL)
    owner.wait(10)
    poll(
        lambda: [lease_holder(stack, p) for p in range(4)] == [standby.pid] * 4,
        timeout=30,
        what="the standby's takeover of all four leases",
    )
    expected = {p: [standby.pid, generation + 1] for p, (_, generation) in generations.items()}
    poll(
        lambda: shell_json(stack, GROUP_OWNERS) == expected,
        timeout=30,
        what="the standby recorded as every partition's new owner",
    )
    second = book_on_each(stack, events, seed["tokens"][4:])
    poll(lambda: all_confirmed(stack, second), timeout=60, what="the new owner's decisions")


def stack_partition_workers(stack) -> dict[int, str]:
    """{pid: args} of the stack's partition-worker processes, from ``ps``."""
    group = group_processes(stack.process.pid)
    return {pid: args for pid, args in group.items() if "-m workers partition " in args}


def test_the_embedded_default_decides_every_partition_in_one_worker_process(stack):
    """``make run``'s profile: eight partitions, one partition-worker process holding all eight
    leases, a command on each partition decided."""
    ((pid, args),) = poll(
        lambda: stack_partition_workers(stack), timeout=30, what="the partition-worker process"
    ).items()
    assert args.endswith("-m workers partition 0-7")
    poll(
        lambda: [lease_holder(stack, p) for p in range(8)] == [pid] * 8,
        timeout=30,
        what="all eight leases",
    )
    assert all(stack.partition_worker_pid(p) == pid for p in range(8))

    seed = stack.manage_json("seed_crowd", "--customers", "8", "--capacity", "3")
    events = events_on_every_partition(stack, capacity=3)
    replies = flash_crowd(
        stack.base_url, list(zip(seed["tokens"], events, strict=True)), concurrency=8
    )
    assert [r.status for r in replies] == [202] * 8
    report = settle(stack, *events, timeout=60)
    assert report["requests"]["confirmed"] == 8
    assert {int(p): owner[0] for p, owner in shell_json(stack, GROUP_OWNERS).items()} == (
        dict.fromkeys(range(8), pid)
    )
