"""The service's parts on their own: rate limiter, micro-batcher, read-write lock, snippets."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from neurank.search.snippets import snippet
from neurank.serve.batching import MicroBatcher
from neurank.serve.ratelimit import RateLimiter
from neurank.serve.resources import ReadWriteLock


def test_rate_limiter_refills_at_the_rate_per_client():
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire("a") == pytest.approx(0.5)  # one token takes 1/rate seconds
    assert limiter.acquire("b") == 0  # other clients have their own bucket
    now[0] = 0.5
    assert limiter.acquire("a") == 0
    assert limiter.acquire("a") > 0
    now[0] = 100.0
    assert [limiter.acquire("a") for _ in range(3)] == [0, 0, 0]  # never above the burst
    assert limiter.acquire("a") > 0
    assert RateLimiter.retry_after(0.2) == "1" and RateLimiter.retry_after(2.1) == "3"


def test_rate_limiter_forgets_old_clients_within_its_bound():
    limiter = RateLimiter(rate=1.0, burst=1, max_clients=10, clock=lambda: 0.0)
    for i in range(50):
        limiter.acquire(f"c{i}")
    assert len(limiter._buckets) == 10


def _offload(pool: ThreadPoolExecutor):
    async def offload(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    return offload


def test_micro_batcher_groups_waiting_jobs_and_isolates_failures():
    batches: list[list[int]] = []
    gate = threading.Event()

    def run(jobs):
        if not batches:
            gate.wait(5)  # hold the first batch so the rest queue up behind it
        batches.append(list(jobs))
        return [ValueError(f"bad {j}") if j == 7 else j * 10 for j in jobs]

    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(run, _offload(pool), workers=1, max_batch=4)
            first = asyncio.ensure_future(batcher.submit(0))
            await asyncio.sleep(0.05)
            rest = [asyncio.ensure_future(batcher.submit(j)) for j in range(1, 10)]
            await asyncio.sleep(0.05)
            gate.set()
            return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(main())
    assert batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]]
    assert results[:7] == [0, 10, 20, 30, 40, 50, 60]
    assert isinstance(results[7], ValueError) and results[8:] == [80, 90]


def test_micro_batcher_reports_a_crashed_batch_to_every_caller():
    def run(jobs):
        raise RuntimeError("model exploded")

    async def main():
        with ThreadPoolExecutor(2) as pool:
            batcher = MicroBatcher(run, _offload(pool), workers=2)
            return await asyncio.gather(*[batcher.submit(j) for j in range(3)],
                                        return_exceptions=True)

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(main()))


def test_read_write_lock_excludes_writers_from_readers():
    lock = ReadWriteLock()
    state = {"readers": 0, "max_readers": 0, "overlap": False}
    guard = threading.Lock()

    def reader():
        with lock.read():
            with guard:
                state["readers"] += 1
                state["max_readers"] = max(state["max_readers"], state["readers"])
            time.sleep(0.02)
            with guard:
                state["readers"] -= 1

    def writer():
        with lock.write():
            if state["readers"]:
                state["overlap"] = True
            time.sleep(0.02)
            if state["readers"]:
                state["overlap"] = True

    threads = [threading.Thread(target=reader if i % 4 else writer) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not state["overlap"] and state["max_readers"] > 1


def test_snippet_centres_on_the_query():
    text = ("Intro words. " * 40) + "The glacier radar survey measured ice. " + ("Tail. " * 40)
    cut = snippet(text, "glacier ice", width=120)
    assert "glacier" in cut and cut.startswith("…") and cut.endswith("…")
    assert len(cut) <= 122
    assert snippet("short text", "x") == "short text"
    assert snippet(text, "absent words", width=50).startswith("Intro")
