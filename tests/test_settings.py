"""Settings come from the environment; production refuses the insecure defaults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOOD_KEY = "k" * 50


def load_settings(tmp_path, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET"))}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": GOOD_KEY, "DEBUG": "1"}, "DEBUG"),
    ],
)
def test_production_refuses_insecure_defaults(tmp_path, env, refusal):
    loaded = load_settings(tmp_path, ENVIRONMENT="production", **env)
    assert loaded.returncode != 0
    assert "ImproperlyConfigured" in loaded.stderr and refusal in loaded.stderr


def test_production_starts_with_a_real_secret_and_debug_off(tmp_path):
    loaded = load_settings(tmp_path, ENVIRONMENT="production", SECRET_KEY=GOOD_KEY)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "False"


def test_the_embedded_default_needs_no_server(tmp_path):
    code = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL)"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path))
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        environment.pop(name, None)
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.stdout.split() == ["django.db.backends.sqlite3", "safefs://"]
