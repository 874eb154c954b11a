"""The embedded default's processes (``make run``): the launcher's children are forked from its
imports and share that memory; each still shows the command it runs."""

from pathlib import Path

from devtools.stack import group_processes, poll


def stack_processes(stack) -> dict[int, str]:
    """{pid: command line} of the stack's processes but the launcher, from ``ps``."""
    group = group_processes(stack.process.pid)
    return {pid: args for pid, args in group.items() if pid != stack.process.pid}


def shared_dirty_kib(pid: int) -> int:
    """Written memory this process shares with others: a forked child's inherited heap. A
    process started anew shares next to none (only the clean pages of mapped files)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Shared_Dirty:"):
            return int(line.split()[1])
    raise AssertionError(f"no Shared_Dirty for {pid}")


def test_every_child_of_the_launcher_shares_its_imports_and_shows_its_own_command(stack):
    expected = ["-m workers partition 0-7", "-m celery -A config worker -Q default", "-m gunicorn"]
    processes = poll(
        lambda: (
            (found := stack_processes(stack))
            and all(any(e in args for args in found.values()) for e in expected)
            and found
        ),
        timeout=60,
        what="the stack's processes",
    )
    launcher = Path(f"/proc/{stack.process.pid}/cmdline").read_bytes()
    for pid, args in processes.items():
        assert "-m workers run" not in args, (pid, args)  # its own command, not the launcher's
        assert shared_dirty_kib(pid) > 10 * 1024, (pid, args)
    assert b"workers\0run" in launcher
