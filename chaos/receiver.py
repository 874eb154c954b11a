"""The webhook subscriber: a real HTTP receiver on 127.0.0.1 that answers 200 and keeps every
message once by its ``webhook-id`` (at-least-once delivery, deduplicated here), with the bodies
seen under each id so the checker can tell a resend from a different message."""

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    url: str = ""
    # webhook-id -> the distinct body digests received under it
    bodies: dict[str, set[str]] = field(default_factory=dict)
    hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def record(self, message_id: str, body: bytes) -> None:
        with self.lock:
            self.hits += 1
            self.bodies.setdefault(message_id, set()).add(hashlib.sha256(body).hexdigest())

    def ids(self) -> dict[str, int]:
        """webhook-id -> how many different bodies came under it (1 when kept)."""
        with self.lock:
            return {key: len(digests) for key, digests in self.bodies.items()}

    def start(self) -> "Receiver":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.receiver = self
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.receiver.record(self.headers.get("webhook-id", ""), body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        pass
