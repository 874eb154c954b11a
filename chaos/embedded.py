"""The embedded default under faults (``python -m chaos --embedded``): one machine running
``python -m workers run --web`` as ``make run`` does (SQLite, the file-system broker, every
partition in one worker process), driven and checked like the scaled profile. Only the faults
that exist on one machine with no servers apply (``faults.EMBEDDED_KINDS``)."""

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from chaos.receiver import Receiver
from chaos.topology import SERVICE_ENV, Launcher, Topology


@dataclass
class EmbeddedTopology(Topology):
    vendor: str = "sqlite"

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    def env_for(self, host: str = "127.0.0.1") -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
        for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"):  # the defaults: files
            env.pop(name, None)
        env.update(SERVICE_ENV)
        env["BOOKING_STALL_SECONDS"] = f"{self.stall_seconds:g}"
        return env

    def data_dir_for(self, role: str) -> Path:
        return self.data_dir  # one machine: every process shares the database and the broker

    def start(self) -> "EmbeddedTopology":
        self.namespace_skip = "one machine: the embedded default has no network between parts"
        migrated = self.manage("migrate", "--noinput", "-v", "0")
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed: {migrated.stdout}{migrated.stderr}")
        self.receiver = Receiver().start()
        self.control = Launcher(
            "machine",
            ["--web", f"127.0.0.1:{self.port}", "--web-workers", "2", "--web-threads", "8"],
            self.data_dir,
            self.env_for() | {"LOG_LEVEL": "INFO"},
        ).start()
        self.booking = [self.control]  # "machine a" is the whole service
        self._wait_ready()
        return self

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        conn = sqlite3.connect(self.data_dir / "db.sqlite3", timeout=30)
        try:
            return conn.execute(query, params or []).fetchall()
        finally:
            conn.close()

    def launchers(self) -> list[Launcher]:
        return [self.control] if self.control is not None else []
