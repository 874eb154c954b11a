"""The names ``apps.bookings.decisions`` reaches webhooks by (``webhooks.create_deliveries``,
``webhooks.hand_over_deliveries``), kept while that module is reworked elsewhere: new code
imports ``apps.webhooks.deliveries``, ``sending`` or ``subscriptions`` directly. Delete this
module once ``decisions`` imports ``apps.webhooks.deliveries``."""

from apps.webhooks.deliveries import create_deliveries, hand_over_deliveries

__all__ = ["create_deliveries", "hand_over_deliveries"]
