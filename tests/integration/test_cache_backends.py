"""The throttles' cache backends (apps.core.cache): Django's, minus their per-call overheads."""

import pytest

from apps.core.cache import FileBasedCache, RedisCache


@pytest.mark.servers
def test_the_redis_cache_reuses_one_client_per_pool(servers):
    cache = RedisCache(servers["redis"].url, {"KEY_PREFIX": "t"})

    cache.set("a", [1.5, 2.5], 30)
    clients = {id(cache._cache.get_client(write=True)) for _ in range(3)}

    assert cache.get("a") == [1.5, 2.5]
    assert len(clients) == 1
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=False)


def test_the_file_cache_culls_every_few_writes_not_every_write(tmp_path, monkeypatch):
    listings = []
    cache = FileBasedCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 50, "CULL_FREQUENCY": 2}})
    listing = cache._list_cache_files
    monkeypatch.setattr(cache, "_list_cache_files", lambda: listings.append(1) or listing())
    monkeypatch.setattr(FileBasedCache, "CULL_EVERY", 20)

    for i in range(200):
        cache.set(f"key-{i}", i, 60)

    assert len(listings) == 10  # once every 20 writes
    assert len(listing()) <= 50 + 20  # at most CULL_EVERY past the limit between two looks
    assert cache.get("key-199") == 199
