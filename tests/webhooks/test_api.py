"""/webhookapi/: subscriptions (owner only, secret shown once) and deliveries."""

import pytest

from apps.webhooks import subscriptions
from apps.webhooks.models import DeliveryStatus, WebhookSubscription
from tests.factories import CustomerFactory
from tests.webhooks.factories import DeliveryFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/webhookapi/subscription/"
NEW = {"url": "https://hooks.example.com/in", "event_types": ["booking.confirmed"]}


def _create(api, user, body=None):
    return api.as_user(user).post(SUBSCRIPTIONS, body or NEW, format="json")


@pytest.mark.parametrize("role", ["customer", "organizer"])
def test_customers_and_organizers_subscribe_and_see_the_secret_once(api, role, request):
    user = request.getfixturevalue(role).user

    response = _create(api, user)

    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["is_active"] is True and body["consecutive_failures"] == 0
    assert WebhookSubscription.objects.get(pk=body["id"]).owner == user
    listed = api.get(SUBSCRIPTIONS).json()["results"]
    assert [s["id"] for s in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in api.get(f"{SUBSCRIPTIONS}{body['id']}/").json()


def test_anonymous_callers_are_refused(api):
    response = api.post(SUBSCRIPTIONS, NEW, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "body, code",
    [
        ({**NEW, "url": "ftp://hooks.example.com/in"}, "invalid_url"),
        ({**NEW, "url": "not a url"}, "validation_error"),
        ({**NEW, "url": "https://user:pw@hooks.example.com/"}, "invalid_url"),
        ({**NEW, "url": "http://169.254.169.254/latest"}, "unsafe_url"),
        ({**NEW, "event_types": ["booking.exploded"]}, "validation_error"),
        ({**NEW, "event_types": []}, "validation_error"),
        ({"url": NEW["url"]}, "validation_error"),
    ],
    ids=["ftp", "garbage", "credentials", "metadata ip", "unknown type", "no type", "no types"],
)
def test_bad_subscriptions_are_refused_with_a_json_error(api, customer, body, code):
    response = _create(api, customer.user, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not WebhookSubscription.objects.exists()


def test_a_url_change_is_validated_too(api, customer):
    subscription = SubscriptionFactory(owner=customer.user)

    response = api.as_user(customer.user).patch(
        f"{SUBSCRIPTIONS}{subscription.pk}/", {"url": "ftp://hooks.example.com/"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_url"


@pytest.mark.parametrize(
    "method, suffix",
    [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "rotate-secret/"),
        ("get", "deliveries/"),
    ],
)
def test_other_users_get_404(api, customer, method, suffix):
    subscription = SubscriptionFactory(owner=CustomerFactory().user)

    response = getattr(api.as_user(customer.user), method)(
        f"{SUBSCRIPTIONS}{subscription.pk}/{suffix}", {}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert WebhookSubscription.objects.filter(pk=subscription.pk).exists()


def test_rotating_returns_a_new_secret_once(api, customer):
    subscription = SubscriptionFactory(owner=customer.user)
    old = subscription.secret

    response = api.as_user(customer.user).post(f"{SUBSCRIPTIONS}{subscription.pk}/rotate-secret/")

    assert response.status_code == 200
    new = response.json()["secret"]
    assert new.startswith("whsec_") and new != old
    subscription.refresh_from_db()
    assert subscription.secret == new
    assert "secret" not in api.get(f"{SUBSCRIPTIONS}{subscription.pk}/").json()


def test_disabling_and_enabling(api, customer):
    subscription = SubscriptionFactory(owner=customer.user)
    url = f"{SUBSCRIPTIONS}{subscription.pk}/"
    client = api.as_user(customer.user)

    disabled = client.patch(url, {"is_active": False}, format="json").json()
    assert disabled["is_active"] is False and disabled["disabled_reason"]

    WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=20)
    enabled = client.patch(url, {"is_active": True}, format="json").json()
    assert enabled["is_active"] is True
    assert enabled["disabled_reason"] == "" and enabled["consecutive_failures"] == 0


def test_the_owner_deletes_a_subscription(api, customer):
    subscription = SubscriptionFactory(owner=customer.user)

    response = api.as_user(customer.user).delete(f"{SUBSCRIPTIONS}{subscription.pk}/")

    assert response.status_code == 204
    assert not WebhookSubscription.objects.exists()


def test_deliveries_are_listed_per_subscription_with_their_attempts(api, customer):
    subscription = SubscriptionFactory(owner=customer.user)
    failed = DeliveryFactory(subscription=subscription, status=DeliveryStatus.FAILED)
    failed.attempts.create(number=1, status_code=500, error="HTTP 500", duration_ms=12)
    DeliveryFactory(subscription=subscription)
    DeliveryFactory()  # someone else's

    client = api.as_user(customer.user)
    listed = client.get(f"{SUBSCRIPTIONS}{subscription.pk}/deliveries/").json()
    only_failed = client.get(f"{SUBSCRIPTIONS}{subscription.pk}/deliveries/?status=failed").json()

    assert listed["count"] == 2
    assert only_failed["count"] == 1
    (delivery,) = only_failed["results"]
    assert delivery["id"] == str(failed.uid)
    assert delivery["attempts"][0]["status_code"] == 500
    assert delivery["payload"]["id"] == str(failed.uid)
    assert client.get("/webhookapi/deliveries/").json()["count"] == 2


def test_the_subscription_filter_takes_the_callers_own_only(api, customer):
    mine = SubscriptionFactory(owner=customer.user)
    DeliveryFactory(subscription=mine)
    theirs = SubscriptionFactory()
    DeliveryFactory(subscription=theirs)
    client = api.as_user(customer.user)

    own = client.get(f"/webhookapi/deliveries/?subscription={mine.pk}")
    another = client.get(f"/webhookapi/deliveries/?subscription={theirs.pk}")
    missing = client.get(f"/webhookapi/deliveries/?subscription={theirs.pk + 1000}")

    assert own.json()["count"] == 1
    # Another user's id answers exactly as an id that does not exist: an empty page.
    assert another.status_code == missing.status_code == 200
    assert another.json() == missing.json()
    assert another.json()["count"] == 0


def test_an_unknown_status_filter_is_a_json_error(api, customer):
    subscription = SubscriptionFactory(owner=customer.user)

    response = api.as_user(customer.user).get(
        f"{SUBSCRIPTIONS}{subscription.pk}/deliveries/?status=lost"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_redeliver_by_hand(api, customer, django_capture_on_commit_callbacks):
    delivery = DeliveryFactory(
        subscription=SubscriptionFactory(owner=customer.user),
        status=DeliveryStatus.FAILED,
        next_attempt_at=None,
        attempt_count=11,
    )

    with django_capture_on_commit_callbacks(execute=False) as published:
        response = api.as_user(customer.user).post(
            f"/webhookapi/deliveries/{delivery.uid}/redeliver/"
        )

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert len(published) == 1
    delivery.refresh_from_db()
    assert delivery.max_attempts == 12 and delivery.next_attempt_at is not None


def test_a_pending_delivery_is_not_redelivered(api, customer):
    delivery = DeliveryFactory(subscription=SubscriptionFactory(owner=customer.user))

    response = api.as_user(customer.user).post(f"/webhookapi/deliveries/{delivery.uid}/redeliver/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "delivery_pending"


def test_a_disabled_subscriptions_delivery_is_not_redelivered(api, customer):
    subscription = SubscriptionFactory(owner=customer.user, is_active=False)
    delivery = DeliveryFactory(subscription=subscription, status=DeliveryStatus.FAILED)

    response = api.as_user(customer.user).post(f"/webhookapi/deliveries/{delivery.uid}/redeliver/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "subscription_disabled"


def test_only_the_owner_redelivers(api, customer):
    delivery = DeliveryFactory(status=DeliveryStatus.FAILED)

    response = api.as_user(customer.user).post(f"/webhookapi/deliveries/{delivery.uid}/redeliver/")

    assert response.status_code == 404
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


def test_the_secret_is_stored_as_generated(customer):
    subscription = subscriptions.create_subscription(
        owner_id=customer.user.id, url=NEW["url"], event_types=["booking.confirmed"] * 2
    )
    assert subscription.event_types == ["booking.confirmed"]
    assert subscription.secret.startswith("whsec_")


def test_a_subscription_can_be_created_disabled(api, customer):
    response = _create(api, customer.user, {**NEW, "is_active": False})

    assert response.status_code == 201
    assert response.json()["is_active"] is False
    assert response.json()["disabled_reason"]
