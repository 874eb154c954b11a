from django.urls import re_path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.routers import DefaultRouter

from apps.bookings.api import BookingRequestViewSet, BookingViewSet, HoldViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("booking", BookingViewSet, basename="booking")
router.register("requests", BookingRequestViewSet, basename="booking-request")
router.register("holds", HoldViewSet, basename="hold")

# The event stream answers without the trailing slash too, as EventSource URLs are often
# written (documented once, with it).
_events = extend_schema_view(events=extend_schema(exclude=True))(
    type("BookingRequestEvents", (BookingRequestViewSet,), {})
).as_view({"get": "events"})

urlpatterns = [
    *router.urls,
    re_path(
        rf"^requests/(?P<uid>{BookingRequestViewSet.lookup_value_regex})/events$",
        _events,
        name="booking-request-events-bare",
    ),
]
