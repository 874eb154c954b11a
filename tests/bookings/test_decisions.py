"""The worker's service, called directly: ``request_command`` records, ``decide_pending``
decides every pending command of one event in id order (no worker, no broker)."""

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import Action, HistoryPoint
from apps.bookings import decisions
from apps.bookings.commands import request_command
from apps.bookings.decisions import decide_pending
from apps.bookings.invariants import check_invariants
from apps.bookings.models import (
    Booking,
    BookingRequest,
    BookingStatus,
    CommandKind,
    Reason,
    RequestStatus,
)
from apps.core.exceptions import Conflict
from apps.events.models import Event
from tests.factories import CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def healthy_afterwards(db):
    """Every scenario in these modules ends with the booking invariants intact."""
    yield
    assert_healthy()


def book(event, customer, **kwargs) -> BookingRequest:
    return request_command(
        user_id=customer.user_id,
        event=event,
        kind=CommandKind.BOOK,
        customer_id=customer.pk,
        **kwargs,
    )[0]


def on_booking(kind, event, customer) -> BookingRequest:
    booking = Booking.objects.get(event=event, customer=customer)
    return request_command(
        user_id=customer.user_id,
        event=event,
        kind=kind,
        customer_id=customer.pk,
        booking_id=booking.pk,
    )[0]


def outcome(command) -> tuple[str, str]:
    command.refresh_from_db()
    return command.status, command.reason


def capture_outcomes(monkeypatch) -> list[tuple[str, str]]:
    """Record the webhook outcomes each decided batch hands over, as (type, request uid)."""
    seen: list[tuple[str, str]] = []

    def capture(*, batches, describe, hand_over=True):
        seen.extend((o.event_type, str(o.request.uid)) for _, outcomes in batches for o in outcomes)
        return []

    monkeypatch.setattr("apps.webhooks.deliveries.create_deliveries", capture)
    return seen


def assert_healthy():
    assert check_invariants(pending_threshold_seconds=60) == []


def test_a_recorded_command_stays_pending_until_its_event_is_decided(event, customer):
    command = book(event, customer)

    assert outcome(command) == (RequestStatus.PENDING, "")
    assert decide_pending(event_id=event.pk) == 1
    assert outcome(command) == (RequestStatus.CONFIRMED, Reason.BOOKED)
    command.refresh_from_db()
    assert command.decided_at is not None and command.booking.status == BookingStatus.ACTIVE
    assert_healthy()


def test_deciding_again_changes_nothing_so_a_redelivered_doorbell_is_a_no_op(event):
    commands = [book(event, CustomerFactory()) for _ in range(3)]
    decide_pending(event_id=event.pk)
    before = list(BookingRequest.objects.order_by("id").values_list("status", "decided_at"))
    history = HistoryPoint.objects.count()

    assert decide_pending(event_id=event.pk) == 0

    after = list(BookingRequest.objects.order_by("id").values_list("status", "decided_at"))
    assert after == before and HistoryPoint.objects.count() == history
    assert Booking.objects.count() == 3 and len(commands) == 3
    event.refresh_from_db()
    assert event.seats_taken == 3


def test_a_doorbell_for_a_missing_event_decides_nothing():
    assert decide_pending(event_id=987654) == 0


def test_commands_are_decided_in_id_order(organizer):
    event = EventFactory(creator=organizer, capacity=2)
    customers = CustomerFactory.create_batch(4)
    commands = [book(event, c) for c in customers]

    decide_pending(event_id=event.pk)

    assert [outcome(c)[1] for c in commands] == [
        Reason.BOOKED,
        Reason.BOOKED,
        Reason.SOLD_OUT,
        Reason.SOLD_OUT,
    ]
    assert_healthy()


def test_only_the_given_event_is_decided(customer):
    first, second = EventFactory(), EventFactory()
    mine, other = book(first, customer), book(second, customer)

    decide_pending(event_id=first.pk)

    assert outcome(mine)[0] == RequestStatus.CONFIRMED
    assert outcome(other)[0] == RequestStatus.PENDING


def test_a_second_book_command_while_the_first_is_pending_is_refused_at_once(event, customer):
    first = book(event, customer)

    with pytest.raises(Conflict) as refused:
        book(event, customer)

    assert refused.value.code == "book_pending"
    assert refused.value.details == {"request": str(first.uid)}
    assert BookingRequest.objects.filter(event=event).count() == 1


def test_the_database_refuses_two_pending_book_commands_for_one_customer_and_event(event, customer):
    from django.db import IntegrityError, transaction

    book(event, customer)
    with pytest.raises(IntegrityError), transaction.atomic():
        BookingRequest.objects.create(
            kind=CommandKind.BOOK, user_id=customer.user_id, customer=customer, event=event
        )


def test_a_retry_with_the_same_idempotency_key_returns_the_pending_request(event, customer):
    first = book(event, customer, idempotency_key="k-1")

    again = book(event, customer, idempotency_key="k-1")

    assert again.pk == first.pk


def test_once_decided_a_second_book_command_is_a_duplicate(event, customer):
    first = book(event, customer)
    decide_pending(event_id=event.pk)

    second = book(event, customer)
    decide_pending(event_id=event.pk)

    assert outcome(first) == (RequestStatus.CONFIRMED, Reason.BOOKED)
    assert outcome(second) == (RequestStatus.REJECTED, Reason.DUPLICATE)
    assert Booking.objects.filter(event=event).count() == 1


def test_booking_after_cancelling_reactivates_the_same_booking_row(event, customer):
    book(event, customer)
    decide_pending(event_id=event.pk)
    booking = Booking.objects.get(event=event, customer=customer)
    on_booking(CommandKind.CANCEL, event, customer)
    decide_pending(event_id=event.pk)
    again = book(event, customer)
    decide_pending(event_id=event.pk)

    assert outcome(again) == (RequestStatus.CONFIRMED, Reason.REACTIVATED)
    assert list(Booking.objects.filter(event=event).values_list("pk", "status")) == [
        (booking.pk, BookingStatus.ACTIVE)
    ]
    again.refresh_from_db()
    assert again.booking_id == booking.pk


def test_a_reactivate_command_reactivates_the_cancelled_booking(event, customer):
    book(event, customer)
    decide_pending(event_id=event.pk)
    on_booking(CommandKind.CANCEL, event, customer)
    reactivate = on_booking(CommandKind.REACTIVATE, event, customer)

    decide_pending(event_id=event.pk)

    assert outcome(reactivate) == (RequestStatus.CONFIRMED, Reason.REACTIVATED)
    booking = Booking.objects.get(event=event, customer=customer)
    assert booking.status == BookingStatus.ACTIVE and booking.cancelled_at is None


def test_the_counter_equals_the_active_bookings_after_a_mixed_sequence(organizer):
    event = EventFactory(creator=organizer, capacity=3)
    a, b, c, d = CustomerFactory.create_batch(4)
    for customer in (a, b, c, d):
        book(event, customer)  # d: sold out
    decide_pending(event_id=event.pk)
    on_booking(CommandKind.CANCEL, event, a)
    book(event, d)  # takes a's seat
    on_booking(CommandKind.REACTIVATE, event, a)  # sold out again
    on_booking(CommandKind.CANCEL, event, b)
    on_booking(CommandKind.CANCEL, event, b)  # not active any more
    on_booking(CommandKind.REACTIVATE, event, a)  # takes b's seat

    decide_pending(event_id=event.pk)

    event.refresh_from_db()
    active = set(
        Booking.objects.filter(event=event, status=BookingStatus.ACTIVE).values_list(
            "customer_id", flat=True
        )
    )
    assert active == {a.pk, c.pk, d.pk}
    assert event.seats_taken == 3
    reasons = list(
        BookingRequest.objects.filter(event=event).order_by("id").values_list("reason", flat=True)
    )
    assert reasons == [
        Reason.BOOKED,
        Reason.BOOKED,
        Reason.BOOKED,
        Reason.SOLD_OUT,
        Reason.CANCELLED,
        Reason.BOOKED,
        Reason.SOLD_OUT,
        Reason.CANCELLED,
        Reason.NOT_ACTIVE,
        Reason.REACTIVATED,
    ]
    assert_healthy()


def test_every_decision_writes_one_history_row_naming_its_request(event, customer):
    other = CustomerFactory()
    commands = [book(event, customer), book(event, other)]
    decide_pending(event_id=event.pk)
    commands.append(book(event, customer))  # a duplicate
    decide_pending(event_id=event.pk)

    for command in commands:
        rows = [
            p for p in HistoryPoint.objects.all() if p.details.get("request") == str(command.uid)
        ]
        assert len(rows) == 1
        command.refresh_from_db()
        assert rows[0].user_id == command.user_id
        assert rows[0].details["reason"] == command.reason
    actions = sorted(HistoryPoint.objects.values_list("action", flat=True))
    assert actions == sorted([Action.CREATE, Action.BOOKING_REJECTED, Action.CREATE])


def test_a_confirmed_booking_history_row_points_at_the_new_booking(event, customer):
    book(event, customer)

    decide_pending(event_id=event.pk)

    point = HistoryPoint.objects.get(action=Action.CREATE)
    assert point.target == Booking.objects.get(event=event, customer=customer)


def test_the_same_idempotency_key_and_body_return_the_same_request(event, customer):
    first, created = request_command(
        user_id=customer.user_id,
        event=event,
        kind=CommandKind.BOOK,
        customer_id=customer.pk,
        idempotency_key="k-1",
    )
    again, created_again = request_command(
        user_id=customer.user_id,
        event=event,
        kind=CommandKind.BOOK,
        customer_id=customer.pk,
        idempotency_key="k-1",
    )

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert BookingRequest.objects.count() == 1


def test_the_same_idempotency_key_with_another_body_is_unprocessable_via_the_api(
    api, event, customer
):
    other_event = EventFactory()
    client = api.as_user(customer.user)
    headers = {"HTTP_IDEMPOTENCY_KEY": "retry-42"}
    first = client.post("/bookingapi/booking/", {"event": event.pk}, format="json", **headers)
    replay = client.post("/bookingapi/booking/", {"event": event.pk}, format="json", **headers)
    reused = client.post(
        "/bookingapi/booking/", {"event": other_event.pk}, format="json", **headers
    )

    assert first.status_code == replay.status_code == 202
    assert replay.json()["id"] == first.json()["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert BookingRequest.objects.count() == 1


def test_idempotency_keys_belong_to_their_user(event, customer):
    other = CustomerFactory()
    mine = book(event, customer, idempotency_key="shared")
    theirs = book(event, other, idempotency_key="shared")

    assert mine.pk != theirs.pk


def test_a_burst_is_decided_in_batches_of_the_configured_size_in_order(
    settings, monkeypatch, organizer
):
    settings.BOOKING_DECISION_BATCH = 7
    event = EventFactory(creator=organizer, capacity=10)
    commands = [book(event, c) for c in CustomerFactory.create_batch(20)]
    batches = []
    decide_batch = decisions._decide_batch

    def counting(**kwargs):
        batches.append(decide_batch(**kwargs))
        return batches[-1]

    monkeypatch.setattr(decisions, "_decide_batch", counting)

    assert decide_pending(event_id=event.pk) == 20

    assert batches == [7, 7, 6]
    assert [outcome(c)[1] for c in commands] == [Reason.BOOKED] * 10 + [Reason.SOLD_OUT] * 10
    assert_healthy()


def test_a_batch_the_database_fails_leaves_all_its_commands_pending(monkeypatch, event):
    commands = [book(event, c) for c in CustomerFactory.create_batch(3)]

    def broken(**kwargs):
        raise OperationalError("webhook table unavailable")

    monkeypatch.setattr(decisions.webhooks, "create_deliveries", broken)
    with pytest.raises(OperationalError):
        decide_pending(event_id=event.pk)

    assert {outcome(c)[0] for c in commands} == {RequestStatus.PENDING}
    assert not Booking.objects.exists()
    assert Event.objects.get(pk=event.pk).seats_taken == 0


def test_a_command_the_database_refuses_is_rejected_alone_and_the_line_moves_on(organizer):
    event = EventFactory(creator=organizer, capacity=5)
    # A capacity of 0 passes the rules (no seat is taken yet) but not the CHECK constraint.
    poison, _ = request_command(
        user_id=organizer.user_id,
        event=event,
        kind=CommandKind.SET_CAPACITY,
        payload={"capacity": 0},
    )
    first = book(event, CustomerFactory())
    last = book(event, CustomerFactory())

    assert decide_pending(event_id=event.pk) == 3

    assert outcome(first) == (RequestStatus.CONFIRMED, Reason.BOOKED)
    assert outcome(poison) == (RequestStatus.REJECTED, Reason.INTERNAL_ERROR)
    assert outcome(last) == (RequestStatus.CONFIRMED, Reason.BOOKED)
    event.refresh_from_db()
    assert (event.capacity, event.seats_taken) == (5, 2)
    assert_healthy()


def test_a_batch_links_each_request_to_its_own_booking_and_writes_new_bookings_once(organizer):
    event = EventFactory(creator=organizer, capacity=3)
    returning = CustomerFactory()
    book(event, returning)
    decide_pending(event_id=event.pk)
    on_booking(CommandKind.CANCEL, event, returning)
    decide_pending(event_id=event.pk)
    newcomers = [CustomerFactory() for _ in range(3)]
    commands = [book(event, c) for c in newcomers[:2]]
    commands.append(book(event, returning))  # reactivates its cancelled booking
    commands.append(book(event, newcomers[2]))  # sold out: no booking to link

    with CaptureQueriesContext(connection) as queries:
        decide_pending(event_id=event.pk)

    for command, customer in zip(commands, [*newcomers[:2], returning], strict=False):
        command.refresh_from_db()
        assert command.booking == Booking.objects.get(event=event, customer=customer)
    assert outcome(commands[3]) == (RequestStatus.REJECTED, Reason.SOLD_OUT)
    assert commands[3].booking_id is None
    booking_updates = [
        q["sql"] for q in queries if q["sql"].startswith(f"UPDATE {Booking._meta.db_table} SET")
    ]
    reactivated = Booking.objects.get(event=event, customer=returning)
    # The reactivated booking is updated; the two new ones are only inserted.
    assert [sql.endswith(f"WHERE id IN ({reactivated.pk})") for sql in booking_updates] == [True]
