"""Arrival order on PostgreSQL with the real workers: per event, a command is decided no later
than any command recorded after it was acknowledged."""

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from devtools.stack import shell_json
from tests.integration.crowd import settle

pytestmark = pytest.mark.servers

CLIENTS, SENDS, CAPACITY = 12, 10, 40

ORDER = """
import json
import uuid
from apps.bookings.invariants import out_of_order_decisions
from apps.bookings.models import BookingRequest

clients = json.loads({clients!r})
found = []
for uids in clients:
    ids = dict(BookingRequest.objects.filter(uid__in=uids).values_list("uid", "id"))
    in_order = [ids[uuid.UUID(uid)] for uid in uids]
    reasons = dict(BookingRequest.objects.filter(id__in=in_order).values_list("id", "reason"))
    found.append({{
        "ids_ascending": in_order == sorted(in_order),
        "overtaken": out_of_order_decisions(request_ids=in_order),
        "reasons": [reasons[i] for i in in_order],
    }})
print(json.dumps(found))
"""


def send_one_after_another(stack, tokens: list[str], event_id: int) -> list[str]:
    """One client: each customer's book once the previous one was acknowledged (202); the
    request ids, in the order sent."""
    sent = []
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        for token in tokens:
            response = client.post(
                "/bookingapi/booking/",
                json={"event": event_id},
                headers={"Authorization": f"Token {token}"},
            )
            if response.status_code == 409:  # seen full at the door: nothing recorded
                continue
            assert response.status_code == 202, response.text
            sent.append(response.json()["id"])
    return sent


def test_each_clients_commands_at_a_hot_event_are_decided_in_the_order_they_were_sent(
    scaled_stack,
):
    """Clients send at once, each one command after another to one event: each client's
    commands are decided in the order it sent them (no later decision time for an earlier
    command), so once one of them finds the event sold out, every later one does too."""
    seed = scaled_stack.manage_json(
        "seed_crowd", "--customers", str(CLIENTS * SENDS), "--capacity", str(CAPACITY)
    )
    event_id, tokens = seed["events"][0], seed["tokens"]
    with ThreadPoolExecutor(CLIENTS) as pool:
        clients = [
            pool.submit(
                send_one_after_another,
                scaled_stack,
                tokens[k * SENDS : (k + 1) * SENDS],
                event_id,
            )
            for k in range(CLIENTS)
        ]
        sent = [client.result() for client in clients]  # a client's failure fails the test
    assert sum(len(uids) for uids in sent) >= CAPACITY  # every client got its commands through

    report = settle(scaled_stack, event_id)
    found = shell_json(scaled_stack, ORDER.format(clients=json.dumps(sent)))

    assert report["requests"]["confirmed"] == CAPACITY
    for client in found:
        assert client["ids_ascending"] and client["overtaken"] == 0, client
        booked = [reason == "booked" for reason in client["reasons"]]
        assert booked == sorted(booked, reverse=True), client  # none booked after a refusal
    scaled_stack.manage("check_invariants", "--pending-threshold", "60")
