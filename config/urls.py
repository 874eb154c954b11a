from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.accounts.admin import throttled_admin_login
from apps.core.views import HealthView

urlpatterns = [
    path("userapi/", include("apps.accounts.urls")),
    path("eventapi/", include("apps.events.urls")),
    path("bookingapi/", include("apps.bookings.urls")),
    path("webhookapi/", include("apps.webhooks.urls")),
    path("health/", HealthView.as_view(), name="health"),
    path("", include("apps.operations.urls")),
]

if settings.ADMIN_ENABLED:  # off by default in production
    urlpatterns += [
        # Before the admin's own: its login page, with the login throttles in front.
        path("admin/login/", throttled_admin_login),
        path("admin/", admin.site.urls),
    ]

if settings.API_DOCS_ENABLED:
    urlpatterns += [
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
        path(
            "api/redoc/",
            SpectacularRedocView.as_view(url_name="schema", template_name="core/redoc.html"),
            name="redoc",
        ),
    ]

handler400 = "apps.core.errors.handler400"
handler403 = "apps.core.errors.handler403"
handler404 = "apps.core.errors.handler404"
handler500 = "apps.core.errors.handler500"
