"""Webhook delivery tasks (queue: webhooks; the scheduler on default). Ids in, one service call.

Retries are rows (``next_attempt_at``), not Celery countdowns, so they survive restarts; a
delivery task is never retried by Celery.
"""

from celery import shared_task

from apps.webhooks import sending
from workers import routing


@shared_task(name=routing.DELIVER_WEBHOOK_TASK, acks_late=True, ignore_result=True)
def deliver(delivery_id: int) -> bool:
    """A due delivery (then its subscription's next ones, one at a time); a duplicate or early
    message finds nothing to claim."""
    return sending.deliver(delivery_id=delivery_id) > 0


@shared_task(name=routing.PUBLISH_WEBHOOKS_TASK, ignore_result=True)
def publish(delivery_ids: list[int]) -> int:
    """Deliveries created by one transaction: publish a ``deliver`` task for each."""
    return sending.publish_deliveries(delivery_ids=delivery_ids)


@shared_task(name=routing.SCHEDULE_WEBHOOKS_TASK, ignore_result=True)
def schedule_due() -> int:
    """Beat: publish the deliveries whose next attempt is due."""
    return sending.dispatch_due_deliveries()
