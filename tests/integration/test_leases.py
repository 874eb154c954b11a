"""Exactly one consumer per partition: a second worker stands by and takes over."""

import os
import signal
import subprocess
import sys

import pytest

from devtools.stack import ROOT, Stack, poll, shell_json
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


@pytest.fixture
def lone_partition(tmp_path):
    """A migrated embedded-default database with no processes running yet."""
    stack = Stack(tmp_path, env={"BOOKING_PARTITIONS": "1"})
    stack.manage("migrate", "--noinput", "-v", "0")
    workers = []

    def start_worker() -> subprocess.Popen:
        log_path = tmp_path / f"worker-{len(workers)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "workers", "partition", "0"],
                cwd=ROOT,
                env={**stack.environment(), "LOG_LEVEL": "INFO"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.log_path = log_path
        workers.append(process)
        return process

    yield stack, start_worker
    for process in workers:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def lease_holder(stack) -> int | None:
    path = stack.data_dir / "leases" / "lease-bookings.p0.lock"
    text = path.read_text().split() if path.exists() else []
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
