"""The fault schedule, drawn from the seed, and the injectors that carry it out on the real
processes. The same seed gives the same schedule (kinds, order, targets, durations, gaps); only
the pids hit are the ones found at the time.

Faults run one after another: each takes its time (a SIGSTOP lasts until the watchdog has
replaced the frozen worker, a network cut until the standby has taken the machine's partitions
over and some more), then a gap drawn from the seed."""

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

from chaos.topology import PARTITIONS, ROOT, STALL_SECONDS, Topology
from devtools.servers import postgres_binaries
from devtools.stack import poll

KINDS = (
    "kill_partition_worker",
    "stop_partition_worker",
    "kill_web_worker",
    "stop_web_worker",
    "kill_beat",
    "stop_beat",
    "kill_machine",
    "stop_machine",
    "restart_redis",
    "restart_postgres",
    "rogue_decider",
    "network_cut",
    "repartition",
)
# Seconds each kind takes, for planning how many fit in a run (the run takes what it takes).
PLANNED_SECONDS = {
    "kill_partition_worker": 4,
    "stop_partition_worker": 12,  # + the stall time
    "kill_web_worker": 3,
    "stop_web_worker": 5,
    "kill_beat": 4,
    "stop_beat": 6,
    "kill_machine": 8,
    "stop_machine": 14,  # + the stall time
    "restart_redis": 6,
    "restart_postgres": 10,
    "rogue_decider": 6,
    "network_cut": 15,  # + the stall time
    "repartition": 50,  # two moves and two restarts of every machine
}
# Not injected by this harness, whatever the machine: why.
NEVER_INJECTED: dict[str, str] = {}
# On the embedded default (one machine, no servers): the kinds that exist there, and why not the
# others.
NOT_EMBEDDED = {
    "stop_machine": "one machine: no standby to take over while it is frozen",
    "restart_redis": "no Redis: the embedded broker is files under DATA_DIR",
    "restart_postgres": "no PostgreSQL: SQLite runs inside each process",
    "network_cut": "one machine: no network between its parts",
    "repartition": "covered on the scaled profile (the same command and the same moves)",
}
EMBEDDED_KINDS = tuple(kind for kind in KINDS if kind not in NOT_EMBEDDED)


@dataclass
class Planned:
    kind: str
    target: str  # "a"/"b" (machine), a partition number, "hot", "" (none)
    option: str  # per kind: rogue "none"/"stale"; network_cut seconds
    gap: float  # seconds of calm before it


@dataclass
class Injected:
    kind: str
    target: str
    started: float
    ended: float
    partitions: list[int]
    detail: str = ""


STALLING = ("stop_partition_worker", "stop_machine", "network_cut")


def plan(
    seed: int,
    duration: float,
    *,
    cut_possible: bool,
    stall_seconds: float = STALL_SECONDS,
    kinds: tuple[str, ...] = KINDS,
) -> list[Planned]:
    """The schedule for ``seed``: every kind in a seeded order (the network cut first when it
    can be done, being the longest), as many rounds as fit in ``duration``."""
    rng = random.Random(seed)
    one_machine = "stop_machine" not in kinds
    kinds = [k for k in kinds if cut_possible or k != "network_cut"]
    schedule: list[Planned] = []
    used = 0.0
    while True:
        order = [k for k in kinds if k != "network_cut"]
        rng.shuffle(order)
        if "network_cut" in kinds:
            order.insert(0 if not schedule else rng.randrange(len(order) + 1), "network_cut")
        for kind in order:
            gap = round(rng.uniform(2.0, 6.0), 1)
            target, option = _target(rng, kind)
            if one_machine and kind == "kill_machine":
                target = "a"
            cost = gap + PLANNED_SECONDS[kind] + (stall_seconds if kind in STALLING else 0)
            if used + cost > duration:
                return schedule
            schedule.append(Planned(kind, target, option, gap))
            used += cost


def _target(rng: random.Random, kind: str) -> tuple[str, str]:
    if kind in ("kill_partition_worker", "stop_partition_worker"):
        return str(rng.randrange(PARTITIONS)), ""
    if kind in ("kill_machine", "stop_machine", "network_cut"):
        return rng.choice("ab"), "30" if kind == "network_cut" else ""
    if kind == "rogue_decider":
        return "hot", rng.choice(("none", "stale"))
    return "", ""


@dataclass
class Injector:
    topology: Topology
    hot_partition: int
    log: list[Injected] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def run(self, schedule: list[Planned], until: float) -> None:
        for planned in schedule:
            time.sleep(planned.gap)
            if time.time() >= until:
                return
            started = time.time()
            try:
                partitions, detail = getattr(self, planned.kind)(planned)
            except _Skip as why:
                self.skipped.setdefault(planned.kind, str(why))
                continue
            except Exception as exc:  # noqa: BLE001 - the run goes on; the JSON says what failed
                partitions, detail = [], f"injection failed: {exc!r}"[:300]
            self.log.append(
                Injected(planned.kind, planned.target, started, time.time(), partitions, detail)
            )
            print(
                f"[chaos {time.strftime('%H:%M:%S')}] {planned.kind} {planned.target} {detail}",
                flush=True,
            )

    # --- processes ------------------------------------------------------------------------

    def _owner_pid(self, partition: int) -> int:
        def live_owner():
            # After a restart the row can still name a worker that has exited.
            owner = self.topology.owners().get(partition)
            return owner if owner and _alive(owner[0]) else None

        return poll(live_owner, timeout=60, what=f"a live owner of partition {partition}")[0]

    def _wait_replaced(self, partition: int, pid: int, timeout: float) -> bool:
        try:
            poll(
                lambda: self.topology.owners().get(partition, (pid,))[0] != pid,
                timeout=timeout,
                interval=0.2,
                what=f"partition {partition} taken over",
            )
            return True
        except TimeoutError:
            return False

    def kill_partition_worker(self, planned: Planned):
        partition = int(planned.target)
        pid = self._owner_pid(partition)
        os.kill(pid, signal.SIGKILL)
        replaced = self._wait_replaced(partition, pid, 30)
        return [partition], f"pid {pid}, replaced={replaced}"

    def stop_partition_worker(self, planned: Planned):
        partition = int(planned.target)
        pid = self._owner_pid(partition)
        os.kill(pid, signal.SIGSTOP)
        # SIGCONT only after the watchdog has replaced it: a resumed worker must decide nothing.
        replaced = self._wait_replaced(partition, pid, self.topology.stall_seconds * 5)
        _signal(pid, signal.SIGCONT)
        return [partition], f"pid {pid}, replaced={replaced} before SIGCONT"

    def _one_child(self, launcher, needle: str) -> int:
        pids = launcher.children(needle)
        if not pids:
            raise _Skip(f"no process matching {needle!r} found")
        return pids[-1]

    def _web_worker(self) -> int:
        # gunicorn's master is the control launcher's child; its workers are the master's.
        masters = self.topology.control.children("gunicorn")
        workers = [p for p in masters if _parent(p) in masters]
        if not workers:
            raise _Skip("no gunicorn worker found")
        return workers[0]

    def kill_web_worker(self, planned: Planned):
        pid = self._web_worker()
        os.kill(pid, signal.SIGKILL)
        return [], f"pid {pid}"

    def stop_web_worker(self, planned: Planned):
        pid = self._web_worker()
        os.kill(pid, signal.SIGSTOP)
        time.sleep(3)
        _signal(pid, signal.SIGCONT)
        return [], f"pid {pid} for 3 s"

    def kill_beat(self, planned: Planned):
        pid = self._one_child(self.topology.control, " beat ")
        os.kill(pid, signal.SIGKILL)
        return [], f"pid {pid}"

    def stop_beat(self, planned: Planned):
        pid = self._one_child(self.topology.control, " beat ")
        os.kill(pid, signal.SIGSTOP)
        time.sleep(4)
        _signal(pid, signal.SIGCONT)
        return [], f"pid {pid} for 4 s"

    def _machine(self, name: str):
        return self.topology.booking["ab".index(name)]

    def _owned_by(self, launcher) -> dict[int, int]:
        """partition -> owner pid, for the partitions the launcher's workers own now (a
        standby may own some of the machine's own partitions after earlier faults)."""
        mine = set(launcher.children(""))
        return {p: pid for p, (pid, _) in self.topology.owners().items() if pid in mine}

    def kill_machine(self, planned: Planned):
        launcher = self._machine(planned.target)
        owned = self._owned_by(launcher)
        launcher.kill()
        time.sleep(5)  # down for a while, then it boots again (and stands by)
        launcher.start()
        return sorted(owned), "every process, restarted after 5 s"

    def stop_machine(self, planned: Planned):
        launcher = self._machine(planned.target)
        frozen = self._owned_by(launcher)
        os.killpg(launcher.process.pid, signal.SIGSTOP)
        partitions = sorted(frozen)
        replaced = all(
            self._wait_replaced(p, pid, self.topology.stall_seconds * 6)
            for p, pid in frozen.items()
        )
        os.killpg(launcher.process.pid, signal.SIGCONT)
        return partitions, f"replaced={replaced} before SIGCONT"

    # --- servers ------------------------------------------------------------------------------

    def restart_redis(self, planned: Planned):
        self.topology.redis.halt()
        time.sleep(1)
        self.topology.redis.start()
        return list(range(PARTITIONS)), ""

    def restart_postgres(self, planned: Planned):
        pg = self.topology.postgres
        pg_ctl = (postgres_binaries() or {}).get("pg_ctl")
        if pg_ctl is None:
            raise _Skip("pg_ctl not found")
        # -l: the new postmaster writes to its log, not to a pipe of ours it would hold open.
        argv = [
            pg_ctl,
            "-D",
            str(pg.root / "data"),
            "-l",
            str(pg.root / "server.log"),
            "-m",
            "immediate",
            "-w",
            "-t",
            "60",
            "restart",
        ]
        done = subprocess.run(
            pg._cmd(argv),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=90,
            cwd=pg.root,
        )
        if done.returncode != 0:
            return list(range(PARTITIONS)), f"pg_ctl restart failed: {done.stderr[-300:]}"
        poll(
            lambda: self.topology.owners() is not None and _answers(self.topology),
            timeout=60,
            what="PostgreSQL back",
        )
        return list(range(PARTITIONS)), ""

    # --- the partition count -----------------------------------------------------------------

    def repartition(self, planned: Planned):
        """8 -> 4 -> 8 under load: events move to their partition among 4 through their owners,
        every machine restarts with 4; a phase of workload; the same back to 8."""
        before = self.topology.partitions
        halved = self.topology.repartition(before // 2)
        time.sleep(8)  # a phase on half the partitions
        restored = self.topology.repartition(before)
        return list(range(before)), f"to {before // 2}: {halved}; back to {before}: {restored}"

    # --- a second decider ----------------------------------------------------------------------

    def rogue_decider(self, planned: Planned):
        """A process that decides a partition it does not own, for a few seconds: with no
        generation (an operator's shell) or with the generation before the owner's."""
        partition = self.hot_partition
        generation = "none"
        if planned.option == "stale":
            owner = self.topology.owners().get(partition)
            generation = str(max(0, owner[1] - 1)) if owner else "0"
        done = subprocess.run(
            [sys.executable, "-m", "chaos.rogue", str(partition), generation, "4"],
            cwd=ROOT,
            env=self.topology.env_for() | {"DATA_DIR": str(self.topology.data_dir_for("rogue"))},
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = (done.stdout.strip().splitlines() or [done.stderr.strip()[-200:]])[-1]
        return [], f"partition {partition}, generation {generation}: {said}"

    # --- the network --------------------------------------------------------------------------

    def network_cut(self, planned: Planned):
        if not self.topology.machines:
            raise _Skip(f"no network namespaces: {self.topology.namespace_skip}")
        machine = self.topology.machines["ab".index(planned.target)]
        cut_off = self._owned_by(self._machine(planned.target))
        partitions = sorted(cut_off)
        machine.cut()
        taken = all(
            self._wait_replaced(p, pid, int(planned.option) + 60) for p, pid in cut_off.items()
        )
        time.sleep(5)  # a while more cut off, then back: it must decide nothing, nor twice
        machine.mend()
        return partitions, f"taken over={taken}, link down for the takeover + 5 s"


class _Skip(Exception):
    pass


def _answers(topology: Topology) -> bool:
    try:
        return topology.sql("SELECT 1") == [(1,)]
    except Exception:  # noqa: BLE001 - still starting
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def describe(schedule: list[Planned]) -> list[dict]:
    return [asdict(p) for p in schedule]
