"""A real HTTP receiver on 127.0.0.1 for webhook tests (in-process and against real stacks)."""

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers with the queued statuses, then ``default_status``."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    # Seconds to stall before answering (to provoke the sender's read timeout).
    stall: float = 0.0
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int) -> None:
        with self.lock:
            self.statuses.extend(statuses)

    def record(self, hit: Hit) -> int:
        with self.lock:
            self.hits.append(hit)
            return self.statuses.pop(0) if self.statuses else self.default_status

    def ids(self) -> list[str]:
        with self.lock:
            return [hit.headers["webhook-id"] for hit in self.hits]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        receiver: Receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if receiver.stall:
            receiver.released.wait(receiver.stall)
        headers = {name.lower(): value for name, value in self.headers.items()}
        status = receiver.record(Hit(self.path, headers, body))
        answer = json.dumps({"received": True, "status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    state = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    server.receiver = state
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    state.released.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class DripReceiver:
    """Accepts, reads the request, then sends its answer one byte every ``interval`` seconds
    for up to ``for_seconds``: every read finishes well within a read timeout. ``hung_up``
    counts the connections the client closed while answer was still being dripped."""

    def __init__(self, interval: float = 0.3, for_seconds: float = 30.0):
        self.interval, self.for_seconds = interval, for_seconds
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
        self.stop = threading.Event()
        self.accepted = 0
        self.hung_up = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            self.accepted += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
        deadline = time.monotonic() + self.for_seconds
        with conn:
            try:
                conn.recv(65536)
                for byte in answer:
                    if self.stop.is_set() or time.monotonic() > deadline:
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(self.interval)
            except OSError:  # the client closed the connection
                self.hung_up += 1
                return

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.fixture
def drip():
    receiver = DripReceiver()
    yield receiver
    receiver.close()
