"""examples/book.py against a real stack: it books once, whatever the network does, and says
how its command ended."""

import httpx
import pytest

from tests.examples.clients import run_book
from tests.examples.faults import DROP, THROTTLE, FaultyProxy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def crowd(stack):
    """Twelve customers with tokens, an event with room (50 seats) and one with a single seat."""
    roomy = stack.manage_json("seed_crowd", "--customers", "12", "--capacity", "50")
    tight = stack.manage_json("seed_crowd", "--customers", "0", "--capacity", "1")
    return {"tokens": roomy["tokens"], "event": roomy["events"][0], "tight": tight["events"][0]}


def commands_of(stack, token: str) -> list[dict]:
    answer = httpx.get(
        f"{stack.base_url}/bookingapi/requests/",
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


def book_through(stack, fault, token: str, event: int, *more: str):
    """examples/book.py through a proxy that does ``fault`` to its first POST: (exit code,
    outcome, log, the POSTs the proxy saw)."""
    proxy = FaultyProxy(stack.base_url, fault)
    try:
        code, outcome, log = run_book(
            "--base-url", proxy.url, "--token", token, "--event", str(event), *more
        )
    finally:
        proxy.stop()
    return code, outcome, log, proxy.posts


def test_books_a_seat_and_prints_the_outcome(stack, crowd):
    token = crowd["tokens"][0]
    code, outcome, _ = run_book(
        "--base-url",
        stack.base_url,
        "--token",
        token,
        "--event",
        str(crowd["event"]),
        "--seats",
        "2",
    )

    assert code == 0
    assert outcome["status"] == "confirmed" and outcome["reason"] == "booked"
    assert outcome["seats"] == 2 and outcome["booking"]
    [command] = commands_of(stack, token)
    assert command["id"] == outcome["request"] and command["status"] == "confirmed"


def test_follows_a_202_by_polling_the_request_until_it_is_decided(stack, crowd):
    token = crowd["tokens"][1]
    code, outcome, log = run_book(
        "--base-url",
        stack.base_url,
        "--token",
        token,
        "--event",
        str(crowd["event"]),
        "--wait",
        "0",
    )

    assert code == 0 and outcome["status"] == "confirmed"
    assert f"/bookingapi/requests/{outcome['request']}/: pending" in log


def test_a_refusal_is_reported_with_its_reason(stack, crowd):
    first, second = crowd["tokens"][2:4]
    event = str(crowd["tight"])
    assert run_book("--base-url", stack.base_url, "--token", first, "--event", event)[0] == 0

    code, outcome, _ = run_book("--base-url", stack.base_url, "--token", second, "--event", event)

    assert code == 1
    assert outcome["status"] == "refused" and outcome["reason"] == "sold_out"
    assert outcome["http_status"] == 409


def test_a_dropped_connection_is_retried_with_the_same_key_and_books_once(stack, crowd):
    token = crowd["tokens"][4]
    code, outcome, log, posts = book_through(stack, DROP, token, crowd["event"])

    assert code == 0 and outcome["status"] == "confirmed"
    first, retry = posts
    assert first["Idempotency-Key"] == retry["Idempotency-Key"]
    assert "already" in log  # the server answered the retry with the command it had recorded
    [command] = commands_of(stack, token)
    assert command["id"] == outcome["request"]


def test_a_429_is_retried_after_its_retry_after_with_the_same_key(stack, crowd):
    token = crowd["tokens"][5]
    code, outcome, log, posts = book_through(stack, THROTTLE, token, crowd["event"])

    assert code == 0 and outcome["status"] == "confirmed"
    assert "429; retrying in 1.00 s" in log
    first, retry = posts
    assert first["Idempotency-Key"] == retry["Idempotency-Key"]
    assert len(commands_of(stack, token)) == 1


def test_gives_up_when_retry_after_would_pass_its_deadline(stack, crowd):
    code, outcome, _, _ = book_through(
        stack, THROTTLE, crowd["tokens"][6], crowd["event"], "--timeout", "0.5"
    )

    assert code == 3 and outcome["status"] == "gave_up"
    assert commands_of(stack, crowd["tokens"][6]) == []
