"""The clients: threads that use the API as clients do (HTTP only) and log every request they
send and the answer they get. Each client owns its own customers, so what it does with them
(book, change seats, cancel, hold then confirm, release or let expire, replay with the same
Idempotency-Key) never races another client; the events, the hot one above all, are shared.

The client log is half of the history the checker reads (the database rows are the other)."""

import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field

import httpx

COMMAND_ANSWERS = (200, 201, 202, 409)


@dataclass
class Call:
    """One request and its answer, as the client saw it."""

    client: str
    op: str
    method: str
    path: str
    body: dict | None
    key: str | None
    sent: float
    received: float
    status: int | None  # None: no answer (connection refused, reset, timeout)
    request_id: str | None = None  # the command's id, when the answer names one
    request_status: str | None = None
    booking_id: int | None = None
    retry_after: str | None = None
    error: str | None = None
    event: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Setup:
    base_url: str
    organizer_token: str
    events: list[int]  # the workload's events; events[0] is the hot one
    waitlisted: set[int]
    probes: dict[int, int]  # partition -> its probe event
    partitions: dict[int, int]  # event -> partition
    tokens: list[str]  # customers' tokens, split between the clients
    probe_tokens: list[str]


@dataclass
class Log:
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> Call:
        with self.lock:
            self.calls.append(call)
        return call

    def dump(self, path) -> None:
        with open(path, "w") as out:
            for call in self.calls:
                out.write(json.dumps(call.as_dict()) + "\n")


def _describe(call: Call, response: httpx.Response) -> None:
    call.status = response.status_code
    call.retry_after = response.headers.get("Retry-After")
    try:
        body = response.json()
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    if "error" in body:
        call.error = body["error"].get("code")
        body = (body["error"].get("details") or {}).get("request") or {}
    if "kind" in body and "id" in body:
        call.request_id = str(body["id"])
        call.request_status = body.get("status")
        booking = body.get("booking")
        call.booking_id = booking.get("id") if isinstance(booking, dict) else None


class Client(threading.Thread):
    """A client with its own customers; ``rng`` drives what it does next."""

    def __init__(self, name, setup: Setup, log: Log, tokens, rng: random.Random, until: float):
        super().__init__(name=name, daemon=True)
        self.setup, self.log, self.tokens, self.rng, self.until = setup, log, tokens, rng, until
        self.http = httpx.Client(base_url=setup.base_url, timeout=40)
        # token -> {event: (kind, booking id)} of what it holds
        self.held: dict[str, dict[int, tuple[str, int]]] = {t: {} for t in tokens}

    def send(self, op, method, path, token, body=None, *, key=None, wait=None, event=None) -> Call:
        headers = {"Authorization": f"Token {token}"}
        if key:
            headers["Idempotency-Key"] = key
        if wait:
            headers["Prefer"] = f"wait={wait}"
        call = Call(self.name, op, method, path, body, key, time.time(), 0.0, None, event=event)
        try:
            response = self.http.request(method, path, json=body, headers=headers)
            _describe(call, response)
        except httpx.HTTPError as exc:
            call.error = type(exc).__name__
            time.sleep(0.2)  # as a client backs off: the service is down or restarting
        call.received = time.time()
        return self.log.add(call)

    def outcome(self, call: Call, token: str, seconds: float = 20.0) -> dict | None:
        """The command's decision, polled (None when it is not decided in time)."""
        if call.request_id is None:
            return None
        if call.request_status not in (None, "pending"):
            return {"status": call.request_status, "booking": {"id": call.booking_id}}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                answer = self.http.get(
                    f"/bookingapi/requests/{call.request_id}/",
                    headers={"Authorization": f"Token {token}", "Prefer": "wait=5"},
                )
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if answer.status_code == 200 and answer.json()["status"] != "pending":
                return answer.json()
            time.sleep(0.3)
        return None

    def run(self) -> None:
        while time.time() < self.until:
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - a client keeps going; the log has it
                self.log.add(
                    Call(
                        self.name,
                        "crash",
                        "",
                        "",
                        None,
                        None,
                        time.time(),
                        time.time(),
                        None,
                        error=repr(exc)[:200],
                    )
                )
                time.sleep(0.5)
        self.http.close()

    def pick_event(self) -> int:
        events = self.setup.events
        return events[0] if self.rng.random() < 0.4 else self.rng.choice(events[1:])

    def step(self) -> None:
        token = self.rng.choice(self.tokens)
        event = self.pick_event()
        mine = self.held[token].get(event)
        roll = self.rng.random()
        if mine is None:
            if roll < 0.65:
                self.book(token, event)
            elif roll < 0.9:
                self.hold(token, event)
            else:
                self.capacity(event)
        elif mine[0] == "booking":
            if roll < 0.5:
                self.cancel(token, event, mine[1])
            else:
                self.change_seats(token, event, mine[1])
        else:
            self.finish_hold(token, event, mine[1], roll)

    def _remember(self, token, event, kind, call: Call) -> None:
        decided = self.outcome(call, token)
        if (
            decided
            and decided["status"] == "confirmed"
            and (decided.get("booking") or {}).get("id")
        ):
            self.held[token][event] = (kind, decided["booking"]["id"])

    def book(self, token: str, event: int) -> None:
        body = {"event": event, "seats": self.rng.randint(1, 4)}
        key = f"book-{self.name}-{self.rng.getrandbits(48):x}" if self.rng.random() < 0.3 else None
        wait = 5 if self.rng.random() < 0.3 else None
        call = self.send(
            "book", "POST", "/bookingapi/booking/", token, body, key=key, wait=wait, event=event
        )
        if key:  # the replay: same key and body, so the same request
            self.send(
                "book_replay", "POST", "/bookingapi/booking/", token, body, key=key, event=event
            )
        self._remember(token, event, "booking", call)

    def hold(self, token: str, event: int) -> None:
        body = {"event": event, "seats": self.rng.randint(1, 3)}
        call = self.send("hold", "POST", "/bookingapi/holds/", token, body, event=event, wait=5)
        self._remember(token, event, "hold", call)
        held = self.held[token].get(event)
        if held and held[0] == "hold":  # at once: confirm and expiry race at the deadline
            self.finish_hold(token, event, held[1], self.rng.random())

    def cancel(self, token: str, event: int, booking: int) -> None:
        call = self.send(
            "cancel", "POST", f"/bookingapi/booking/{booking}/cancel/", token, event=event
        )
        if call.status == 202 or call.status is None:
            self.held[token].pop(event, None)
        self.outcome(call, token)

    def change_seats(self, token: str, event: int, booking: int) -> None:
        body = {"seats": self.rng.randint(1, 4)}
        call = self.send(
            "change_seats", "PATCH", f"/bookingapi/booking/{booking}/", token, body, event=event
        )
        self.outcome(call, token)

    def finish_hold(self, token: str, event: int, booking: int, roll: float) -> None:
        if roll < 0.45:
            call = self.send(
                "confirm_hold", "POST", f"/bookingapi/holds/{booking}/confirm/", token, event=event
            )
            decided = self.outcome(call, token)
            if decided and decided["status"] == "confirmed":
                self.held[token][event] = ("booking", booking)
                return
        elif roll < 0.75:
            call = self.send(
                "release_hold", "DELETE", f"/bookingapi/holds/{booking}/", token, event=event
            )
            self.outcome(call, token)
        else:
            time.sleep(self.rng.uniform(0.5, 2.5))  # let it run out (or not quite)
            return
        self.held[token].pop(event, None)

    def capacity(self, event: int) -> None:
        body = {"capacity": self.rng.randint(6, 24)}
        self.send(
            "set_capacity",
            "PATCH",
            f"/eventapi/event/{event}/",
            self.setup.organizer_token,
            body,
            event=event,
        )


class Prober(threading.Thread):
    """Books one seat on every partition's probe event each ``interval``: whether, and when,
    each partition decides again after a fault."""

    def __init__(self, setup: Setup, log: Log, until: float, interval: float = 1.0):
        super().__init__(name="probe", daemon=True)
        self.setup, self.log, self.until, self.interval = setup, log, until, interval
        self.tokens = iter(setup.probe_tokens)

    def run(self) -> None:
        client = Client("probe", self.setup, self.log, [], random.Random(0), self.until)
        while time.time() < self.until:
            started = time.monotonic()
            for event in self.setup.probes.values():
                token = next(self.tokens, None)
                if token is None:
                    return
                client.send(
                    "probe",
                    "POST",
                    "/bookingapi/booking/",
                    token,
                    {"event": event, "seats": 1},
                    event=event,
                )
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))
