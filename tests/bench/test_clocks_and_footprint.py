"""The bench's own instruments: the decision clock hears the announcements the partition workers
send after a round commits; the footprint sums the PSS of a process tree; the CPU table names
the delaying proxy's group."""

import os
import subprocess
import sys

from bench.clocks import SocketDecisionClock
from bench.cpu import Proc
from bench.embedded import footprint
from bench.profiles import classify
from devtools.stack import poll
from workers.wakeups import SocketWakeups


def test_the_decision_clock_stamps_every_request_the_workers_announce(tmp_path):
    with SocketDecisionClock(tmp_path / "waiters") as clock:
        SocketWakeups(tmp_path / "waiters").announce([11, 12, 13])

        poll(lambda: len(clock.stamps) == 3, timeout=30, what="three stamps")

    assert set(clock.stamps) == {11, 12, 13}


def test_a_request_keeps_the_stamp_of_its_first_announcement():
    clock = SocketDecisionClock.__new__(SocketDecisionClock)
    clock.stamps = {}

    clock.stamp(b"5,6", at=100.0)
    clock.stamp(b"6,7", at=101.0)

    assert clock.stamps == {5: 100.0, 6: 100.0, 7: 101.0}


def test_the_footprint_counts_a_process_and_its_children_and_their_pss():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        poll(lambda: footprint(child.pid)["pss_mb"], timeout=30, what="the child's PSS")
        alone = footprint(child.pid)
        with_me = footprint(os.getpid())
    finally:
        child.kill()
        child.wait()

    assert alone["processes"] == 1 and alone["pss_mb"] > 0
    assert with_me["processes"] >= 2


def test_the_delaying_proxy_is_a_cpu_group_of_its_own():
    proxy = Proc(1, 0, "python", "python -m devtools.delay_proxy --target 127.0.0.1:5432", 0)

    assert classify(proxy) == "rtt_proxy"
