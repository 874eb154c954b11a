"""Settings come from the environment; production refuses the insecure defaults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOOD_KEY = "Zq3-vN8pL2xR7tY1wK9mB4cF6hJ0sD5gA_eU8iO3nQ7rT2yW1zX"


def load_settings(tmp_path, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET"))}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path))
    environment.update(env)
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
        ({"SECRET_KEY": "x" * 40}, "SECRET_KEY"),
        ({"SECRET_KEY": "ab" * 30}, "SECRET_KEY"),
        ({"SECRET_KEY": GOOD_KEY, "DEBUG": "1"}, "DEBUG"),
    ],
)
def test_production_refuses_insecure_defaults(tmp_path, env, refusal):
    loaded = load_settings(tmp_path, ENVIRONMENT="production", **env)
    assert loaded.returncode != 0
    assert "ImproperlyConfigured" in loaded.stderr and refusal in loaded.stderr


def test_production_refuses_the_benchmarks_legacy_endpoint(tmp_path):
    loaded = load_settings(
        tmp_path,
        ENVIRONMENT="production",
        SECRET_KEY=GOOD_KEY,
        DJANGO_SETTINGS_MODULE="bench.legacy.settings",
    )
    assert loaded.returncode != 0
    assert "ImproperlyConfigured" in loaded.stderr and "bench.legacy" in loaded.stderr


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


def run_manage(tmp_path, *args: str, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET"))}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"):
        environment.pop(name, None)
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def last_line(done: subprocess.CompletedProcess) -> str:
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


PRODUCTION = {"ENVIRONMENT": "production", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "api.example"}


def test_the_deploy_check_is_clean_in_production(tmp_path):
    checked = run_manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "no issues" in checked.stdout


def test_production_trusts_the_tls_proxy_and_sends_hsts(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.API_DOCS_ENABLED)"
    )
    shown = run_manage(tmp_path, "shell", "-c", code, **PRODUCTION)

    assert last_line(shown) == "('HTTP_X_FORWARDED_PROTO', 'https') True True True True False"


def test_production_refuses_to_seed_demo_accounts(tmp_path):
    assert run_manage(tmp_path, "migrate", "--noinput", "-v", "0", **PRODUCTION).returncode == 0

    seeded = run_manage(tmp_path, "seed_demo", **PRODUCTION)

    assert seeded.returncode != 0
    assert "production" in seeded.stderr
    count = run_manage(
        tmp_path,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; print(User.objects.count())",
        **PRODUCTION,
    )
    assert last_line(count) == "0"


def test_api_docs_can_be_switched_off_and_on(tmp_path):
    code = (
        "from django.test import Client; c = Client(HTTP_HOST='api.example'); "
        "print(c.get('/api/docs/').status_code, c.get('/api/schema/').status_code)"
    )
    off = run_manage(
        tmp_path, "shell", "-c", code, API_DOCS_ENABLED="0", ALLOWED_HOSTS="api.example"
    )
    on = run_manage(
        tmp_path, "shell", "-c", code, **PRODUCTION, API_DOCS_ENABLED="1", SECURE_SSL_REDIRECT="0"
    )

    assert last_line(off).split() == ["404", "404"]
    assert last_line(on).split() == ["200", "200"], on.stderr


def test_the_admin_is_off_in_production_unless_enabled(tmp_path):
    code = (
        "from django.test import Client; c = Client(HTTP_HOST='api.example'); "
        "print(c.get('/admin/login/').status_code)"
    )
    default = run_manage(tmp_path, "shell", "-c", code, **PRODUCTION, SECURE_SSL_REDIRECT="0")
    enabled = run_manage(
        tmp_path, "shell", "-c", code, **PRODUCTION, SECURE_SSL_REDIRECT="0", ADMIN_ENABLED="1"
    )

    assert last_line(default) == "404", default.stderr
    assert last_line(enabled) == "200", enabled.stderr


def test_production_allowed_hosts_default_leaves_out_the_test_client(tmp_path):
    code = "from django.conf import settings; print(settings.ALLOWED_HOSTS)"
    production = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}
    shown = run_manage(tmp_path, "shell", "-c", code, **production)

    assert "testserver" not in last_line(shown), shown.stderr
    assert "localhost" in last_line(shown)


def test_a_proxy_count_is_refused_for_the_networks_of_the_proxies(tmp_path):
    loaded = load_settings(tmp_path, NUM_PROXIES="1")

    assert loaded.returncode != 0
    assert "ImproperlyConfigured" in loaded.stderr and "TRUSTED_PROXIES" in loaded.stderr


def test_the_shipped_examples_trust_no_forwarded_header():
    """Compose publishes gunicorn directly: nothing in front, so no proxy is trusted."""
    import yaml

    example = (ROOT / ".env.example").read_text().splitlines()
    settings_lines = [line for line in example if line and not line.startswith("#")]
    assert not any(line.startswith("NUM_PROXIES") for line in settings_lines)
    assert "TRUSTED_PROXIES=" in settings_lines
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["web"]["ports"] == ["127.0.0.1:8000:8000"]


def test_docker_compose_requires_a_redis_password():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis = compose["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--requirepass" in command
    assert "${REDIS_PASSWORD:?" in command
    assert "REDIS_PASSWORD" in " ".join(redis["healthcheck"]["test"])
    example = (ROOT / ".env.example").read_text()
    broker = next(line for line in example.splitlines() if line.startswith("CELERY_BROKER_URL="))
    assert broker.startswith("CELERY_BROKER_URL=redis://:")  # a password before the host


# Reads PRAGMA synchronous on the main thread's connection and on a fresh one (another thread
# gets a connection of its own): 2 is FULL, 1 is NORMAL.
SQLITE_SYNC_LEVELS = (
    "import threading; from django.db import connection, connections\n"
    "def level():\n"
    "    with connections['default'].cursor() as c:\n"
    "        c.execute('PRAGMA synchronous'); s = c.fetchone()[0]\n"
    "        c.execute('PRAGMA journal_mode'); return f'{s}/{c.fetchone()[0]}'\n"
    "seen = [level()]\n"
    "t = threading.Thread(target=lambda: seen.append(level())); t.start(); t.join()\n"
    "print(' '.join(seen))"
)


def test_the_embedded_database_commits_durably_on_every_connection(tmp_path):
    shown = run_manage(tmp_path, "shell", "-c", SQLITE_SYNC_LEVELS)

    assert last_line(shown) == "2/wal 2/wal", shown.stderr


def test_durable_commits_can_be_traded_for_speed(tmp_path):
    shown = run_manage(tmp_path, "shell", "-c", SQLITE_SYNC_LEVELS, SQLITE_SYNCHRONOUS="normal")

    assert last_line(shown) == "1/wal 1/wal", shown.stderr


def test_an_unknown_sqlite_synchronous_level_is_refused(tmp_path):
    loaded = load_settings(tmp_path, SQLITE_SYNCHRONOUS="off")

    assert loaded.returncode != 0
    assert "ImproperlyConfigured" in loaded.stderr and "SQLITE_SYNCHRONOUS" in loaded.stderr


def per_process(tmp_path, **env) -> subprocess.CompletedProcess:
    code = "from django.conf import settings; print(settings.BOOKING_PARTITIONS_PER_PROCESS)"
    return run_manage(tmp_path, "shell", "-c", code, **env)


POSTGRES = {"DATABASE_URL": "postgres://user:secret@127.0.0.1:1/reservations"}


def test_one_process_owns_every_partition_on_the_embedded_default(tmp_path):
    assert last_line(per_process(tmp_path)) == "8"
    assert last_line(per_process(tmp_path, BOOKING_PARTITIONS="4")) == "4"
    assert last_line(per_process(tmp_path, BOOKING_PARTITIONS_PER_PROCESS="2")) == "2"


def test_each_partition_has_a_process_of_its_own_on_postgresql(tmp_path):
    assert last_line(per_process(tmp_path, **POSTGRES)) == "1"
    refused = load_settings(tmp_path, **POSTGRES, BOOKING_PARTITIONS_PER_PROCESS="2")
    assert refused.returncode != 0
    assert "BOOKING_PARTITIONS_PER_PROCESS" in refused.stderr


def test_the_launcher_forks_its_children_from_its_imports_on_the_embedded_default(tmp_path):
    code = "from django.conf import settings; print(settings.LAUNCHER_PRELOAD)"
    assert last_line(run_manage(tmp_path, "shell", "-c", code)) == "True"
    assert last_line(run_manage(tmp_path, "shell", "-c", code, **POSTGRES)) == "False"
    off = run_manage(tmp_path, "shell", "-c", code, LAUNCHER_PRELOAD="0")
    assert last_line(off) == "False"
