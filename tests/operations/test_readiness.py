"""/health/ready/: 503 with the reasons while the service cannot decide bookings; 200 otherwise.
/health/ stays the liveness check."""

import pytest
from celery import current_app
from django.db import OperationalError, connection

from devtools.servers import free_port
from tests.operations.metrics_text import samples, value
from workers.leases import FileLease, partition_lease

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def leases(settings, tmp_path):
    """Every partition's lease held, as its worker would hold it (a file lock, on SQLite)."""
    settings.LEASE_DIR = tmp_path / "leases"
    held = {p: partition_lease(p) for p in range(settings.BOOKING_PARTITIONS)}
    for lease in held.values():
        assert isinstance(lease, FileLease)
        assert lease.try_acquire()
    yield held
    for lease in held.values():
        lease.release()


def test_ready_when_the_database_and_the_broker_answer(client):
    response = client.get("/health/ready/")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database": "ok",
        "broker": "ok",
        "partitions_without_owner": [],
    }


def test_not_ready_when_the_broker_is_unreachable(client, monkeypatch):
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    monkeypatch.setattr(current_app.conf, "broker_url", closed)

    response = client.get("/health/ready/")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["message"] == "broker: unavailable"
    assert error["details"]["database"] == "ok"
    assert error["details"]["broker"] == "unavailable"


def test_not_ready_when_the_database_is_unreachable_but_still_alive(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)

    ready = client.get("/health/ready/")

    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["database"] == "unavailable"
    assert "database: unavailable" in ready.json()["error"]["message"]


def test_anonymous_callers_read_no_internal_host_and_the_log_and_token_holder_do(
    client, monkeypatch, settings, caplog
):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    def refuse(*args, **kwargs):
        raise OperationalError(
            'could not translate host name "postgres-primary.internal" to address'
        )

    monkeypatch.setattr(connection, "cursor", refuse)

    with caplog.at_level("WARNING", logger="apps.operations.readiness"):
        anonymous = client.get("/health/ready/")
    with_token = client.get("/health/ready/", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    wrong_token = client.get("/health/ready/", HTTP_AUTHORIZATION="Bearer guess")

    assert anonymous.status_code == 503
    assert "postgres-primary" not in anonymous.content.decode()
    assert anonymous.json()["error"]["message"].startswith("database: unavailable")
    assert "postgres-primary.internal" in caplog.text
    assert "postgres-primary.internal" in with_token.json()["error"]["details"]["database"]
    assert "postgres-primary" not in wrong_token.content.decode()


def test_not_ready_when_a_partitions_worker_is_gone(client, leases):
    leases[5].release()  # its process died: the lock went with it

    response = client.get("/health/ready/")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["details"]["partitions_without_owner"] == [5]
    assert error["message"] == "no live worker holds partition 5"


def test_not_ready_when_no_worker_ever_took_a_partition(client, leases, settings):
    leases[2].release()
    (settings.LEASE_DIR / "lease-bookings.p2.lock").unlink()

    response = client.get("/health/ready/")

    assert response.status_code == 503
    assert response.json()["error"]["details"]["partitions_without_owner"] == [2]


def test_looking_does_not_take_a_lease_from_a_worker_that_wants_it(client, leases):
    leases[3].release()
    client.get("/health/ready/")

    assert leases[3].try_acquire()  # readiness let go of what it looked at
    assert client.get("/health/ready/").status_code == 200


def test_the_partition_owner_gauge_says_which_partition_has_no_live_worker(client, leases):
    leases[6].release()

    table = samples(client.get("/metrics").content.decode())

    assert value(table, "reservations_partition_owner_live", partition="6") == 0
    assert value(table, "reservations_partition_owner_live", partition="1") == 1
