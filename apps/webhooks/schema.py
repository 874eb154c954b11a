"""OpenAPI: what only the webhook views know of their errors (``apps.core.schema`` adds the
rest). Loaded by the app's ``ready``."""

from drf_spectacular.extensions import OpenApiViewExtension


class SubscriptionErrors(OpenApiViewExtension):
    """A user keeps at most ``WEBHOOK_MAX_SUBSCRIPTIONS_PER_USER``: one more is a 409."""

    target_class = "apps.webhooks.api.SubscriptionViewSet"

    def view_replacement(self):
        errors = {"create": (409,)}
        return type("SubscriptionViewSet", (self.target_class,), {"error_statuses": errors})
