"""The whole service as real processes on 127.0.0.1: migrate, then ``python -m workers run
--web`` (gunicorn + the partition workers + the general worker + beat), stopped
and reaped at the end. The integration tests and the benchmark both drive it."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from workers.routing import partitions_in

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_processes(pgid: int) -> dict[int, str]:
    """{pid: full command line} of every process in a process group, from ``ps``. ``-ww``:
    without it ``ps`` cuts each line at ``$COLUMNS`` (80 on many CI machines), and a command
    under a long checkout path loses the words the callers look for."""
    listing = subprocess.run(["ps", "-ww", "-eo", "pid,pgid,args"], capture_output=True, text=True)
    found = {}
    for line in listing.stdout.splitlines()[1:]:
        pid, group, args = line.strip().split(None, 2)
        if int(group) == pgid:
            found[int(pid)] = args
    return found


def poll(predicate, *, timeout: float, interval: float = 0.1, what: str = "a condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Stack:
    data_dir: Path
    env: dict = field(default_factory=dict)
    partitions: str = "all"
    web_workers: int = 2
    web_threads: int = 16
    log_level: str = "WARNING"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DATA_DIR": str(self.data_dir),
                "BOOKING_SWEEP_AFTER_SECONDS": "2",
                "BOOKING_SWEEP_INTERVAL_SECONDS": "1",
                "LOG_LEVEL": self.log_level,
                # The tests' webhook receiver listens on 127.0.0.1.
                "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
                "WEBHOOK_ALLOWED_PORTS": "*",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env)
        return env

    def manage(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:  # what it printed too: check_invariants names its breaches there
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        return done.stdout

    def manage_json(self, *args: str) -> dict:
        return json.loads(self.manage(*args).strip().splitlines()[-1])

    def start(self) -> "Stack":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput", "-v", "0")
        self.log_path = self.data_dir / "stack.log"
        argv = [
            sys.executable,
            "-m",
            "workers",
            "run",
            "--partitions",
            self.partitions,
            "--web",
            f"127.0.0.1:{self.port}",
            "--web-workers",
            str(self.web_workers),
            "--web-threads",
            str(self.web_threads),
            "--log-level",
            self.log_level,
        ]
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the handle
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # Generous: on a loaded 2-core machine twelve processes can take a while to come up.
        try:
            poll(self._healthy, timeout=120, what="the API's /health/")
        except BaseException:
            # ``with Stack(...)`` does not call __exit__ when __enter__ fails: stop it here, or
            # its processes outlive the test and hold the partitions' leases of its data folder.
            self.stop()
            raise
        return self

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the stack exited early:\n{self.log()[-3000:]}")
        try:
            return httpx.get(f"{self.base_url}/health/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def partition_worker_pid(self, partition: int) -> int | None:
        """The pid of this stack's worker process for a partition (``-m workers partition 3``,
        or a group's ``-m workers partition 0-7``), read from ``ps`` (only in this stack's
        process group: other stacks may run on the same machine)."""
        for pid, args in group_processes(self.process.pid).items():
            _, command, spec = args.partition("-m workers partition ")
            if command and partition in partitions_in(spec):
                return pid
        return None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        # Children the launcher could not reap in time.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def shell_json(stack: Stack, code: str) -> object:
    """Run Python in a Django shell of the stack's environment; the code prints one JSON line."""
    return json.loads(stack.manage("shell", "-c", code).strip().splitlines()[-1])
