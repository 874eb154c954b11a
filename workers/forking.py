"""Children forked from the launcher, so they share the memory of what it imported.

Every process of the service imports the same Django project, Celery and their libraries
(about 60 MB each). With ``LAUNCHER_PRELOAD`` the launcher imports them once, puts them out
of the garbage collector's reach (``gc.freeze``) and forks each child from itself: the child
runs the very command it would otherwise be started with (``python -m <module> <args>``,
through ``runpy``), and the imported pages stay shared until a process writes to them.

A forked child shows that command as its command line (``ps``, ``/proc/<pid>/cmdline``), as
PostgreSQL's backends and ``setproctitle`` do: the C environment is first moved to the heap,
then the command is written over the original argument and environment strings. Where that
cannot be done (no ``/proc``, too little room) the child is started with ``subprocess``.
"""

import contextlib
import ctypes
import gc
import importlib
import logging
import os
import runpy
import signal
import subprocess
import sys
import time
import traceback

logger = logging.getLogger(__name__)


# What the children import on their way up: Celery's command line (with its plugins' commands),
# worker, pools, beat and broker transport; gunicorn and the WSGI application.
PRELOADED_MODULES = (
    "celery.bin.celery",
    "celery.apps.worker",
    "celery.apps.beat",
    "celery.worker.consumer",
    "celery.concurrency.solo",
    "celery.concurrency.thread",
    "workers.broker",
    "apps.partitions.selectors",
    "gunicorn.app.wsgiapp",
    "config.gunicorn",
    "config.wsgi",
)


def preload() -> None:
    """Import what the children run (the Celery app and its tasks, the WSGI application and
    its URLs, gunicorn) and freeze it, before the first fork."""
    from django.urls import get_resolver

    from config.celery import app

    for module in PRELOADED_MODULES:
        importlib.import_module(module)
    app.loader.import_default_modules()
    get_resolver().url_patterns  # noqa: B018 - imports every view, serializer and schema
    gc.freeze()


def _argument_area() -> tuple[int, int, int]:
    """Where the kernel reads this process's command line: (start, end of the arguments, end
    of the environment strings that follow them)."""
    with open("/proc/self/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # Fields 48-51 of proc(5): arg_start, arg_end, env_start, env_end (fields[0] is field 3).
    arg_start, arg_end, env_start, env_end = (int(f) for f in fields[45:49])
    return arg_start, arg_end, env_end if env_start == arg_end else arg_end


def _move_environment_to_heap() -> None:
    """The C library's environment points into the area the title overwrites: copy it out
    (``clearenv`` then ``setenv``, which allocates), so ``getenv`` keeps working."""
    libc = ctypes.CDLL(None, use_errno=True)
    saved = dict(os.environb)
    if libc.clearenv() != 0:
        raise OSError(ctypes.get_errno(), "clearenv failed")
    for name, value in saved.items():
        if libc.setenv(name, value, 1) != 0:
            raise OSError(ctypes.get_errno(), "setenv failed")


def title_fits(argv: list[str]) -> bool:
    try:
        start, _, end = _argument_area()
    except (OSError, ValueError, IndexError):
        return False
    return len(" ".join(argv).encode()) < end - start


def set_command_line(argv: list[str]) -> None:
    """Show ``argv`` as this process's command line (call ``title_fits`` first)."""
    start, arg_end, end = _argument_area()
    if len(b"\0".join(a.encode() for a in argv)) < arg_end - start:
        # Fits among the original arguments: NUL-separated, as the kernel wrote them.
        title, area_end = b"\0".join(a.encode() for a in argv), arg_end
    else:
        # Spills into the environment strings: one string (the kernel then reads up to its
        # NUL, as for setproctitle), after moving the environment out of the way.
        _move_environment_to_heap()
        title, area_end = " ".join(argv).encode(), end
    with open("/proc/self/mem", "r+b", buffering=0) as memory:
        memory.seek(start)
        memory.write(title.ljust(area_end - start, b"\0"))


class ForkedProcess:
    """A forked child, with the part of ``subprocess.Popen``'s interface the launcher uses."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped already: gone, its status unknown
                self.returncode = 1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork(argv: list[str]) -> ForkedProcess:
    """Fork a child that runs ``argv`` (``python -m <module> <args>``) from this process's
    imports. The caller closes its database connections first: a child must not share them."""
    pid = os.fork()
    if pid:
        return ForkedProcess(pid)
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        set_command_line(argv)
        module, sys.argv = argv[2], [argv[0], *argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001 - whatever happens, never return into the launcher
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
