"""Middleware for the browser pages (the admin) that API requests skip."""

from django.contrib.messages.middleware import MessageMiddleware


class BrowserMessageMiddleware(MessageMiddleware):
    """Django's messages (the admin's "saved" notes), set up only for browser requests: a request
    with an ``Authorization`` header is an API client, which has no use for them (setting up the
    storage was a measurable share of a refused booking's CPU)."""

    def process_request(self, request):
        if "HTTP_AUTHORIZATION" not in request.META:
            super().process_request(request)
