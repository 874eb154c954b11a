"""``python -m bench`` stopped by ``SIGTERM`` stops what it started (its ``with`` blocks run)."""

import signal
import subprocess
import sys
from pathlib import Path

CODE = """
import sys, time
from bench.__main__ import stop_cleanly_on_terminate
stop_cleanly_on_terminate()
try:
    print("running", flush=True)
    time.sleep(60)
finally:
    print("stopped what it started", flush=True)
"""


def test_sigterm_runs_the_clean_up_and_exits_143():
    child = subprocess.Popen(
        [sys.executable, "-c", CODE],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout.readline().strip() == "running"
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
    assert "stopped what it started" in out
    assert child.returncode == 128 + signal.SIGTERM
