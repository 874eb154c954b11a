"""The seed_demo management command."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from apps.accounts.management.commands.seed_demo import DEMO_PASSWORD
from apps.accounts.models import Customer, Organizer
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
        for model in (User, Organizer, Customer, Event, Token, HistoryPoint)
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


def test_seeding_prints_each_users_login_and_token():
    output = seed()

    assert DEMO_PASSWORD in output
    for token in Token.objects.select_related("user"):
        assert token.user.username in output
        assert token.key in output


def test_seeding_twice_creates_nothing_new():
    seed()
    before = counts()

    output = seed()

    assert counts() == before
    assert "0 new event(s)" in output
