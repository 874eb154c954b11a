"""The booking API: who may do what, the 202 + request resource contract, Prefer: wait,
line position, and the organizer's dashboard."""

import contextlib
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bookings.decisions import decide_pending
from apps.bookings.invariants import check_invariants
from apps.bookings.models import BookingRequest, BookingStatus, CommandKind, Reason, RequestStatus
from apps.events.models import Event
from tests.bookings.test_decisions import (  # noqa: F401 - healthy_afterwards is a fixture
    book,
    healthy_afterwards,
)
from tests.factories import BookingFactory, CustomerFactory, EventFactory
from workers import wakeups

BOOKINGS = "/bookingapi/booking/"


def post_booking(api, user, event_id, **headers):
    return api.as_user(user).post(BOOKINGS, {"event": event_id}, format="json", **headers)


def taken_booking(event, customer=None):
    """An active booking as the worker would leave it, counter included."""
    booking = BookingFactory(event=event, **({"customer": customer} if customer else {}))
    Event.objects.filter(pk=event.pk).update(
        seats_taken=event.bookings.filter(status=BookingStatus.ACTIVE).count()
    )
    return booking


# --- requesting a booking ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_booking_request_is_accepted_with_a_location_and_the_pending_resource(
    api, event, customer
):
    response = post_booking(api, customer.user, event.pk)

    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"] == f"/bookingapi/requests/{body['id']}/"
    assert set(body) == {
        "id",
        "kind",
        "status",
        "reason",
        "message",
        "event",
        "seats",
        "booking",
        "payload",
        "position",
        "waitlist_position",
        "attempts",
        "created_at",
        "decided_at",
    }
    assert (body["kind"], body["status"], body["event"], body["booking"]) == (
        CommandKind.BOOK,
        RequestStatus.PENDING,
        event.pk,
        None,
    )
    assert (body["position"], body["waitlist_position"], body["decided_at"]) == (1, None, None)
    assert "Preference-Applied" not in response.headers
    command = BookingRequest.objects.get(uid=body["id"])
    assert (command.user_id, command.customer_id) == (customer.user_id, customer.pk)


@pytest.mark.django_db
def test_an_organizer_cannot_book(api, event, organizer):
    assert post_booking(api, organizer.user, event.pk).status_code == 403
    assert not BookingRequest.objects.exists()


@pytest.mark.django_db
def test_an_anonymous_client_must_authenticate(api, event):
    response = post_booking(api, None, event.pk)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"event": 987654}, {}, {"event": "x"}])
def test_an_unknown_or_missing_event_is_a_validation_error(api, customer, body):
    response = api.as_user(customer.user).post(BOOKINGS, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not BookingRequest.objects.exists()


@pytest.mark.django_db
def test_booking_a_started_event_is_refused_at_once_without_a_command(api, organizer, customer):
    start = timezone.now() - timedelta(minutes=5)
    event = EventFactory(creator=organizer, start_time=start, end_time=start + timedelta(hours=2))

    response = post_booking(api, customer.user, event.pk)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == Reason.EVENT_CLOSED
    assert not BookingRequest.objects.exists()


@pytest.mark.django_db
def test_a_full_event_without_waitlist_refuses_at_once_without_a_command(api, organizer, customer):
    event = EventFactory(creator=organizer, capacity=1)
    taken_booking(event)

    response = post_booking(api, customer.user, event.pk)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == Reason.SOLD_OUT
    assert not BookingRequest.objects.exists()


@pytest.mark.django_db
def test_a_customer_holding_a_seat_at_a_full_event_is_told_duplicate_at_once(
    api, organizer, customer
):
    event = EventFactory(creator=organizer, capacity=1)
    taken_booking(event, customer)

    response = post_booking(api, customer.user, event.pk)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == Reason.DUPLICATE
    assert not BookingRequest.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "pending_kind", [CommandKind.CANCEL, CommandKind.SET_CAPACITY, CommandKind.CANCEL_EVENT]
)
def test_a_full_event_takes_the_command_in_line_while_a_seat_may_free(
    api, organizer, customer, pending_kind
):
    event = EventFactory(creator=organizer, capacity=1)
    holder = taken_booking(event)
    BookingRequest.objects.create(
        kind=pending_kind,
        user=holder.customer.user,
        customer=holder.customer,
        event=event,
        booking=holder,
        payload={"capacity": 2} if pending_kind == CommandKind.SET_CAPACITY else {},
    )

    response = post_booking(api, customer.user, event.pk)

    assert response.status_code == 202
    assert response.json()["position"] == 2


@pytest.mark.django_db
def test_a_full_event_with_a_waitlist_takes_the_command_in_line(api, organizer, customer):
    event = EventFactory(creator=organizer, capacity=1, waitlist_enabled=True)
    taken_booking(event)

    response = post_booking(api, customer.user, event.pk)

    assert response.status_code == 202


@pytest.mark.django_db
def test_an_idempotency_key_longer_than_allowed_is_a_bad_request(api, event, customer):
    response = post_booking(api, customer.user, event.pk, HTTP_IDEMPOTENCY_KEY="k" * 256)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not BookingRequest.objects.exists()


@pytest.mark.django_db
def test_a_blank_idempotency_key_is_a_bad_request(api, event, customer):
    response = post_booking(api, customer.user, event.pk, HTTP_IDEMPOTENCY_KEY="   ")

    assert response.status_code == 400


# --- the request resource and its place in line ----------------------------------------------


@pytest.mark.django_db
def test_a_customer_reads_their_own_request(api, event, customer):
    uid = post_booking(api, customer.user, event.pk).json()["id"]

    response = api.as_user(customer.user).get(f"/bookingapi/requests/{uid}/")

    assert response.status_code == 200
    assert response.json()["id"] == uid


@pytest.mark.django_db
def test_another_users_request_is_not_found(api, event, customer, organizer):
    uid = post_booking(api, customer.user, event.pk).json()["id"]

    for stranger in (CustomerFactory().user, organizer.user):
        assert api.as_user(stranger).get(f"/bookingapi/requests/{uid}/").status_code == 404


@pytest.mark.django_db
def test_the_requests_list_shows_only_the_callers_own(api, event, customer):
    mine = post_booking(api, customer.user, event.pk).json()["id"]
    post_booking(api, CustomerFactory().user, event.pk)

    body = api.as_user(customer.user).get("/bookingapi/requests/").json()

    assert [r["id"] for r in body["results"]] == [mine]


@pytest.mark.django_db
def test_a_pending_request_shows_its_position_in_the_events_line(api, organizer):
    event, elsewhere = EventFactory(creator=organizer), EventFactory(creator=organizer)
    customers = CustomerFactory.create_batch(4)
    book(elsewhere, customers[0])  # another event's line does not count
    uids = [post_booking(api, c.user, event.pk).json()["id"] for c in customers[:3]]

    positions = [
        api.as_user(c.user).get(f"/bookingapi/requests/{uid}/").json()["position"]
        for c, uid in zip(customers, uids, strict=False)
    ]

    assert positions == [1, 2, 3]


@pytest.mark.django_db
def test_the_position_drops_as_commands_ahead_are_decided(api, organizer):
    event = EventFactory(creator=organizer)
    first, last = CustomerFactory.create_batch(2)
    book(event, first)
    decide_pending(event_id=event.pk)
    uid = post_booking(api, last.user, event.pk).json()["id"]
    decided = BookingRequest.objects.get(customer=first)

    mine = api.as_user(last.user).get(f"/bookingapi/requests/{uid}/").json()
    theirs = api.as_user(first.user).get(f"/bookingapi/requests/{decided.uid}/").json()

    assert mine["position"] == 1
    assert (theirs["status"], theirs["position"]) == (RequestStatus.CONFIRMED, None)


# --- bookings: visibility and changes ----------------------------------------------------------


@pytest.fixture
def bookings(organizer, other_organizer, customer):
    """The customer's booking at the organizer's event, a stranger's there, and the customer's
    booking at another organizer's event."""
    mine = EventFactory(creator=organizer)
    theirs = EventFactory(creator=other_organizer)
    return {
        "own": taken_booking(mine, customer),
        "stranger": taken_booking(mine),
        "elsewhere": taken_booking(theirs, customer),
    }


def listed(api, user) -> set[int]:
    return {b["id"] for b in api.as_user(user).get(BOOKINGS).json()["results"]}


@pytest.mark.django_db
def test_a_customer_lists_only_their_own_bookings(api, customer, bookings):
    assert listed(api, customer.user) == {bookings["own"].pk, bookings["elsewhere"].pk}


@pytest.mark.django_db
def test_an_organizer_lists_the_bookings_of_their_events(api, organizer, bookings):
    assert listed(api, organizer.user) == {bookings["own"].pk, bookings["stranger"].pk}


@pytest.mark.django_db
def test_an_organizer_without_events_sees_no_bookings(api, bookings):
    assert listed(api, EventFactory().creator.user) == set()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "suffix", "data", "kind"),
    [
        ("delete", "", None, CommandKind.CANCEL),
        ("post", "cancel/", None, CommandKind.CANCEL),
        ("patch", "", {"status": "cancelled"}, CommandKind.CANCEL),
        ("patch", "", {"status": "active"}, CommandKind.REACTIVATE),
    ],
    ids=["delete", "post-cancel", "patch-cancelled", "patch-active"],
)
def test_the_owner_changes_a_booking_through_a_command(
    api, customer, bookings, method, suffix, data, kind
):
    booking = bookings["own"]
    client = api.as_user(customer.user)

    response = getattr(client, method)(f"{BOOKINGS}{booking.pk}/{suffix}", data, format="json")

    assert response.status_code == 202
    command = BookingRequest.objects.get(uid=response.json()["id"])
    assert (command.kind, command.booking_id, command.status) == (
        kind,
        booking.pk,
        RequestStatus.PENDING,
    )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.ACTIVE  # decided later, by the worker


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "suffix", "data"),
    [("delete", "", None), ("post", "cancel/", None), ("patch", "", {"status": "cancelled"})],
)
def test_the_events_organizer_cannot_change_a_customers_booking(
    api, organizer, bookings, method, suffix, data
):
    url = f"{BOOKINGS}{bookings['own'].pk}/{suffix}"

    response = getattr(api.as_user(organizer.user), method)(url, data, format="json")

    assert response.status_code == 403
    assert not BookingRequest.objects.exists()


@pytest.mark.django_db
def test_another_customers_booking_is_not_found(api, bookings):
    response = api.as_user(CustomerFactory().user).post(f"{BOOKINGS}{bookings['own'].pk}/cancel/")

    assert response.status_code == 404


@pytest.mark.django_db
def test_a_booking_status_must_be_active_or_cancelled(api, customer, bookings):
    response = api.as_user(customer.user).patch(
        f"{BOOKINGS}{bookings['own'].pk}/", {"status": "gone"}, format="json"
    )

    assert response.status_code == 400
    assert not BookingRequest.objects.exists()


@pytest.mark.django_db
def test_a_booking_of_a_started_event_cannot_be_cancelled(api, customer, bookings):
    event = bookings["own"].event
    Event.objects.filter(pk=event.pk).update(start_time=timezone.now() - timedelta(minutes=1))

    response = api.as_user(customer.user).post(f"{BOOKINGS}{bookings['own'].pk}/cancel/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == Reason.EVENT_CLOSED


# --- Prefer: wait ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_prefer_wait_answers_202_when_the_command_is_still_pending(api, event, customer):
    # No worker decides inside this test's transaction: the doorbell rings only after a commit.
    response = post_booking(api, customer.user, event.pk, HTTP_PREFER="wait=0.2")

    assert response.status_code == 202
    assert response.json()["status"] == RequestStatus.PENDING
    assert response.headers["Preference-Applied"] == "wait=0.2"


@pytest.mark.django_db
def test_prefer_wait_is_capped_by_the_setting(api, event, customer, settings):
    settings.BOOKING_WAIT_MAX_SECONDS = 0.25

    response = post_booking(api, customer.user, event.pk, HTTP_PREFER="respond-async, wait=600")

    assert response.status_code == 202
    assert response.headers["Preference-Applied"] == "wait=0.25"


@pytest.mark.django_db
def test_beyond_the_cap_of_waiters_prefer_wait_is_answered_at_once(api, event, customer):
    registry = wakeups.waiters()
    with contextlib.ExitStack() as taken:
        while taken.enter_context(registry.slot()):
            pass  # every waiting place of this process is taken

        response = post_booking(api, customer.user, event.pk, HTTP_PREFER="wait=8")

    assert response.status_code == 202
    assert response.json()["status"] == RequestStatus.PENDING
    assert "Preference-Applied" not in response.headers


@pytest.mark.django_db(transaction=True)
def test_prefer_wait_answers_201_with_the_booking_once_confirmed(
    api, event, customer, celery_worker
):
    response = post_booking(api, customer.user, event.pk, HTTP_PREFER="wait=5")

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["reason"]) == (RequestStatus.CONFIRMED, Reason.BOOKED)
    assert response.headers["Location"] == f"{BOOKINGS}{body['booking']['id']}/"
    assert response.headers["Preference-Applied"] == "wait=5"
    assert check_invariants(pending_threshold_seconds=60) == []


@pytest.mark.django_db(transaction=True)
def test_prefer_wait_answers_409_with_the_reason_when_rejected(
    api, organizer, customer, celery_worker
):
    # The last seat is still free when the request is recorded, but a command ahead of it in
    # line takes it: the worker rejects this one.
    event = EventFactory(creator=organizer, capacity=1)
    ahead = CustomerFactory()
    BookingRequest.objects.create(
        kind=CommandKind.BOOK, user=ahead.user, customer=ahead, event=event
    )

    response = post_booking(api, customer.user, event.pk, HTTP_PREFER="wait=5")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == Reason.SOLD_OUT
    rejected = error["details"]["request"]
    assert rejected["status"] == RequestStatus.REJECTED
    assert response.headers["Location"] == f"/bookingapi/requests/{rejected['id']}/"
    assert check_invariants(pending_threshold_seconds=60) == []


@pytest.mark.django_db(transaction=True)
def test_prefer_wait_answers_200_when_a_cancellation_is_done(
    api, organizer, customer, celery_worker
):
    event = EventFactory(creator=organizer)
    booking = taken_booking(event, customer)

    response = api.as_user(customer.user).post(
        f"{BOOKINGS}{booking.pk}/cancel/", HTTP_PREFER="wait=5"
    )

    assert response.status_code == 200
    assert (response.json()["kind"], response.json()["reason"]) == (
        CommandKind.CANCEL,
        Reason.CANCELLED,
    )
    assert check_invariants(pending_threshold_seconds=60) == []


# --- the organizer's dashboard ---------------------------------------------------------------

DASHBOARD = "/eventapi/event/dashboard/"


@pytest.mark.django_db
def test_the_dashboard_shows_seats_waitlist_and_the_line_per_event(api, organizer):
    started = timezone.now()
    busy = EventFactory(creator=organizer, capacity=1, waitlist_enabled=True)
    quiet = EventFactory(creator=organizer)
    EventFactory()  # another organizer's
    book(busy, CustomerFactory())
    book(busy, CustomerFactory())
    decide_pending(event_id=busy.pk)  # one seat taken, one in line
    book(busy, CustomerFactory())
    book(busy, CustomerFactory())

    rows = {r["id"]: r for r in api.as_user(organizer.user).get(DASHBOARD).json()["results"]}
    took = (timezone.now() - started).total_seconds()

    assert set(rows) == {busy.pk, quiet.pk}
    row = rows[busy.pk]
    assert (row["seats_taken"], row["waitlist_size"], row["pending_commands"]) == (1, 1, 2)
    assert 0 <= row["oldest_pending_age_seconds"] <= took  # recorded during the test
    assert not rows[quiet.pk]["pending_commands"]
    assert rows[quiet.pk]["oldest_pending_age_seconds"] is None


@pytest.mark.django_db
def test_the_dashboard_is_for_organizers(api, customer):
    assert api.as_user(customer.user).get(DASHBOARD).status_code == 403


@pytest.mark.django_db
def test_the_dashboard_runs_a_bounded_number_of_queries_however_many_events(
    api, organizer, django_assert_max_num_queries
):
    client = api.as_user(organizer.user)
    for _ in range(2):
        book(EventFactory(creator=organizer), CustomerFactory())
    with django_assert_max_num_queries(4):
        assert len(client.get(DASHBOARD).json()["results"]) == 2
    for _ in range(15):
        book(EventFactory(creator=organizer), CustomerFactory())
    with django_assert_max_num_queries(4):
        assert len(client.get(DASHBOARD).json()["results"]) == 17


@pytest.mark.django_db(transaction=True)
def test_prefer_wait_answers_202_with_the_waitlist_position_when_waitlisted(
    api, organizer, customer, celery_worker
):
    event = EventFactory(creator=organizer, capacity=1, waitlist_enabled=True)
    taken_booking(event)

    response = post_booking(api, customer.user, event.pk, HTTP_PREFER="wait=5")

    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["waitlist_position"]) == (RequestStatus.WAITLISTED, 1)
    assert check_invariants(pending_threshold_seconds=60) == []


def test_a_second_book_while_the_first_is_pending_answers_409_at_once(api, event, customer):
    client = api.as_user(customer.user)
    first = client.post("/bookingapi/booking/", {"event": event.pk}, format="json")

    second = client.post("/bookingapi/booking/", {"event": event.pk}, format="json")
    replayed = client.post(
        "/bookingapi/booking/", {"event": event.pk}, format="json", HTTP_IDEMPOTENCY_KEY="x"
    )

    assert first.status_code == 202
    assert second.status_code == replayed.status_code == 409
    assert second.json()["error"]["code"] == "book_pending"
    assert second.json()["error"]["details"]["request"] == first.json()["id"]
