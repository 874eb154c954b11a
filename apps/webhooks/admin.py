from django.contrib import admin

from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "url", "is_active", "consecutive_failures", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "owner__username")
    raw_id_fields = ("owner",)
    # The signing secret is never displayed; owners rotate it through the API.
    exclude = ("secret",)
    readonly_fields = ("consecutive_failures", "created_at", "updated_at")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = (
        "number",
        "succeeded",
        "status_code",
        "duration_ms",
        "error",
        "response_body",
        "created_at",
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "uid",
        "subscription",
        "event_type",
        "status",
        "attempt_count",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("uid",)
    raw_id_fields = ("subscription",)
    readonly_fields = ("uid", "payload", "attempt_count", "created_at", "updated_at")
    inlines = [WebhookAttemptInline]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ("delivery", "number", "succeeded", "status_code", "duration_ms", "created_at")
    list_filter = ("succeeded",)
    raw_id_fields = ("delivery",)
