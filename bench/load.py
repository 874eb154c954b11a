"""The load generator: a flash crowd of distinct customers, each POSTing one booking, from many
concurrent keep-alive connections (wrk, scripted by ``crowd.lua``: it costs the machine a few
percent of what the server spends, which the report shows); and the small statistics the report
uses."""

import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[int(q) - 1]


def r3(value):
    return None if value is None else round(value, 3)


@dataclass
class Answer:
    """One request as the load generator saw it."""

    status: int
    sent: float  # wall clock, seconds
    received: float
    id: str | None  # the request's id (202) or the booking's (201), from the body
    code: str | None  # error.code of a 4xx
    queries: int | None  # Bench-Queries: SQL statements the request sent
    lock_hold: float | None  # old design: seconds it held the event's row lock
    lock_statements: int | None  # old design: statements sent while holding it
    preference_applied: str | None  # Prefer: wait honoured ("wait=10") or not (None)

    @property
    def seconds(self) -> float:
        return self.received - self.sent


@dataclass
class Load:
    answers: list[Answer] = field(default_factory=list)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # CPU the load generator itself used (user + system), for its share of the machine.
    cpu_seconds: float = 0.0

    @property
    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for answer in self.answers:
            counts[answer.status] = counts.get(answer.status, 0) + 1
        return counts

    @property
    def latencies(self) -> list[float]:
        return [a.seconds for a in self.answers]

    @property
    def sent_at(self) -> dict[str, float]:
        """Request id -> when its POST was sent (202s: joins the decision's time)."""
        return {a.id: a.sent for a in self.answers if a.status == 202 and a.id}

    @property
    def count(self) -> int:
        return len(self.answers) + self.errors

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)


LUA = Path(__file__).with_name("crowd.lua")
WRK_INSTALL = "apt-get install -y wrk"


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def _maybe(value: str, cast):
    return None if value in ("-", "") else cast(value)


def drive(
    base_url: str,
    path: str,
    jobs: list[tuple[str, int]],
    concurrency: int,
    label: str,
    *,
    prefer: str | None = None,
    timeout: float = 900.0,
) -> Load:
    """POST one booking per (token, event id) from ``concurrency`` keep-alive connections, with
    wrk (a C load generator, scripted by bench/crowd.lua: one connection per thread, so each
    answer is matched with its request)."""
    concurrency = max(1, min(concurrency, len(jobs)))
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        folder = Path(tmp)
        (folder / "jobs.txt").write_text("".join(f"{t} {e}\n" for t, e in jobs))
        argv = [
            wrk_binary() or "wrk",
            "-t",
            str(concurrency),
            "-c",
            str(concurrency),
            "-d",
            f"{int(timeout)}s",
            "--timeout",
            "120s",
            "-s",
            str(LUA),
            base_url,
            "--",
            str(folder / "jobs.txt"),
            str(folder),
            path,
            str(concurrency),
            prefer or "",
        ]
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = started + timeout
        done = 0
        last_report = started
        try:
            while time.monotonic() < deadline and process.poll() is None:
                done = len(list(folder.glob("thread-*.tsv")))
                if done >= concurrency:
                    break
                if time.monotonic() - last_report >= 5:
                    last_report = time.monotonic()
                    log(f"  {label}: {done}/{concurrency} connections done")
                time.sleep(0.05)
        except BaseException:  # SIGTERM, Ctrl-C: the load generator stops with the bench
            process.kill()
            process.wait()
            raise
        # wrk runs for its duration unless interrupted; every thread has stopped by now.
        process.send_signal(signal.SIGINT)
        _, exit_status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(exit_status)
        output = process.stdout.read().decode(errors="replace")
        process.stdout.close()
        load = Load(cpu_seconds=usage.ru_utime + usage.ru_stime)
        for part in sorted(folder.glob("thread-*.tsv")):
            for line in part.read_text().splitlines():
                fields = line.split("\t")
                status, sent, received, ident, code, queries, hold, statements, applied = fields
                load.answers.append(
                    Answer(
                        status=int(status),
                        sent=int(sent) / 1e6,
                        received=int(received) / 1e6,
                        id=_maybe(ident, str),
                        code=_maybe(code, str),
                        queries=_maybe(queries, int),
                        lock_hold=_maybe(hold, lambda v: int(v) / 1e6),
                        lock_statements=_maybe(statements, int),
                        preference_applied=_maybe(applied, str),
                    )
                )
    missing = len(jobs) - len(load.answers)
    if missing:
        load.errors = missing
        load.error_kinds["no answer"] = missing
        log(f"  {label}: {missing} requests without an answer; wrk said:\n{output[-2000:]}")
    if load.answers:
        first = min(a.sent for a in load.answers)
        load.seconds = max(a.received for a in load.answers) - first
    log(f"  {label}: {len(load.answers)} answers in {load.seconds:.1f}s")
    return load
