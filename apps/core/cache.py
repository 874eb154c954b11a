"""Django's cache backends, with the per-call costs the throttles pay on every write request cut.

- ``RedisCache``: Django's backend builds a new ``redis.Redis`` client object for every cache
  call (its constructor fills a table of ~150 response callbacks); here each pool gets one
  client, built once and reused (a client over a pool is safe to share between threads).
- ``FileBasedCache`` (the embedded default): Django's backend lists the whole cache folder on
  every ``set`` to see whether it must cull; with a file per customer that listing costs more
  than the write. Here a process looks once every ``CULL_EVERY`` writes (the folder may then
  exceed ``MAX_ENTRIES`` by at most that many files per process between two looks).
"""

import itertools

from django.core.cache.backends.filebased import FileBasedCache as DjangoFileBasedCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient


class FileBasedCache(DjangoFileBasedCache):
    CULL_EVERY = 200

    def __init__(self, dir, params):  # noqa: A002 - Django's signature
        super().__init__(dir, params)
        self._writes = itertools.count()

    def _cull(self):
        if next(self._writes) % self.CULL_EVERY == 0:
            super()._cull()
