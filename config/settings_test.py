"""Test override: fast password hashing, an in-memory-free temp data folder per run."""

import os

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
BOOKING_WAIT_MAX_SECONDS = 10.0
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

# The in-process test worker uses kombu's in-memory transport; real processes use the default.
CELERY_BROKER_URL = env("TEST_CELERY_BROKER_URL", default="memory://")  # noqa: F405
CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.01}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: the worker thread and the test then lock like processes.
    # One file per test run, so that runs side by side never share a database.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")  # noqa: F405
    }

# Every request rings in the in-process tests (their events reuse ids across tests, and no
# sweeper runs); latches have tests of their own and run in the integration tier.
BOOKING_DOORBELL_TTL_SECONDS = 0.0

# Tests make hundreds of registrations, logins and commands from one address in seconds: the
# limits are raised here, and the throttle tests set the rates they test. A per-process cache,
# cleared around every test (tests/conftest.py).
THROTTLE_RATES = {scope: "100000/min" for scope in THROTTLE_RATES}  # noqa: F405
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The tests' webhook receivers listen on random ports of 127.0.0.1.
WEBHOOK_ALLOWED_PORTS = ["*"]

# Holds of a second or two, so expiry tests run in real time.
BOOKING_HOLD_MIN_SECONDS = 1
