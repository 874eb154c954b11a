"""bench.cpu: CPU per process group between two snapshots of /proc."""

import subprocess
import sys

from bench.cpu import TICKS_PER_SECOND, CpuMeter


def test_a_process_reaped_between_snapshots_counts_only_what_it_spent_in_between():
    # The postmaster (1) and a backend (2) that had spent 1,000 ticks before the run, spent 20
    # more and exited: its whole life (1,020) is now in the postmaster's cutime.
    before = {1: ("postgresql", 100), 2: ("postgresql", 1000), 3: ("web", 50)}
    after = {1: ("postgresql", 100 + 5 + 1020), 3: ("web", 80), 4: ("web", 7)}

    spent = CpuMeter.delta_ms(before, after)

    ms = 1000 / TICKS_PER_SECOND
    assert spent == {"postgresql": round(25 * ms, 1), "web": round(37 * ms, 1)}


CHILD = """
import os, sys, time
def burn(seconds):
    started = time.process_time()
    while time.process_time() - started < seconds:
        pass
burn(0.3)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
burn(0.1)
"""
PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, sys.argv[1], sys.argv[2]])
print(child.pid, flush=True)
child.wait()
sys.stdin.read()
"""


def test_a_real_child_reaped_during_the_measure_is_counted_once(tmp_path):
    """A parent whose child burns 0.3 s of CPU before the first snapshot, 0.1 s after it, exits
    and is reaped before the second."""
    (tmp_path / "child.py").write_text(CHILD)
    (tmp_path / "parent.py").write_text(PARENT)
    go = tmp_path / "go"
    parent = subprocess.Popen(
        [sys.executable, str(tmp_path / "parent.py"), str(tmp_path / "child.py"), str(go)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(parent.stdout.readline())
        meter = CpuMeter(lambda: {parent.pid}, lambda proc: "group")
        before = meter.snapshot()
        while child in before and before[child][1] < 0.3 * TICKS_PER_SECOND:  # first burn done
            before = meter.snapshot()
        go.touch()
        while child in meter.snapshot():  # until it has exited and been reaped
            pass
        spent = CpuMeter.delta_ms(before, meter.snapshot())
    finally:
        parent.communicate("", timeout=30)

    # At least the second burn (0.1 s of CPU by construction, less the /proc counters' rounding
    # of a tick each for user and system time), and less than the child had spent before the
    # first snapshot: counting its whole life (or the first part twice) would exceed that.
    ms = 1000 / TICKS_PER_SECOND
    first_part = before[child][1] * ms
    assert 100 - 2 * ms <= spent["group"] < first_part
