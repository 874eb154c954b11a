"""Django's cache backends, with the per-call costs the throttles pay on every write request cut.

- ``RedisCache``: Django's backend builds a new ``redis.Redis`` client object for every cache
  call (its constructor fills a table of ~150 response callbacks); here each pool gets one
  client, built once and reused (a client over a pool is safe to share between threads).
- ``RedisCache.hit_log``: the throttles' sliding window in one round trip, atomically (a Lua
  script over a list of timestamps), where Django's ``get`` then ``set`` took two and let two
  concurrent requests both read the same count.
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


# KEYS[1]: the log (newest first). ARGV: now, window (seconds), limit. Drops the timestamps
# older than the window, then records ``now`` if fewer than ``limit`` remain. Returns
# {recorded (1/0), timestamps in the window, the oldest of them (a string)}.
HIT_LOG_SCRIPT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
while true do
  local oldest = redis.call('LINDEX', KEYS[1], -1)
  if oldest and tonumber(oldest) <= now - window then
    redis.call('RPOP', KEYS[1])
  else
    break
  end
end
local count = redis.call('LLEN', KEYS[1])
if count >= limit then
  return {0, count, redis.call('LINDEX', KEYS[1], -1)}
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(window))
return {1, count + 1, redis.call('LINDEX', KEYS[1], -1)}
"""


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
        self._hit_log_script = None

    def hit_log(
        self, key: str, *, now: float, window: float, limit: int
    ) -> tuple[bool, int, float]:
        """Record a hit at ``now`` in ``key``'s sliding window unless ``limit`` hits are in it
        already: ``(recorded, hits in the window, the oldest hit's time)``, in one round trip."""
        client = self._cache.get_client(write=True)
        if self._hit_log_script is None:
            self._hit_log_script = client.register_script(HIT_LOG_SCRIPT)
        recorded, count, oldest = self._hit_log_script(
            keys=[self.make_and_validate_key(f"{key}:log")], args=[repr(now), window, limit]
        )
        return bool(recorded), int(count), float(oldest)


class FileBasedCache(DjangoFileBasedCache):
    CULL_EVERY = 200

    def __init__(self, dir, params):  # noqa: A002 - Django's signature
        super().__init__(dir, params)
        self._writes = itertools.count()

    def _cull(self):
        if next(self._writes) % self.CULL_EVERY == 0:
            super()._cull()
