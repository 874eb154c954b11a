"""The OpenAPI description of the error answers, added to every operation in one place.

Every 4xx the API gives has the envelope of ``apps.core.errors``. Which of them an operation
can give follows from what the operation is, so ``ApiSchema`` derives them instead of each view
listing them: a body or parameters to validate (400), a token to check (401), roles or ownership
(403), a path id or a page number (404), a JSON body (413, 415), an ``Idempotency-Key`` (422), a
throttle (429, with ``Retry-After``). A view adds what only it knows (a 409 with its codes,
login's 401) in its own ``extend_schema`` responses or in ``error_statuses`` (by action, or by
method for a plain view), e.g. from an ``OpenApiViewExtension`` in its app's ``schema.py``.
"""

from django import forms
from django_filters import CharFilter, ModelChoiceFilter
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated

from apps.core.filters import MAX_ID


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable, e.g. `validation_error`.")
    message = serializers.CharField(help_text="For people.")
    details = serializers.JSONField(
        help_text="Field errors by field name, or more about the error (e.g. `retry_after`)."
    )


class ErrorEnvelopeSerializer(serializers.Serializer):
    """``{"error": {"code", "message", "details"}}``: every 4xx and 5xx answer."""

    error = ErrorSerializer()


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}

DESCRIPTIONS = {
    "400": "Invalid request: `validation_error` with the fields' errors in `details`, or "
    "another code a rule of this operation gives.",
    "401": "No token, or an unknown, revoked or expired one (`not_authenticated`, "
    "`authentication_failed`).",
    "403": "Signed in, but not allowed: the wrong role, or not the owner (`permission_denied`).",
    "404": "No such resource for this caller, or no such page (`not_found`).",
    "409": "Refused by the state of the resource (the code says why).",
    "413": "The body is larger than the service accepts (`payload_too_large`).",
    "415": "The body is not `application/json` (`unsupported_media_type`).",
    "422": "This `Idempotency-Key` was used for another request (`idempotency_key_reused`).",
    "429": "Rate limited (`throttled`): retry after `Retry-After` seconds.",
}

NO_NUL = "^[^\\u0000]*$"
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
# Answered by the web server (gunicorn) before the request reaches the API: its own page.
URI_TOO_LONG = {
    "description": "The request line (path and query) is longer than the web server reads "
    "(gunicorn: 4,094 bytes).",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
_TRIVIAL_PERMISSIONS = (AllowAny, IsAuthenticated)


class ApiSchema(AutoSchema):
    """drf-spectacular's schema, with the error answers each operation can give."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        envelope = self.resolve_serializer(ErrorEnvelopeSerializer, "response").ref
        responses = operation["responses"]
        for status in self.error_statuses(operation):
            declared = responses.get(status)
            if declared is None or _is_free_form(declared):
                description = (declared or {}).get("description") or DESCRIPTIONS[status]
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": envelope}},
                }
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            responses["414"] = URI_TOO_LONG
        if "429" in responses:  # derived or declared by the view
            responses["429"]["headers"] = RETRY_AFTER
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """A text field of a request body refuses NUL characters (DRF's ``CharField`` does)."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        text = isinstance(field, serializers.CharField) and schema.get("type") == "string"
        if direction == "request" and text:
            # Trimmed, a value of blanks alone is empty, which a required text refuses too.
            trimmed = field.trim_whitespace and not field.allow_blank
            schema.setdefault("pattern", NOT_BLANK if trimmed else NO_NUL)
        return schema

    def _get_filter_parameters(self):
        """Filters with the bounds they enforce (ids 1..2^63-1); an empty value is "no filter"."""
        parameters = super()._get_filter_parameters()
        filterset = getattr(self.view, "filterset_class", None)
        declared = filterset.base_filters if filterset is not None else {}
        for parameter in parameters:
            found = declared.get(parameter["name"])
            schema = parameter.get("schema", {})
            if isinstance(found, ModelChoiceFilter):
                schema.update(type="integer", minimum=1, maximum=MAX_ID)
            elif found is not None:
                if issubclass(found.field_class, forms.IntegerField):
                    schema["type"] = "integer"
                for bound, keyword in (("min_value", "minimum"), ("max_value", "maximum")):
                    if found.extra.get(bound) is not None:
                        schema[keyword] = found.extra[bound]
            refuses_nul = isinstance(found, CharFilter) or parameter["name"] == "search"
            if schema.get("type") == "string" and refuses_nul:
                schema.setdefault("pattern", NO_NUL)  # the search box and text filters refuse it
            if schema.get("type") != "array":
                parameter["allowEmptyValue"] = True
        return parameters

    def error_statuses(self, operation: dict) -> list[str]:
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        unsafe = self.method not in SAFE_METHODS
        signed_in = any(requirement for requirement in operation.get("security", []))
        declared = getattr(self.view, "error_statuses", {})
        statuses = set(declared.get(getattr(self.view, "action", None) or self.method.lower(), ()))
        if has_body or any(p["in"] in ("query", "header") for p in parameters):
            statuses.add(400)
        if signed_in:
            statuses.add(401)
        if signed_in and (unsafe or self._has_role_permissions()):
            statuses.add(403)
        if any(p["in"] == "path" for p in parameters) or self._is_paginated():
            statuses.add(404)
        if has_body:
            statuses.update((413, 415))
        if any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in parameters):
            statuses.add(422)
        if self._is_throttled(unsafe):
            statuses.add(429)
        declared_conflict = "409" in operation["responses"]
        return sorted({str(s) for s in statuses} | ({"409"} if declared_conflict else set()))

    def _get_request_body(self, direction="request"):
        """A body whose serializer sets ``min_properties`` (a PATCH that must change something)
        is required and says so."""
        body = super()._get_request_body(direction)
        least = getattr(self.get_request_serializer(), "min_properties", None) if body else None
        if least:
            body["required"] = True
            for media in body["content"].values():
                media["schema"] = {"allOf": [media["schema"]], "minProperties": least}
        return body

    def _has_role_permissions(self) -> bool:
        return any(not isinstance(p, _TRIVIAL_PERMISSIONS) for p in self.view.get_permissions())

    def _is_paginated(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None

    def _is_throttled(self, unsafe: bool) -> bool:
        throttles = [throttle() for throttle in getattr(self.view, "throttle_classes", [])]
        return any(unsafe or not getattr(t, "writes_only", False) for t in throttles)


def _is_free_form(response: dict) -> bool:
    """A declared answer without a shape of its own (``OpenApiTypes.OBJECT``)."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("type") == "object" and "properties" not in schema
