"""Operating the service through real processes (embedded default): /metrics adds up every
process's counters and agrees with the database after a small crowd; JSON logs tell one
command's story across the web, the partition worker and the webhook worker; readiness."""

import json

import httpx
import pytest

from devtools.stack import Stack, poll, shell_json
from tests.integration.crowd import book_all_at_once, settle
from tests.operations.metrics_text import samples, total, value

CROWD, CAPACITY = 30, 10


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """The whole service with JSON logs at INFO (gunicorn with 2 processes, 8 partition workers,
    the general worker, beat), each process writing its own metrics file."""
    stack = Stack(tmp_path_factory.mktemp("observed"), env={"LOG_FORMAT": "json"}, log_level="INFO")
    with stack:
        yield stack


def subscribe(stack: Stack, token: str, url: str) -> None:
    subscribed = httpx.post(
        f"{stack.base_url}/webhookapi/subscription/",
        json={"url": url, "event_types": ["booking.confirmed", "booking.rejected"]},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert subscribed.status_code == 201, subscribed.text


DATABASE_TOTALS = """
import json
from django.db.models import Count
from apps.bookings.models import BookingRequest
from apps.webhooks.models import WebhookAttempt
decided = (BookingRequest.objects.exclude(status="pending").values("kind", "status", "reason")
           .annotate(n=Count("id")).order_by())
print(json.dumps({
    "decisions": {f"{r['kind']}/{r['status']}/{r['reason']}": r["n"] for r in decided},
    "commands": BookingRequest.objects.count(),
    "pending": BookingRequest.objects.filter(status="pending").count(),
    "attempts_succeeded": WebhookAttempt.objects.filter(succeeded=True).count(),
    "attempts_failed": WebhookAttempt.objects.filter(succeeded=False).count(),
}))
"""


def scrape(stack: Stack) -> dict:
    response = httpx.get(f"{stack.base_url}/metrics", timeout=10)
    assert response.status_code == 200
    return samples(response.text)


def counters_agree_with(database: dict, table: dict) -> bool:
    decided = sum(database["decisions"].values())
    doorbells = total(table, "reservations_doorbells_total")
    # The sweeper re-rings only a doorbell left unanswered: often it never does.
    rerung = value(table, "reservations_doorbells_rerung_total", default=0)
    return (
        all(
            value(table, "reservations_decisions_total", kind=k, status=s, reason=r) == n
            for (k, s, r), n in ((key.split("/"), n) for key, n in database["decisions"].items())
        )
        and total(table, "reservations_decisions_total") == decided
        and value(table, "reservations_request_to_decision_seconds_count") == decided
        and value(table, "reservations_decision_batch_size_sum") == decided
        # Every accepted command rang or found a doorbell waiting; the sweeper's rings add up.
        and doorbells == database["commands"] + rerung
        and value(table, "reservations_webhook_attempts_total", outcome="succeeded")
        == database["attempts_succeeded"]
        and total(table, "reservations_webhook_attempts_total")
        == database["attempts_succeeded"] + database["attempts_failed"]
    )


def test_metrics_after_a_crowd_add_up_every_process_and_match_the_database(observed, receiver):
    seed = observed.manage_json(
        "seed_crowd", "--customers", str(CROWD), "--capacity", str(CAPACITY)
    )
    event_id = seed["events"][0]
    subscribe(observed, seed["organizer_token"], receiver.url)

    # Requests refused at the door (409 at once, the event seen full) are recorded nowhere.
    recorded = CROWD - book_all_at_once(observed, event_id, seed["tokens"])
    settle(observed, event_id)
    poll(lambda: len(receiver.hits) >= recorded, timeout=60, what="every outcome delivered")

    # Decisions are counted by the partition worker, doorbells by two gunicorn processes,
    # attempts by the general worker: one scrape of one gunicorn process sees them all.
    def agreed():
        database = shell_json(observed, DATABASE_TOTALS)
        table = scrape(observed)
        return (database, table) if counters_agree_with(database, table) else None

    database, table = poll(agreed, timeout=30, interval=0.5, what="counters = database")
    assert database["decisions"]["book/confirmed/booked"] == CAPACITY
    assert database["decisions"].get("book/rejected/sold_out", 0) == recorded - CAPACITY
    assert value(table, "reservations_webhook_attempts_total", outcome="succeeded") >= recorded
    assert value(table, "reservations_decision_batch_size_count") >= 1
    assert value(table, "reservations_decision_batch_duration_seconds_count") == value(
        table, "reservations_decision_batch_size_count"
    )
    # The database's gauges: nothing pending anywhere, no delivery due, every partition owned.
    assert database["pending"] == 0
    for partition in range(8):
        label = str(partition)
        assert value(table, "reservations_pending_commands", partition=label) == 0
        assert value(table, "reservations_oldest_pending_command_age_seconds", partition=label) == 0
        assert value(table, "reservations_partition_owner_live", partition=label) == 1
    assert value(table, "reservations_webhook_deliveries_due") == 0
    assert value(table, "reservations_database_up") == 1


def test_one_grep_of_a_request_id_tells_the_commands_whole_story(observed, receiver):
    seed = observed.manage_json("seed_crowd", "--customers", "1", "--capacity", "5")
    event_id, token = seed["events"][0], seed["tokens"][0]
    subscribe(observed, seed["organizer_token"], receiver.url)

    accepted = httpx.post(
        f"{observed.base_url}/bookingapi/booking/",
        json={"event": event_id},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert accepted.status_code == 202
    request_id = accepted.json()["id"]
    settle(observed, event_id)
    poll(lambda: receiver.hits, timeout=60, what="the delivery")

    def story():
        lines = [json.loads(line) for line in observed.log().splitlines() if request_id in line]
        loggers = {line["logger"] for line in lines}
        told = {
            "apps.bookings.commands",
            "apps.bookings.decisions",
            "apps.webhooks.sending",
            "gunicorn.access",
        }
        return lines if told <= loggers else None

    lines = poll(story, timeout=30, interval=0.5, what="the request's lines in the log")
    messages = [line["message"] for line in lines]
    # Every line that names the request carries it as request_id, from three kinds of process.
    assert all(line.get("request_id") == request_id for line in lines), lines
    assert any(m.startswith("accepted book") for m in messages)
    assert any(m.startswith("doorbell for event") for m in messages)
    assert any(m.startswith(f"request {request_id} decided: book confirmed") for m in messages)
    assert any("attempt 1" in m and "succeeded" in m for m in messages)
    assert len({line["pid"] for line in lines}) >= 3  # web, partition worker, webhook worker


def test_every_line_every_process_writes_is_one_json_object(observed):
    httpx.get(f"{observed.base_url}/", timeout=10)  # something in the log, whatever ran before
    lines = [line for line in observed.log().splitlines() if line.strip()]

    not_json = []
    for line in lines:
        try:
            parsed = json.loads(line)
        except ValueError:
            not_json.append(line)
            continue
        assert {"time", "level", "logger", "pid", "message"} <= set(parsed), line
    assert not_json == []
    loggers = {json.loads(line)["logger"] for line in lines}
    # The launcher, gunicorn, Celery workers: all in the format.
    assert {"workers.launcher", "gunicorn.error", "celery.apps.worker"} <= loggers


def test_ready_when_every_partition_has_a_live_worker(observed):
    ready = httpx.get(f"{observed.base_url}/health/ready/", timeout=10)

    assert ready.status_code == 200, ready.text
    assert ready.json()["partitions_without_owner"] == []
    assert httpx.get(f"{observed.base_url}/health/", timeout=10).status_code == 200


def test_the_front_door_answers_through_gunicorn(observed):
    index = httpx.get(f"{observed.base_url}/", timeout=10).json()
    assert index["name"] == "reservations"
    assert index["links"]["metrics"] == "/metrics"
