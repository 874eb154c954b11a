"""The staff view of events. Only the partition's worker writes an event's seat counters,
partition and deletion mark, so they are read-only here; a save writes only the fields the form
changed (never a stale copy of the counters), a capacity change is the same command on the
event's queue as the API's, and deleting is cancelling through the queue."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from apps.core.exceptions import DomainError
from apps.events import services
from apps.events.models import WORKER_FIELDS, Event


class EventAdminForm(forms.ModelForm):
    class Meta:
        model = Event
        fields = [
            "title",
            "description",
            "start_time",
            "end_time",
            "capacity",
            "creator",
            "waitlist_enabled",
            "waitlist_limit",
        ]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None:
            return cleaned
        changed = {name: cleaned[name] for name in self.changed_data if name in cleaned}
        try:
            services.check_event_update(event=self.instance, fields=changed)
        except DomainError as exc:
            raise ValidationError(exc.message) from exc
        return cleaned


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    form = EventAdminForm
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
    # Capacity stays editable: a change becomes a command on the event's queue.
    readonly_fields = ("uid", *sorted(WORKER_FIELDS - {"capacity"}))
    raw_id_fields = ("creator",)
    actions = ["cancel_events"]

    def save_model(self, request, obj, form, change):
        if not change:
            created = services.create_event(**form.cleaned_data)
            obj.pk, obj.uid, obj.partition = created.pk, created.uid, created.partition
            obj._state.adding = False
            return
        fields = {name: form.cleaned_data[name] for name in form.changed_data}
        # A fresh copy: ``obj`` holds the form's values over counters read before the save.
        event = Event.objects.get(pk=obj.pk)
        command = services.update_event(event=event, user_id=request.user.pk, fields=fields)
        if command is not None:
            self.message_user(
                request,
                f"The capacity change to {command.payload['capacity']} is queued for the "
                f"event's worker (request {command.uid}); the event shows it once decided.",
                messages.INFO,
            )

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Cancel the selected events (their bookings through the queue)")
    def cancel_events(self, request, queryset):
        for event in queryset.filter(deleted_at__isnull=True):
            services.delete_event(event=event, user_id=request.user.pk, force=True)
        self.message_user(request, "Cancellation queued for each selected live event.")
