from hmac import compare_digest

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions


class ProfileTokenAuthentication(TokenAuthentication):
    """knox's hashed, expiring tokens (``Authorization: Token <key>``) in one query: the token
    with its user and role profiles, so the role checks of a request cost no further query.

    Unlike knox's own class it does not sweep the user's other expired tokens on every request
    (a query and deletes on the accept path); expired tokens are deleted at login instead. A
    token's lifetime is fixed at login and not renewed on use (no write per request)."""

    def authenticate_credentials(self, token: bytes):
        message = _("Invalid token.")
        try:
            key = token.decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(message) from exc
        digest = hash_token(key)
        candidates = AuthToken.objects.select_related(
            "user", "user__customer_profile", "user__organizer_profile"
        ).filter(token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH], digest=digest)
        for auth_token in candidates:
            if not compare_digest(auth_token.digest, digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                auth_token.delete()
                raise exceptions.AuthenticationFailed(_("Token expired; log in again."))
            if not auth_token.user.is_active:
                raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
            return auth_token.user, auth_token
        raise exceptions.AuthenticationFailed(message)
