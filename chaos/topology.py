"""The system under test, as real processes: PostgreSQL and Redis, a control launcher (the API
under gunicorn, the general and webhook workers, beat), two booking machines owning disjoint
partitions (0-3 and 4-7) and a standby machine for every partition. The booking machines run
in network namespaces of their own when the machine allows it (``chaos.netns``)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chaos import netns
from chaos.receiver import Receiver
from devtools.servers import PostgresServer, RedisServer
from devtools.stack import free_port, group_processes, poll

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 8
# A stalled partition worker is replaced after this long (30 s by default; see docs/chaos.md
# for why not much less here).
STALL_SECONDS = 20

# What every process of the service reads, whatever its machine.
SERVICE_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "BOOKING_PARTITIONS": str(PARTITIONS),
    "BOOKING_SWEEP_AFTER_SECONDS": "2",
    "BOOKING_SWEEP_INTERVAL_SECONDS": "1",
    "BOOKING_HOLD_MIN_SECONDS": "1",
    "BOOKING_HOLD_EXPIRY_INTERVAL_SECONDS": "0.5",
    "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
    "WEBHOOK_ALLOWED_PORTS": "*",
    "LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}


# The booking machines log their leases, claims and runs (the recovery story is in there).
VERBOSE = {"LOG_LEVEL": "INFO"}


@dataclass
class Launcher:
    """One ``python -m workers run`` (a machine), in its own process group."""

    name: str
    args: list[str]
    data_dir: Path
    env: dict
    machine: netns.Machine | None = None
    process: subprocess.Popen | None = None

    def start(self) -> "Launcher":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "workers", "run", *self.args]
        if self.machine is not None:
            argv = self.machine.command(argv)
        with open(self.data_dir / "launcher.log", "ab") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env | {"DATA_DIR": str(self.data_dir)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def children(self, needle: str) -> list[int]:
        """Pids in this launcher's process group whose command line contains ``needle``."""
        if not self.alive:
            return []
        group = group_processes(self.process.pid)
        return [pid for pid, args in group.items() if pid != self.process.pid and needle in args]

    def kill(self) -> None:
        """The whole machine at once (every process of the group): SIGKILL."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> None:
        """SIGTERM to every process of the machine: an orderly stop begins."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self) -> None:
        if not self.alive:
            return
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(20)
        self.kill()


@dataclass
class Topology:
    work_dir: Path
    use_namespaces: bool = True
    namespace_skip: str | None = None
    postgres: PostgresServer | None = None
    redis: RedisServer | None = None
    receiver: Receiver | None = None
    machines: list[netns.Machine] = field(default_factory=list)
    control: Launcher | None = None
    booking: list[Launcher] = field(default_factory=list)
    standby: Launcher | None = None
    port: int = field(default_factory=free_port)
    stall_seconds: float = STALL_SECONDS
    partitions: int = PARTITIONS
    vendor: str = "postgresql"  # the database the history is read from

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env_for(self, host: str = "127.0.0.1") -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
        env.update(SERVICE_ENV)
        env["BOOKING_STALL_SECONDS"] = f"{self.stall_seconds:g}"
        env["BOOKING_PARTITIONS"] = str(self.partitions)
        env["DATABASE_URL"] = (
            f"postgres://postgres@{host}:{self.postgres.port}/{self.postgres.database}"
        )
        env["CELERY_BROKER_URL"] = f"redis://{host}:{self.redis.port}/0"
        return env

    def data_dir_for(self, role: str) -> Path:
        """DATA_DIR of a process started for ``role`` (a command, the rogue decider)."""
        return self.work_dir / role

    def manage(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env_for() | {"DATA_DIR": str(self.data_dir_for("control"))},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self) -> "Topology":
        if self.use_namespaces:
            self.namespace_skip = netns.available()
        else:
            self.namespace_skip = "turned off (--no-namespaces)"
        if self.namespace_skip is None:
            self.machines = netns.make_machines(["a", "b"])
        hosts = tuple(m.host_address for m in self.machines)
        # Durable: an immediate restart must not lose what was committed (the harness's own
        # finding would be the settings, not the service).
        self.postgres = PostgresServer(durable=True, extra_addresses=hosts).start()
        self.redis = RedisServer(extra_addresses=hosts).start()
        migrated = self.manage("migrate", "--noinput", "-v", "0")
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed: {migrated.stdout}{migrated.stderr}")
        self.receiver = Receiver().start()
        self.control = Launcher(
            "control",
            [
                "--partitions",
                "none",
                "--web",
                f"127.0.0.1:{self.port}",
                "--web-workers",
                "2",
                "--web-threads",
                "8",
            ],
            self.work_dir / "control",
            self.env_for(),
        ).start()
        for index, partitions in enumerate(self._halves()):
            machine = self.machines[index] if self.machines else None
            host = machine.host_address if machine else "127.0.0.1"
            self.booking.append(
                Launcher(
                    f"machine {'ab'[index]}",
                    ["--partitions", partitions, "--no-general", "--no-beat"],
                    self.work_dir / f"machine-{'ab'[index]}",
                    self.env_for(host) | VERBOSE,
                    machine=machine,
                ).start()
            )
        self._start_standby()
        return self

    def _halves(self) -> tuple[str, str]:
        """The partitions of machine a and of machine b: "0-3" and "4-7" of eight."""
        half = self.partitions // 2
        return f"0-{half - 1}", f"{half}-{self.partitions - 1}"

    def _wait_ready(self) -> None:
        poll(self._healthy, timeout=180, what="the API's /health/")
        poll(
            lambda: set(self.owners()) >= set(range(self.partitions)),
            timeout=180,
            what="every partition owned",
        )

    def _start_standby(self) -> None:
        self._wait_ready()
        # Started last, so it stands by for every partition.
        if self.standby is None:
            self.standby = Launcher(
                "standby",
                ["--partitions", "all", "--no-general", "--no-beat"],
                self.work_dir / "standby",
                self.env_for() | VERBOSE,
            )
        self.standby.start()

    def repartition(self, count: int) -> str:
        """The documented way to change BOOKING_PARTITIONS, under load: ``python -m workers
        repartition`` with the new count while the old workers run (each moves its own events
        between two runs), then every machine stopped and started again with it."""
        self.partitions = count
        moved = subprocess.run(
            [sys.executable, "-m", "workers", "repartition", "--timeout", "120"],
            cwd=ROOT,
            env=self.env_for() | {"DATA_DIR": str(self.work_dir / "control")},
            capture_output=True,
            text=True,
            timeout=180,
        )
        if moved.returncode != 0:
            raise RuntimeError(f"repartition failed: {moved.stderr[-500:]}")
        launchers = self.launchers()
        for launcher in launchers:
            launcher.terminate()
        for launcher in launchers:
            launcher.stop()
            launcher.env = launcher.env | {"BOOKING_PARTITIONS": str(count)}
        for launcher, partitions in zip(self.booking, self._halves(), strict=True):
            launcher.args = ["--partitions", partitions, "--no-general", "--no-beat"]
        for launcher in (self.control, *self.booking):
            launcher.start()
        self._start_standby()
        return (moved.stdout.strip().splitlines() or [""])[-1]

    def _healthy(self) -> bool:
        if not self.control.alive:
            raise RuntimeError("the control launcher exited early")
        try:
            return httpx.get(f"{self.base_url}/health/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1",
            port=self.postgres.port,
            user="postgres",
            dbname=self.postgres.database,
            connect_timeout=5,
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute(query, params or [])
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def owners(self) -> dict[int, tuple[int, int]]:
        """partition -> (pid, generation) of its recorded owner."""
        try:
            rows = self.sql(
                "SELECT partition, pid, generation FROM partitions_partitionowner "
                "WHERE pid > 0 AND heartbeat_at IS NOT NULL"  # null: let go, nobody owns it
            )
        except Exception:  # noqa: BLE001 - the database restarting
            return {}
        return {p: (pid, g) for p, pid, g in rows}

    def launchers(self) -> list[Launcher]:
        return [x for x in (self.control, *self.booking, self.standby) if x is not None]

    def stop(self) -> None:
        for launcher in self.launchers():
            for pid in launcher.children(""):  # a SIGSTOPped child would not hear SIGTERM
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        for machine in self.machines:
            machine.mend()
        for launcher in self.launchers():
            launcher.stop()
        if self.receiver:
            self.receiver.stop()
        if self.redis:
            self.redis.stop()
        if self.postgres:
            self.postgres.stop()
        for machine in self.machines:
            machine.destroy()

    def wait_until(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))
