"""GET / answers a small JSON index instead of a 404."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_front_door_names_the_service_and_links_everything_an_operator_needs(client):
    response = client.get("/")

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "reservations"
    assert body["version"] == "1.0.0"  # pyproject.toml
    assert body["links"] == {
        "docs": "/api/docs/",
        "redoc": "/api/redoc/",
        "schema": "/api/schema/",
        "health": "/health/",
        "readiness": "/health/ready/",
        "metrics": "/metrics",
    }


def test_every_link_of_the_front_door_answers(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    for name, link in client.get("/").json()["links"].items():
        assert client.get(link).status_code in (200, 503), name  # readiness may say 503 here


def test_without_the_api_docs_the_front_door_links_what_is_served(client, settings):
    settings.API_DOCS_ENABLED = False

    links = client.get("/").json()["links"]

    assert set(links) == {"health", "readiness", "metrics"}
