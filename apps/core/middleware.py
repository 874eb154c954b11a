"""Middleware: Django's messages for the browser pages only, and a database that does not answer
turned into a 503 for the views outside DRF."""

from django.contrib.messages.middleware import MessageMiddleware
from django.http import JsonResponse

from apps.core import errors


class BrowserMessageMiddleware(MessageMiddleware):
    """Django's messages (the admin's "saved" notes), set up only for browser requests: a request
    with an ``Authorization`` header is an API client, which has no use for them (setting up the
    storage was a measurable share of a refused booking's CPU)."""

    def process_request(self, request):
        if "HTTP_AUTHORIZATION" not in request.META:
            super().process_request(request)


class DatabaseUnavailableMiddleware:
    """A view outside DRF (health, the front door, the admin) whose database did not answer gets
    the same 503 with ``Retry-After`` as the API's views, not a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, errors.DATABASE_FAULTS):
            return None
        body, headers = errors.database_unavailable(exception)
        return JsonResponse(body, status=503, headers=headers)
