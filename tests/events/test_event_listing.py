"""Listing events: pagination bounds, filters, search, ordering, and a bounded query count."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import EventFactory, OrganizerFactory

pytestmark = pytest.mark.django_db

URL = "/eventapi/event/"


@pytest.fixture
def client(api, customer):
    return api.as_user(customer.user)


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


# --- pagination ---------------------------------------------------------------------------------


def test_the_list_is_paginated_by_twenty_by_default(client):
    EventFactory.create_batch(21)

    body = client.get(URL).json()

    assert body["count"] == 21
    assert len(body["results"]) == 20
    assert body["next"] is not None
    assert body["previous"] is None


def test_page_size_is_honoured(client):
    EventFactory.create_batch(5)

    body = client.get(URL, {"page_size": 2, "page": 3}).json()

    assert len(body["results"]) == 1
    assert body["next"] is None


def test_a_page_holds_at_most_one_hundred(client):
    EventFactory.create_batch(101)

    body = client.get(URL, {"page_size": 100}).json()

    assert body["count"] == 101
    assert len(body["results"]) == 100


@pytest.mark.parametrize("page", ["2", "0", "-1", "abc", "9999999999999999999999"])
def test_a_page_out_of_range_is_a_json_404(client, page):
    EventFactory()

    response = client.get(URL, {"page": page})

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("page_size", ["0", "-3", "many", "1.5", "101", ["2", "3"]])
def test_a_page_size_outside_one_to_one_hundred_is_refused(client, page_size):
    """The schema says 1..100; the API refuses anything else instead of guessing."""
    response = client.get(URL, {"page_size": page_size})

    assert response.status_code == 400
    assert response.json()["error"]["details"]["page_size"]


def test_an_empty_page_size_means_the_default(client):
    EventFactory.create_batch(3)

    response = client.get(URL, {"page_size": ""})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_listing_does_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    organizers = OrganizerFactory.create_batch(5)
    for organizer in organizers:
        EventFactory.create_batch(8, creator=organizer)

    # auth (token + user) + count + page; independent of the 40 rows and 5 creators
    with django_assert_max_num_queries(4):
        response = client.get(URL, {"page_size": 100})

    assert len(response.json()["results"]) == 40


@pytest.mark.parametrize("url", [f"{URL}upcoming/", f"{URL}past/"])
def test_the_upcoming_and_past_lists_do_a_bounded_number_of_queries(
    client, url, django_assert_max_num_queries
):
    now = timezone.now()
    for _ in range(10):
        EventFactory()
        EventFactory(start_time=now - timedelta(days=2), end_time=now - timedelta(days=1))

    with django_assert_max_num_queries(4):
        response = client.get(url)

    assert response.json()["count"] == 10


def test_the_dashboard_does_a_bounded_number_of_queries(
    api, organizer, django_assert_max_num_queries
):
    EventFactory.create_batch(15, creator=organizer)
    client = api.as_user(organizer.user)

    # auth + the organizer check + count + page (the line is two subqueries, not a query per row)
    with django_assert_max_num_queries(4):
        response = client.get(f"{URL}dashboard/")

    assert response.json()["count"] == 15


# --- filters ------------------------------------------------------------------------------------


def test_filter_by_start_after_and_start_before(client):
    now = timezone.now()
    early = EventFactory(start_time=now + timedelta(days=1))
    middle = EventFactory(start_time=now + timedelta(days=5))
    EventFactory(start_time=now + timedelta(days=10))

    after = client.get(
        URL,
        {
            "start_after": (now + timedelta(days=2)).isoformat(),
            "start_before": (now + timedelta(days=9)).isoformat(),
        },
    )
    before = client.get(URL, {"start_before": (now + timedelta(days=2)).isoformat()})

    assert ids(after) == [middle.pk]
    assert ids(before) == [early.pk]


def test_filter_by_creator(client, organizer, other_organizer):
    mine = EventFactory(creator=organizer)
    EventFactory(creator=other_organizer)

    assert ids(client.get(URL, {"creator": organizer.pk})) == [mine.pk]


def test_filter_by_has_seats(client):
    open_event = EventFactory(capacity=5, seats_taken=4)
    full_event = EventFactory(capacity=5, seats_taken=5)

    assert ids(client.get(URL, {"has_seats": "true"})) == [open_event.pk]
    assert ids(client.get(URL, {"has_seats": "false"})) == [full_event.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"start_after": "yesterday"},
        {"start_before": "2030-13-45"},
        {"creator": "abc"},
        {"has_seats": "yes"},
        {"waitlist_enabled": "2"},
    ],
)
def test_an_invalid_filter_value_is_refused_with_400(client, params):
    response = client.get(URL, params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert next(iter(params)) in response.json()["error"]["details"]


def test_an_unknown_filter_is_ignored(client, event):
    assert ids(client.get(URL, {"colour": "blue"})) == [event.pk]


# --- search and ordering ------------------------------------------------------------------------


def test_search_matches_title_description_and_organization(client):
    by_title = EventFactory(title="Rust meetup")
    by_description = EventFactory(description="Talks about rust and more")
    by_organizer = EventFactory(creator=OrganizerFactory(organization_name="Rustaceans Ltd"))
    EventFactory(title="Cooking class")

    assert sorted(ids(client.get(URL, {"search": "rust"}))) == sorted(
        [by_title.pk, by_description.pk, by_organizer.pk]
    )


def test_the_default_order_is_by_start_time(client):
    now = timezone.now()
    late = EventFactory(start_time=now + timedelta(days=9))
    soon = EventFactory(start_time=now + timedelta(days=1))

    assert ids(client.get(URL)) == [soon.pk, late.pk]


def test_ordering_by_capacity_descending(client):
    small = EventFactory(capacity=5)
    big = EventFactory(capacity=500)

    assert ids(client.get(URL, {"ordering": "-capacity"})) == [big.pk, small.pk]


def test_ordering_by_an_unknown_field_is_ignored(client):
    EventFactory.create_batch(2)

    response = client.get(URL, {"ordering": "seats_taken__password"})

    assert response.status_code == 200
    assert response.json()["count"] == 2
