"""Registration, login, logout and profile: /userapi/."""

import pytest
from django.contrib.auth import get_user_model
from knox.models import AuthToken

from apps.accounts.models import Customer, Organizer
from apps.accounts.tokens import user_ids_for_keys
from tests.factories import PASSWORD, CustomerFactory, OrganizerFactory, token_for

pytestmark = pytest.mark.django_db

User = get_user_model()
STRONG_PASSWORD = "Blue-Kettle-Sings-71"


def customer_payload(**overrides) -> dict:
    return {
        "username": "alice",
        "email": "alice@example.com",
        "password": STRONG_PASSWORD,
        **overrides,
    }


def organizer_payload(**overrides) -> dict:
    return {
        "username": "olga",
        "email": "olga@example.com",
        "password": STRONG_PASSWORD,
        "organization_name": "Olga's Concerts",
        "business_address": "1 Main St",
        **overrides,
    }


# --- registration -------------------------------------------------------------------------------


def test_registering_a_customer_returns_a_token_and_creates_the_profile(api):
    response = api.post("/userapi/customer/register/", customer_payload(), format="json")

    assert response.status_code == 201
    body = response.json()
    user = User.objects.get(username="alice")
    assert user_ids_for_keys([body["token"]]) == [user.pk]
    assert body["user_type"] == "customer"
    assert body["profile"]["user"]["username"] == "alice"
    assert Customer.objects.filter(user=user).exists()
    assert not Organizer.objects.filter(user=user).exists()
    assert user.check_password(STRONG_PASSWORD)


def test_registering_an_organizer_returns_a_token_and_creates_the_profile(api):
    response = api.post("/userapi/organizer/register/", organizer_payload(), format="json")

    assert response.status_code == 201
    body = response.json()
    organizer = Organizer.objects.get(user__username="olga")
    assert user_ids_for_keys([body["token"]]) == [organizer.user_id]
    assert body["user_type"] == "organizer"
    assert body["profile"]["organization_name"] == "Olga's Concerts"
    assert body["profile"]["business_address"] == "1 Main St"
    assert organizer.organization_name == "Olga's Concerts"


def test_the_password_is_never_echoed_back(api):
    response = api.post("/userapi/customer/register/", customer_payload(), format="json")

    assert STRONG_PASSWORD not in response.content.decode()


@pytest.mark.parametrize(
    "password",
    ["short1", "password123", "12345678901", "alice-alice"],
    ids=["too-short", "common", "numeric", "like-username"],
)
def test_a_weak_password_is_refused_by_the_password_validators(api, password):
    response = api.post(
        "/userapi/customer/register/",
        customer_payload(username="alice-alice", password=password),
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "password" in response.json()["error"]["details"]
    assert not User.objects.exists()


def test_a_taken_username_is_refused_with_400_on_the_username_field(api):
    CustomerFactory(user__username="alice")

    response = api.post("/userapi/customer/register/", customer_payload(), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "username_taken"
    assert response.json()["error"]["details"]["username"]
    assert User.objects.filter(username="alice").count() == 1


def test_a_username_taken_in_another_case_is_refused_with_400(api):
    OrganizerFactory(user__username="Olga")

    response = api.post("/userapi/organizer/register/", organizer_payload(), format="json")

    assert response.status_code == 400
    assert "username" in response.json()["error"]["details"]
    assert User.objects.count() == 1


def test_a_full_width_spelling_of_a_taken_username_is_refused(api):
    CustomerFactory(user__username="Alice")

    response = api.post(
        "/userapi/customer/register/", customer_payload(username="ａｌｉｃｅ"), format="json"
    )

    assert response.status_code == 400
    assert "username" in response.json()["error"]["details"]
    assert User.objects.count() == 1


def test_a_full_width_username_is_stored_normalised(api):
    response = api.post(
        "/userapi/customer/register/", customer_payload(username="ｂｏｂ"), format="json"
    )

    assert response.status_code == 201
    assert response.json()["profile"]["user"]["username"] == "bob"


def test_the_database_refuses_two_usernames_differing_only_in_case():
    from django.db import IntegrityError, transaction

    User.objects.create_user(username="carol")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="CAROL")


@pytest.mark.parametrize("missing", ["username", "email", "password"])
def test_a_customer_registration_missing_a_field_is_refused(api, missing):
    payload = customer_payload()
    del payload[missing]

    response = api.post("/userapi/customer/register/", payload, format="json")

    assert response.status_code == 400
    assert missing in response.json()["error"]["details"]
    assert not User.objects.exists()


def test_an_organizer_registration_without_organization_name_is_refused(api):
    payload = organizer_payload()
    del payload["organization_name"]

    response = api.post("/userapi/organizer/register/", payload, format="json")

    assert response.status_code == 400
    assert "organization_name" in response.json()["error"]["details"]
    assert not User.objects.exists()


def test_an_invalid_email_is_refused(api):
    response = api.post(
        "/userapi/customer/register/", customer_payload(email="not-an-email"), format="json"
    )

    assert response.status_code == 400
    assert "email" in response.json()["error"]["details"]


def test_a_username_with_spaces_is_refused(api):
    response = api.post(
        "/userapi/customer/register/", customer_payload(username="a b"), format="json"
    )

    assert response.status_code == 400
    assert "username" in response.json()["error"]["details"]


# --- login / logout -----------------------------------------------------------------------------


def test_login_returns_a_token_the_user_type_and_the_profile(api):
    organizer = OrganizerFactory(user__username="olga")

    response = api.post(
        "/userapi/login/", {"username": "olga", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert user_ids_for_keys([body["token"]]) == [organizer.user_id]
    assert body["user_type"] == "organizer"
    assert body["profile"]["user"]["id"] == organizer.user_id
    assert body["profile"]["organization_name"] == organizer.organization_name


def test_login_with_a_wrong_password_is_refused_with_401(api):
    CustomerFactory(user__username="alice")

    response = api.post(
        "/userapi/login/", {"username": "alice", "password": "wrong-password"}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert not AuthToken.objects.exists()


def test_login_with_an_unknown_username_is_refused_with_401(api):
    response = api.post(
        "/userapi/login/", {"username": "nobody", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_login_of_an_inactive_user_is_refused_with_401(api):
    CustomerFactory(user__username="alice", user__is_active=False)

    response = api.post(
        "/userapi/login/", {"username": "alice", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 401


def test_login_without_a_password_is_refused_with_400(api):
    response = api.post("/userapi/login/", {"username": "alice"}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()["error"]["details"]


def test_logout_revokes_the_token(api):
    customer = CustomerFactory()
    token = token_for(customer.user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    response = api.post("/userapi/logout/")

    assert response.status_code == 204
    assert user_ids_for_keys([token]) == []
    after = api.get("/userapi/profile/")
    assert after.status_code == 401
    assert after.json()["error"]["code"] in ("authentication_failed", "not_authenticated")


def test_logout_needs_authentication(api):
    response = api.post("/userapi/logout/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_logging_in_again_after_logout_gives_a_new_token(api):
    customer = CustomerFactory(user__username="alice")
    old = token_for(customer.user)
    api.as_user(customer.user).post("/userapi/logout/")
    api.as_user(None)

    response = api.post(
        "/userapi/login/", {"username": "alice", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["token"] != old


# --- profile ------------------------------------------------------------------------------------


def test_the_profile_of_a_customer(api, customer):
    response = api.as_user(customer.user).get("/userapi/profile/")

    assert response.status_code == 200
    body = response.json()
    assert body["user_type"] == "customer"
    assert body["user"]["username"] == customer.user.username
    assert "organization_name" not in body


def test_the_profile_of_an_organizer(api, organizer):
    response = api.as_user(organizer.user).get("/userapi/profile/")

    assert response.status_code == 200
    assert response.json()["user_type"] == "organizer"
    assert response.json()["organization_name"] == organizer.organization_name


def test_the_profile_needs_authentication(api):
    response = api.get("/userapi/profile/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_invalid_token_is_refused_with_401(api):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = api.get("/userapi/profile/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


# --- one spelling of a username: login, registration and the login throttle agree ------------


@pytest.mark.parametrize("spelling", ["  Dan  ", "DAN", "dan\u2028", "ｄａｎ"])
def test_login_compares_usernames_as_registration_does(api, spelling):
    customer = CustomerFactory(user__username="Dan")

    response = api.post(
        "/userapi/login/", {"username": spelling, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["profile"]["user"]["id"] == customer.user_id


def test_a_name_that_login_would_take_for_another_is_refused_at_registration(api):
    CustomerFactory(user__username="bob")

    response = api.post(
        "/userapi/customer/register/", customer_payload(username="Bob "), format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "username_taken"
    assert User.objects.count() == 1


def test_a_registered_name_is_stored_stripped_with_its_case(api):
    response = api.post(
        "/userapi/customer/register/", customer_payload(username=" Carol\t"), format="json"
    )

    assert response.status_code == 201
    assert User.objects.filter(username="Carol").exists()
