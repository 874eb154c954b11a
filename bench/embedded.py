"""The embedded default (``make run``: SQLite + the file-system broker, ``python -m workers run
--web``) under a crowd of distinct customers at one event; whether its ``202`` is durable (the
``PRAGMA synchronous`` its processes run with: FULL or EXTRA); and its footprint: processes and
their proportional set size (PSS, ``/proc/<pid>/smaps_rollup``: shared pages split among the
processes sharing them), idle and after the crowd."""

import time

from bench.clocks import SocketDecisionClock
from bench.cpu import descendants, processes
from bench.load import log, r3
from bench.scenarios import run_new, seed

# SQLite's synchronous levels: FULL (2) and EXTRA (3) sync the WAL at every commit, so a
# committed command survives a power loss; NORMAL (1) syncs it at checkpoints only.
SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
READ_SYNCHRONOUS = (
    "from django.db import connection\n"
    "with connection.cursor() as cursor:\n"
    "    cursor.execute('PRAGMA synchronous')\n"
    "    print(cursor.fetchone()[0])\n"
)


def pss_kb(pid: int) -> int | None:
    """The process's proportional set size in kB (None: gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def footprint(root_pid: int) -> dict:
    """Processes under ``root_pid`` (itself included) and their PSS summed, in MB."""
    pids = descendants(processes(), {root_pid})
    sizes = [kb for kb in (pss_kb(pid) for pid in pids) if kb is not None]
    return {"processes": len(sizes), "pss_mb": r3(sum(sizes) / 1024)}


def synchronous_level(stack) -> int:
    """``PRAGMA synchronous`` as the stack's settings open a connection (each process opens
    its own the same way)."""
    return int(stack.manage("shell", "-c", READ_SYNCHRONOUS).strip().splitlines()[-1])


def embedded_scenario(
    stack, *, customers: int, capacity: int, concurrency: int, meter, settle_seconds: float = 5
) -> tuple[dict, dict]:
    """The scenario's figures and the stack's footprint (idle, after the crowd)."""
    from bench.db import SqliteDb

    time.sleep(settle_seconds)  # the processes' start-up done: idle
    idle_footprint = footprint(stack.process.pid)
    level = synchronous_level(stack)
    log(
        f"scenario embedded: {customers} customers, capacity {capacity}, {concurrency} "
        f"connections, SQLite synchronous={SYNCHRONOUS.get(level, level)}; idle: "
        f"{idle_footprint['processes']} processes, {idle_footprint['pss_mb']} MB PSS"
    )
    seeded = seed(stack, customers=customers, capacity=capacity, events=1)
    event = seeded["events"][0]
    db = SqliteDb(stack.data_dir / "db.sqlite3")
    jobs = [(t, event) for t in seeded["tokens"]]
    time.sleep(1)
    with SocketDecisionClock(stack.data_dir / "waiters") as clock:
        new = run_new(
            stack.base_url, db, jobs, [event], concurrency, 120, meter, lambda **kw: 0.0, clock
        )
    new["synchronous"] = SYNCHRONOUS.get(level, str(level))
    new["durable"] = level >= 2
    after = footprint(stack.process.pid)
    log(
        f"  embedded: answered {new['answered_per_second']}/s ({new['accepted_202']} x 202 at "
        f"{new['accepted_202_per_second']}/s), p99 to 202 {new['seconds_to_202']['p99']}s, "
        f"5xx {new['server_errors_5xx']}, confirmed {new['confirmed']}/{capacity}, durable "
        f"{new['durable']}; after: {after['processes']} processes, {after['pss_mb']} MB PSS"
    )
    scenario = {
        "requests": customers,
        "capacity": capacity,
        "events": 1,
        "concurrency": concurrency,
        "new": new,
    }
    found = {
        "processes": idle_footprint["processes"],
        "pss_mb_idle": idle_footprint["pss_mb"],
        "processes_after_crowd": after["processes"],
        "pss_mb_after_crowd": after["pss_mb"],
        "how": "python -m workers run --web (the embedded default's processes), PSS summed "
        "from /proc/<pid>/smaps_rollup over the launcher and every process under it",
    }
    return scenario, found
