"""kombu's Redis transport, with one client per connection pool for synchronous commands.

The stock channel builds a new ``redis.Redis`` for every publish (``conn_or_acquire``), and the
constructor registers ~150 response callbacks: measured, that was a third of a small partition
run's CPU once its webhook hand-over published (~0.25 ms per publish), and the same again for
every doorbell a web process rings. A client is a thin, thread-safe front of its connection pool
(each command checks a connection out), so one per pool serves every publish; a new pool (after
the channel reconnects) gets a new client.

Registered for ``redis://`` and ``rediss://`` URLs in ``config/celery.py``; nothing else changes.
"""

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _sync_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:  # the consumer's own client, kept by kombu for the channel's life
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self._sync_client
        if client is None or client.connection_pool is not pool:
            client = self._sync_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
