"""Throwaway PostgreSQL and Redis servers on free 127.0.0.1 ports, for the ``servers`` tests
and the benchmark. Every start and stop is bounded in time; each server lives in a temp folder
that ``stop()`` removes.

    with PostgresServer() as pg, RedisServer() as redis:
        env = {"DATABASE_URL": pg.url, "CELERY_BROKER_URL": redis.url}

``initdb`` refuses to run as root, so as root the cluster is created and run as the
unprivileged user ``postgres`` (or ``nobody``) through ``runuser``.
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
UNPRIVILEGED_USERS = ("postgres", "nobody")


class ServerUnavailable(RuntimeError):
    """A server binary is missing or the server cannot be started here."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def postgres_binaries() -> dict[str, str] | None:
    """initdb, pg_ctl, postgres, createdb: from PATH, else from Debian's versioned folder
    (``apt-get install postgresql`` does not put them on PATH)."""
    names = ("initdb", "pg_ctl", "postgres", "createdb")
    found = {name: shutil.which(name) for name in names}
    if all(found.values()):
        return found
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        candidates = {name: os.path.join(folder, name) for name in names}
        if all(os.access(path, os.X_OK) for path in candidates.values()):
            return candidates
    return None


def redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


def missing_servers() -> list[str]:
    missing = []
    if postgres_binaries() is None:
        missing.append("PostgreSQL (initdb, pg_ctl, postgres, createdb)")
    if redis_binary() is None:
        missing.append("redis-server")
    return missing


def _run_as() -> str | None:
    """The user to run PostgreSQL as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServerUnavailable("running as root and no unprivileged user (postgres, nobody) exists")


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in a temp folder, trust auth, listening on 127.0.0.1 only.

    ``durable=False`` (the tests) turns fsync and synchronous commit off: faster, and a crash
    of a throwaway cluster loses nothing that matters."""

    database: str = "reservations"
    port: int = field(default_factory=free_port)
    durable: bool = False
    max_connections: int = 300
    root: Path | None = None
    user: str | None = None
    # More addresses to listen on and to trust (the fault harness's network namespaces).
    extra_addresses: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _cmd(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.user else argv

    def _run(self, argv: list[str], timeout: float) -> None:
        done = subprocess.run(
            self._cmd(argv), capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if done.returncode != 0:
            raise ServerUnavailable(f"{argv[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def start(self) -> "PostgresServer":
        binaries = postgres_binaries()
        if binaries is None:
            raise ServerUnavailable("PostgreSQL binaries are not on PATH")
        self.user = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="pg-"))
        os.chmod(self.root, 0o755)
        data, sockets = self.root / "data", self.root / "sock"
        sockets.mkdir()
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        try:
            self._run(
                [
                    binaries["initdb"],
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ],
                timeout=120,
            )
            with open(data / "pg_hba.conf", "a") as hba:
                for address in self.extra_addresses:
                    hba.write(f"host all all {address}/30 trust\n")
            options = [
                f"-p {self.port}",
                f"-c listen_addresses={','.join(('127.0.0.1', *self.extra_addresses))}",
                f"-c unix_socket_directories={sockets}",
                f"-c max_connections={self.max_connections}",
                "-c shared_buffers=128MB",
            ]
            if not self.durable:
                options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            self._run(
                [
                    binaries["pg_ctl"],
                    "-D",
                    str(data),
                    "-l",
                    str(self.root / "server.log"),
                    "-o",
                    " ".join(options),
                    "-w",
                    "-t",
                    str(int(START_TIMEOUT_SECONDS)),
                    "start",
                ],
                timeout=START_TIMEOUT_SECONDS + 10,
            )
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def create_database(self, name: str) -> str:
        """A new empty database of this cluster (``createdb``); its URL."""
        createdb = postgres_binaries()["createdb"]
        self._run([createdb, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name], 30)
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def log(self) -> str:
        path = self.root / "server.log" if self.root else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def stop(self) -> None:
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            pg_ctl = (postgres_binaries() or {}).get("pg_ctl") or "pg_ctl"
            try:
                subprocess.run(
                    self._cmd(
                        [
                            pg_ctl,
                            "-D",
                            str(data),
                            "-m",
                            "immediate",
                            "-w",
                            "-t",
                            str(int(STOP_TIMEOUT_SECONDS)),
                            "stop",
                        ]
                    ),
                    capture_output=True,
                    timeout=STOP_TIMEOUT_SECONDS + 5,
                    cwd=self.root,
                )
            except subprocess.TimeoutExpired:
                self._kill_postmaster(data)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    @staticmethod
    def _kill_postmaster(data: Path) -> None:
        try:
            pid = int((data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class RedisServer:
    """A redis-server with no persistence on 127.0.0.1; ``stop()`` then ``start()`` again
    simulates an outage (same port, empty data: the service must not depend on Redis state)."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    root: Path | None = None
    extra_addresses: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        binary = redis_binary()
        if binary is None:
            raise ServerUnavailable("redis-server is not installed")
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="redis-"))
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                " ".join(("127.0.0.1", *self.extra_addresses)),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--protected-mode",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            _wait(
                lambda: self.process.poll() is None and port_open(self.port),
                START_TIMEOUT_SECONDS,
                "redis-server to listen",
            )
        except TimeoutError as exc:
            self.stop()
            raise ServerUnavailable(f"redis-server did not start: {self.log()[-2000:]}") from exc
        return self

    def log(self) -> str:
        path = self.root / "redis.log" if self.root else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def halt(self) -> None:
        """Stop the server but keep its folder, so ``start()`` brings it back on the port."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        _wait(lambda: not port_open(self.port), STOP_TIMEOUT_SECONDS, "redis to close its port")

    def stop(self) -> None:
        self.halt()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
