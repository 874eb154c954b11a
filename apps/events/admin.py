from django.contrib import admin

from apps.events.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "start_time",
        "capacity",
        "seats_taken",
        "partition",
        "creator",
        "deleted_at",
    )
    list_filter = ("partition", "waitlist_enabled")
    search_fields = ("title", "creator__organization_name")
    readonly_fields = ("uid", "partition", "seats_taken", "waitlist_size", "deleted_at")
    raw_id_fields = ("creator",)
