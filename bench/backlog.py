"""The partition worker's own decision rate: a backlog of pending commands for one event,
recorded without doorbells, then one doorbell. No HTTP in the way.

The line is the hot event's: its first ``capacity`` commands are confirmed, the rest refused
(sold out: most of them by one set-based statement per batch). Each kind is timed on its own
stretch of the line, from the announcements of the committed rounds (``bench.clocks``):
confirmations from the doorbell to the commit of the last confirmation, refusals from there to
the commit of the last refusal.
"""

import json
import time

from bench.clocks import DecisionClock
from bench.load import log, r3
from bench.scenarios import seed, subscribe

BACKLOG_CODE = """
import json, time
from apps.accounts.models import Customer
from apps.bookings.models import BookingRequest, CommandKind
from apps.events.models import Event
from apps.accounts.tokens import user_ids_for_keys
from apps.bookings.commands import ring
event = Event.objects.get(pk={event_id})
tokens = json.load(open({tokens_file!r}))
customers = Customer.objects.filter(user_id__in=user_ids_for_keys(tokens))
BookingRequest.objects.bulk_create([BookingRequest(kind=CommandKind.BOOK, user_id=c.user_id,
    customer=c, event=event) for c in customers], batch_size=1000)
started = time.time()
ring(event_id=event.pk, partition=event.partition)
print(json.dumps([started, time.time()]))
"""


def rates_by_kind(
    statuses: dict[int, str], stamps: dict[int, float], rung: float
) -> dict[str, float | None]:
    """Confirmations per second from the doorbell to the last confirmation's commit; refusals
    per second from there (or the doorbell, if none was confirmed) to the last refusal's
    commit. None where a kind was not decided or not every decision of it was announced."""
    confirmed = [pk for pk, status in statuses.items() if status == "confirmed"]
    refused = [pk for pk, status in statuses.items() if status == "rejected"]
    found: dict[str, float | None] = {
        "confirmations_per_second": None,
        "refusals_per_second": None,
    }
    if not all(pk in stamps for pk in confirmed + refused):
        return found
    start = rung
    if confirmed:
        end = max(stamps[pk] for pk in confirmed)
        if end > rung:
            found["confirmations_per_second"] = r3(len(confirmed) / (end - rung))
        start = end
    if refused:
        end = max(stamps[pk] for pk in refused)
        if end > start:
            found["refusals_per_second"] = r3(len(refused) / (end - start))
    return found


def backlog(
    stack,
    db,
    idle,
    *,
    requests: int,
    capacity: int,
    timeout: float,
    subscriptions: int = 0,
    clock: DecisionClock | None = None,
) -> dict:
    log(
        f"backlog: {requests} pending commands at one event (capacity {capacity}), one doorbell, "
        f"{subscriptions} webhook subscriptions"
    )
    seeded = seed(stack, customers=requests, capacity=capacity, events=1)
    subscribe(stack, seeded["organizer_token"], subscriptions)
    event_id = seeded["events"][0]
    tokens_file = stack.data_dir / "backlog-tokens.json"
    tokens_file.write_text(json.dumps(seeded["tokens"]))
    idle()
    # From the doorbell's publish: this shell's first publish (connecting to the broker, ~70 ms
    # measured) is not the worker's time; it is reported apart.
    publishing, rung = json.loads(
        stack.manage(
            "shell", "-c", BACKLOG_CODE.format(event_id=event_id, tokens_file=str(tokens_file))
        )
        .strip()
        .splitlines()[-1]
    )
    deadline = time.monotonic() + timeout
    while db.any_pending([event_id]) and time.monotonic() < deadline:
        time.sleep(0.005)
    observed = time.time() - rung
    counts = db.requests_by_status([event_id])
    first, last = db.one(
        "SELECT extract(epoch FROM min(decided_at)), extract(epoch FROM max(decided_at)) "
        "FROM bookings_bookingrequest WHERE event_id = %s",
        [event_id],
    )
    decided = sum(n for s, n in counts.items() if s != "pending")
    statuses = db.statuses_by_id([event_id])
    time.sleep(0.2)  # the last round's announcement, published after its commit
    stamps = clock.stamps if clock is not None else {}
    announced = [stamps[pk] for pk in statuses if pk in stamps]
    # The last commit's announcement when every decision was announced; otherwise the poll's
    # view (every 5 ms), which bounds the last commit from above.
    timed_by_commits = len(announced) == decided and decided > 0
    seconds = max(announced) - rung if timed_by_commits else observed
    result = {
        "requests": requests,
        "capacity": capacity,
        "subscriptions": subscriptions,
        "decided": decided,
        "pending": counts.get("pending", 0),
        "confirmed": counts.get("confirmed", 0),
        "seconds_to_publish_doorbell": r3(rung - publishing),
        "seconds_from_doorbell_to_last_decision": r3(seconds),
        "timed_by_commits": timed_by_commits,
        "seconds_from_doorbell_to_first_batch_start": r3(float(first) - rung) if first else None,
        "seconds_from_doorbell_to_last_batch_start": r3(float(last) - rung) if last else None,
        "decisions_per_second": r3(decided / seconds) if seconds else None,
        **rates_by_kind(statuses, stamps, rung),
        **db.seats([event_id]),
    }
    log(
        f"  backlog: {decided} decided in {seconds:.3f}s = "
        f"{result['decisions_per_second']}/s (confirmations "
        f"{result['confirmations_per_second']}/s, refusals {result['refusals_per_second']}/s), "
        f"confirmed {result['confirmed']}/{capacity}"
    )
    return result


def median_backlog(trials: list[dict]) -> dict:
    """Backlog runs (each its own event): the run with the median rate, and every run's rate."""
    chosen = sorted(trials, key=lambda t: t["decisions_per_second"] or 0)[(len(trials) - 1) // 2]
    return {
        **chosen,
        "repeat": len(trials),
        "trials_decisions_per_second": [t["decisions_per_second"] for t in trials],
        "trials_confirmations_per_second": [t["confirmations_per_second"] for t in trials],
    }
