"""The front door, readiness and metrics: what an operator and a load balancer ask."""

import hmac
import tomllib
from functools import cache

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import metrics
from apps.core.clients import address_in
from apps.core.errors import error_body
from apps.operations import readiness
from apps.operations.collectors import DatabaseCollector


@cache
def version() -> str:
    try:
        with open(settings.BASE_DIR / "pyproject.toml", "rb") as handle:
            return tomllib.load(handle)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


class IndexView(APIView):
    """The front door: what this service is and where to go next."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer(
                "Index",
                {
                    "name": serializers.CharField(),
                    "version": serializers.CharField(),
                    "links": serializers.DictField(child=serializers.CharField()),
                },
            )
        }
    )
    def get(self, request):
        links = {}
        if settings.API_DOCS_ENABLED:  # off in production unless asked for
            links.update(
                docs=reverse("swagger-ui"), redoc=reverse("redoc"), schema=reverse("schema")
            )
        links.update(
            health=reverse("health"), readiness=reverse("readiness"), metrics=reverse("metrics")
        )
        return Response({"name": "reservations", "version": version(), "links": links})


class ReadinessView(APIView):
    """503 with the reasons while the database or the broker is unreachable or a partition has
    no live worker; 200 otherwise. ``/health/`` stays the liveness check. The errors behind a
    reason go to the log, and to a caller with the metrics bearer token; others read
    ``database: unavailable``."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer(
                "Ready",
                {
                    "status": serializers.CharField(),
                    "database": serializers.CharField(),
                    "broker": serializers.CharField(),
                    "partitions_without_owner": serializers.ListField(
                        child=serializers.IntegerField()
                    ),
                },
            ),
            503: inline_serializer(
                "NotReady",
                {
                    "error": inline_serializer(
                        "NotReadyError",
                        {
                            "code": serializers.CharField(),
                            "message": serializers.CharField(),
                            "details": serializers.DictField(),
                        },
                    )
                },
            ),
        }
    )
    def get(self, request):
        state = readiness.check()  # logs the detail when not ready
        if not _has_metrics_token(request):
            state = state.generic()
        if state.ready:
            return Response({"status": "ready", **state.details()})
        return Response(
            error_body("not_ready", "; ".join(state.reasons()), state.details()),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )


def _has_metrics_token(request) -> bool:
    """The request sends ``Authorization: Bearer <METRICS_TOKEN>`` (one is configured)."""
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


def _metrics_allowed(request) -> tuple[bool, int]:
    """(allowed, status when refused): a matching bearer token or an allowed client address;
    with neither configured, open in development and closed in production."""
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS
    if _has_metrics_token(request):
        return True, 200
    # The client's address as the rate limits see it: behind a trusted proxy, the address the
    # proxy connected for, not the proxy's own (which would let every client in).
    if networks and address_in(request, networks):
        return True, 200
    if not token and not networks:
        return settings.ENVIRONMENT != "production", 403
    return False, 401 if token else 403


def metrics_view(request):
    """Prometheus text exposition: every process's counters plus the database's gauges."""
    if request.method != "GET":
        return JsonResponse(
            error_body("method_not_allowed", f'Method "{request.method}" not allowed.'), status=405
        )
    allowed, refusal = _metrics_allowed(request)
    if not allowed:
        response = JsonResponse(
            error_body(
                "not_authenticated" if refusal == 401 else "permission_denied",
                "Metrics need a bearer token or an allowed client address "
                "(METRICS_TOKEN, METRICS_ALLOWED_NETWORKS).",
            ),
            status=refusal,
        )
        if refusal == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    gauges = CollectorRegistry()
    gauges.register(DatabaseCollector())
    body = generate_latest(metrics.counters_registry()) + generate_latest(gauges)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
