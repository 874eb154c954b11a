"""Registration, login and logout. Each writes its history entry in the same transaction.

Registration and login issue a new token and return its key (shown once; only a digest is kept).
"""

from django.contrib.auth import authenticate, get_user_model
from django.db import IntegrityError, transaction
from knox.models import AuthToken

from apps.accounts import tokens
from apps.accounts.backends import user_named
from apps.accounts.models import Customer, Organizer, UserType, user_type
from apps.audit.models import Action
from apps.audit.services import record
from apps.core.clients import display_username
from apps.core.exceptions import DomainError

User = get_user_model()


class InvalidCredentials(DomainError):
    status_code = 401
    code = "invalid_credentials"


class UsernameTaken(DomainError):
    """400 with the error on ``username``, as the older system (DRF validation) answered."""

    status_code = 400
    code = "username_taken"

    def __init__(self):
        message = "A user with that username already exists."
        super().__init__(message, details={"username": [message]})


def _create_user(*, username: str, **fields):
    # Stored stripped and NFKC (full-width "ａｌｉｃｅ" is "alice"), its case kept; taken when a
    # user has the same name as login compares names (canonical_username: "Bob " is "bob").
    # A unique index on LOWER(username) settles races.
    username = display_username(username)
    if user_named(username) is not None:
        raise UsernameTaken()
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, **fields)
    except IntegrityError as exc:  # a concurrent registration won the name
        raise UsernameTaken() from exc


def _register(profile_model, *, user_fields: dict, profile_fields: dict, user_type: str):
    user = _create_user(**user_fields)
    profile = profile_model.objects.create(user=user, **profile_fields)
    record(user_id=user.id, action=Action.REGISTER, target=user, details={"user_type": user_type})
    key, token = tokens.issue_token(user=user)
    return profile, key, token


@transaction.atomic
def register_organizer(
    *,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    organization_name: str,
    business_address: str = "",
) -> tuple[Organizer, str, AuthToken]:
    return _register(
        Organizer,
        user_fields={
            "username": username,
            "email": email,
            "password": password,
            "first_name": first_name,
            "last_name": last_name,
        },
        profile_fields={
            "organization_name": organization_name,
            "business_address": business_address,
        },
        user_type=UserType.ORGANIZER,
    )


@transaction.atomic
def register_customer(
    *, username: str, email: str, password: str, first_name: str = "", last_name: str = ""
) -> tuple[Customer, str, AuthToken]:
    return _register(
        Customer,
        user_fields={
            "username": username,
            "email": email,
            "password": password,
            "first_name": first_name,
            "last_name": last_name,
        },
        profile_fields={},
        user_type=UserType.CUSTOMER,
    )


@transaction.atomic
def log_in(*, username: str, password: str) -> tuple[object, str, AuthToken]:
    """Check the password and issue a new token: returns ``(user, key, token)``."""
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials("Unknown username or wrong password.")
    tokens.delete_expired_tokens(user_id=user.id)
    key, token = tokens.issue_token(user=user)
    record(
        user_id=user.id, action=Action.LOGIN, target=user, details={"user_type": user_type(user)}
    )
    return user, key, token


@transaction.atomic
def log_out(*, user, token: AuthToken | None) -> None:
    """Revoke the token the request came with (other sessions keep theirs)."""
    if token is not None:
        tokens.revoke_token(token=token)
    record(user_id=user.id, action=Action.LOGOUT, target=user)


@transaction.atomic
def log_out_everywhere(*, user) -> int:
    """Revoke every token of the user; returns how many."""
    revoked = tokens.revoke_all_tokens(user_id=user.id)
    record(user_id=user.id, action=Action.LOGOUT, target=user, details={"all_sessions": True})
    return revoked
