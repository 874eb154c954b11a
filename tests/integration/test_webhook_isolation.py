"""Slow webhook receivers cannot stall the service: with 8 subscriptions on a receiver that
drips its answers, the one normal subscriber still gets every delivery within seconds, commands
are decided in the usual time, and the sweeper (on its own worker) still re-rings a lost
doorbell."""

import httpx

from devtools.stack import Stack, poll, shell_json
from tests.integration.crowd import book_all_at_once, settle
from tests.integration.test_pipeline_faults import RECORD_WITHOUT_DOORBELL
from tests.receiver import DripReceiver

SLOW_SUBSCRIPTIONS = 8
CUSTOMERS, CAPACITY, LOST = 30, 10, 5


def test_slow_receivers_do_not_delay_other_subscribers_nor_decisions(tmp_path, receiver):
    drip = DripReceiver(interval=1.0, for_seconds=120)
    stack = Stack(tmp_path / "stack", env={"WEBHOOK_ATTEMPT_DEADLINE_SECONDS": "5"})
    try:
        with stack:
            seed = stack.manage_json(
                "seed_crowd", "--customers", str(CUSTOMERS), "--capacity", str(CAPACITY)
            )
            event_id, tokens = seed["events"][0], seed["tokens"]
            organizer = {"Authorization": f"Token {seed['organizer_token']}"}
            types = ["booking.confirmed", "booking.rejected"]
            for url in [drip.url] * SLOW_SUBSCRIPTIONS + [receiver.url]:
                created = httpx.post(
                    f"{stack.base_url}/webhookapi/subscription/",
                    json={"url": url, "event_types": types},
                    headers=organizer,
                    timeout=10,
                )
                assert created.status_code == 201, created.text

            # A few commands whose doorbell was lost: only the sweeper decides them.
            code = RECORD_WITHOUT_DOORBELL.format(event_id=event_id, tokens=tokens[-LOST:])
            assert shell_json(stack, code) == LOST
            refused = book_all_at_once(stack, event_id, tokens[:-LOST])
            recorded = CUSTOMERS - refused

            report = settle(stack, event_id, timeout=60)
            assert report["requests"]["confirmed"] == CAPACITY
            poll(
                lambda: len(set(receiver.ids())) >= recorded,
                timeout=30,
                what="every outcome at the normal receiver",
            )
            assert len(set(receiver.ids())) == recorded
            assert drip.accepted >= 1  # the slow subscriptions were being tried all along
    finally:
        drip.close()
