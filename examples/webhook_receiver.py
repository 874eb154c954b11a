"""Receive the service's webhooks: an example receiver, standard library only.

    WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py --port 9000

For every POST it:

- verifies the Standard Webhooks signature: ``webhook-signature`` holds one or more
  ``v1,<base64 HMAC-SHA256>`` of ``"{webhook-id}.{webhook-timestamp}.{raw body}"``, keyed with
  the base64-decoded part of the secret after ``whsec_``; any of them may match (during a
  secret rotation give both secrets, comma-separated);
- refuses a ``webhook-timestamp`` further than ``--tolerance`` seconds (default 300) from its
  clock, so a captured message cannot be replayed later;
- answers ``400`` to anything that fails those checks, and ``204`` to the rest, at once;
- drops a message whose ``webhook-id`` it has already handled (delivery is at least once: a
  retry after a lost answer, or a redelivery asked by hand, carries the same id), still
  answering ``204`` so the sender stops.

It prints ``listening on http://HOST:PORT/`` first, then one JSON line per message on stdout:
``{"webhook_id", "type", "verified", "duplicate", "error"}``. Handle the event where it says so
(here it is only printed). The ids it has seen are kept in memory (the newest ``--remember``);
a real receiver keeps them where its handling commits, for longer than the sender retries.
"""

import argparse
import base64
import binascii
import collections
import contextlib
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_PREFIX = "whsec_"
MAX_BODY_BYTES = 1 << 20


class Refused(Exception):
    """The message is not one the service signed for us, or it is too old or too new."""


def verify(
    *, secrets: list[str], headers, body: bytes, tolerance: float, now: float | None = None
) -> str:
    """The message's ``webhook-id`` if it is signed with one of ``secrets`` within the
    tolerance; :class:`Refused` otherwise. ``headers`` looks names up case-insensitively."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise Refused("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise Refused("webhook-timestamp is not a number") from exc
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance:
        raise Refused(f"webhook-timestamp is {now - sent_at:+.0f} s from our clock")
    signed = f"{msg_id}.{sent_at}.".encode() + body
    offered = [s.split(",", 1)[1] for s in signatures.split() if s.startswith("v1,")]
    for secret in secrets:
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error as exc:
            raise Refused("the receiver's secret is not a whsec_ secret") from exc
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return msg_id
    raise Refused("no matching signature")


class SeenIds:
    """The newest ``size`` message ids handled, thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.lock = threading.Lock()

    def first_time(self, msg_id: str) -> bool:
        with self.lock:
            if msg_id in self.ids:
                self.ids.move_to_end(msg_id)
                return False
            self.ids[msg_id] = None
            if len(self.ids) > self.size:
                self.ids.popitem(last=False)
            return True


class Receiver(BaseHTTPRequestHandler):
    server_version = "example-webhook-receiver"
    # Set on the class by serve().
    secrets: list[str] = []
    tolerance: float = 300
    seen: SeenIds = SeenIds(10_000)
    output_lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.answer(413, {"webhook_id": None, "verified": False, "error": "body too large"})
            return
        body = self.rfile.read(length)  # the raw bytes: the signature covers them exactly
        try:
            msg_id = verify(
                secrets=self.secrets, headers=self.headers, body=body, tolerance=self.tolerance
            )
        except Refused as exc:
            self.answer(400, {"webhook_id": self.headers.get("webhook-id"), "error": str(exc)})
            return
        duplicate = not self.seen.first_time(msg_id)
        try:
            event_type = json.loads(body).get("type")
        except (ValueError, AttributeError):
            event_type = None
        # A first delivery is where the work goes (after answering, or queued): here, printed.
        self.answer(
            204,
            {"webhook_id": msg_id, "type": event_type, "verified": True, "duplicate": duplicate},
        )

    def answer(self, status: int, record: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        line = {"webhook_id": None, "type": None, "verified": False, "duplicate": False}
        line.update(record)
        line.setdefault("error", None)
        with self.output_lock:
            print(json.dumps(line), flush=True)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def serve(*, host: str, port: int, secrets: list[str], tolerance: float, remember: int) -> None:
    Receiver.secrets = secrets
    Receiver.tolerance = tolerance
    Receiver.seen = SeenIds(remember)
    with ThreadingHTTPServer((host, port), Receiver) as server:
        bound_host, bound_port = server.server_address[:2]
        print(f"listening on http://{bound_host}:{bound_port}/", flush=True)
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0: any free port")
    parser.add_argument(
        "--secret",
        default=os.environ.get("WEBHOOK_SECRET", ""),
        help="whsec_... (comma-separated during a rotation); default: $WEBHOOK_SECRET",
    )
    parser.add_argument("--tolerance", type=float, default=300, help="seconds")
    parser.add_argument("--remember", type=int, default=10_000, help="message ids kept")
    args = parser.parse_args(argv)
    secrets = [s.strip() for s in args.secret.split(",") if s.strip()]
    if not secrets:
        parser.error("give the subscription's secret: --secret or WEBHOOK_SECRET")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it
        serve(
            host=args.host,
            port=args.port,
            secrets=secrets,
            tolerance=args.tolerance,
            remember=args.remember,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
