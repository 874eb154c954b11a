"""The product's URLs plus ``POST /legacyapi/book/``, the OLD design (views.py)."""

from django.urls import path

from bench.legacy.views import LegacyBookView
from config import urls as product

urlpatterns = [
    *product.urlpatterns,
    path("legacyapi/book/", LegacyBookView.as_view(), name="legacy-book"),
]

handler400 = product.handler400
handler403 = product.handler403
handler404 = product.handler404
handler500 = product.handler500
