"""The schema states what the API answers: every operation's error responses in the one error
envelope (apps.core.schema), and the bounds the API enforces."""

import pytest
from django.test import Client

from tests.factories import OrganizerFactory, token_for

ENVELOPE = "#/components/schemas/ErrorEnvelope"
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def test_every_error_response_has_the_error_envelope(schema):
    for name, operation in operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith("4") and status != "414":  # the web server's own page
                content = response.get("content", {}).get("application/json", {})
                assert content.get("schema", {}).get("$ref") == ENVELOPE, (name, status)


def test_every_operation_that_takes_a_token_declares_401(schema):
    for name, operation in operations(schema):
        if any(operation.get("security", [{}])):
            assert "401" in operation["responses"], name


def test_every_429_says_retry_after(schema):
    throttled = [(n, o) for n, o in operations(schema) if "429" in o["responses"]]

    assert "POST /bookingapi/booking/" in dict(throttled)
    assert "POST /userapi/login/" in dict(throttled)
    for name, operation in throttled:
        assert operation["responses"]["429"]["headers"]["Retry-After"]["required"], name


def test_bodies_declare_413_and_415_and_keyed_commands_422(schema):
    responses = dict(operations(schema))["POST /bookingapi/booking/"]["responses"]

    assert {"400", "413", "415", "422", "409"} <= set(responses)


def test_lists_declare_their_page_bounds(schema):
    for name, operation in operations(schema):
        parameters = {p["name"]: p for p in operation.get("parameters", [])}
        if "page_size" in parameters:
            assert parameters["page"]["schema"]["minimum"] == 1, name
            size = parameters["page_size"]["schema"]
            assert (size["minimum"], size["maximum"]) == (1, 100), name
            assert "404" in operation["responses"], name  # a page past the last


def test_id_filters_declare_their_range(schema):
    parameters = {
        p["name"]: p["schema"]
        for p in dict(operations(schema))["GET /eventapi/event/"]["parameters"]
    }
    requests = {
        p["name"]: p["schema"]
        for p in dict(operations(schema))["GET /bookingapi/requests/"]["parameters"]
    }

    assert (parameters["creator"]["type"], parameters["creator"]["minimum"]) == ("integer", 1)
    assert (requests["event"]["type"], requests["event"]["minimum"]) == ("integer", 1)
    assert parameters["has_seats"]["type"] == "boolean"


@pytest.mark.django_db
def test_a_body_boolean_must_be_a_json_boolean(api):
    organizer = OrganizerFactory()
    headers = {"HTTP_AUTHORIZATION": f"Token {token_for(organizer.user)}"}
    body = {"url": "https://example.com/hook", "event_types": ["booking.confirmed"]}

    response = api.post(
        "/webhookapi/subscription/", {**body, "is_active": 0}, format="json", **headers
    )

    assert response.status_code == 400
    assert "is_active" in response.json()["error"]["details"]


@pytest.mark.django_db
def test_an_unknown_related_id_filters_to_nothing_instead_of_a_400(api, customer):
    response = api.as_user(customer.user).get("/bookingapi/requests/", {"event": 987654})

    assert response.status_code == 200
    assert response.json()["count"] == 0
