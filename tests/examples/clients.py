"""Run the example clients (examples/) as a user would: separate processes, over HTTP."""

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from devtools.stack import ROOT, poll

EXAMPLES = ROOT / "examples"


def run_book(*args: str, timeout: float = 120) -> tuple[int, dict, str]:
    """``examples/book.py`` to its end: exit status, the outcome it printed, what it logged."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "book.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"book.py printed no outcome (exit {done.returncode}):\n{done.stderr}"
    return done.returncode, json.loads(lines[-1]), done.stderr


class RunningReceiver:
    """``examples/webhook_receiver.py`` as a process; its JSON lines, as they come."""

    def __init__(self, *, port: int, secret: str, tmp: Path) -> None:
        self.stderr = open(tmp / "receiver.stderr", "w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "webhook_receiver.py"), "--port", str(port)],
            env={**os.environ, "WEBHOOK_SECRET": secret},
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.records: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()
        first = self.lines.get(timeout=30)
        assert first.startswith("listening on "), first
        self.url = first.removeprefix("listening on ").strip()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def _drain(self) -> list[dict]:
        while not self.lines.empty():
            self.records.append(json.loads(self.lines.get()))
        return self.records

    def wait_for(self, predicate, *, what: str, timeout: float = 60) -> dict:
        """The first record that satisfies ``predicate``, waiting for it to be printed."""
        return poll(
            lambda: next((r for r in self._drain() if predicate(r)), None),
            timeout=timeout,
            what=what,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.stderr.close()
