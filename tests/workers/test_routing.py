import pytest

from workers import routing


def test_an_events_partition_comes_from_a_stable_hash_of_its_key(settings):
    settings.BOOKING_PARTITIONS = 8
    # CRC-32, not Python's salted hash(): every process and every run agrees.
    assert routing.partition_for_key("3f2504e0-4f89-11d3-9a0c-0305e82c3301") == 6
    assert routing.partition_queue(3) == "bookings.p3"


def test_partition_keys_spread_over_every_queue(settings):
    settings.BOOKING_PARTITIONS = 8
    used = {routing.partition_for_key(f"event-{i}") for i in range(200)}
    assert used == set(range(8))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("all", list(range(8))),
        ("3", [3]),
        ("0-2", [0, 1, 2]),
        ("0,2,5-7", [0, 2, 5, 6, 7]),
    ],
)
def test_partition_specs_name_sets_of_partitions(settings, spec, expected):
    settings.BOOKING_PARTITIONS = 8
    assert routing.parse_partitions(spec) == expected


@pytest.mark.parametrize("spec", ["8", "2-9", "-1", "x"])
def test_partition_specs_outside_the_deployment_are_refused(settings, spec):
    settings.BOOKING_PARTITIONS = 8
    with pytest.raises(ValueError):
        routing.parse_partitions(spec)


def test_task_names_are_stable():
    # Renaming a task strands the messages already queued under the old name.
    from config.celery import app

    app.loader.import_default_modules()
    assert {routing.DECIDE_EVENT_TASK, routing.SWEEP_TASK, routing.EXPIRE_HOLDS_TASK} <= set(
        app.tasks
    )
    assert routing.DECIDE_EVENT_TASK == "bookings.decide_event"
    assert routing.SWEEP_TASK == "bookings.sweep_pending"
    assert routing.EXPIRE_HOLDS_TASK == "bookings.expire_holds"
    assert routing.DELIVER_WEBHOOK_TASK == "webhooks.deliver"


def test_every_partition_has_a_queue_and_no_other_queue_is_named_like_one(settings):
    settings.BOOKING_PARTITIONS = 4
    names = [q.name for q in routing.all_queues()]
    assert names == [
        "default",
        "webhooks",
        "bookings.p0",
        "bookings.p1",
        "bookings.p2",
        "bookings.p3",
    ]


def test_readiness_looks_for_leases_under_the_names_the_workers_take_them():
    from workers import leases, routing

    assert routing.LEASE_LOCK_NAMESPACE == leases.ADVISORY_LOCK_NAMESPACE
    assert leases.partition_lease(3).name == routing.lease_name(3)


def test_beat_publishes_due_webhook_deliveries_as_often_as_configured(settings):
    settings.WEBHOOK_SCHEDULE_INTERVAL_SECONDS = 42.0
    schedule = routing.beat_schedule()["schedule-due-webhooks"]
    assert schedule == {"task": routing.SCHEDULE_WEBHOOKS_TASK, "schedule": 42.0}


def test_beat_records_hold_expiries_on_the_general_queue():
    schedule = routing.beat_schedule()
    assert schedule["expire-lapsed-holds"]["task"] == routing.EXPIRE_HOLDS_TASK
    assert routing.task_routes()[routing.EXPIRE_HOLDS_TASK] == {"queue": routing.DEFAULT_QUEUE}


@pytest.mark.parametrize(
    ("partitions", "spec"),
    [([3], "3"), ([0, 1, 2, 3], "0-3"), ([0, 2, 5, 6, 7], "0,2,5-7")],
)
def test_a_group_of_partitions_is_written_in_the_form_specs_read_back(settings, partitions, spec):
    settings.BOOKING_PARTITIONS = 8
    assert routing.format_partitions(partitions) == spec
    assert routing.parse_partitions(spec) == partitions


def test_a_group_s_worker_is_named_after_its_partitions():
    assert routing.partition_worker_name([3]) == "bookings.p3"  # one partition: its queue's name
    assert routing.partition_worker_name(list(range(8))) == "bookings.p0-7"
