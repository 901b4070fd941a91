"""The shared revocation store on a real redis-server (each test starts its
own on a free loopback port): one load per fleet, never trusting the store,
and falling back to the local cache when it is down."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from certpolicy.revocation.cache import CacheEntry, Loaded, RevocationCache
from certpolicy.testing.redis_server import RedisServer, redis_server_binary

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server is not installed")
redis_store = pytest.importorskip("certpolicy.revocation.redis_store")

KEY = "crl:http://127.0.0.1/ca.crl"


def _later(hours: float = 1) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=hours)


@pytest.fixture()
def redis() -> Any:
    with RedisServer() as srv:
        yield srv


def _cache(tmp: Path, srv: RedisServer, name: str, **kw: Any) -> RevocationCache:
    return RevocationCache(tmp / name, shared=redis_store.RedisStore(srv.url), **kw)


def _valid(entry: CacheEntry) -> bool:
    return entry.data.startswith(b"GOOD")


def test_many_caches_load_once_through_the_shared_store(tmp_path: Path, redis: RedisServer) -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def loader(_current: CacheEntry | None) -> Loaded:
        with lock:
            calls.append(1)
        time.sleep(0.3)  # a slow download: the others wait for it
        return Loaded(b"GOOD crl", expires=_later())

    caches = [_cache(tmp_path, redis, f"p{i}") for i in range(8)]
    results: list[bytes] = []
    threads = [
        threading.Thread(target=lambda c=c: results.append(c.get_or_load(KEY, loader, verify=_valid).data)) for c in caches
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [b"GOOD crl"] * 8
    assert len(calls) == 1
    assert sum(c.stats["shared_hits"] for c in caches) == 7


def test_a_poisoned_or_garbage_record_is_ignored_and_replaced(tmp_path: Path, redis: RedisServer) -> None:
    store = redis_store.RedisStore(redis.url)
    writer = RevocationCache(tmp_path / "w", shared=store)
    writer.get_or_load(KEY, lambda _c: Loaded(b"EVIL crl", expires=_later()), verify=lambda e: True)
    loads: list[int] = []

    def loader(_c: CacheEntry | None) -> Loaded:
        loads.append(1)
        return Loaded(b"GOOD fresh", expires=_later())

    reader = RevocationCache(tmp_path / "r", shared=store)
    assert reader.get_or_load(KEY, loader, verify=_valid).data == b"GOOD fresh"
    assert loads == [1] and reader.stats["shared_rejected"] == 1
    import redis as redis_py

    raw = redis_py.Redis.from_url(redis.url)
    raw.set(store.name_of(KEY), b"\x00garbage")
    third = RevocationCache(tmp_path / "t", shared=store)
    assert third.get_or_load(KEY, loader, verify=_valid).data == b"GOOD fresh"
    assert len(loads) == 2
    truncated = raw.get(store.name_of(KEY))
    assert truncated is not None
    raw.set(store.name_of(KEY), truncated[:-10])
    fourth = RevocationCache(tmp_path / "f", shared=store)
    assert fourth.get_or_load(KEY, loader, verify=_valid).data == b"GOOD fresh"
    assert len(loads) == 3


def test_store_down_falls_back_to_loading_within_the_call_bound(tmp_path: Path, redis: RedisServer) -> None:
    cache = RevocationCache(tmp_path / "a", shared=redis_store.RedisStore(redis.url, retry_after=0.5))
    redis.kill()
    t0 = time.monotonic()
    entry = cache.get_or_load(KEY, lambda _c: Loaded(b"GOOD direct", expires=_later()), verify=_valid)
    assert entry.data == b"GOOD direct" and time.monotonic() - t0 < 2.0
    store = cache.shared
    assert store is not None and not store.available  # type: ignore[attr-defined]
    # recovery: the store comes back and is used again after its back-off
    redis.start()
    time.sleep(0.6)
    other = RevocationCache(tmp_path / "b", shared=store)
    other.get_or_load(KEY, lambda _c: Loaded(b"GOOD again", expires=_later()), verify=_valid)
    assert store.get(KEY) is not None


def test_a_waiter_loads_itself_when_the_holder_never_finishes(tmp_path: Path, redis: RedisServer) -> None:
    store = redis_store.RedisStore(redis.url)
    lease = store.acquire(KEY, 30.0)  # a process that took the lock and hangs
    assert lease is not None
    cache = RevocationCache(tmp_path / "w", shared=store, shared_wait=0.5)
    t0 = time.monotonic()
    assert cache.get_or_load(KEY, lambda _c: Loaded(b"GOOD mine", expires=_later()), verify=_valid).data == b"GOOD mine"
    assert 0.4 < time.monotonic() - t0 < 5
    lease.release()


def test_keys_are_namespaced_digests_and_records_compressed(redis: RedisServer) -> None:
    store = redis_store.RedisStore(redis.url, namespace="app1:")
    name = store.name_of("crl:http://x/\r\nSET evil 1")
    assert name.startswith("app1:") and len(name) == len("app1:") + 64 and "\n" not in name
    assert store.put("k", b"A" * 100_000, ttl=60)
    import redis as redis_py

    raw = redis_py.Redis.from_url(redis.url).get(store.name_of("k"))
    assert raw is not None and len(raw) < 2000
    assert store.get("k") == b"A" * 100_000


PASSWORD = "pw-123"  # the throwaway loopback server's


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with RedisServer(password=PASSWORD) as srv:
        monkeypatch.setenv("CERTPOLICY_REDIS_PASSWORD", PASSWORD)
        store = redis_store.RedisStore(f"redis://127.0.0.1:{srv.port}/0")
        assert store.put("k", b"v", ttl=60) and store.get("k") == b"v"
        monkeypatch.delenv("CERTPOLICY_REDIS_PASSWORD")
        denied = redis_store.RedisStore(f"redis://127.0.0.1:{srv.port}/0")
        assert denied.get("k") is None and not denied.available


def test_the_rollback_guard_refuses_a_crl_older_than_one_seen() -> None:
    from certpolicy.pki import CA
    from certpolicy.revocation.crl.parse import ParsedCrl
    from certpolicy.revocation.crl.shared import RollbackGuard

    ca = CA.create("Guard CA")
    newer = ParsedCrl(ca.issue_crl(crl_number=5), "http://x/ca.crl")
    older = ParsedCrl(ca.issue_crl(crl_number=4), "http://x/ca.crl")
    guard = RollbackGuard(size=2)
    assert not guard.rolls_back("crl:a", older)
    guard.note("crl:a", newer)
    assert guard.rolls_back("crl:a", older) and not guard.rolls_back("crl:a", newer)
    guard.note("crl:a", older)  # noting an older one never lowers the floor
    assert guard.rolls_back("crl:a", older)
    guard.note("crl:b", older)
    guard.note("crl:c", older)  # bounded: the least recently used key is dropped
    assert not guard.rolls_back("crl:a", older)
