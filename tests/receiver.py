"""A real HTTP receiver on 127.0.0.1 for webhook tests (in-process and against real stacks)."""

import json
import threading
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
