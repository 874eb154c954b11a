from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import JsonResponse
from knox.models import AuthToken

from apps.accounts.models import Customer, Organizer
from apps.bookings.models import HELD_PLACES_MESSAGE
from apps.core import metrics
from apps.core.errors import throttled_answer
from apps.core.throttling import login_refused


def throttled_admin_login(request, extra_context=None):
    """The admin's login page; a POST (a password try) is counted by the API login's throttles
    first (per address, and per username at an address), and refused with 429 over them."""
    if request.method == "POST":
        refused = login_refused(request)
        if refused is not None:
            scope, wait = refused
            metrics.count_throttled("AdminLogin")
            body, headers = throttled_answer(request, scope, wait)
            return JsonResponse(body, status=429, headers=headers)
    return admin.site.login(request, extra_context)


class ExplainsRefusedDeletion:
    """Deleting a user who still holds seats or places in line is refused (see
    ``apps.bookings.models.cascade_unless_held``); say why and what to do instead."""

    def get_deleted_objects(self, objs, request):
        deleted = super().get_deleted_objects(objs, request)
        protected = deleted[3]
        if protected:
            self.message_user(request, HELD_PLACES_MESSAGE, messages.ERROR)
        return deleted


@admin.register(Organizer)
class OrganizerAdmin(ExplainsRefusedDeletion, admin.ModelAdmin):
    list_display = ("user", "organization_name", "created_at")
    search_fields = ("user__username", "organization_name")
    raw_id_fields = ("user",)


@admin.register(Customer)
class CustomerAdmin(ExplainsRefusedDeletion, admin.ModelAdmin):
    list_display = ("user", "created_at")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)


# Only a token's digest is stored; the admin shows who holds a token and until when, never a
# key or a digest, and cannot mint tokens (a key shown on a screen is a leaked key). Deleting a
# row revokes that token.
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "created", "expiry")
    list_filter = ("expiry",)
    search_fields = ("user__username",)
    fields = ("user", "created", "expiry")
    readonly_fields = ("user", "created", "expiry")
    ordering = ("-created",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AccountUserAdmin(ExplainsRefusedDeletion, UserAdmin):
    pass
