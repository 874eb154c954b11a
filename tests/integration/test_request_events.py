"""A request's Server-Sent Events, end to end: a real stack (gunicorn, the launcher) with no
partition worker, so that the test decides the event's line one command at a time (in a
management shell, which announces the decisions as a worker does), and httpx streaming."""

import json

import httpx
import pytest

from devtools.stack import Stack

pytestmark = pytest.mark.integration

DECIDE_ONE = (
    "from django.db import transaction\n"
    "from apps.bookings.decisions import Handover, _decide_batch\n"
    "handover = Handover()\n"
    "with transaction.atomic():\n"
    "    _decide_batch(event_id={event}, limit=1, handover=handover)\n"
    "    handover.after_commit()\n"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    env = {
        "BOOKING_WAITERS_PER_PROCESS": "2",
        "BOOKING_STREAM_HEARTBEAT_SECONDS": "0.5",
        "THROTTLE_COMMANDS_PER_USER": "off",
    }
    with Stack(
        data_dir=tmp_path_factory.mktemp("events"), env=env, partitions="none", web_workers=1
    ) as running:
        yield running


@pytest.fixture
def line(stack):
    """An event and three customers with a pending book command each, in that order."""
    seeded = json.loads(
        stack.manage("seed_crowd", "--customers", "3", "--capacity", "10").splitlines()[-1]
    )
    [event] = seeded["events"]
    uids = []
    for token in seeded["tokens"]:
        answer = httpx.post(
            f"{stack.base_url}/bookingapi/booking/",
            json={"event": event},
            headers={"Authorization": f"Token {token}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        uids.append(answer.json()["id"])
    return event, seeded["tokens"], uids


def decide_one(stack: Stack, event: int) -> None:
    stack.manage("shell", "-c", DECIDE_ONE.format(event=event))


def read_events(response: httpx.Response):
    """(id, event, data) per event, and ("", "heartbeat", None) per comment line."""
    fields: dict = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            yield "", "heartbeat", None
        elif line == "":
            if "event" in fields:
                yield fields.get("id", ""), fields["event"], json.loads(fields["data"])
            fields = {}
        else:
            name, _, value = line.partition(": ")
            fields[name] = value


def open_stream(stack: Stack, token: str, uid: str, **headers):
    return httpx.stream(
        "GET",
        f"{stack.base_url}/bookingapi/requests/{uid}/events",
        headers={"Authorization": f"Token {token}", "Accept": "text/event-stream", **headers},
        timeout=httpx.Timeout(30),
    )


def test_a_stream_shows_the_state_then_each_move_in_line_then_the_outcome(stack, line):
    event, tokens, uids = line
    seen = []
    with open_stream(stack, tokens[2], uids[2]) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for event_id, kind, data in read_events(response):
            seen.append((event_id, kind))
            if kind == "state" or kind == "position":
                decide_one(stack, event)  # the next command ahead (or this one) is decided
            if kind == "outcome":
                assert data["status"] == "confirmed"
    # The stream ended by itself after the outcome.
    assert [s for s in seen if s[1] != "heartbeat"] == [
        ("pending.3", "state"),
        ("pending.2", "position"),
        ("pending.1", "position"),
        ("confirmed", "outcome"),
    ]


def test_heartbeats_keep_a_quiet_stream_open(stack, line):
    _, tokens, uids = line
    kinds = []
    with open_stream(stack, tokens[0], uids[0]) as response:
        for _, kind, _ in read_events(response):
            kinds.append(kind)
            if kinds.count("heartbeat") == 2:
                break

    assert kinds[0] == "state"
    assert kinds[1:] == ["heartbeat", "heartbeat"]


def test_last_event_id_resumes_without_resending_what_the_client_has(stack, line):
    event, tokens, uids = line
    with open_stream(stack, tokens[0], uids[0], **{"Last-Event-ID": "pending.1"}) as response:
        for _, kind, data in read_events(response):
            if kind == "heartbeat":
                decide_one(stack, event)
            else:
                first = (kind, data["status"])
                break

    with open_stream(stack, tokens[0], uids[0], **{"Last-Event-ID": "confirmed"}) as after:
        done = after.status_code

    assert first == ("outcome", "confirmed")  # the pending state it had was not sent again
    assert done == 204  # EventSource stops reconnecting


def test_only_the_owner_may_watch_a_request(stack, line):
    _, tokens, uids = line
    with open_stream(stack, tokens[1], uids[0]) as response:
        assert response.status_code == 404


def test_beyond_the_processes_cap_a_stream_is_refused_with_retry_after(stack, line):
    _, tokens, uids = line
    with (
        open_stream(stack, tokens[0], uids[0]) as first,
        open_stream(stack, tokens[1], uids[1]) as second,
    ):
        # Both waiting places of the one web process are taken once the streams started.
        next(read_events(first)), next(read_events(second))
        with open_stream(stack, tokens[2], uids[2]) as third:
            third.read()
            refused = (third.status_code, third.headers.get("Retry-After"), third.json())

    assert refused[0] == 429
    assert int(refused[1]) >= 1
    assert refused[2]["error"]["code"] == "throttled"
