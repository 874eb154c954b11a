"""/health/ready/: 503 with the reasons while the service cannot decide bookings; 200 otherwise.
/health/ stays the liveness check."""

import pytest
from celery import current_app
from django.db import OperationalError, connection

from devtools.servers import free_port

pytestmark = pytest.mark.django_db


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
    assert error["message"].startswith("broker unreachable")
    assert error["details"]["database"] == "ok"
    assert error["details"]["broker"] != "ok"


def test_not_ready_when_the_database_is_unreachable_but_still_alive(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)

    ready = client.get("/health/ready/")

    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["database"].startswith("OperationalError")
    assert "database unreachable" in ready.json()["error"]["message"]
