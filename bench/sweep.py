"""Each design at its best: the hot and spread scenarios at several gunicorn thread settings
(processes × threads), a few old/new pairs at each, alternated (old→new, new→old, …, across the
whole bench, so neither design always runs first on a warmer or a more tired machine).

At each setting (a *point*) each design's figures are those of its median run (by answered/s);
its best setting is the point where that median is highest; a scenario's headline compares each
design at its own best (best new ÷ best old). Every point is kept (``threads`` in the results).
"""

import itertools
import subprocess
import sys
from dataclasses import dataclass, field

from bench.load import log
from bench.scenarios import answered, median_run, ratios
from devtools.stack import ROOT, Stack, free_port, poll

DESIGNS = ("old", "new")
SCENARIO_FIGURES = ("requests", "capacity", "events", "concurrency", "subscriptions", "prefer")
# What each pair keeps in a point's ``trials``, and each design in the ``threads`` table.
TRIAL_FIGURES = {
    "answered_per_second",
    "time_to_decision_seconds",
    "request_seconds",
    "cpu_ms_per_request",
    "lock_hold_ms_booked",
}


def setting_label(workers: int, threads: int) -> str:
    return f"{workers}x{threads}"


class Alternation:
    """Pair k runs old→new when k is even, new→old when odd, counted over the whole bench."""

    def __init__(self):
        self._count = itertools.count()

    def next_order(self) -> tuple[str, str]:
        return order_of(next(self._count))


def order_of(k: int) -> tuple[str, str]:
    return ("old", "new") if k % 2 == 0 else ("new", "old")


def _compact(design: dict) -> dict:
    return {k: v for k, v in design.items() if k in TRIAL_FIGURES}


def point(pairs: list[dict]) -> dict:
    """One setting's pairs: each design's median run, their ratios, every pair in short."""
    new = median_run([p["new"] for p in pairs])
    old = median_run([p["old"] for p in pairs])
    return {
        **{k: v for k, v in pairs[0].items() if k in SCENARIO_FIGURES},
        "repeat": len(pairs),
        "new": new,
        "old": old,
        "ratios": ratios(new, old, waited="prefer" in pairs[0]),
        "trials": [
            {
                "order": p["order"],
                "ratios": p["ratios"],
                "new": _compact(p["new"]),
                "old": _compact(p["old"]),
            }
            for p in pairs
        ],
    }


def best_setting(points: dict[str, dict], design: str) -> str:
    """The setting at which ``design``'s median answered/s is highest (the first listed of a
    tie)."""
    return max(points, key=lambda label: answered(points[label][design]))


def headline(points: dict[str, dict]) -> dict:
    """The scenario as reported: each design at its best setting, and their ratios."""
    best = {design: best_setting(points, design) for design in DESIGNS}
    new, old = points[best["new"]]["new"], points[best["old"]]["old"]
    first = next(iter(points.values()))
    return {
        **{k: v for k, v in first.items() if k in SCENARIO_FIGURES},
        "threads": best,
        "new": new,
        "old": old,
        "ratios": ratios(new, old, waited="prefer" in first),
        "repeat": points[best["new"]]["repeat"],
        "trials": {
            "new": points[best["new"]]["trials"],
            "old": points[best["old"]]["trials"],
        },
    }


def threads_table(points: dict[str, dict]) -> dict:
    """Every point in short, for ``threads.<scenario>`` in the results."""
    return {
        label: {
            "repeat": p["repeat"],
            "ratios": p["ratios"],
            "new": _compact(p["new"]),
            "old": _compact(p["old"]),
            "trials": p["trials"],
        }
        for label, p in points.items()
    }


@dataclass
class Webs:
    """The API at several thread settings over one stack: the stack's own gunicorn at its
    setting, and for each other setting a web-only launcher (``python -m workers run
    --partitions none --no-general --no-beat --web …``) started on first use and kept until
    ``stop``. Same environment, same database and broker, same partition workers."""

    stack: Stack
    workers: int
    processes: dict[int, subprocess.Popen] = field(default_factory=dict)
    urls: dict[int, str] = field(default_factory=dict)

    def url(self, threads: int) -> str:
        if threads == self.stack.web_threads and self.workers == self.stack.web_workers:
            return self.stack.base_url
        if threads not in self.urls:
            self._start(threads)
        return self.urls[threads]

    def _start(self, threads: int) -> None:
        import httpx

        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "workers",
            "run",
            "--partitions",
            "none",
            "--no-general",
            "--no-beat",
            "--web",
            f"127.0.0.1:{port}",
            "--web-workers",
            str(self.workers),
            "--web-threads",
            str(threads),
            "--log-level",
            self.stack.log_level,
        ]
        with open(self.stack.data_dir / f"web-{threads}.log", "ab") as out:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.stack.environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[threads] = process
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"the web at {threads} threads exited ({process.returncode})")
            try:
                return httpx.get(f"{url}/health/", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        poll(healthy, timeout=120, what=f"the web at {threads} threads")
        self.urls[threads] = url
        log(f"web {setting_label(self.workers, threads)} threads up at {url}")

    def pids(self) -> set[int]:
        return {p.pid for p in self.processes.values() if p.poll() is None}

    def stop(self) -> None:
        import os
        import signal

        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self.processes.clear()
        self.urls.clear()


def sweep(run_pair, webs: Webs, alternation: Alternation, *, settings, repeat: int) -> dict:
    """``run_pair(urls=, order=)`` ``repeat`` times at each thread setting: the points, by
    label."""
    points = {}
    for threads in settings:
        url = webs.url(threads)
        pairs = [
            run_pair(urls={"old": url, "new": url}, order=alternation.next_order())
            for _ in range(repeat)
        ]
        points[setting_label(webs.workers, threads)] = point(pairs)
    return points


def threads_of(label: str) -> int:
    return int(label.split("x")[1])
