from rest_framework.routers import DefaultRouter

from apps.events.api import EventViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("event", EventViewSet, basename="event")

urlpatterns = router.urls
