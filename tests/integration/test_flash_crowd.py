"""A flash crowd against real processes: gunicorn + one worker process per partition."""

import os
import signal
import threading

from tests.integration.crowd import flash_crowd
from tests.integration.stack import poll

CROWD = 500
CAPACITY = 50


def settle(stack, event_id: int, timeout: float = 120) -> dict:
    def decided():
        report = stack.manage_json("event_report", str(event_id))
        return report if report["requests"]["pending"] == 0 else None

    return poll(decided, timeout=timeout, interval=0.5, what="every request decided")


def assert_exactly_capacity(report: dict, crowd: int, capacity: int) -> None:
    (event,) = report["events"]
    assert report["requests"]["confirmed"] == capacity
    assert report["requests"]["rejected"] == crowd - capacity
    assert report["requests"]["pending"] == 0
    assert event["seats_taken"] == event["active_bookings"] == capacity
    assert stack_invariants_ok(report)


def stack_invariants_ok(report: dict) -> bool:
    return all(e["seats_taken"] <= e["capacity"] for e in report["events"])


def test_flash_crowd_confirms_exactly_capacity_and_decides_everything(stack):
    seed = stack.manage_json("seed_crowd", "--customers", str(CROWD), "--capacity", str(CAPACITY))
    event_id = seed["events"][0]

    replies = flash_crowd(
        stack.base_url, [(t, event_id) for t in seed["tokens"]], concurrency=CROWD
    )

    assert [r for r in replies if r.status != 202] == []
    assert len({r.request_id for r in replies}) == CROWD
    assert_exactly_capacity(settle(stack, event_id), CROWD, CAPACITY)
    stack.manage("check_invariants", "--pending-threshold", "60")


def test_flash_crowd_survives_a_partition_worker_killed_mid_run(stack):
    seed = stack.manage_json("seed_crowd", "--customers", str(CROWD), "--capacity", str(CAPACITY))
    event_id, partition = seed["events"][0], seed["partitions"][0]
    killed = []

    def kill_when_busy():
        poll(
            lambda: stack.manage_json("event_report", str(event_id))["requests"]["confirmed"],
            timeout=60,
            interval=0.05,
            what="the first decisions",
        )
        pid = stack.partition_worker_pid(partition)
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    replies = flash_crowd(
        stack.base_url, [(t, event_id) for t in seed["tokens"]], concurrency=CROWD
    )
    killer.join(60)

    assert killed, "the partition worker was not killed"
    assert [r for r in replies if r.status != 202] == []
    assert_exactly_capacity(settle(stack, event_id), CROWD, CAPACITY)
    # The launcher restarted the partition's worker under a new pid.
    restarted = poll(
        lambda: stack.partition_worker_pid(partition), timeout=30, what="the restarted worker"
    )
    assert restarted != killed[0]
    stack.manage("check_invariants", "--pending-threshold", "60")
