from django.contrib import admin

from apps.audit.models import HistoryPoint


@admin.register(HistoryPoint)
class HistoryPointAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "action", "content_type", "object_id")
    list_filter = ("action", "content_type")
    search_fields = ("user__username", "object_id")
    raw_id_fields = ("user",)
