"""Deliveries created with the outcomes they announce: the partition worker calls
:func:`create_deliveries` inside its decision transaction (with the payloads' shapes: this app
knows nothing of bookings) and :func:`hand_over_deliveries` after that commit, which hands the
new rows to the ``webhooks`` queue by task name. Sending them is ``apps.webhooks.sending``."""

import logging
import uuid
from collections.abc import Callable, Sequence

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Customer, Organizer
from apps.core.bulk import insert_rows
from apps.core.rows import JoinedRows
from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from workers import routing

logger = logging.getLogger(__name__)


def create_deliveries(
    *,
    batches: Sequence[tuple],
    describe: Callable[..., dict[int, dict]],
    hand_over: bool = True,
) -> list[int]:
    """Create one delivery per matching subscription per outcome, in the caller's transaction,
    and hand them to the webhooks queue once it commits (``hand_over=False``: the caller hands
    the returned ids over itself, with others, in one message). ``batches`` are ``(event,
    outcomes)`` pairs: a partition round's events are served by the same statements. Queries
    do not grow with the number of outcomes or events, and no model instance is built per
    delivery.

    An outcome has ``event_type``, ``request`` (``user_id``) and ``booking`` (``customer_id``
    or None); ``describe(events=, outcomes=)`` gives each matched outcome's payload ``data`` by
    ``id(outcome)``: the booking side owns those shapes, this module only delivers them."""
    batches = [(event, outcomes) for event, outcomes in batches if outcomes]
    if not batches:
        return []
    events = [event for event, _ in batches]
    subscriptions = _matching_candidates(
        events=events, outcomes=[o for _, outcomes in batches for o in outcomes]
    )
    wanted = {event_type for sub in subscriptions for event_type in sub.event_types}
    pairs = [
        (sub, outcome)
        for event, outcomes in batches
        for outcome in outcomes
        if outcome.event_type in wanted
        for sub in subscriptions
        if _matches(sub, event=event, outcome=outcome)
    ]
    if not pairs:
        return []
    unique = list({id(outcome): outcome for _, outcome in pairs}.values())
    data = describe(events=events, outcomes=unique)
    now = timezone.now()
    timestamp = now.isoformat().replace("+00:00", "Z")
    max_attempts = 1 + len(settings.WEBHOOK_RETRY_SCHEDULE)
    rows = []
    for sub, outcome in pairs:
        uid = uuid.uuid4()
        payload = {
            "type": outcome.event_type,
            "id": str(uid),
            "timestamp": timestamp,
            "data": data[id(outcome)],
        }
        rows.append(
            (uid, sub.pk, outcome.event_type, payload, DeliveryStatus.PENDING, 0, max_attempts)
            + (now, now, "", now, now)
        )
    ids = insert_rows(WebhookDelivery, DELIVERY_FIELDS, rows, returning_ids=True)
    if hand_over:
        transaction.on_commit(lambda: hand_over_deliveries(delivery_ids=ids), robust=True)
    return ids


DELIVERY_FIELDS = (
    "uid",
    "subscription",
    "event_type",
    "payload",
    "status",
    "attempt_count",
    "max_attempts",
    "next_attempt_at",
    "dispatched_at",
    "last_error",
    "created_at",
    "updated_at",
)


def _candidate_rows() -> JoinedRows:
    customer, organizer = Customer._meta.db_table, Organizer._meta.db_table
    return JoinedRows(
        [(WebhookSubscription, "s")],
        f"{WebhookSubscription._meta.db_table} s "
        f"LEFT JOIN {customer} c ON c.user_id = s.owner_id "
        f"LEFT JOIN {organizer} o ON o.user_id = s.owner_id",
        "s.is_active = %s AND (s.owner_id IN ({users}) OR c.id IN ({customers}) "
        "OR o.id IN ({organizers})) "
        "ORDER BY s.id",
        extra=["c.id", "o.id"],
    )


# Written out once (apps.core.rows): a decision batch runs it, however small the batch.
CANDIDATES = _candidate_rows()


def _matching_candidates(*, events, outcomes) -> list[WebhookSubscription]:
    """Active subscriptions of anyone who could hear about these outcomes: the requesters, the
    bookings' customers, the events' organizers. One query."""
    users = sorted({o.request.user_id for o in outcomes})
    customers = sorted({o.booking.customer_id for o in outcomes if o.booking is not None})
    organizers = sorted({event.creator_id for event in events})
    found = []
    rows = CANDIDATES.fetch(
        [True, *users, *customers, *organizers],
        users=len(users),
        customers=len(customers),
        organizers=len(organizers),
    )
    for subscription, customer_pk, organizer_pk in rows:
        subscription.customer_pk, subscription.organizer_pk = customer_pk, organizer_pk
        found.append(subscription)
    return found


def _matches(subscription: WebhookSubscription, *, event, outcome) -> bool:
    if outcome.event_type not in subscription.event_types:
        return False
    if subscription.organizer_pk is not None and subscription.organizer_pk == event.creator_id:
        return True
    if subscription.owner_id == outcome.request.user_id:
        return True
    # A cancellation by the organizer (event cancelled) still reaches the booking's customer.
    booking = outcome.booking
    return (
        booking is not None
        and subscription.customer_pk is not None
        and subscription.customer_pk == booking.customer_id
    )


def hand_over_deliveries(*, delivery_ids: list[int]) -> bool:
    """After the commit that created them: one message hands the deliveries to the webhooks
    queue, whose worker publishes a ``deliver`` task per delivery, so a decision batch pays one
    publish, not one per delivery. A failed publish is left to the scheduler, which publishes
    due deliveries again."""
    try:
        current_app.send_task(
            routing.PUBLISH_WEBHOOKS_TASK,
            args=[delivery_ids],
            queue=routing.WEBHOOK_QUEUE,
            retry=False,
            # Shown by Flower in place of the ids (a round's list, written out, cost more than
            # the rest of the message).
            argsrepr=f"[{len(delivery_ids)} deliveries]",
        )
    except Exception:  # noqa: BLE001 - any broker failure; the scheduler re-publishes
        logger.warning(
            "%d webhook deliveries not handed over; the scheduler will publish them",
            len(delivery_ids),
            exc_info=True,
        )
        return False
    return True
