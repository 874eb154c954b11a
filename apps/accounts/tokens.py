"""API tokens: hashed at rest, one per login, expiring (django-rest-knox's ``AuthToken``).

Only a SHA-512 digest of a token is stored; the key itself is shown once, to whoever asked for it.
Clients send it as ``Authorization: Token <key>``.
"""

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken, get_digest_token
from knox.settings import CONSTANTS


def token_lifetime() -> timedelta:
    return timedelta(seconds=settings.ACCOUNT_TOKEN_TTL_SECONDS)


def _new_token(user_id: int, *, now) -> tuple[AuthToken, str]:
    digest, key = get_digest_token()
    token = AuthToken(
        digest=digest,
        token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
        user_id=user_id,
        expiry=now + token_lifetime(),
    )
    return token, key


def issue_token(*, user) -> tuple[str, AuthToken]:
    """A new token for ``user``: returns the key (shown once) and the stored row."""
    token, key = _new_token(user.pk, now=timezone.now())
    token.save(force_insert=True)
    return key, token


def issue_tokens(*, user_ids: Sequence[int]) -> list[str]:
    """One new token per user id in one bulk insert (load tests, seeding); keys in order."""
    now = timezone.now()
    pairs = [_new_token(user_id, now=now) for user_id in user_ids]
    AuthToken.objects.bulk_create([token for token, _ in pairs], batch_size=1000)
    return [key for _, key in pairs]


def user_ids_for_keys(keys: Sequence[str]) -> list[int]:
    """The users holding these live keys (tools that were handed keys, e.g. the benchmark)."""
    return list(
        AuthToken.objects.filter(digest__in=[hash_token(k) for k in keys]).values_list(
            "user_id", flat=True
        )
    )


def revoke_token(*, token: AuthToken) -> None:
    AuthToken.objects.filter(pk=token.pk).delete()


def revoke_all_tokens(*, user_id: int) -> int:
    deleted, _ = AuthToken.objects.filter(user_id=user_id).delete()
    return deleted


def delete_expired_tokens(*, user_id: int | None = None) -> int:
    expired = AuthToken.objects.filter(expiry__lt=timezone.now())
    if user_id is not None:
        expired = expired.filter(user_id=user_id)
    deleted, _ = expired.delete()
    return deleted
