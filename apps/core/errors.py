"""One JSON error shape for every 4xx and 5xx:

{"error": {"code": "validation_error", "message": "…", "details": {...}}}
"""

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core import metrics
from apps.core.clients import client_address
from apps.core.exceptions import DomainError

logger = logging.getLogger(__name__)

# The database did not answer (a restart, a failover, a network cut): not the request's fault and
# not a bug, so a 503 the client may retry, not a 500. Nothing was stored by the failed request.
DATABASE_FAULTS = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER_SECONDS = 2


def error_body(code: str, message: str, details: dict | list | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key == "non_field_errors" else f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _raised_by_a_parser(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == "rest_framework.parsers":
            return True
        tb = tb.tb_next
    return False


def exception_handler(exc, context):
    if isinstance(exc, RecursionError) and _raised_by_a_parser(exc):
        # json gives up on very deep nesting with RecursionError, not ValueError: a bad body.
        exc = exceptions.ParseError("JSON parse error - the document is nested too deeply.")
    if isinstance(exc, DATABASE_FAULTS):
        body, headers = database_unavailable(exc)
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", "The request body is too large."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, exceptions.Throttled):
        view = context.get("view")
        metrics.count_throttled(type(view).__name__ if view is not None else "unknown")
        return _throttled(exc, context)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's handler500 answers with the JSON shape
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("validation_error", _first_message(exc.detail), exc.detail)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        body = error_body(str(code), str(detail))
    response.data = body
    return response


def _throttled(exc: exceptions.Throttled, context) -> Response:
    """Every throttled request answers here (apps.core.throttling): 429 with Retry-After."""
    request = context.get("request")
    scope = getattr(request, "throttled_scope", "") if request is not None else ""
    body, headers = throttled_answer(request, scope, exc.wait)
    return Response(body, status=status.HTTP_429_TOO_MANY_REQUESTS, headers=headers)


def throttled_answer(request, scope: str, wait: float | None) -> tuple[dict, dict]:
    """The body and headers of a 429 (logged with the client's address, as the limits saw it)."""
    retry_after = max(1, math.ceil(wait or 1))
    logger.info(
        "throttled: scope=%s path=%s client=%s",
        scope,
        getattr(request, "path", ""),
        client_address(request) if request is not None else "",
    )
    body = error_body(
        "throttled",
        f"Too many requests; retry in {retry_after} s.",
        {"scope": scope, "retry_after": retry_after},
    )
    return body, {"Retry-After": str(retry_after)}


def database_unavailable(exc: BaseException) -> tuple[dict, dict]:
    """The body and headers of a 503 for a database that did not answer (the error, which names
    hosts and ports, goes to the log only)."""
    logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    body = error_body(
        "database_unavailable",
        f"The database is unavailable; retry in {DATABASE_RETRY_AFTER_SECONDS} s.",
        {"retry_after": DATABASE_RETRY_AFTER_SECONDS},
    )
    return body, {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}


def _json_handler(status_code: int, code: str, message: str):
    def handler(request, exception=None, *args, **kwargs):
        return JsonResponse(error_body(code, message), status=status_code)

    return handler


handler400 = _json_handler(400, "bad_request", "The request could not be understood.")
handler403 = _json_handler(403, "permission_denied", "You do not have permission.")
handler404 = _json_handler(404, "not_found", "No such resource.")
handler500 = _json_handler(500, "server_error", "Internal error; it has been logged.")
