"""Bad input anywhere gets one JSON error shape, never a 500 or HTML, and changes nothing."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from apps.audit.models import HistoryPoint
from apps.bookings.models import BookingRequest
from apps.events.models import Event
from tests.events.helpers import event_payload

pytestmark = pytest.mark.django_db

User = get_user_model()
EVENTS = "/eventapi/event/"


@pytest.fixture
def client(api, organizer):
    # A server error must come back as a response here, not be re-raised into the test.
    api.raise_request_exception = False
    return api.as_user(organizer.user)


@pytest.fixture
def stored(organizer, event):
    """What is in the database before the bad request; compare after it."""

    def snapshot():
        return {
            "users": User.objects.count(),
            "events": list(Event.objects.values()),
            "commands": BookingRequest.objects.count(),
            "history": HistoryPoint.objects.count(),
        }

    before = snapshot()
    return lambda: snapshot() == before


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def post_raw(client, url: str, body: bytes | str, content_type: str = "application/json"):
    return client.generic("POST", url, body, content_type=content_type)


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": ',
        b"{'title': 'single quotes'}",
        b"not json",
        b'{"capacity": NaN}',
        b'{"title": "\xff\xfe"}',
        b'{"capacity": 1' + b"0" * 5000 + b"}",
    ],
    ids=["truncated", "single-quotes", "text", "nan", "bad-utf8", "huge-number"],
)
def test_a_malformed_json_body_is_a_parse_error(client, stored, body):
    response = post_raw(client, EVENTS, body)

    assert_error(response, 400, "parse_error")
    assert stored()


def test_deeply_nested_json_is_a_parse_error_not_a_crash(client, stored):
    depth = 20_000  # deeper than Python's recursion limit, smaller than the body limit
    response = post_raw(client, EVENTS, b"[" * depth + b"]" * depth)

    assert_error(response, 400, "parse_error")
    assert stored()


@pytest.mark.parametrize("body", [b"null", b'"a string"', b"[]", b"42"])
def test_a_json_body_that_is_not_an_object_is_a_validation_error(client, stored, body):
    response = post_raw(client, EVENTS, body)

    assert_error(response, 400, "validation_error")
    assert stored()


@pytest.mark.parametrize(
    "content_type,body",
    [
        ("application/x-www-form-urlencoded", "title=x&capacity=3"),
        ("multipart/form-data; boundary=xyz", "--xyz--"),
        ("text/plain", '{"title": "x"}'),
        ("application/xml", "<event/>"),
    ],
)
def test_a_body_that_is_not_json_is_an_unsupported_media_type(client, stored, content_type, body):
    response = post_raw(client, EVENTS, body, content_type)

    assert_error(response, 415, "unsupported_media_type")
    assert stored()


def test_a_wrong_type_is_a_validation_error_naming_the_field(client, stored):
    response = client.post(EVENTS, event_payload(capacity="ten"), format="json")

    error = assert_error(response, 400, "validation_error")
    assert "capacity" in error["details"]
    assert stored()


def test_a_bad_date_is_a_validation_error_naming_the_field(client, stored):
    response = client.post(EVENTS, event_payload(end_time="2030-02-30T25:00"), format="json")

    error = assert_error(response, 400, "validation_error")
    assert "end_time" in error["details"]
    assert stored()


@pytest.mark.parametrize(
    "url",
    [
        "/eventapi/event/?start_after=0001-01-01T00:00:00%2B05:00",
        "/eventapi/event/?start_before=9999-12-31T23:00:00-05:00",
        "/userapi/history/?created_before=9999-12-31T23:00:00-05:00",
    ],
)
def test_a_date_filter_out_of_range_in_utc_is_a_validation_error(client, url):
    assert_error(client.get(url), 400, "validation_error")


def test_a_bad_date_in_a_filter_is_a_validation_error(client):
    assert_error(client.get(EVENTS, {"start_after": "soon"}), 400, "validation_error")


@pytest.mark.parametrize("value", ["99999999999999999999999", "-1", "1.5", "abc"])
def test_an_out_of_range_id_filter_is_a_validation_error(client, value):
    error = assert_error(client.get(EVENTS, {"creator": value}), 400, "validation_error")

    assert "creator" in error["details"]


@pytest.mark.parametrize(
    "search", ["word " * 11, "x" * 101, "a\x00b"], ids=["too-many-words", "too-long-word", "nul"]
)
def test_an_unbounded_search_is_a_validation_error(client, search):
    error = assert_error(client.get(EVENTS, {"search": search}), 400, "validation_error")

    assert "search" in error["details"]


@pytest.mark.parametrize(
    "url", [f"{EVENTS}999999/", f"{EVENTS}abc/", f"{EVENTS}99999999999999999999999999/"]
)
def test_an_unknown_id_is_a_not_found(client, url):
    assert_error(client.get(url), 404, "not_found")


def test_an_unknown_id_in_an_update_is_a_not_found(client, stored):
    assert_error(client.patch(f"{EVENTS}999999/", {"title": "x"}, format="json"), 404)
    assert stored()


@pytest.mark.parametrize(
    "url", ["/nope/", "/eventapi/nope/", "/userapi/login/extra/", "/eventapi/event/1/nope/"]
)
def test_an_unknown_url_is_a_json_not_found(api, url):
    api.raise_request_exception = False
    response = api.get(url)

    assert b"<html" not in response.content.lower()
    assert_error(response, 404, "not_found")


def test_an_oversized_body_is_refused_with_413(client, stored):
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)

    response = client.post(EVENTS, event_payload(description=padding), format="json")

    assert_error(response, 413, "payload_too_large")
    assert stored()


def test_an_oversized_body_is_refused_before_authentication_matters(api, stored):
    body = b'{"username": "' + b"x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'

    response = api.generic(
        "POST", "/userapi/customer/register/", body, content_type="application/json"
    )

    assert_error(response, 413, "payload_too_large")
    assert stored()


@pytest.mark.parametrize(
    "method,url",
    [
        ("put", f"{EVENTS}{{pk}}/"),
        ("post", f"{EVENTS}{{pk}}/"),
        ("delete", EVENTS),
        ("patch", EVENTS),
        ("get", "/userapi/login/"),
        ("put", "/userapi/profile/"),
        ("delete", "/userapi/history/"),
    ],
)
def test_a_wrong_method_is_refused_with_405(client, stored, event, method, url):
    response = getattr(client, method)(url.format(pk=event.pk), {}, format="json")

    assert_error(response, 405, "method_not_allowed")
    assert stored()


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", EVENTS),
        ("post", EVENTS),
        ("get", "/userapi/profile/"),
        ("post", "/userapi/logout/"),
        ("get", "/userapi/history/"),
        ("get", "/bookingapi/booking/"),
    ],
)
def test_a_missing_token_is_refused_with_401(api, stored, method, url):
    response = getattr(api, method)(url, {}, format="json")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"
    assert stored()


@pytest.mark.parametrize("header", ["Token nope", "Token a b", "Token", "Bearer abc"])
def test_a_bad_authorization_header_is_refused_with_401(api, stored, header):
    api.credentials(HTTP_AUTHORIZATION=header)

    response = api.post(EVENTS, event_payload(), format="json")

    assert response.status_code == 401
    assert_error(response, 401)
    assert stored()


def test_an_overlong_idempotency_key_is_a_validation_error(client, stored, event):
    response = client.patch(
        f"{EVENTS}{event.pk}/", {"capacity": 3}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 300
    )

    assert_error(response, 400, "invalid_idempotency_key")
    assert stored()


def test_an_unexpected_error_is_a_json_500(client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("apps.events.selectors.visible_events", explode)

    response = client.get(EVENTS)

    error = assert_error(response, 500, "server_error")
    assert "boom" not in error["message"]


def _database_gone(*args, **kwargs):
    from django.db import OperationalError

    raise OperationalError('could not connect to server: "postgres-primary.internal" port 5432')


def test_a_database_that_does_not_answer_is_a_503_with_retry_after_not_a_500(client, monkeypatch):
    monkeypatch.setattr("apps.events.selectors.visible_events", _database_gone)
    response = client.get("/eventapi/event/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "database_unavailable"
    assert "postgres-primary" not in response.content.decode()


def test_a_view_outside_the_api_whose_database_does_not_answer_is_a_503_too(api, monkeypatch):
    monkeypatch.setattr("apps.operations.views._metrics_allowed", _database_gone)
    response = api.get("/metrics")
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "database_unavailable"
