"""The Celery app. Queues and routes come from ``workers.routing``."""

import gc
import os

from celery import Celery, signals
from kombu.transport import TRANSPORT_ALIASES

from workers import routing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The embedded default broker: kombu's file-system transport, hardened (see workers/broker.py).
TRANSPORT_ALIASES.setdefault("safefs", "workers.broker:Transport")
# Redis: kombu's transport, reusing one client per pool (see workers/redis_transport.py).
TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = "workers.redis_transport:Transport"

app = Celery("reservations")
app.config_from_object("django.conf:settings", namespace="CELERY")


app.conf.update(
    task_queues=routing.all_queues(),
    task_routes=routing.task_routes(),
    beat_schedule=routing.beat_schedule(),
    include=["workers.tasks", "workers.webhook_tasks"],
    task_default_queue="default",
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    # Doorbells and deliveries are idempotent: acknowledge after the work is done.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=4,
    broker_pool_limit=10,
    worker_send_task_events=True,
    task_send_sent_event=False,
    beat_schedule_filename=os.environ.get("CELERY_BEAT_SCHEDULE_FILE", "data/celerybeat-schedule"),
)


@signals.celeryd_init.connect
@signals.setup_logging.connect
def _configure_logging(loglevel=None, **kwargs) -> None:
    """Celery's processes log like the rest of the service (settings.LOGGING: plain or JSON
    lines, with the request id); Celery's own handler setup is skipped. ``celeryd_init`` comes
    first, so even the worker's start-up warnings are in the format."""
    import logging

    from django.conf import settings

    from apps.core.logs import configure

    configure(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
    if settings.LOG_FORMAT == "json":
        from celery.apps import worker

        from apps.core.logs import json_say

        worker.safe_say = json_say


@signals.worker_ready.connect
@signals.worker_process_init.connect
def _freeze_start_up_objects(**kwargs) -> None:
    """What start-up built (modules, settings, the models' metadata, the app) lives as long as
    the process: ``gc.freeze`` puts it out of the collector's reach, so the full collections
    that a decision batch's thousands of new instances set off do not walk it every time
    (measured: 40-60 ms of the 0.30 s of CPU a 5,000-command backlog cost the worker)."""
    gc.freeze()


@signals.task_prerun.connect
def _drop_stale_connections(**kwargs) -> None:
    """Connections are reused across tasks (CELERY_DB_REUSE_MAX); drop broken or old ones."""
    from django.db import close_old_connections

    close_old_connections()
