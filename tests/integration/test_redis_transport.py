"""The Redis broker transport (workers/redis_transport.py): kombu's, with one client per pool."""

import pytest
from kombu import Connection, Queue
from kombu.transport import redis as kombu_redis

import config.celery  # noqa: F401 - registers the transport for redis:// URLs
from workers import redis_transport

pytestmark = pytest.mark.servers


def test_publishes_share_one_client_until_the_pool_changes_and_keep_their_order(
    servers, monkeypatch
):
    built = []
    create = kombu_redis.Channel._create_client

    def counted(self, asynchronous=False):
        client = create(self, asynchronous=asynchronous)
        built.append(asynchronous)
        return client

    monkeypatch.setattr(kombu_redis.Channel, "_create_client", counted)
    queue = Queue("transport-order", routing_key="transport-order")
    with Connection(servers["redis"].url) as connection:
        assert isinstance(connection.transport, redis_transport.Transport)
        with connection.Producer() as producer:
            for n in range(50):
                producer.publish({"n": n}, routing_key=queue.routing_key, declare=[queue])
            synchronous = built.count(False)
            channel = producer.channel
            channel._disconnect_pools()  # as after a lost connection: a new pool...
            producer.publish({"n": 50}, routing_key=queue.routing_key, declare=[queue])
        simple = connection.SimpleQueue(queue)
        got = []
        for _ in range(51):
            message = simple.get(timeout=5)
            got.append(message.payload["n"])
            message.ack()
        simple.close()

    assert synchronous == 1  # the stock channel built one per publish (and per declare)
    assert built.count(False) == 2  # ...gets a new client
    assert got == list(range(51))
