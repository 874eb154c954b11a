"""Flower against a running stack: every partition worker is listed with its queues, and the
booking doorbells it processed show up as tasks. Checked through Flower's HTTP API, with basic
auth on (as the compose service runs it), on Redis and on the embedded file broker."""

import re
import subprocess
import sys

import httpx
import pytest

from devtools.stack import ROOT, free_port, poll
from tests.integration.crowd import flash_crowd, settle
from workers.routing import partitions_in

AUTH = ("ops", "flower-test-password")


class Flower:
    def __init__(self, stack, log_path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "flower",
                f"--port={self.port}",
                "--address=127.0.0.1",
                f"--basic-auth={AUTH[0]}:{AUTH[1]}",
            ],
            cwd=ROOT,
            env=stack.environment(),
            stdout=open(log_path, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        poll(self._up, timeout=60, what="Flower's /healthcheck")

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"Flower exited:\n{self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.base_url}/healthcheck", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def get(self, path: str, **params) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", params=params, auth=AUTH, timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture(
    params=[
        pytest.param("scaled_stack", marks=pytest.mark.servers, id="redis"),
        pytest.param("stack", id="embedded"),
    ]
)
def running(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def flower(running, tmp_path):
    started = Flower(running, tmp_path / "flower.log")
    yield started
    started.stop()


def partition_workers(flower) -> dict[int, tuple[str, dict]]:
    """{partition: (worker name, info)} of the workers named after the partitions they own:
    ``bookings.p3@host`` (one per process, PostgreSQL) or ``bookings.p0-7@host`` (a group,
    the embedded default)."""
    workers = flower.get("/api/workers", refresh="1").json()
    found = {}
    for name, info in workers.items():
        match = re.fullmatch(r"bookings\.p([\d,-]+)@.+", name)
        if match and isinstance(info, dict):
            for partition in partitions_in(match.group(1)):
                found[partition] = (name, info)
    return found


def test_flower_lists_every_partition_worker_and_the_tasks_it_ran(running, flower):
    assert httpx.get(f"{flower.base_url}/api/workers", timeout=10).status_code == 401

    partitions = running.manage_json(
        "shell",
        "-c",
        (
            "import json; from django.conf import settings; "
            "print(json.dumps(settings.BOOKING_PARTITIONS))"
        ),
    )
    workers = poll(
        lambda: (lambda w: w if len(w) == partitions else None)(partition_workers(flower)),
        timeout=60,
        interval=1,
        what="every partition worker",
    )
    for name, info in workers.values():
        queues = [q["name"] for q in info.get("active_queues") or []]
        owned = partitions_in(name.split("@")[0].removeprefix("bookings.p"))
        assert sorted(queues) == sorted(f"bookings.p{p}" for p in owned), (name, queues)
        assert info["stats"]["pool"]["max-concurrency"] == 1

    seed = running.manage_json("seed_crowd", "--customers", "12", "--capacity", "5")
    event_id, partition = seed["events"][0], seed["partitions"][0]
    replies = flash_crowd(running.base_url, [(t, event_id) for t in seed["tokens"]], concurrency=12)
    assert {r.status for r in replies} <= {202, 409}  # 409: refused at the door once full
    assert settle(running, event_id, timeout=60)["requests"]["confirmed"] == 5

    def doorbells_seen():
        tasks = flower.get("/api/tasks", taskname="bookings.decide_event").json()
        return [
            t
            for t in tasks.values()
            if t.get("state") == "SUCCESS"
            and t.get("worker") == workers[partition][0]
            and str(event_id) in (t.get("args") or "")
        ]

    poll(doorbells_seen, timeout=30, interval=0.5, what="the event's doorbells in Flower")
    types = flower.get("/api/task/types").json()["task-types"]
    assert "bookings.decide_event" in types
