"""API tokens: hashed at rest, one per login, revocable one by one or all at once, expiring."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from knox.models import AuthToken

from tests.factories import PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def log_in(api, username: str) -> str:
    response = api.post(
        "/userapi/login/", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def profile_status(api, key: str) -> int:
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    status = api.get("/userapi/profile/").status_code
    api.credentials()
    return status


def test_each_login_issues_a_new_token_and_both_work(api):
    CustomerFactory(user__username="alice")

    first, second = log_in(api, "alice"), log_in(api, "alice")

    assert first != second
    assert profile_status(api, first) == 200
    assert profile_status(api, second) == 200


def test_the_key_is_not_stored_only_its_digest(api):
    CustomerFactory(user__username="alice")

    key = log_in(api, "alice")

    stored = AuthToken.objects.get()
    assert key not in {stored.digest, stored.token_key}
    assert len(stored.digest) == 128


def test_logout_revokes_only_the_token_it_was_sent_with(api):
    CustomerFactory(user__username="alice")
    first, second = log_in(api, "alice"), log_in(api, "alice")

    api.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert api.post("/userapi/logout/").status_code == 204

    assert profile_status(api, first) == 401
    assert profile_status(api, second) == 200


def test_logout_all_revokes_every_token_of_the_user(api):
    CustomerFactory(user__username="alice")
    CustomerFactory(user__username="bob")
    first, second, bobs = log_in(api, "alice"), log_in(api, "alice"), log_in(api, "bob")

    api.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert api.post("/userapi/logout-all/").status_code == 204

    assert profile_status(api, first) == 401
    assert profile_status(api, second) == 401
    assert profile_status(api, bobs) == 200


def test_a_token_expires_after_the_configured_lifetime(api, settings):
    settings.ACCOUNT_TOKEN_TTL_SECONDS = 3600
    CustomerFactory(user__username="alice")
    response = api.post(
        "/userapi/login/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    key = response.json()["token"]
    token = AuthToken.objects.get()
    assert abs((token.expiry - timezone.now()) - timedelta(hours=1)) < timedelta(minutes=1)
    assert response.json()["expiry"]

    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))

    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    expired = api.get("/userapi/profile/")
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "authentication_failed"


def test_the_default_lifetime_is_ten_hours(settings):
    from config import settings as configured

    assert configured.ACCOUNT_TOKEN_TTL_SECONDS == 10 * 3600


def test_use_does_not_extend_a_token(api):
    CustomerFactory(user__username="alice")
    key = log_in(api, "alice")
    expiry = AuthToken.objects.get().expiry

    assert profile_status(api, key) == 200

    assert AuthToken.objects.get().expiry == expiry


def test_the_admin_never_shows_a_token_key_and_cannot_mint_one():
    from django.test import Client

    from apps.accounts.tokens import issue_token

    admin = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    customer = CustomerFactory()
    key, token = issue_token(user=customer.user)
    client = Client(raise_request_exception=False)
    client.force_login(admin)

    listing = client.get("/admin/knox/authtoken/")
    detail = client.get(f"/admin/knox/authtoken/{token.pk}/change/")
    adding = client.get("/admin/knox/authtoken/add/")

    assert listing.status_code == detail.status_code == 200
    assert customer.user.username in listing.content.decode()
    for page in (listing.content.decode(), detail.content.decode()):
        assert key not in page and key[:15] not in page
    assert adding.status_code == 403


def test_a_request_is_authenticated_in_one_statement_with_its_profiles(
    django_assert_num_queries, rf
):
    """The token, its user and both role profiles come from one statement; what the role
    checks read afterwards (present or absent profile) costs no further query."""
    from apps.accounts.authentication import ProfileTokenAuthentication
    from apps.accounts.models import user_type
    from apps.accounts.tokens import issue_token
    from tests.factories import OrganizerFactory

    customer, organizer = CustomerFactory(), OrganizerFactory()
    staff = User.objects.create_user(username="staff-member", is_staff=True)
    for user, expected in (
        (customer.user, "customer"),
        (organizer.user, "organizer"),
        (staff, "staff"),
    ):
        key = issue_token(user=user)[0]
        request = rf.get("/", HTTP_AUTHORIZATION=f"Token {key}")
        with django_assert_num_queries(1):
            found, auth_token = ProfileTokenAuthentication().authenticate(request)
            assert user_type(found) == expected
            assert auth_token.user is found
            if expected == "customer":
                assert found.customer_profile.user is found
        assert found.pk == user.pk
        assert auth_token.expiry > timezone.now()  # a datetime on every backend


def test_an_inactive_users_token_is_refused(api):
    customer = CustomerFactory(user__username="dormant")
    key = log_in(api, "dormant")
    User.objects.filter(pk=customer.user.pk).update(is_active=False)

    assert profile_status(api, key) == 401
