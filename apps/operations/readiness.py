"""Readiness: can this deployment decide bookings right now?

Not ready when the database or the broker cannot be reached, or when a partition has no live
lease holder (its commands would wait until one takes over).
"""

import logging
from dataclasses import dataclass, field

from celery import current_app
from django.conf import settings
from django.db import connection

from apps.operations import owners

logger = logging.getLogger(__name__)


@dataclass
class Readiness:
    database: str = "ok"
    broker: str = "ok"
    partitions_without_owner: list[int] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.database == "ok" and self.broker == "ok" and not self.partitions_without_owner

    def reasons(self) -> list[str]:
        reasons = []
        if self.database != "ok":
            reasons.append(f"database: {self.database}")
        if self.broker != "ok":
            reasons.append(f"broker: {self.broker}")
        if self.partitions_without_owner:
            listed = ", ".join(str(p) for p in self.partitions_without_owner)
            reasons.append(f"no live worker holds partition {listed}")
        return reasons

    def details(self) -> dict:
        return {
            "database": self.database,
            "broker": self.broker,
            "partitions_without_owner": self.partitions_without_owner,
        }

    def generic(self) -> "Readiness":
        """What an anonymous caller is told: which part is unavailable, not why (the errors
        name internal hosts and ports; they go to the log and to the metrics token's holder)."""
        return Readiness(
            database=_generic(self.database),
            broker=_generic(self.broker),
            partitions_without_owner=self.partitions_without_owner,
        )


UNAVAILABLE = "unavailable"


def _generic(state: str) -> str:
    return state if state == "ok" else UNAVAILABLE


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()[:300]


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return _describe(exc)
    return "ok"


def check_broker() -> str:
    try:
        with current_app.connection_for_write(
            connect_timeout=settings.READINESS_BROKER_TIMEOUT_SECONDS
        ) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return _describe(exc)
    return "ok"


def check() -> Readiness:
    state = Readiness(database=check_database(), broker=check_broker())
    if state.database == "ok":
        try:
            state.partitions_without_owner = owners.partitions_without_live_owner()
        except Exception as exc:  # noqa: BLE001 - report it as the database's failure
            state.database = _describe(exc)
    if not state.ready:
        logger.warning("not ready: %s", "; ".join(state.reasons()))
    return state
