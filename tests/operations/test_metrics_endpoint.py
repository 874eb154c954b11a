"""/metrics: the database's gauges, the counters, and who may read them."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.bookings.models import BookingRequest, CommandKind, RequestStatus
from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from tests.factories import CustomerFactory, EventFactory
from tests.operations.metrics_text import samples, value

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_metrics(settings):
    settings.ENVIRONMENT, settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = (
        "development",
        "",
        [],
    )
    return settings


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


def pending_command(event, customer, *, age_seconds: float) -> BookingRequest:
    command = BookingRequest.objects.create(
        kind=CommandKind.BOOK, user=customer.user, customer=customer, event=event
    )
    recorded = timezone.now() - timedelta(seconds=age_seconds)
    BookingRequest.objects.filter(pk=command.pk).update(created_at=recorded)
    return command


def test_pending_commands_and_the_oldest_ones_age_are_read_per_partition(
    client, open_metrics, customer
):
    started = timezone.now()
    busy = EventFactory(partition=3)
    for age in (40, 5, 1):  # one pending book per customer and event: three customers
        pending_command(busy, CustomerFactory(), age_seconds=age)
    decided = pending_command(EventFactory(partition=5), customer, age_seconds=90)
    BookingRequest.objects.filter(pk=decided.pk).update(status=RequestStatus.CONFIRMED)

    table = scrape(client)
    took = (timezone.now() - started).total_seconds()

    assert value(table, "reservations_pending_commands", partition="3") == 3
    # 40 s old when recorded, plus however long the test took since then.
    oldest = value(table, "reservations_oldest_pending_command_age_seconds", partition="3")
    assert 40 <= oldest <= 40 + took
    # Every partition has a series, idle ones at 0.
    for partition in range(open_metrics.BOOKING_PARTITIONS):
        if partition != 3:
            assert ("reservations_pending_commands", (("partition", str(partition)),)) in table
            assert value(table, "reservations_pending_commands", partition=str(partition)) == 0
    assert value(table, "reservations_database_up") == 1


def test_the_backlog_of_due_webhook_deliveries_is_read_from_the_database(
    client, open_metrics, organizer
):
    subscription = WebhookSubscription.objects.create(
        owner=organizer.user,
        url="https://example.com/hook",
        event_types=["booking.confirmed"],
        secret="s",
        consecutive_failures=2,
    )
    now = timezone.now()
    for next_attempt_at, status in [
        (now - timedelta(seconds=30), DeliveryStatus.PENDING),  # due
        (now - timedelta(seconds=1), DeliveryStatus.PENDING),  # due
        (now + timedelta(minutes=5), DeliveryStatus.PENDING),  # retry later: not due yet
        (None, DeliveryStatus.SUCCEEDED),
    ]:
        WebhookDelivery.objects.create(
            subscription=subscription,
            event_type="booking.confirmed",
            payload={},
            status=status,
            next_attempt_at=next_attempt_at,
        )

    table = scrape(client)

    assert value(table, "reservations_webhook_deliveries_due") == 2
    assert value(table, "reservations_webhook_oldest_due_delivery_age_seconds") >= 30
    assert (
        value(
            table,
            "reservations_webhook_subscription_consecutive_failures",
            subscription=str(subscription.pk),
        )
        == 2
    )


class Limited(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request):
        raise exceptions.Throttled(wait=3)


def test_a_throttled_request_is_counted_and_still_answers_429_in_the_error_shape(
    client, open_metrics
):
    # No series before this process first throttles the view.
    before = value(
        scrape(client), "reservations_throttled_requests_total", default=0, view="Limited"
    )

    response = Limited.as_view()(APIRequestFactory().get("/limited/"))

    assert response.status_code == 429
    assert response.data["error"]["code"] == "throttled"
    after = value(scrape(client), "reservations_throttled_requests_total", view="Limited")
    assert after == before + 1


def test_metrics_are_open_in_development_when_nothing_protects_them(client, open_metrics):
    assert client.get("/metrics").status_code == 200


def test_metrics_are_closed_in_production_until_a_token_or_network_is_set(client, open_metrics):
    open_metrics.ENVIRONMENT = "production"

    response = client.get("/metrics")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_metrics_with_a_token_need_the_bearer_token(client, open_metrics):
    open_metrics.ENVIRONMENT, open_metrics.METRICS_TOKEN = "production", "s3cret-scrape-token"

    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")

    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert right.status_code == 200


def test_metrics_with_allowed_networks_answer_those_addresses_only(client, open_metrics):
    open_metrics.ENVIRONMENT = "production"
    open_metrics.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "127.0.0.1"]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.9").status_code == 403


def test_behind_a_proxy_the_allow_list_checks_the_client_not_the_proxy(client, open_metrics):
    open_metrics.ENVIRONMENT = "production"
    open_metrics.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    open_metrics.TRUSTED_PROXIES = ["10.0.0.0/8"]

    outsider = client.get("/metrics", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5")
    scraper = client.get("/metrics", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="10.9.8.7")
    direct = client.get("/metrics", REMOTE_ADDR="10.0.0.3")

    assert outsider.status_code == 403
    assert scraper.status_code == 200
    assert direct.status_code == 200


def test_metrics_refuse_other_methods_in_the_error_shape(client, open_metrics):
    response = client.post("/metrics")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_many_observations_at_once_land_in_the_same_buckets_as_one_by_one():
    from prometheus_client import CollectorRegistry, Histogram

    from apps.core.metrics import observe_many

    registry = CollectorRegistry()
    buckets = (0.1, 0.5, 1, 5)
    one_by_one = Histogram("one_by_one", "", buckets=buckets, registry=registry)
    at_once = Histogram("at_once", "", buckets=buckets, registry=registry)
    amounts = [0.0, 0.1, 0.1000001, 0.3, 0.5, 0.7, 1, 2, 5, 7, 100, 0.05]

    for amount in amounts:
        one_by_one.observe(amount)
    observe_many(at_once, amounts)

    def series(name):
        return {
            (s.name.removeprefix(name), tuple(s.labels.items())): s.value
            for s in registry.collect()
            if s.name == name
            for s in s.samples
            if not s.name.endswith("_created")
        }

    assert series("at_once") == series("one_by_one")
    assert series("at_once")[("_count", ())] == len(amounts)


def test_a_starting_launcher_wipes_the_files_of_this_machines_dead_processes_only(tmp_path):
    import os
    import socket
    import subprocess

    from apps.core.metrics import wipe_host_files

    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = finished.pid
    host = socket.gethostname()
    files = {
        "dead": f"counter_{dead}@{host}.db",
        "alive": f"counter_{os.getpid()}@{host}.db",
        "elsewhere": f"counter_{dead}@another-host.db",
    }
    for name in files.values():
        (tmp_path / name).write_bytes(b"")

    assert wipe_host_files(str(tmp_path)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [files["alive"], files["elsewhere"]]
    )
