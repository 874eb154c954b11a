"""A stuck partition worker is replaced; one that resumes after losing its partition decides
nothing; a machine that dies hands its partitions to a standby. Stall detection is shortened
to BOOKING_STALL_SECONDS=6 here (30 by default).

Each fault strikes with commands pending on the partitions it hits (sent once the faulty
owner can no longer decide them), and the tests read from the commands' rows that those were
decided after the successor took over, and that nothing was decided between the fault and the
takeover."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from devtools.stack import ROOT, Stack, group_processes, poll, shell_json
from tests.integration.crowd import (
    assert_exactly_capacity,
    decision_counts,
    events_on_every_partition,
    flash_crowd,
    settle,
)

STALL_SECONDS = 6
STALL_ENV = {"BOOKING_STALL_SECONDS": str(STALL_SECONDS)}
# The first wave cannot fill the event (FIRST_WAVE < CAPACITY): none of the rest, sent once the
# owner is frozen, is refused at the door, so they are all pending until the successor decides.
CROWD, CAPACITY, FIRST_WAVE = 60, 30, 20

OWNERS = """
import json
from apps.partitions.selectors import partition_owners
print(json.dumps({o.partition: [o.pid, o.generation, o.acquired_at.timestamp()]
                  for o in partition_owners() if o.heartbeat_at is not None}))
"""


COMMAND_TIMES = """
import json
from apps.bookings.models import BookingRequest
print(json.dumps([[c.timestamp(), d and d.timestamp()] for c, d in BookingRequest.objects.filter(
    event_id__in={event_ids}).values_list("created_at", "decided_at")]))
"""


def decided_by_the_successor(
    stack: Stack, events: list[int], fault_at: float, taken_over_at: float
) -> int:
    """How many of the events' commands were recorded before the fault's successor took over,
    still pending after the fault, and decided after the takeover (by the successor). Asserts
    that every command is decided and none was decided between the fault and the takeover."""
    times = shell_json(stack, COMMAND_TIMES.format(event_ids=list(events)))
    assert [c for c, d in times if d is None] == []
    assert [d for _, d in times if fault_at < d < taken_over_at] == []
    return sum(1 for c, d in times if c < taken_over_at and d >= max(fault_at, taken_over_at))


def process_state(pid: int) -> str | None:
    """The kernel's state letter for a process (T: stopped), None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def stopped(pids) -> float:
    """Once every process is stopped (SIGSTOP delivered): the time."""
    poll(lambda: all(process_state(p) in ("T", None) for p in pids), timeout=10, interval=0.01)
    return time.time()


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


def first_decisions(stack: Stack, *events: int) -> None:
    poll(
        lambda: stack.manage_json("event_report", *map(str, events))["requests"]["confirmed"],
        timeout=60,
        interval=0.05,
        what="the first decisions",
    )


def test_a_frozen_partition_worker_is_replaced_and_never_decides_again(stall_stack):
    """SIGSTOP the event's partition worker once it has decided some of a crowd, then the rest
    of the crowd comes: its launcher sees the partition stall, kills it and starts another,
    which decides what the frozen one left; every command is decided once, exactly capacity
    confirmed."""
    stack = stall_stack
    seed = stack.manage_json("seed_crowd", "--customers", str(CROWD), "--capacity", str(CAPACITY))
    event_id, partition = seed["events"][0], seed["partitions"][0]
    jobs = [(t, event_id) for t in seed["tokens"]]
    replies = flash_crowd(stack.base_url, jobs[:FIRST_WAVE], concurrency=FIRST_WAVE)
    first_decisions(stack, event_id)
    pid = stack.partition_worker_pid(partition)
    os.kill(pid, signal.SIGSTOP)
    try:
        stopped_at = stopped([pid])
        rest = flash_crowd(stack.base_url, jobs[FIRST_WAVE:], concurrency=CROWD)
        assert door_refusals(rest) == 0  # all recorded, pending behind the frozen owner
        replies += rest
        refused = door_refusals(replies)
        assert_exactly_capacity(settle(stack, event_id, timeout=120), CROWD, CAPACITY, refused)
        new_pid, _, acquired = poll(
            lambda: (o := owners(stack).get(partition)) and o[0] != pid and o,
            timeout=60,
            what="a new owner",
        )
        print(f"stuck worker replaced {acquired - stopped_at:.1f}s after SIGSTOP")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    # Everything sent after the freeze was pending then, and decided by the replacement.
    assert decided_by_the_successor(stack, [event_id], stopped_at, acquired) >= len(rest)
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
        group = group_processes(self.process.pid)
        return {pid for pid, args in group.items() if " workers partition " in args}

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
    event_id, partition = seed["events"][0], seed["partitions"][0]
    jobs = [(t, event_id) for t in seed["tokens"]]
    replies = flash_crowd(stack.base_url, jobs[:FIRST_WAVE], concurrency=FIRST_WAVE)
    first_decisions(stack, event_id)
    frozen = a.worker_pids()
    a.signal(signal.SIGSTOP)
    try:
        paused_at = stopped(frozen)
        rest = flash_crowd(stack.base_url, jobs[FIRST_WAVE:], concurrency=CROWD)
        assert door_refusals(rest) == 0  # all recorded, pending behind the paused owner
        replies += rest
        refused = door_refusals(replies)
        assert_exactly_capacity(settle(stack, event_id, timeout=120), CROWD, CAPACITY, refused)
        poll(lambda: all_owned_by(stack, b, range(8)), timeout=60, what="B to own everything")
        taken_over_at = owners(stack)[partition][2]
    finally:
        a.signal(signal.SIGCONT)
    # Resumed, A's workers find their sessions terminated and a newer generation: they exit
    # (and A's launcher restarts them, as standbys). Once every paused process is gone, nothing
    # of A's can decide any more: only then are the decisions counted.
    poll(
        lambda: "exiting so the new owner alone decides" in a.log(),
        timeout=60,
        what="A's workers to give up",
    )
    poll(lambda: not frozen & a.worker_pids(), timeout=60, what="every paused worker gone")
    assert all_owned_by(stack, b, range(8))
    assert decided_by_the_successor(stack, [event_id], paused_at, taken_over_at) >= len(rest)
    assert_decided_once(stack, [event_id], CROWD - refused)
    stack.manage("check_invariants", "--pending-threshold", "60")


@pytest.mark.servers
def test_a_dead_machine_s_partitions_are_taken_over_by_the_standby(machines):
    """Machines A (partitions 0-3) and C (4-7) as in docker-compose.yml, B stands by for all
    eight; during a crowd over every partition, A's whole process group is SIGKILLed with
    commands pending on each of its partitions: B takes 0-3 and decides them, every command is
    decided once, nothing is lost."""
    stack, machine = machines
    a, c = machine("a", "0-3"), machine("c", "4-7")
    poll(
        lambda: all_owned_by(stack, a, range(4)) and all_owned_by(stack, c, range(4, 8)),
        timeout=60,
        what="A and C to own their partitions",
    )
    b = machine("b", "all")
    poll(lambda: len(b.worker_pids()) == 8, timeout=60, what="B's standbys")
    events, jobs = spread_crowd(stack, per_event=10, capacity=5)  # events[p] is on partition p
    customers = [jobs[10 * n : 10 * (n + 1)] for n in range(len(events))]
    first = [job for mine in customers for job in mine[:2]]  # 2 of 5 seats: none full yet
    # Sent while A's workers are frozen (SIGSTOP, an instant before the SIGKILL, far less than
    # the stall period after which B would evict them): pending on A's partitions when A dies.
    before_death = [job for mine in customers[:4] for job in mine[2:5]]
    rest = [job for mine in customers[:4] for job in mine[5:]]
    rest += [job for mine in customers[4:] for job in mine[2:]]

    replies = flash_crowd(stack.base_url, first, concurrency=len(first))
    first_decisions(stack, *events)
    doomed = a.worker_pids()
    a.signal(signal.SIGSTOP)
    stopped(doomed)
    pending = flash_crowd(stack.base_url, before_death, concurrency=len(before_death))
    a.signal(signal.SIGKILL)
    poll(lambda: not doomed & a.worker_pids(), timeout=30, what="A's workers dead")
    killed_at = time.time()
    assert door_refusals(pending) == 0
    replies += pending + flash_crowd(stack.base_url, rest, concurrency=40)
    refused = door_refusals(replies)

    poll(lambda: all_owned_by(stack, b, range(4)), timeout=60, what="B to take 0-3")
    taken_over = {p: owners(stack)[p][2] for p in range(4)}
    print(f"partitions 0-3 taken over {max(taken_over.values()) - killed_at:.1f}s after A died")
    assert all_owned_by(stack, c, range(4, 8))
    report = settle(stack, *events, timeout=120)
    assert report["requests"]["confirmed"] == 5 * len(events)
    assert report["requests"]["rejected"] == 5 * len(events) - refused
    for p in range(4):  # what was pending when A died, B decided
        assert decided_by_the_successor(stack, [events[p]], killed_at, taken_over[p]) >= 3
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


@pytest.mark.servers
def test_a_standby_waits_for_a_database_that_does_not_answer_and_takes_the_lease_after(
    servers, tmp_path
):
    """A PostgreSQL restart ends every lease session: the workers exit and start again as
    standbys while the database is still refusing connections. Their lease answers "not
    yet" (it does not raise, which would exit the process into a growing restart back-off)."""
    stack = Stack(tmp_path, env=dict(servers["env"]))
    stack.manage("migrate", "--noinput", "-v", "0")
    found = shell_json(
        stack,
        "import json\n"
        "from django.conf import settings\n"
        "from devtools.stack import free_port\n"
        "from workers.leases import AdvisoryLease\n"
        "db = settings.DATABASES['default']\n"
        "real = db['PORT']\n"
        "db['PORT'] = free_port()  # nobody listens there: refused, like a restarting server\n"
        "lease = AdvisoryLease('probe', key=97)\n"
        "away = [lease.try_acquire() for _ in range(3)]\n"
        "db['PORT'] = real\n"
        "print(json.dumps({'away': away, 'back': lease.try_acquire()}))\n",
    )
    assert found == {"away": [False, False, False], "back": True}
