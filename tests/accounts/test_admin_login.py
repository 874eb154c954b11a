"""The admin's login page counts password tries with the API login's throttles."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

OFF = "100000/min"


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_superuser("staff", "staff@example.com", "x-Staff-93")


def try_password(client, password: str, *, ip: str = "10.0.0.1", username: str = "staff"):
    return client.post(
        "/admin/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_failed_staff_logins_from_one_address_are_throttled(client, settings, staff_user):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_ip": "3/min"}

    failed = [try_password(client, "wrong").status_code for _ in range(3)]
    fourth = try_password(client, "x-Staff-93")

    assert failed == [200, 200, 200]  # the form again, with its error
    assert fourth.status_code == 429
    assert fourth.json()["error"]["details"]["scope"] == "login_ip"
    assert int(fourth["Retry-After"]) >= 1
    # Another address is not held back.
    assert try_password(client, "x-Staff-93", ip="10.0.0.2").status_code == 302


def test_staff_logins_are_counted_per_username_at_an_address(client, settings, staff_user):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_username": "2/min"}

    spellings = ["staff", " STAFF ", "Staff"]
    answers = [try_password(client, "wrong", username=name).status_code for name in spellings]

    assert answers == [200, 200, 429]


def test_the_admin_login_page_still_shows(client, staff_user):
    assert client.get("/admin/login/").status_code == 200
    assert try_password(client, "x-Staff-93").status_code == 302
