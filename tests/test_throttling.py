"""Rate limits: 429 in the error shape with Retry-After, per IP, per username, per user."""

import pytest

from apps.bookings.models import BookingRequest
from apps.core import throttling
from apps.events.models import Event
from apps.webhooks.models import WebhookSubscription
from tests.factories import PASSWORD, CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db

OFF = "100000/min"


@pytest.fixture
def rates(settings):
    """Every scope effectively off; a test tightens the one it checks."""
    settings.THROTTLE_RATES = {
        scope: OFF
        for scope in (
            "login_ip",
            "login_username",
            "register_ip",
            "register_username",
            "commands",
            "holds",
            "webhook_changes",
        )
    }
    return settings.THROTTLE_RATES


def login(api, username: str, password: str = "wrong-password", ip: str = "10.0.0.1"):
    return api.post(
        "/userapi/login/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=ip,
    )


def assert_throttled(response, scope: str) -> None:
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert error["details"]["scope"] == scope
    assert int(response["Retry-After"]) >= 1
    assert error["details"]["retry_after"] == int(response["Retry-After"])


def test_wrong_passwords_for_one_username_from_one_address_are_throttled(api, rates):
    rates["login_username"] = "5/min"
    CustomerFactory(user__username="alice")

    answers = [login(api, "alice").status_code for _ in range(5)]
    sixth = login(api, "ALICE")

    assert answers == [401] * 5
    assert_throttled(sixth, "login_username")
    # Even the right password waits there: the count is per attempt, not per failure.
    assert login(api, "alice", password=PASSWORD).status_code == 429


def test_a_stranger_failing_on_purpose_does_not_lock_the_owner_out(api, rates):
    rates["login_username"] = "5/min"
    CustomerFactory(user__username="alice")

    strangers = [login(api, "alice", ip="203.0.113.9").status_code for _ in range(6)]
    owner = login(api, "alice", password=PASSWORD, ip="198.51.100.20")

    assert strangers == [401] * 5 + [429]
    assert owner.status_code == 200


@pytest.mark.parametrize(
    "spelling",
    ["  dan  ", " dan", "dan\t", "\ndan", "dan\u2028", "DAN", "ｄａｎ", "\u3000Dan"],
)
def test_every_spelling_of_a_username_shares_its_count(api, rates, spelling):
    rates["login_username"] = "3/min"
    CustomerFactory(user__username="dan")
    assert [login(api, "dan").status_code for _ in range(3)] == [401] * 3

    # The spelling logs in as the same account (right password): it is counted as that one.
    assert_throttled(login(api, spelling, password=PASSWORD), "login_username")


def test_logins_from_one_address_are_throttled_across_usernames(api, rates):
    rates["login_ip"] = "3/min"

    answers = [login(api, f"user{i}").status_code for i in range(3)]
    fourth = login(api, "someone-else")

    assert answers == [401] * 3
    assert_throttled(fourth, "login_ip")
    assert login(api, "someone-else", ip="10.0.0.2").status_code == 401


def test_registrations_from_one_address_are_throttled(api, rates):
    rates["register_ip"] = "2/hour"

    def register(name):
        return api.post(
            "/userapi/customer/register/",
            {"username": name, "email": f"{name}@example.com", "password": "Blue-Kettle-Sings-71"},
            format="json",
            REMOTE_ADDR="10.0.0.7",
        )

    assert [register(n).status_code for n in ("ann", "ben")] == [201, 201]
    assert_throttled(register("cat"), "register_ip")


def test_booking_commands_are_throttled_per_user_and_reads_are_not(api, rates):
    rates["commands"] = "2/min"
    customer, other = CustomerFactory(), CustomerFactory()
    events = [EventFactory() for _ in range(3)]
    client = api.as_user(customer.user)

    first = [client.post("/bookingapi/booking/", {"event": e.pk}, format="json") for e in events]

    assert [r.status_code for r in first[:2]] == [202, 202]
    assert_throttled(first[2], "commands")
    assert client.get("/bookingapi/requests/").status_code == 200
    other_client = api.as_user(other.user)
    assert (
        other_client.post("/bookingapi/booking/", {"event": events[2].pk}, format="json")
    ).status_code == 202


def test_a_booking_refused_at_the_door_does_not_use_up_the_customers_commands(api, rates):
    rates["commands"] = "2/min"
    customer = CustomerFactory()
    sold_out = EventFactory(capacity=1)
    Event.objects.filter(pk=sold_out.pk).update(seats_taken=1)
    open_events = [EventFactory() for _ in range(3)]
    client = api.as_user(customer.user)

    refused = [
        client.post("/bookingapi/booking/", {"event": sold_out.pk}, format="json") for _ in range(4)
    ]
    recorded = [
        client.post("/bookingapi/booking/", {"event": e.pk}, format="json") for e in open_events
    ]

    # Refused at the door: decided at once, nothing recorded, nothing counted (however many).
    assert [r.json()["error"]["code"] for r in refused] == ["sold_out"] * 4
    assert [r.status_code for r in recorded[:2]] == [202, 202]
    assert_throttled(recorded[2], "commands")
    # The throttled command was not recorded: only the two accepted ones are in the queue.
    assert BookingRequest.objects.filter(user=customer.user).count() == 2
    # Over the limit, a sold-out event still answers what it is.
    again = client.post("/bookingapi/booking/", {"event": sold_out.pk}, format="json")
    assert again.json()["error"]["code"] == "sold_out"


def test_holds_are_commands_and_counted_like_the_others(api, rates):
    rates["commands"] = "1/min"
    client = api.as_user(CustomerFactory().user)
    events = [EventFactory(), EventFactory()]

    holds = [client.post("/bookingapi/holds/", {"event": e.pk}, format="json") for e in events]

    assert holds[0].status_code == 202
    assert_throttled(holds[1], "commands")


def test_an_idempotent_retry_of_a_recorded_booking_is_not_counted_again(api, rates):
    rates["commands"] = "1/min"
    client = api.as_user(CustomerFactory().user)
    event = EventFactory()

    answers = [
        client.post(
            "/bookingapi/booking/", {"event": event.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )
        for _ in range(3)
    ]

    assert [r.status_code for r in answers] == [202, 202, 202]
    assert len({r.json()["id"] for r in answers}) == 1


def test_webhook_subscription_changes_are_throttled_per_user(api, rates, settings):
    rates["webhook_changes"] = "2/min"
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    client = api.as_user(CustomerFactory().user)
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["booking.confirmed"]}

    answers = [client.post("/webhookapi/subscription/", body, format="json") for _ in range(3)]

    assert [a.status_code for a in answers[:2]] == [201, 201]
    assert_throttled(answers[2], "webhook_changes")
    assert client.get("/webhookapi/subscription/").status_code == 200


def test_a_user_has_at_most_the_configured_number_of_subscriptions(api, settings):
    settings.WEBHOOK_MAX_SUBSCRIPTIONS_PER_USER = 3
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    client = api.as_user(CustomerFactory().user)
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["booking.confirmed"]}

    answers = [client.post("/webhookapi/subscription/", body, format="json") for _ in range(4)]

    assert [a.status_code for a in answers] == [201, 201, 201, 409]
    assert answers[3].json()["error"]["code"] == "subscription_limit_reached"
    assert WebhookSubscription.objects.count() == 3


def test_the_subscription_limit_defaults_to_ten():
    from config import settings as configured

    assert configured.WEBHOOK_MAX_SUBSCRIPTIONS_PER_USER == 10


def test_processes_share_throttle_counts_through_the_configured_cache(tmp_path):
    """The embedded default counts in files (every gunicorn process sees them); with a Redis
    broker the counts live in Redis."""
    import os
    import subprocess
    import sys

    code = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CACHE_URL"))}
    base.update(DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path))
    base.pop("CELERY_BROKER_URL", None)
    backends = [
        subprocess.run(
            [sys.executable, "-c", code], env={**base, **extra}, capture_output=True, text=True
        ).stdout.strip()
        for extra in ({}, {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"})
    ]
    assert backends == ["apps.core.cache.FileBasedCache", "apps.core.cache.RedisCache"]


def test_a_cache_outage_lets_requests_through(api, rates, settings, monkeypatch):
    """The throttles' cache (Redis on the scale-out profile) down: limits wait, requests do not."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    rates["login_username"] = "1/min"
    monkeypatch.setattr(throttling, "_cache_down_until", 0.0)

    answers = [login(api, "alice").status_code for _ in range(3)]

    assert answers == [401, 401, 401]
    assert throttling._cache_down_until > 0  # the next requests do not ask the cache


def test_a_bad_body_is_the_requests_error_and_throttling_goes_on(api, rates, monkeypatch):
    monkeypatch.setattr(throttling, "_cache_down_until", 0.0)
    rates["login_username"] = "1/min"

    bad = api.post("/userapi/login/", data="{not json", content_type="application/json")

    assert bad.status_code == 400
    assert throttling._cache_down_until == 0.0
    assert login(api, "alice").status_code == 401
    assert login(api, "alice").status_code == 429


# --- client addresses: X-Forwarded-For from trusted proxies only --------------------------------


def test_a_forwarded_header_does_not_choose_the_address_without_a_trusted_proxy(
    api, rates, settings
):
    """Published directly (compose), a client's own X-Forwarded-For is ignored, even where a
    proxy count is configured (NUM_PROXIES=1 used to pick the header's last address)."""
    rates["login_ip"] = "3/min"
    settings.TRUSTED_PROXIES = []
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    answers = [
        api.post(
            "/userapi/login/",
            {"username": f"user{i}", "password": "wrong-password"},
            format="json",
            REMOTE_ADDR="203.0.113.9",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
        )
        for i in range(4)
    ]

    assert [a.status_code for a in answers[:3]] == [401] * 3
    assert_throttled(answers[3], "login_ip")


def test_behind_a_trusted_proxy_each_client_is_counted_by_its_own_address(api, rates, settings):
    rates["login_ip"] = "2/min"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    def via_proxy(forwarded: str):
        return api.post(
            "/userapi/login/",
            {"username": "nobody", "password": "wrong-password"},
            format="json",
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    first = [via_proxy("198.51.100.7").status_code for _ in range(2)]
    # A client that prepends addresses of its choice is still the address the proxy saw.
    spoofed = via_proxy("192.0.2.1, 198.51.100.7")
    other_client = via_proxy("198.51.100.8")

    assert first == [401, 401]
    assert_throttled(spoofed, "login_ip")
    assert other_client.status_code == 401


def test_the_login_throttle_counts_per_username_at_the_client_address_behind_a_proxy(
    api, rates, settings
):
    rates["login_username"] = "2/min"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    CustomerFactory(user__username="alice")

    def attempt(client: str, password: str = "wrong-password"):
        return api.post(
            "/userapi/login/",
            {"username": "alice", "password": password},
            format="json",
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=client,
        )

    assert [attempt("203.0.113.9").status_code for _ in range(3)] == [401, 401, 429]
    assert attempt("198.51.100.20", password=PASSWORD).status_code == 200


def test_holds_are_throttled_on_their_own_scope(api, rates):
    rates["holds"] = "1/min"
    client = api.as_user(CustomerFactory().user)
    events = [EventFactory(), EventFactory()]

    holds = [client.post("/bookingapi/holds/", {"event": e.pk}, format="json") for e in events]
    booking = client.post("/bookingapi/booking/", {"event": events[1].pk}, format="json")

    assert holds[0].status_code == 202
    assert_throttled(holds[1], "holds")
    assert booking.status_code == 202  # other commands are not held back by the holds' count
