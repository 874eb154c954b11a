"""The throttles' cache backends (apps.core.cache): Django's, minus their per-call overheads."""

import pytest
import redis

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


@pytest.mark.servers
def test_the_hit_log_admits_exactly_the_limit_under_concurrency(servers):
    import threading
    import time
    import uuid

    cache = RedisCache(servers["redis"].url, {"KEY_PREFIX": "t"})
    key, answers = f"crowd-{uuid.uuid4()}", []

    def hit():
        answers.append(cache.hit_log(key, now=time.time(), window=60, limit=10))

    threads = [threading.Thread(target=hit) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(1 for recorded, _, _ in answers if recorded) == 10
    assert all(count <= 10 for _, count, _ in answers)


@pytest.mark.servers
def test_the_hit_log_window_slides(servers):
    import uuid

    cache = RedisCache(servers["redis"].url, {"KEY_PREFIX": "t"})
    key = f"slide-{uuid.uuid4()}"

    def hit(at: float):
        return cache.hit_log(key, now=at, window=1.0, limit=2)

    assert hit(1000.0) == (True, 1, 1000.0)
    assert hit(1000.5) == (True, 2, 1000.0)
    assert hit(1000.9) == (False, 2, 1000.0)  # two in the last second
    assert hit(1001.2) == (True, 2, 1000.5)  # the first left the window


@pytest.mark.servers
@pytest.mark.django_db
def test_throttles_on_the_redis_cache_answer_429_with_retry_after(servers, settings, api):
    from apps.core import throttling
    from tests.test_throttling import assert_throttled, login

    settings.CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.RedisCache",
            # A database of its own: the tests clear the cache around each test.
            "LOCATION": servers["redis"].url.rsplit("/", 1)[0] + "/5",
            "KEY_PREFIX": "throttle-test",
        }
    }
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_username": "2/min"}
    throttling._cache_down_until = 0.0

    answers = [login(api, "zoe") for _ in range(3)]

    assert [a.status_code for a in answers[:2]] == [401, 401]
    assert_throttled(answers[2], "login_username")
    assert 0 < int(answers[2]["Retry-After"]) <= 60
    logs = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).keys("*:log")
    assert logs  # counted by the atomic hit log, not by get-then-set
