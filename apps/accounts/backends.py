"""Password login by username as ``apps.core.clients.canonical_username`` compares it: the
same spelling the login throttle counts, so no variant of a name (outer whitespace, full-width
letters, another case) is a second account or a second allowance of guesses."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models.functions import Lower

from apps.core.clients import canonical_username, display_username

User = get_user_model()


def user_named(username: str):
    """The user whose username is ``username`` as compared (``canonical_username``), or None.
    Usernames are unique in that comparison (registration refuses a second spelling), so at
    most one matches. The database narrows by ``LOWER(username)`` (the unique index of
    accounts' migration 0002: one probe, not a scan), Python decides; SQLite lowers ASCII only,
    so there a non-ASCII name in another case is not found (and is counted with it all the
    same by the throttle, which folds more, never less)."""
    key = canonical_username(username)
    if not key:
        return None
    shown = display_username(username)
    candidates = User._default_manager.alias(lowered=Lower("username")).filter(
        lowered__in=sorted({key, shown.lower(), shown})
    )
    matches = [user for user in candidates if canonical_username(user.username) == key]
    return min(matches, key=lambda user: user.pk) if matches else None


class CanonicalUsernameBackend(ModelBackend):
    """Django's model backend (permissions, ``is_active``) with the lookup of ``user_named``:
    the API's login and the admin's login page both authenticate through it."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if not isinstance(username, str) or password is None:
            return None
        user = user_named(username)
        if user is None:
            # As long as a wrong password takes (Django's timing guard against name probing).
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
