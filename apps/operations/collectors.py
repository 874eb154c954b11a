"""Gauges read from the database when /metrics is scraped, never kept up on the hot path."""

import logging

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from apps.bookings import selectors as bookings
from apps.operations import owners
from apps.webhooks import selectors as webhooks
from workers import routing

logger = logging.getLogger(__name__)

# Failing subscriptions get a series each; only the worst are listed, to bound the series.
FAILING_SUBSCRIPTIONS_LISTED = 50


class DatabaseCollector:
    """Pending commands and the oldest one's age per partition, partitions without a live
    owner, due webhook deliveries and failing subscriptions. Every partition is listed, with 0
    when idle, so an alert never mistakes "no series" for "fine"."""

    def collect(self):
        up = GaugeMetricFamily(
            "reservations_database_up", "1 when the metrics' database queries succeeded."
        )
        try:
            families = list(self._from_database())
        except Exception:  # noqa: BLE001 - a scrape must still answer, saying the database is down
            logger.warning("metrics: the database could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_database(self):
        now = timezone.now()
        pending = bookings.pending_by_partition()
        unowned = set(owners.partitions_without_live_owner())
        count = GaugeMetricFamily(
            "reservations_pending_commands",
            "Commands waiting for a decision.",
            labels=["partition"],
        )
        age = GaugeMetricFamily(
            "reservations_oldest_pending_command_age_seconds",
            "Age of the oldest command waiting for a decision (0 when none waits).",
            labels=["partition"],
        )
        owned = GaugeMetricFamily(
            "reservations_partition_owner_live",
            "1 when a live worker holds the partition's lease.",
            labels=["partition"],
        )
        for partition in range(routing.partition_count()):
            waiting, oldest = pending.get(partition, (0, None))
            label = [str(partition)]
            count.add_metric(label, waiting)
            age.add_metric(label, (now - oldest).total_seconds() if oldest else 0.0)
            owned.add_metric(label, 0 if partition in unowned else 1)
        yield count
        yield age
        yield owned

        due, oldest_due = webhooks.due_deliveries(now=now)
        yield GaugeMetricFamily(
            "reservations_webhook_deliveries_due",
            "Webhook deliveries due for an attempt now (the backlog).",
            value=due,
        )
        yield GaugeMetricFamily(
            "reservations_webhook_oldest_due_delivery_age_seconds",
            "How long the oldest due delivery has been waiting (0 when none).",
            value=(now - oldest_due).total_seconds() if oldest_due else 0.0,
        )
        failing = GaugeMetricFamily(
            "reservations_webhook_subscription_consecutive_failures",
            "Failed attempts in a row, per active subscription whose latest attempt failed "
            f"(the worst {FAILING_SUBSCRIPTIONS_LISTED}).",
            labels=["subscription"],
        )
        for subscription_id, failures in webhooks.failing_subscriptions(
            limit=FAILING_SUBSCRIPTIONS_LISTED
        ):
            failing.add_metric([str(subscription_id)], failures)
        yield failing
