"""The launcher's processes: outbound HTTP has a worker of its own."""

from argparse import Namespace

from workers import routing
from workers.launcher import children_for


def queues_of(child) -> list[str]:
    return child.argv[child.argv.index("-Q") + 1].split(",")


def test_the_sweeper_and_the_scheduler_never_share_a_worker_with_webhook_sending():
    args = Namespace(partitions="0", general=True, beat=True, web=None, log_level="INFO")

    children = {child.name: child for child in children_for(args)}

    assert queues_of(children["general worker"]) == [routing.DEFAULT_QUEUE]
    assert queues_of(children["webhook worker"]) == [routing.WEBHOOK_QUEUE]
    consumers = [c for c in children.values() if "-Q" in c.argv]
    assert sum(routing.WEBHOOK_QUEUE in queues_of(c) for c in consumers) == 1


def test_no_general_starts_neither_worker():
    args = Namespace(partitions="0", general=False, beat=False, web=None, log_level="INFO")

    assert [child.name for child in children_for(args)] == ["partition 0"]
