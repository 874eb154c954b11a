"""An HTTP proxy on 127.0.0.1 in front of a stack that breaks the first booking request it sees
in a chosen way, then forwards everything: what a flaky network or a busy server does to a
client."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

DROP = "drop"  # forward the request, then close the connection without an answer
THROTTLE = "throttle"  # answer 429 with Retry-After: 1 without forwarding it
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultyProxy:
    def __init__(self, upstream: str, fault: str) -> None:
        self.upstream = upstream
        self.fault = fault
        self.faults_done = 0
        self.posts: list[dict] = []  # headers of every booking request received
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _first_booking(self, method: str, path: str, headers: dict) -> bool:
        if method != "POST" or path != "/bookingapi/booking/":
            return False
        with self.lock:
            self.posts.append(headers)
            first = self.faults_done == 0
            self.faults_done += 1 if first else 0
            return first

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                first = proxy._first_booking(self.command, self.path, dict(headers))
                if first and proxy.fault == THROTTLE:
                    self._answer(429, {"Retry-After": "1"}, b'{"error":{"code":"throttled"}}')
                    return
                upstream = httpx.request(
                    self.command,
                    proxy.upstream + self.path,
                    headers=headers,
                    content=body,
                    timeout=60,
                )
                if first and proxy.fault == DROP:
                    self.close_connection = True  # recorded upstream; the client hears nothing
                    return
                kept = {
                    k: v
                    for k, v in upstream.headers.items()
                    if k.lower() not in HOP_BY_HOP | {"content-encoding"}
                }
                self._answer(upstream.status_code, kept, upstream.content)

            def _answer(self, status: int, headers: dict, body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _forward

            def log_message(self, format, *args):  # noqa: A002
                pass

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
