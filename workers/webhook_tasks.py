"""Webhook delivery tasks (queue: webhooks)."""
