"""The embedded default broker: kombu's file-system transport, hardened."""

import os
import threading

import pytest
from kombu import Connection, Exchange, Queue

from workers import broker


@pytest.fixture
def connection(tmp_path):
    with Connection(
        "safefs://", transport_options={"data_folder": str(tmp_path), "polling_interval": 0.01}
    ) as conn:
        yield conn


def publish(conn, queue: str, bodies) -> None:
    with conn.Producer() as producer:
        for body in bodies:
            producer.publish(body, routing_key=queue, declare=[Queue(queue, routing_key=queue)])


def drain(conn, queue: str, limit: int) -> list:
    q = conn.SimpleQueue(queue)
    got = []
    try:
        while len(got) < limit:
            message = q.get(timeout=1)
            got.append(message.payload)
            message.ack()
    finally:
        q.close()
    return got


def test_messages_from_one_publisher_come_out_in_publish_order(connection):
    publish(connection, "orders", range(300))  # many share a millisecond
    assert drain(connection, "orders", 300) == list(range(300))


def test_each_queue_keeps_its_own_folder(connection, tmp_path):
    publish(connection, "a", ["x"])
    publish(connection, "b", ["y", "z"])
    assert len(os.listdir(tmp_path / "queues" / "a")) == 1
    assert len(os.listdir(tmp_path / "queues" / "b")) == 2


def test_a_half_written_message_is_never_visible_to_a_reader(connection, tmp_path):
    publish(connection, "q", ["warm-up"])
    drain(connection, "q", 1)
    # A writer that died mid-write leaves its bytes in tmp/, never in the queue folder.
    (tmp_path / "tmp" / "dead-writer.tmp").write_bytes(b'{"body": "trunc')
    assert connection.default_channel._size("q") == 0


def test_two_consumers_never_receive_the_same_message(tmp_path):
    options = {"data_folder": str(tmp_path), "polling_interval": 0.01}
    with Connection("safefs://", transport_options=options) as producer_conn:
        publish(producer_conn, "shared", range(400))
    received: list[list] = [[], []]

    def consume(slot: int) -> None:
        with Connection("safefs://", transport_options=options) as conn:
            channel = conn.default_channel
            while True:
                try:
                    received[slot].append(channel._get("shared"))
                except broker.filesystem.Empty:
                    return

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    bodies = [m["body"] for m in received[0] + received[1]]
    assert len(bodies) == 400 and len(set(bodies)) == 400


def test_a_fanout_queue_nobody_drains_is_unbound_and_purged(connection, monkeypatch):
    monkeypatch.setattr(broker, "STALE_FANOUT_BACKLOG", 5)
    exchange = Exchange("monitor", type="fanout")
    live, stale = Queue("live-reader", exchange), Queue("gone-reader", exchange)
    with connection.Producer() as producer:
        for i in range(8):
            producer.publish({"n": i}, exchange=exchange, declare=[live, stale])
            if i % 2:
                drain(connection, "live-reader", 2)
    channel = connection.default_channel
    assert [b.queue for b in channel.get_table("monitor")] == ["live-reader"]
    assert channel._size("gone-reader") == 0


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ""])
def test_queue_names_that_are_not_plain_folder_names_are_refused(connection, name):
    with pytest.raises(Exception, match="Invalid queue name"):
        connection.default_channel._queue_dir(name)
