"""gunicorn's settings (``gunicorn -c python:config.gunicorn``): its logs in the service's format.

With ``LOG_FORMAT=json`` the error log and the access log are JSON lines like every other
process's; the access line names the ``Location`` it answered (a 202's request resource), so
``grep <request id>`` finds it too.
"""

import os

from apps.core.logs import gunicorn_logging_config

logconfig_dict = gunicorn_logging_config(
    log_format=os.environ.get("LOG_FORMAT", "plain"), level=os.environ.get("LOG_LEVEL", "INFO")
)
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms location=%({location}o)s'
