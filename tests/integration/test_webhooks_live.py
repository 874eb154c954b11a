"""Webhooks through real processes: the partition worker records deliveries with its decisions,
the general worker sends them; on the embedded default and on PostgreSQL + Redis."""

from collections import Counter

import httpx
import pytest

from apps.webhooks.signing import verify
from devtools.stack import poll
from tests.integration.crowd import book_all_at_once, settle


@pytest.mark.parametrize(
    "profile", ["stack", pytest.param("scaled_stack", marks=pytest.mark.servers)]
)
def test_every_outcome_reaches_the_organizers_subscriber_once_and_signed(
    profile, request, receiver
):
    stack = request.getfixturevalue(profile)
    seed = stack.manage_json("seed_crowd", "--customers", "12", "--capacity", "4")
    event_id = seed["events"][0]
    subscribed = httpx.post(
        f"{stack.base_url}/webhookapi/subscription/",
        json={"url": receiver.url, "event_types": ["booking.confirmed", "booking.rejected"]},
        headers={"Authorization": f"Token {seed['organizer_token']}"},
        timeout=10,
    )
    assert subscribed.status_code == 201, subscribed.text
    secret = subscribed.json()["secret"]

    # Requests refused at the door (409 at once, once the event is seen full) are not
    # recorded: subscribers hear of every recorded command.
    recorded = 12 - book_all_at_once(stack, event_id, seed["tokens"])
    settle(stack, event_id)
    poll(lambda: len(receiver.hits) >= recorded, timeout=60, what="a delivery per command")

    for hit in receiver.hits:
        verify(secret=secret, headers=hit.headers, body=hit.body)
    assert len(set(receiver.ids())) == recorded
    assert (
        Counter(hit.json["type"] for hit in receiver.hits)
        == Counter({"booking.confirmed": 4, "booking.rejected": recorded - 4}) - Counter()
    )
