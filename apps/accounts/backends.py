"""Password login by username as ``apps.core.clients.canonical_username`` compares it: the
same spelling the login throttle counts, so no variant of a name (outer whitespace, full-width
letters, another case) is a second account or a second allowance of guesses."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Q

from apps.core.clients import canonical_username, display_username

User = get_user_model()


def user_named(username: str):
    """The user whose username is ``username`` as compared (``canonical_username``), or None.
    Usernames are unique in that comparison (registration refuses a second spelling), so at
    most one matches; the database narrows by case-insensitive equality, Python decides."""
    key = canonical_username(username)
    if not key:
        return None
    shown = display_username(username)
    candidates = User._default_manager.filter(Q(username__iexact=shown) | Q(username__iexact=key))
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
