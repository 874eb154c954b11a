"""A batch never blocks its event or its partition: whatever goes wrong with one command, the
others are decided; an event whose counter disagrees with its rows is held back, its counters
neither trusted nor rewritten."""

import logging

import pytest
from prometheus_client import REGISTRY

from apps.bookings import decisions, invariants, rules, statements
from apps.bookings.decisions import decide_partition, decide_pending
from apps.bookings.models import Booking, BookingRequest, CommandKind, Reason, RequestStatus
from apps.events.models import Event
from apps.partitions.services import PartitionLost, claim_partition
from tests.bookings.test_decisions import (  # noqa: F401 - healthy_afterwards is a fixture
    book,
    healthy_afterwards,
    on_booking,
    outcome,
)
from tests.factories import CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db


def poisoned(monkeypatch, command: BookingRequest) -> BookingRequest:
    """``command`` makes the rules raise (a bug in a rule), every other command is decided."""
    BookingRequest.objects.filter(pk=command.pk).update(payload={"poison": True})
    decide = rules.decide

    def fails_on_poison(**kwargs):
        if kwargs["payload"].get("poison"):
            raise KeyError("a bug in a rule")
        return decide(**kwargs)

    monkeypatch.setattr(rules, "decide", fails_on_poison)
    return command


def test_a_rule_that_fails_on_one_command_rejects_only_that_command(monkeypatch, caplog):
    event = EventFactory(capacity=5)
    commands = [book(event, CustomerFactory()) for _ in range(4)]
    poison = poisoned(monkeypatch, commands[1])
    with caplog.at_level(logging.ERROR, logger="apps.bookings.decisions"):
        assert decide_pending(event_id=event.pk) == 4

    assert outcome(poison) == (RequestStatus.REJECTED, Reason.INTERNAL_ERROR)
    assert [outcome(c) for c in commands if c.pk != poison.pk] == [
        (RequestStatus.CONFIRMED, Reason.BOOKED)
    ] * 3
    assert str(poison.uid) in caplog.text
    event.refresh_from_db()
    assert event.seats_taken == 3


def test_any_exception_in_a_batch_falls_back_to_one_by_one(monkeypatch):
    event = EventFactory(capacity=5)
    commands = [book(event, CustomerFactory()) for _ in range(3)]
    promote = decisions._Ledger.promote_from_waitlist
    calls = {"n": 0}

    def fails_in_big_batches(self):
        calls["n"] += 1
        if len(self.requests) > 1:
            raise StopIteration  # what a waitlist counter out of step used to raise
        return promote(self)

    monkeypatch.setattr(decisions._Ledger, "promote_from_waitlist", fails_in_big_batches)
    decide_pending(event_id=event.pk)
    assert [outcome(c) for c in commands] == [(RequestStatus.CONFIRMED, Reason.BOOKED)] * 3


def test_one_event_s_failure_never_stops_the_partition_s_other_events(monkeypatch, caplog):
    broken, healthy = EventFactory(partition=1), EventFactory(partition=1)
    stuck = book(broken, CustomerFactory())
    waiting = book(healthy, CustomerFactory())
    count = statements.fresh_counts

    def broken_event_fails(event_ids, partition):
        # Every path a decision of this event takes reads its counts: the round's, its own
        # batch's, one command's and the internal_error rejection's.
        if broken.pk in event_ids:
            raise RuntimeError("the database refused everything for this event")
        return count(event_ids, partition)

    monkeypatch.setattr(statements, "fresh_counts", broken_event_fails)
    with caplog.at_level(logging.ERROR, logger="apps.bookings.decisions"):
        assert decide_partition(partition=1, first_event_id=broken.pk) == 1
    assert outcome(waiting) == (RequestStatus.CONFIRMED, Reason.BOOKED)
    # Left pending for the next doorbell or the sweeper; decided once the fault is gone.
    assert outcome(stuck) == (RequestStatus.PENDING, "")
    assert f"event {broken.pk}: left pending" in caplog.text
    monkeypatch.setattr(statements, "fresh_counts", count)
    assert decide_partition(partition=1) == 1
    assert outcome(stuck) == (RequestStatus.CONFIRMED, Reason.BOOKED)


def test_a_waitlist_counter_out_of_step_with_its_rows_holds_the_event_back(caplog):
    event = EventFactory(capacity=1, waitlist_enabled=True)
    seated, waiting = CustomerFactory(), CustomerFactory()
    book(event, seated)
    entry = book(event, waiting)
    decide_pending(event_id=event.pk)
    assert outcome(entry) == (RequestStatus.WAITLISTED, Reason.WAITLISTED)
    BookingRequest.objects.filter(pk=entry.pk).delete()  # the row goes, the counter stays 1

    cancel = on_booking(CommandKind.CANCEL, event, seated)
    with caplog.at_level(logging.ERROR, logger="apps.bookings.decisions"):
        assert decide_pending(event_id=event.pk) == 0
    assert outcome(cancel) == (RequestStatus.PENDING, "")
    event.refresh_from_db()
    assert (event.seats_taken, event.waitlist_size) == (1, 1)  # left as they were
    assert "waitlist_size 1 disagrees with its rows (0)" in caplog.text
    assert any("counter mismatch: waitlist_size 1 != 0 waitlisted" in b for b in check_invariants())
    # An operator's repair lets it go on.
    Event.objects.filter(pk=event.pk).update(waitlist_size=0)
    assert decide_pending(event_id=event.pk) == 1
    assert outcome(cancel) == (RequestStatus.CONFIRMED, Reason.CANCELLED)


def test_a_seat_counter_below_its_rows_sells_nothing_more(caplog):
    event = EventFactory(capacity=1)
    book(event, CustomerFactory())
    decide_pending(event_id=event.pk)
    Event.objects.filter(pk=event.pk).update(seats_taken=0)  # a stale write from outside
    mismatches = counter_mismatches("seats_taken", "below_rows")

    late = book(event, CustomerFactory())
    with caplog.at_level(logging.ERROR, logger="apps.bookings.decisions"):
        assert decide_partition(partition=event.partition) == 0
    assert outcome(late) == (RequestStatus.PENDING, "")
    assert Booking.objects.filter(event=event, status="active").count() == 1
    assert Event.objects.get(pk=event.pk).seats_taken == 0  # not trusted, not repaired either
    assert "seats_taken 0 disagrees with its rows (1)" in caplog.text
    assert counter_mismatches("seats_taken", "below_rows") == mismatches + 1
    assert any("counter mismatch: seats_taken 0 != 1 seats" in b for b in check_invariants())
    Event.objects.filter(pk=event.pk).update(seats_taken=1)  # an operator's repair
    assert decide_partition(partition=event.partition) == 1
    assert outcome(late) == (RequestStatus.REJECTED, Reason.SOLD_OUT)


def test_a_seat_counter_above_its_rows_is_never_lowered_by_a_decision(caplog):
    event = EventFactory(capacity=2)
    first = CustomerFactory()
    book(event, first)
    decide_pending(event_id=event.pk)
    Booking.objects.filter(event=event).delete()  # the rows go from outside, the counter stays
    mismatches = counter_mismatches("seats_taken", "above_rows")

    late = book(event, CustomerFactory())
    with caplog.at_level(logging.ERROR, logger="apps.bookings.decisions"):
        assert decide_pending(event_id=event.pk) == 0
    assert outcome(late) == (RequestStatus.PENDING, "")
    assert Event.objects.get(pk=event.pk).seats_taken == 1
    assert counter_mismatches("seats_taken", "above_rows") == mismatches + 1
    Event.objects.filter(pk=event.pk).update(seats_taken=0)  # an operator's repair
    assert decide_pending(event_id=event.pk) == 1
    assert outcome(late) == (RequestStatus.CONFIRMED, Reason.BOOKED)


def counter_mismatches(counter: str, direction: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "reservations_counter_mismatches_total", {"counter": counter, "direction": direction}
        )
        or 0.0
    )


def check_invariants() -> list[str]:
    return invariants.check_invariants(pending_threshold_seconds=3600)


def test_a_rule_that_breaks_the_seat_bounds_raises_an_error_not_an_assertion():
    state = rules.EventState(capacity=1, seats_taken=2, start_time=_future())
    with pytest.raises(rules.SeatCountOutOfBounds):
        rules.decide(kind=CommandKind.BOOK, event=state, now=_now())


def test_a_worker_that_lost_its_partition_decides_nothing():
    event = EventFactory(partition=2)
    command = book(event, CustomerFactory())
    mine = claim_partition(partition=2, host="here", pid=1)
    claim_partition(partition=2, host="there", pid=2)  # evicted while paused

    with pytest.raises(PartitionLost):
        decide_partition(partition=2, first_event_id=event.pk, owner_generation=mine)
    assert outcome(command) == (RequestStatus.PENDING, "")
    decide_partition(partition=2, first_event_id=event.pk, owner_generation=mine + 1)
    assert outcome(command) == (RequestStatus.CONFIRMED, Reason.BOOKED)


def test_a_doorbell_on_the_wrong_partition_decides_nothing():
    event = EventFactory(partition=3)
    command = book(event, CustomerFactory())
    assert decide_partition(partition=4, first_event_id=event.pk) == 0
    assert outcome(command) == (RequestStatus.PENDING, "")
    assert decide_partition(partition=3, first_event_id=event.pk) == 1


def _now():
    from django.utils import timezone

    return timezone.now()


def _future():
    from datetime import timedelta

    return _now() + timedelta(days=1)


@pytest.mark.django_db(transaction=True)  # announcements are sent once the batch commits
def test_a_command_rejected_with_internal_error_is_announced_to_its_waiter(monkeypatch):
    """A ``Prefer: wait`` request whose command could not be decided hears of its rejection
    when the batch commits, with the others, not only at its next recheck."""
    # Recorded without a doorbell: this test's call decides them, not a worker.
    monkeypatch.setattr("apps.bookings.commands.ring_doorbell", lambda **kwargs: True)
    event = EventFactory(capacity=5)
    commands = [book(event, CustomerFactory()) for _ in range(3)]
    poison = poisoned(monkeypatch, commands[1])
    announced: list[int] = []
    monkeypatch.setattr(decisions.wakeups, "announce", lambda ids: announced.extend(ids))
    assert decide_pending(event_id=event.pk) == 3

    assert outcome(poison) == (RequestStatus.REJECTED, Reason.INTERNAL_ERROR)
    assert sorted(announced) == sorted(c.pk for c in commands)
