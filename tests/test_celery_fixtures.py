"""The suite's Celery worker is Celery's in-process one, not pytest-celery 1.x's Docker one."""

from importlib.metadata import version

from celery.contrib.testing.worker import TestWorkController


def test_pytest_celery_is_installed_but_its_docker_plugin_is_off(pytestconfig):
    assert version("pytest-celery") == "1.3.0"
    plugins = pytestconfig.pluginmanager
    assert plugins.has_plugin("celery.contrib.pytest")  # the classic fixtures
    assert plugins.get_plugin("celery") is None  # pytest-celery's entry point: -p no:celery


def test_the_worker_fixture_runs_in_this_process_without_docker(celery_worker):
    assert isinstance(celery_worker, TestWorkController)
