from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions

from apps.accounts.models import Customer, Organizer
from apps.core.rows import JoinedRows

User = get_user_model()


def _token_rows() -> JoinedRows:
    table = {m: m._meta.db_table for m in (AuthToken, User, Customer, Organizer)}
    return JoinedRows(
        [(AuthToken, "t"), (User, "u"), (Customer, "c"), (Organizer, "o")],
        f"{table[AuthToken]} t JOIN {table[User]} u ON u.id = t.user_id "
        f"LEFT JOIN {table[Customer]} c ON c.user_id = u.id "
        f"LEFT JOIN {table[Organizer]} o ON o.user_id = u.id",
        "t.token_key = %s AND t.digest = %s",
    )


TOKEN_ROWS = _token_rows()
CUSTOMER_PROFILE = User._meta.get_field("customer_profile")
ORGANIZER_PROFILE = User._meta.get_field("organizer_profile")
PROFILE_USER = (Customer._meta.get_field("user"), Organizer._meta.get_field("user"))
TOKEN_USER = AuthToken._meta.get_field("user")


class ProfileTokenAuthentication(TokenAuthentication):
    """knox's hashed, expiring tokens (``Authorization: Token <key>``) in one statement: the
    token with its user and role profiles, so the role checks of a request cost no further
    query (the statement is written out once, ``apps.core.rows``: the ORM composing it anew for
    every request cost more than the lookup itself).

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
        for auth_token, user, customer, organizer in TOKEN_ROWS.fetch(
            [key[: CONSTANTS.TOKEN_KEY_LENGTH], digest]
        ):
            if not compare_digest(auth_token.digest, digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                auth_token.delete()
                raise exceptions.AuthenticationFailed(_("Token expired; log in again."))
            if not user.is_active:
                raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
            # What select_related would have cached: no query for the profiles, present or not.
            TOKEN_USER.set_cached_value(auth_token, user)
            CUSTOMER_PROFILE.set_cached_value(user, customer)
            ORGANIZER_PROFILE.set_cached_value(user, organizer)
            for profile, field in zip((customer, organizer), PROFILE_USER, strict=True):
                if profile is not None:
                    field.set_cached_value(profile, user)
            return user, auth_token
        raise exceptions.AuthenticationFailed(message)
