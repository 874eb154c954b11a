"""Deliveries through the in-process Celery worker: booking outcomes reach subscribers."""

from collections import Counter

import pytest

from apps.bookings.models import BookingRequest, RequestStatus
from apps.webhooks import sending, signing
from apps.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.conftest import wait_until
from tests.factories import CustomerFactory, EventFactory
from tests.webhooks.factories import DeliveryFactory, SubscriptionFactory
from workers import routing, webhook_tasks


def test_task_names_and_queues_are_pinned():
    assert webhook_tasks.deliver.name == "webhooks.deliver"
    assert webhook_tasks.schedule_due.name == "webhooks.schedule_due"
    assert webhook_tasks.publish.name == "webhooks.publish"
    routes = routing.task_routes()
    assert routes[webhook_tasks.deliver.name] == {"queue": routing.WEBHOOK_QUEUE}
    assert routes[webhook_tasks.publish.name] == {"queue": routing.WEBHOOK_QUEUE}
    assert routes[webhook_tasks.schedule_due.name] == {"queue": routing.DEFAULT_QUEUE}


def _all_final():
    return not WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists()


@pytest.mark.django_db(transaction=True)
def test_a_flash_crowd_delivers_each_outcome_once_per_subscriber(
    api, organizer, receiver, private_urls, celery_worker
):
    event = EventFactory(creator=organizer, capacity=20)
    customers = CustomerFactory.create_batch(60)
    fan = SubscriptionFactory(owner=customers[0].user, url=receiver.url)
    crm = SubscriptionFactory(owner=organizer.user, url=receiver.url)

    for customer in customers:
        response = api.as_user(customer.user).post(
            "/bookingapi/booking/", {"event": event.pk}, format="json"
        )
        # Once the worker has filled the event, a request is refused at the door: nothing is
        # recorded, so nobody but the client hears of it.
        assert response.status_code == 202 or (
            response.status_code == 409 and response.json()["error"]["code"] == "sold_out"
        )
    wait_until(
        lambda: not BookingRequest.objects.filter(status=RequestStatus.PENDING).exists(),
        timeout=30,
        message="every booking decided",
    )
    recorded = BookingRequest.objects.count()
    wait_until(
        lambda: WebhookDelivery.objects.count() == recorded + 1 and _all_final(),
        timeout=30,
        message="every delivery sent",
    )

    deliveries = WebhookDelivery.objects.all()
    assert {d.status for d in deliveries} == {DeliveryStatus.SUCCEEDED}
    hits = Counter(receiver.ids())
    assert hits == Counter({str(d.uid): 1 for d in deliveries})
    organizer_types = Counter(d.event_type for d in deliveries if d.subscription_id == crm.pk)
    assert (
        organizer_types
        == Counter({"booking.confirmed": 20, "booking.rejected": recorded - 20}) - Counter()
    )
    (own,) = [d for d in deliveries if d.subscription_id == fan.pk]
    request = BookingRequest.objects.get(user=customers[0].user)
    assert own.event_type == f"booking.{request.status}"
    for hit in receiver.hits:
        secret = fan.secret if hit.headers["webhook-id"] == str(own.uid) else crm.secret
        signing.verify(secret=secret, headers=hit.headers, body=hit.body)


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_publishes_a_due_retry_to_the_worker(receiver, private_urls, celery_worker):
    delivery = DeliveryFactory(subscription=SubscriptionFactory(url=receiver.url))

    assert webhook_tasks.schedule_due.run() == 1

    wait_until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status != "pending")
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SUCCEEDED
    assert receiver.ids() == [str(delivery.uid)]


@pytest.mark.django_db(transaction=True)
def test_a_redelivery_by_hand_goes_through_the_worker(
    api, customer, receiver, private_urls, celery_worker
):
    subscription = SubscriptionFactory(owner=customer.user, url=receiver.url)
    delivery = DeliveryFactory(
        subscription=subscription, status=DeliveryStatus.FAILED, next_attempt_at=None
    )

    response = api.as_user(customer.user).post(f"/webhookapi/deliveries/{delivery.uid}/redeliver/")

    assert response.status_code == 202
    wait_until(lambda: receiver.ids() == [str(delivery.uid)], message="the redelivery")
    wait_until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "succeeded")
    assert sending.send_due_deliveries() == 0
