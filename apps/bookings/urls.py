from rest_framework.routers import DefaultRouter

from apps.bookings.api import BookingRequestViewSet, BookingViewSet, HoldViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("booking", BookingViewSet, basename="booking")
router.register("requests", BookingRequestViewSet, basename="booking-request")
router.register("holds", HoldViewSet, basename="hold")

urlpatterns = router.urls
