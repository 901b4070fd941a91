"""The revocation cache (memory LRU + disk, atomic writes, corruption,
single flight across threads and processes), the retry policy and the
background refresher."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from _crl_support import AT, Pki, build_pki, context, crl_check, days, der, hours, policy
from certpolicy.policy import Outcome, RetryPolicy
from certpolicy.revocation.cache import CacheEntry, Loaded, RevocationCache
from certpolicy.revocation.refresh import BackgroundRefresher, backoff_delay, call_with_retry
from certpolicy.testing.http_server import LoopbackHTTPServer

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def srv(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """The plugin's ``http_server`` fixture under this module's name."""
    return http_server


def _python(script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def _only_file(directory: Path) -> Path:
    files = [p for p in directory.iterdir() if p.suffix == ".rc"]
    assert len(files) == 1, files
    return files[0]


# -- the generic cache -----------------------------------------------------------


def test_an_entry_survives_a_restart_in_another_process(tmp_path: Path) -> None:
    cache = RevocationCache(tmp_path)
    nu = AT + days(1)
    cache.put("crl:http://x.test/a.crl", b"\x30\x00payload", expires=nu, metadata={"crl_number": 7})
    proc = _python(
        f"""
        from certpolicy.revocation.cache import RevocationCache
        e = RevocationCache({str(tmp_path)!r}).get("crl:http://x.test/a.crl")
        print(e.data.hex(), e.expires.isoformat(), e.metadata["crl_number"], e.origin)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [b"\x30\x00payload".hex(), nu.isoformat(), "7", "disk"]


@pytest.mark.parametrize(
    "damage",
    ["cut-in-half", "garbage", "flipped-byte", "empty", "other-key"],
)
def test_a_damaged_cache_file_is_discarded_never_trusted(tmp_path: Path, damage: str) -> None:
    RevocationCache(tmp_path).put("k", b"A" * 1000, metadata={"n": 1})
    f = _only_file(tmp_path)
    raw = f.read_bytes()
    if damage == "cut-in-half":
        f.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        f.write_bytes(os.urandom(len(raw)))
    elif damage == "flipped-byte":
        f.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    elif damage == "empty":
        f.write_bytes(b"")
    else:
        RevocationCache(tmp_path / "other").put("another key", b"B" * 10)
        f.write_bytes(_only_file(tmp_path / "other").read_bytes())
    fresh = RevocationCache(tmp_path)
    assert fresh.get("k") is None
    assert not f.exists()
    assert fresh.stats["corrupt"] == 1


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path: Path) -> None:
    cache = RevocationCache(tmp_path)
    for i in range(5):
        cache.put("k", bytes([i]) * 100)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")) == []
    assert RevocationCache(tmp_path).get("k").data == bytes([4]) * 100  # type: ignore[union-attr]


def test_an_unwritable_folder_keeps_the_entry_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    cache = RevocationCache(blocker / "cache")
    cache.put("k", b"data")
    assert cache.get("k").data == b"data"  # type: ignore[union-attr]


def test_memory_is_bounded_by_entries_and_bytes(tmp_path: Path) -> None:
    cache = RevocationCache(None, memory_entries=3, memory_bytes=250)
    for i in range(5):
        cache.put(f"k{i}", b"x" * 10)
    assert cache.keys() == ["k2", "k3", "k4"]
    cache.put("big", b"y" * 200)
    assert "big" in cache.keys() and sum(len(cache.get(k).data) for k in cache.keys()) <= 250  # type: ignore[union-attr]
    cache.put("huge", b"z" * 1000)  # larger than the memory bound: returned, not kept
    assert "huge" not in cache.keys()


def test_disk_is_bounded_by_entries(tmp_path: Path) -> None:
    cache = RevocationCache(tmp_path, disk_entries=3)
    for i in range(6):
        cache.put(f"k{i}", b"x")
        time.sleep(0.01)
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".rc"]) == 3
    assert RevocationCache(tmp_path).get("k5") is not None
    assert RevocationCache(tmp_path).get("k0") is None


def test_concurrent_threads_share_one_load_and_its_failure(tmp_path: Path) -> None:
    cache = RevocationCache(tmp_path)
    calls: list[int] = []
    barrier = threading.Barrier(16)

    def loader(current: CacheEntry | None) -> Loaded:
        calls.append(1)
        time.sleep(0.2)
        return Loaded(b"loaded", AT + days(1))

    results: list[bytes] = []

    def worker() -> None:
        barrier.wait()
        results.append(cache.get_or_load("k", loader, accept=lambda e: True).data)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and results == [b"loaded"] * 16

    def failing(current: CacheEntry | None) -> Loaded:
        calls.append(2)
        time.sleep(0.2)
        raise ConnectionError("down")

    errors: list[BaseException] = []
    barrier2 = threading.Barrier(8)

    def worker2() -> None:
        barrier2.wait()
        try:
            cache.get_or_load("k2", failing)
        except ConnectionError as e:
            errors.append(e)

    threads = [threading.Thread(target=worker2) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert calls.count(2) == 1 and len(errors) == 8


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")
def test_two_processes_load_a_key_once(tmp_path: Path) -> None:
    log = tmp_path / "loads.log"
    script = f"""
        import sys, time
        sys.path.insert(0, {SRC!r})
        from certpolicy.revocation.cache import Loaded, RevocationCache
        def loader(current):
            with open({str(log)!r}, "a") as f:
                f.write("load\\n")
            time.sleep(0.5)
            return Loaded(b"shared")
        e = RevocationCache({str(tmp_path / "cache")!r}).get_or_load("k", loader, accept=lambda e: True)
        print(e.data.decode())
        """
    procs = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outs == ["shared", "shared"]
    assert log.read_text().count("load") == 1


# -- the CRL check on top of the cache ---------------------------------------------


def _serve_crl(srv: LoopbackHTTPServer) -> tuple[Pki, str]:
    pki = build_pki(srv.url("/c.crl"))
    srv.route("/c.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1))))
    return pki, srv.url("/c.crl")


def test_a_second_process_reuses_the_disk_cache_without_a_download(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki, _ = _serve_crl(srv)
    cache_dir = tmp_path / "cache"
    crl_check(tmp_path, cache=RevocationCache(cache_dir)).status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    assert srv.hits("/c.crl") == 1
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in pki.path))
    proc = _python(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from cryptography import x509
        from _crl_support import AT, context, policy
        from certpolicy.checks.crl import CrlCheck
        from certpolicy.revocation.cache import RevocationCache
        path = x509.load_pem_x509_certificates(open({str(chain)!r}, "rb").read())
        check = CrlCheck(cache=RevocationCache({str(cache_dir)!r}), clock=lambda: AT)
        print(check.status(path[0], path[1], context(path, policy())).outcome.value)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "good"
    assert srv.hits("/c.crl") == 1


@pytest.mark.parametrize("damage", ["cut-in-half", "garbage"])
def test_a_damaged_crl_cache_file_is_replaced_by_a_new_download(srv: LoopbackHTTPServer, tmp_path: Path, damage: str) -> None:
    pki, _ = _serve_crl(srv)
    cache_dir = tmp_path / "cache"
    ctx = context(pki.path, policy())
    crl_check(tmp_path, cache=RevocationCache(cache_dir)).status(pki.leaf.cert, pki.inter.cert, ctx)
    f = _only_file(cache_dir)
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) // 2] if damage == "cut-in-half" else os.urandom(len(raw)))
    st = crl_check(tmp_path, cache=RevocationCache(cache_dir)).status(pki.leaf.cert, pki.inter.cert, ctx)
    assert st.outcome is Outcome.GOOD
    assert srv.hits("/c.crl") == 2
    replaced = RevocationCache(cache_dir).get("crl:" + srv.url("/c.crl"))
    assert replaced is not None and replaced.origin == "disk"


# -- retry policy and background refresher -------------------------------------------


def test_backoff_doubles_with_bounded_jitter_and_a_cap() -> None:
    p = RetryPolicy(attempts=6, backoff=0.5, max_backoff=3.0, jitter=0.2)
    assert [backoff_delay(p, n, rng=lambda: 0.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff_delay(p, 1, rng=lambda: 1.0) == pytest.approx(0.6)


def test_retries_stop_at_the_attempt_limit_and_the_deadline() -> None:
    clock = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        clock[0] += s

    def always_fails(deadline: float) -> str:
        raise TimeoutError("slow")

    p = RetryPolicy(attempts=4, backoff=1.0, max_backoff=10.0, jitter=0.0, deadline=100.0)
    with pytest.raises(TimeoutError):
        call_with_retry(always_fails, p, sleep=sleep, monotonic=lambda: clock[0])
    assert waits == [1.0, 2.0, 4.0]
    waits.clear()
    clock[0] = 0.0
    short = RetryPolicy(attempts=10, backoff=1.0, max_backoff=10.0, jitter=0.0, deadline=3.5)
    with pytest.raises(TimeoutError):
        call_with_retry(always_fails, short, sleep=sleep, monotonic=lambda: clock[0])
    assert waits == [1.0, 2.0]  # the next wait (4 s) would pass the 3.5 s deadline


def test_an_error_not_worth_a_retry_propagates_at_once() -> None:
    calls = []

    def attempt(deadline: float) -> str:
        calls.append(deadline)
        raise ValueError("oversized")

    with pytest.raises(ValueError):
        call_with_retry(attempt, RetryPolicy(attempts=5), retry_if=lambda e: not isinstance(e, ValueError), sleep=lambda s: None)
    assert len(calls) == 1


def test_the_background_refresher_deduplicates_and_runs_jobs_when_due() -> None:
    r = BackgroundRefresher(workers=2, max_pending=2)
    ran: list[str] = []
    try:
        assert r.schedule("a", lambda: ran.append("a-late"), delay=5.0)
        assert r.schedule("a", lambda: ran.append("a-soon"), delay=0.3)  # the earlier one wins
        # not due yet, so that no worker has taken it off the queue when "c" comes
        assert r.schedule("b", lambda: ran.append("b"), delay=0.3)
        assert not r.schedule("c", lambda: ran.append("c"))  # queue bound
        assert r.wait_idle(5, due_within=1.0)
        assert sorted(ran) == ["a-soon", "b"]
        assert r.schedule("boom", lambda: 1 / 0)
        assert r.wait_idle(5)
        assert r.failed == 1
    finally:
        r.close()
    assert not r.schedule("d", lambda: None)


def test_a_crl_fetch_scheduled_without_network_uses_the_shared_refresher(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki, _ = _serve_crl(srv)
    refresher = BackgroundRefresher(workers=1)
    try:
        check = crl_check(tmp_path, refresher=refresher)
        ctx = context(pki.path, policy(), allow_network=False)
        assert check.status(pki.leaf.cert, pki.inter.cert, ctx).outcome is Outcome.UNREACHABLE
        assert refresher.wait_idle(10)
        assert check.status(pki.leaf.cert, pki.inter.cert, ctx).outcome is Outcome.GOOD
    finally:
        refresher.close()

