"""The API under a real gunicorn (two processes): a refused body never breaks a keep-alive
connection, throttle counts are shared by the processes, and requests waiting for their
decision leave each process threads for the others."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from devtools.stack import poll
from workers.launcher import gunicorn_argv

ROOT = Path(__file__).resolve().parents[2]
LOGIN_LIMIT = 4
THREADS = 2  # per gunicorn process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not listen in time")


@pytest.fixture(scope="module")
def api_env(tmp_path_factory):
    """The environment of the API server and of its management commands."""
    data = tmp_path_factory.mktemp("apiserver")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "BOOKING_WAITERS_PER_PROCESS"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATA_DIR=str(data),
        LOG_LEVEL="WARNING",
        THROTTLE_LOGIN_PER_USERNAME=f"{LOGIN_LIMIT}/min",
    )
    return env


@pytest.fixture(scope="module")
def api_server(api_env):
    """The API under gunicorn as the launcher starts it, two processes of two threads, on the
    embedded default, with no booking workers: a command stays pending."""
    env, data, port = api_env, Path(api_env["DATA_DIR"]), _free_port()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    with open(data / "gunicorn.log", "ab") as log:
        process = subprocess.Popen(
            gunicorn_argv(f"127.0.0.1:{port}", 2, THREADS),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, read from a raw socket."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-body")
        body += chunk
    return status, headers, body[:length]


@pytest.mark.parametrize("path", ["/userapi/login/", "/bookingapi/booking/"])
def test_a_refused_oversized_body_says_connection_close(api_server, path):
    """413 (or 401) before the body is read: the client is told the connection ends."""
    body = b"x" * (300 * 1024)
    with socket.create_connection(("127.0.0.1", api_server), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        with contextlib.suppress(OSError):  # the server may answer and close before reading all
            sock.sendall(body)
        status, headers, _ = _read_response(sock)

    assert status in (401, 413)
    assert headers["connection"].lower() == "close"


def test_a_keep_alive_client_survives_a_413(api_server):
    """Two requests on one keep-alive connection: the second one after a 413 still works."""
    with httpx.Client(base_url=f"http://127.0.0.1:{api_server}", timeout=10) as client:
        refused = client.post(
            "/userapi/login/",
            content=b'{"username": "' + b"x" * (300 * 1024) + b'"}',
            headers={"Content-Type": "application/json"},
        )
        after = client.get("/userapi/profile/")

    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "not_authenticated"


def test_a_small_body_keeps_the_connection_alive(api_server):
    with socket.create_connection(("127.0.0.1", api_server), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(
                b"POST /userapi/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            )
            status, headers, _ = _read_response(sock)
            assert status == 400
            assert headers["connection"].lower() == "keep-alive"


def test_login_throttle_counts_are_shared_by_every_gunicorn_process(api_server):
    """Each attempt on a new connection (the two processes share the listening socket): the
    limit holds in total, not per process."""
    statuses = []
    for _ in range(LOGIN_LIMIT * 3):
        with httpx.Client(base_url=f"http://127.0.0.1:{api_server}", timeout=10) as client:
            statuses.append(
                client.post(
                    "/userapi/login/", json={"username": "mallory", "password": "guess"}
                ).status_code
            )

    assert statuses[:LOGIN_LIMIT] == [401] * LOGIN_LIMIT, statuses
    assert set(statuses[LOGIN_LIMIT:]) == {429}, statuses


def test_waiting_requests_leave_every_process_threads_for_other_requests(api_server, api_env):
    """Half of a process's threads may wait for a decision (``Prefer: wait``): here one of two.
    No partition worker runs, so a request that waits does so to the end of its wait; the others
    are answered ``202`` at once, without ``Preference-Applied``, and the API keeps answering
    while the waiters wait."""
    seeded = json.loads(
        subprocess.run(
            [sys.executable, "manage.py", "seed_crowd", "--customers", "4", "--capacity", "10"],
            cwd=ROOT,
            env=api_env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    [event] = seeded["events"]
    base = f"http://127.0.0.1:{api_server}"

    def book(token: str) -> tuple[httpx.Response, float]:
        with httpx.Client(base_url=base, timeout=60) as client:  # a connection of its own
            response = client.post(
                "/bookingapi/booking/",
                json={"event": event},
                headers={"Authorization": f"Token {token}", "Prefer": "wait=8"},
            )
        return response, time.monotonic()

    with ThreadPoolExecutor(len(seeded["tokens"])) as pool:
        bookings = [pool.submit(book, token) for token in seeded["tokens"]]
        poll(lambda: sum(f.done() for f in bookings) >= 2, timeout=60, what="202s at once")
        with httpx.Client(base_url=base, timeout=60) as client:
            health = [client.get("/health/").status_code for _ in range(4)]
        health_answered = time.monotonic()
        answers = [f.result() for f in bookings]

    waited = [(r, at) for r, at in answers if "Preference-Applied" in r.headers]
    at_once = [r for r, _ in answers if "Preference-Applied" not in r.headers]
    assert health == [200] * 4
    assert 1 <= len(waited) <= 2  # at most one per process: half of its 2 threads
    assert len(at_once) == len(answers) - len(waited)
    assert {r.status_code for r in at_once} == {202}
    for response, answered in waited:
        assert response.status_code == 202
        assert response.headers["Preference-Applied"] == "wait=8"
        assert answered > health_answered  # the API answered while they waited
