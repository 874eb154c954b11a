from django.urls import path

from apps.operations.views import IndexView, ReadinessView, metrics_view

urlpatterns = [
    path("", IndexView.as_view(), name="index"),
    path("health/ready/", ReadinessView.as_view(), name="readiness"),
    path("metrics", metrics_view, name="metrics"),
]
