"""Book seats at an event and follow the command to its outcome: an example client.

    python examples/book.py --base-url http://127.0.0.1:8000 --token KEY --event 6 [--seats 2]

What a careful client of the service does, with httpx and the standard library only:

- sends the booking with an ``Idempotency-Key`` (a new UUID, or ``--idempotency-key``), so that
  every retry of it is the same command: the server answers a retry with the request it
  recorded the first time (``Idempotent-Replayed: true``), never a second booking;
- asks for the outcome at once with ``Prefer: wait=N``; if the answer is still ``202`` (not
  decided within N seconds, or the server had no waiter free), polls the request's ``Location``
  with exponential backoff, or after ``Retry-After`` seconds when the server says so;
- retries a dropped connection, a timeout, a ``429`` (after ``Retry-After``) and a ``502``,
  ``503`` or ``504`` with the same key and body, and gives up at ``--timeout``;
- reports a ``409`` refusal (``sold_out``, ``duplicate``, ``event_closed``, ...) as such.

It prints one JSON object, the outcome, on stdout, and what it did on stderr. Exit status: 0
confirmed or waitlisted, 1 refused, 2 any other client error (4xx), 3 gave up.
"""

import argparse
import email.utils
import json
import random
import sys
import time
import uuid

import httpx

EXIT_DECIDED, EXIT_REFUSED, EXIT_ERROR, EXIT_GAVE_UP = 0, 1, 2, 3
RETRIED_STATUSES = {429, 502, 503, 504}
FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.25, 5.0


class GaveUp(Exception):
    """The deadline passed before an answer could be had."""


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110,
    10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def backoff_seconds(attempt: int, *, first: float = FIRST_POLL_SECONDS) -> float:
    """Exponential backoff with jitter: about first × 2^attempt, at most MAX_POLL_SECONDS."""
    ceiling = min(MAX_POLL_SECONDS, first * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Client:
    def __init__(self, *, base_url: str, token: str, timeout: float, wait: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.wait = wait
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Token {token}", "Accept": "application/json"},
            # Long enough for the server to hold the request for its Prefer: wait.
            timeout=httpx.Timeout(wait + 10, connect=5),
        )

    def sleep(self, seconds: float, why: str) -> None:
        if time.monotonic() + seconds > self.deadline:
            raise GaveUp(f"{why}; waiting {seconds:.1f} s more would pass the deadline")
        log(f"{why}; retrying in {seconds:.2f} s")
        time.sleep(seconds)

    def send(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One request, sent again (unchanged: same Idempotency-Key, same body) after a dropped
        connection, a timeout, a 429 or a 5xx the server will get over."""
        attempt = 0
        while True:
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:  # connect, read, write, timeout, dropped
                self.sleep(backoff_seconds(attempt, first=0.5), f"{method} {url}: {exc!r}")
            else:
                if response.status_code not in RETRIED_STATUSES:
                    return response
                delay = retry_after_seconds(response.headers.get("Retry-After"))
                self.sleep(
                    backoff_seconds(attempt, first=0.5) if delay is None else delay,
                    f"{method} {url}: {response.status_code}",
                )
            attempt += 1

    def book(self, *, event: int, seats: int, key: str) -> tuple[int, dict]:
        headers = {"Idempotency-Key": key}
        if self.wait:
            headers["Prefer"] = f"wait={self.wait:g}"
        log(f"POST /bookingapi/booking/ event={event} seats={seats} Idempotency-Key={key}")
        response = self.send(
            "POST",
            "/bookingapi/booking/",
            json={"event": event, "seats": seats},
            headers=headers,
        )
        if response.headers.get("Idempotent-Replayed") == "true":
            log("the server had recorded this command already: same request, not a new one")
        if response.status_code == 202:
            body = response.json()
            if body.get("status") == "pending":
                body = self.follow(response)
            return self.outcome(body)
        if response.status_code in (200, 201):
            return self.outcome(response.json())
        return self.failure(response)

    def follow(self, accepted: httpx.Response) -> dict:
        """Poll the request resource until it is decided."""
        location = accepted.headers["Location"]
        delay = retry_after_seconds(accepted.headers.get("Retry-After"))
        attempt = 0
        while True:
            self.sleep(
                backoff_seconds(attempt) if delay is None else delay,
                f"{location}: pending",
            )
            response = self.send("GET", location)
            if response.status_code != 200:
                raise GaveUp(f"GET {location}: {response.status_code} {response.text[:200]}")
            body = response.json()
            if body.get("status") != "pending":
                return body
            log(f"{location}: pending, position {body.get('position')}")
            delay = retry_after_seconds(response.headers.get("Retry-After"))
            attempt += 1

    @staticmethod
    def outcome(request: dict) -> tuple[int, dict]:
        booking = request.get("booking") or {}
        result = {
            "status": request.get("status"),
            "reason": request.get("reason"),
            "request": request.get("id"),
            "booking": booking.get("id"),
            "seats": request.get("seats"),
            "waitlist_position": request.get("waitlist_position"),
        }
        decided = request.get("status") in ("confirmed", "waitlisted")
        return (EXIT_DECIDED if decided else EXIT_REFUSED), result

    @staticmethod
    def failure(response: httpx.Response) -> tuple[int, dict]:
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "http_error", "message": response.text[:200], "details": {}}
        request = (error.get("details") or {}).get("request") or {}
        result = {
            "status": "refused" if response.status_code == 409 else "error",
            "reason": error.get("code"),
            "message": error.get("message"),
            "http_status": response.status_code,
            "request": request.get("id"),
        }
        return (EXIT_REFUSED if response.status_code == 409 else EXIT_ERROR), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="a customer's token")
    parser.add_argument("--event", type=int, required=True)
    parser.add_argument("--seats", type=int, default=1)
    parser.add_argument("--idempotency-key", default=None, help="default: a new UUID")
    parser.add_argument("--wait", type=float, default=10, help="Prefer: wait=N (0: poll only)")
    parser.add_argument("--timeout", type=float, default=120, help="give up after this long")
    args = parser.parse_args(argv)

    client = Client(base_url=args.base_url, token=args.token, timeout=args.timeout, wait=args.wait)
    try:
        code, result = client.book(
            event=args.event, seats=args.seats, key=args.idempotency_key or str(uuid.uuid4())
        )
    except GaveUp as exc:
        code, result = EXIT_GAVE_UP, {"status": "gave_up", "reason": str(exc)}
    print(json.dumps(result), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
