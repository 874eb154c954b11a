"""A flash crowd against real processes on the embedded default (SQLite + file-system broker):
gunicorn + one worker process per partition."""

from tests.integration.crowd import flash_crowd_scenario, flash_crowd_with_a_killed_worker_scenario


def test_flash_crowd_confirms_exactly_capacity_and_decides_everything(stack):
    flash_crowd_scenario(stack)


def test_flash_crowd_survives_a_partition_worker_killed_mid_run(stack):
    flash_crowd_with_a_killed_worker_scenario(stack)
