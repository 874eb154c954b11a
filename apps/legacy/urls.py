"""The old design's booking endpoint, served only with BENCH_LEGACY_ENDPOINT=1 (the benchmark)."""

from django.conf import settings
from django.urls import path

from apps.legacy.views import LegacyBookView

urlpatterns = (
    [path("book/", LegacyBookView.as_view(), name="legacy-book")]
    if settings.BENCH_LEGACY_ENDPOINT
    else []
)
