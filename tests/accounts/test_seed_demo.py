"""The seed_demo management command."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from apps.accounts.management.commands.seed_demo import DEMO_PASSWORD
from apps.accounts.models import Customer, Organizer
from apps.accounts.tokens import user_ids_for_keys
from apps.audit.models import HistoryPoint
from apps.events.models import Event

pytestmark = pytest.mark.django_db

User = get_user_model()


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (User, Organizer, Customer, Event, HistoryPoint)
    }


def test_seeding_creates_organizers_customers_and_upcoming_events():
    seed()

    assert Organizer.objects.count() == 2
    assert Customer.objects.count() == 3
    assert Event.objects.count() == 5
    assert all(not event.has_started for event in Event.objects.all())


def test_every_demo_user_logs_in_with_the_demo_password(api):
    seed()

    for user in User.objects.all():
        response = api.post(
            "/userapi/login/", {"username": user.username, "password": DEMO_PASSWORD}, format="json"
        )
        assert response.status_code == 200, user.username


def test_seeding_prints_each_users_login_and_a_working_token():
    output = seed()

    assert DEMO_PASSWORD in output
    printed = {
        parts[0]: parts[2]
        for line in output.splitlines()
        if (parts := line.split()) and parts[0].startswith("demo_") and len(parts) == 3
    }
    assert len(printed) == User.objects.count() == 5
    for username, key in printed.items():
        assert user_ids_for_keys([key]) == [User.objects.get(username=username).pk]


def test_seeding_twice_creates_nothing_new():
    seed()
    before = counts()

    output = seed()

    assert counts() == before
    assert "0 new event(s)" in output
