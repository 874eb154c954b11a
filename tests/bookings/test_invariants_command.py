"""The invariant checker: healthy data passes; each kind of breach is reported (arranged by
writing rows directly, as a bug or a second writer would)."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.bookings.invariants import check_invariants
from apps.bookings.models import BookingRequest, BookingStatus, CommandKind, RequestStatus
from apps.events.models import Event
from apps.partitions.models import PartitionGrant
from apps.partitions.services import claim_partition
from tests.factories import BookingFactory, CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db


def _waitlisted(event, customer):
    return BookingRequest.objects.create(
        kind=CommandKind.BOOK,
        user=customer.user,
        customer=customer,
        event=event,
        status=RequestStatus.WAITLISTED,
    )


@pytest.fixture
def healthy_event():
    """Two active bookings, one cancelled, one waitlisted request: counters in step."""
    event = EventFactory(capacity=2, waitlist_enabled=True)
    BookingFactory.create_batch(2, event=event)
    BookingFactory(event=event, status=BookingStatus.CANCELLED)
    _waitlisted(event, CustomerFactory())
    Event.objects.filter(pk=event.pk).update(seats_taken=2, waitlist_size=1)
    return event


def test_healthy_data_has_no_breach(healthy_event):
    assert check_invariants(pending_threshold_seconds=60) == []


def test_an_empty_database_is_healthy():
    assert check_invariants(pending_threshold_seconds=0) == []


def test_a_counter_that_differs_from_the_active_bookings_is_a_breach(healthy_event):
    Event.objects.filter(pk=healthy_event.pk).update(seats_taken=1)

    breaches = check_invariants(pending_threshold_seconds=60)

    assert breaches == [
        f"event {healthy_event.pk}: counter mismatch: "
        "seats_taken 1 != 2 seats of active bookings and live holds"
    ]


def test_more_active_bookings_than_capacity_is_a_breach(healthy_event):
    # The CHECK constraint stops the counter; a stray booking row is what can overflow.
    BookingFactory(event=healthy_event)

    breaches = check_invariants(pending_threshold_seconds=60)

    assert any("over capacity" in b and f"event {healthy_event.pk}" in b for b in breaches)
    assert any("seats_taken 2 != 3 seats of active bookings and live holds" in b for b in breaches)


def test_a_waitlist_size_that_differs_from_the_waitlisted_requests_is_a_breach(healthy_event):
    Event.objects.filter(pk=healthy_event.pk).update(waitlist_size=3)

    breaches = check_invariants(pending_threshold_seconds=60)

    assert breaches == [
        f"event {healthy_event.pk}: counter mismatch: waitlist_size 3 != 1 waitlisted requests"
    ]


def test_a_customer_waitlisted_while_holding_a_seat_is_a_breach(healthy_event):
    holder = healthy_event.bookings.filter(status=BookingStatus.ACTIVE).first().customer
    entry = _waitlisted(healthy_event, holder)
    Event.objects.filter(pk=healthy_event.pk).update(waitlist_size=2)

    breaches = check_invariants(pending_threshold_seconds=60)

    assert breaches == [
        f"event {healthy_event.pk}: customer {holder.pk} is waitlisted "
        f"(request {entry.uid}) while holding an active booking"
    ]


def test_a_command_pending_longer_than_the_threshold_is_a_breach(healthy_event, customer):
    command = BookingRequest.objects.create(
        kind=CommandKind.BOOK, user=customer.user, customer=customer, event=healthy_event
    )
    BookingRequest.objects.filter(pk=command.pk).update(
        created_at=timezone.now() - timedelta(seconds=120)
    )

    assert check_invariants(pending_threshold_seconds=300) == []
    breaches = check_invariants(pending_threshold_seconds=60)

    assert len(breaches) == 1
    assert breaches[0].startswith("1 command(s) of 1 event(s) pending longer than 60s")


def test_a_decision_stamped_after_its_lease_was_granted_away_is_a_breach(healthy_event, customer):
    old = claim_partition(partition=4, host="host-a", pid=1)
    new = claim_partition(partition=4, host="host-b", pid=2)
    granted = PartitionGrant.objects.get(partition=4, generation=new).granted_at
    decided = {"status": RequestStatus.CONFIRMED, "decided_partition": 4, "decided_by": "host-a:1"}
    for generation, at in [(old, granted - timedelta(seconds=1)), (new, granted), (old, granted)]:
        BookingRequest.objects.create(
            kind=CommandKind.CANCEL,
            user=customer.user,
            event=healthy_event,
            decided_generation=generation,
            decided_at=at,
            **decided,
        )

    breaches = check_invariants(pending_threshold_seconds=60)

    assert breaches == [
        f"partition 4: decided after its lease was granted away: 1 request(s) decided by "
        f"generation {old} at or after a newer generation's grant (last at {granted.isoformat()})"
    ]


def test_the_check_runs_a_fixed_number_of_queries_however_many_events(
    django_assert_max_num_queries,
):
    for _ in range(15):
        event = EventFactory(capacity=3)
        BookingFactory(event=event)
        Event.objects.filter(pk=event.pk).update(seats_taken=1)

    with django_assert_max_num_queries(4):
        assert check_invariants(pending_threshold_seconds=60) == []


def test_the_command_reports_healthy_and_exits_zero(healthy_event):
    out = StringIO()

    call_command("check_invariants", stdout=out)

    assert "OK" in out.getvalue()


def test_the_command_exits_non_zero_and_lists_each_breach(healthy_event):
    Event.objects.filter(pk=healthy_event.pk).update(seats_taken=0, waitlist_size=0)
    out = StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("check_invariants", stdout=out)

    assert raised.value.returncode == 1
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(line.startswith("BREACH ") for line in lines)


def test_the_command_prints_json_and_honours_the_pending_threshold(healthy_event, customer):
    BookingRequest.objects.create(
        kind=CommandKind.BOOK, user=customer.user, customer=customer, event=healthy_event
    )
    out = StringIO()
    call_command("check_invariants", "--json", "--pending-threshold", "60", stdout=out)
    assert json.loads(out.getvalue()) == {
        "ok": True,
        "pending_threshold_seconds": 60.0,
        "breaches": [],
    }

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("check_invariants", "--json", "--pending-threshold", "0", stdout=out)
    report = json.loads(out.getvalue())
    assert report["ok"] is False and len(report["breaches"]) == 1


@pytest.mark.django_db
def test_out_of_order_decisions_counts_commands_decided_after_a_higher_id(event):
    from datetime import timedelta

    from django.utils import timezone

    from apps.bookings.invariants import out_of_order_decisions
    from apps.bookings.models import BookingRequest, CommandKind, RequestStatus
    from tests.factories import CustomerFactory

    now = timezone.now()
    rows = []
    for _ in range(4):
        customer = CustomerFactory()
        rows.append(
            BookingRequest.objects.create(
                kind=CommandKind.BOOK, user=customer.user, customer=customer, event=event
            )
        )
    # Ids 1, 2 and 4 in the first batch; 3 committed late and was decided in the next one.
    for row, batch in zip(rows, [0, 0, 1, 0], strict=True):
        BookingRequest.objects.filter(pk=row.pk).update(
            status=RequestStatus.CONFIRMED, decided_at=now + timedelta(seconds=batch)
        )
    assert out_of_order_decisions(event_ids=[event.pk]) == 1
    assert out_of_order_decisions(event_ids=[event.pk + 1000]) == 0
    # Among the commands of one client (3 was not sent after 4 was acknowledged) or another.
    assert out_of_order_decisions(request_ids=[rows[2].pk, rows[3].pk]) == 1
    assert out_of_order_decisions(request_ids=[rows[0].pk, rows[1].pk, rows[3].pk]) == 0
