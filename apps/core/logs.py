"""Log format and the request id that follows a command through every process.

``LOG_FORMAT=json`` makes every process (gunicorn, partition workers, the general worker, beat,
the launcher) write one JSON object per line. A line about a command carries its request id
(the ``BookingRequest`` uid) in ``request_id``: passed as ``extra={"request_id": …}`` or bound
for a block of code with :func:`bind_request_id`, so ``grep <id>`` tells the command's story.

This module imports nothing from Django, so gunicorn's configuration can use it too.
"""

import contextlib
import contextvars
import json
import logging
import logging.config
import os
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(process)d %(message)s"
JSON_RENAMES = {"levelname": "level", "name": "logger", "process": "pid"}
JSON_TIMESTAMP = "time"  # ISO 8601, UTC

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


@contextlib.contextmanager
def bind_request_id(request_id: object) -> Iterator[None]:
    """Every log line written inside the block carries this request id."""
    token = _request_id.set(str(request_id))
    try:
        yield
    finally:
        _request_id.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()


# A request resource in an access line's path or Location header: the line is about that command.
REQUEST_RESOURCE = re.compile(r"/bookingapi/requests/([0-9a-f]{8}-[0-9a-f-]{27})")


def _from_access_line(record: logging.LogRecord) -> str | None:
    atoms = record.args
    if record.name != "gunicorn.access" or not isinstance(atoms, dict):
        return None
    for atom in ("{location}o", "U"):
        found = REQUEST_RESOURCE.search(str(atoms.get(atom) or ""))
        if found:
            return found.group(1)
    return None


class RequestIdFilter(logging.Filter):
    """Adds the request id to a record that does not name one itself: the bound one, or for
    gunicorn's access line the request resource it asked for or answered with."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            request_id = _request_id.get() or _from_access_line(record)
            if request_id is not None:
                record.request_id = request_id
        return True


def json_say(msg: str, f=None) -> None:
    """Celery writes its shutdown notices ("worker: Warm shutdown") straight to stdout from a
    signal handler; with JSON logs this writes them as a JSON line instead, the same way (one
    ``os.write``, no logging locks inside a signal handler)."""
    f = f if f is not None else sys.__stdout__
    line = json.dumps(
        {
            "level": "INFO",
            "logger": "celery.apps.worker",
            "pid": os.getpid(),
            "message": str(msg).strip(),
            JSON_TIMESTAMP: datetime.now(UTC).isoformat(),
        }
    )
    with contextlib.suppress(OSError, ValueError):
        os.write(f.fileno(), f"{line}\n".encode())


def configure(config: dict) -> None:
    """Apply a logging config (Django's ``LOGGING_CONFIG`` and Celery's processes call this);
    warnings become log lines in the same format instead of bare text on stderr."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def logging_config(*, log_format: str = "plain", level: str = "INFO") -> dict:
    """The ``logging.dictConfig`` of every process: Django's, Celery's and gunicorn's."""
    if log_format not in ("plain", "json"):
        raise ValueError(f"LOG_FORMAT must be 'plain' or 'json', not {log_format!r}")
    formatters = {
        "plain": {"format": PLAIN_FORMAT},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": JSON_RENAMES,
            "timestamp": JSON_TIMESTAMP,
        },
    }
    handler = {
        "class": "logging.StreamHandler",
        "formatter": log_format,
        "filters": ["request_id"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "apps.core.logs.RequestIdFilter"}},
        "formatters": formatters,
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # A 4xx is the client's affair, in the access log already (a sold-out refusal is an
            # answer, not a problem); 5xx are still logged, with their traceback.
            "django.request": {"level": "ERROR"},
        },
    }


def gunicorn_logging_config(*, log_format: str = "plain", level: str = "INFO") -> dict:
    """The same, plus gunicorn's own loggers (which do not propagate to the root)."""
    config = logging_config(log_format=log_format, level=level)
    config["handlers"]["access"] = {**config["handlers"]["console"], "stream": "ext://sys.stdout"}
    config["loggers"].update(
        {
            "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
            # Access lines are INFO: LOG_LEVEL=WARNING (only problems) leaves them out too.
            "gunicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
        }
    )
    return config
