"""Redelivery and lost doorbells against real worker processes: outcomes stay exactly-once."""

from devtools.stack import poll, shell_json
from tests.integration.crowd import decision_counts

RECORD_WITHOUT_DOORBELL = """
import json
from apps.bookings.models import BookingRequest, CommandKind
from apps.accounts.models import Customer
from apps.events.models import Event
from apps.accounts.tokens import user_ids_for_keys
event = Event.objects.get(pk={event_id})
customers = Customer.objects.filter(user_id__in=user_ids_for_keys({tokens}))
rows = BookingRequest.objects.bulk_create([BookingRequest(kind=CommandKind.BOOK,
    user_id=c.user_id, customer=c, event=event) for c in customers])
print(json.dumps(len(rows)))
"""

RING_SAME_MESSAGE = """
import json
from workers.tasks import decide_event
from workers.routing import partition_queue
for _ in range({times}):
    decide_event.apply_async(args=[{event_id}], queue=partition_queue({partition}),
                             task_id="duplicate-doorbell-{event_id}")
print(json.dumps("rung"))
"""


def record_without_doorbell(stack, event_id: int, tokens: list[str]) -> int:
    return shell_json(stack, RECORD_WITHOUT_DOORBELL.format(event_id=event_id, tokens=tokens))


def pending(stack, event_id: int) -> int:
    return stack.manage_json("event_report", str(event_id))["requests"]["pending"]


def test_duplicate_deliveries_of_one_doorbell_decide_each_command_once(stack):
    seed = stack.manage_json("seed_crowd", "--customers", "30", "--capacity", "10")
    event_id, partition = seed["events"][0], seed["partitions"][0]
    record_without_doorbell(stack, event_id, seed["tokens"])

    shell_json(stack, RING_SAME_MESSAGE.format(times=5, event_id=event_id, partition=partition))
    poll(lambda: pending(stack, event_id) == 0, timeout=30, what="the commands decided")
    # Let every duplicate run: the queue folder drains, and more doorbells find nothing to do.
    queue = stack.data_dir / "broker" / "queues" / f"bookings.p{partition}"
    poll(lambda: not any(queue.iterdir()), timeout=30, what="the duplicates consumed")

    report = stack.manage_json("event_report", str(event_id))
    assert report["requests"]["confirmed"] == 10
    assert report["requests"]["rejected"] == 20
    assert report["events"][0]["seats_taken"] == report["events"][0]["active_bookings"] == 10
    counts = decision_counts(stack, [event_id])
    assert counts == {"requests": 30, "decided_once": 30, "decided_twice": 0}


def test_a_command_whose_doorbell_was_lost_is_decided_by_the_sweeper(stack):
    seed = stack.manage_json("seed_crowd", "--customers", "5", "--capacity", "3")
    event_id = seed["events"][0]

    # Committed but never published: a crash between commit and publish, or a broker outage.
    record_without_doorbell(stack, event_id, seed["tokens"])

    poll(
        lambda: pending(stack, event_id) == 0,
        timeout=30,
        interval=0.5,
        what="the sweeper to re-ring the doorbell",
    )
    report = stack.manage_json("event_report", str(event_id))
    assert report["requests"]["confirmed"] == 3
    assert report["requests"]["rejected"] == 2
    stack.manage("check_invariants", "--pending-threshold", "60")
