"""gunicorn's settings (``gunicorn -c python:config.gunicorn``): its logs in the service's format.

With ``LOG_FORMAT=json`` the error log and the access log are JSON lines like every other
process's; the access line names the ``Location`` it answered (a 202's request resource), so
``grep <request id>`` finds it too.
"""

import gc
import logging
import os

from gunicorn.glogging import Logger

from apps.core.logs import gunicorn_logging_config

logconfig_dict = gunicorn_logging_config(
    log_format=os.environ.get("LOG_FORMAT", "plain"), level=os.environ.get("LOG_LEVEL", "INFO")
)
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms location=%({location}o)s'


class LevelAwareLogger(Logger):
    """gunicorn's logger, which builds every request's access line whenever logging is
    configured and leaves the level to drop it: at ``LOG_LEVEL=WARNING`` (access lines are
    INFO) the line is not built at all."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self._access_log_enabled = self._access_log_enabled and self.access_log.isEnabledFor(
            logging.INFO
        )


logger_class = LevelAwareLogger

# A response sent before the request body is read (413, 401, 404, …) leaves the body on the
# socket. gunicorn drains at most 64 KiB of it before the next request and otherwise closes the
# connection silently, after announcing ``Connection: keep-alive``, so a keep-alive client fails
# its *next* request. A request whose body may be longer than that is answered with
# ``Connection: close`` instead: the client knows to open a new connection.
DRAIN_LIMIT_BYTES = 64 * 1024  # gunicorn.http.parser._DRAIN_MAX_BYTES


def pre_request(worker, req) -> None:
    for name, value in req.headers:
        if name == "TRANSFER-ENCODING" and "chunked" in value.lower():
            req.force_close()
            return
        if name == "CONTENT-LENGTH" and (not value.isdigit() or int(value) > DRAIN_LIMIT_BYTES):
            req.force_close()
            return


def post_worker_init(worker) -> None:
    """The application is loaded: what it built lives as long as the worker, so it is put out
    of the garbage collector's reach (``gc.freeze``); full collections then walk only what
    requests create (as in the Celery workers, ``config/celery.py``). The worker's request
    threads set how many requests may wait for their decision at once (``workers.wakeups``)."""
    from workers import wakeups

    wakeups.serve_with_threads(worker.cfg.threads)
    gc.freeze()
