"""Children forked from the launcher's imports run their command and show it as their command
line (``ps`` and the test harness find partition workers by it)."""

import gc
import sys
from pathlib import Path

import pytest

from devtools.stack import poll
from workers import forking

# Records what the C library's getenv sees, then waits for the test's go-ahead and exits with
# the code it was given.
CHILD = """
import ctypes, os, sys, time
from pathlib import Path
getenv = ctypes.CDLL(None).getenv
getenv.restype = ctypes.c_char_p
folder = Path(sys.argv[1])
(folder / "seen").write_text((getenv(b"FORK_TEST_VALUE") or b"").decode())
while not (folder / "go").exists():
    time.sleep(0.05)
sys.exit(int(sys.argv[2]))
"""


def command_line(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0")
    return raw.decode().replace("\0", " ").split()


@pytest.fixture
def child_module(tmp_path, monkeypatch):
    (tmp_path / "forked_child.py").write_text(CHILD)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FORK_TEST_VALUE", "still-readable")
    return tmp_path


@pytest.mark.parametrize("padding", [0, 300], ids=["short", "longer-than-the-arguments"])
def test_a_forked_child_runs_its_command_under_its_own_command_line(child_module, padding):
    argv = [sys.executable, "-m", "forked_child", str(child_module), "3", "x" * padding]
    assert forking.title_fits(argv)

    process = forking.fork(argv)
    try:
        poll(lambda: (child_module / "seen").exists(), timeout=30, what="the child running")
        assert command_line(process.pid) == [a for a in argv if a]
        assert process.poll() is None
    finally:
        (child_module / "go").touch()
    assert process.wait(30) == 3
    # The C environment, moved out of the title's way, still answers getenv.
    assert (child_module / "seen").read_text() == "still-readable"


def test_a_title_longer_than_the_room_is_refused():
    assert not forking.title_fits(["x" * (1 << 20)])


def test_a_forked_child_can_be_killed_and_reaped(child_module):
    process = forking.fork([sys.executable, "-m", "forked_child", str(child_module), "0"])
    poll(lambda: (child_module / "seen").exists(), timeout=30, what="the child running")
    process.kill()
    assert process.wait(30) < 0


def test_the_launcher_preloads_what_its_children_run_and_freezes_it():
    gc.unfreeze()
    try:
        forking.preload()
        assert gc.get_freeze_count() > 0
        assert {
            "config.wsgi",
            "workers.tasks",
            "workers.webhook_tasks",
            "gunicorn.app.wsgiapp",
        } <= (set(sys.modules))
    finally:
        gc.unfreeze()
