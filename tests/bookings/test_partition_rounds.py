"""A partition run goes in rounds: one batch of every event with pending commands, in one
transaction (one commit), and another round for events whose batch was full."""

import re

import pytest
from django.db import connection

from apps.bookings import outcomes, statements
from apps.bookings.commands import request_command
from apps.bookings.decisions import decide_partition
from apps.bookings.models import BookingRequest, CommandKind, Reason, RequestStatus
from apps.events.models import Event
from apps.webhooks import services as webhooks
from apps.webhooks.models import WebhookDelivery
from tests.bookings.rounds import EXPECTED, mixed_round
from tests.bookings.test_decisions import book, outcome
from tests.factories import CustomerFactory, EventFactory, OrganizerFactory
from tests.webhooks.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db(transaction=True)

PARTITION = 3


@pytest.fixture(autouse=True)
def _no_doorbells(monkeypatch):
    """Commands are recorded without ringing: this test's calls decide them, not a worker."""
    monkeypatch.setattr("apps.bookings.commands.ring_doorbell", lambda **kwargs: True)


def events_on_one_partition(count: int, capacity: int) -> list[Event]:
    events = [EventFactory(capacity=capacity) for _ in range(count)]
    Event.objects.filter(pk__in=[e.pk for e in events]).update(partition=PARTITION)
    return [Event.objects.get(pk=e.pk) for e in events]


def count_commits(monkeypatch) -> list[int]:
    commits: list[int] = []
    commit = connection._commit

    def counted(*args, **kwargs):
        commits.append(1)
        return commit(*args, **kwargs)

    monkeypatch.setattr(connection, "_commit", counted)
    return commits


def test_a_run_over_many_events_commits_once(monkeypatch):
    events = events_on_one_partition(5, capacity=2)
    commands = [book(e, CustomerFactory()) for e in events for _ in range(2)]
    commits = count_commits(monkeypatch)

    assert decide_partition(partition=PARTITION, first_event_id=events[2].pk) == 10

    assert len(commits) == 1
    assert {outcome(c) for c in commands} == {(RequestStatus.CONFIRMED, Reason.BOOKED)}
    assert [Event.objects.get(pk=e.pk).seats_taken for e in events] == [2] * 5


def test_a_round_writes_its_events_together_one_statement_per_table():
    organizer = OrganizerFactory()
    events = events_on_one_partition(4, capacity=1)
    Event.objects.filter(pk__in=[e.pk for e in events]).update(creator=organizer)
    SubscriptionFactory(owner=organizer.user, event_types=["booking.confirmed"])
    commands = [book(e, CustomerFactory()) for e in events for _ in range(2)]
    tables: list[str] = []

    def spot(execute, sql, params, many, context):
        tables.extend(re.findall(r'(?:INSERT INTO|UPDATE|COPY) "?(\w+)"?', sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spot):
        assert decide_partition(partition=PARTITION) == 8

    # One insert of bookings, of history and of deliveries, one update of the counters, one
    # update of requests per kind of outcome: not one of each per event.
    assert tables.count("bookings_booking") == 1
    assert tables.count("audit_historypoint") == 1
    assert tables.count("webhooks_webhookdelivery") == 1
    assert tables.count("events_event") == 1
    assert tables.count("bookings_bookingrequest") == 2  # booked, sold out
    assert [outcome(c)[1] for c in commands] == [Reason.BOOKED, Reason.SOLD_OUT] * len(events)
    assert WebhookDelivery.objects.count() == len(events)


def test_events_with_a_full_batch_get_more_rounds_others_are_not_held_up(settings, monkeypatch):
    settings.BOOKING_DECISION_BATCH = 3
    big, small = events_on_one_partition(2, capacity=4)
    crowd = [book(big, CustomerFactory()) for _ in range(8)]
    single = book(small, CustomerFactory())
    decided_in_rounds: list[set[int]] = []
    commits = count_commits(monkeypatch)
    monkeypatch.setattr(
        "apps.bookings.statements.locked_events_with_pending",
        _recording(decided_in_rounds),
    )

    assert decide_partition(partition=PARTITION) == 9

    assert len(commits) == 3  # rounds of 3 + 1, 3, 2 commands
    assert decided_in_rounds[0] == {big.pk, small.pk}
    assert outcome(single) == (RequestStatus.CONFIRMED, Reason.BOOKED)
    assert [outcome(c)[1] for c in crowd] == [Reason.BOOKED] * 4 + [Reason.SOLD_OUT] * 4
    assert not BookingRequest.objects.filter(status=RequestStatus.PENDING).exists()


def _recording(rounds: list[set[int]]):
    original = statements.locked_events_with_pending

    def locked_events_with_pending(partition: int) -> list:
        found = original(partition)
        rounds.append({event.pk for event in found})
        return found

    return locked_events_with_pending


def test_the_events_with_pending_commands_are_those_of_the_partition_in_id_order():
    waiting = events_on_one_partition(3, capacity=5)
    decided_only = events_on_one_partition(1, capacity=5)[0]
    elsewhere = EventFactory(capacity=5)
    Event.objects.filter(pk=elsewhere.pk).update(partition=PARTITION + 1)
    for event in [*reversed(waiting), decided_only, elsewhere]:
        book(event, CustomerFactory())
    decide_partition(partition=PARTITION, first_event_id=decided_only.pk)  # all of them
    for event in [*reversed(waiting), elsewhere]:
        book(event, CustomerFactory())
        book(event, CustomerFactory())

    assert statements.events_with_pending(PARTITION) == [e.pk for e in waiting]
    assert statements.events_with_pending(PARTITION + 1) == [elsewhere.pk]
    assert statements.events_with_pending(PARTITION + 2) == []
    # A round finds the same events and locks them in the same statement.
    locked = statements.locked_events_with_pending(PARTITION)
    assert [e.pk for e in locked] == [e.pk for e in waiting]
    assert statements.locked_events_with_pending(PARTITION + 2) == []
    # Their rows' counts are read by a statement of its own, once the locks are held.
    counted = statements.fresh_counts([e.pk for e in locked], PARTITION)
    assert counted.counts == {e.pk: (1, 0) for e in waiting}  # each booked once before


def test_a_round_announces_and_hands_over_in_one_message_each_once_it_commits(monkeypatch):
    organizer = OrganizerFactory()
    events = [EventFactory(capacity=2, creator=organizer) for _ in range(3)]
    Event.objects.filter(pk__in=[e.pk for e in events]).update(partition=PARTITION)
    SubscriptionFactory(owner=organizer.user, event_types=["booking.confirmed"])
    commands = [book(event, CustomerFactory()) for event in events]
    handed: list[list[int]] = []
    announced: list[list[int]] = []
    monkeypatch.setattr(
        "apps.webhooks.services.hand_over_deliveries",
        lambda *, delivery_ids: handed.append(sorted(delivery_ids)),
    )
    monkeypatch.setattr(
        "apps.bookings.decisions.wakeups.announce", lambda ids: announced.append(sorted(ids))
    )
    real_create = webhooks.create_deliveries

    def failing_for_the_last_event(*, batches, **kwargs):
        if any(event.pk == events[-1].pk for event, _ in batches):
            raise RuntimeError("this event's batch fails after its deliveries were written")
        return real_create(batches=batches, **kwargs)

    monkeypatch.setattr(webhooks, "create_deliveries", failing_for_the_last_event)

    assert decide_partition(partition=PARTITION) == 3

    stored = sorted(WebhookDelivery.objects.values_list("pk", flat=True))
    assert len(stored) == 2  # the failing batch's savepoint took its rows back
    assert handed == [stored]  # one message, after the commit, without the failed batch's
    # Its command, decided one by one (rejected with internal_error), is announced with them.
    assert announced == [sorted(c.pk for c in commands)]
    assert outcome(commands[-1]) == (RequestStatus.REJECTED, Reason.INTERNAL_ERROR)


def test_a_round_reads_its_events_once_and_its_customers_bookings_with_their_lines():
    found = mixed_round()

    # Each event sees its own bookings only, though x has bookings at two of the others.
    assert found["outcomes"] == [list(line) for line in EXPECTED]
    assert found["decided"] == len(EXPECTED)
    assert found["seats_taken"] == {"a": 2, "b": 2, "c": 1}
    # The lines (each command with its customer's booking) are one statement per event here
    # (SQLite); on PostgreSQL one for all (tests/integration/test_decision_statements.py).
    assert found["statements"] == {"events": 1, "counts": 1, "lines": 3}


def test_payloads_name_customers_read_with_the_line_and_the_others_in_one_query():
    organizer = OrganizerFactory()
    event = EventFactory(capacity=5, creator=organizer)
    Event.objects.filter(pk=event.pk).update(partition=PARTITION)
    SubscriptionFactory(
        owner=organizer.user, event_types=["booking.confirmed", "booking.cancelled"]
    )
    customers = [CustomerFactory() for _ in range(3)]
    for customer in customers:
        book(event, customer)
    usernames_read: list[str] = []

    def spot(execute, sql, params, many, context):
        if statements_named(sql, outcomes.USERNAMES.name) or sql.startswith(
            "SELECT c.id, u.username"
        ):
            usernames_read.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spot):
        assert decide_partition(partition=PARTITION) == 3
    confirmed = _payload_usernames("booking.confirmed")
    assert confirmed == sorted(c.user.username for c in customers)
    assert usernames_read == []  # they came with the line

    # The organizer cancels the event: the bookings' customers are not the command's.
    request_command(
        user_id=organizer.user_id,
        event=event,
        kind=CommandKind.CANCEL_EVENT,
        payload={"force": True},
    )
    with connection.execute_wrapper(spot):
        assert decide_partition(partition=PARTITION) == 1
    assert _payload_usernames("booking.cancelled") == confirmed
    assert len(usernames_read) == 1


def statements_named(sql: str, name: str) -> bool:
    return sql.startswith(f"EXECUTE {name} ")


def _payload_usernames(event_type: str) -> list[str]:
    return sorted(
        d.payload["data"]["booking"]["customer_username"]
        for d in WebhookDelivery.objects.filter(event_type=event_type)
    )
