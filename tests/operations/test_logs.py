"""Log lines: plain or one JSON object per line, with the request id they are about."""

import io
import json
import logging
import logging.config
import os
import subprocess
import sys

import pytest

from apps.core.logs import (
    RequestIdFilter,
    bind_request_id,
    gunicorn_logging_config,
    json_say,
    logging_config,
)
from devtools.stack import ROOT


@pytest.fixture
def json_lines():
    """Configure a throwaway logger tree from the JSON config; return what it wrote, parsed."""
    stream = io.StringIO()
    config = logging_config(log_format="json", level="INFO")
    config["handlers"]["console"]["stream"] = stream
    config["root"] = {"handlers": [], "level": "WARNING"}
    config["loggers"] = {"reservations.test": {"handlers": ["console"], "level": "INFO"}}
    logging.config.dictConfig(config)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger("reservations.test").handlers.clear()


def test_json_lines_carry_time_level_logger_pid_and_message(json_lines):
    logging.getLogger("reservations.test").info("decided %d commands", 3)

    (line,) = json_lines()
    assert line["message"] == "decided 3 commands"
    assert line["level"] == "INFO"
    assert line["logger"] == "reservations.test"
    assert {"time", "pid"} <= set(line)
    assert line["time"].endswith("+00:00")


def test_a_bound_request_id_is_on_every_line_written_inside_the_block(json_lines):
    log = logging.getLogger("reservations.test")
    with bind_request_id("6f1c0b3e-0000-4000-8000-000000000001"):
        log.info("accepted")
        log.warning("doorbell not published")
    log.info("unrelated")

    lines = json_lines()
    assert [line.get("request_id") for line in lines] == [
        "6f1c0b3e-0000-4000-8000-000000000001",
        "6f1c0b3e-0000-4000-8000-000000000001",
        None,
    ]


def test_a_request_id_passed_with_the_line_wins_over_the_bound_one(json_lines):
    with bind_request_id("bound"):
        logging.getLogger("reservations.test").info("decided", extra={"request_id": "own"})

    assert json_lines()[0]["request_id"] == "own"


def test_gunicorn_logs_in_the_same_format():
    config = gunicorn_logging_config(log_format="json")
    assert config["loggers"]["gunicorn.error"]["handlers"] == ["console"]
    assert config["handlers"]["access"]["formatter"] == "json"
    assert config["handlers"]["access"]["filters"] == ["request_id"]


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config(log_format="xml")


def test_an_access_line_about_a_request_resource_carries_its_id():
    from gunicorn.glogging import SafeAtoms

    uid = "6f1c0b3e-1234-4abc-8def-0123456789ab"
    answered = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, "%(r)s", (), None)
    answered.args = SafeAtoms(
        {
            "r": "POST /bookingapi/booking/",
            "{location}o": f"/bookingapi/requests/{uid}/",
            "U": "/bookingapi/booking/",
        }
    )
    polled = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, "%(r)s", (), None)
    polled.args = SafeAtoms({"r": "GET", "U": f"/bookingapi/requests/{uid}/"})
    unrelated = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, "%(r)s", (), None)
    unrelated.args = SafeAtoms({"r": "GET", "U": "/health/"})

    for record in (answered, polled, unrelated):
        RequestIdFilter().filter(record)

    assert answered.request_id == polled.request_id == uid
    assert not hasattr(unrelated, "request_id")


def test_celerys_shutdown_notice_becomes_a_json_line(tmp_path):
    with open(tmp_path / "out", "w") as stdout:
        json_say("\nworker: Warm shutdown (MainProcess)\n", stdout)

    line = json.loads((tmp_path / "out").read_text())
    assert line["message"] == "worker: Warm shutdown (MainProcess)"
    assert line["logger"] == "celery.apps.worker"


def test_only_problems_at_warning_access_lines_and_client_errors_left_out():
    config = gunicorn_logging_config(level="WARNING")

    assert config["loggers"]["gunicorn.access"]["level"] == "WARNING"
    assert gunicorn_logging_config(level="INFO")["loggers"]["gunicorn.access"]["level"] == "INFO"
    # A 409 (sold out) or a 404 is an answer, not a problem; a 5xx is logged.
    assert config["loggers"]["django.request"]["level"] == "ERROR"


def test_a_refused_request_writes_no_warning_a_failed_one_an_error(settings):
    logging.config.dictConfig(logging_config(level="INFO"))
    try:
        requests = logging.getLogger("django.request")
        assert not requests.isEnabledFor(logging.WARNING)  # Django's "Conflict: /…" lines
        assert requests.isEnabledFor(logging.ERROR)
    finally:
        logging.config.dictConfig(settings.LOGGING)


ACCESS_ENABLED = """
import json, sys
from gunicorn.config import Config
from apps.core.logs import gunicorn_logging_config
from config.gunicorn import LevelAwareLogger
cfg = Config()
cfg.set("logconfig_dict", gunicorn_logging_config(level=sys.argv[1]))
print(json.dumps(LevelAwareLogger(cfg).access_log_enabled))
"""


@pytest.mark.parametrize(("level", "built"), [("INFO", True), ("WARNING", False)])
def test_gunicorn_builds_access_lines_only_at_a_level_that_writes_them(level, built):
    # In a process of its own: the logger configures logging for the whole process.
    done = subprocess.run(
        [sys.executable, "-c", ACCESS_ENABLED, level],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) is built
