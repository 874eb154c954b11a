"""Long-lived processes put what start-up built out of the garbage collector's reach once they
are ready (``gc.freeze``): the Celery workers (``worker_ready``, and each prefork child's
``worker_process_init``) and each gunicorn worker once the application is loaded."""

import gc
from types import SimpleNamespace

import pytest
from celery import signals

from config import gunicorn
from workers import wakeups


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.parametrize("signal", [signals.worker_ready, signals.worker_process_init])
def test_a_celery_worker_freezes_its_start_up_objects_when_ready(unfrozen, signal):
    assert gc.get_freeze_count() == 0
    signal.send(sender=None)
    assert gc.get_freeze_count() > 0


def test_a_gunicorn_worker_freezes_them_once_the_application_is_loaded(unfrozen, monkeypatch):
    monkeypatch.setattr(wakeups, "_request_threads", wakeups._request_threads)
    assert gc.get_freeze_count() == 0
    gunicorn.post_worker_init(worker=SimpleNamespace(cfg=SimpleNamespace(threads=8)))
    assert gc.get_freeze_count() > 0
