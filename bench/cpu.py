"""CPU time by process group, from /proc: what each part of the system spent during a load.

A group is a set of root processes (the web server, the partition workers, PostgreSQL, ...) and
their descendants. A process's CPU is ``utime + stime`` of itself plus ``cutime + cstime``: the
time of children it has already reaped (PostgreSQL backends that exited, for example), so a
delta between two snapshots counts every process that ran in between, once.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    cmdline: str
    ticks: int  # utime + stime + cutime + cstime


def _read(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm is in parentheses and may contain spaces: split after the last ')'.
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is state (field 3); utime..cstime are fields 14-17 (index 11-14 here).
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return Proc(pid, int(fields[1]), comm, cmdline, utime + stime + cutime + cstime)


def processes() -> dict[int, Proc]:
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            proc = _read(int(name))
            if proc is not None:
                found[proc.pid] = proc
    return found


def descendants(procs: dict[int, Proc], roots: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    seen, todo = set(), [pid for pid in roots if pid in procs]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, []))
    return seen


Classifier = Callable[[Proc], str | None]


class CpuMeter:
    """Snapshots of CPU ticks per process of the trees under ``roots``, by group.

    ``classify`` names the group of a process (None: look at its parent's group). A delta is
    taken per process. A process that exits between two snapshots reappears, whole life, in its
    parent's ``cutime`` once reaped (a PostgreSQL backend in the postmaster's group, a restarted
    worker in the launcher's): what it had spent before the first snapshot is taken off again,
    or a long-lived database connection closed during a run would bring every earlier run's
    CPU into this one (seen as 4 ms of PostgreSQL CPU per request, against 1, in some runs)."""

    def __init__(self, roots: Callable[[], set[int]], classify: Classifier):
        self.roots = roots
        self.classify = classify

    def snapshot(self) -> dict[int, tuple[str, int]]:
        procs = processes()
        mine = descendants(procs, self.roots())
        return {pid: (self._group(procs, pid, mine), procs[pid].ticks) for pid in mine}

    def _group(self, procs: dict[int, Proc], pid: int, mine: set[int]) -> str:
        while pid in mine:
            group = self.classify(procs[pid])
            if group is not None:
                return group
            pid = procs[pid].ppid
        return "other"

    @staticmethod
    def delta_ms(before: dict, after: dict) -> dict[str, float]:
        totals: dict[str, int] = {}
        for pid, (group, ticks) in after.items():
            earlier = before.get(pid)
            spent = ticks - earlier[1] if earlier and earlier[0] == group else ticks
            totals[group] = totals.get(group, 0) + spent
        for pid, (group, ticks) in before.items():
            if pid not in after and group in totals:  # reaped: counted in its parent's cutime
                totals[group] -= ticks
        return {g: round(t * 1000 / TICKS_PER_SECOND, 1) for g, t in sorted(totals.items())}
