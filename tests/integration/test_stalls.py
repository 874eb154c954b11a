"""A stuck partition worker is replaced; one that resumes after losing its partition decides
nothing; a machine that dies hands its partitions to a standby. Stall detection is shortened
to BOOKING_STALL_SECONDS=6 here (30 by default)."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from devtools.stack import ROOT, Stack, poll, shell_json
from tests.integration.crowd import (
    assert_exactly_capacity,
    decision_counts,
    events_on_every_partition,
    flash_crowd,
    settle,
)

STALL_SECONDS = 6
STALL_ENV = {"BOOKING_STALL_SECONDS": str(STALL_SECONDS)}
CROWD, CAPACITY = 60, 20

OWNERS = """
import json
from apps.partitions.selectors import partition_owners
print(json.dumps({o.partition: [o.pid, o.generation, o.acquired_at.timestamp()]
                  for o in partition_owners() if o.heartbeat_at is not None}))
"""


def door_refusals(replies) -> int:
    """Every request was accepted (202) or, once its event was seen full, refused at once (409,
    nothing recorded); how many were refused."""
    assert [r.status for r in replies if r.status not in (202, 409)] == []
    return sum(r.status == 409 for r in replies)


def assert_decided_once(stack: Stack, events: list[int], recorded: int) -> None:
    assert decision_counts(stack, events) == {
        "requests": recorded,
        "decided_once": recorded,
        "decided_twice": 0,
    }


def owners(stack: Stack) -> dict[int, list]:
    return {int(p): v for p, v in shell_json(stack, OWNERS).items()}


@pytest.fixture(params=["embedded", pytest.param("servers", marks=pytest.mark.servers)])
def stall_stack(request, tmp_path_factory):
    # Per test: the session's PostgreSQL is shared, and leases are per database.
    env = dict(STALL_ENV)
    if request.param == "servers":
        env.update(request.getfixturevalue("servers")["env"])
    with Stack(tmp_path_factory.mktemp(f"stall-{request.param}"), env=env) as running:
        yield running


def freeze_when_deciding(stack: Stack, event_id: int, partition: int, frozen: list) -> None:
    """SIGSTOP the partition's current worker once the event's first decisions are in."""
    poll(
        lambda: stack.manage_json("event_report", str(event_id))["requests"]["confirmed"],
        timeout=60,
        interval=0.05,
        what="the first decisions",
    )
    pid = stack.partition_worker_pid(partition)
    os.kill(pid, signal.SIGSTOP)
    frozen.append((pid, time.time()))


def test_a_frozen_partition_worker_is_replaced_and_never_decides_again(stall_stack):
    """SIGSTOP the event's partition worker mid-crowd: its launcher sees the partition stall,
    kills it and starts another; every command is decided once, exactly capacity confirmed."""
    stack = stall_stack
    seed = stack.manage_json("seed_crowd", "--customers", str(CROWD), "--capacity", str(CAPACITY))
    event_id, partition = seed["events"][0], seed["partitions"][0]
    frozen: list[tuple[int, float]] = []
    freezer = threading.Thread(
        target=freeze_when_deciding, args=(stack, event_id, partition, frozen)
    )
    freezer.start()
    try:
        replies = flash_crowd(
            stack.base_url, [(t, event_id) for t in seed["tokens"]], concurrency=CROWD
        )
        freezer.join(60)
        assert frozen, "the partition worker was not stopped"
        (pid, stopped_at) = frozen[0]
        refused = door_refusals(replies)
        assert_exactly_capacity(settle(stack, event_id, timeout=120), CROWD, CAPACITY, refused)
        new_pid, _, acquired = poll(
            lambda: (o := owners(stack).get(partition)) and o[0] != pid and o,
            timeout=60,
            what="a new owner",
        )
        print(f"stuck worker replaced {acquired - stopped_at:.1f}s after SIGSTOP")
    finally:
        for pid, _ in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    # The frozen worker was killed (SIGCONT finds nothing to resume); its replacement owns.
    poll(
        lambda: stack.partition_worker_pid(partition) not in (None, pid),
        timeout=30,
        what="the frozen worker gone",
    )
    assert owners(stack)[partition][0] != pid
    assert_decided_once(stack, [event_id], CROWD - refused)
    stack.manage("check_invariants", "--pending-threshold", "60")


# --- several booking machines on PostgreSQL + Redis ----------------------------------------------


class Machine:
    """A booking machine: ``python -m workers run --partitions ... --no-general --no-beat`` in
    a process group of its own, sharing the stack's database and broker."""

    def __init__(self, stack: Stack, name: str, partitions: str):
        self.log_path = stack.data_dir / f"machine-{name}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "workers",
                    "run",
                    "--partitions",
                    partitions,
                    "--no-general",
                    "--no-beat",
                    "--log-level",
                    "WARNING",
                ],
                cwd=ROOT,
                env=stack.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def worker_pids(self) -> set[int]:
        listing = subprocess.run(["ps", "-eo", "pid,pgid,args"], capture_output=True, text=True)
        pids = set()
        for line in listing.stdout.splitlines()[1:]:
            pid, pgid, args = line.strip().split(None, 2)
            if int(pgid) == self.process.pid and " workers partition " in args:
                pids.add(int(pid))
        return pids

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(10)
        self.signal(signal.SIGKILL)


@pytest.fixture
def machines(servers, tmp_path):
    """The API, general worker and beat (no partition workers), and a way to add machines."""
    env = {**STALL_ENV, **servers["env"]}
    started: list[Machine] = []
    with Stack(tmp_path / "web", env=env, partitions="none") as stack:

        def machine(name: str, partitions: str) -> Machine:
            started.append(Machine(stack, name, partitions))
            return started[-1]

        try:
            yield stack, machine
        finally:
            for m in started:
                m.stop()


def spread_crowd(stack: Stack, per_event: int, capacity: int):
    seed = stack.manage_json(
        "seed_crowd", "--customers", str(8 * per_event), "--capacity", str(capacity)
    )
    events = events_on_every_partition(stack, capacity=capacity)
    jobs = [(t, events[i // per_event]) for i, t in enumerate(seed["tokens"])]
    return events, jobs


def all_owned_by(stack: Stack, machine: Machine, partitions) -> bool:
    current = owners(stack)
    pids = machine.worker_pids()
    return all(current.get(p, [None])[0] in pids for p in partitions)


@pytest.mark.servers
def test_a_paused_machine_loses_its_partitions_and_decides_nothing_when_it_resumes(machines):
    """Every partition worker of machine A is frozen (SIGSTOP on its process group) mid-crowd:
    standby machine B evicts them (terminates their sessions) and decides; when A resumes its
    workers find their partitions taken, exit, and stand by; nothing is decided twice."""
    stack, machine = machines
    a = machine("a", "all")
    poll(lambda: all_owned_by(stack, a, range(8)), timeout=60, what="A to own every partition")
    b = machine("b", "all")
    poll(lambda: len(b.worker_pids()) == 8, timeout=60, what="B's standbys")
    seed = stack.manage_json("seed_crowd", "--customers", str(CROWD), "--capacity", str(CAPACITY))
    event_id = seed["events"][0]
    paused: list[float] = []
    pauser = threading.Thread(
        target=lambda: (
            poll(
                lambda: stack.manage_json("event_report", str(event_id))["requests"]["confirmed"],
                timeout=60,
                interval=0.05,
                what="the first decisions",
            ),
            a.signal(signal.SIGSTOP),
            paused.append(time.time()),
        )
    )
    pauser.start()
    try:
        replies = flash_crowd(
            stack.base_url, [(t, event_id) for t in seed["tokens"]], concurrency=CROWD
        )
        pauser.join(60)
        assert paused
        refused = door_refusals(replies)
        assert_exactly_capacity(settle(stack, event_id, timeout=120), CROWD, CAPACITY, refused)
        poll(lambda: all_owned_by(stack, b, range(8)), timeout=60, what="B to own everything")
    finally:
        a.signal(signal.SIGCONT)
    # Resumed, A's workers find their sessions terminated and a newer generation: they exit
    # (and A's launcher restarts them, as standbys).
    poll(
        lambda: "exiting so the new owner alone decides" in a.log(),
        timeout=60,
        what="A's workers to give up",
    )
    time.sleep(STALL_SECONDS)  # let anything A might still do happen before checking
    assert all_owned_by(stack, b, range(8))
    assert_decided_once(stack, [event_id], CROWD - refused)
    stack.manage("check_invariants", "--pending-threshold", "60")


@pytest.mark.servers
def test_a_dead_machine_s_partitions_are_taken_over_by_the_standby(machines):
    """Machines A (partitions 0-3) and C (4-7) as in docker-compose.yml, B stands by for all
    eight; A's whole process group is SIGKILLed during a crowd over every partition: B takes
    0-3, every command is decided once, nothing is lost."""
    stack, machine = machines
    a, c = machine("a", "0-3"), machine("c", "4-7")
    poll(
        lambda: all_owned_by(stack, a, range(4)) and all_owned_by(stack, c, range(4, 8)),
        timeout=60,
        what="A and C to own their partitions",
    )
    b = machine("b", "all")
    poll(lambda: len(b.worker_pids()) == 8, timeout=60, what="B's standbys")
    events, jobs = spread_crowd(stack, per_event=10, capacity=5)
    killed: list[float] = []

    def kill_a():
        poll(
            lambda: stack.manage_json("event_report", *map(str, events))["requests"]["confirmed"],
            timeout=60,
            interval=0.05,
            what="the first decisions",
        )
        a.signal(signal.SIGKILL)
        killed.append(time.time())

    killer = threading.Thread(target=kill_a)
    killer.start()
    replies = flash_crowd(stack.base_url, jobs, concurrency=40)
    killer.join(60)
    assert killed
    refused = door_refusals(replies)

    poll(lambda: all_owned_by(stack, b, range(4)), timeout=60, what="B to take 0-3")
    takeover = max(owners(stack)[p][2] for p in range(4)) - killed[0]
    print(f"partitions 0-3 taken over {takeover:.1f}s after the machine died")
    assert all_owned_by(stack, c, range(4, 8))
    report = settle(stack, *events, timeout=120)
    assert report["requests"]["confirmed"] == 5 * len(events)
    assert report["requests"]["rejected"] == 5 * len(events) - refused
    assert_decided_once(stack, events, len(jobs) - refused)
    stack.manage("check_invariants", "--pending-threshold", "60")


@pytest.mark.servers
def test_the_lease_session_detects_a_dead_peer_within_half_a_minute(servers, tmp_path):
    stack = Stack(tmp_path, env=dict(servers["env"]))
    stack.manage("migrate", "--noinput", "-v", "0")
    settings = shell_json(
        stack,
        "import json\n"
        "from workers.leases import AdvisoryLease\n"
        "lease = AdvisoryLease('probe', key=99)\n"
        "assert lease.try_acquire()\n"
        "cursor = lease._conn.cursor()\n"
        "values = {}\n"
        "for name in ('tcp_keepalives_idle', 'tcp_keepalives_interval', "
        "'tcp_keepalives_count', 'tcp_user_timeout'):\n"
        "    cursor.execute('SHOW ' + name)\n"
        "    values[name] = cursor.fetchone()[0]\n"
        "print(json.dumps(values))\n",
    )
    assert settings == {
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "30000",
    }
