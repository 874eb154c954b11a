from rest_framework.routers import DefaultRouter

from apps.webhooks.api import DeliveryViewSet, SubscriptionViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("subscription", SubscriptionViewSet, basename="webhook-subscription")
router.register("deliveries", DeliveryViewSet, basename="webhook-delivery")

urlpatterns = router.urls
