"""The OpenAPI schema: valid, served, and honoured by the API (schemathesis)."""

from datetime import timedelta
from io import StringIO

import pytest
import schemathesis
import werkzeug.test
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from config.wsgi import application
from tests.factories import CustomerFactory, EventFactory, OrganizerFactory, token_for


def test_the_schema_generates_without_warnings():
    out = StringIO()

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null", stdout=out, stderr=out
    )


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_the_schema_and_its_viewers_are_served(client, url):
    response = client.get(url)

    assert response.status_code == 200


def test_the_schema_documents_the_seed_contract_endpoints(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]

    for path in [
        "/userapi/organizer/register/",
        "/userapi/customer/register/",
        "/userapi/login/",
        "/userapi/logout/",
        "/userapi/profile/",
        "/userapi/history/",
        "/eventapi/event/",
        "/eventapi/event/{id}/",
        "/eventapi/event/my_events/",
        "/eventapi/event/upcoming/",
        "/eventapi/event/past/",
        "/bookingapi/booking/",
        "/bookingapi/booking/{id}/",
        "/bookingapi/booking/{id}/cancel/",
    ]:
        assert path in paths, path


# --- property-based: generated requests against the in-process WSGI app ------------------------

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def in_test_transaction():
    """Keep the test's database connection open across WSGI requests, as Django's test client
    does: the handler's request signals would otherwise close it mid-transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def people(db, in_test_transaction):
    """An organizer (with an event) for the organizer endpoints, a customer for bookings."""
    organizer = OrganizerFactory()
    EventFactory(creator=organizer)
    return {"organizer": organizer.user, "customer": CustomerFactory().user}


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_honours_its_schema(case, people):
    # Customers book; organizers do everything else.
    user = people["customer" if case.path.startswith("/bookingapi/") else "organizer"]
    # `Prefer: wait=N` would hold each request for up to N seconds; there is no worker here.
    if case.headers:
        case.headers.pop("Prefer", None)
    # Re-read per case: a generated logout revokes the token.
    headers = {"Authorization": f"Token {token_for(user)}"}

    response = case.call(headers=headers)

    checks = [response_schema_conformance, content_type_conformance]
    # Readiness answers its documented 503 here (no partition worker runs); its body is checked.
    if case.path != "/health/ready/":
        checks.insert(0, not_a_server_error)
    case.validate_response(response, headers=headers, checks=checks)


def test_successful_responses_match_the_schema(people, customer):
    """Generated requests rarely succeed (random ids, dates in the past), so walk the happy
    paths once and validate every answer against its documented response."""
    client = werkzeug.test.Client(application)
    organizer = {"Authorization": f"Token {token_for(people['organizer'])}"}
    buyer = {"Authorization": f"Token {token_for(customer.user)}"}
    start = timezone.now() + timedelta(days=2)
    event = {
        "title": "Checked",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(hours=2)).isoformat(),
        "capacity": 3,
    }

    mismatches = []

    def check(method: str, template: str, status: int, headers=None, **kwargs):
        path = template.format(**kwargs.pop("ids", {}))
        response = client.open(path, method=method, headers=headers or {}, **kwargs)
        assert response.status_code == status, (method, path, response.get_data(as_text=True))
        try:
            schema[template][method].validate_response(response)
        except (Failure, FailureGroup) as exc:  # keep walking: report every mismatch at once
            mismatches.append(f"{method} {path} {status}: {str(exc)[:300]}")
        return response.get_json()

    register = {
        "username": "schema_user",
        "email": "s@example.com",
        "password": "Blue-Kettle-Sings-71",
    }
    check("POST", "/userapi/customer/register/", 201, json=register)
    check(
        "POST",
        "/userapi/organizer/register/",
        201,
        json={**register, "username": "schema_org", "organization_name": "Org"},
    )
    check(
        "POST",
        "/userapi/login/",
        200,
        json={"username": "schema_user", "password": register["password"]},
    )
    check("GET", "/userapi/profile/", 200, organizer)
    check("GET", "/userapi/history/", 200, organizer)
    created = check("POST", "/eventapi/event/", 201, organizer, json=event)
    ids = {"id": created["id"]}
    for listing in [
        "/eventapi/event/",
        "/eventapi/event/upcoming/",
        "/eventapi/event/past/",
        "/eventapi/event/my_events/",
        "/eventapi/event/dashboard/",
    ]:
        check("GET", listing, 200, organizer)
    check("GET", "/eventapi/event/{id}/", 200, buyer, ids=ids)
    check("PATCH", "/eventapi/event/{id}/", 200, organizer, ids=ids, json={"title": "Renamed"})
    check("PATCH", "/eventapi/event/{id}/", 202, organizer, ids=ids, json={"capacity": 5})
    booking = check("POST", "/bookingapi/booking/", 202, buyer, json={"event": created["id"]})
    check("GET", "/bookingapi/requests/", 200, buyer)
    check("GET", "/bookingapi/requests/{uid}/", 200, buyer, ids={"uid": booking["id"]})
    check("GET", "/bookingapi/booking/", 200, buyer)
    other = check("POST", "/eventapi/event/", 201, organizer, json=event)
    check("DELETE", "/eventapi/event/{id}/", 204, organizer, ids={"id": other["id"]})
    check("POST", "/userapi/logout/", 204, buyer)

    assert not mismatches, "\n\n".join(mismatches)
