"""examples/webhook_receiver.py against a real stack: it verifies what the service signs, refuses
what it did not sign or signed too long ago, and handles a redelivered message once."""

import json
import time
import uuid

import httpx
import pytest

from apps.webhooks.signing import signature_headers
from devtools.stack import free_port, poll
from tests.examples.clients import RunningReceiver, run_book

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def subscribed(stack, tmp_path_factory):
    """A customer subscribed to its outcomes at a receiver started with the secret."""
    seed = stack.manage_json("seed_crowd", "--customers", "1", "--capacity", "10")
    token = seed["tokens"][0]
    port = free_port()
    subscription = httpx.post(
        f"{stack.base_url}/webhookapi/subscription/",
        json={"url": f"http://127.0.0.1:{port}/hooks", "event_types": ["booking.confirmed"]},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert subscription.status_code == 201, subscription.text
    secret = subscription.json()["secret"]
    receiver = RunningReceiver(port=port, secret=secret, tmp=tmp_path_factory.mktemp("receiver"))
    try:
        yield {"token": token, "event": seed["events"][0], "secret": secret, "receiver": receiver}
    finally:
        receiver.stop()


def test_verifies_a_delivery_and_drops_its_redelivery(stack, subscribed):
    receiver, token = subscribed["receiver"], subscribed["token"]
    code, outcome, _ = run_book(
        "--base-url", stack.base_url, "--token", token, "--event", str(subscribed["event"])
    )
    assert code == 0 and outcome["status"] == "confirmed"

    first = receiver.wait_for(
        lambda r: r["type"] == "booking.confirmed", what="the booking's delivery"
    )
    assert first["verified"] and not first["duplicate"]
    redelivered = httpx.post(
        f"{stack.base_url}/webhookapi/deliveries/{first['webhook_id']}/redeliver/",
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert redelivered.status_code == 202, redelivered.text

    again = receiver.wait_for(
        lambda r: r["webhook_id"] == first["webhook_id"] and r["duplicate"],
        what="the redelivery, recognised",
    )
    assert again["verified"]
    # The duplicate was acknowledged with a 2xx, so the service counts the delivery done.
    poll(
        lambda: (
            httpx.get(
                f"{stack.base_url}/webhookapi/deliveries/{first['webhook_id']}/",
                headers={"Authorization": f"Token {token}"},
                timeout=10,
            ).json()["status"]
            == "succeeded"
        ),
        timeout=60,
        what="the redelivery recorded as succeeded",
    )


def _post(receiver: RunningReceiver, headers: dict, body: bytes) -> int:
    return httpx.post(receiver.url, content=body, headers=headers, timeout=10).status_code


@pytest.mark.parametrize(
    ("forgery", "error"),
    [
        ("another secret", "no matching signature"),
        ("a timestamp ten minutes old", "from our clock"),
        ("no signature", "missing"),
    ],
)
def test_refuses_what_the_service_did_not_sign_just_now(subscribed, forgery, error):
    receiver, secret = subscribed["receiver"], subscribed["secret"]
    msg_id = str(uuid.uuid4())
    body = json.dumps({"type": "booking.confirmed", "id": msg_id}).encode()
    headers = signature_headers(secret=secret, msg_id=msg_id, body=body)
    if forgery == "another secret":
        headers = signature_headers(secret="whsec_" + "A" * 32, msg_id=msg_id, body=body)
    elif forgery == "a timestamp ten minutes old":
        old = int(time.time()) - 600
        headers = signature_headers(secret=secret, msg_id=msg_id, body=body, timestamp=old)
    else:
        del headers["webhook-signature"]

    assert _post(receiver, headers, body) == 400
    refused = receiver.wait_for(lambda r: r["webhook_id"] == msg_id, what="the refusal")
    assert not refused["verified"] and error in refused["error"]


def test_a_message_signed_with_the_secret_just_now_is_accepted(subscribed):
    receiver, secret = subscribed["receiver"], subscribed["secret"]
    msg_id = str(uuid.uuid4())
    body = b'{"type": "booking.confirmed"}'

    assert _post(receiver, signature_headers(secret=secret, msg_id=msg_id, body=body), body) == 204
    record = receiver.wait_for(lambda r: r["webhook_id"] == msg_id, what="the message")
    assert record["verified"] and not record["duplicate"]
