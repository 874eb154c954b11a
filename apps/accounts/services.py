"""Registration, login and logout. Each writes its history entry in the same transaction."""

from django.contrib.auth import authenticate, get_user_model
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from apps.accounts.models import Customer, Organizer, UserType, user_type
from apps.audit.models import Action
from apps.audit.services import record
from apps.core.exceptions import Conflict, DomainError

User = get_user_model()


class InvalidCredentials(DomainError):
    status_code = 401
    code = "invalid_credentials"


def _create_user(*, username: str, **fields):
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict("That username is taken.", code="username_taken")
    try:
        return User.objects.create_user(username=username, **fields)
    except IntegrityError as exc:  # a concurrent registration won the name
        raise Conflict("That username is taken.", code="username_taken") from exc


def _register(profile_model, *, user_fields: dict, profile_fields: dict, user_type: str):
    user = _create_user(**user_fields)
    profile = profile_model.objects.create(user=user, **profile_fields)
    record(user_id=user.id, action=Action.REGISTER, target=user, details={"user_type": user_type})
    return profile, Token.objects.create(user=user)


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
) -> tuple[Organizer, Token]:
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
) -> tuple[Customer, Token]:
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
def log_in(*, username: str, password: str):
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials("Unknown username or wrong password.")
    token, _ = Token.objects.get_or_create(user=user)
    record(
        user_id=user.id, action=Action.LOGIN, target=user, details={"user_type": user_type(user)}
    )
    return user, token


@transaction.atomic
def log_out(*, user) -> None:
    Token.objects.filter(user=user).delete()
    record(user_id=user.id, action=Action.LOGOUT, target=user)
