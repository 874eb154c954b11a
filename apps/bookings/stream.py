"""A request's live status as Server-Sent Events (``GET /bookingapi/requests/{id}/events``).

The stream sends the request at once (``state``), its ``position`` / ``waitlist_position`` as
they change, then its ``outcome``, and ends. It sleeps on the wake-ups the workers announce
after each decision batch (``workers.wakeups``, as ``Prefer: wait`` does): it reads its request
again when this process hears of a decision (at most every ``REREAD_SECONDS``), never on a
timer, except the read with each heartbeat (``BOOKING_STREAM_HEARTBEAT_SECONDS``, 15 s) that
covers a lost announcement.

Each event's id names the state it shows (``pending.3``, ``waitlisted.1``, ``confirmed``): a
client reconnecting with ``Last-Event-ID`` is not sent the state it has; one that already has
the outcome is answered ``204`` (which tells ``EventSource`` to stop reconnecting).

An open stream holds a web thread: it takes one of the process's places to wait
(``BOOKING_WAITERS_PER_PROCESS``, shared with ``Prefer: wait``), and beyond them the API
answers ``429`` with ``Retry-After``. A stream lasts at most ``BOOKING_STREAM_MAX_SECONDS``; the
client reconnects (``retry``) with its ``Last-Event-ID`` and misses nothing.
"""

import json
import time
from collections.abc import Iterator

from django.conf import settings

from apps.bookings import selectors
from apps.bookings.models import FINAL_STATUSES, BookingRequest, RequestStatus
from apps.bookings.serializers import BookingRequestSerializer
from workers import wakeups

REREAD_SECONDS = 0.25
RECONNECT_MILLISECONDS = 2000
CONTENT_TYPE = "text/event-stream"


def event_id(body: dict) -> str:
    """The id of the state a request body shows."""
    if body["status"] == RequestStatus.PENDING:
        return f"pending.{body['position']}"
    if body["status"] == RequestStatus.WAITLISTED:
        return f"waitlisted.{body['waitlist_position']}"
    return str(body["status"])


def has_outcome(last_event_id: str) -> bool:
    return last_event_id in FINAL_STATUSES


def open_stream(
    command: BookingRequest, *, last_event_id: str = "", context: dict | None = None
) -> "RequestStream | None":
    """The request's stream, or None when this process has all its places to wait taken."""
    registry = wakeups.waiters()
    if not registry.take_slot():
        return None
    return RequestStream(registry, command, last_event_id=last_event_id, context=context or {})


def message(kind: str, body: dict, *, data: dict | None = None) -> bytes:
    payload = json.dumps(body if data is None else data, separators=(",", ":"))
    return f"id: {event_id(body)}\nevent: {kind}\ndata: {payload}\n\n".encode()


class RequestStream:
    """The stream of one request (an iterator of bytes for ``StreamingHttpResponse``). It holds
    one of the process's waiting places from creation until ``close``, which the server calls
    when the response ends, however it ends."""

    def __init__(self, registry, command: BookingRequest, *, last_event_id: str, context: dict):
        self.registry = registry
        self._pk = command.pk
        self._last = last_event_id
        self._context = context
        self._held = True
        self._events = self._run()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._events)

    def close(self) -> None:
        self._events.close()
        if self._held:
            self._held = False
            self.registry.give_slot()

    def _read(self) -> dict:
        current = selectors.request_with_position(self._pk)
        return BookingRequestSerializer(current, context=self._context).data

    def _run(self) -> Iterator[bytes]:
        yield f"retry: {RECONNECT_MILLISECONDS}\n\n".encode()
        deadline = time.monotonic() + settings.BOOKING_STREAM_MAX_SECONDS
        with self.registry.watching(self._pk, every_decision=True) as news:
            body = self._read()
            if event_id(body) != self._last:
                kind = "outcome" if body["status"] in FINAL_STATUSES else "state"
                yield message(kind, body)
            while body["status"] not in FINAL_STATUSES:
                left = deadline - time.monotonic()
                if left <= 0:
                    return  # the client reconnects with its Last-Event-ID
                if not news.wait(min(settings.BOOKING_STREAM_HEARTBEAT_SECONDS, left)):
                    yield b": heartbeat\n\n"
                news.clear()
                shown, body = body, self._read()
                if body["status"] in FINAL_STATUSES:
                    yield message("outcome", body)
                elif event_id(body) != event_id(shown):
                    yield message("position", body, data=_place(body))
                time.sleep(REREAD_SECONDS)  # news of many batches: one read for them all


def _place(body: dict) -> dict:
    return {key: body[key] for key in ("id", "status", "position", "waitlist_position")}
